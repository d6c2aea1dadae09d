"""Attacks through the oracle: zero, negative, stale and extreme-deviation answers.

A feed that answers 0 or a negative number would value collateral and a sleeve at nothing:
whoever acts on it seizes every position's collateral for a token repayment or buys vault
shares for a fraction of their worth. A feed that stopped updating after a crash lets a
borrower borrow against yesterday's value, and a depositor trade shares against a NAV nobody
can verify. The OracleRouter turns such answers into `InvalidPrice(token, answer)` and
`StalePrice(token, updatedAt)`; each consumer refuses to act on them: the vault's strikes do not
settle deposits (`StrikeNotReady(sleeve, ...)`), its rebalances revert (`StaleValuation(sleeve)`),
the lending book refuses borrows, collateral withdrawals and liquidations. Users' exits keep
working: a redemption waits `vault.strikeMaxWait`, then is settled with the stale sleeve valued
at its last price less `vault.staleHaircutBps`.

An extreme but valid move (beyond `oracle.maxDeviationBps`) is reported, not blocked: the
router's `deviationTrigger` asks for a `poke`, which emits `PriceDeviation`; the sentinel (the
guardian) pauses automation; liquidations keep working on the fresh price. What is NOT defended
on chain is marked xfail(strict): a borrow priced by the deviating answer before anyone looked at
it. A deposit is not: a strike prices deposits at the high end of the router's band (the
accepted price while a move beyond the bound is unconfirmed).

The market: 1,000,000 deposited; 30% in the gold sleeve (NAV 2,000), 60% lent; bob has posted
50 gold (100,000) and borrowed 70,000 (threshold 75%: health 1.071). Rates are 0 and the
rebalance cooldown 0, so every refusal below is the oracle's, not interest's or the clock's.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.lending_support import FEED_UNIT, MAX_UINT, USDC, WAD, deploy_lending_system
from tests.vault_support import NO_EPOCH, assert_reverts, revert_of, settled

GOLD = 10**18
BOB_GOLD = 50 * GOLD
BOB_DEBT = 70_000 * USDC
GOLD_NAV = 2_000 * FEED_UNIT
TARGETS = [0, 3_000, 0, 6_000]  # tbill, gold, invoices, lending
RATIONALE = keccak(text="oracle attack")
STRIKE_MAX_WAIT = 3 * 86_400  # vault.strikeMaxWait in the test fixtures
HAIRCUT_BPS = 500  # vault.staleHaircutBps in the test fixtures


@pytest.fixture(scope="module")
def lending(project, accounts):
    system = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    for name in ("lend.rate.baseBps", "lend.rate.slope1Bps", "lend.rate.slope2Bps"):
        system.set_param(name, 0)
    system.set_param("vault.rebalanceCooldown", 0)
    system.vs.deposit(accounts[6], 1_000_000 * USDC)
    system.vs.rebalance(TARGETS)
    bob = accounts[7]
    system.open_position(bob, "gold", 100_000 * USDC, BOB_DEBT)
    system.fund(accounts[9], 1_000_000 * USDC)  # the liquidator
    return system


@pytest.fixture(scope="module")
def alice(accounts):
    return accounts[6]  # the depositor


@pytest.fixture(scope="module")
def bob(accounts):
    return accounts[7]  # the borrower


@pytest.fixture(scope="module")
def mallory(accounts):
    return accounts[8]  # the attacker


@pytest.fixture(scope="module")
def keeper(accounts):
    return accounts[9]


def publish_all_but_gold(lending, chain) -> None:
    """A new round of every feed but gold's (broken), at least a second after the last block."""
    head = chain.blocks.head.timestamp
    if chain.pending_timestamp <= head:
        chain.pending_timestamp = head + 1
    for s in lending.vs.sleeves:
        if s.name != "gold":
            s.feed.setAnswer(s.feed.latestAnswer(), sender=lending.vs.governance)


def break_feed(lending, chain, fault: str) -> tuple[str, dict]:
    """Makes gold's feed answer as `fault` says: 0, -2,000, or its last answer (2,000) stamped
    one second past `oracle.maxStaleness`; returns the router's error and its inputs."""
    feed, gov = lending.feed("gold"), lending.vs.governance
    if fault == "zero":
        feed.setAnswer(0, sender=gov)
        return "InvalidPrice", {"answer": 0}
    if fault == "negative":
        feed.setAnswer(-GOLD_NAV, sender=gov)
        return "InvalidPrice", {"answer": -GOLD_NAV}
    now = chain.pending_timestamp + 10
    chain.pending_timestamp = now
    updated = now - lending.vs.registry.get(keccak(text="oracle.maxStaleness")) - 1
    feed.setRound(GOLD_NAV, updated, sender=gov)  # the last answer before the feed went silent
    return "StalePrice", {"updatedAt": updated}


@pytest.mark.parametrize("fault", ["zero", "negative", "stale"])
def test_a_broken_feed_answer_moves_no_funds_in_vault_book_or_rebalance(
    lending, chain, alice, bob, mallory, keeper, fault
):
    """zero / negative / stale gold answer: no deposit settles, nobody borrows, withdraws
    collateral, liquidates or rebalances on it; alice's redemption settles once
    `vault.strikeMaxWait` has passed, with gold valued at its last price less the haircut, and
    bob repays. Once the feed answers again, the same calls go through (the refusals were the
    oracle's)."""
    vault, book, router = lending.vault, lending.book, lending.vs.router
    gold, gold_sleeve = lending.token("gold"), lending.vs.sleeve("gold").sleeve
    error, inputs = break_feed(lending, chain, fault)

    assert_reverts(router, "price", gold, sender=mallory, error=error, token=gold, **inputs)
    # The vault: no deposit priced on an unverifiable NAV, no rebalance, no redemption of gold.
    lending.vs.fund(mallory, 100_000 * USDC)
    vault.requestDeposit(100_000 * USDC, mallory, mallory, sender=mallory)
    shares = vault.convertToShares(10_000 * USDC)
    request = vault.requestRedeem(shares, alice, alice, sender=alice)
    publish_all_but_gold(lending, chain)
    assert_reverts(vault, "strike", sender=keeper, error="StrikeNotReady", sleeve=gold_sleeve,
                   requestedAt=request.timestamp,
                   staleReadyAt=request.timestamp + STRIKE_MAX_WAIT)  # fmt: skip
    assert_reverts(vault, "rebalance", [0, 0, 0, 9_000], RATIONALE, "", sender=lending.vs.allocator,
                   error="StaleValuation", sleeve=gold_sleeve)  # fmt: skip
    assert gold_sleeve.availableLiquidity() == 0
    # The book: no borrow, no collateral out, no liquidation at that price.
    assert book.maxBorrow(bob) == 0
    assert_reverts(book, "borrow", 1_000 * USDC, sender=bob, error=error, token=gold)
    assert_reverts(book, "withdrawCollateral", gold, GOLD, sender=bob, error=error, token=gold)
    assert_reverts(book, "liquidate", bob, gold, MAX_UINT, sender=keeper, error=error, token=gold)
    assert not book.liquidationTrigger(bob)[0]

    # Exits do not freeze: after vault.strikeMaxWait alice's redemption settles from idle, gold
    # at its last price less the haircut (she bears the doubt); mallory's deposit still waits.
    chain.pending_timestamp = request.timestamp + STRIKE_MAX_WAIT
    publish_all_but_gold(lending, chain)
    nav, supply = vault.totalAssets(), vault.totalSupply()  # escrowed shares count till burned
    haircut = -(-gold_sleeve.totalAssets() * HAIRCUT_BPS // 10_000)
    tx = vault.strike(sender=keeper)
    struck = settled(tx, vault)
    assert struck["staleSleeves"] == 1 << 1  # gold
    assert struck["depositEpoch"] == NO_EPOCH and vault.pendingDeposits() == 100_000 * USDC
    assert struck["redeemShares"] == shares
    assert struck["redeemAssets"] == shares * (nav - haircut + 1) // (supply + 10**12)
    cash = lending.asset.balanceOf(alice)
    vault.redeem(shares, alice, alice, sender=alice)
    assert lending.asset.balanceOf(alice) == cash + struck["redeemAssets"]
    lending.fund(bob, 10_000 * USDC)
    book.repay(10_000 * USDC, bob, sender=bob)
    assert book.debtOf(bob) == BOB_DEBT - 10_000 * USDC
    assert book.collateralOf(bob, gold) == BOB_GOLD

    lending.set_nav("gold", GOLD_NAV)  # the feed answers again
    for call, args, sender in (
        (vault, ("strike",), keeper),
        (book, ("borrow", 1_000 * USDC), bob),
        (vault, ("rebalance", [0, 2_000, 0, 7_000], RATIONALE, ""), lending.vs.allocator),
    ):
        assert revert_of(call, *args, sender=sender) is None


def test_an_extreme_move_is_reported_automation_paused_and_liquidations_go_on(
    lending, alice, bob, mallory, keeper
):
    """Gold falls 20% in one valid round (beyond oracle.maxDeviationBps = 10%). The attacker's
    hope: an agent rebalancing into the shock, or liquidations frozen while it unfolds. The
    router reports it (`deviationTrigger` → `poke` → `PriceDeviation`), the sentinel pauses
    automation, which stops agents but not users, and bob's position is liquidated at the
    fresh price."""
    vault, book, router = lending.vault, lending.book, lending.vs.router
    gold, guardian = lending.token("gold"), lending.vs.guardian
    last, accepted_at = router.lastPrice(gold)
    assert last == 2_000 * WAD

    lending.set_nav("gold", 1_600 * FEED_UNIT)
    should, data = router.deviationTrigger(gold)
    assert should and data == router.poke.encode_input(gold)
    tx = router(sender=keeper, data=data)
    (event,) = tx.events.filter(router.PriceDeviation)
    assert (event.token, event.lastPrice, event.newPrice, event.deviationBps) == (
        gold.address, 2_000 * WAD, 1_600 * WAD, 2_000,
    )  # fmt: skip
    assert router.lastPrice(gold)[0] == 1_600 * WAD

    vault.pauseAutomation(sender=guardian)  # the sentinel's answer to the event
    assert_reverts(vault, "rebalance", [0, 0, 0, 9_000], RATIONALE, "",
                   sender=lending.vs.allocator, error="AutomationIsPaused")  # fmt: skip
    lending.vs.deposit(mallory, 1_000 * USDC)  # users are not stopped: requests, strikes, claims
    cash = lending.asset.balanceOf(alice)
    lending.vs.redeem(alice, vault.convertToShares(1_000 * USDC))
    assert lending.asset.balanceOf(alice) > cash

    assert book.healthFactor(bob) == 80_000 * 7_500 * WAD // (70_000 * 10_000)  # 0.857
    repay, seized = book.previewLiquidation(bob, gold, MAX_UINT)
    assert repay == BOB_DEBT  # below lend.fullCloseHealthBps: the whole debt may go
    assert seized == BOB_DEBT * 10_800 * GOLD // (10_000 * 1_600 * USDC)  # 8% bonus: 47.25
    ok, call = book.liquidationTrigger(bob)
    assert ok
    book(sender=keeper, data=call)
    assert book.debtOf(bob) == BOB_DEBT - repay
    assert book.collateralOf(bob, gold) == BOB_GOLD - seized


MISSING_BORROW_DEFENCE = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="MISSING DEFENCE: an answer beyond oracle.maxDeviationBps is used at once by borrow; "
    "the router only reports it (DESIGN: reported so the sentinel can pause automation), and "
    "pausing automation stops agents, not borrowers",
)


@pytest.mark.parametrize(
    "consumer", [pytest.param("borrow", marks=MISSING_BORROW_DEFENCE), "deposit"]
)
def test_an_unconfirmed_extreme_answer_is_not_acted_on(lending, bob, mallory, consumer):
    """Gold's feed doubles (or halves) in one round that nobody has poked: a faulty or
    manipulated answer. Borrowing against the doubled collateral would let bob walk off with
    debt the collateral cannot cover; depositing at the halved NAV buys the other depositors'
    gold sleeve at half price. The defence this test asks for: while the latest answer is more
    than oracle.maxDeviationBps from the last accepted price, such calls are refused (or priced
    at the accepted price) until the move is confirmed. Deposits have it: the strike prices
    them at the band's high end (gold at the accepted 2,000), redemptions at its low end."""
    vault, book, router = lending.vault, lending.book, lending.vs.router
    gold = lending.token("gold")
    assert router.lastPrice(gold)[0] == 2_000 * WAD
    if consumer == "borrow":
        lending.set_nav("gold", 4_000 * FEED_UNIT)
        assert router.deviationTrigger(gold)[0]
        room = book.maxBorrow(bob)  # at the doubled price: 140,000 of power, 70,000 used
        assert room > 60_000 * USDC
        assert revert_of(book, "borrow", room, sender=bob) is not None
    else:
        price = (vault.totalAssets() + 1) * 10**36 // (vault.totalSupply() + 10**12)
        lending.set_nav("gold", 1_000 * FEED_UNIT)
        assert router.deviationTrigger(gold)[0]
        lending.vs.fund(mallory, 100_000 * USDC)
        vault.requestDeposit(100_000 * USDC, mallory, mallory, sender=mallory)
        lending.vs.publish_prices()  # gold still at 1,000, unconfirmed
        struck = settled(lending.vs.strike(sender=mallory), vault)
        assert struck["depositAssets"] == 100_000 * USDC
        # Mallory paid the price of gold at 2,000: no share bought at the halved NAV.
        assert struck["depositPrice"] == price
        assert struck["depositShares"] == 100_000 * USDC * 10**36 // price
