"""The keeper's decision path (`plan_rebalance`, the shipped strategies) on vaults nobody tuned it
on — up to ten sleeves, a NAV of one unit or of 1e30 units, assets of 0 to 18 decimals, caps of
0, a buffer of 100 %, a turnover limit of 0, empty, one-reading, flat and ×1000 / ÷1000 jumping
histories, indices of one wei and near 2^255, a lending book with no cash or owed more than it
holds, gas from free to absurd, and settings away from the defaults — checked against an
independent model of the contract's rule (`RebalanceModule._checkBounds`, written out below from
the Solidity, not through `keepers.strategy.bounds`): every call sent is one the vault accepts,
in integers, and its receipt replays to the very bytes; anything else is a skip with a known code
or a one-line refusal."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keepers.jobs import (
    LendingSnapshot,
    RebalanceCall,
    RebalancerSnapshot,
    RebalanceSkip,
    SleeveSnapshot,
    plan_rebalance,
    strategy_inputs,
)
from keepers.math import WAD, RateModel
from keepers.strategy import GasMarket, StrategyParams
from keepers.strategy.kit import BUILTIN, LEARNED, ProposalRefused
from keepers.strategy.replay import replay
from tests.unit.test_strategy_extremes import KEEPER

DAY = 86_400
T0 = 1_700_000_000
BPS = 10_000
NAMES = ("tbill", "gold", "invoices", "lending", "s4", "s5", "s6", "s7", "s8", "s9")
CODES = {"no-change", "base-fee", "min-change", "gas"}
SHAPES = ("flat", "accrue", "x1000-back", "/1000-back", "x1000", "/1000", "to-zero", "one-wei",
          "near-2^255", "noise")  # fmt: skip


def contract_refuses(targets, old, caps, buffer, max_turnover) -> str | None:
    """`RebalanceModule._checkBounds` (and the ABI's uint16[]), on integers: why the vault
    would revert, or None."""
    if len(targets) != len(old) or not all(type(t) is int and 0 <= t < 2**16 for t in targets):
        return "abi"
    sum_target = sum_old = moved = kept = 0
    for t, o, cap in zip(targets, old, caps, strict=True):
        if t > cap:
            return "SleeveCapExceeded"
        sum_target += t
        sum_old += o
        kept += min(o, cap)
        moved += t - o if t > o else o - t
    idle_target = 0 if sum_target >= BPS else BPS - sum_target
    if sum_target > BPS or idle_target < buffer:
        return "IdleBufferBreached"
    idle_old = BPS - sum_old
    moved += idle_target - idle_old if idle_target > idle_old else idle_old - idle_target
    turnover = (moved + 1) // 2  # rounded up
    need = sum_old - min(kept, BPS - buffer)
    if turnover > max(max_turnover, need):
        return "TurnoverExceeded"
    return None


@st.composite
def index_history(draw, end: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    n = draw(st.sampled_from([0, 1, 2, 3, 30, 90]))
    gap = draw(st.sampled_from([1, 12, DAY, 7 * DAY]))
    shape = draw(st.sampled_from(SHAPES))
    level, values = WAD, []
    for i in range(n):
        level += level // 10_000 if shape == "accrue" else 0
        v = level
        if shape == "noise":
            v += (-1) ** i * level // draw(st.sampled_from([100, 10**9]))
        if shape.endswith("-back") and i == n // 2 or shape in ("x1000", "/1000") and i >= n // 2:
            v = v * 1000 if shape.startswith("x") else v // 1000
        v = {"to-zero": 0 if i == n - 1 else v, "one-wei": 1 + i % 2,
             "near-2^255": 2**255 - i}.get(shape, v)  # fmt: skip
        values.append(v)
    return tuple(end - (n - 1 - i) * gap for i in range(n)), tuple(values)


@st.composite
def vaults(draw) -> RebalancerSnapshot:
    n = draw(st.sampled_from([1, 2, 3, 10]))
    decimals = draw(st.sampled_from([0, 6, 18]))
    nav = draw(st.sampled_from([1, 3, 10**6 * 10**decimals, 10**30 * 10**decimals]))
    raw = draw(st.lists(st.integers(0, BPS), min_size=n + 1, max_size=n + 1))
    held = [nav * r // (sum(raw) or 1) for r in raw[:n]]
    end = T0 + 500 * DAY
    book = draw(st.sampled_from([None, *range(n)]))
    sleeves = []
    for i in range(n):
        lending = None
        if i == book:
            cash, debt = draw(st.sampled_from([(0, nav), (nav, 0), (1, 10**40), (0, 0)]))
            borrowers = draw(st.sampled_from([(), ((max(debt, 1), WAD, 8_000),),
                                              ((max(debt, 1), 0, 0),),
                                              ((10**40, 2**256 - 2, 1),)]))  # fmt: skip
            lending = LendingSnapshot(cash, debt, RateModel(100, 400, 6_000, 8_000), borrowers)
        sleeves.append(
            SleeveSnapshot(
                NAMES[i],
                held[i],
                draw(st.sampled_from([0, 1, 500, 3_000, BPS])),
                *draw(index_history(end)),
                draw(st.sampled_from([0, 600, -600, 10**6])),
                lending,
            )  # fmt: skip
        )
    gas = GasMarket(draw(st.sampled_from([0, 20 * 10**9, 10**30])), 10**9,
                    draw(st.sampled_from([0, 3_000 * WAD, 10**40])))  # fmt: skip
    return RebalancerSnapshot(end, nav, decimals, tuple(sleeves),
                              draw(st.sampled_from([0, 500, 9_999, BPS])),
                              draw(st.sampled_from([0, 1, 5, 6, 100, BPS, 2**16 - 1])), gas,
                              block=7)  # fmt: skip


@st.composite
def settings_(draw) -> StrategyParams:
    base = KEEPER
    return replace(
        base,
        horizon_seconds=draw(st.sampled_from([1, 7 * DAY, 3_650 * DAY])),
        holding_seconds=draw(st.sampled_from([1, 90 * DAY])),
        turnover_headroom_bps=draw(st.sampled_from([0, 5, 20_000])),
        drift_tolerance_bps=draw(st.sampled_from([0, 100, 20_000])),
        exit_rebalances=draw(st.sampled_from([0, 1, 3])),
        forecast=replace(base.forecast, estimator=draw(st.sampled_from(["robust", "ewma"])),
                         supply_response=draw(st.booleans()),
                         trend_shrink=draw(st.sampled_from([0.0, 4.0]))),
        optimiser=replace(base.optimiser, risk_aversion=draw(st.sampled_from([0.0, 300.0, 1e9])),
                          correlation=draw(st.sampled_from([0.0, 0.999])),
                          turnover_cost_bps=draw(st.sampled_from([0.0, 5.0, 1e6])),
                          policy_bps=(("tbill", 6_000), ("gold", 1_000)),
                          policy_aversion=draw(st.sampled_from([0.0, 1e6]))),
        risk=replace(base.risk, deviation_check=draw(st.sampled_from(["any", "nav"])),
                     keep_fraction=draw(st.sampled_from([0.0, 0.5]))),
        gate=replace(base.gate, benefit=draw(st.sampled_from(["return", "score"])),
                     min_turnover_bps=draw(st.sampled_from([0, 10, BPS]))),
    )  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vaults(), st.sampled_from([BUILTIN, LEARNED]), settings_())
def test_every_call_sent_on_an_unseen_vault_is_one_the_contract_accepts(snap, entry, params):
    try:
        call = plan_rebalance(snap, params, strategy=entry)
    except ProposalRefused as err:  # only an operator's strategy is refused; never the shipped
        raise AssertionError(f"a shipped strategy was refused: {err}") from None
    inputs = strategy_inputs(snap)
    if isinstance(call, RebalanceSkip):
        assert call.code in CODES, call
        return
    assert isinstance(call, RebalanceCall)
    targets, _, _ = call.args
    assert contract_refuses(targets, inputs.current_bps, inputs.caps_bps,
                            inputs.idle_buffer_bps, inputs.max_turnover_bps) is None  # fmt: skip
    assert targets != list(inputs.current_bps)
    result = replay(call.rationale, trusted={entry})
    assert result.ok and result.exact, result.differences
