"""The strategy agent's brain: pure functions from what the keeper read to what it should send.

`decide(inputs, params) -> Decision | NoAction` runs the pipeline (`keepers.strategy.pipeline`):

1. `forecast` — per sleeve, from its `returnIndex()` history: by default the robust estimator
   (`robust`: jumps clipped and netted against their reversals, the jump-free trend, volatility
   corrected for feed noise, an expected credit loss from markdowns that stay), or EWMA return
   and volatility (`ForecastParams.estimator="ewma"`); for the lending sleeve, supply rate from
   utilization and the rate model (at most what its supply index paid lately, with
   `ForecastParams.lending_rate_cap`: the keeper's default) less the expected loss from the
   borrowers' health distribution (optionally re-priced at the vault's own move:
   `supply_response`). A sleeve's
   volatility is at least its `ForecastParams.tail_volatility` (a smoothly accruing credit
   pool measures none until its defaults and its issuer's gate arrive together).
2. `risk` — a volatility spike (short/long EWMA volatility) or an oracle-deviation spike flags a
   sleeve; its ceiling is cut within the turnover limit. A deviation is first checked against
   the sleeve's own NAV path (`RiskOffParams.deviation_check`): a rise, or a drop that may
   still be taken back, does not cut; the lending book's collateral moves are priced by its
   borrowers' health instead.
   Settlement awareness (`StrategyParams.exit_rebalances`): a sleeve showing credit losses is
   held to what the vault could leave before its issuer gates.
3. `optimiser` — maximise expected return − λ·variance − turnover cost under the caps, the idle
   buffer and the turnover limit (SLSQP), then round and `bounds.repair` into integer bps that
   provably meet every bound. The turnover cost is paid once, the gain over the holding period
   (`StrategyParams.holding_seconds`): a horizon is charged `min(1, horizon / holding)` of it.
4. `gate` — act only when the expected gain beats gas × margin, the move is large enough and
   the base fee is under its ceiling (forced moves skip it).
5. `rationale` — canonical JSON of inputs, forecasts, constraints, solution and expected gain;
   its keccak256 is the `rationaleHash` sent to `RWAVault.rebalance`.

No chain I/O anywhere in this package: the caller reads, this decides, the caller sends.
"""

from __future__ import annotations

from keepers.strategy.bounds import (
    Bounds,
    InfeasibleBounds,
    anchor,
    drifted_past,
    min_turnover_bps,
    repair,
    turnover_bps,
    violations,
    weights_bps,
)
from keepers.strategy.forecast import (
    BorrowerExposure,
    EwmaEstimate,
    ForecastParams,
    LendingBookState,
    LendingForecast,
    ReturnHistory,
    SleeveForecast,
    ewma_estimate,
    expected_shortfall,
    forecast_sleeve,
    lending_forecast,
)
from keepers.strategy.gate import (
    GasMarket,
    GateParams,
    GateVerdict,
    check_gate,
    expected_gain,
    gas_cost_assets,
)
from keepers.strategy.inputs import SleeveState, StrategyInputs, StrategyParams
from keepers.strategy.optimiser import OptimiserParams, Problem, Solution, covariance, optimise
from keepers.strategy.pipeline import Decision, NoAction, decide
from keepers.strategy.rationale import encode, is_canonical, rationale_hash, verify
from keepers.strategy.risk import (
    RiskOffParams,
    RiskOffPlan,
    RiskSignal,
    assess_risk,
    plan_risk_off,
)
from keepers.strategy.robust import RobustEstimate, RobustParams, robust_estimate

__all__ = [
    "BorrowerExposure",
    "Bounds",
    "Decision",
    "EwmaEstimate",
    "ForecastParams",
    "GasMarket",
    "GateParams",
    "GateVerdict",
    "InfeasibleBounds",
    "LendingBookState",
    "LendingForecast",
    "NoAction",
    "OptimiserParams",
    "Problem",
    "ReturnHistory",
    "RobustEstimate",
    "RobustParams",
    "RiskOffParams",
    "RiskOffPlan",
    "RiskSignal",
    "SleeveForecast",
    "SleeveState",
    "Solution",
    "StrategyInputs",
    "StrategyParams",
    "anchor",
    "drifted_past",
    "assess_risk",
    "check_gate",
    "covariance",
    "decide",
    "encode",
    "ewma_estimate",
    "expected_gain",
    "expected_shortfall",
    "forecast_sleeve",
    "gas_cost_assets",
    "is_canonical",
    "lending_forecast",
    "min_turnover_bps",
    "optimise",
    "plan_risk_off",
    "rationale_hash",
    "repair",
    "robust_estimate",
    "turnover_bps",
    "verify",
    "violations",
    "weights_bps",
]
