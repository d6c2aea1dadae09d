"""Outside review of the risk steward's math (branch `steward2`): properties over the edges the
existing ones (tests/unit/test_steward_math.py) do not draw — governance's last value apart from
the live one, freezes, an empty or debt-free book, a collateral without usable rounds (none,
zero or negative answers, one timestamp), and amounts up to what the chain can hold (uint256
parameters, int256 answers, an issuer without a daily limit) — under any settings the keeper's
configuration accepts (`keepers.config.StewardConfig`).

Checked and found sound: on all of them `plan` returns (no division by zero, no overflow), its
batch is what `ParameterRegistry._violation` accepts from the state it read (bounds, the
steward's step from the live value, its cooldown, no freeze, its step enabled), its proposal
is what a governance `set` accepts (bounds, governance's step from its last value brought into
the bounds), the linked constraints hold after every prefix, and the responses are monotonic:
more volatility, bad debt or a stressed book never loosens an LTV or a threshold, and a higher
utilization never lowers slope1's target."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from keepers.config import StewardConfig
from keepers.math.steward import (
    BPS,
    DAY,
    BookRisk,
    CollateralRisk,
    ParamState,
    StewardSettings,
    link_violations,
    plan,
    recommend,
)
from tests.unit.test_steward_math import NOW, _rounds

UINT_MAX = 2**256 - 2  # the registry keeps values below type(uint256).max
INT_MAX = 2**255 - 1  # a feed's answer is an int256
UNLIMITED_EXIT = 10**30  # keepers.shell.steward: an issuer without a daily limit


@st.composite
def params_of(draw, name: str, lo: int, hi: int, value_hi: int | None = None) -> ParamState:
    """A parameter as `getParam` may return it: value and governance's last value anywhere in
    (or, for governance's, around) its bounds, any cooldowns, maybe frozen."""
    top = draw(st.integers(lo, value_hi if value_hi is not None else hi))
    bottom = draw(st.integers(lo, top))
    value = draw(st.integers(bottom, top))
    governance = draw(st.integers(0, top * 2 if top < UINT_MAX // 2 else top))
    stew_step = draw(st.integers(0, 10_000))
    step = draw(st.sampled_from([0, stew_step, min(10_000, stew_step * 2)]))
    cooldown = draw(st.integers(0, 5 * DAY))
    stew_cooldown = cooldown + draw(st.integers(1, 5 * DAY))
    last = NOW - draw(st.integers(0, 10 * DAY))
    last_gov = last - draw(st.integers(0, 10 * DAY))
    frozen = draw(st.sampled_from([0, NOW - 1, NOW, NOW + DAY]))
    return ParamState(name, value, bottom, top, step, cooldown, governance, last_gov, stew_step,
                      stew_cooldown, last, frozen)  # fmt: skip


@st.composite
def edge_worlds(draw):
    bonus = draw(params_of("lend.liqBonusBps.gold", 0, 5_000))
    cap_thr = BPS * BPS // (BPS + bonus.value)
    thr = draw(params_of("lend.liqThresholdBps.gold", 1, BPS, value_hi=cap_thr))
    # a linked pair on chain: LTV < threshold and threshold x (1 + bonus) <= 100 %
    ltv = draw(params_of("lend.ltvBps.gold", 0, BPS))
    ltv = ParamState(**{**ltv.__dict__, "value": min(ltv.value, thr.value - 1, ltv.max),
                        "min": min(ltv.min, thr.value - 1)})  # fmt: skip
    if ltv.value < ltv.min:
        ltv = ParamState(**{**ltv.__dict__, "min": ltv.value})
    params = {
        p.name: p
        for p in (
            ltv,
            thr,
            bonus,
            draw(params_of("lend.borrowCap.gold", 0, UINT_MAX)),
            draw(params_of("vault.maxSleeveBps.gold", 0, BPS)),
            draw(params_of("lend.rate.slope1Bps", 0, UINT_MAX)),
            draw(params_of("lend.rate.kinkBps", 0, BPS)),
        )
    }
    rounds = draw(
        st.one_of(
            st.just(()),
            st.lists(
                st.tuples(st.integers(NOW - 60 * DAY, NOW), st.integers(-10, INT_MAX)), max_size=60
            ).map(lambda r: tuple(sorted(r))),  # fmt: skip
            st.floats(0.0, 0.5).map(lambda v: _rounds(v, 48)),
        )
    )
    gold = CollateralRisk(
        "gold",
        rounds,
        draw(st.integers(0, UINT_MAX)),
        draw(st.integers(0, UINT_MAX)),
        draw(st.sampled_from([0, 1, 10**12, UNLIMITED_EXIT, UINT_MAX])),
        "gold",
    )
    debt = draw(st.integers(0, UINT_MAX))
    health = draw(st.lists(st.tuples(st.integers(0, debt), st.integers(0, 10**9)), max_size=4))
    book = BookRisk(draw(st.integers(0, UINT_MAX)), debt, draw(st.integers(0, UINT_MAX)),
                    tuple(health))  # fmt: skip
    return params, gold, book


@st.composite
def config_settings(draw) -> StewardSettings:
    """Settings the keeper's configuration accepts (its bounds: z > 0, vol_floor > 0, ...)."""
    cfg = StewardConfig(
        z=draw(st.floats(0.01, 50.0)),
        liquidation_days=draw(st.floats(0.0, 60.0)),
        borrow_buffer_days=draw(st.floats(0.0, 60.0)),
        min_gap_bps=draw(st.integers(1, 5_000)),
        vol_floor=draw(st.floats(1e-9, 2.0)),
        stress_tighten_bps=draw(st.integers(0, 5_000)),
        cap_exit_days=draw(st.floats(0.01, 100.0)),
        kink_band_bps=draw(st.integers(0, 10_000)),
        rate_gain=draw(st.floats(0.0, 20.0)),
        sleeve_vol_budget=draw(st.floats(1e-6, 1.0)),
        min_move_bps=draw(st.integers(0, 100)),
        loosen=draw(st.booleans()),
        jump_fall=draw(st.floats(0.0, 0.9)),
        jump_threshold=draw(st.booleans()),
        risk_rate_gain=draw(st.floats(0.0, 20.0)),
        gate_holds_threshold=draw(st.booleans()),
    )
    return cfg.model()


def _within(ref_value: int, value: int, hi: int, step_bps: int) -> bool:
    """`ParameterRegistry._withinStep`."""
    ref = ref_value if ref_value else hi
    return abs(value - ref_value) <= ref * step_bps // BPS


@settings(max_examples=200, deadline=None)
@given(edge_worlds(), config_settings())
def test_on_edge_inputs_the_steward_plans_only_what_the_registry_accepts(world, s):
    params, gold, book = world
    result = plan(params, [gold], book, s, NOW)
    state = {n: p.value for n, p in params.items()}
    for name, value in result.batch:  # `_violation(p, value, steward=True)` is 0
        p = params[name]
        assert p.frozen_until <= NOW and p.steward_step_bps > 0, name
        assert p.min <= value <= p.max, name
        assert _within(p.value, value, p.max, p.steward_step_bps), name
        assert p.last_update + p.steward_cooldown <= NOW, name
        state[name] = value
        assert link_violations(state) == [], (name, value)
    for name, value in result.proposal:  # `_violation(p, value, steward=False)`, but cooldown
        p = params[name]
        assert p.min <= value <= p.max, name
        origin = min(max(p.governance_value, p.min), p.max)  # `_stepFrom`
        assert p.max_step_bps == 0 or _within(origin, value, p.max, p.max_step_bps), name
        state[name] = value
    assert link_violations(state) == []


def _targets(params, gold, book, s):
    targets, _ = recommend(params, [gold], book, s)
    return targets


@settings(max_examples=150, deadline=None)
@given(edge_worlds(), config_settings(), st.integers(1, UINT_MAX), st.integers(0, 10**9))
def test_bad_debt_or_a_stressed_book_never_loosens(world, s, bad, weak_health):
    params, gold, book = world
    calm = BookRisk(book.cash, book.debt, 0, ())
    stressed = BookRisk(book.cash, book.debt, bad, ((book.debt, min(weak_health, 10_999)),))
    a, b = _targets(params, gold, calm, s), _targets(params, gold, stressed, s)
    for name in ("lend.ltvBps.gold", "lend.liqThresholdBps.gold"):
        if name in a and name in b:
            assert b[name] <= a[name], name


@settings(max_examples=150, deadline=None)
@given(edge_worlds(), config_settings(), st.integers(0, UINT_MAX), st.integers(0, UINT_MAX))
def test_a_higher_utilization_never_lowers_slope1(world, s, d1, d2):
    params, gold, book = world
    slope = params["lend.rate.slope1Bps"]
    lo, hi = sorted((d1, d2))
    total = max(book.cash + book.debt, hi)
    # the same book size, more of it lent out
    less = BookRisk(total - lo, lo, book.bad_debt, book.health)
    more = BookRisk(total - hi, hi, book.bad_debt, book.health)
    a = _targets(params, gold, less, s).get("lend.rate.slope1Bps", slope.value)
    b = _targets(params, gold, more, s).get("lend.rate.slope1Bps", slope.value)
    assert b >= a
