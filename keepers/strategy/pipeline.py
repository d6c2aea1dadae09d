"""`decide`: forecasts → risk-off → optimiser → gate → rationale, as one pure function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from keepers.math import BPS, YEAR
from keepers.strategy.bounds import (
    Bounds,
    drifted_past,
    min_turnover_bps,
    turnover_bps,
    violations,
)
from keepers.strategy.forecast import (
    LendingBookState,
    SleeveForecast,
    forecast_sleeve,
    lending_forecast,
    lending_rate_cap,
)
from keepers.strategy.gate import GateVerdict, check_gate
from keepers.strategy.inputs import SleeveState, StrategyInputs, StrategyParams, one_off_share
from keepers.strategy.optimiser import Problem, Solution, optimise
from keepers.strategy.rationale import VERSION, encode, rationale_hash
from keepers.strategy.receipt import strategy_identity
from keepers.strategy.risk import (
    RiskOffPlan,
    RiskSignal,
    assess_risk,
    checked_deviation_bps,
    plan_risk_off,
)


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
    """Nothing to send, and why: `code` ("empty", "infeasible" (before the vault let a decision
    turn over what its bounds need; no longer produced), "no-change", "base-fee",
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


def settlement_bounds(
    forecasts: tuple[SleeveForecast, ...],
    current: tuple[int, ...],
    bounds: Bounds,
    exit_rebalances: int,
) -> Bounds:
    """Settlement awareness: a sleeve whose path shows credit losses (an unreversed markdown:
    its issuer may gate redemptions, as issuers do in a default wave) is held to what the vault
    could leave in `exit_rebalances` rebalances at the turnover limit, before a gate, never
    above its current ceiling; and it is never raised above its current weight while it is.
    0 turns this off."""
    if exit_rebalances <= 0:
        return bounds
    exit_bps = exit_rebalances * bounds.max_turnover_bps
    ceilings = list(bounds.ceilings_bps)
    for i, f in enumerate(forecasts):
        est = f.robust
        if est is None or not (est.loss_rate > 0 or est.displacement > 0):
            continue
        kept = min(current[i], ceilings[i])
        wanted = min(ceilings[i], max(kept, exit_bps) if kept <= exit_bps else exit_bps)
        # Never tighter than this rebalance's turnover can reach (the bounds stay feasible).
        trial = Bounds(tuple(ceilings[:i] + [wanted] + ceilings[i + 1 :]),
                       bounds.idle_buffer_bps, bounds.max_turnover_bps)  # fmt: skip
        over = min_turnover_bps(current, trial) - bounds.max_turnover_bps
        ceilings[i] = min(ceilings[i], wanted + max(over, 0))
    return Bounds(tuple(ceilings), bounds.idle_buffer_bps, bounds.max_turnover_bps)


def supply_response(
    inputs: StrategyInputs,
    params: StrategyParams,
    forecasts: tuple[SleeveForecast, ...],
    target: tuple[int, ...],
) -> tuple[SleeveForecast, ...]:
    """The lending forecast re-priced at the book the vault's move to `target` leaves: its cash
    grows (or shrinks) by the vault's change of supply, the borrowers' debt does not, so the
    utilization and the supply rate respond to the vault's own supply."""
    out = list(forecasts)
    for i, (s, f) in enumerate(zip(inputs.sleeves, forecasts, strict=True)):
        if s.lending is None or f.lending is None:
            continue
        delta = (target[i] - s.current_bps) * inputs.nav // 10_000
        book = s.lending
        moved = LendingBookState(max(book.cash + delta, 0), book.debt, book.rate_model,
                                 book.borrowers)  # fmt: skip
        fp = params.forecast
        lf = lending_forecast(moved, collateral_volatility=fp.collateral_volatility,
                              unliquidated_share=fp.unliquidated_share,
                              horizon_seconds=fp.loss_horizon_seconds,
                              supply_cap=lending_rate_cap(s.history, fp))  # fmt: skip
        out[i] = replace(f, expected_return=lf.net_yield, lending=lf)
    return tuple(out)


def _deviation(s: SleeveState, f: SleeveForecast, params: StrategyParams) -> int:
    """The sleeve's oracle deviation as the risk rule reads it (`checked_deviation_bps`): checked
    against its own index's last move and its unconfirmed drops."""
    idx = s.history.indices
    return checked_deviation_bps(
        s.oracle_deviation_bps,
        lending=s.lending is not None,
        index_fell=len(idx) >= 2 and idx[-1] < idx[-2],
        pending_drop=f.robust is not None and f.robust.pending > 0,
        check=params.risk.deviation_check,
    )


Adjust = Callable[[StrategyInputs, tuple[SleeveForecast, ...]], tuple[SleeveForecast, ...]]


def decide(
    inputs: StrategyInputs, params: StrategyParams, adjust: Adjust | None = None
) -> Decision | NoAction:
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
    if adjust is not None:  # a learned model's view of the returns (keepers.strategy.learned)
        forecasts = adjust(inputs, forecasts)
    signals = tuple(
        assess_risk(
            f.name, f.short_volatility, f.long_volatility, _deviation(s, f, params), params.risk
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
    # Weights further from the caps and the buffer than one turnover: the vault lets a decision
    # turn over what meeting them needs (RebalanceModule._checkBounds), so it is always planned.

    plan = plan_risk_off(
        signals, current, Bounds(caps.ceilings_bps, caps.idle_buffer_bps, limit), params.risk
    )
    bounds = settlement_bounds(forecasts, current, plan.bounds, params.exit_rebalances)
    constraints["ceilings_bps"] = bounds.ceilings_bps
    horizon = params.horizon_seconds / YEAR
    # The trading cost is paid once; the gain accrues over the holding period (`one_off_share`).
    share = one_off_share(params)
    kappa = params.optimiser.turnover_cost_bps * share
    optimiser = replace(params.optimiser, turnover_cost_bps=kappa)
    constraints["turnover_cost_bps"] = kappa
    costs = params.optimiser.sleeve_costs(tuple(s.name for s in inputs.sleeves), share)
    if costs:  # per sleeve (None: the flat κ); absent, as in receipts written before it: flat
        constraints["sleeve_cost_bps"] = costs
    mu = tuple(f.expected_return for f in forecasts)
    policy = params.optimiser.policy(tuple(s.name for s in inputs.sleeves))
    problem = Problem(mu, tuple(f.volatility for f in forecasts), current, bounds, horizon,
                      costs, policy)  # fmt: skip
    solution = optimise(problem, optimiser)
    if params.forecast.supply_response:
        repriced = supply_response(inputs, params, forecasts, solution.target_bps)
        if repriced != forecasts:
            forecasts, mu = repriced, tuple(f.expected_return for f in repriced)
            parts["forecasts"] = forecasts
            problem = replace(problem, expected_returns=mu)
            solution = optimise(problem, optimiser)
    target = solution.target_bps
    verdict = check_gate(
        current=current,
        target=target,
        expected_returns=mu,
        nav=inputs.nav,
        asset_decimals=inputs.asset_decimals,
        horizon_years=horizon,
        turnover_cost_bps=kappa,
        market=inputs.gas,
        params=params.gate,
        forced=plan.active or bool(constraints["current_breaks_beyond_drift"]),
        score_gain_bps=solution.score_bps - solution.baseline_score_bps,
        sleeve_cost_bps=costs,
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
