"""keepers.jobs: the jobs' pure decision parts (no chain)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from keepers.jobs import (
    Borrower,
    EvaluatorAction,
    LendingSnapshot,
    LiquidatorSettings,
    OpenDecision,
    OracleState,
    PendingSlash,
    PokePlan,
    RebalanceCall,
    RebalancerSnapshot,
    RebalanceSkip,
    SentinelSettings,
    SentinelState,
    SettlerSettings,
    SettleSkip,
    SleeveSnapshot,
    StrikeCall,
    StrikeTrigger,
    VaultHealth,
    decode_strike_trigger,
    moved_sleeves,
    plan_claims,
    plan_confirmations,
    plan_evaluator,
    plan_evidence_pokes,
    plan_liquidation_pokes,
    plan_liquidations,
    plan_pokes,
    plan_rebalance,
    plan_rebalance_pokes,
    plan_strike,
    rationale_uri,
    rearm_if_pause_undone,
    rebalance_waits,
    strategy_inputs,
    strike_wait,
    unconfirmed_moves,
    watch,
    watched_share_price,
)
from keepers.jobs.settler import (
    STRIKE_SELECTOR,
    ClaimCall,
    ControllerClaims,
    RefusedClaim,
    next_refusal,
)
from keepers.math import (
    MAX_UINT256,
    WAD,
    Holding,
    LiquidationCall,
    LiquidationRules,
    Position,
    RateModel,
    band_clamp,
    health_factor,
    liquidation_trigger,
)
from keepers.strategy import Bounds, GasMarket, verify, violations
from keepers.strategy.gate import gas_cost_assets

USDC = 10**6
RULES = LiquidationRules(close_factor_bps=5_000, full_close_health_bps=9_500, min_debt=10 * USDC)
GAS = GasMarket(base_fee_wei=20 * 10**9, priority_fee_wei=10**9, native_price_wad=3_000 * WAD)
SETTINGS = LiquidatorSettings(gas_per_liquidation=400_000)


def holding(token: str, amount: int, price: int, *, decimals: int = 18, fresh: bool = True):
    return Holding(token, amount, decimals, price, 7_000, 8_000, 500, fresh)


def borrower(i: int, debt: int, *holdings: Holding) -> Borrower:
    return Borrower(f"0x{i:040x}", Position(debt, tuple(holdings), 6))


# ---------------------------------------------------------------------------------- liquidator


@st.composite
def positions(draw):
    """A borrower around the liquidation threshold: debt, a target health (0.3 to 1.5), the
    collateral value split over two tokens (one possibly stale), with random prices."""
    debt = draw(st.integers(0, 2_000_000 * USDC))
    health_bps = draw(st.integers(3_000, 15_000))
    split_bps = draw(st.integers(0, 10_000))
    pa = draw(st.integers(WAD // 100, 5_000 * WAD))
    pb = draw(st.integers(WAD // 100, 100_000 * WAD))
    value = debt * health_bps // 8_000  # threshold 80%: health = value * 0.8 / debt
    va = value * split_bps // 10_000
    a = va * WAD * 10**18 // (pa * USDC)
    b = (value - va) * WAD * 10**8 // (pb * USDC)
    return debt, a, pa, b, pb, draw(st.booleans())


def make_book(raw) -> list[Borrower]:
    return [
        borrower(
            i,
            debt,
            holding("0xaa", a, pa),
            holding("0xbb", b, pb, decimals=8, fresh=fresh),
        )
        for i, (debt, a, pa, b, pb, fresh) in enumerate(raw)
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(positions(), max_size=12), st.integers(0, 50 * USDC))
def test_liquidator_plans_exactly_the_unhealthy_profitable(raw, min_profit):
    book = make_book(raw)
    cfg = LiquidatorSettings(400_000, min_profit, gas_per_extra_collateral=60_000)
    report = plan_liquidations(book, RULES, GAS, cfg)
    planned = {p.borrower: p for p in report.plans}
    skipped = {s.borrower for s in report.skipped}
    for b in book:
        held = sum(h.amount > 0 for h in b.position.holdings)  # a second token held: +60k gas
        gas_cost = gas_cost_assets(GAS, 400_000 + 60_000 * max(held - 1, 0), 6)
        health = health_factor(b.position)
        if b.position.debt == 0 or health >= WAD:
            assert b.address not in planned and b.address not in skipped
            assert b.address in report.healthy
            continue
        call = liquidation_trigger(b.position, RULES)
        # A dust write-off also sweeps what the borrower had left to the liquidator.
        gain = 0
        if isinstance(call, LiquidationCall):
            gain = call.gain + (call.liquidation.rest if call.liquidation.sweep else 0)
        if isinstance(call, LiquidationCall) and gain - gas_cost > min_profit:
            p = planned[b.address]
            assert (p.token, p.liquidation, p.gain) == (call.token, call.liquidation, gain)
            assert p.repay_amount == MAX_UINT256
            assert p.gas_cost == gas_cost and p.profit == gain - gas_cost
            assert p.health == health < WAD
        else:
            assert b.address in skipped and b.address not in planned
    profits = [(-p.profit, p.borrower) for p in report.plans]
    assert profits == sorted(profits)
    assert report.total_profit == sum(p.profit for p in report.plans)
    # deterministic, whatever the input order
    assert plan_liquidations(list(reversed(book)), RULES, GAS, cfg) == report


def test_liquidator_picks_the_best_collateral_and_skips_with_reasons():
    rich = borrower(1, 1_000 * USDC, holding("0xaa", 10**17, 1_000 * WAD),
                    holding("0xbb", 10 * WAD, 100 * WAD))  # fmt: skip
    healthy = borrower(2, 100 * USDC, holding("0xaa", WAD, 1_000 * WAD))
    tiny = borrower(3, 20 * USDC, holding("0xaa", 2 * 10**16, 1_000 * WAD))
    stale = borrower(4, 1_000 * USDC, holding("0xaa", WAD, 1_000 * WAD, fresh=False))
    report = plan_liquidations([tiny, stale, healthy, rich], RULES, GAS, SETTINGS)
    assert [p.borrower for p in report.plans] == [rich.address]
    plan = report.plans[0]
    assert plan.token == "0xbb"  # the larger holding gives the larger bonus
    assert report.healthy == (healthy.address,)
    reasons = {s.borrower: s.reason for s in report.skipped}
    assert reasons[stale.address] == "stale price"
    assert reasons[tiny.address].startswith("unprofitable")


def test_a_liquidation_is_weighed_at_the_gas_of_the_collateral_tokens_the_position_holds():
    """The book prices every token a position holds, so a liquidation of a position holding
    more tokens costs more (measured 202,274 gas with one, 221,635 with two, 290,130 with
    three, review5 on anvil): the default weighs 250,000 plus 50,000 a token beyond the first,
    above each and within two fifths of it; a token held at 0 is not counted (the book's mask
    skips it)."""
    one = borrower(1, 1_000 * USDC, holding("0xaa", 10**18, 1_000 * WAD))
    three = borrower(2, 1_000 * USDC, holding("0xaa", 10**18, 1_000 * WAD),
                     holding("0xbb", 10**17, 100 * WAD), holding("0xcc", 10**17, 10 * WAD),
                     holding("0xdd", 0, 10 * WAD))  # fmt: skip
    cfg = LiquidatorSettings()
    measured = {1: 202_274, 2: 221_635, 3: 290_130}
    weighed = {n: cfg.gas_per_liquidation + cfg.gas_per_extra_collateral * (n - 1)
               for n in measured}  # fmt: skip
    assert all(measured[n] <= weighed[n] <= measured[n] * 7 // 5 for n in measured), weighed
    plans = {p.borrower: p for p in plan_liquidations([one, three], RULES, GAS, cfg).plans}
    assert plans[one.address].gas_cost == gas_cost_assets(GAS, 250_000, 6)
    assert plans[three.address].gas_cost == gas_cost_assets(GAS, 350_000, 6)
    with pytest.raises(ValueError, match="non-negative"):
        LiquidatorSettings(gas_per_extra_collateral=-1)


def test_liquidator_plans_every_called_loan_once_due_in_full():
    """Once the book's loans are due (`LiquidationRules.called`), a healthy position is planned
    like an unhealthy one, its whole debt repaid; one without debt is still left alone."""
    healthy = borrower(2, 10_000 * USDC, holding("0xaa", 100 * WAD, 1_000 * WAD))  # health 8
    idle = borrower(5, 0, holding("0xaa", WAD, 1_000 * WAD))
    assert plan_liquidations([healthy, idle], RULES, GAS, SETTINGS).plans == ()
    called = dataclasses.replace(RULES, called=True)
    report = plan_liquidations([healthy, idle], called, GAS, SETTINGS)
    assert [p.borrower for p in report.plans] == [healthy.address]
    assert report.plans[0].liquidation.repay == 10_000 * USDC  # all of it: no close factor
    assert report.plans[0].health == health_factor(healthy.position) == 8 * WAD
    assert report.healthy == (idle.address,) and report.skipped == ()


def test_liquidator_never_spends_more_than_its_inventory():
    book = [
        borrower(i, 1_000 * USDC * (i + 1), holding("0xaa", WAD // 2 * (i + 1), 1_600 * WAD))
        for i in range(5)
    ]
    full = plan_liquidations(book, RULES, GAS, SETTINGS)
    assert len(full.plans) == 5
    need = sum(p.liquidation.repay for p in full.plans)
    inventory = need // 3
    limited = plan_liquidations(book, RULES, GAS, SETTINGS, inventory=inventory)
    assert sum(p.liquidation.repay for p in limited.plans) <= inventory
    assert all(p.profit > 0 for p in limited.plans)
    resized = [p for p in limited.plans if p.repay_amount != MAX_UINT256]
    assert all(p.repay_amount == p.liquidation.repay for p in resized)
    assert len(limited.plans) + len(limited.skipped) == 5
    assert plan_liquidations(book, RULES, GAS, SETTINGS, inventory=0).plans == ()


# ---------------------------------------------------------------------------------- evaluator


def test_evaluator_orders_and_explains():
    now = 1_000
    decisions = [
        OpenDecision(7, 900, True),
        OpenDecision(3, 900, None),
        OpenDecision(5, 100, True),
        OpenDecision(9, 2_000, False, "not due"),
        OpenDecision(4, 500, False, "stale return index"),
        OpenDecision(5, 100, True),  # duplicate read
    ]
    slashes = [
        PendingSlash(2, 999),
        PendingSlash(1, 1_000),
        PendingSlash(8, 1_001),
        PendingSlash(6, 10, status=2),
    ]
    plan = plan_evaluator(decisions, slashes, now)
    assert plan.actions == (
        EvaluatorAction("evaluate", 5),
        EvaluatorAction("evaluate", 3),
        EvaluatorAction("evaluate", 7),
        EvaluatorAction("executeSlash", 2),
        EvaluatorAction("executeSlash", 1),
    )
    reasons = {(s.kind, s.target_id): s.reason for s in plan.skipped}
    assert reasons[("evaluate", 9)].startswith("not due")
    assert reasons[("evaluate", 4)] == "stale evidence"
    assert reasons[("executeSlash", 8)].startswith("veto window open")
    assert reasons[("executeSlash", 6)] == "not pending (vetoed)"
    capped = plan_evaluator(decisions, slashes, now, max_actions=2)
    assert capped.actions == plan.actions[:2]
    assert sum(s.reason == "over the batch limit" for s in capped.skipped) == 3


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 100)), max_size=20),
       st.integers(0, 100), st.randoms())  # fmt: skip
def test_evaluator_is_stable_under_input_order(raw, now, rng):
    decisions = [OpenDecision(i, due, True) for i, due in raw]
    shuffled = decisions[:]
    rng.shuffle(shuffled)
    a = plan_evaluator(decisions, [], now)
    first = {}
    for d in decisions:
        first.setdefault(d.decision_id, d)
    if len(first) == len({d.decision_id: d for d in shuffled}) and all(
        d == first[d.decision_id] for d in shuffled
    ):
        assert plan_evaluator(shuffled, [], now) == a
    assert all(first[x.target_id].due_at <= now for x in a.actions)
    dues = [(first[x.target_id].due_at, x.target_id) for x in a.actions]
    assert dues == sorted(dues)


# ---------------------------------------------------------------------------------- settler


def test_settler_decodes_the_strike_trigger():
    assert keccak(text="strike()")[:4] == STRIKE_SELECTOR
    assert decode_strike_trigger(True, STRIKE_SELECTOR) == StrikeTrigger(True, STRIKE_SELECTOR)
    assert decode_strike_trigger(False, b"no request") == StrikeTrigger(False, b"", "no request")
    for bad in (b"", b"\x00" * 4, STRIKE_SELECTOR + b"\x00" * 32, keccak(text="poke()")[:4]):
        with pytest.raises(ValueError):
            decode_strike_trigger(True, bad)


def test_settler_strikes_exactly_the_triggers_call_data():
    ready = decode_strike_trigger(True, STRIKE_SELECTOR)
    assert plan_strike(ready) == StrikeCall(STRIKE_SELECTOR)
    waiting = decode_strike_trigger(False, b"prices not newer than requests")
    assert plan_strike(waiting) == SettleSkip("prices not newer than requests")
    assert plan_strike(StrikeTrigger(False)) == SettleSkip("trigger false")
    assert plan_strike(ready, SettlerSettings(strike=False)) == SettleSkip("strikes disabled")


def test_settler_skips_a_strike_that_could_change_nothing():
    """During an issuer freeze the trigger stays true for the queued redemptions: with no
    liquidity and no deposit pending a strike would fill nothing, so it waits."""
    ready = decode_strike_trigger(True, STRIKE_SELECTOR)
    empty = plan_strike(ready, liquidity=0, pending_deposits=0)
    assert empty == SettleSkip("no liquidity and no deposit pending: queued redemptions wait")
    assert plan_strike(ready, liquidity=1, pending_deposits=0) == StrikeCall(STRIKE_SELECTOR)
    assert plan_strike(ready, liquidity=0, pending_deposits=1) == StrikeCall(STRIKE_SELECTOR)
    assert plan_strike(ready, liquidity=None, pending_deposits=0) == StrikeCall(STRIKE_SELECTOR)
    assert plan_strike(ready, liquidity=0, pending_deposits=None) == StrikeCall(STRIKE_SELECTOR)


def test_settler_waits_with_a_redemptions_only_strike_worth_less_than_its_gas():
    """A wei sent to the vault makes the trigger true (tests/attacks/test_settler_review.py):
    with no deposit pending, a strike waits until the liquidity pays its gas or covers the
    queue; a deposit pending, or a read that failed, never holds it."""
    ready = decode_strike_trigger(True, STRIKE_SELECTOR)
    strike = StrikeCall(STRIKE_SELECTOR)

    def plan(liquidity, deposits=0, gas_cost=750_000, queued=10**12):
        return plan_strike(
            ready, liquidity=liquidity, pending_deposits=deposits, gas_cost=gas_cost, queued=queued
        )

    dust = plan(2)
    assert isinstance(dust, SettleSkip) and dust.reason.startswith("liquidity 2 below")
    assert isinstance(plan(749_999), SettleSkip)
    assert plan(750_000) == strike  # pays its gas
    assert plan(2, deposits=1) == strike  # deposits settle whatever it pays
    assert plan(2, queued=2) == strike  # clears the queue
    assert plan(2, queued=3) == dust
    assert plan(2, gas_cost=None) == strike and plan(2, deposits=None) == strike
    assert plan(2, queued=None) == dust  # the queue's worth unknown: the gas still decides


A, B, C = (f"0x{i:040x}" for i in (0xA, 0xB, 0xC))


def test_settler_claims_through_the_relay_what_each_controller_may_claim():
    claims = [
        ControllerClaims(A, True, 5_000 * USDC, 0),
        ControllerClaims(B, True, 0, 0),  # nothing claimable: nothing sent, nothing said
        ControllerClaims(C, True, 7 * USDC, 3 * WAD),  # both kinds: one relay call
    ]
    plan = plan_claims(claims, 10**9)
    assert plan.calls == (ClaimCall(A, 5_000 * USDC, 0), ClaimCall(C, 7 * USDC, 3 * WAD))
    assert plan.skipped == ()


def test_settler_claims_only_where_the_relay_is_operator_within_its_limits():
    revoked = [ControllerClaims(A, False, USDC, WAD), ControllerClaims(B, False, 0, 0)]
    plan = plan_claims(revoked, 0)
    assert plan.calls == () and plan.skipped == (f"claims of {A}: the relay is not its operator",)

    many = [ControllerClaims(f"0x{i:040x}", True, USDC, WAD) for i in range(1, 7)]  # 6 claims
    capped = plan_claims(many, 0, SettlerSettings(max_claims=4))
    assert [c.controller for c in capped.calls] == [m.controller for m in many[:4]]
    assert capped.skipped == ("2 claims: above max_claims, next pass",)

    fees = SettlerSettings(max_base_fee_wei=50 * 10**9)
    costly = plan_claims(many, 60 * 10**9, fees)
    assert costly.calls == () and costly.skipped == (
        f"6 claims: base fee {60 * 10**9} above {50 * 10**9}",
    )
    assert len(plan_claims(many, 50 * 10**9, fees).calls) == 6
    assert plan_claims(many, 0, SettlerSettings(claim=False)) == plan_claims([], 0)
    with pytest.raises(ValueError):
        SettlerSettings(max_claims=0)


# ---------------------------------------------------------------------------------- sentinel

NOW = 10_000


def oracle(*, age: int = 10, new: int = 2_000 * WAD, bound: int = 3_600):
    return OracleState("gold", NOW - age, bound, 2_000 * WAD, new, 500)


CALM = VaultHealth(WAD, WAD, borrowers=((100, 2 * WAD),))


def run(passes, settings_: SentinelSettings, vault: VaultHealth = CALM):
    state = SentinelState()
    out = []
    for o in passes:
        v = watch([o], vault, NOW, state, settings_)
        state = v.state
        out.append(v)
    return out


def test_sentinel_alerts_are_typed():
    v = watch(
        [oracle(age=5_000), OracleState("eth", NOW, 60, 3_000 * WAD, 3_600 * WAD, 1_000)],
        VaultHealth(97 * WAD // 100, WAD, borrowers=((700, WAD // 2), (300, 2 * WAD))),
        NOW,
    )
    got = {(a.code, a.subject): a.severity for a in v.alerts}
    assert got == {
        ("oracle-deviation", "eth"): "critical",
        ("oracle-stale", "gold"): "warning",
        ("nav-drop", "vault"): "critical",
        ("unhealthy-debt", "lending"): "critical",
    }
    assert watch([oracle(age=8_000)], CALM, NOW).alerts[0].severity == "critical"
    assert watch([oracle()], CALM, NOW).alerts == ()


def test_sentinel_one_blip_does_not_pause_and_flapping_does_not_repause():
    key = SentinelSettings(has_guardian_key=True, trip_after=2, clear_after=3)
    bad, good = oracle(new=2_500 * WAD), oracle()
    blip = run([good, bad, good, bad, good], key)
    assert not any(v.pause for v in blip) and not blip[-1].state.tripped
    trip = run([bad, bad, bad, good, bad, bad, good, good, good, bad, bad], key)
    assert [v.pause for v in trip] == [False, True] + [False] * 8 + [True]
    assert any(a.code == "sentinel-cleared" for a in trip[8].alerts)
    assert trip[7].state.tripped and not trip[8].state.tripped


def test_sentinel_without_the_key_only_recommends():
    bad = oracle(new=2_500 * WAD)
    out = run([bad, bad], SentinelSettings(has_guardian_key=False))
    assert not any(v.pause for v in out)
    assert any(a.code == "pause-recommended" for a in out[1].alerts)
    paused = VaultHealth(WAD, WAD, automation_paused=True)
    out = run([bad, bad], SentinelSettings(has_guardian_key=True), paused)
    assert not any(v.pause for v in out)


@pytest.mark.parametrize(
    ("last_pause", "paused", "rearmed"),
    [
        ("dropped", False, True),  # the pool dropped it, or a reorg undid it
        ("reverted", False, True),
        ("replaced", False, True),
        ("lost-race", False, True),  # another guardian's pause that did not stand
        ("mined", False, False),  # it held, and a guardian lifted it by hand
        ("sent", False, False),  # still in flight
        (None, False, False),  # never sent (no guardian key: a recommendation)
        ("dropped", True, False),  # paused anyway
    ],
)
def test_a_tripped_sentinel_whose_own_pause_did_not_hold_is_armed_again(
    last_pause, paused, rearmed
):
    tripped = SentinelState(critical_streak=5, clear_streak=0, tripped=True)
    state = rearm_if_pause_undone(tripped, paused, last_pause)
    assert state.tripped is not rearmed
    assert state.critical_streak == 5
    # armed again with the streak kept: the next critical pass trips and pauses
    bad, key = oracle(new=2_500 * WAD), SentinelSettings(has_guardian_key=True, trip_after=2)
    assert watch([bad], CALM, NOW, state, key).pause is rearmed
    assert rearm_if_pause_undone(SentinelState(), False, "dropped") == SentinelState()


def test_the_watched_share_price_values_an_unconfirmed_rise_at_the_reference():
    """The NAV-drop check reads the share price as leavers are paid: a sleeve's rise beyond the
    band (500 bps here) the router has not accepted counts at the reference, so a bad upward
    print that falls back is no drop; a fall beyond the band, and a rise within it, count at
    their live price. `held`: the sleeves' values at the live price, by feed name."""
    nav = 1_000_000 * WAD  # gold 200,000 of it at 3,200 live: 75,000 above its 2,000 reference
    spike = oracle(new=3_200 * WAD)
    assert watched_share_price(WAD, nav, {"gold": 200_000 * WAD}, [spike]) == (
        WAD * (nav - 75_000 * WAD) // nav
    )
    for live in (oracle(new=1_000 * WAD), oracle(new=2_090 * WAD), oracle()):  # fall, in band
        assert watched_share_price(WAD, nav, {"gold": 200_000 * WAD}, [live]) == WAD
    assert watched_share_price(WAD, nav, {"tbill": 200_000 * WAD}, [spike]) == WAD  # no sleeve
    assert watched_share_price(WAD, 0, {"gold": 0}, [spike]) == WAD  # an empty vault


def test_a_single_pass_with_a_nav_drop_of_twice_the_critical_bound_trips_the_sentinel():
    """A drop is measured against the previous pass, so it shows on one pass only: with
    `trip_after` = 2 alone it could never trip. A drop of `nav_drop_trip_bps` (default twice
    `nav_drop_critical_bps`: 400 bps) trips on that pass; a smaller critical drop counts toward
    the streak as before."""
    key = SentinelSettings(has_guardian_key=True, trip_after=2)
    assert key.nav_trip_bps == 2 * key.nav_drop_critical_bps == 400
    calm = oracle()

    shock = watch([calm], VaultHealth(96 * WAD // 100, WAD), NOW, SentinelState(), key)
    assert [(a.code, a.severity) for a in shock.alerts] == [("nav-drop", "critical")]
    assert "trips at once" in shock.alerts[0].message
    assert shock.pause and shock.state == SentinelState(1, 0, True)

    # 399 bps: critical, one pass; the next pass compares with the fallen price: no alert.
    smaller = watch([calm], VaultHealth(WAD - 399 * WAD // 10_000, WAD), NOW, SentinelState(), key)
    assert [(a.code, a.severity) for a in smaller.alerts] == [("nav-drop", "critical")]
    assert not smaller.pause and not smaller.state.tripped
    after = watch([calm], VaultHealth(WAD - 399 * WAD // 10_000, WAD - 399 * WAD // 10_000), NOW,
                  smaller.state, key)  # fmt: skip
    assert after.alerts == () and not after.pause and not after.state.tripped

    # The bound is a setting; without the key the same pass recommends the pause.
    lower = SentinelSettings(has_guardian_key=True, nav_drop_trip_bps=300)
    assert watch([calm], VaultHealth(97 * WAD // 100, WAD), NOW, None, lower).pause
    alone = watch([calm], VaultHealth(96 * WAD // 100, WAD), NOW, None, SentinelSettings())
    assert not alone.pause and alone.state.tripped
    (recommended,) = [a for a in alone.alerts if a.code == "pause-recommended"]
    assert "a critical NAV drop" in recommended.message
    # Already paused, or already tripped: nothing more is sent.
    paused = VaultHealth(96 * WAD // 100, WAD, automation_paused=True)
    assert not watch([calm], paused, NOW, None, key).pause
    assert not watch(
        [calm], VaultHealth(96 * WAD // 100, WAD), NOW, SentinelState(1, 0, True), key
    ).pause
    with pytest.raises(ValueError, match="above nav_drop_critical_bps"):
        SentinelSettings(nav_drop_critical_bps=200, nav_drop_trip_bps=200)


def pending(*, new: int, pending_price: int = 0, since: int = 0, accepted_at: int = NOW - 60,
            age: int = 10, delay: int = 3_600) -> OracleState:  # fmt: skip
    """Gold against a reference of 2,000 (band 5%), with the router's pending move if any."""
    return OracleState("gold", NOW - age, 86_400, 2_000 * WAD, new, 500,
                       pending_price, since, delay, accepted_at)  # fmt: skip


def test_deviation_is_judged_against_the_router_reference_while_a_move_is_pending():
    """The router keeps its reference while a move is pending, so each pass still sees the move
    (and says since when the router holds it) until the move is confirmed."""
    held = pending(new=1_600 * WAD, pending_price=1_600 * WAD, since=NOW - 600)
    (alert,) = watch([held], CALM, NOW).alerts
    assert (alert.code, alert.severity) == ("oracle-deviation", "critical")
    assert f"confirmable at {NOW - 600 + 3_600}" in alert.message
    key = SentinelSettings(has_guardian_key=True, trip_after=2)
    out = run([held, held], key)
    assert [v.pause for v in out] == [False, True]
    # An outsider's poke could only record the move (it is pending): the reference, and so the
    # alert, stay; an accepted move (the reference is the new price) no longer deviates.
    accepted = OracleState("gold", NOW - 10, 86_400, 1_600 * WAD, 1_600 * WAD, 500)
    assert watch([accepted], CALM, NOW).alerts == ()


@pytest.mark.parametrize(
    "feed, tripped, expected",
    [
        # A new move beyond the band: recorded at once, tripped or not.
        (pending(new=1_600 * WAD), False, "record the move"),
        # A pending move on the other side of the reference: recorded anew.
        (
            pending(new=1_600 * WAD, pending_price=2_400 * WAD, since=NOW - 7_200),
            True,
            "record the move",
        ),
        # Pending on this side, not yet confirmable: nothing to do.
        (pending(new=1_600 * WAD, pending_price=1_650 * WAD, since=NOW - 3_599), True, None),
        # Confirmable: only once tripped (the move was alarmed on).
        (pending(new=1_600 * WAD, pending_price=1_650 * WAD, since=NOW - 3_600), False, None),
        (
            pending(new=1_600 * WAD, pending_price=1_650 * WAD, since=NOW - 3_600),
            True,
            "confirm the reported move",
        ),
        # Back within the band with a move pending: dropped.
        (
            pending(new=2_050 * WAD, pending_price=1_600 * WAD, since=NOW - 60),
            False,
            "drop the move that did not hold",
        ),
        # Within the band: a heartbeat once the reference is older than the staleness bound
        # and the confirmation delay, not before.
        (pending(new=2_050 * WAD, accepted_at=NOW - 86_401), False, "heartbeat"),
        (pending(new=2_050 * WAD, accepted_at=NOW - 86_400), False, None),
        (pending(new=2_050 * WAD, accepted_at=NOW - 86_401, delay=86_402), False, None),
        # A stale or unreadable feed: the router would refuse the poke.
        (pending(new=1_600 * WAD, age=86_401), True, None),
        (pending(new=0), True, None),
    ],
)
def test_the_sentinel_pokes_to_record_confirm_drop_or_refresh_never_to_reset(
    feed, tripped, expected
):
    plans = plan_pokes([feed], NOW, tripped)
    assert plans == (() if expected is None else (PokePlan("gold", expected),))


def test_the_strike_wait_names_the_sleeve_and_when_redemptions_leave_without_it():
    """`StrikeNotReady(blocker, at, cutoff, staleReadyAt)` in words: the window still open; a
    sleeve whose last price is older than the cut-off (a late or dead feed), with the time its
    redemptions settle at its last price less the haircut, or deposits only (no such time); a
    sleeve whose valuation is not fresh (an unconfirmed move, a stale price: for the lending
    book, a collateral's)."""
    assert strike_wait(None, 0, 7_200, 0) == "the oldest request window waiting closes at 7200"
    dead = strike_wait("tbill", 3_000, 7_200, 7_200 + 259_200)
    assert dead == (
        "waits on tbill: its valuation uses a price published at 3000, before the cut-off 7200; "
        "redemptions settle without it from 266400 (vault.strikeMaxWait), at its last price "
        "less vault.staleHaircutBps"
    )
    assert strike_wait("tbill", 3_000, 7_200, 0).endswith("; deposits wait for a fresh price")
    assert strike_wait("lending", 7_300, 7_200, 0).startswith(
        "waits on lending: its valuation is not fresh (a price stale or moved unconfirmed; "
        "published at 7300)"
    )


WAITING = StrikeTrigger(False, reason="no request window past a published price")


@pytest.mark.parametrize(
    "feed, trigger, expected",
    [
        # Requests wait on a move beyond the band: recorded at once, confirmed once it has held
        # for the delay (tripped or not: exits do not wait on the sentinel).
        (pending(new=1_600 * WAD), WAITING, "record the move a strike waits on"),
        (
            pending(new=1_600 * WAD, pending_price=1_650 * WAD, since=NOW - 3_600),
            WAITING,
            "confirm the move a strike waits on",
        ),
        (pending(new=1_600 * WAD, pending_price=1_650 * WAD, since=NOW - 3_599), WAITING, None),
        # Nothing waits, or a strike can settle already: no poke.
        (pending(new=1_600 * WAD), StrikeTrigger(False, reason="no request"), None),
        (pending(new=1_600 * WAD), decode_strike_trigger(True, STRIKE_SELECTOR), None),
        # Within the band (no move to confirm), stale or unreadable: no poke.
        (pending(new=2_050 * WAD, pending_price=1_600 * WAD, since=NOW - 60), WAITING, None),
        (pending(new=1_600 * WAD, age=86_401), WAITING, None),
        (pending(new=0), WAITING, None),
    ],
)
def test_the_settler_pokes_only_to_record_or_confirm_a_move_requests_wait_on(
    feed, trigger, expected
):
    plans = plan_confirmations(trigger, [feed], NOW)
    assert plans == (() if expected is None else (PokePlan("gold", expected),))


@pytest.mark.parametrize(
    "feed, waiting, expected",
    [
        # Due decisions wait on stale evidence: the move is recorded, then confirmed once it has
        # held for the delay, so no evaluation (nor the agent's stake) waits for ever.
        (pending(new=1_600 * WAD), (3,), "record the move an evaluation waits on"),
        (
            pending(new=1_600 * WAD, pending_price=1_650 * WAD, since=NOW - 3_600),
            (3, 5),
            "confirm the move an evaluation waits on",
        ),
        (pending(new=1_600 * WAD, pending_price=1_650 * WAD, since=NOW - 3_599), (3,), None),
        # No decision waits: the evaluator leaves the reference to the sentinel and the settler.
        (pending(new=1_600 * WAD), (), None),
        # Within the band, stale or unreadable: nothing a poke could close.
        (pending(new=2_050 * WAD, pending_price=1_600 * WAD, since=NOW - 60), (3,), None),
        (pending(new=1_600 * WAD, age=86_401), (3,), None),
        (pending(new=0), (3,), None),
    ],
)
def test_the_evaluator_pokes_only_to_record_or_confirm_a_move_an_evaluation_waits_on(
    feed, waiting, expected
):
    plans = plan_evidence_pokes(waiting, [feed], NOW)
    assert plans == (() if expected is None else (PokePlan("gold", expected),))


def test_a_rebalance_pokes_then_waits_only_on_an_open_band_of_a_sleeve_it_moves():
    """The vault refuses to move a sleeve whose band is open (StaleValuation). The rebalancer
    pokes every feed beyond the band (record; confirm once confirmable), then waits only on a
    move it changes that its poke did not confirm."""
    unrecorded = pending(new=1_600 * WAD)
    held = pending(new=1_600 * WAD, pending_price=1_650 * WAD, since=NOW - 3_600)
    young = pending(new=1_600 * WAD, pending_price=1_650 * WAD, since=NOW - 600)
    assert plan_rebalance_pokes([unrecorded], NOW) == (
        PokePlan("gold", "record the move a rebalance waits on"),
    )
    assert plan_rebalance_pokes([held], NOW) == (
        PokePlan("gold", "confirm the move a rebalance waits on"),
    )
    assert plan_rebalance_pokes([young], NOW) == ()
    assert rebalance_waits([unrecorded], {"gold"}, NOW) == (
        f"gold moved 2000 bps from the oracle's reference, confirmable at {NOW + 3_600}",
    )
    assert rebalance_waits([young], {"gold"}, NOW) == (
        f"gold moved 2000 bps from the oracle's reference, confirmable at {NOW - 600 + 3_600}",
    )
    assert rebalance_waits([held], {"gold"}, NOW) == ()  # this pass's poke confirms it
    assert rebalance_waits([unrecorded], {"tbill"}, NOW) == ()  # gold is left alone
    assert rebalance_waits([pending(new=2_050 * WAD)], {"gold"}, NOW) == ()  # within the band


def test_a_move_is_beyond_the_band_exactly_when_the_router_says_so():
    """The router rounds the deviation up (`_deviationBps`): 500.5 bps against a 500 bps band is
    an open band (the strike waits), so the settler must poke it; exactly 500 bps is not."""
    assert pending(new=2_100 * WAD + WAD // 10).deviating()  # 500.5 bps up
    assert pending(new=1_900 * WAD - WAD // 10).deviating()  # 500.5 bps down
    assert not pending(new=2_100 * WAD).deviating()  # exactly 500 bps: within
    assert not pending(new=1_900 * WAD).deviating()
    waiting = plan_confirmations(WAITING, [pending(new=2_100 * WAD + WAD // 10)], NOW)
    assert waiting == (PokePlan("gold", "record the move a strike waits on"),)


def test_the_dashboard_says_which_move_a_waiting_strike_waits_on_and_what_to_do():
    feeds = [
        pending(new=1_600 * WAD),  # not recorded
        dataclasses.replace(
            pending(new=2_500 * WAD, pending_price=2_400 * WAD, since=NOW - 600), name="tbill"
        ),
        dataclasses.replace(pending(new=2_050 * WAD), name="invoices"),  # within the band
    ]
    assert unconfirmed_moves(feeds, NOW) == (
        "gold moved 2000 bps from the reference, not recorded: poke it",
        f"tbill moved 2500 bps from the reference, confirmable at {NOW - 600 + 3_600}",
    )
    held = pending(new=1_600 * WAD, pending_price=1_650 * WAD, since=NOW - 3_600)
    assert unconfirmed_moves([held], NOW) == (
        "gold moved 2000 bps from the reference, confirmable now: poke it",
    )
    assert unconfirmed_moves([pending(new=1_600 * WAD, age=86_401)], NOW) == ()  # stale


# ---------------------------------------------------------------------------------- rebalancer

DAY = 86_400
T0 = 1_700_000_000
MODEL = RateModel(base_bps=100, slope1_bps=400, slope2_bps=6_000, kink_bps=8_000)
NAV = 10_000_000 * USDC


def index_history(rate: float, vol: float, seed: int, days: int = 60):
    rng = np.random.default_rng(seed)
    steps = rng.normal(rate / 365, vol / math.sqrt(365), days)
    level = np.exp(np.concatenate([[0.0], np.cumsum(steps)]))
    return tuple(T0 + i * DAY for i in range(days + 1)), tuple(int(WAD * x) for x in level)


def snapshot(held=(3_000, 2_000, 2_000), caps=(6_000, 3_000, 4_000), turnover=1_500, nav=NAV):
    book = LendingSnapshot(400_000 * USDC, 600_000 * USDC, MODEL,
                           ((300_000 * USDC, int(1.05 * WAD), 8_000),))  # fmt: skip
    spec = [
        ("tbill", 0.05, 0.002, None),
        ("gold", 0.08, 0.01, None),
        ("lending", 0.03, 0.0005, book),
    ]
    sleeves = tuple(
        SleeveSnapshot(name, h * nav // 10_000, c, *index_history(r, v, i), 0, lend)
        for i, ((name, r, v, lend), h, c) in enumerate(zip(spec, held, caps, strict=True))
    )
    return RebalancerSnapshot(T0 + 60 * DAY, nav, 6, sleeves, 500, turnover, GAS)


def test_the_sleeves_a_rebalance_moves_are_those_its_targets_change():
    """`moved_sleeves`: a target away from the contract's current weight (floor(held·1e4/nav)),
    the sleeves whose return index the vault then requires fresh."""
    snap = snapshot(held=(3_000, 2_000, 2_000))
    assert moved_sleeves(snap, (3_000, 2_000, 2_000)) == frozenset()
    assert moved_sleeves(snap, (3_000, 1_000, 2_500)) == {"gold", "lending"}


def test_rebalancer_produces_bounds_respecting_arguments():
    snap = snapshot()
    call = plan_rebalance(snap, uri_base="https://keeper.example/rationale")
    assert isinstance(call, RebalanceCall), call
    inputs = strategy_inputs(snap)
    assert inputs.current_bps == (3_000, 2_000, 2_000)
    bounds = Bounds(inputs.caps_bps, 500, 1_500)
    assert violations(call.target_bps, inputs.current_bps, bounds) == ()
    assert call.rationale_hash == keccak(call.rationale)
    assert verify(call.rationale, call.rationale_hash_hex)
    assert call.rationale_uri == f"https://keeper.example/rationale/{call.rationale_hash_hex}"
    assert call.args == (list(call.target_bps), call.rationale_hash, call.rationale_uri)
    assert plan_rebalance(snap, uri_base="https://keeper.example/rationale") == call


@settings(max_examples=15, deadline=None)
@given(
    st.tuples(*[st.integers(0, 3_300)] * 3),
    st.tuples(*[st.integers(0, 10_000)] * 3),
    st.integers(0, 3_000),
)
def test_rebalancer_targets_always_meet_the_bounds(held, caps, turnover):
    snap = snapshot(held, caps, turnover)
    out = plan_rebalance(snap)
    inputs = strategy_inputs(snap)
    if isinstance(out, RebalanceCall):
        bounds = Bounds(inputs.caps_bps, 500, turnover)
        assert violations(out.target_bps, inputs.current_bps, bounds) == ()
        assert out.rationale_hash == keccak(out.rationale)
    else:
        assert isinstance(out, RebalanceSkip) and out.reason


def test_rebalancer_skips_an_empty_vault_and_builds_uris():
    out = plan_rebalance(snapshot(held=(0, 0, 0), nav=0))
    assert isinstance(out, RebalanceSkip) and out.code == "empty"
    h = bytes(range(32))
    assert rationale_uri("ipfs://", h) == "ipfs://0x" + h.hex()
    assert rationale_uri("file:///var/ballast", h) == "file:///var/ballast/0x" + h.hex()


def test_a_repeat_is_futile_only_when_same_recent_and_nothing_moved():
    from keepers.jobs import FUTILE_BPS, RETRY_AFTER, futile_repeat

    last, t0 = (5000, 3000), 1_000_000
    assert futile_repeat(last, (5000 + FUTILE_BPS, 3000), t0, t0 + 60, moved_bps=FUTILE_BPS)
    assert not futile_repeat(last, (5000 + FUTILE_BPS + 1, 3000), t0, t0 + 60, moved_bps=0)
    assert not futile_repeat(last, last, t0, t0 + 60, moved_bps=FUTILE_BPS + 1)  # it did move
    assert not futile_repeat(last, last, t0, t0 + RETRY_AFTER, moved_bps=0)  # time to retry
    assert not futile_repeat(last, (5000, 3000, 0), t0, t0 + 60, moved_bps=0)  # sleeves changed


def test_a_pending_rebalance_is_cancelled_after_a_sleeve_change_or_a_newer_plan_only():
    """The keeper's own pending rebalance, planned on the vault read at block 100 for
    [3000, 0, 2000]: a SleeveAdded/SleeveRemoved log after block 100 cancels it whatever the
    targets (they name sleeves by index); a log at or before it is in the read already. A newer
    plan of the keeper supersedes it only with other targets."""
    from keepers.jobs import stale_rebalance

    planned, targets = 100, (3_000, 0, 2_000)
    assert stale_rebalance(planned, [], targets) is None
    assert stale_rebalance(planned, [90, 100], targets) is None  # before or at the read
    reason = stale_rebalance(planned, [100, 105, 101], targets)
    assert reason == (
        "the vault's sleeve set changed at block 101, after the plan's read at block 100"
    )
    assert stale_rebalance(planned, [101], targets, targets) == reason  # same targets: still
    assert stale_rebalance(planned, [], targets, [3_000, 0, 2_000]) is None  # same work
    newer = stale_rebalance(planned, [99], targets, (3_000, 500, 1_500))
    assert newer is not None and newer.startswith("superseded by a newer plan [3000, 500, 1500]")
    assert stale_rebalance(planned, [], None, (3_000, 0, 2_000)) is not None  # plan unknown
    assert "\n" not in reason + newer


def test_settler_backs_off_a_refused_claim_until_it_changes_or_its_wait_ends():
    """Found in a second read: a controller whose claim is refused every time (off the allowlist
    with only settled shares) was planned first on every pass and held a `max_claims` slot for
    good. A later read: backing off until its amounts changed stopped the service for good once
    the cause cleared (they seldom change after a strike), so the wait is timed: 1 hour after a
    first refusal, doubling to at most a day."""
    stuck = ControllerClaims(A, True, 5 * USDC, 0)
    others = [ControllerClaims(B, True, USDC, 0), ControllerClaims(C, True, 0, WAD)]
    one = SettlerSettings(max_claims=1)
    assert plan_claims([stuck, *others], 0, one).calls == (ClaimCall(A, 5 * USDC, 0),)
    first = next_refusal(None, ClaimCall(A, 5 * USDC, 0), now=1_000)
    assert first == RefusedClaim(5 * USDC, 0, 1_000 + 3_600, 1)
    plan = plan_claims([stuck, *others], 0, one, refused={A: first}, now=4_599)
    assert plan.calls == (ClaimCall(B, USDC, 0),)
    assert plan.skipped[0] == f"claims of {A}: refused, tried again at 4600"
    # its wait over, it is tried again; refused again, the wait doubles, up to a day
    assert plan_claims([stuck], 0, one, refused={A: first}, now=4_600).calls == (
        ClaimCall(A, 5 * USDC, 0),
    )
    second = next_refusal(first, ClaimCall(A, 5 * USDC, 0), now=4_600)
    assert (second.retry_at, second.attempts) == (4_600 + 7_200, 2)
    waits = [first]
    for _ in range(8):
        waits.append(next_refusal(waits[-1], ClaimCall(A, 5 * USDC, 0), now=0))
    assert waits[-1].retry_at == 86_400
    # what it may claim changed (a new strike settled more): tried at once, the wait starts over
    more = ControllerClaims(A, True, 7 * USDC, 0)
    assert plan_claims([more], 0, one, refused={A: second}, now=5_000).calls == (
        ClaimCall(A, 7 * USDC, 0),
    )
    assert next_refusal(second, ClaimCall(A, 7 * USDC, 0), now=5_000).attempts == 1


def test_a_loan_sound_at_the_band_edge_waits_on_its_fall_not_on_nothing():
    """Gold at 1,500, 25 % under its 2,000 reference: a liquidation counts it at the 1,800
    edge until the fall is confirmed. A loan unhealthy at 1,500 but sound at 1,800 is skipped
    as waiting on gold's fall (the token named in `falling`), not "nothing to seize"; one
    unhealthy at the edge too is planned."""
    from keepers.jobs.liquidator import WAITS_ON_A_FALL

    gold = "0x" + "a" * 40
    fell = dataclasses.replace(holding(gold, 10 * WAD, 1_500 * WAD),
                               high=band_clamp(1_500 * WAD, 2_000 * WAD, 1_000))  # fmt: skip
    sound_at_edge = borrower(1, 13_000 * USDC, fell)  # 0.8 x 15,000 = 12,000 < 13,000 < 14,400
    (skip,) = plan_liquidations([sound_at_edge], RULES, GAS, SETTINGS).skipped
    assert (skip.reason, skip.falling) == (WAITS_ON_A_FALL, (gold,))
    report = plan_liquidations([borrower(2, 15_000 * USDC, fell)], RULES, GAS, SETTINGS)
    assert len(report.plans) == 1 and report.skipped == ()  # 15,000 > 14,400: at the edge too


def test_the_liquidator_pokes_only_the_falls_its_unhealthy_positions_wait_on():
    """`plan_liquidation_pokes`: gold fell beyond the band (its liquidation price, the live
    1,500 floored at the band's edge around the 2,000 reference, is the 1,800 edge) under an
    unhealthy position: record the fall, and confirm it once `confirm_delay` has passed (only
    then does it count below 1,800); a rise (it counts at once: liquidation price = live) is
    never poked, nor a fall within the band, nor one under healthy positions only, nor one
    still pending."""
    gold, tbill = "0x" + "a" * 40, "0x" + "b" * 40
    tokens = {"gold": gold, "tbill": tbill}
    fell = dataclasses.replace(holding(gold, 10 * WAD, 1_500 * WAD),
                               high=band_clamp(1_500 * WAD, 2_000 * WAD, 1_000))  # fmt: skip
    assert fell.liquidation_price == 1_800 * WAD
    rose = dataclasses.replace(holding(tbill, 10_000 * WAD, 2 * WAD),
                               high=band_clamp(2 * WAD, WAD, 1_000))  # fmt: skip
    assert rose.liquidation_price == 2 * WAD
    sick = borrower(1, 30_000 * USDC, fell, rose)  # health 0.8 x 35,000 / 30,000 = 0.93
    well = borrower(2, 1_000 * USDC, fell)
    gold_fell = OracleState("gold", NOW, DAY, 2_000 * WAD, 1_500 * WAD, 1_000, 0, 0, 3_600)
    tbill_rose = OracleState("tbill", NOW, DAY, WAD, 2 * WAD, 1_000, 0, 0, 3_600)
    oracles = [gold_fell, tbill_rose]
    assert plan_liquidation_pokes([sick, well], oracles, tokens, NOW) == (
        PokePlan("gold", "record the move a liquidation waits on"),
    )
    assert plan_liquidation_pokes([well], oracles, tokens, NOW) == ()
    recorded = dataclasses.replace(gold_fell, pending_price=1_500 * WAD, pending_since=NOW - 60)
    assert plan_liquidation_pokes([sick], [recorded, tbill_rose], tokens, NOW) == ()
    held = dataclasses.replace(recorded, pending_since=NOW - 3_600)
    assert plan_liquidation_pokes([sick], [held, tbill_rose], tokens, NOW) == (
        PokePlan("gold", "confirm the move a liquidation waits on"),
    )
    # Healthy at the live prices (0.8 x 35,000 / 25,000 = 1.12; tbill's unconfirmed rise counts
    # at once): no liquidation can take it (DESIGN invariant 6), so gold's fall is not poked.
    masked = borrower(3, 25_000 * USDC, fell, rose)
    assert plan_liquidation_pokes([masked], oracles, tokens, NOW) == ()
    # A fall within the band (1,850: it counts already) is not poked.
    within = dataclasses.replace(fell, price=1_850 * WAD, high=1_850 * WAD)
    assert plan_liquidation_pokes([borrower(4, 30_000 * USDC, within, rose)], oracles, tokens,
                                  NOW) == ()  # fmt: skip


def test_a_strike_that_would_fill_nothing_is_not_sent():
    """`futile_strike`: the strike run as an `eth_call` left the pending redemptions and
    deposits as they were (an issuer that pays nothing while reporting it can): not sent, with
    a line that says so. A strike that fills some of the queue or settles a deposit, a
    simulation that failed, or a read that failed: sent."""
    from keepers.jobs import futile_strike

    why = futile_strike(10, (400, 7), (400, 7))
    assert why is not None and why.startswith(
        "run at block 10 (eth_call), a strike would fill none of the 400 shares queued"
    )
    assert futile_strike(10, (400, 7), (399, 7)) is None  # one share filled: progress
    assert futile_strike(10, (400, 7), (400, 0)) is None  # a deposit settled
    assert futile_strike(10, (400, 7), None) is None  # the simulated strike reverted
    assert futile_strike(10, (None, 7), (400, 7)) is None  # the snapshot's read failed
