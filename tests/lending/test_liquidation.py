"""Liquidations: who can be liquidated, for how much, what is seized, and bad debt.

Rates are set to 0 here so that every amount is exact; interest is covered in test_book.py and
test_differential.py. Bob's standard position: 50 gold (100,000 at NAV 2,000; LTV 70%,
threshold 75%, bonus 8%) behind 70,000 of debt, health 1.0714.

A liquidation values collateral at the router's `liquidationPrice`: the live price floored at
the lower edge of `oracle.maxDeviationBps` (10 %) around the reference, so a fall beyond it
counts at once up to the band's edge and in full once confirmed (a rise at once); the tests'
crashes are confirmed (`move`: published, poked, `oracle.confirmDelay`, published again, poked)
before liquidating.
"""

from __future__ import annotations

import pytest
from eth_abi import decode
from hypothesis import given, settings
from hypothesis import strategies as st

from keepers.math import health_factor, liquidation_prices
from tests.lending_support import (
    COLLATERAL,
    FEED_UNIT,
    MAX_UINT,
    USDC,
    WAD,
    deploy_zero_rate_supplied_book,
    position_of,
)
from tests.vault_support import assert_reverts, confirm_moves, isolated, revert_of

GOLD = 10**18  # one whole gold token
BOB_DEBT = 70_000 * USDC
BOB_GOLD = 50 * GOLD


@pytest.fixture(scope="module")
def lending(project, accounts):
    system = deploy_zero_rate_supplied_book(project, accounts)
    assert system.book.borrowRate() == 0
    keeper = accounts[9]
    system.fund(keeper, 20_000_000 * USDC)
    return system


@pytest.fixture
def bob_position(lending, bob):
    lending.open_position(bob, "gold", 100_000 * USDC, BOB_DEBT)
    return bob


def gold_price(nav: int) -> int:
    return nav * WAD


def value_of_gold(amount: int, nav: int) -> int:
    return amount * nav * USDC // GOLD


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def move(lending, confirmed: bool = True, **answers: int) -> None:
    """Publish each `name=answer` (8-decimal feed units); with `confirmed`, the moves beyond
    oracle.maxDeviationBps are then confirmed by the router, as the sentinel keeper does."""
    for name, answer in answers.items():
        lending.set_nav(name, answer)
    if confirmed:
        priced = [(lending.token(n), lending.feed(n)) for n in answers]
        confirm_moves(lending.vs.router, lending.vs.registry, priced, lending.vs.governance)


def last(tx, name: str):
    return next(e for e in reversed(list(tx.events)) if e.event_name == name)


# ------------------------------------------------------------------ refusals


def test_healthy_position_cannot_be_liquidated(lending, book, bob_position, keeper):
    gold = lending.token("gold")
    health = book.healthFactor(bob_position)
    assert health == 100_000 * 7_500 * WAD // (70_000 * 10_000)
    assert_reverts(book, "liquidate", bob_position, gold, MAX_UINT, sender=keeper,
                   error="HealthyPosition", borrower=bob_position, health=health)  # fmt: skip
    assert tuple(book.liquidationTrigger(bob_position)) == (False, b"healthy")


def test_liquidation_refusals(lending, book, bob_position, keeper, accounts):
    gold, tbill = lending.token("gold"), lending.token("tbill")
    lending.set_nav("gold", 1_850 * FEED_UNIT)
    nobody = accounts[3]
    assert_reverts(book, "liquidate", nobody, gold, 1, sender=keeper,
                   error="NoDebt", borrower=nobody)  # fmt: skip
    assert_reverts(book, "liquidate", bob_position, gold, 0, sender=keeper, error="ZeroAmount")
    assert_reverts(book, "liquidate", bob_position, tbill, MAX_UINT, sender=keeper,
                   error="NoCollateral", borrower=bob_position, token=tbill)  # fmt: skip
    assert_reverts(book, "liquidate", bob_position, lending.asset, MAX_UINT, sender=keeper,
                   error="UnsupportedCollateral")  # fmt: skip
    # A minimum debt above what a partial liquidation leaves makes it dust: only a full
    # close, or one that takes all of that collateral, may go below it.
    lending.set_param("lend.minDebt", 40_000 * USDC)
    assert_reverts(book, "liquidate", bob_position, gold, 34_000 * USDC, sender=keeper,
                   error="DustDebt", remaining=36_000 * USDC, minDebt=40_000 * USDC)  # fmt: skip
    assert tuple(book.previewLiquidation(bob_position, gold, MAX_UINT))[0] == BOB_DEBT


def test_no_liquidation_on_a_stale_price(lending, book, bob_position, keeper, chain, accounts):
    gold, feed = lending.token("gold"), lending.feed("gold")
    now = chain.pending_timestamp + 10
    chain.pending_timestamp = now
    feed.setRound(1_500 * FEED_UNIT, now - 86_400 - 1, sender=accounts[0])
    assert book.healthFactor(bob_position) < WAD  # the view shows the best price it has
    assert_reverts(book, "liquidate", bob_position, gold, MAX_UINT, sender=keeper,
                   error="StalePrice", token=gold)  # fmt: skip
    assert tuple(book.liquidationTrigger(bob_position)) == (False, b"stale price")


def test_a_lapsed_feed_elsewhere_does_not_shield_a_position(
    lending, book, bob_position, keeper, chain, accounts
):
    """A wei of another token whose feed lapsed, posted on purpose or not, changes nothing."""
    invoices, gold = lending.token("invoices"), lending.token("gold")
    lending.buy_collateral(bob_position, "invoices", 10 * USDC)
    book.depositCollateral(invoices, 1, sender=bob_position)
    feed = lending.feed("invoices")
    now = chain.pending_timestamp + 10
    chain.pending_timestamp = now
    feed.setRound(feed.latestAnswer(), now - 86_400 - 1, sender=accounts[0])
    move(lending, gold=1_000 * FEED_UNIT)
    assert not lending.vs.router.tryPrice(invoices)[1]
    ok, data = book.liquidationTrigger(bob_position)
    assert ok
    assert data == book.liquidate.encode_input(bob_position, gold, MAX_UINT)
    assert_reverts(book, "liquidate", bob_position, invoices, MAX_UINT, sender=keeper,
                   error="StalePrice", token=invoices)  # fmt: skip
    book(sender=keeper, data=data)
    assert book.collateralOf(bob_position, gold) < BOB_GOLD


# ------------------------------------------------------------------ sizes


def test_partial_liquidation_by_the_close_factor(lending, book, bob_position, keeper):
    gold = lending.token("gold")
    lending.set_nav("gold", 1_850 * FEED_UNIT)
    before = book.healthFactor(bob_position)
    assert 95 * WAD // 100 <= before < WAD
    paid_before = lending.asset.balanceOf(keeper)
    cash_before = book.cash()
    tx = book.liquidate(bob_position, gold, MAX_UINT, sender=keeper)
    ev = last(tx, "Liquidated")
    repay = BOB_DEBT // 2
    seized = repay * 10_800 * WAD * GOLD // (10_000 * gold_price(1_850) * USDC)
    assert (ev.borrower, ev.liquidator, ev.token, ev.repaid, ev.seized) == (
        bob_position.address, keeper.address, gold.address, repay, seized,
    )  # fmt: skip
    assert paid_before - lending.asset.balanceOf(keeper) == repay
    assert gold.balanceOf(keeper) == seized
    assert book.cash() == cash_before + repay
    assert book.debtOf(bob_position) == BOB_DEBT - repay
    assert book.collateralOf(bob_position, gold) == BOB_GOLD - seized
    assert book.healthFactor(bob_position) > before
    # Principal and the cap follow the debt.
    assert book.capUsage(gold) == BOB_DEBT - repay
    # A second liquidation finds a healthy position: racing keepers revert cleanly.
    assert_reverts(book, "liquidate", bob_position, gold, MAX_UINT, sender=keeper,
                   error="HealthyPosition")  # fmt: skip


def test_full_close_below_full_close_health(lending, book, bob_position, keeper):
    gold = lending.token("gold")
    move(lending, gold=1_700 * FEED_UNIT)
    assert book.healthFactor(bob_position) < 95 * WAD // 100
    ok, data = book.liquidationTrigger(bob_position)
    assert ok
    # Closing the whole debt: the trigger asks for "all" so that interest cannot leave dust.
    assert data == book.liquidate.encode_input(bob_position, gold, MAX_UINT)
    tx = book(sender=keeper, data=data)
    ev = last(tx, "Liquidated")
    assert ev.repaid == BOB_DEBT
    assert ev.seized == BOB_DEBT * 10_800 * WAD * GOLD // (10_000 * gold_price(1_700) * USDC)
    assert book.debtOf(bob_position) == 0
    assert book.healthFactor(bob_position) == MAX_UINT
    assert book.collateralOf(bob_position, gold) == BOB_GOLD - ev.seized
    assert book.capUsage(gold) == 0


def test_close_factor_that_would_leave_dust_closes_all(lending, book, keeper, bob):
    lending.open_position(bob, "gold", 200 * USDC, 140 * USDC)
    lending.set_nav("gold", 1_850 * FEED_UNIT)  # health 0.991: the close factor applies...
    # ...but half of 140 leaves 70 < lend.minDebt (100): the whole debt may go.
    repaid, _ = book.previewLiquidation(bob, lending.token("gold"), MAX_UINT)
    assert repaid == 140 * USDC


def test_bonus_is_capped_at_threshold_times_bonus_of_100pct(lending, book, bob_position, keeper):
    gold = lending.token("gold")
    lending.set_param("lend.liqBonusBps.gold", 5_000)  # 50%: threshold 75% x 1.5 > 100%
    lending.set_nav("gold", 1_850 * FEED_UNIT)
    repay, seized = book.previewLiquidation(bob_position, gold, MAX_UINT)
    capped = 10_000 * 10_000 // 7_500 - 10_000  # 3,333 bps
    assert seized == repay * (10_000 + capped) * WAD * GOLD // (10_000 * gold_price(1_850) * USDC)
    tx = book.liquidate(bob_position, gold, MAX_UINT, sender=keeper)
    assert last(tx, "Liquidated").seized == seized


def test_collateral_runs_out_before_the_repay(lending, book, keeper, bob):
    """Seizing all of one token caps the repay; other collateral keeps the rest of the debt."""
    gold, tbill = lending.token("gold"), lending.token("tbill")
    lending.open_position(bob, "gold", 20_000 * USDC, 0)
    lending.open_position(bob, "tbill", 100_000 * USDC, 80_000 * USDC)
    move(lending, tbill=70_000_000)  # 0.70: health (20,000*0.75 + 70,000*0.85)/80,000
    assert book.healthFactor(bob) < WAD
    held = book.collateralOf(bob, gold)
    repay, seized = book.previewLiquidation(bob, gold, MAX_UINT)
    assert seized == held
    assert repay == ceil_div(held * gold_price(2_000) * USDC * 10_000, GOLD * WAD * 10_800)
    tx = book.liquidate(bob, gold, MAX_UINT, sender=keeper)
    assert not [e for e in tx.events if e.event_name == "BadDebtRealized"]
    assert book.collateralOf(bob, gold) == 0
    assert list(book.positionOf(bob).tokens) == [tbill.address]
    assert book.debtOf(bob) == 80_000 * USDC - repay
    assert book.capUsage(gold) == 0
    assert book.capUsage(tbill) == book.positionOf(bob).principal


def test_bad_debt_is_written_off_at_once(lending, book, bob_position, keeper):
    gold = lending.token("gold")
    vault = lending.vault
    move(lending, gold=1_200 * FEED_UNIT)  # 60,000 of gold behind 70,000 of debt
    index_before = book.returnIndex()
    assets_before = vault.totalAssets()
    tx = book.liquidate(bob_position, gold, MAX_UINT, sender=keeper)
    ev = last(tx, "Liquidated")
    assert ev.seized == BOB_GOLD
    assert ev.repaid == ceil_div(BOB_GOLD * 1_200 * USDC * 10_000, GOLD * 10_800)
    bad = last(tx, "BadDebtRealized")
    assert bad.borrower == bob_position.address
    assert bad.amount == BOB_DEBT - ev.repaid
    # Depositors bear the loss, visibly and exactly: no phantom asset is left in the book.
    assert vault.totalAssets() == assets_before - bad.amount
    assert book.debtOf(bob_position) == 0
    assert book.totalDebt() == 0
    assert book.totalAssets() == book.cash()
    assert book.capUsage(gold) == 0
    pos = book.positionOf(bob_position)
    assert (pos.debt, pos.principal, list(pos.tokens)) == (0, 0, [])
    supplied = assets_before - vault.idle()  # the book's value before the loss
    assert book.returnIndex() == index_before - ceil_div(index_before * bad.amount, supplied)


# ------------------------------------------------------------------ the keeper trigger


def test_trigger_picks_the_collateral_paying_the_largest_bonus(lending, book, keeper, bob):
    lending.open_position(bob, "tbill", 50_000 * USDC, 0)  # bonus 5%
    lending.open_position(bob, "invoices", 50_000 * USDC, 0)  # bonus 10%
    book.borrow(70_000 * USDC, sender=bob)
    move(lending, tbill=80_000_000, invoices=80_000_000)
    assert book.healthFactor(bob) < 95 * WAD // 100
    ok, data = book.liquidationTrigger(bob)
    assert ok
    _, token, repay = decode(["address", "address", "uint256"], bytes(data)[4:])
    assert token == lending.token("invoices").address.lower()
    # "As much as allowed when mined": here the invoices (40,000) run out before the debt.
    assert repay == MAX_UINT
    _, seized = book.previewLiquidation(bob, lending.token("invoices"), MAX_UINT)
    assert seized == book.collateralOf(bob, lending.token("invoices"))
    book(sender=keeper, data=data)
    assert book.collateralOf(bob, lending.token("invoices")) == 0


def test_trigger_reasons(lending, book, bob):
    assert tuple(book.liquidationTrigger(bob)) == (False, b"no debt")


# ------------------------------------------------------------------ properties


@settings(max_examples=20)
@given(
    name=st.sampled_from(list(COLLATERAL)),
    collateral=st.integers(1_000, 2_000_000),
    ltv_used=st.integers(2_000, 10_000),
    drop_bps=st.integers(0, 6_000),
    confirmed=st.booleans(),
    ask_bps=st.integers(1, 10_000),
)
def test_liquidation_properties(
    lending, book, keeper, bob, chain, name, collateral, ltv_used, drop_bps, confirmed, ask_bps
):
    """Any position, any price fall (confirmed by the router or not), any repay asked:
    - health >= 1 at the liquidation's prices (the live price floored at the band's edge; the
      live price once the fall is confirmed): never liquidatable, whatever is asked;
    - otherwise the call repays no more than allowed, seizes no more than held, leaves debt
      0 or >= lend.minDebt unless it took all of that collateral, raises health while the
      collateral covers debt plus bonus, and writes off whatever no collateral (or only dust,
      swept to the liquidator) is left behind, the vault's assets falling by exactly that."""
    with isolated(chain):
        ltv, lt, bonus, _ = COLLATERAL[name]
        token = lending.token(name)
        got = lending.buy_collateral(bob, name, collateral * USDC)
        book.depositCollateral(token, got, sender=bob)
        debt = max(book.borrowPower(bob) * ltv_used // 10_000, 100 * USDC)
        if debt > book.borrowPower(bob):
            return
        book.borrow(debt, sender=bob)
        nav = lending.feed(name).latestAnswer()
        move(lending, confirmed, **{name: max(nav * (10_000 - drop_bps) // 10_000, 1)})
        live = book.healthFactor(bob)
        health = health_factor(liquidation_prices(position_of(lending, bob, book.debtOf(bob))))
        assert health >= live
        ask = max(debt * ask_bps // 10_000, 1)
        outcome = revert_of(book, "liquidate", bob, token, ask, sender=keeper)
        if health >= WAD:
            assert outcome == ("HealthyPosition", {"borrower": bob.address.lower(),
                                                   "health": health}), outcome  # fmt: skip
            return
        if confirmed or drop_bps <= 1_000:  # a fall within the band, or confirmed: in full
            assert health == live
        else:  # unconfirmed beyond the band: at the band's edge
            ref = lending.vs.router.lastPrice(token)[0]
            assert lending.vs.router.liquidationPrice(token) == ref * 9_000 // 10_000
        if outcome is not None:
            # Only two refusals are legitimate for an unhealthy position and a valid token.
            assert outcome[0] in ("DustDebt", "ZeroAmount"), outcome
            ask = MAX_UINT  # the largest liquidation always goes through
        held = book.collateralOf(bob, token)
        price = lending.vs.router.liquidationPrice(token)  # floored at the edge
        unit = 10 ** token.decimals()
        assets_before = lending.vault.totalAssets()
        tx = book.liquidate(bob, token, ask, sender=keeper)
        ev = last(tx, "Liquidated")
        capped_bonus = min(bonus, 10_000 * 10_000 // lt - 10_000)
        max_repay = debt if health < 95 * WAD // 100 else debt // 2
        if debt - debt // 2 < 100 * USDC:
            max_repay = debt
        assert ev.repaid <= min(ask, max_repay)
        assert ev.seized <= held
        assert ev.seized <= ev.repaid * (10_000 + capped_bonus) * WAD * unit // (
            10_000 * price * USDC
        )
        left = book.debtOf(bob)
        took_all = ev.seized == held
        bad = [e for e in tx.events if e.event_name == "BadDebtRealized"]
        swept = [e for e in tx.events if e.event_name == "CollateralSwept"]
        assert left == 0 or left >= 100 * USDC or took_all
        if swept:  # dust left: worth less than lend.minDebt and the debt left, all of it swept
            (sweep,) = swept
            rest = sweep.amount * price * USDC // (WAD * unit)
            assert sweep.amount == held - ev.seized
            assert rest < 100 * USDC and rest < debt - ev.repaid
            assert bad and left == 0 and book.collateralOf(bob, token) == 0
        if took_all or swept:
            assert left == 0  # the only collateral is gone: the rest was written off
            lost = bad[0].amount if bad else 0
            assert lending.vault.totalAssets() == assets_before - lost
        else:
            assert not bad
            assert lending.vault.totalAssets() == assets_before
            value = held * price * USDC // (WAD * unit)
            if value * 10_000 > debt * (10_000 + capped_bonus):
                assert book.healthFactor(bob) >= live


def test_price_shock_many_borrowers(lending, book, keeper, accounts):
    """A crash in gold and invoices: every unhealthy borrower is liquidatable through the
    trigger's calldata, no healthy one is; keepers then drive the book back to health."""
    borrowers = [accounts.generate_test_account() for _ in range(10)]
    plans = [  # (collateral, value, share of borrow power used)
        ("gold", 100_000, 0.99), ("gold", 50_000, 0.90), ("gold", 80_000, 0.60),
        ("invoices", 40_000, 0.98), ("invoices", 60_000, 0.50), ("tbill", 100_000, 0.99),
        ("gold", 30_000, 0.95), ("invoices", 20_000, 0.80), ("tbill", 50_000, 0.70),
        ("gold", 200_000, 0.75),
    ]  # fmt: skip
    for account, (name, value, used) in zip(borrowers, plans, strict=True):
        accounts[0].transfer(account, 10**18)
        lending.open_position(account, name, value * USDC, 0)
        book.borrow(int(book.borrowPower(account) * used), sender=account)
        if name == "gold":  # a second collateral for some
            lending.open_position(account, "tbill", 5_000 * USDC, 0)
    move(lending, False, gold=1_300 * FEED_UNIT, invoices=80_000_000)  # -35%, -20%
    # Before the router confirmed the crash, nobody is liquidated at it: every position is
    # healthy at the band's edge (-10 %), where an unconfirmed fall counts.
    for b in borrowers:
        assert book.liquidationTrigger(b)[0] is False
    move(lending, gold=1_300 * FEED_UNIT, invoices=80_000_000)  # confirmed
    unhealthy = [b for b in borrowers if book.healthFactor(b) < WAD]
    healthy = [b for b in borrowers if b not in unhealthy]
    assert unhealthy and healthy
    for b in healthy:
        assert book.liquidationTrigger(b)[0] is False
        for token in book.positionOf(b).tokens:
            assert_reverts(book, "liquidate", b, token, MAX_UINT, sender=keeper,
                           error="HealthyPosition")  # fmt: skip
    for b in unhealthy:
        ok, data = book.liquidationTrigger(b)
        assert ok
        book(sender=keeper, data=data)
    # Keepers keep going until no trigger fires: the book has no unhealthy position left.
    for _ in range(5):
        firing = [b for b in borrowers if book.liquidationTrigger(b)[0]]
        for b in firing:
            book(sender=keeper, data=book.liquidationTrigger(b)[1])
    assert all(book.healthFactor(b) >= WAD for b in borrowers)
    assert book.totalAssets() == book.cash() + book.totalDebt()
