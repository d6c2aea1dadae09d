"""The baselines the keeper's strategy is measured against.

Each has an ideal allocation (integer bps per sleeve, idle the rest) and reaches it the way a
careful keeper would: every day, `bounds.repair` turns the ideal into the nearest target the
contract accepts from today's weights (caps, idle buffer, turnover limit), and the rebalance is
sent when it moves at least `min_change_bps` (the keeper's own minimum change,
`rebalancer.min_turnover_bps`, 10 bps by default). They do not look at gas otherwise.

- `equal_weight`: the investable share (`1e4 - idle buffer`) split equally, within caps.
- `static_target`: a fixed policy mix, `STATIC_TARGET` (a conservative 60/40-style book: mostly
  T-bills, some credit, a little gold), scaled down in proportion under a buffer wider than it
  leaves idle.
- `max_apy_chaser`: sleeves ranked by the yield they show today — the issuer's stated APY for
  tbill and invoices, the book's current supply rate for lending, and for gold (no stated
  yield) its trailing 7-day return annualised, as yield dashboards show it — and filled in that
  order, each to its cap, until the investable share is used ("all it may into the currently
  highest-yielding sleeve", then the next).
- `hindsight_optimal`: knows the whole path. The best constant allocation in hindsight: it
  maximises `Σ w_i · g_i` with `g_i` each sleeve's realised log growth over the simulated days,
  under the caps and the buffer; for this linear programme the greedy fill by `g_i` (skipping
  sleeves that lost money: idle earns 0) is exact. It reaches it within the same bounds as
  everyone else. It is the benchmark of the "85 % of hindsight-optimal excess return" goal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from benchmarks.backtest.generate import MarketPath
from benchmarks.backtest.simulate import Vault, View
from keepers.config import RebalancerConfig
from keepers.math import BPS
from keepers.strategy import InfeasibleBounds, repair, turnover_bps

MIN_CHANGE_BPS: Final = RebalancerConfig().min_turnover_bps
STATIC_TARGET: Final = {"tbill": 5_000, "gold": 500, "invoices": 2_000, "lending": 2_000}
CHASER_WINDOW_DAYS: Final = 7


def fill(order: Sequence[int], caps: Sequence[int], budget: int) -> tuple[int, ...]:
    """Weights filling sleeves in `order`, each to its cap, until `budget` bps are used."""
    out = [0] * len(caps)
    for i in order:
        out[i] = min(caps[i], budget)
        budget -= out[i]
    return tuple(out)


def step_toward(ideal: Sequence[int], view: View, min_change_bps: int) -> tuple[int, ...] | None:
    """The target the contract accepts nearest to `ideal` from today's weights (`repair`,
    preferring sleeves furthest below their ideal), or None when it moves less than
    `min_change_bps` or no target can meet the bounds."""
    current = view.current_bps
    if turnover_bps(current, ideal) < min_change_bps:
        return None
    preference = [float(w - c) for w, c in zip(ideal, current, strict=True)]
    try:
        target = repair([float(w) for w in ideal], current, view.vault.bounds, preference)
    except InfeasibleBounds:
        return None
    return target if turnover_bps(current, target) >= min_change_bps else None


@dataclass
class FixedMix:
    """A policy steering to one ideal allocation."""

    name: str
    ideal: tuple[int, ...]
    min_change_bps: int = MIN_CHANGE_BPS

    def target(self, view: View) -> tuple[int, ...] | None:
        return step_toward(self.ideal, view, self.min_change_bps)


def equal_weight(path: MarketPath, vault: Vault) -> FixedMix:
    """`(1e4 - buffer) / n` per sleeve (rounded down), within caps."""
    share = (BPS - vault.idle_buffer_bps) // len(vault.sleeves)
    return FixedMix("equal_weight", tuple(min(share, c) for c in vault.caps_bps))


def static_target(
    path: MarketPath, vault: Vault, mix: Mapping[str, int] = STATIC_TARGET
) -> FixedMix:
    """The mix within the caps; under a buffer wider than the mix leaves idle, every weight
    scaled down in proportion (rounded down) to the investable share."""
    ideal = tuple(min(mix.get(n, 0), c) for n, c in zip(vault.sleeves, vault.caps_bps, strict=True))
    room = BPS - vault.idle_buffer_bps
    if sum(ideal) > room:  # the mix as such would leave less idle than the buffer
        ideal = tuple(w * room // sum(ideal) for w in ideal)
    return FixedMix("static_target", ideal)


def shown_yield(path: MarketPath, name: str, k: int) -> float:
    """The yield a dashboard shows for sleeve `name` on day `k` (see the module docstring)."""
    if name in path.apy:
        return path.apy[name][k]
    nav = path.nav[name]
    back = max(k - CHASER_WINDOW_DAYS, 0)
    if back == k:
        return 0.0
    try:
        return (nav[k] / nav[back]) ** (365 / (k - back)) - 1.0
    except OverflowError:  # a rebound of orders of magnitude in a week: beyond any float
        return math.inf


@dataclass
class MaxApyChaser:
    vault: Vault
    name: str = "max_apy_chaser"
    min_change_bps: int = MIN_CHANGE_BPS

    def ideal(self, view: View) -> tuple[int, ...]:
        yields = [shown_yield(view.path, n, view.k) for n in self.vault.sleeves]
        order = sorted((i for i, y in enumerate(yields) if y > 0), key=lambda i: (-yields[i], i))
        return fill(order, self.vault.caps_bps, BPS - self.vault.idle_buffer_bps)

    def target(self, view: View) -> tuple[int, ...] | None:
        return step_toward(self.ideal(view), view, self.min_change_bps)


def max_apy_chaser(path: MarketPath, vault: Vault) -> MaxApyChaser:
    return MaxApyChaser(vault)


def realised_growth(path: MarketPath) -> dict[str, float]:
    """Each sleeve's log growth over the simulated days (the hindsight's knowledge)."""
    a, b = path.history_days, path.history_days + path.days
    return {n: math.log(v[b] / v[a]) for n, v in path.nav.items()}


@dataclass
class HindsightOptimal:
    path: MarketPath
    vault: Vault
    name: str = "hindsight_optimal"
    min_change_bps: int = MIN_CHANGE_BPS
    ideal: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        g = realised_growth(self.path)
        names = self.vault.sleeves
        order = sorted((i for i, n in enumerate(names) if g[n] > 0), key=lambda i: -g[names[i]])
        self.ideal = fill(order, self.vault.caps_bps, BPS - self.vault.idle_buffer_bps)

    def target(self, view: View) -> tuple[int, ...] | None:
        return step_toward(self.ideal, view, self.min_change_bps)


def hindsight_optimal(path: MarketPath, vault: Vault) -> HindsightOptimal:
    return HindsightOptimal(path, vault)


BASELINES: Final = {
    "equal_weight": equal_weight,
    "static_target": static_target,
    "max_apy_chaser": max_apy_chaser,
    "hindsight_optimal": hindsight_optimal,
}

__all__ = [
    "BASELINES",
    "STATIC_TARGET",
    "FixedMix",
    "HindsightOptimal",
    "MaxApyChaser",
    "equal_weight",
    "fill",
    "hindsight_optimal",
    "max_apy_chaser",
    "realised_growth",
    "shown_yield",
    "static_target",
    "step_toward",
]
