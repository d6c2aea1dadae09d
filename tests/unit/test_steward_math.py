"""The steward's functional core (keepers.math.steward): its moves never breach a parameter's
bounds, the steward's step or cooldown, or a linked constraint (final state and every prefix of
the batch), and its recommendations tighten as volatility rises."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from keepers.math.steward import (
    BPS,
    DAY,
    BookRisk,
    CollateralRisk,
    ParamState,
    StewardSettings,
    annual_volatility,
    link_violations,
    plan,
    recommend,
    steward_reach,
)

NOW = 1_800_000_000


def _param(name, value, lo, hi, step=2_500, stew=70, last=NOW - 4 * DAY, cooldown=3 * DAY):
    return ParamState(name, value, lo, hi, step, DAY, value, last, stew, cooldown, last)


def _book_params(ltv=7_000, thr=7_500, bonus=800, stew_ltv=70, stew_thr=65, last=NOW - 4 * DAY):
    return {
        p.name: p
        for p in (
            _param("lend.ltvBps.gold", ltv, 0, 8_000, stew=stew_ltv, last=last),
            _param("lend.liqThresholdBps.gold", thr, 5_000, 8_500, 1_000, stew_thr, last),
            _param("lend.liqBonusBps.gold", bonus, 100, 1_500, 5_000, 600, last),
            _param("lend.borrowCap.gold", 2 * 10**12, 0, 10**14, 10_000, 5_000, last),
            _param("vault.maxSleeveBps.gold", 3_000, 0, 5_000, 5_000, 2_000, last),
            _param("lend.rate.slope1Bps", 400, 0, 2_000, 5_000, 2_500, last),
            _param("lend.rate.kinkBps", 8_000, 0, 10_000, 5_000, 0, last),
        )
    }


def _rounds(daily_vol: float, n: int = 30, seed: int = 1) -> tuple[tuple[int, int], ...]:
    """n daily rounds alternating ± daily_vol (a path of exactly that volatility)."""
    price, out = 2_000.0 * 10**8, []
    for i in range(n):
        out.append((NOW - (n - i) * DAY, int(price)))
        price *= math.exp(daily_vol if (i + seed) % 2 else -daily_vol)
    return tuple(out)


def _gold(daily_vol: float, exit_per_day: int = 10**12) -> CollateralRisk:
    return CollateralRisk("gold", _rounds(daily_vol), 4 * 10**12, 2 * 10**12, exit_per_day, "gold")


CALM = BookRisk(cash=10**12, debt=2 * 10**12, bad_debt=0, health=((2 * 10**12, 14_000),))


def test_volatility_of_a_known_path():
    vol = annual_volatility(_rounds(0.01, 101), floor=0.0)
    assert vol == __import__("pytest").approx(0.01 * math.sqrt(365), rel=1e-9)
    assert annual_volatility(((NOW, 100),), floor=0.07) == 0.07  # one round: the floor


def test_shock_tightens_gold_within_the_steward_step():
    calm = plan(_book_params(), [_gold(0.005)], CALM, StewardSettings(), NOW)
    shock = plan(_book_params(), [_gold(0.04)], CALM, StewardSettings(), NOW)
    batch = dict(shock.batch)
    assert batch["lend.ltvBps.gold"] == 7_000 - 7_000 * 70 // BPS  # one full steward step down
    assert batch["lend.liqThresholdBps.gold"] == 7_500 - 7_500 * 65 // BPS
    # the target lies far below: the rest goes to a proposal within governance's bounds
    proposal = dict(shock.proposal)
    assert proposal["lend.ltvBps.gold"] < batch["lend.ltvBps.gold"]
    assert dict(calm.batch).get("lend.ltvBps.gold", 7_000) >= batch["lend.ltvBps.gold"]
    # tightening lowers the LTV before the threshold
    names = [n for n, _ in shock.batch]
    assert names.index("lend.ltvBps.gold") < names.index("lend.liqThresholdBps.gold")


def test_cooldown_and_freeze_stop_the_steward():
    params = _book_params(last=NOW - DAY)  # updated a day ago, 3-day steward cooldown
    shock = plan(params, [_gold(0.04)], CALM, StewardSettings(), NOW)
    assert shock.batch == ()
    assert all("cooldown" in m.why or m.steward is None for m in shock.moves)
    p = _book_params()["lend.ltvBps.gold"]
    frozen = ParamState(**{**p.__dict__, "frozen_until": NOW + 1})
    assert steward_reach(frozen, 1, NOW) == (None, "frozen")


def test_gated_issuer_stops_new_borrowing():
    gated = CollateralRisk("gold", _rounds(0.01), 4 * 10**12, 2 * 10**12, 0, "gold")
    targets, _ = recommend(_book_params(), [gated], CALM, StewardSettings())
    assert targets["lend.borrowCap.gold"] == 2 * 10**12  # the debt it already backs


def test_a_collateral_without_price_history_is_left_alone():
    short = CollateralRisk("gold", _rounds(0.04, n=7), 4 * 10**12, 2 * 10**12, 10**12, "gold")
    targets, vols = recommend(_book_params(), [short], CALM, StewardSettings())
    assert vols == {} and not [n for n in targets if n.endswith(".gold")]


def test_bad_debt_tightens():
    stressed = BookRisk(cash=10**12, debt=2 * 10**12, bad_debt=1, health=CALM.health)
    a, _ = recommend(_book_params(), [_gold(0.03)], CALM, StewardSettings())
    b, _ = recommend(_book_params(), [_gold(0.03)], stressed, StewardSettings())
    assert b["lend.ltvBps.gold"] < a["lend.ltvBps.gold"]
    assert b["lend.liqThresholdBps.gold"] < a["lend.liqThresholdBps.gold"]


def test_utilization_above_the_kink_raises_slope1():
    hot = BookRisk(cash=10**11, debt=9 * 10**11, bad_debt=0, health=CALM.health)
    targets, _ = recommend(_book_params(), [_gold(0.01)], hot, StewardSettings())
    assert targets["lend.rate.slope1Bps"] > 400


def test_a_jump_allowance_tightens_a_calm_collateral_to_survive_the_gap():
    """With `jump_fall` 0.3, a position at the threshold survives a 30 % gap, bonus included:
    threshold × 1.08 ≤ 70 %, even when the volatility alone (calm gold) asks for nothing."""
    calm, _ = recommend(_book_params(), [_gold(0.005)], CALM, StewardSettings(loosen=False))
    jump, _ = recommend(_book_params(), [_gold(0.005)], CALM,
                        StewardSettings(loosen=False, jump_fall=0.3))  # fmt: skip
    assert calm["lend.liqThresholdBps.gold"] == 7_500  # governance's value: nothing to do
    assert jump["lend.liqThresholdBps.gold"] == int(BPS * 0.7 / 1.08)  # 6,481
    assert jump["lend.ltvBps.gold"] <= jump["lend.liqThresholdBps.gold"] - 300
    # the gap bounding the LTV only: the threshold under open positions stays
    only = StewardSettings(loosen=False, jump_fall=0.3, jump_threshold=False)
    ltv_only, _ = recommend(_book_params(), [_gold(0.005)], CALM, only)
    assert ltv_only["lend.liqThresholdBps.gold"] == 7_500
    assert ltv_only["lend.ltvBps.gold"] == int(BPS * 0.7 / 1.08)
    # a gap no larger than what the volatility already asks for changes nothing
    wild, _ = recommend(_book_params(), [_gold(0.04)], CALM, StewardSettings())
    wild_jump, _ = recommend(_book_params(), [_gold(0.04)], CALM, StewardSettings(jump_fall=0.05))
    assert wild_jump["lend.liqThresholdBps.gold"] == wild["lend.liqThresholdBps.gold"]


def test_a_cut_ltv_is_priced_higher_and_only_by_the_share_cut():
    """`risk_rate_gain`: slope1 at least governance's × (1 + gain × the live LTV's cut below
    governance's): 7,000 → 6,300 is a 10 % cut, gain 4 → slope1 400 × 1.4 = 560."""
    s = StewardSettings(loosen=False, kink_band_bps=BPS, risk_rate_gain=4.0)  # below the kink
    params = _book_params()
    assert "lend.rate.slope1Bps" not in recommend(params, [_gold(0.005)], CALM, s)[0]
    cut = dict(params)
    gov = params["lend.ltvBps.gold"]
    cut["lend.ltvBps.gold"] = ParamState(**{**gov.__dict__, "value": 6_300})
    targets, _ = recommend(cut, [_gold(0.005)], CALM, s)
    assert targets["lend.rate.slope1Bps"] == 560
    result = plan(cut, [_gold(0.005)], CALM, s, NOW)
    assert dict(result.batch)["lend.rate.slope1Bps"] == 500  # the steward's 25 % step from 400
    # without the gain, no premium
    plain, _ = recommend(
        cut, [_gold(0.005)], CALM, StewardSettings(loosen=False, kink_band_bps=BPS)
    )
    assert "lend.rate.slope1Bps" not in plain
    # no debt against the collateral: nothing to price
    empty = CollateralRisk("gold", _rounds(0.005), 4 * 10**12, 0, 10**12, "gold")
    assert "lend.rate.slope1Bps" not in recommend(cut, [empty], CALM, s)[0]


ANCHOR = {"rate_reference_ltv_bps": (("gold", 7_000),), "rate_reference_slope1_bps": 400}


def test_an_anchored_premium_is_a_function_of_the_ltv_and_rides_on_the_drafted_cut():
    """`rate_reference_*` (the LTV and slope1 the DAO priced together: 7,000 and 400): a
    proposal cutting governance's LTV (a 30 % gap: 7,000 → ~6,200, beyond the steward's step)
    carries slope1 = 400 × (1 + gain × the cut below 7,000), within governance's step (50 % of
    400); adopted, the steward keeps it; a second adopted cut is priced from the anchor again,
    not on top of the first (no compounding). Without the anchor the proposal leaves slope1
    alone and, after the adoption, no premium is left."""
    gold = [_gold(0.005)]
    base = {"loosen": False, "kink_band_bps": BPS, "jump_fall": 0.3, "risk_rate_gain": 2.0}
    anchored = StewardSettings(**base, **ANCHOR)
    proposal = dict(plan(_book_params(), gold, CALM, anchored, NOW).proposal)
    old = dict(plan(_book_params(), gold, CALM, StewardSettings(**base), NOW).proposal)
    ltv = proposal["lend.ltvBps.gold"]
    assert ltv == old["lend.ltvBps.gold"] and ltv < 7_000 - 70 * 7_000 // BPS
    assert "lend.rate.slope1Bps" not in old
    priced = int(400 * (1 + 2.0 * (7_000 - ltv) / 7_000))
    assert proposal["lend.rate.slope1Bps"] == priced
    assert not link_violations({**{n: p.value for n, p in _book_params().items()}, **proposal})
    # a larger gain stops at governance's step: 400 + 50 %
    steep = StewardSettings(**{**base, "risk_rate_gain": 16.0}, **ANCHOR)
    assert dict(plan(_book_params(), gold, CALM, steep, NOW).proposal)["lend.rate.slope1Bps"] == 600

    def adopted(values, params=None):  # the DAO executes the proposal as drafted
        params = dict(params or _book_params())
        for name, value in values.items():
            params[name] = ParamState(**{**params[name].__dict__, "value": value,
                                         "governance_value": value})  # fmt: skip
        return params

    after = adopted(proposal)
    kept = recommend(after, gold, CALM, anchored)[0]
    assert kept.get("lend.rate.slope1Bps", priced) == priced  # nothing added, nothing taken
    # a further cut, adopted: priced from the anchor (7,000 / 400), not from the first cut
    deeper = adopted({"lend.ltvBps.gold": ltv - 500}, after)
    again = recommend(deeper, gold, CALM, anchored)[0]["lend.rate.slope1Bps"]
    assert again == int(400 * (1 + 2.0 * (7_000 - (ltv - 500)) / 7_000))
    unanchored = recommend(adopted(old), gold, CALM, StewardSettings(**base))[0]
    assert "lend.rate.slope1Bps" not in unanchored


def test_link_violation_sentences():
    assert link_violations({"lend.ltvBps.x": 8_000, "lend.liqThresholdBps.x": 8_000}) == [
        "lend.ltvBps.x 8000 is not below lend.liqThresholdBps.x 8000"
    ]
    bad = link_violations({"lend.liqThresholdBps.x": 9_500, "lend.liqBonusBps.x": 1_000})
    assert bad and "above 100%" in bad[0]


# ------------------------------------------------------------------ properties

bps = st.integers(min_value=0, max_value=BPS)


@st.composite
def worlds(draw):
    bonus = draw(st.integers(100, 1_500))
    thr_max = draw(st.integers(5_000, 9_500))
    thr = draw(st.integers(5_000, min(thr_max, BPS * BPS // (BPS + bonus))))
    ltv = draw(st.integers(0, thr - 1))
    ltv_max = draw(st.integers(ltv, 9_500))
    last = NOW - draw(st.integers(0, 10 * DAY))
    stew_ltv, stew_thr = draw(st.integers(0, 500)), draw(st.integers(0, 500))
    params = _book_params(ltv, thr, bonus, stew_ltv, stew_thr, last)
    params["lend.liqThresholdBps.gold"] = _param(
        "lend.liqThresholdBps.gold",
        thr,
        5_000,
        thr_max,
        1_000,
        stew_thr,
        last,
    )
    params["lend.ltvBps.gold"] = _param("lend.ltvBps.gold", ltv, 0, ltv_max, 2_500, stew_ltv, last)
    vol = draw(st.floats(0.0, 0.2))
    exit_per_day = draw(st.integers(0, 10**13))
    debt = draw(st.integers(0, 10**13))
    health = draw(st.integers(5_000, 30_000))
    cash, bad = draw(st.integers(0, 10**13)), draw(st.integers(0, 10**9))
    book = BookRisk(cash, debt, bad, ((debt, health),))
    return params, _gold(vol, exit_per_day), book


@settings(max_examples=300, deadline=None)
@given(worlds(), st.floats(0.0, 0.6), st.floats(0.0, 10.0))
def test_moves_never_breach_bounds_steps_cooldowns_or_links(world, jump, gain):
    params, gold, book = world
    s = StewardSettings(jump_fall=jump, risk_rate_gain=gain)
    result = plan(params, [gold], book, s, NOW)
    live = {n: p.value for n, p in params.items()}
    state = dict(live)
    for name, value in result.batch:
        p = params[name]
        assert p.min <= value <= p.max
        ref = p.value or p.max
        assert abs(value - p.value) * BPS <= ref * p.steward_step_bps
        assert p.last_update + p.steward_cooldown <= NOW and p.steward_step_bps > 0
        state[name] = value
        assert link_violations(state) == [], (name, value)  # every prefix of the batch
    final = {**state, **dict(result.proposal)}
    assert link_violations(final) == []
    for name, value in result.proposal:
        p = params[name]
        assert p.min <= value <= p.max
        ref = p.governance_value or p.max
        assert abs(value - p.governance_value) * BPS <= ref * p.max_step_bps


@settings(max_examples=200, deadline=None)
@given(worlds(), st.floats(0.0, 0.08), st.floats(0.0, 0.08))
def test_higher_volatility_never_loosens(world, v1, v2):
    params, _, book = world
    lo, hi = sorted((v1, v2))
    a, _ = recommend(params, [_gold(lo)], book, StewardSettings())
    b, _ = recommend(params, [_gold(hi)], book, StewardSettings())
    for name in ("lend.ltvBps.gold", "lend.liqThresholdBps.gold", "vault.maxSleeveBps.gold"):
        if name in a and name in b:
            assert b[name] <= a[name], name


@settings(max_examples=100, deadline=None)
@given(worlds(), st.floats(0.0, 0.08), st.floats(0.0, 0.6))
def test_a_tighten_only_steward_never_loosens_past_governance(world, vol, jump):
    params, _, book = world
    s = StewardSettings(loosen=False, jump_fall=jump)
    targets, _ = recommend(params, [_gold(vol)], book, s)
    for name, value in targets.items():
        if not name.startswith("lend.rate."):
            assert value <= params[name].governance_value, name


def test_a_declared_sum_link_keeps_the_sleeve_caps_feasible():
    params = _book_params()
    params["vault.idleBufferBps"] = _param("vault.idleBufferBps", 500, 100, 5_000, 5_000, 2_000)
    sum_link = (3, ("vault.idleBufferBps", "vault.maxSleeveBps.gold"), 3_500)  # 500 + 3000
    free = plan(params, [_gold(0.04)], CALM, StewardSettings(), NOW)
    assert dict(free.batch)["vault.maxSleeveBps.gold"] < 3_000  # volatile gold: a tighter cap
    linked = plan(params, [_gold(0.04)], CALM, StewardSettings(), NOW, links=(sum_link,))
    assert "vault.maxSleeveBps.gold" not in dict(linked.batch)
    assert any("maxSleeveBps.gold: steward move left out" in n for n in linked.notes)
    assert link_violations(
        {"vault.idleBufferBps": 400, "vault.maxSleeveBps.gold": 3_000}, (sum_link,)
    ) == ["vault.idleBufferBps + vault.maxSleeveBps.gold = 3400 is below 3500"]
    ratio = (4, ("agent.evalWindow", "vault.rebalanceCooldown"), 120)
    assert (
        link_violations({"agent.evalWindow": 432_000, "vault.rebalanceCooldown": 3_600}, (ratio,))
        == []
    )
    assert link_violations(
        {"agent.evalWindow": 432_001, "vault.rebalanceCooldown": 3_600}, (ratio,)
    ) == ["agent.evalWindow 432001 is above 120 × vault.rebalanceCooldown 3600"]
