"""Exit liquidity in the steward's model (keepers.math.steward_liquidity): the days the issuer's
exit takes to absorb the book's collateral, and the gate response — while the issuer redeems
nothing the steward stops new borrowing and cuts the LTV but holds the liquidation threshold
(lowering it then only queues early liquidations for the gate's end). The collateral counted is
what liquidations could seize: per position at most its debt × (1 + bonus), so collateral parked
behind a minimum loan moves nothing."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.lending_steward.paths import make_path
from benchmarks.lending_steward.sim import simulate
from keepers.config import StewardConfig
from keepers.math.steward import CollateralRisk, StewardSettings, link_violations, plan, recommend
from keepers.math.steward_liquidity import (
    MAX_LIQUIDITY_DAYS,
    exit_days,
    gate_targets,
    is_gated,
    seizable_exposure,
    seizable_value,
)
from tests.unit.test_steward_math import CALM, NOW, _book_params, _rounds, worlds

LTV, THR, CAP = "lend.ltvBps.gold", "lend.liqThresholdBps.gold", "lend.borrowCap.gold"


def _gated(daily_vol: float = 0.01) -> CollateralRisk:
    return CollateralRisk("gold", _rounds(daily_vol), 4 * 10**12, 2 * 10**12, 0, "gold")


def test_exit_days_of_a_book():
    assert exit_days(3_000, 1_000) == 3.0
    assert exit_days(0, 0) == 0.0  # nothing to sell
    assert exit_days(1, 0) == MAX_LIQUIDITY_DAYS  # gated
    assert exit_days(10**9, 1) == MAX_LIQUIDITY_DAYS  # capped
    assert is_gated(1, 0) and not is_gated(0, 0) and not is_gated(1, 1)


@given(st.integers(0, 10**15), st.integers(0, 10**15), st.integers(1, 10**12))
def test_exit_days_grow_with_the_book_and_shrink_with_the_exit(value, exit_, more):
    days = exit_days(value, exit_)
    assert 0.0 <= days <= MAX_LIQUIDITY_DAYS
    assert exit_days(value + more, exit_) >= days
    assert exit_days(value, exit_ + more) <= days


def test_a_gate_holds_the_threshold_and_cuts_ltv_and_cap():
    hold = StewardSettings(gate_holds_threshold=True)
    calm, _ = recommend(_book_params(), [_gated()], CALM, hold)
    assert calm[THR] == 7_500 and calm[LTV] == 7_000  # calm prices: a gate never loosens
    held, _ = recommend(_book_params(), [_gated(0.03)], CALM, hold)
    assert held[THR] == 7_500  # the live threshold
    assert held[LTV] < 7_000 and held[LTV] <= 7_500 - hold.min_gap_bps
    assert held[CAP] == 2 * 10**12  # the debt it already backs: no new borrowing
    lowered, _ = recommend(
        _book_params(), [_gated(0.03)], CALM, StewardSettings(gate_holds_threshold=False)
    )  # the pure model's default: a receipt written before the gate response replays as it was
    assert lowered[THR] < 7_500  # the 30-day exit horizon would walk it down
    batch = dict(plan(_book_params(), [_gated(0.04)], CALM, hold, NOW).batch)
    assert THR not in batch and batch[LTV] == 7_000 - 49  # one LTV step at once


def test_gate_targets_keep_the_gap():
    assert gate_targets(7_500, 7_300, 7_400, 300) == (7_500, 7_200)
    assert gate_targets(7_500, 7_000, 7_100, 300) == (7_500, 7_000)  # never loosened
    assert gate_targets(7_500, 7_000, 6_000, 300) == (7_500, 6_000)


@settings(max_examples=200, deadline=None)
@given(worlds(), st.floats(0.0, 0.6), st.floats(0.0, 10.0), st.booleans())
def test_a_gated_collateral_never_has_its_threshold_moved(world, jump, gain, loosen):
    params, gold, book = world
    gated = replace(gold, daily_exit=0, collateral_value=max(gold.collateral_value, 1))
    s = StewardSettings(
        jump_fall=jump, risk_rate_gain=gain, loosen=loosen, gate_holds_threshold=True
    )
    result = plan(params, [gated], book, s, NOW)
    assert THR not in dict(result.batch)
    state = {**{n: p.value for n, p in params.items()}, **dict(result.batch)}
    assert link_violations(state) == []
    if LTV in dict(result.batch):
        assert dict(result.batch)[LTV] <= params[LTV].value


def test_holding_the_threshold_through_a_gate_liquidates_no_one_early():
    """The keeper's default steward on a gated path: holding the threshold leaves the same bad
    debt and no early liquidation; lowering it during the gate liquidates borrowers the DAO's
    threshold calls healthy once the issuer reopens."""
    path = make_path("issuer-gate", 31)
    keeper = StewardConfig().model()  # the keeper's default steward
    assert keeper.gate_holds_threshold and not keeper.loosen
    held = simulate(path, keeper)
    lowered = simulate(path, replace(keeper, gate_holds_threshold=False))
    assert held.bound_breaches == held.link_breaches == 0
    assert held.early_liquidated == 0 < lowered.early_liquidated
    assert held.bad_debt <= lowered.bad_debt


# ------------------------------------------------------------------ what a liquidation can seize

USD = 10**6
BONUS = 800  # local.yaml's gold bonus


def test_a_position_counts_at_most_its_debt_and_bonus():
    assert seizable_value(2_000_000 * USD, 100 * USD, BONUS) == 108 * USD  # parked behind 100
    assert seizable_value(50 * USD, 100 * USD, BONUS) == 50 * USD  # all it holds
    assert seizable_value(10**9, 0, BONUS) == 0  # no debt: nothing is ever seized
    assert seizable_value(0, 100, BONUS) == 0
    assert seizable_value(10**9, 1, 1) == 2  # rounded up: never under-counted
    book = [
        (100 * USD, [("gold", 2_000_000 * USD, BONUS)]),
        (1_000 * USD, [("gold", 600 * USD, BONUS), ("tbill", 900 * USD, 200)]),
        (0, [("tbill", 5_000 * USD, 200)]),
    ]
    assert seizable_exposure(book) == {"gold": 708 * USD, "tbill": 900 * USD}


_holdings = st.lists(
    st.tuples(st.sampled_from(["gold", "tbill"]), st.integers(0, 10**15), st.integers(0, 2_000)),
    max_size=3,
)
_positions = st.lists(st.tuples(st.integers(0, 10**13), _holdings), max_size=6)


@settings(max_examples=300, deadline=None)
@given(_positions, st.integers(0, 10**13), st.integers(0, 2_000), st.integers(0, 10**15),
       st.integers(0, 10**18))  # fmt: skip
def test_added_collateral_never_counts_beyond_what_its_debt_allows(book, debt, bonus, held, more):
    base = seizable_exposure(book)
    with_position = seizable_exposure([*book, (debt, [("gold", held, bonus)])])
    topped_up = seizable_exposure([*book, (debt, [("gold", held + more, bonus)])])
    cap = -(-debt * (10_000 + bonus) // 10_000)
    # adding collateral never lowers what is counted, nor raises it beyond debt × (1 + bonus)
    assert with_position.get("gold", 0) <= topped_up.get("gold", 0)
    assert topped_up.get("gold", 0) - base.get("gold", 0) <= cap
    assert topped_up.get("tbill", 0) == base.get("tbill", 0)
    if held >= cap:  # parked: the collateral above the debt's reach changes nothing
        assert topped_up == with_position
    if debt == 0:  # no debt: nothing of it is ever sold
        assert topped_up == base


def test_parked_collateral_does_not_move_the_threshold_target():
    """The PoC in the pure core: 2,000,000 of gold behind a 100 loan moves gold's targets no more
    than the same loan with ordinary collateral (150); counted whole, as the steward did before,
    it cut the threshold."""
    params, s = _book_params(), StewardSettings()
    book = [(1_000_000 * USD, [("gold", 2_000_000 * USD, BONUS)])]  # 1,080,000 seizable
    ordinary = [*book, (100 * USD, [("gold", 150 * USD, BONUS)])]
    parked = [*book, (100 * USD, [("gold", 2_000_000 * USD, BONUS)])]

    def targets(value: int) -> dict[str, int]:
        gold = CollateralRisk("gold", _rounds(0.02), value, 10**12, 100_000 * USD, "gold")
        return recommend(params, [gold], CALM, s)[0]

    counted = seizable_exposure(parked)["gold"]
    assert seizable_exposure(parked) == seizable_exposure(ordinary) == {"gold": 1_080_108 * USD}
    before = targets(seizable_exposure(book)["gold"])
    assert targets(counted)[THR] == before[THR] and targets(counted)[LTV] == before[LTV]
    whole = 4_000_000 * USD  # every token of gold the book holds: a 30-day exit, not 10.8
    assert targets(whole)[THR] < before[THR] - 100
