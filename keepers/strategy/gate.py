"""The gas/benefit gate: move capital only when the move is worth its gas.

Yearn V3's DebtAllocator (`shouldUpdateDebt`) acts only for a change above `minimumChange` and
under a base-fee ceiling; this gate does the same, in bps of turnover, and also asks the move to
pay for itself: the expected gain over the horizon,

    gain = Σ_i (t_i - o_i)/1e4 · μ_i · NAV · h        (idle earns 0)

less the trading cost (`optimiser.trading_cost_bps`: each priced sleeve's cost per side on
what moves through it, the flat `κ · turnover` for the others; × NAV), must beat
`gain_margin ×` the gas cost (`GateParams.benefit = "return"`). With `benefit = "score"` the
move's worth is measured as the optimiser measures it: the rise of its objective (return less
`λ`·variance less trading cost, over the horizon, × NAV) from the weights it would otherwise
keep to the target, so that a move the optimiser makes to cut risk is not refused for the
return it gives up. A forced move (risk-off, or current weights that break a bound) skips the
benefit, minimum-change and base-fee tests: its gain is the loss avoided, which the return
forecasts do not see, and it matters most exactly when gas is dear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from keepers.math import BPS
from keepers.math.gas import GasMarket, gas_cost_assets
from keepers.strategy.bounds import turnover_bps
from keepers.strategy.optimiser import trading_cost_bps

GWEI: Final = 10**9


@dataclass(frozen=True)
class GateParams:
    """`rebalance_gas`: gas a rebalance is expected to use; `gain_margin`: how many times the
    gas cost the net gain must reach; `min_turnover_bps`: the smallest move worth making;
    `max_base_fee_wei`: no discretionary move above this base fee; `benefit`: what the net
    gain is, "return" (expected return less trading cost) or "score" (the optimiser's
    risk-adjusted objective, see the module docstring)."""

    rebalance_gas: int = 900_000
    gain_margin: float = 3.0
    min_turnover_bps: int = 10
    max_base_fee_wei: int = 100 * GWEI
    benefit: Literal["return", "score"] = "return"

    def __post_init__(self) -> None:
        if self.rebalance_gas < 0 or self.min_turnover_bps < 0 or self.max_base_fee_wei < 0:
            raise ValueError("gate limits must be non-negative")
        if self.gain_margin < 1.0:
            raise ValueError("the gain margin must be at least 1")


@dataclass(frozen=True)
class GateVerdict:
    """`act` and why (`code`: "no-change", "forced", "base-fee", "min-change", "gas" or
    "benefit"; `reason` in words); amounts in base-asset units over the horizon: the expected
    `gain`, the `trading_cost`, the `gas_cost` (rounded up) and the `turnover_bps` moved;
    `net` the net gain the gas was compared with (per `GateParams.benefit`)."""

    act: bool
    code: str
    reason: str
    gain: float
    trading_cost: float
    gas_cost: int
    turnover_bps: int
    net: float = 0.0


def expected_gain(
    current: Sequence[int],
    target: Sequence[int],
    expected_returns: Sequence[float],
    nav: int,
    horizon_years: float,
) -> float:
    """`Σ (t_i - o_i)/1e4 · μ_i · NAV · h` in base-asset units (idle earns nothing)."""
    moved = sum((t - o) * mu for t, o, mu in zip(target, current, expected_returns, strict=True))
    return moved / BPS * nav * horizon_years


def check_gate(
    *,
    current: Sequence[int],
    target: Sequence[int],
    expected_returns: Sequence[float],
    nav: int,
    asset_decimals: int,
    horizon_years: float,
    turnover_cost_bps: float,
    market: GasMarket,
    params: GateParams,
    forced: bool = False,
    score_gain_bps: float | None = None,
    sleeve_cost_bps: Sequence[float | None] = (),
) -> GateVerdict:
    """Whether to send the move from `current` to `target` (see the module docstring);
    `score_gain_bps`: the optimiser's objective gain of the move in bps of NAV over the horizon
    (read when `params.benefit` is "score"; required then); `sleeve_cost_bps`: each sleeve's
    trading cost per side (`optimiser.Problem.sleeve_cost_bps`; (): `turnover_cost_bps` flat)."""
    turnover = turnover_bps(current, target)
    gain = expected_gain(current, target, expected_returns, nav, horizon_years)
    if sleeve_cost_bps:
        cost = trading_cost_bps(current, target, turnover_cost_bps, sleeve_cost_bps)
        trading = cost / BPS * nav
    else:  # the flat cost on the vault's integer turnover, as it always was
        trading = turnover_cost_bps / BPS * turnover / BPS * nav
    gas = gas_cost_assets(market, params.rebalance_gas, asset_decimals)
    if params.benefit == "score":
        if score_gain_bps is None:
            raise ValueError("the score benefit needs the optimiser's score gain")
        net = score_gain_bps / BPS * nav
    else:
        net = gain - trading

    def verdict(act: bool, code: str, reason: str) -> GateVerdict:
        return GateVerdict(act, code, reason, gain, trading, gas, turnover, net)

    if turnover == 0:
        return verdict(False, "no-change", "no change: the target equals the current weights")
    if forced:
        return verdict(True, "forced", "forced move: the gas gate does not apply")
    if market.base_fee_wei > params.max_base_fee_wei:
        return verdict(
            False,
            "base-fee",
            f"base fee {market.base_fee_wei} wei above the ceiling {params.max_base_fee_wei}",
        )
    if turnover < params.min_turnover_bps:
        return verdict(
            False,
            "min-change",
            f"turnover {turnover} bps below the minimum change {params.min_turnover_bps}",
        )
    needed = params.gain_margin * gas
    if net <= needed:
        return verdict(
            False,
            "gas",
            f"expected net gain {net:.0f} does not beat gas {gas} × margin {params.gain_margin}",
        )
    return verdict(
        True, "benefit", f"expected net gain {net:.0f} beats gas {gas} × {params.gain_margin}"
    )
