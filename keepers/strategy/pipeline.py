"""`decide`: forecasts → risk-off → optimiser → gate → rationale, as one pure function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keepers.math import BPS, YEAR
from keepers.strategy.bounds import (
    Bounds,
    drifted_past,
    min_turnover_bps,
    turnover_bps,
    violations,
)
from keepers.strategy.forecast import SleeveForecast, forecast_sleeve
from keepers.strategy.gate import GateVerdict, check_gate
from keepers.strategy.inputs import StrategyInputs, StrategyParams
from keepers.strategy.optimiser import Problem, Solution, optimise
from keepers.strategy.rationale import VERSION, encode, rationale_hash
from keepers.strategy.replay import strategy_identity
from keepers.strategy.risk import RiskOffPlan, RiskSignal, assess_risk, plan_risk_off


@dataclass(frozen=True)
class Decision:
    """A rebalance to send: `rebalance(target_bps, rationale_hash, uri)`, with the rationale
    document's bytes (`rationale`) to store under that hash."""

    target_bps: tuple[int, ...]
    current_bps: tuple[int, ...]
    turnover_bps: int
    expected_gain: float
    risk_off: tuple[str, ...]
    reason: str
    rationale: bytes
    rationale_hash: bytes

    @property
    def rationale_hash_hex(self) -> str:
        """The hash as `0x` hex, for `bytes32` arguments and logs."""
        return "0x" + self.rationale_hash.hex()


@dataclass(frozen=True)
class NoAction:
    """Nothing to send, and why: `code` ("empty", "infeasible", "no-change", "base-fee",
    "min-change", "gas") and `reason` in words; `rationale` the document when the pipeline got as
    far as forecasting (kept for the decision log, never sent)."""

    reason: str
    code: str
    rationale: bytes | None = None


def _document(
    inputs: StrategyInputs,
    params: StrategyParams,
    *,
    forecasts: tuple[SleeveForecast, ...],
    signals: tuple[RiskSignal, ...],
    constraints: dict[str, Any],
    plan: RiskOffPlan | None = None,
    solution: Solution | None = None,
    verdict: GateVerdict | None = None,
    outcome: dict[str, Any],
) -> bytes:
    return encode(
        {
            "version": VERSION,
            "strategy": strategy_identity(),
            "timestamp": inputs.timestamp,
            "inputs": inputs,
            "params": params,
            "forecasts": forecasts,
            "risk": {"signals": signals, "plan": plan},
            "constraints": constraints,
            "solution": solution,
            "gate": verdict,
            "expected_gain": verdict.gain if verdict is not None else None,
            "outcome": outcome,
        }
    )


def decide(inputs: StrategyInputs, params: StrategyParams) -> Decision | NoAction:
    """The agent's decision for `inputs` under `params`; deterministic (same inputs, same bytes).

    1. Forecast each sleeve (`forecast_sleeve`).
    2. Read its risk (`assess_risk`) and plan the risk-off cuts within the turnover limit less
       the headroom (`plan_risk_off`).
    3. Optimise under the caps, risk-off ceilings, idle buffer and turnover (`optimise`).
    4. Gate the move (`check_gate`); risk-off cuts and fixes of bounds broken beyond price drift
       (`drifted_past`) are forced moves.
    5. Write the rationale; return a `Decision` or a `NoAction` with its reason.
    """
    if inputs.nav <= 0 or not inputs.sleeves:
        return NoAction("empty vault or no sleeves: nothing to allocate", "empty")
    current = inputs.current_bps
    caps = Bounds(inputs.caps_bps, inputs.idle_buffer_bps, inputs.max_turnover_bps)
    forecasts = tuple(
        forecast_sleeve(s.name, s.history, s.lending, params.forecast) for s in inputs.sleeves
    )
    signals = tuple(
        assess_risk(
            f.name, f.short_volatility, f.long_volatility, s.oracle_deviation_bps, params.risk
        )
        for f, s in zip(forecasts, inputs.sleeves, strict=True)
    )
    need = min_turnover_bps(current, caps)
    limit = max(inputs.max_turnover_bps - params.turnover_headroom_bps, need)
    constraints: dict[str, Any] = {
        "caps_bps": caps.ceilings_bps,
        "idle_buffer_bps": caps.idle_buffer_bps,
        "max_turnover_bps": caps.max_turnover_bps,
        "effective_max_turnover_bps": limit,
        "min_turnover_bps": need,
        "current_breaks": violations(current, current, caps),
        "current_breaks_beyond_drift": drifted_past(current, caps, params.drift_tolerance_bps),
    }
    parts: dict[str, Any] = {"forecasts": forecasts, "signals": signals}
    if need > inputs.max_turnover_bps:
        reason = (
            f"infeasible: meeting the caps and the idle buffer needs turnover {need} bps, above "
            f"vault.maxTurnoverBps {inputs.max_turnover_bps}: any rebalance would revert"
        )
        doc = _document(
            inputs,
            params,
            **parts,
            constraints=constraints,
            outcome={"act": False, "code": "infeasible", "reason": reason},
        )
        return NoAction(reason, "infeasible", doc)

    plan = plan_risk_off(
        signals, current, Bounds(caps.ceilings_bps, caps.idle_buffer_bps, limit), params.risk
    )
    constraints["ceilings_bps"] = plan.bounds.ceilings_bps
    horizon = params.horizon_seconds / YEAR
    mu = tuple(f.expected_return for f in forecasts)
    problem = Problem(mu, tuple(f.volatility for f in forecasts), current, plan.bounds, horizon)
    solution = optimise(problem, params.optimiser)
    target = solution.target_bps
    verdict = check_gate(
        current=current,
        target=target,
        expected_returns=mu,
        nav=inputs.nav,
        asset_decimals=inputs.asset_decimals,
        horizon_years=horizon,
        turnover_cost_bps=params.optimiser.turnover_cost_bps,
        market=inputs.gas,
        params=params.gate,
        forced=plan.active or bool(constraints["current_breaks_beyond_drift"]),
    )
    cut = tuple(s.name for s, g in zip(signals, plan.granted_cut_bps, strict=True) if g > 0)
    reason = verdict.reason
    if cut:
        flagged = ", ".join(f"{s.name} ({'+'.join(s.reasons)})" for s in signals if s.name in cut)
        reason = f"risk-off: cutting {flagged}; {reason}"
    outcome = {
        "act": verdict.act,
        "code": verdict.code,
        "reason": reason,
        "target_bps": target,
        "idle_bps": BPS - sum(target),
        "turnover_bps": turnover_bps(current, target),
    }
    doc = _document(
        inputs,
        params,
        **parts,
        constraints=constraints,
        plan=plan,
        solution=solution,
        verdict=verdict,
        outcome=outcome,
    )
    if not verdict.act:
        return NoAction(reason, verdict.code, doc)
    return Decision(
        target_bps=target,
        current_bps=current,
        turnover_bps=verdict.turnover_bps,
        expected_gain=verdict.gain,
        risk_off=cut,
        reason=reason,
        rationale=doc,
        rationale_hash=rationale_hash(doc),
    )
