"""keepers.math (lending) without a chain: known values and what ILendingSleeve promises."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from keepers.math import (
    BPS,
    BPS_TO_WAD,
    MAX_RATE,
    MAX_UINT256,
    WAD,
    YEAR,
    Book,
    Holding,
    Liquidation,
    LiquidationCall,
    LiquidationRules,
    Loan,
    NoLiquidation,
    Position,
    RateModel,
    Refusal,
    band_clamp,
    borrow,
    borrow_power,
    collateral_value,
    debt_of,
    effective_bonus_bps,
    health_factor,
    is_dust,
    liquidation_gain,
    liquidation_prices,
    liquidation_trigger,
    loans_due,
    max_repay,
    plan_liquidation,
    position_after,
    recall,
    repay,
    scaled_borrowed,
    settle_liquidation,
    supply,
    swept,
    utilization,
    write_off,
)

USDC = 10**6
DAY = 86_400
T0 = 1_700_000_000
MODEL = RateModel(base_bps=100, slope1_bps=400, slope2_bps=6_000, kink_bps=8_000)
RULES = LiquidationRules(close_factor_bps=5_000, full_close_health_bps=9_500, min_debt=100 * USDC)
TOKENS = ("0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20)

# ---------------------------------------------------------------------------------- strategies

bps = st.integers(0, BPS)
rate_models = st.builds(
    RateModel, base_bps=bps, slope1_bps=bps, slope2_bps=st.integers(0, 100_000), kink_bps=bps
)
amounts = st.integers(0, 10**15 * USDC)
indices = st.integers(WAD, 5 * WAD)
rates = st.integers(0, 12 * WAD)  # the model's maximum: 100% + 100% + 1000% a year


@st.composite
def books(draw, min_scaled: int = 0) -> Book:
    index = draw(indices)
    total_scaled = draw(st.integers(min_scaled, 10**15 * USDC))
    return Book(
        cash=draw(amounts),
        total_scaled=total_scaled,
        borrow_index=index,
        rate=draw(rates),
        last_accrual=T0,
        supply_index=draw(st.integers(WAD // 2, 3 * WAD)),
    )


@st.composite
def holdings(draw, token: str) -> Holding:
    decimals = draw(st.sampled_from([0, 6, 8, 18]))
    # A whole token is worth between 1e-6 and 1e7 units of the asset.
    price = draw(st.integers(WAD // 10**6, 10**7 * WAD))
    threshold = draw(st.integers(1, BPS))
    return Holding(
        token=token,
        amount=draw(st.integers(0, 10**9 * 10**decimals)),
        decimals=decimals,
        price=price,
        ltv_bps=draw(st.integers(0, BPS)),
        threshold_bps=threshold,
        bonus_bps=draw(st.integers(0, 5_000)),
    )


@st.composite
def positions(draw, debt=None) -> Position:
    n = draw(st.integers(1, 3))
    held = tuple(draw(holdings(t)) for t in TOKENS[:n])
    return Position(
        debt=draw(debt if debt is not None else st.integers(0, 10**12 * USDC)),
        holdings=held,
        asset_decimals=6,
    )


liquidation_rules = st.builds(
    LiquidationRules,
    close_factor_bps=st.integers(1, BPS),
    full_close_health_bps=bps,
    min_debt=st.integers(0, 10_000 * USDC),
)


@st.composite
def loans_on_book(draw, max_health_bps: int = 12_000):
    """A book at T0 with a borrower in it, and the borrower's position (its debt accrued), at
    a health between 1e-4 and `max_health_bps` / 1e4 (most of them unhealthy)."""
    index = draw(indices)
    position = draw(positions(debt=st.just(0)))
    adjusted = sum(h.value(6) * h.threshold_bps for h in position.held)
    target = adjusted // draw(st.integers(1, max_health_bps))
    scaled = max(target * WAD // index, 1)
    book = Book(
        cash=draw(amounts),
        total_scaled=scaled + draw(st.integers(0, 10**12 * USDC)),
        borrow_index=index,
        rate=0,
        last_accrual=T0,
        supply_index=draw(st.integers(WAD // 2, 3 * WAD)),
    )
    loan = Loan(scaled)
    return book, loan, position.with_debt(loan.debt(book))


def pick(position: Position, which: int) -> Holding:
    """One of the held tokens (assumes one is held)."""
    held = position.held
    assume(held)
    return held[which % len(held)]


def collateralised(position: Position, health_bps: int) -> Position:
    """`position` with its debt set so that its health is about `health_bps`."""
    adjusted = sum(h.value(6) * h.threshold_bps for h in position.held)
    return position.with_debt(max(adjusted // health_bps, 1))


# ---------------------------------------------------------------------------------- rates


def test_rate_at_known_points():
    assert MODEL.borrow_rate(1_000, 0) == 100 * BPS_TO_WAD  # nothing lent: base
    assert utilization(200, 800) == 8 * WAD // 10
    assert MODEL.borrow_rate(200, 800) == 500 * BPS_TO_WAD  # at the kink: base + slope1
    assert MODEL.borrow_rate(0, 800) == (100 + 400 + 6_000) * BPS_TO_WAD  # fully lent
    assert MODEL.borrow_rate(100, 900) == (500 + 3_000) * BPS_TO_WAD  # half way up slope2
    # u = 1/3 rounds down: 0.333..e18; slope1 * u / kink rounds down too.
    assert MODEL.borrow_rate(2, 1) == 100 * BPS_TO_WAD + (400 * BPS_TO_WAD * (WAD // 3)) // (
        8 * WAD // 10
    )
    # The stored rate is capped at its uint64 slot: 10_000 + 10_000 + 200_000 bps is 22e18.
    steep = RateModel(10_000, 10_000, 200_000, 5_000)
    full = Book(0, 10**6, WAD, 0, T0, WAD)
    assert steep.borrow_rate(0, 10**6) == 22 * WAD
    assert full.committed(steep).rate == MAX_RATE == 2**64 - 1
    assert RateModel(300, 500, 700, 0).borrow_rate(10, 0) == 300 * BPS_TO_WAD
    assert RateModel(300, 500, 700, 0).borrow_rate(10, 10) == (300 + 500 + 350) * BPS_TO_WAD


@given(rate_models, amounts, amounts, amounts)
def test_rate_rises_with_utilization(model, cash, debt, more):
    """Lending more of the same cash never lowers the rate; base <= rate <= base+slope1+slope2."""
    assume(cash >= more)
    low = model.borrow_rate(cash, debt)
    high = model.borrow_rate(cash - more, debt + more)
    assert low <= high
    top = (model.base_bps + model.slope1_bps + model.slope2_bps) * BPS_TO_WAD
    assert model.base_bps * BPS_TO_WAD <= low <= top
    assert 0 <= utilization(cash, debt) <= WAD


# ---------------------------------------------------------------------------------- accrual


def test_a_year_at_ten_percent():
    book = Book(cash=0, total_scaled=1_000 * USDC, borrow_index=WAD, rate=WAD // 10,
                last_accrual=T0, supply_index=WAD)  # fmt: skip
    later = book.accrued(T0 + YEAR)
    assert later.borrow_index == WAD + WAD // 10
    assert later.total_debt == 1_100 * USDC
    assert later.supply_index == WAD + WAD // 10  # all supply lent: lenders earn the rate
    assert later.last_accrual == T0 + YEAR
    # One second: ceil(1e18 * 0.1e18 * 1 / (1e18 * 31_536_000)) = 3_170_979_199 (rounded up).
    assert book.accrued(T0 + 1).borrow_index == WAD + 3_170_979_199
    # Nothing to accrue still moves the clock.
    assert replace(book, rate=0).accrued(T0 + 5) == replace(book, rate=0, last_accrual=T0 + 5)


@given(books(), st.integers(0, 10 * YEAR), st.integers(0, 10 * YEAR), st.integers(0, 10**18))
def test_interest_only_grows_debt(book, dt1, dt2, scaled):
    """Index, borrower debt, book debt, assets and supply index never fall as time passes; two
    accruals compound (never less than one over the same time)."""
    mid = book.accrued(T0 + dt1)
    end = mid.accrued(T0 + dt1 + dt2)
    for earlier, later in ((book, mid), (mid, end)):
        assert later.borrow_index >= earlier.borrow_index
        assert debt_of(scaled, later.borrow_index) >= debt_of(scaled, earlier.borrow_index)
        assert later.total_debt >= earlier.total_debt
        assert later.total_assets >= earlier.total_assets
        assert later.supply_index >= earlier.supply_index
        assert later.cash == earlier.cash and later.total_scaled == earlier.total_scaled
    once = book.accrued(T0 + dt1 + dt2)
    assert end.borrow_index >= once.borrow_index


@given(books(min_scaled=1), st.integers(1, 10 * YEAR))
def test_supply_index_grows_no_faster_than_assets(book, dt):
    """Lenders' return is the interest over the supply, rounded down."""
    assume(book.total_assets > 0)
    later = book.accrued(T0 + dt)
    assert later.supply_index * book.total_assets <= book.supply_index * later.total_assets
    interest = later.total_assets - book.total_assets
    if interest:  # and not more than a wei of index below it
        exact = book.supply_index * later.total_assets
        assert exact - later.supply_index * book.total_assets < book.total_assets


actions = st.lists(
    st.tuples(
        st.sampled_from(["borrow", "repay", "wait", "supply", "recall"]),
        st.integers(0, 3),  # borrower
        st.integers(1, 10**12 * USDC),  # amount
        st.integers(0, 400 * DAY),  # time before it
    ),
    max_size=30,
)


@given(rate_models, actions)
def test_rounding_favours_the_protocol(model, steps):
    """Σ borrowers' scaled == totalScaled; Σ borrowers' debts (ceil) >= book debt (floor), by at
    most one wei a borrower; the book's assets never fall through borrows and repayments, and
    move by exactly what the vault supplies or recalls."""
    now = T0
    book = supply(Book.genesis(T0), model, 10**13 * USDC, now)
    loans = [Loan(0)] * 4
    for kind, who, amount, wait in steps:
        now += wait
        assets_before = book.accrued(now).total_assets
        if kind == "borrow":
            amount = min(amount, book.cash)
            if amount == 0:
                continue
            book, loans[who] = borrow(book, model, loans[who], amount, now)
        elif kind == "repay":
            if loans[who].debt(book.accrued(now)) == 0:
                continue
            book, loans[who], paid = repay(book, model, loans[who], amount, now)
            assert paid <= amount
        elif kind == "supply":
            book = supply(book, model, amount, now)
            assets_before += amount
        elif kind == "recall":
            book, out = recall(book, model, amount, now)
            assert out == min(amount, book.cash + out)
            assets_before -= out
        else:
            book = book.accrued(now).committed(model)
        assert book.accrued(now).total_assets >= assets_before
        assert sum(loan.scaled for loan in loans) == book.total_scaled
        debts = sum(loan.debt(book) for loan in loans)
        assert book.total_debt <= debts <= book.total_debt + len(loans)


@given(indices, st.integers(0, 10**15 * USDC), st.integers(1, 10**12 * USDC))
def test_borrow_rounding(index, scaled, amount):
    """A borrow of x adds ceil(x * WAD / index) scaled units: the debt rises by at least x and
    at most x + ceil(index / WAD) (the bound the book's maxBorrow leaves room for)."""
    before = debt_of(scaled, index)
    after = debt_of(scaled + scaled_borrowed(amount, index), index)
    assert before + amount <= after <= before + amount + -(-index // WAD)


def test_repay_rounding():
    """Repaying below the debt removes floor(y * WAD / index) scaled units: a wei paid at an index
    above 1 removes nothing; repaying all clears the position."""
    book = Book(cash=0, total_scaled=10**9, borrow_index=3 * WAD // 2, rate=0,
                last_accrual=T0, supply_index=WAD)  # fmt: skip
    loan = Loan(10**9)
    assert loan.debt(book) == 1_500_000_000
    after, left, paid = repay(book, MODEL, loan, 1, T0)
    assert paid == 1 and left == loan and after.cash == 1
    after, left, paid = repay(book, MODEL, loan, 3, T0)
    assert left.scaled == 10**9 - 2
    after, left, paid = repay(book, MODEL, loan, MAX_UINT256, T0)
    assert paid == 1_500_000_000 and left.scaled == 0 and after.total_scaled == 0


# ---------------------------------------------------------------------------------- health


GOLD = Holding(TOKENS[0], amount=50 * WAD, decimals=18, price=2_000 * WAD, ltv_bps=7_000,
               threshold_bps=7_500, bonus_bps=800)  # fmt: skip
BILLS = Holding(TOKENS[1], amount=20_000 * USDC, decimals=6, price=WAD, ltv_bps=8_000,
                threshold_bps=8_500, bonus_bps=500)  # fmt: skip


def test_health_and_power_by_hand():
    position = Position(debt=60_000 * USDC, holdings=(GOLD, BILLS), asset_decimals=6)
    assert collateral_value(GOLD.amount, GOLD.price, 18, 6) == 100_000 * USDC
    # (100_000 * 0.75 + 20_000 * 0.85) / 60_000 = 92_000 / 60_000
    assert health_factor(position) == 92_000 * WAD // 60_000
    assert borrow_power(position) == 70_000 * USDC + 16_000 * USDC
    assert health_factor(position.with_debt(0)) == MAX_UINT256
    skewed = replace(BILLS, ltv_bps=9_000)  # borrow power uses min(ltv, threshold)
    assert borrow_power(replace(position, holdings=(skewed,))) == 17_000 * USDC


@given(positions())
def test_a_position_within_borrow_power_is_healthy(position):
    """debt <= borrowPower (LTV, capped at the threshold) implies health >= 1."""
    power = borrow_power(position)
    assume(power > 0)
    assert health_factor(position.with_debt(power)) >= WAD
    assert health_factor(position.with_debt(1)) >= health_factor(position.with_debt(power))


# ---------------------------------------------------------------------------------- liquidation


def test_liquidation_by_hand():
    # Gold at 1_500: health = 75_000 * 0.75 / 60_000 = 0.9375 < 0.95 -> full close allowed.
    position = Position(debt=60_000 * USDC, holdings=(replace(GOLD, price=1_500 * WAD),),
                        asset_decimals=6)  # fmt: skip
    plan = plan_liquidation(position, TOKENS[0], MAX_UINT256, RULES)
    assert isinstance(plan, Liquidation)
    assert plan.health == 9_375 * WAD // 10_000
    assert plan.max_repay == 60_000 * USDC
    # Bonus capped: 1e8 / 7_500 - 1e4 = 3_333 >= 800, so 800 stands.
    assert plan.bonus_bps == 800
    # seized = 60_000 * 1.08 / 1_500 = 43.2 gold
    assert (plan.repay, plan.seized) == (60_000 * USDC, 432 * WAD // 10)
    call = liquidation_trigger(position, RULES)
    assert isinstance(call, LiquidationCall)
    assert call.repay_amount == MAX_UINT256 and call.gain == 4_800 * USDC
    # Above full-close health: half the debt at most.
    mild = position.with_prices({TOKENS[0]: 1_560 * WAD})  # health 0.975
    plan = plan_liquidation(mild, TOKENS[0], MAX_UINT256, RULES)
    assert isinstance(plan, Liquidation) and plan.repay == 30_000 * USDC
    assert plan_liquidation(mild, TOKENS[0], 30_000 * USDC - 1, RULES).repay == 30_000 * USDC - 1
    # Refusals, in the contract's order.
    assert plan_liquidation(mild, TOKENS[0], 0, RULES) == Refusal("ZeroAmount")
    assert plan_liquidation(mild.with_debt(0), TOKENS[0], 1, RULES) == Refusal("NoDebt")
    assert plan_liquidation(mild, TOKENS[2], 1, RULES) == Refusal("NoCollateral")
    stale = replace(mild, holdings=(replace(mild.holdings[0], fresh=False),))
    assert plan_liquidation(stale, TOKENS[0], 1, RULES) == Refusal("StalePrice")
    assert liquidation_trigger(stale, RULES) == NoLiquidation("stale price")
    # A stale price elsewhere in the position does not shield it: only the seized token's counts.
    dust = replace(BILLS, amount=1, fresh=False)
    shielded = replace(mild, holdings=(*mild.holdings, dust))
    assert isinstance(plan_liquidation(shielded, TOKENS[0], MAX_UINT256, RULES), Liquidation)
    assert plan_liquidation(shielded, dust.token, MAX_UINT256, RULES) == Refusal("StalePrice")
    assert liquidation_trigger(shielded, RULES).token == TOKENS[0]
    healthy = position.with_prices({TOKENS[0]: 2_000 * WAD})
    assert plan_liquidation(healthy, TOKENS[0], 1, RULES) == Refusal(
        "HealthyPosition", (25 * WAD // 20,)
    )
    assert liquidation_trigger(healthy, RULES) == NoLiquidation("healthy")
    assert liquidation_trigger(healthy.with_debt(0), RULES) == NoLiquidation("no debt")
    # A repay that leaves 60_000 - 59_950 = 50 < minDebt of debt: dust.
    assert plan_liquidation(position, TOKENS[0], 59_950 * USDC, RULES) == Refusal(
        "DustDebt", (50 * USDC, 100 * USDC)
    )


def test_a_called_loan_is_liquidatable_in_full_once_due():
    """`LendingSleeve._due` and `_plan` after `callLoans`: before the notice ends nothing
    changes (a healthy position is refused `HealthyPosition`); from `loansDueAt` on every
    position with debt is liquidatable as at health 0: all of its debt at once, no close factor,
    the usual bonus; the stale-price and no-debt refusals stand."""
    assert not loans_due(0, T0)  # never called
    assert not loans_due(T0 + 1, T0)  # called, the notice not over: one second short
    assert loans_due(T0, T0) and loans_due(T0, T0 + DAY)
    called = replace(RULES, called=True)
    # Gold at 2_000: 100_000 * 0.75 / 60_000 = 1.25, healthy.
    position = Position(debt=60_000 * USDC, holdings=(GOLD,), asset_decimals=6)
    assert plan_liquidation(position, TOKENS[0], MAX_UINT256, RULES) == Refusal(
        "HealthyPosition", (25 * WAD // 20,)
    )
    assert liquidation_trigger(position, RULES) == NoLiquidation("healthy")
    plan = plan_liquidation(position, TOKENS[0], MAX_UINT256, called)
    assert isinstance(plan, Liquidation) and plan.health == 25 * WAD // 20
    # All of it (the close factor would allow 30_000); seized 60_000 * 1.08 / 2_000 = 32.4 gold.
    assert plan.max_repay == plan.repay == 60_000 * USDC and plan.seized == 324 * WAD // 10
    assert max_repay(60_000 * USDC, 25 * WAD // 20, RULES) == 30_000 * USDC
    assert max_repay(60_000 * USDC, 25 * WAD // 20, called) == 60_000 * USDC
    call = liquidation_trigger(position, called)
    assert isinstance(call, LiquidationCall) and call.gain == 4_800 * USDC
    # Unhealthy above fullCloseHealth (0.975): half before the call, all once due.
    mild = position.with_prices({TOKENS[0]: 1_560 * WAD})
    assert plan_liquidation(mild, TOKENS[0], MAX_UINT256, RULES).repay == 30_000 * USDC
    assert plan_liquidation(mild, TOKENS[0], MAX_UINT256, called).repay == 60_000 * USDC
    # A smaller repay is still a liquidation by the usual rules (dust included).
    assert plan_liquidation(position, TOKENS[0], 10_000 * USDC, called).repay == 10_000 * USDC
    assert plan_liquidation(position, TOKENS[0], 59_950 * USDC, called) == Refusal(
        "DustDebt", (50 * USDC, 100 * USDC)
    )
    stale = replace(position, holdings=(replace(GOLD, fresh=False),))
    assert plan_liquidation(stale, TOKENS[0], 1, called) == Refusal("StalePrice")
    assert liquidation_trigger(stale, called) == NoLiquidation("stale price")
    assert liquidation_trigger(position.with_debt(0), called) == NoLiquidation("no debt")


def test_the_liquidation_price_is_the_live_price_floored_at_the_band_edge_rounded_down():
    """`OracleRouter.liquidationPrice`: max(live, ref (1 - b)), the edge rounded down; the live
    price without a reference, and on a rise (never above live: DESIGN invariant 6)."""
    assert band_clamp(1_500 * WAD, 2_000 * WAD, 1_000) == 1_800 * WAD  # a fall past the edge
    assert band_clamp(3_000 * WAD, 2_000 * WAD, 1_000) == 3_000 * WAD  # a rise: live
    assert band_clamp(1_900 * WAD, 2_000 * WAD, 1_000) == 1_900 * WAD  # within the band
    assert band_clamp(1_500 * WAD, 0, 1_000) == 1_500 * WAD  # no reference yet
    # 999 x 0.9 = 899.1: the edge down; the high side is the live price
    assert band_clamp(1, 999, 1_000) == 899
    assert band_clamp(899, 999, 1_000) == 899
    assert band_clamp(10**6, 999, 1_000) == 10**6


def test_a_liquidation_counts_every_token_at_its_price_clamped_to_the_band():
    """`LendingSleeve._freshHealth`: a fall nobody confirmed counts down to the band's edge
    (`band_clamp`, b = 10 %), so a faulty crash print does no more than a print within the band
    could; a rise counts at once; a token without a liquidation price (stale) counts at its best
    price."""
    # Gold printed 1_500, the reference is 2_000: health 0.9375 at the print, 1.125 at the edge
    # (1_800): 50 x 1_800 x 0.75 / 60_000.
    pending = Position(debt=60_000 * USDC, holdings=(replace(GOLD, price=1_500 * WAD,
                       high=band_clamp(1_500 * WAD, 2_000 * WAD, 1_000)),),
                       asset_decimals=6)  # fmt: skip
    assert health_factor(pending) == 9_375 * WAD // 10_000  # what healthFactor reports
    assert plan_liquidation(pending, TOKENS[0], MAX_UINT256, RULES) == Refusal(
        "HealthyPosition", (9 * WAD // 8,)
    )
    assert liquidation_trigger(pending, RULES) == NoLiquidation("nothing to seize")
    # Owing 70_000 (0.964 at 1_800) a -50 % print liquidates exactly what a 1_800 print does.
    owing = replace(pending, debt=70_000 * USDC)
    crash = replace(owing, holdings=(replace(GOLD, price=1_000 * WAD,
                    high=band_clamp(1_000 * WAD, 2_000 * WAD, 1_000)),))  # fmt: skip
    edge = replace(owing, holdings=(replace(GOLD, price=1_800 * WAD, high=1_800 * WAD),))
    plan = plan_liquidation(crash, TOKENS[0], MAX_UINT256, RULES)
    assert isinstance(plan, Liquidation) and plan == plan_liquidation(
        edge, TOKENS[0], MAX_UINT256, RULES
    )
    assert plan.health == 67_500 * WAD // 70_000 and plan.repay == 35_000 * USDC  # half
    # Another token's low print: gold at 1_200 (no band), bills printed at 0.50 with the
    # reference at 1 (edge 0.90): (60_000 x 0.75 + 18_000 x 0.85) / 60_000 = 1.005.
    mixed = Position(debt=60_000 * USDC, holdings=(replace(GOLD, price=1_200 * WAD),
                     replace(BILLS, price=WAD // 2, high=band_clamp(WAD // 2, WAD, 1_000))),
                     asset_decimals=6)  # fmt: skip
    assert health_factor(mixed) < WAD
    assert plan_liquidation(mixed, TOKENS[0], MAX_UINT256, RULES) == Refusal(
        "HealthyPosition", (60_300 * WAD // 60_000,)
    )
    # The same without a liquidation price (stale bills at 0.50: the best price) is
    # liquidatable.
    lapsed = replace(mixed, holdings=(mixed.holdings[0], replace(mixed.holdings[1], fresh=False,
                     high=None)))  # fmt: skip
    assert isinstance(plan_liquidation(lapsed, TOKENS[0], MAX_UINT256, RULES), Liquidation)
    # Unhealthy even at the edge (gold printed 1_100, reference 1_500, edge 1_350: health
    # 0.84375): the seizure is sized at 1_350, 60_000 x 1.08 / 1_350 = 48 gold, not 58.9 at the
    # print, and the trigger's gain is valued at the same price.
    deep = Position(debt=60_000 * USDC, holdings=(replace(GOLD, price=1_100 * WAD,
                    high=band_clamp(1_100 * WAD, 1_500 * WAD, 1_000)),),
                    asset_decimals=6)  # fmt: skip
    plan = plan_liquidation(deep, TOKENS[0], MAX_UINT256, RULES)
    assert isinstance(plan, Liquidation) and plan.health == 84_375 * WAD // 100_000
    assert (plan.repay, plan.seized) == (60_000 * USDC, 48 * WAD)
    call = liquidation_trigger(deep, RULES)
    assert isinstance(call, LiquidationCall) and call.liquidation == plan
    assert call.gain == 48 * 1_350 * USDC - 60_000 * USDC
    assert liquidation_prices(deep).holdings[0].price == 1_350 * WAD
    # A rise nobody confirmed counts at once, in full (DESIGN invariant 6: health >= 1 at live
    # prices is never liquidated): gold printed 3_000 (reference 2_000, edge 2_200 above)
    # behind 90_000: health 1.25 at the print (0.917 at 2_200), refused, and the trigger says
    # "healthy".
    rise = Position(debt=90_000 * USDC, holdings=(replace(GOLD, price=3_000 * WAD,
                    high=band_clamp(3_000 * WAD, 2_000 * WAD, 1_000)),),
                    asset_decimals=6)  # fmt: skip
    assert health_factor(rise) == 5 * WAD // 4
    assert liquidation_prices(rise).holdings[0].price == 3_000 * WAD
    assert plan_liquidation(rise, TOKENS[0], MAX_UINT256, RULES) == Refusal(
        "HealthyPosition", (5 * WAD // 4,)
    )
    assert liquidation_trigger(rise, RULES) == NoLiquidation("healthy")


def test_bonus_cap_and_collateral_limited_repay():
    assert effective_bonus_bps(1_000, 9_500) == 526  # 1e8 / 9_500 = 10_526
    assert effective_bonus_bps(1_000, 10_000) == 0
    assert effective_bonus_bps(1_000, 0) == 1_000
    # 10 gold at 1_000 against 12_000 of debt: everything is seized, the repay falls to
    # ceil(10_000 / 1.08) = 9_259.259260 USDC (rounded up).
    small = Position(debt=12_000 * USDC, holdings=(replace(GOLD, amount=10 * WAD,
                     price=1_000 * WAD),), asset_decimals=6)  # fmt: skip
    plan = plan_liquidation(small, TOKENS[0], MAX_UINT256, RULES)
    assert isinstance(plan, Liquidation)
    assert plan.seized == 10 * WAD and plan.repay == 9_259_259_260


def test_max_repay_rules():
    assert max_repay(1_000 * USDC, WAD - 1, RULES) == 500 * USDC
    assert max_repay(1_000 * USDC, 9_500 * BPS_TO_WAD - 1, RULES) == 1_000 * USDC
    # Half of 150 would leave 75 < minDebt 100: the whole debt may go.
    assert max_repay(150 * USDC, WAD - 1, RULES) == 150 * USDC
    assert max_repay(200 * USDC, WAD - 1, RULES) == 100 * USDC


def seizure_bounded(plan: Liquidation, holding: Holding, asset_decimals: int = 6) -> bool:
    """value(seized) <= repay * (1 + bonus), exactly: seized * 1e4 * price * assetUnit <=
    repay * (1e4 + bonus) * WAD * tokenUnit."""
    lhs = plan.seized * BPS * holding.price * 10**asset_decimals
    return lhs <= plan.repay * (BPS + plan.bonus_bps) * WAD * 10**holding.decimals


@given(loans_on_book(), liquidation_rules, st.integers(0, MAX_UINT256), st.integers(0, 2))
def test_liquidation_bounds(setup, rules, repay_amount, which):
    """Never more seized than held, never more repaid than asked or allowed, never a wei more
    than the bonus, the bonus capped by the threshold, and no dust left behind."""
    _, _, position = setup
    token = pick(position, which).token
    plan = plan_liquidation(position, token, repay_amount, rules)
    event(f"refused {plan.error}" if isinstance(plan, Refusal) else f"takes all: {plan.takes_all}")
    if isinstance(plan, Refusal):
        return
    holding = position.holding(token)
    assert 0 < plan.seized <= holding.amount
    assert plan.repay <= repay_amount
    assert plan.repay <= plan.max_repay <= position.debt
    assert plan.health < WAD
    assert holding.threshold_bps * (BPS + plan.bonus_bps) <= BPS * BPS
    assert seizure_bounded(plan, holding)
    left = position.debt - plan.repay
    assert left == 0 or left >= rules.min_debt or plan.takes_all or plan.sweep
    if plan.sweep:  # what the borrower keeps is dust: worth less than minDebt and the debt left
        assert is_dust(plan.rest, left, rules.min_debt)
    if plan.health >= rules.full_close_health_bps * BPS_TO_WAD and plan.max_repay < plan.debt:
        assert plan.max_repay * BPS <= position.debt * rules.close_factor_bps


@given(positions(debt=st.just(1)), st.integers(1, 9_999), liquidation_rules, st.integers(0, 2))
def test_max_repay_always_liquidates_an_unhealthy_position(position, health_bps, rules, which):
    """`liquidate(b, t, MAX)` succeeds on any unhealthy position with fresh prices, as long as
    one wei of the asset buys at least one unit of collateral (see
    test_max_repay_refused_on_tiny_units)."""
    position = collateralised(position, health_bps)
    holding = pick(position, which)
    health = health_factor(position)
    assume(health < WAD)
    assume(holding.price * 10**6 <= WAD * 10**holding.decimals)
    plan = plan_liquidation(position, holding.token, MAX_UINT256, rules)
    assert max_repay(position.debt, health, rules) > 0
    assert isinstance(plan, Liquidation)


def test_max_repay_refused_on_tiny_units():
    """Where `liquidate(b, t, MAX)` cannot succeed: a repay that buys less than one unit of
    collateral seizes 0 (ZeroAmount). The book refuses to list tokens with fewer than 6
    decimals for that reason; the math still says why."""
    # A 0-decimal token worth 2_000 a unit, threshold 30%: health 0.6, 1_000 of debt; the full
    # repay buys 1_000 * 1.05 / 2_000 = 0.525 units -> 0.
    lump = Holding(TOKENS[0], amount=1, decimals=0, price=2_000 * WAD, ltv_bps=3_000,
                   threshold_bps=3_000, bonus_bps=500)  # fmt: skip
    position = Position(debt=1_000 * USDC, holdings=(lump,), asset_decimals=6)
    assert health_factor(position) == 6 * WAD // 10
    assert plan_liquidation(position, TOKENS[0], MAX_UINT256, RULES) == Refusal("ZeroAmount")
    assert liquidation_trigger(position, RULES) == NoLiquidation("nothing to seize")
    # A close factor rounding to 0 (1 wei of debt above full-close health, no minimum) lets the
    # whole debt go instead.
    rules = LiquidationRules(close_factor_bps=5_000, full_close_health_bps=0, min_debt=0)
    wei = Position(debt=1, holdings=(replace(BILLS, amount=1),), asset_decimals=6)
    assert max_repay(1, health_factor(wei), rules) == 1


# ---------------------------------------------------------------------------------- settlement


def settle(book, loan, position, plan):
    settlement = settle_liquidation(book, MODEL, loan, position, plan, T0)
    return settlement, position_after(position, settlement, plan)


@given(loans_on_book(), liquidation_rules, st.integers(0, MAX_UINT256), st.integers(0, 2))
def test_settlement_accounting(setup, rules, repay_amount, which):
    """After a liquidation: the debt left is at least debt - repay (never dust unless the
    collateral is gone), Σ scaled stays consistent, and the book's assets fall by exactly the
    bad debt written off (and never fall without one)."""
    book, loan, position = setup
    plan = plan_liquidation(position, pick(position, which).token, repay_amount, rules)
    if isinstance(plan, Refusal):
        return
    settlement, after = settle(book, loan, position, plan)
    event(f"bad debt: {settlement.bad_debt is not None}")
    left = after.debt
    assert left >= plan.remaining or settlement.bad_debt is not None
    assert left == 0 or left >= rules.min_debt or plan.takes_all
    assert settlement.book.total_scaled == book.total_scaled - (
        loan.scaled - settlement.loan.scaled
    )
    drop = book.total_assets - settlement.book.total_assets
    if settlement.bad_debt is None:
        assert drop <= 0
        assert settlement.book.supply_index == book.supply_index
        assert settlement.loan.scaled > 0 or plan.closes
    else:
        assert drop == settlement.bad_debt
        assert settlement.loan.scaled == 0 and not after.held
        assert settlement.bad_debt <= plan.debt - plan.repay
        assert settlement.book.supply_index <= book.supply_index


@given(loans_on_book(), st.integers(0, 2), st.integers(1, BPS))
def test_partial_liquidation_raises_health(setup, which, fraction_bps):
    """A partial liquidation (some collateral and debt left) raises health when
    health > threshold * (1 + bonus) of the seized token, by more than integer rounding.

    Rounding costs the borrower up to c = ceil(index / WAD) wei of credit (scaled units leave
    rounded down) and one wei of the seized token's value (values floor per token), so the
    promise holds exactly when A * (r - c) >= t * D * (1 + r * (1 + bonus)) (A = Σ value *
    threshold, D the debt, r the repay, t the seized token's threshold): a margin of a few wei
    over r. Below it, see test_a_wei_sized_liquidation_can_lower_health."""
    book, loan, position = setup
    holding = pick(position, which)
    rules = LiquidationRules(BPS, 0, 0)
    full = plan_liquidation(position, holding.token, MAX_UINT256, rules)
    assume(isinstance(full, Liquidation))
    repay_amount = max(full.repay * fraction_bps // BPS, 1)
    plan = plan_liquidation(position, holding.token, repay_amount, rules)
    # (one that leaves only dust is a write-off, not a partial liquidation)
    assume(isinstance(plan, Liquidation) and not plan.takes_all and not plan.closes)
    assume(not plan.sweep)
    settlement, after = settle(book, loan, position, plan)
    assert settlement.bad_debt is None
    # The borrower is credited floor(repay * WAD / index) scaled units: at most ceil(index / WAD)
    # wei of the repay short (the rounding ILendingSleeve gives the protocol).
    c = -(-book.borrow_index // WAD)
    assert plan.remaining <= after.debt <= plan.remaining + c
    adjusted = sum(h.value(6) * h.threshold_bps for h in position.held)
    r, t, d = plan.repay, holding.threshold_bps, plan.debt
    margin = adjusted * (r - c) * BPS >= t * d * (BPS + r * (BPS + plan.bonus_bps))
    event(f"beyond rounding: {margin}")
    if margin:
        assert health_factor(after) >= plan.health


def test_a_wei_sized_liquidation_can_lower_health():
    """The rounding margin above is real: repaying 1 wei at an index above 1 removes
    floor(1e18 / index) = 0 scaled units, so the debt does not fall while collateral is seized.
    Harmless at real sizes (a wei of debt), but "raises health whenever health > threshold *
    (1 + bonus)" holds only up to it."""
    book = Book(cash=0, total_scaled=2, borrow_index=WAD + 1, rate=0, last_accrual=T0,
                supply_index=WAD)  # fmt: skip
    loan = Loan(2)
    dust = Holding(TOKENS[0], amount=4, decimals=6, price=WAD, ltv_bps=5_000,
                   threshold_bps=5_000, bonus_bps=0)  # fmt: skip
    position = Position(debt=loan.debt(book), holdings=(dust,), asset_decimals=6)
    assert position.debt == 3  # ceil(2 * (1e18 + 1) / 1e18)
    # health 4 * 0.5 / 3 = 0.667: below 1, above threshold * (1 + bonus) = 0.5
    assert 5_000 * BPS_TO_WAD < health_factor(position) < WAD
    plan = plan_liquidation(position, TOKENS[0], 1, LiquidationRules(BPS, 0, 0))
    assert isinstance(plan, Liquidation) and (plan.repay, plan.seized) == (1, 1)
    settlement, after = settle(book, loan, position, plan)
    assert settlement.loan == loan and after.debt == 3  # 1 wei paid, nothing credited
    assert health_factor(after) == 5_000 * BPS_TO_WAD < plan.health


# ---------------------------------------------------------------------------------- trigger


@given(loans_on_book(), liquidation_rules)
def test_trigger_picks_the_largest_gain(setup, rules):
    _, _, position = setup
    choice = liquidation_trigger(position, rules)
    event(type(choice).__name__)
    plans = {
        h.token: plan_liquidation(position, h.token, MAX_UINT256, rules) for h in position.held
    }
    good = {t: p for t, p in plans.items() if isinstance(p, Liquidation)}
    if isinstance(choice, NoLiquidation):
        assert choice.reason in {"no debt", "healthy", "nothing to seize"}
        assert not good or health_factor(position) >= WAD
        return
    assert choice.liquidation == good[choice.token]
    assert all(liquidation_gain(p, position) <= choice.gain for p in good.values())
    first_best = next(t for t, p in good.items() if liquidation_gain(p, position) == choice.gain)
    assert choice.token == first_best
    assert choice.repay_amount == MAX_UINT256  # the most allowed when mined


def test_write_off_by_hand():
    book = Book(cash=500, total_scaled=1_000, borrow_index=WAD, rate=0, last_accrual=T0,
                supply_index=WAD)  # fmt: skip
    after, loss = write_off(book, Loan(300), book_debt_before=1_000, repaid=0)
    assert loss == 300 and after.total_scaled == 700
    # Supply before the loss: 500 + 700 + 300 = 1_500; the index falls by 300/1_500 = 20%.
    assert after.supply_index == WAD - WAD // 5


@pytest.mark.parametrize("index", [WAD, 3 * WAD // 2 + 1])
def test_bad_debt_on_the_last_collateral(index):
    """All collateral seized with debt left: the rest is written off and reported."""
    book = Book(cash=10**12, total_scaled=10**12, borrow_index=index, rate=0,
                last_accrual=T0, supply_index=WAD)  # fmt: skip
    loan = Loan(12_000 * USDC)
    tiny = Position(debt=loan.debt(book), holdings=(replace(GOLD, amount=10 * WAD,
                    price=1_000 * WAD),), asset_decimals=6)  # fmt: skip
    plan = plan_liquidation(tiny, TOKENS[0], MAX_UINT256, RULES)
    assert isinstance(plan, Liquidation) and plan.takes_all
    settlement, after = settle(book, loan, tiny, plan)
    assert settlement.loan == Loan(0) and after.debt == 0
    assert settlement.bad_debt == book.total_assets - settlement.book.total_assets > 0
    assert settlement.bad_debt in (plan.debt - plan.repay, plan.debt - plan.repay - 1)


def test_dust_left_behind_is_swept_and_written_off():
    """Issue 18 M-4: gold plus 1 wei of T-bills. Seizing all the gold leaves 14,444.44 of debt
    behind a wei: dust, so that same liquidation sweeps the wei and writes the debt off."""
    book = Book(cash=10**12, total_scaled=70_000 * USDC, borrow_index=WAD, rate=0,
                last_accrual=T0, supply_index=WAD)  # fmt: skip
    loan = Loan(70_000 * USDC)
    position = Position(debt=70_000 * USDC, holdings=(replace(GOLD, price=1_200 * WAD),
                        replace(BILLS, amount=1)), asset_decimals=6)  # fmt: skip
    call = liquidation_trigger(position, RULES)
    plan = call.liquidation
    assert call.token == TOKENS[0] and plan.takes_all and plan.sweep
    assert plan.rest == 1  # a wei of a 6-decimal T-bill: 0.000001
    assert plan.repay == 55_555_555_556  # ceil(60,000 / 1.08)
    assert swept(plan, position) == ((TOKENS[1], 1),)
    settlement, after = settle(book, loan, position, plan)
    assert settlement.bad_debt == 70_000 * USDC - plan.repay
    assert settlement.loan == Loan(0) and after.debt == 0 and not after.held
    assert book.total_assets - settlement.book.total_assets == settlement.bad_debt
    # Real T-bills (100 of them, worth lend.minDebt) are not dust: the debt stays, owed.
    real = replace(position, holdings=(position.holdings[0], replace(BILLS, amount=100 * USDC)))
    kept = plan_liquidation(real, TOKENS[0], MAX_UINT256, RULES)
    assert kept.takes_all and not kept.sweep and kept.rest == 100 * USDC
    assert swept(kept, real) == ()
    assert settle(book, loan, real, kept)[0].bad_debt is None


def test_dust_rule_edges():
    # below lend.minDebt and below the debt left; with minDebt 0, only what is worth nothing
    assert is_dust(99, 1_000, 100) and not is_dust(100, 1_000, 100)
    assert not is_dust(50, 50, 100) and is_dust(49, 50, 100)  # the borrower's equity stays
    assert is_dust(0, 1, 0) and not is_dust(1, 2, 0)
    assert not is_dust(0, 0, 100)  # no debt left: nothing to write off
    # A partial seizure that leaves dust of the seized token itself is swept too, but only when
    # the repay was the largest allowed (here the close factor's half): a smaller repay chosen to
    # leave dust would buy it for nothing, so it is refused.
    alone = Position(debt=1_000 * USDC, holdings=(replace(BILLS, amount=1_000 * USDC),),
                     asset_decimals=6)  # fmt: skip
    rules = LiquidationRules(close_factor_bps=BPS, full_close_health_bps=BPS, min_debt=100 * USDC)
    assert plan_liquidation(alone, TOKENS[1], 910 * USDC, rules) == Refusal(
        "DustDebt", (90 * USDC, 100 * USDC)
    )
    halves = LiquidationRules(close_factor_bps=9_100, full_close_health_bps=0, min_debt=89 * USDC)
    plan = plan_liquidation(alone, TOKENS[1], MAX_UINT256, halves)
    assert plan.repay == plan.max_repay == 910 * USDC
    assert plan.seized == 955_500_000 and not plan.takes_all
    assert plan.sweep and plan.rest == 44_500_000  # 44.5 left behind 90 of debt
    assert swept(plan, alone) == ((TOKENS[1], 44_500_000),)
