"""LendingSleeve, path by path: collateral, borrowing, repaying, the vault's side, governance.

Every error a user or the vault can hit is provoked here and named; liquidations have their own
file (test_liquidation.py). The book is the vault's fourth sleeve, funded by a rebalance: 90% of
a 1,000,000 deposit, so it starts with 900,000 of cash.
"""

from __future__ import annotations

import ape
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.lending_support import (
    COLLATERAL,
    DAY,
    FEED_UNIT,
    MAX_UINT,
    USDC,
    WAD,
    deploy_lending_system,
    key,
)
from tests.vault_support import assert_reverts, isolated, revert_of, settled

SUPPLY = 1_000_000 * USDC
CASH = 900_000 * USDC


@pytest.fixture(scope="module")
def lending(project, accounts):
    system = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    system.supply(accounts[6], SUPPLY)
    return system


def gold_value(tokens: int) -> int:
    """Stablecoin value of `tokens` gold units at the default NAV (2,000), rounded down."""
    return tokens * 2_000 * USDC // 10**18


# ------------------------------------------------------------------ set-up and governance


def test_fresh_book(lending, book):
    assert book.vault() == lending.vault.address
    assert book.asset() == lending.asset.address
    assert book.cash() == CASH
    assert book.totalAssets() == CASH
    assert book.availableLiquidity() == CASH
    assert tuple(book.valuation()) == (CASH, True)
    assert book.totalDebt() == 0
    assert book.returnIndex() == WAD
    assert book.borrowIndex() == WAD
    assert book.utilization() == 0
    # No debt: the kinked model's base rate (100 bps) is in force.
    assert book.borrowRate() == 100 * 10**14
    tokens = [lending.token(n).address for n in COLLATERAL]
    assert list(book.collateralTokens()) == tokens
    assert [book.collateralName(t) for t in tokens] == list(COLLATERAL)
    assert lending.vault.totalAssets() == SUPPLY


def test_list_collateral_refusals(project, lending, book, gov, bob):
    token = lending.token("gold")
    role = book.GOVERNANCE_ROLE()
    assert_reverts(
        book, "listCollateral", token, "gold", sender=bob,
        error="AccessControlUnauthorizedAccount", account=bob, neededRole=role,
    )  # fmt: skip
    assert_reverts(book, "listCollateral", token, "gold", sender=gov,
                   error="CollateralAlreadyListed", token=token)  # fmt: skip
    assert_reverts(book, "listCollateral", lending.asset, "usd", sender=gov,
                   error="UnsupportedCollateral", token=lending.asset)  # fmt: skip
    zero = "0x" + "00" * 20
    assert_reverts(book, "listCollateral", zero, "x", sender=gov, error="ZeroAddress")
    fresh = gov.deploy(project.MockRWAToken, "Real Estate", "mRE", 18, gov)
    assert_reverts(book, "listCollateral", fresh, "estate", sender=gov,
                   error="FeedNotSet", token=fresh)  # fmt: skip
    feed = gov.deploy(project.MockAggregator, 8, "RE / USD", 100 * FEED_UNIT, gov)
    lending.vs.router.setFeed(fresh, feed, sender=gov)
    # The four parameters must exist, each reported by its key.
    for prefix in ("lend.ltvBps.", "lend.liqThresholdBps.", "lend.liqBonusBps.", "lend.borrowCap."):
        assert_reverts(
            book, "listCollateral", fresh, "estate", sender=gov,
            error="CollateralParameterUndefined", key=key(prefix + "estate"),
        )  # fmt: skip
        lending.vs.registry.defineParameter(prefix + "estate", 1_000, 0, 10**18, 0, 0, sender=gov)
    # Coarse units (fewer than 6 decimals): a liquidation might not buy a single unit.
    deed = gov.deploy(project.MockRWAToken, "Deed", "DEED", 5, gov)
    lending.vs.router.setFeed(deed, feed, sender=gov)
    assert_reverts(book, "listCollateral", deed, "estate", sender=gov,
                   error="UnsupportedCollateral", token=deed)  # fmt: skip
    tx = book.listCollateral(fresh, "estate", sender=gov)
    assert tx.events[-1].event_name == "CollateralListed"
    assert book.collateralName(fresh) == "estate"
    assert book.collateralTokens()[-1] == fresh.address


def test_unlisted_token_is_refused_everywhere(project, lending, book, gov, bob):
    stray = gov.deploy(project.MockRWAToken, "Stray", "STR", 18, gov)
    for method, args in (
        ("depositCollateral", (stray, 1)),
        ("withdrawCollateral", (stray, 1)),
        ("collateralName", (stray,)),
        ("capUsage", (stray,)),
    ):
        assert_reverts(book, method, *args, sender=bob, error="UnsupportedCollateral")


def test_only_the_vault_moves_the_books_cash(book, bob):
    assert_reverts(book, "deposit", 1, sender=bob, error="OnlyVault", caller=bob)
    assert_reverts(book, "withdraw", 1, sender=bob, error="OnlyVault", caller=bob)


# ------------------------------------------------------------------ collateral


def test_deposit_and_withdraw_collateral(lending, book, bob):
    tokens = lending.buy_collateral(bob, "gold", 100_000 * USDC)
    gold = lending.token("gold")
    assert_reverts(book, "depositCollateral", gold, 0, sender=bob, error="ZeroAmount")
    tx = book.depositCollateral(gold, tokens, sender=bob)
    ev = tx.events[-1]
    assert (ev.event_name, ev.borrower, ev.token, ev.amount) == (
        "CollateralDeposited", bob.address, gold.address, tokens,
    )  # fmt: skip
    assert book.collateralOf(bob, gold) == tokens
    assert gold.balanceOf(book) == tokens
    pos = book.positionOf(bob)
    assert (pos.debt, pos.principal, list(pos.tokens), list(pos.amounts)) == (
        0, 0, [gold.address], [tokens],
    )  # fmt: skip
    assert book.borrowPower(bob) == gold_value(tokens) * 7_000 // 10_000
    assert book.healthFactor(bob) == MAX_UINT
    assert_reverts(book, "withdrawCollateral", gold, 0, sender=bob, error="ZeroAmount")
    assert_reverts(
        book, "withdrawCollateral", gold, tokens + 1, sender=bob,
        error="InsufficientCollateralBalance", token=gold, requested=tokens + 1,
        held=tokens,
    )  # fmt: skip
    tx = book.withdrawCollateral(gold, tokens, sender=bob)
    assert tx.events[-1].event_name == "CollateralWithdrawn"
    assert gold.balanceOf(bob) == tokens
    assert list(book.positionOf(bob).tokens) == []
    # The book's value is the vault's: collateral is the borrowers', never an asset.
    assert book.totalAssets() == CASH


def test_withdrawal_must_stay_within_ltv(lending, book, bob, chain):
    tokens = lending.open_position(bob, "gold", 100_000 * USDC, 60_000 * USDC)
    chain.pending_timestamp = chain.blocks.head.timestamp  # the call in the borrow's second
    gold = lending.token("gold")
    power = gold_value(tokens) * 7_000 // 10_000
    assert power == 70_000 * USDC
    # Keeping 60,000 of debt within 70% LTV needs 85,714.29 of gold: 14,285.71 may leave.
    free = tokens - (60_000 * USDC * 10_000 * 10**18 + 7_000 * 2_000 * USDC - 1) // (
        7_000 * 2_000 * USDC
    )
    err = revert_of(book, "withdrawCollateral", gold, free + 1, sender=bob)
    assert err is not None and err[0] == "InsufficientCollateral"
    assert err[1]["debt"] == 60_000 * USDC
    # Less a margin for the rounding of value and power (both down) and a few seconds' interest.
    book.withdrawCollateral(gold, free - 10**15, sender=bob)
    assert book.borrowPower(bob) >= book.debtOf(bob)


def test_withdrawal_with_debt_needs_a_fresh_price(lending, book, bob, gov, chain):
    lending.open_position(bob, "gold", 100_000 * USDC, 10_000 * USDC)
    gold, feed = lending.token("gold"), lending.feed("gold")
    now = chain.pending_timestamp + 10
    chain.pending_timestamp = now
    feed.setRound(feed.latestAnswer(), now - DAY - 1, sender=gov)
    assert_reverts(book, "withdrawCollateral", gold, 1, sender=bob,
                   error="StalePrice", token=gold)  # fmt: skip
    assert_reverts(book, "borrow", 1_000 * USDC, sender=bob, error="StalePrice")
    # Repaying never needs a price.
    lending.fund(bob, 1_000 * USDC)
    book.repay(MAX_UINT, bob, sender=bob)
    book.withdrawCollateral(gold, 1, sender=bob)  # no debt left: no price needed


def test_second_token_enters_and_leaves_the_position(lending, book, bob):
    lending.open_position(bob, "gold", 100_000 * USDC, 50_000 * USDC)
    tbill, gold = lending.token("tbill"), lending.token("gold")
    got = lending.buy_collateral(bob, "tbill", 10_000 * USDC)
    book.depositCollateral(tbill, got, sender=bob)
    assert list(book.positionOf(bob).tokens) == [tbill.address, gold.address]
    # A deposit behind debt attributes the principal again, pro rata to borrow power: T-bills
    # 10,000 x 80%, gold 100,000 x 70%.
    weights = (10_000 * USDC * 8_000, 100_000 * USDC * 7_000)
    share = 50_000 * USDC * weights[0] // sum(weights)
    assert book.capUsage(tbill) == share and book.capUsage(gold) == 50_000 * USDC - share
    book.borrow(1_000 * USDC, sender=bob)
    share = 51_000 * USDC * weights[0] // sum(weights)
    assert book.capUsageOf(bob, tbill) == book.capUsage(tbill) == share
    assert book.capUsageOf(bob, gold) == book.capUsage(gold) == 51_000 * USDC - share
    book.withdrawCollateral(tbill, got, sender=bob)
    assert book.capUsage(tbill) == book.capUsageOf(bob, tbill) == 0
    assert book.capUsage(gold) == 51_000 * USDC


# ------------------------------------------------------------------ borrowing


def test_borrow(lending, book, bob):
    lending.buy_collateral(bob, "gold", 100_000 * USDC)
    gold = lending.token("gold")
    book.depositCollateral(gold, gold.balanceOf(bob), sender=bob)
    before = lending.asset.balanceOf(bob)
    vault_before = lending.vault.totalAssets()
    tx = book.borrow(60_000 * USDC, sender=bob)
    ev = tx.events[-1]
    assert (ev.event_name, ev.borrower, ev.amount, ev.debt) == (
        "Borrowed", bob.address, 60_000 * USDC, 60_000 * USDC,
    )  # fmt: skip
    assert lending.asset.balanceOf(bob) - before == 60_000 * USDC
    assert book.debtOf(bob) == 60_000 * USDC
    assert book.cash() == CASH - 60_000 * USDC
    assert book.totalDebt() == 60_000 * USDC
    assert book.positionOf(bob).principal == 60_000 * USDC
    assert book.capUsage(gold) == 60_000 * USDC
    # Lending moves cash into debt: the vault's value does not change.
    assert lending.vault.totalAssets() == vault_before
    # 100,000 of gold at a 75% threshold behind 60,000: health 1.25.
    assert book.healthFactor(bob) == 125 * WAD // 100
    # The rate follows utilization (60/900 of the 80% kink): 1% + 4% * 0.0667 / 0.8.
    util = 60_000 * USDC * WAD // CASH
    assert book.utilization() == util
    assert book.borrowRate() == 100 * 10**14 + 400 * 10**14 * util // (8_000 * 10**14)


def test_borrow_refusals(lending, book, bob, carol, gov):
    assert_reverts(book, "borrow", 0, sender=bob, error="ZeroAmount")
    # No collateral at all.
    assert_reverts(book, "borrow", 1_000 * USDC, sender=bob, error="InsufficientCollateral",
                   debt=1_000 * USDC, borrowPower=0)  # fmt: skip
    lending.open_position(bob, "gold", 100_000 * USDC, 0)
    assert_reverts(book, "borrow", 70_000 * USDC + 1, sender=bob,
                   error="InsufficientCollateral", borrowPower=70_000 * USDC)  # fmt: skip
    assert_reverts(book, "borrow", 99 * USDC, sender=bob, error="DebtBelowMinimum",
                   debt=99 * USDC, minDebt=100 * USDC)  # fmt: skip
    assert_reverts(book, "borrow", CASH + 1, sender=bob, error="InsufficientCash",
                   requested=CASH + 1, cash=CASH)  # fmt: skip
    lending.set_param("lend.borrowCap.gold", 50_000 * USDC)
    gold = lending.token("gold")
    assert_reverts(book, "borrow", 50_000 * USDC + 1, sender=bob, error="BorrowCapExceeded",
                   token=gold, principal=50_000 * USDC + 1, cap=50_000 * USDC)  # fmt: skip
    book.borrow(50_000 * USDC, sender=bob)
    # The cap counts principal across borrowers.
    lending.open_position(carol, "gold", 10_000 * USDC, 0)
    assert_reverts(book, "borrow", 1_000 * USDC, sender=carol, error="BorrowCapExceeded")
    # A cap of 0 stops new borrowing against the token; adding collateral still works.
    lending.set_param("lend.borrowCap.gold", 0)
    lending.buy_collateral(carol, "gold", 1_000 * USDC)
    book.depositCollateral(gold, gold.balanceOf(carol), sender=carol)


def test_borrow_cap_counts_the_share_each_token_backs(lending, book, bob):
    lending.open_position(bob, "gold", 100_000 * USDC, 0)
    lending.open_position(bob, "tbill", 10_000 * USDC, 0)
    lending.set_param("lend.borrowCap.tbill", 5_000 * USDC)
    tbill, gold = lending.token("tbill"), lending.token("gold")
    # The T-bills back 80 / 780 of any debt: 50,000 puts 5,128.2 on them, past their cap.
    weights = (10_000 * USDC * 8_000, 100_000 * USDC * 7_000)
    share = 50_000 * USDC * weights[0] // sum(weights)
    assert_reverts(book, "borrow", 50_000 * USDC, sender=bob, error="BorrowCapExceeded",
                   token=tbill, principal=share, cap=5_000 * USDC)  # fmt: skip
    # maxBorrow is what the cap allows (rounding kept on the safe side), and borrow agrees.
    room = book.maxBorrow(bob)
    assert room == (5_000 * USDC - 1) * sum(weights) // weights[0]
    book.borrow(room, sender=bob)
    assert book.capUsage(tbill) == room * weights[0] // sum(weights) <= 5_000 * USDC
    assert book.capUsage(tbill) + book.capUsage(gold) == book.positionOf(bob).principal == room


def test_moving_debt_onto_a_capped_token_is_a_borrow_against_it(lending, book, bob):
    lending.set_param("lend.borrowCap.gold", 0)
    tbill, gold = lending.token("tbill"), lending.token("gold")
    bills = lending.open_position(bob, "tbill", 130_000 * USDC, 100_000 * USDC)
    bars = lending.buy_collateral(bob, "gold", 200_000 * USDC)
    # Posting gold behind the debt rests part of it on gold (pro rata to borrow power): a borrow
    # against gold, past its cap of 0.
    assert_reverts(book, "depositCollateral", gold, bars, sender=bob, error="BorrowCapExceeded",
                   token=gold, cap=0)  # fmt: skip
    lending.set_param("lend.borrowCap.gold", 10**9 * USDC)
    book.depositCollateral(gold, bars, sender=bob)
    on_gold = book.capUsage(gold)
    assert 0 < on_gold < 100_000 * USDC and book.capUsage(tbill) == 100_000 * USDC - on_gold
    lending.set_param("lend.borrowCap.gold", 0)  # a cap closed under a share: no more on gold
    # Taking the T-bills out would leave the debt on gold alone...
    assert_reverts(book, "withdrawCollateral", tbill, bills, sender=bob, error="BorrowCapExceeded",
                   token=gold, principal=100_000 * USDC, cap=0)  # fmt: skip
    # ...and taking half of them would rest 140 / 192 of it on gold.
    assert_reverts(book, "withdrawCollateral", tbill, bills // 2, sender=bob,
                   error="BorrowCapExceeded", token=gold, cap=0)  # fmt: skip
    # Taking the gold back out is fine: the debt goes back to the T-bills.
    book.withdrawCollateral(gold, bars, sender=bob)
    assert book.capUsage(tbill) == 100_000 * USDC and book.capUsage(gold) == 0
    lending.set_param("lend.borrowCap.gold", 10**9 * USDC)
    book.depositCollateral(gold, bars, sender=bob)
    book.withdrawCollateral(tbill, bills, sender=bob)
    assert book.capUsage(tbill) == 0 and book.capUsage(gold) == 100_000 * USDC


def test_borrow_refuses_above_what_the_book_holds_even_if_the_vault_has_more(lending, book, bob):
    lending.vs.deposit(bob, 500_000 * USDC)  # idle in the vault, not the book's cash
    lending.open_position(bob, "tbill", 2_000_000 * USDC, 0)
    assert_reverts(book, "borrow", CASH + 1, sender=bob, error="InsufficientCash")
    book.borrow(CASH, sender=bob)
    assert book.cash() == 0
    assert book.availableLiquidity() == 0
    # Utilization 100%: 1% + 4% + 60%.
    assert book.borrowRate() == (100 + 400 + 6_000) * 10**14


# ------------------------------------------------------------------ repaying and interest


def test_interest_accrues_and_repay_pays_it_first(lending, book, bob, chain):
    lending.open_position(bob, "gold", 200_000 * USDC, 100_000 * USDC)
    gold = lending.token("gold")
    chain.mine(timestamp=chain.pending_timestamp + 365 * DAY)
    debt = book.debtOf(bob)
    interest = debt - 100_000 * USDC
    # About the rate for a year: 1% + 4% * (100/900) / 0.8 = 1.555...%, linear.
    assert 1_550 * USDC <= interest <= 1_560 * USDC
    assert book.totalDebt() <= debt  # the book counts no more than the borrower owes
    lending.fund(bob, interest)
    tx = book.repay(interest, bob, sender=bob)
    ev = tx.events[-1]
    assert (ev.event_name, ev.borrower, ev.payer, ev.amount) == (
        "Repaid", bob.address, bob.address, interest,
    )  # fmt: skip
    # Interest first: the principal, and so the cap usage, is untouched.
    assert book.positionOf(bob).principal == 100_000 * USDC
    assert book.capUsage(gold) == 100_000 * USDC
    # What is left is the principal plus the interest of the seconds the repay took to mine.
    assert 100_000 * USDC <= book.debtOf(bob) <= 100_000 * USDC + USDC
    lending.fund(bob, 50_000 * USDC)
    book.repay(50_000 * USDC, bob, sender=bob)
    assert book.positionOf(bob).principal == book.debtOf(bob)
    assert book.capUsage(gold) == book.debtOf(bob)


def test_repay_all_on_behalf_of_someone_else(lending, book, bob, carol, chain):
    lending.open_position(bob, "gold", 200_000 * USDC, 100_000 * USDC)
    chain.mine(timestamp=chain.pending_timestamp + 10 * DAY)
    lending.fund(carol, 200_000 * USDC)
    before = lending.asset.balanceOf(carol)
    cash_before = book.cash()
    tx = book.repay(MAX_UINT, bob, sender=carol)
    ev = tx.events[-1]
    assert (ev.borrower, ev.payer, ev.debt) == (bob.address, carol.address, 0)
    paid = before - lending.asset.balanceOf(carol)
    assert paid == ev.amount > 100_000 * USDC
    assert book.debtOf(bob) == 0
    assert book.totalDebt() == 0
    assert book.cash() == cash_before + paid
    assert book.capUsage(lending.token("gold")) == 0
    assert book.positionOf(bob).principal == 0
    # The book earned every wei the borrower paid: its value is cash again.
    assert book.totalAssets() == book.cash() == CASH + paid - 100_000 * USDC


def test_repay_refusals(lending, book, bob, carol):
    zero = "0x" + "00" * 20
    assert_reverts(book, "repay", 0, bob, sender=carol, error="ZeroAmount")
    assert_reverts(book, "repay", 1, zero, sender=carol, error="ZeroAddress")
    assert_reverts(book, "repay", 1, bob, sender=carol, error="NoDebt", borrower=bob)
    lending.open_position(bob, "gold", 200_000 * USDC, 1_000 * USDC)
    lending.fund(carol, 10_000 * USDC)
    # 1,000 - 901 leaves 99 < lend.minDebt (100): dust nobody would liquidate.
    assert_reverts(book, "repay", 901 * USDC, bob, sender=carol, error="DustDebt",
                   minDebt=100 * USDC)  # fmt: skip
    book.repay(900 * USDC, bob, sender=carol)
    # What is left: 100, plus the interest of the seconds between blocks (a wei or so each).
    assert 100 * USDC <= book.debtOf(bob) <= 100 * USDC + 100
    # A debt already below the minimum (raised by governance) may be paid down freely.
    lending.set_param("lend.minDebt", 500 * USDC)
    book.repay(50 * USDC, bob, sender=carol)
    assert 50 * USDC <= book.debtOf(bob) <= 50 * USDC + 100


def test_rate_parameter_changes_apply_from_the_next_action(lending, book, bob, chain):
    lending.open_position(bob, "gold", 200_000 * USDC, 100_000 * USDC)
    rate = book.borrowRate()
    lending.set_param("lend.rate.baseBps", 1_000)
    assert book.borrowRate() == rate  # stored: the next action re-reads the model
    book.accrueInterest(sender=bob)
    # +900 bps, plus the slope's share of the utilization the seconds' interest added.
    assert 0 <= book.borrowRate() - rate - 900 * 10**14 < 10**10


def test_idle_book_earns_nothing_and_returns_index_is_flat(lending, book, chain):
    chain.mine(timestamp=chain.pending_timestamp + 100 * DAY)
    assert book.returnIndex() == WAD
    assert book.totalAssets() == CASH


def test_supply_index_tracks_the_books_return(lending, book, bob, chain):
    lending.open_position(bob, "gold", 200_000 * USDC, 100_000 * USDC)
    before = book.totalAssets()
    chain.mine(timestamp=chain.pending_timestamp + 180 * DAY)
    after = book.totalAssets()
    growth = book.returnIndex() * before // WAD
    # One accrual step: the index grows by interest / supply, rounded down.
    assert after - 2 <= growth <= after


# ------------------------------------------------------------------ the vault's side


def test_vault_recalls_cash_but_never_lent_money(lending, book, bob, accounts, chain):
    alice = accounts[6]
    lending.open_position(bob, "tbill", 2_000_000 * USDC, 800_000 * USDC)
    assert book.availableLiquidity() == 100_000 * USDC
    assert lending.vault.liquidity() == 200_000 * USDC  # 100,000 idle + the book's cash
    # Alice asks to redeem everything: the strike pays what idle and the book's cash hold and
    # never recalls lent money; the rest stays queued.
    vault = lending.vault
    shares = vault.balanceOf(alice)
    vault.requestRedeem(shares, alice, alice, sender=alice)
    struck = settled(lending.vs.strike(sender=bob), vault)
    assert 200_000 * USDC - 2 <= struck["redeemAssets"] <= 200_000 * USDC
    assert book.cash() <= 2  # all of it, but the shares' rounding
    assert book.totalDebt() >= 800_000 * USDC
    assert vault.pendingRedeemRequest(0, alice) == shares - struck["redeemShares"] > 0
    # The rest waits for repayments: the queued request is filled when the borrower repays.
    lending.fund(bob, 10_000 * USDC)
    book.repay(MAX_UINT, bob, sender=bob)
    ok, data = vault.strikeTrigger()
    assert ok
    vault(sender=bob, data=data)
    assert vault.pendingRedeemRequest(0, alice) == 0
    assert vault.claimableRedeemRequest(0, alice) == shares
    vault.redeem(shares, alice, alice, sender=alice)
    assert vault.balanceOf(alice) == vault.maxRedeem(alice) == 0


def test_vault_rebalance_recalls_cash(lending, book, chain):
    vault = lending.vault
    chain.mine(timestamp=chain.pending_timestamp + DAY)
    lending.vs.rebalance([0, 0, 0, 8_000])  # the vault pulls 100,000 back
    assert book.cash() == 800_000 * USDC
    assert lending.asset.balanceOf(book) == 800_000 * USDC
    assert vault.idle() == 200_000 * USDC


def test_donations_are_not_assets(lending, book, carol):
    lending.asset.faucet(book, 5_000 * USDC, sender=carol)
    assert book.totalAssets() == CASH
    assert book.availableLiquidity() == CASH


def test_a_book_never_funded_counts_nothing(project, lending, gov):
    empty = gov.deploy(
        project.LendingSleeve, lending.vault, lending.vs.registry, lending.vs.router,
        lending.irm, gov,
    )  # fmt: skip
    assert empty.totalAssets() == 0
    assert empty.returnIndex() == WAD
    assert empty.utilization() == 0
    with ape.reverts(empty.ZeroAddress):
        gov.deploy(project.LendingSleeve, lending.vault, lending.vs.registry, lending.vs.router,
                   "0x" + "00" * 20, gov)  # fmt: skip


# ------------------------------------------------------------------ maxBorrow


@settings(max_examples=15)
@given(
    name=st.sampled_from(list(COLLATERAL)),
    collateral=st.integers(200, 500_000),
    first_bps=st.integers(0, 9_000),
    days=st.integers(0, 400),
)
def test_max_borrow_is_always_accepted_and_reaches_the_ltv(
    lending, book, bob, chain, name, collateral, first_bps, days
):
    with isolated(chain):
        got = lending.buy_collateral(bob, name, collateral * USDC)
        book.depositCollateral(lending.token(name), got, sender=bob)
        first = book.borrowPower(bob) * first_bps // 10_000
        if first >= 100 * USDC:
            book.borrow(first, sender=bob)
        chain.mine(timestamp=chain.pending_timestamp + days * DAY)
        lending.set_nav(name, lending.feed(name).latestAnswer())  # the daily NAV publication
        # `maxBorrow` is for now: the borrow below lands in the same second as this view.
        chain.pending_timestamp = chain.blocks.head.timestamp
        room = book.maxBorrow(bob)
        if room == 0:
            # Nothing to borrow: the debt is at the LTV already, or the position too small.
            assert book.borrowPower(bob) < book.debtOf(bob) + 100 * USDC + 3
            return
        book.borrow(room, sender=bob)
        # LTV-bound here (cash and caps are far larger): the debt lands within the rounding.
        assert 0 <= book.borrowPower(bob) - book.debtOf(bob) <= 3


def test_max_borrow_respects_cash_caps_staleness_and_minimum(lending, book, bob, chain, gov):
    assert book.maxBorrow(bob) == 0  # no collateral
    lending.open_position(bob, "tbill", 2_000_000 * USDC, 0)
    assert book.maxBorrow(bob) == CASH  # the book's cash binds
    lending.set_param("lend.borrowCap.tbill", 300_000 * USDC)
    assert book.maxBorrow(bob) == 300_000 * USDC  # the cap binds
    book.borrow(300_000 * USDC, sender=bob)
    assert book.maxBorrow(bob) == 0
    lending.set_param("lend.borrowCap.tbill", 300_050 * USDC)
    assert book.maxBorrow(bob) == 50 * USDC  # below lend.minDebt alone, fine with the debt
    feed = lending.feed("tbill")
    now = chain.pending_timestamp + 10
    chain.pending_timestamp = now
    feed.setRound(feed.latestAnswer(), now - DAY - 1, sender=gov)
    assert book.maxBorrow(bob) == 0  # borrow would revert StalePrice


def test_at_most_sixteen_collateral_tokens(project, lending, book, gov):
    registry = lending.vs.registry
    feed = gov.deploy(project.MockAggregator, 8, "ANY / USD", FEED_UNIT, gov)

    def new_token(i: int):
        token = gov.deploy(project.MockRWAToken, f"RWA {i}", f"R{i}", 18, gov)
        lending.vs.router.setFeed(token, feed, sender=gov)
        for prefix in ("lend.ltvBps.", "lend.liqThresholdBps.", "lend.liqBonusBps.",
                       "lend.borrowCap."):  # fmt: skip
            registry.defineParameter(f"{prefix}r{i}", 1_000, 0, 10**18, 0, 0, sender=gov)
        return token

    while len(book.collateralTokens()) < book.MAX_COLLATERALS():
        i = len(book.collateralTokens())
        book.listCollateral(new_token(i), f"r{i}", sender=gov)
    extra = new_token(99)
    assert_reverts(book, "listCollateral", extra, "r99", sender=gov,
                   error="TooManyCollaterals", max=16)  # fmt: skip


def test_vault_side_checks_its_own_cash(lending, book, accounts, chain):
    """The vault sends cash before calling `deposit`; a call without it is refused, and a
    withdrawal larger than the cash sends what there is (ISleeve's best effort)."""
    vault = accounts[lending.vault.address]  # impersonated: anvil lets a test act as the vault
    chain.provider.set_balance(vault.address, 10**18)  # gas money (the vault takes no ether)
    assert_reverts(book, "deposit", 1, sender=vault, error="MissingAssets",
                   expected=CASH + 1, held=CASH)  # fmt: skip
    before = lending.asset.balanceOf(vault)
    tx = book.withdraw(CASH + 1, sender=vault)
    assert tx.return_value == CASH
    assert lending.asset.balanceOf(vault) - before == CASH
    assert book.cash() == book.totalAssets() == 0
    assert book.withdraw(1, sender=vault).return_value == 0


def test_an_invalid_price_stops_borrowing_not_repaying(lending, book, bob, gov):
    lending.open_position(bob, "gold", 100_000 * USDC, 10_000 * USDC)
    gold = lending.token("gold")
    lending.set_nav("gold", 0)
    assert_reverts(book, "borrow", 1_000 * USDC, sender=bob, error="InvalidPrice", token=gold)
    assert_reverts(book, "withdrawCollateral", gold, 1, sender=bob, error="InvalidPrice")
    lending.fund(bob, 1_000 * USDC)
    book.repay(MAX_UINT, bob, sender=bob)
    assert book.debtOf(bob) == 0


def test_no_new_loans_once_the_vault_shuts_down(lending, book, bob, accounts):
    lending.open_position(bob, "gold", 100_000 * USDC, 10_000 * USDC)
    lending.vault.shutdown(sender=accounts[1])  # the guardian
    assert book.maxBorrow(bob) == 0
    assert_reverts(book, "borrow", 1_000 * USDC, sender=bob, error="VaultIsShutdown")
    # Everything else goes on: repaying, and anyone unwinding the book's cash to the vault.
    lending.fund(bob, 1_000 * USDC)
    book.repay(MAX_UINT, bob, sender=bob)
    lending.vault.unwind(book, MAX_UINT, sender=bob)
    assert book.cash() == 0
    assert lending.vault.idle() == lending.vault.totalAssets()
