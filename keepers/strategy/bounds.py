"""The vault's rebalance bounds on integer weights, and the repair that always meets them.

`RWAVault.rebalance` (RebalanceModule `_checkBounds`) accepts integer sleeve targets `t` (bps,
idle is the remainder) against current weights `o` (`weights`: `floor(held · 1e4 / nav)`) when:

- `t_i <= ceiling_i` (the cap `vault.maxSleeveBps.<name>`, or tighter under risk-off);
- `Σ t <= 1e4 - vault.idleBufferBps` (idle at least the buffer);
- turnover `½ (Σ |t_i - o_i| + |idle_t - idle_o|) <= vault.maxTurnoverBps`. The signed moves of
  sleeves and idle sum to 0, so the sum of their absolute values is even and the turnover is an
  exact integer (the contract's `(moved + 1) / 2` rounds nothing).

The cheapest way to meet the caps and the buffer only cuts: `anchor` takes each sleeve to
`min(o_i, ceiling_i)`, then cuts more until the buffer holds, for a turnover of
`min_turnover_bps = Σo - min(Σ min(o_i, ceiling_i), 1e4 - buffer)`. The bounds can be met at
all iff that is within the limit; `repair` then turns any real proposal into integers meeting
every bound (the proof is in its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from keepers.math import BPS


class InfeasibleBounds(ValueError):
    """No integer target meets the bounds from these current weights (the contract would revert
    whatever is sent): cutting to the ceilings and the buffer needs more turnover than allowed."""


@dataclass(frozen=True)
class Bounds:
    """The bounds a target must meet: per-sleeve ceilings, the idle buffer, the turnover limit
    (all bps)."""

    ceilings_bps: tuple[int, ...]
    idle_buffer_bps: int
    max_turnover_bps: int

    def __post_init__(self) -> None:
        if any(not 0 <= c <= BPS for c in self.ceilings_bps):
            raise ValueError("ceilings must be within [0, 10000] bps")
        if not 0 <= self.idle_buffer_bps <= BPS:
            raise ValueError("idle buffer must be within [0, 10000] bps")
        if self.max_turnover_bps < 0:
            raise ValueError("turnover limit must be non-negative")

    @property
    def max_invested_bps(self) -> int:
        """The most the sleeves may hold together: `1e4 - idle buffer`."""
        return BPS - self.idle_buffer_bps


def weights_bps(held: Sequence[int], nav: int) -> tuple[int, ...]:
    """The contract's current weights (`VaultMath.weights`): `floor(held_i · 1e4 / nav)`,
    all 0 for an empty vault."""
    if nav == 0:
        return tuple(0 for _ in held)
    return tuple(h * BPS // nav for h in held)


def turnover_bps(current: Sequence[int], target: Sequence[int]) -> int:
    """`½ (Σ |t_i - o_i| + |idle_t - idle_o|)` with idle the remainder: an exact integer."""
    moved = sum(abs(t - o) for t, o in zip(target, current, strict=True))
    moved += abs(sum(target) - sum(current))
    return moved // 2


def min_turnover_bps(current: Sequence[int], bounds: Bounds) -> int:
    """The least turnover any target meeting the ceilings and the buffer needs (`anchor`'s)."""
    kept = sum(min(o, c) for o, c in zip(current, bounds.ceilings_bps, strict=True))
    return sum(current) - min(kept, bounds.max_invested_bps)


def violations(target: Sequence[int], current: Sequence[int], bounds: Bounds) -> tuple[str, ...]:
    """Why the contract would refuse `target` (empty when it meets every bound)."""
    out: list[str] = []
    if len(target) != len(bounds.ceilings_bps) or len(current) != len(target):
        return (f"length: {len(target)} targets, {len(bounds.ceilings_bps)} sleeves",)
    for i, (t, c) in enumerate(zip(target, bounds.ceilings_bps, strict=True)):
        if not isinstance(t, int) or t < 0:
            out.append(f"sleeve {i}: target {t!r} is not a non-negative integer")
        elif t > c:
            out.append(f"sleeve {i}: target {t} above ceiling {c}")
    if sum(target) > bounds.max_invested_bps:
        out.append(f"idle {BPS - sum(target)} below buffer {bounds.idle_buffer_bps}")
    turnover = turnover_bps(current, target)
    # The vault's limit yields to the least turnover meeting the caps and the buffer from
    # `current` (RebalanceModule._checkBounds): a decision can always bring them back.
    limit = max(bounds.max_turnover_bps, min_turnover_bps(current, bounds))
    if turnover > limit:
        out.append(f"turnover {turnover} above limit {limit}")
    return tuple(out)


def drifted_past(current: Sequence[int], bounds: Bounds, tolerance_bps: int) -> tuple[str, ...]:
    """The bounds the current weights break by more than `tolerance_bps` (empty when none).

    The contract checks caps and the buffer on targets only: weights drift past them as prices
    move, and a drift of a few bps is not worth a forced move. A break beyond the tolerance (a
    cap cut by governance, idle drained by withdrawals) is."""
    relaxed = Bounds(
        tuple(min(c + tolerance_bps, BPS) for c in bounds.ceilings_bps),
        max(bounds.idle_buffer_bps - tolerance_bps, 0),
        bounds.max_turnover_bps,
    )
    return violations(current, current, relaxed)


def anchor(current: Sequence[int], bounds: Bounds) -> tuple[int, ...]:
    """The least-turnover target meeting the ceilings and the buffer: each sleeve at
    `min(o_i, ceiling_i)`, then the largest sleeves cut further (ties: lower index first) until
    idle holds its buffer. Its turnover is `min_turnover_bps`; it may exceed the limit."""
    t = [min(o, c) for o, c in zip(current, bounds.ceilings_bps, strict=True)]
    excess = sum(t) - bounds.max_invested_bps
    for i in sorted(range(len(t)), key=lambda j: (-t[j], j)):
        if excess <= 0:
            break
        cut = min(t[i], excess)
        t[i] -= cut
        excess -= cut
    return tuple(t)


def _rounded(x: float, fallback: int, ceiling: int) -> int:
    value = round(x) if math.isfinite(x) else fallback
    return min(max(int(value), 0), ceiling)


def repair(
    proposal_bps: Sequence[float],
    current: Sequence[int],
    bounds: Bounds,
    preference: Sequence[float] | None = None,
) -> tuple[int, ...]:
    """Integer targets meeting every bound, as close to the real `proposal_bps` as the greedy
    steps below allow; raises `InfeasibleBounds` when no target can (see `min_turnover_bps`).

    `preference[i]` is the marginal value of one more bps in sleeve i (e.g. the objective's
    gradient): cuts take the least valuable sleeves first, restorations the most valuable.
    Steps, with `d_i = t_i - o_i`:

    1. Round to the nearest integer, clamp to `[0, ceiling_i]` (non-finite values: current).
    2. Buffer: while `Σt` exceeds `1e4 - buffer`, cut, first sleeves that were raised
       (`d_i > 0`, down to `o_i`: this also lowers turnover), then any, down to 0.
    3. Turnover: while above the limit, move one sleeve toward its current weight: lower a
       raised sleeve (always allowed), or raise a cut sleeve if its ceiling and the buffer allow.
       Moves on the side of `Σd` lower the turnover one bps per bps moved; others keep it equal.

    Why it cannot fail when `min_turnover_bps <= limit`: steps 1-2 keep every `t_i` within
    `[0, ceiling_i]` and step 2 ends with `Σt` within the buffer; step 3's moves keep both and
    strictly shrink `Σ|d_i|`, so it ends. If it ends with no move left, no sleeve is raised,
    and each cut sleeve is either at its ceiling or the buffer is tight: if the buffer is tight
    the turnover is `Σo - (1e4 - buffer)` and otherwise `t_i = min(o_i, ceiling_i)` for all i
    and it is `Σo - Σ min(o_i, ceiling_i)`; both are at most `min_turnover_bps <= limit`.
    """
    n = len(current)
    if len(proposal_bps) != n or len(bounds.ceilings_bps) != n:
        raise ValueError("proposal, current weights and ceilings differ in length")
    if any(o < 0 for o in current) or sum(current) > BPS:
        raise ValueError("current weights must be non-negative and sum to at most 10000 bps")
    need = min_turnover_bps(current, bounds)
    if need > bounds.max_turnover_bps:
        raise InfeasibleBounds(
            f"meeting the ceilings and the idle buffer needs turnover {need} bps, "
            f"above the limit {bounds.max_turnover_bps}"
        )
    pref = [0.0] * n if preference is None else [float(p) for p in preference]
    pref = [p if math.isfinite(p) else 0.0 for p in pref]
    caps = bounds.ceilings_bps
    t = [_rounded(x, o, c) for x, o, c in zip(proposal_bps, current, caps, strict=True)]

    # 2. the idle buffer: cut raised sleeves first, least valuable first, then any.
    excess = sum(t) - bounds.max_invested_bps
    order = sorted(range(n), key=lambda i: (pref[i], i))
    for raised_only in (True, False):
        for i in order:
            if excess <= 0:
                break
            room = t[i] - current[i] if raised_only else t[i]
            cut = min(max(room, 0), excess)
            t[i] -= cut
            excess -= cut

    # 3. the turnover limit.
    while (over := turnover_bps(current, t) - bounds.max_turnover_bps) > 0:
        net = sum(t) - sum(current)
        slack = bounds.max_invested_bps - sum(t)
        moves: list[tuple[bool, float, int, int]] = []  # (not strict, cost, index, amount)
        for i in range(n):
            d = t[i] - current[i]
            if d > 0:
                amount, cost = d, pref[i]
            elif d < 0:
                amount, cost = min(-d, caps[i] - t[i], slack), -pref[i]
            else:
                continue
            if amount <= 0:
                continue
            strict = (d > 0 and net > 0) or (d < 0 and net < 0)
            amount = min(amount, abs(net), over) if strict else min(amount, over)
            moves.append((not strict, cost, i, amount))
        if not moves:  # unreachable when need <= limit (see the docstring)
            raise AssertionError("repair found no move although the bounds are feasible")
        _, _, i, amount = min(moves)
        t[i] += -amount if t[i] > current[i] else amount

    target = tuple(t)
    broken = violations(target, current, bounds)
    if broken:  # unreachable: the steps above keep every bound
        raise AssertionError(f"repair broke a bound: {broken}")
    return target
