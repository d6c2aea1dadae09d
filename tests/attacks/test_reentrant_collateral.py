"""Attack: a hook-calling (ERC-777 style) collateral token re-enters the LendingSleeve.

A token that calls its holders during a transfer hands the attacker control in the middle of
the book's own call: after the book has credited or debited collateral, before or after the
tokens move. A book that read its state before such a transfer and wrote it after could be made
to lend against collateral it never received, release the same collateral twice or pay one
liquidation twice. `MockHookToken` is listed as collateral ("hook", 100.00 a token, LTV 70%,
threshold 75%, bonus 5%) and `ReentrantBorrower` arms one re-entry into the book from its
`tokensToSend` (before the balances move) or `tokensReceived` (after) hook.

The defence: every state-changing function of LendingSleeve is `nonReentrant` (OpenZeppelin's
transient ReentrancyGuard) and writes its state before it moves tokens. Each test shows the
re-entry refused with `ReentrancyGuardReentrantCall`, the outer call completed once, and the
book's accounting (collateral, debt, cash, token balances) exactly what one call makes it. A
control shows the very same armed call going through when the hook fires outside the book, so
the refusal is the guard's, not the hook's.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.lending_support import FEED_UNIT, MAX_UINT, USDC, WAD, deploy_lending_system
from tests.vault_support import define

TOKEN = 10**18
REENTRANT_CALL = keccak(text="ReentrancyGuardReentrantCall()")[:4]
# ReentrantBorrower's enums
TO_SEND, RECEIVED = 0, 1
BORROW, WITHDRAW_COLLATERAL, DEPOSIT_COLLATERAL, LIQUIDATE = 1, 2, 3, 4

HOOK_NAV = 100 * FEED_UNIT  # 100.00 a token
HOOK_RULES = {"ltvBps": 7_000, "liqThresholdBps": 7_500, "liqBonusBps": 500}
POSTED = 1_000 * TOKEN  # 100,000 of collateral: 70,000 of borrowing power
ZERO_ADDRESS = "0x" + "00" * 20


@pytest.fixture(scope="module")
def lending(project, accounts):
    system = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    for name in ("lend.rate.baseBps", "lend.rate.slope1Bps", "lend.rate.slope2Bps"):
        system.set_param(name, 0)  # no interest: every amount below is exact
    system.supply(accounts[6], 1_000_000 * USDC)
    return system


@pytest.fixture(scope="module")
def hook(project, lending, accounts):
    """The hook token, priced by its own feed and listed as the book's collateral "hook"."""
    gov = accounts[0]
    token = gov.deploy(project.MockHookToken, "Hooked RWA", "HOOK")
    feed = gov.deploy(project.MockAggregator, 8, "HOOK / USD", HOOK_NAV, gov)
    lending.vs.router.setFeed(token, feed, sender=gov)
    registry = lending.vs.registry
    for rule, value in HOOK_RULES.items():
        define(registry, gov, f"lend.{rule}.hook", value, 0, 10_000)
    define(registry, gov, "lend.borrowCap.hook", 10**9 * USDC, 0, 10**15 * USDC)
    lending.book.listCollateral(token, "hook", sender=gov)
    return token, feed


@pytest.fixture
def reentrant_borrower(project, lending, hook, accounts):
    """A ReentrantBorrower holding 2,000 hook tokens, owned by accounts[8]."""
    token, _ = hook
    contract = accounts[8].deploy(project.ReentrantBorrower, lending.book, token)
    token.mint(contract, 2 * POSTED, sender=accounts[8])
    return contract


def owner_of(reentrant_borrower, accounts):
    return next(a for a in accounts if a.address == reentrant_borrower.owner())


def refused_by_the_guard(reentrant_borrower) -> None:
    assert reentrant_borrower.attempts() == 1
    assert not reentrant_borrower.lastSucceeded()
    assert bytes(reentrant_borrower.lastError()) == REENTRANT_CALL


def book_state(lending, token, who) -> tuple:
    book = lending.book
    return (
        book.collateralOf(who, token),
        book.debtOf(who),
        book.cash(),
        book.totalDebt(),
        token.balanceOf(book),
        token.balanceOf(who),
        lending.asset.balanceOf(who),
    )


@pytest.mark.parametrize(
    "action, amount",
    [(BORROW, 50_000 * USDC), (WITHDRAW_COLLATERAL, POSTED), (DEPOSIT_COLLATERAL, POSTED)],
    ids=["borrow", "withdraw-collateral", "deposit-collateral"],
)
def test_reentry_while_collateral_is_being_posted_is_refused(
    lending, hook, reentrant_borrower, accounts, action, amount
):
    """The sender's hook runs after the book has credited the collateral and before the tokens
    arrive: a borrow or a withdrawal there would use collateral the book does not hold yet, a
    second deposit would be credited twice against one transfer. All are refused and the book
    ends exactly as after one plain deposit."""
    token, _ = hook
    owner = owner_of(reentrant_borrower, accounts)
    before = book_state(lending, token, reentrant_borrower)
    reentrant_borrower.arm(TO_SEND, action, amount, ZERO_ADDRESS, sender=owner)
    reentrant_borrower.depositCollateral(POSTED, sender=owner)
    refused_by_the_guard(reentrant_borrower)
    collateral, debt, cash, total_debt, in_book, held, stable = before
    assert book_state(lending, token, reentrant_borrower) == (
        collateral + POSTED, debt, cash, total_debt, in_book + POSTED, held - POSTED, stable,
    )  # fmt: skip


@pytest.mark.parametrize(
    "action, amount",
    [(BORROW, 40_000 * USDC), (WITHDRAW_COLLATERAL, POSTED // 2), (DEPOSIT_COLLATERAL, 1)],
    ids=["borrow", "withdraw-collateral-again", "deposit-collateral"],
)
def test_reentry_while_collateral_is_being_released_is_refused(
    lending, hook, reentrant_borrower, accounts, action, amount
):
    """The recipient's hook runs after the book has let collateral go: borrowing there (health
    was checked without it) or withdrawing the same collateral again are refused, and the
    position is what one withdrawal leaves."""
    token, _ = hook
    owner = owner_of(reentrant_borrower, accounts)
    reentrant_borrower.depositCollateral(POSTED, sender=owner)
    # needs 28,572 of the hook's 100,000 at 70 %
    reentrant_borrower.borrow(20_000 * USDC, sender=owner)
    before = book_state(lending, token, reentrant_borrower)
    reentrant_borrower.arm(RECEIVED, action, amount, ZERO_ADDRESS, sender=owner)
    reentrant_borrower.withdrawCollateral(POSTED // 2, sender=owner)
    refused_by_the_guard(reentrant_borrower)
    collateral, debt, cash, total_debt, in_book, held, stable = before
    assert book_state(lending, token, reentrant_borrower) == (
        collateral - POSTED // 2, debt, cash, total_debt, in_book - POSTED // 2,
        held + POSTED // 2, stable,
    )  # fmt: skip
    assert lending.book.healthFactor(reentrant_borrower) >= WAD


def test_a_second_liquidation_from_the_seized_collaterals_hook_is_refused(
    lending, hook, reentrant_borrower, accounts
):
    """A liquidator paid in a hook token re-enters `liquidate` when the seized tokens arrive, to
    be paid the bonus twice on one unhealthy position. Refused: the position is liquidated
    once, by exactly the previewed repay and seizure."""
    token, feed = hook
    book, asset, owner = lending.book, lending.asset, owner_of(reentrant_borrower, accounts)
    bob = accounts[7]
    token.mint(bob, POSTED, sender=bob)
    token.approve(book, MAX_UINT, sender=bob)
    book.depositCollateral(token, POSTED, sender=bob)
    book.borrow(70_000 * USDC, sender=bob)
    feed.setAnswer(90 * FEED_UNIT, sender=accounts[0])  # 90,000 * 75 % < 70,000: health 0.964
    assert book.healthFactor(bob) < WAD
    # the book is approved in its ctor
    asset.faucet(reentrant_borrower, 100_000 * USDC, sender=owner)

    repay, seized = book.previewLiquidation(bob, token, MAX_UINT)
    assert 0 < seized < POSTED
    debt, cash = book.debtOf(bob), book.cash()
    cash_of_liquidator = asset.balanceOf(reentrant_borrower)
    held = token.balanceOf(reentrant_borrower)
    reentrant_borrower.arm(RECEIVED, LIQUIDATE, MAX_UINT, bob, sender=owner)
    tx = reentrant_borrower.liquidate(bob, MAX_UINT, sender=owner)
    refused_by_the_guard(reentrant_borrower)
    assert len(list(tx.events.filter(book.Liquidated))) == 1
    assert book.debtOf(bob) == debt - repay
    assert book.collateralOf(bob, token) == POSTED - seized
    assert book.cash() == cash + repay
    assert token.balanceOf(reentrant_borrower) == held + seized
    assert asset.balanceOf(reentrant_borrower) == cash_of_liquidator - repay


def test_control_the_same_hook_borrows_when_it_is_not_inside_the_book(
    lending, hook, reentrant_borrower, accounts
):
    """Without this control the tests above could pass because the hook never ran or could
    not borrow: here the armed borrow fires from a plain transfer into the attacker (no book
    call on the stack) and goes through."""
    token, _ = hook
    owner = owner_of(reentrant_borrower, accounts)
    reentrant_borrower.depositCollateral(POSTED, sender=owner)
    reentrant_borrower.arm(RECEIVED, BORROW, 10_000 * USDC, ZERO_ADDRESS, sender=owner)
    token.mint(owner, TOKEN, sender=owner)
    calls = reentrant_borrower.hookCalls()
    token.transfer(reentrant_borrower, TOKEN, sender=owner)
    assert reentrant_borrower.hookCalls() == calls + 1
    assert reentrant_borrower.attempts() == 1 and reentrant_borrower.lastSucceeded()
    assert bytes(reentrant_borrower.lastError()) == b""
    assert lending.book.debtOf(reentrant_borrower) == 10_000 * USDC
    assert lending.asset.balanceOf(reentrant_borrower) == 10_000 * USDC
