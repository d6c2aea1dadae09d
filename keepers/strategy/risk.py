"""The risk-off rule: cut a sleeve before its losses deepen.

A sleeve is flagged when either signal spikes:

- volatility: its short EWMA volatility over its long one, `short / max(long, vol_floor)`, is
  above `vol_ratio_threshold` (the floor keeps a near-constant index, whose long volatility is
  almost 0, from flagging on noise: a spike must also be large in absolute terms);
- oracle deviation: the largest move of a price behind the sleeve against the OracleRouter's
  reference (its last accepted price, in bps) is above `max_deviation_bps`. No poke resets that
  reference: a move beyond `oracle.maxDeviationBps` becomes it only after holding for
  `oracle.confirmDelay`, so the rule sees a shock for at least that long.

Sensitivity with the defaults (half-lives 2 and 30 days, the short window centred on the long
mean, threshold 2.25) and daily readings: one day's move fires the rule about half the time at
5 daily standard deviations of the sleeve's usual noise and always from 8-10 (from a 0.45% move
for a sleeve calmer than the floor); simulated calm data never fired it in 4,000 windows of
120 days. Several large days in a row fire it sooner.

Which deviations count (`RiskOffParams.deviation_check`, `checked_deviation_bps`): "any" takes
every one. "nav" checks it against the sleeve's own NAV path first: a sleeve valued by its own
return index counts a deviation only when that index fell on its last reading and no drop of
the path is still unconfirmed (a mark that may be taken back within days: selling the low print
realises it; `keepers.strategy.robust` prices it once it persists); an upward move (a
recovery, a rally) is no loss to cut. The lending sleeve's deviation is its collaterals' move,
which the book's expected loss from its borrowers' health already prices
(`forecast.lending_forecast`): "nav" leaves it to that.

A flagged sleeve's ceiling drops to `floor(current · keep_fraction)` (0: exit), never above its
cap, and it may not be raised. The cut is taken within the turnover limit: the turnover left
after the moves the caps and the buffer force anyway goes to the flagged sleeves, most severe
first; a cut that does not fit is taken partly now and the rest at the next rebalance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from keepers.strategy.bounds import Bounds, min_turnover_bps


@dataclass(frozen=True)
class RiskOffParams:
    """Thresholds of the rule: `vol_ratio_threshold` (short/long volatility), `vol_floor`
    (annual volatility under which the long view counts as this floor), `max_deviation_bps`
    (oracle move), `keep_fraction` (share of a flagged sleeve's weight kept, in [0, 1)),
    `deviation_check` (which deviations count, see the module docstring)."""

    vol_ratio_threshold: float = 2.25
    vol_floor: float = 0.02
    max_deviation_bps: int = 500
    keep_fraction: float = 0.0
    # "nav": chosen on the train families (benchmarks/backtest/select.py, selection-train.json)
    deviation_check: Literal["any", "nav"] = "nav"

    def __post_init__(self) -> None:
        if self.vol_ratio_threshold <= 1.0:
            raise ValueError("the volatility ratio threshold must be above 1")
        if self.vol_floor <= 0:
            raise ValueError("the volatility floor must be positive")
        if self.max_deviation_bps <= 0:
            raise ValueError("the deviation threshold must be positive")
        if not 0.0 <= self.keep_fraction < 1.0:
            raise ValueError("the kept fraction must be within [0, 1)")


@dataclass(frozen=True)
class RiskSignal:
    """One sleeve's risk reading: `vol_ratio` (short / floored long volatility), the oracle
    `deviation_bps`, which of the two spiked, and `severity` (the larger signal over its
    threshold: above 1 when flagged)."""

    name: str
    vol_ratio: float
    deviation_bps: int
    vol_spike: bool
    deviation_spike: bool
    severity: float

    @property
    def triggered(self) -> bool:
        """The sleeve is flagged for risk-off."""
        return self.vol_spike or self.deviation_spike

    @property
    def reasons(self) -> tuple[str, ...]:
        """Short words for the rationale: "volatility-spike", "oracle-deviation"."""
        out = ("volatility-spike",) if self.vol_spike else ()
        return out + (("oracle-deviation",) if self.deviation_spike else ())


def assess_risk(
    name: str,
    short_volatility: float,
    long_volatility: float,
    deviation_bps: int,
    params: RiskOffParams,
) -> RiskSignal:
    """The sleeve's `RiskSignal` from its volatilities (annual) and oracle deviation (bps)."""
    ratio = short_volatility / max(long_volatility, params.vol_floor)
    if not math.isfinite(ratio):
        ratio = math.inf if short_volatility > 0 else 0.0
    deviation = abs(deviation_bps)
    vol_score = ratio / params.vol_ratio_threshold
    dev_score = deviation / params.max_deviation_bps
    return RiskSignal(
        name=name,
        vol_ratio=ratio,
        deviation_bps=deviation,
        vol_spike=ratio > params.vol_ratio_threshold,
        deviation_spike=deviation > params.max_deviation_bps,
        severity=max(vol_score, dev_score),
    )


def checked_deviation_bps(
    deviation_bps: int,
    *,
    lending: bool,
    index_fell: bool,
    pending_drop: bool,
    check: Literal["any", "nav"],
) -> int:
    """The deviation the rule reads (see the module docstring): `deviation_bps` itself under
    "any"; under "nav", 0 for the lending sleeve (its collaterals' move is priced by the book's
    health) and for a sleeve whose own index did not fall on its last reading (`index_fell`) or
    still has an unconfirmed drop (`pending_drop`)."""
    if check == "any":
        return deviation_bps
    if lending or not index_fell or pending_drop:
        return 0
    return deviation_bps


@dataclass(frozen=True)
class RiskOffPlan:
    """The ceilings to optimise under (`bounds`), the cut asked of each sleeve and the cut
    granted within the turnover limit (bps), and whether the limit held a cut back."""

    bounds: Bounds
    wanted_cut_bps: tuple[int, ...]
    granted_cut_bps: tuple[int, ...]

    @property
    def active(self) -> bool:
        """Some sleeve is being cut by the rule."""
        return any(self.granted_cut_bps)

    @property
    def limited(self) -> bool:
        """The turnover limit kept some cut for a later rebalance."""
        return self.granted_cut_bps != self.wanted_cut_bps


def plan_risk_off(
    signals: Sequence[RiskSignal],
    current: Sequence[int],
    bounds: Bounds,
    params: RiskOffParams,
) -> RiskOffPlan:
    """Ceilings that cut the flagged sleeves as far as the turnover limit allows.

    `bounds` carries the caps; it must be feasible (`min_turnover_bps <= limit`). A flagged
    sleeve wants `min(o_i, cap_i) - floor(o_i · keep_fraction)` bps cut below what its cap
    already forces. Cutting sleeves also fills the idle buffer, so the turnover it adds beyond
    the forced moves is exactly the cut beyond `Σo - Σ min(o_i, cap_i)`, and the budget is
    `limit - (Σo - Σ min(o_i, cap_i))`, granted most severe first (ties: lower index).
    """
    n = len(current)
    if len(signals) != n or len(bounds.ceilings_bps) != n:
        raise ValueError("signals, current weights and caps differ in length")
    need = min_turnover_bps(current, bounds)
    if need > bounds.max_turnover_bps:
        raise ValueError(f"bounds need turnover {need}, above the limit")
    kept = [min(o, c) for o, c in zip(current, bounds.ceilings_bps, strict=True)]
    wanted = [
        max(kept[i] - math.floor(current[i] * params.keep_fraction), 0)
        if signals[i].triggered
        else 0
        for i in range(n)
    ]
    budget = bounds.max_turnover_bps - (sum(current) - sum(kept))
    granted = [0] * n
    for i in sorted(range(n), key=lambda j: (-signals[j].severity, j)):
        granted[i] = min(wanted[i], max(budget, 0))
        budget -= granted[i]
    ceilings = tuple(
        kept[i] - granted[i] if signals[i].triggered else bounds.ceilings_bps[i] for i in range(n)
    )
    return RiskOffPlan(
        bounds=Bounds(ceilings, bounds.idle_buffer_bps, bounds.max_turnover_bps),
        wanted_cut_bps=tuple(wanted),
        granted_cut_bps=tuple(granted),
    )
