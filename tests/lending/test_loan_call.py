"""Called loans: after the vault's shutdown anyone calls the book's loans (`callLoans`); once
`lend.callNoticePeriod` has passed every position with debt is liquidatable in full, so the
lent part of the last exits comes back without the borrowers (docs/security.md, "The lending
book's loans are called after a shutdown").

Rates are 0 (exact amounts). Bob: 50 gold (100,000) behind 70,000, health 1.0714; carol:
100,000 of T-bills behind 50,000, health 1.70; dave: collateral, no debt.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from tests.keeper_support import keeper as keeper_for
from tests.keeper_support import protocol_of
from tests.lending_support import FEED_UNIT, MAX_UINT, USDC, WAD, deploy_zero_rate_supplied_book
from tests.vault_support import DAY, isolated

BOB_DEBT = 70_000 * USDC
CAROL_DEBT = 50_000 * USDC
NOTICE = 7 * DAY  # tests.lending_support's lend.callNoticePeriod


@pytest.fixture(scope="module")
def lending(project, accounts):
    system = deploy_zero_rate_supplied_book(project, accounts)
    system.open_position(accounts[7], "gold", 100_000 * USDC, BOB_DEBT)
    system.open_position(accounts[8], "tbill", 100_000 * USDC, CAROL_DEBT)
    system.open_position(accounts[4], "tbill", 10_000 * USDC, 0)
    system.fund(accounts[9], 1_000_000 * USDC)  # the liquidator's inventory
    return system


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


@pytest.fixture
def dave(accounts):
    """Collateral, no debt."""
    return accounts[4]


def publish(lending) -> None:
    """Every feed publishes a round at its current answer (prices fresh now)."""
    for s in lending.vs.sleeves:
        s.feed.setAnswer(s.feed.latestAnswer(), sender=lending.vs.governance)


def shut_down_and_call(lending, caller) -> int:
    """The guardian shuts the vault down, `caller` calls the loans; returns when they are due."""
    lending.vault.shutdown(sender=lending.vs.guardian)
    tx = lending.book.callLoans(sender=caller)
    return tx.timestamp + NOTICE


def test_loans_cannot_be_called_while_the_vault_runs(lending, bob, keeper):
    book = lending.book
    with ape.reverts(book.NotShutdown):
        book.callLoans(sender=keeper)
    assert book.loansDueAt() == 0
    with ape.reverts(book.HealthyPosition):
        book.liquidate(bob, lending.token("gold"), MAX_UINT, sender=keeper)
    assert bytes(book.liquidationTrigger(bob)[1]) == b"healthy"


def test_the_call_is_once_and_its_due_time_does_not_move(lending, keeper, gov):
    book = lending.book
    lending.vault.shutdown(sender=lending.vs.guardian)
    tx = book.callLoans(sender=keeper)
    due = tx.timestamp + NOTICE
    assert [(e.calledAt, e.dueAt) for e in tx.events.filter(book.LoansCalled)] == [
        (tx.timestamp, due)
    ]
    assert book.loansDueAt() == due
    with ape.reverts(book.LoansAlreadyCalled, dueAt=due):
        book.callLoans(sender=gov)
    # Governance lengthening the notice afterwards does not move a call already made.
    lending.set_param("lend.callNoticePeriod", 30 * DAY)
    assert lending.vs.registry.get(keccak(text="lend.callNoticePeriod")) == 30 * DAY
    assert book.loansDueAt() == due


def test_before_the_notice_ends_a_called_loan_is_an_ordinary_loan(lending, bob, keeper, chain):
    """Called, not yet due: a healthy position is refused `HealthyPosition`, an unhealthy one
    above `lend.fullCloseHealthBps` is limited to the close factor; the borrower may repay and
    take back collateral within LTV (borrowing stopped at the shutdown). At `loansDueAt` both
    close in full."""
    book, gold = lending.book, lending.token("gold")
    due = shut_down_and_call(lending, keeper)
    chain.pending_timestamp = due - 2 * DAY
    publish(lending)
    health = book.healthFactor(bob)
    assert health == 75_000 * USDC * WAD // BOB_DEBT  # 1.0714
    with ape.reverts(book.HealthyPosition, borrower=bob.address, health=health):
        book.liquidate(bob, gold, MAX_UINT, sender=keeper)
    with ape.reverts(book.HealthyPosition):
        book.previewLiquidation(bob, gold, MAX_UINT)
    assert bytes(book.liquidationTrigger(bob)[1]) == b"healthy"
    with ape.reverts(book.VaultIsShutdown):
        book.borrow(USDC, sender=bob)
    lending.fund(bob, 10_000 * USDC)
    book.repay(10_000 * USDC, bob, sender=bob)
    book.withdrawCollateral(gold, 10**18, sender=bob)  # 49 gold behind 60,000: within LTV
    # Gold at 1,600 (confirmed): 78,400 * 0.75 / 60,000 = 0.98, above full-close health 0.95.
    lending.set_nav("gold", 1_600 * FEED_UNIT)
    lending.confirm("gold")
    assert 95 * WAD // 100 < book.healthFactor(bob) < WAD
    now = chain.blocks.head.timestamp
    assert now < due
    assert book.previewLiquidation(bob, gold, MAX_UINT)[0] == 30_000 * USDC  # the close factor
    chain.pending_timestamp = due
    publish(lending)
    # In default whatever it holds: healthFactor reads 0 (invariant 6 holds with that health).
    assert book.healthFactor(bob) == 0 and book.debtOf(bob) > 0
    assert book.previewLiquidation(bob, gold, MAX_UINT)[0] == 60_000 * USDC  # all of it
    tx = book.liquidate(bob, gold, MAX_UINT, sender=keeper)
    assert tx.events.filter(book.Liquidated)[0].repaid == 60_000 * USDC
    assert book.debtOf(bob) == 0 and book.collateralOf(bob, gold) > 0  # bob keeps the rest


def test_the_keeper_liquidates_every_called_loan_once_due_and_nothing_before(
    lending, bob, carol, dave, keeper, chain, tmp_path
):
    book, tbill = lending.book, lending.token("tbill")
    due = shut_down_and_call(lending, keeper)
    k = keeper_for(protocol_of(lending), keeper, tmp_path)
    chain.pending_timestamp = due - 600
    publish(lending)
    report = k.run("liquidator")
    assert [a for a in report.actions if a.action_id.startswith("liquidate:")] == []
    assert book.debtOf(bob) == BOB_DEBT and book.debtOf(carol) == CAROL_DEBT
    chain.pending_timestamp = due
    publish(lending)  # the head block at `loansDueAt`
    assert all(book.liquidationTrigger(b)[0] for b in (bob, carol))  # the dashboard's flag
    assert bytes(book.liquidationTrigger(dave)[1]) == b"no debt"
    start = chain.blocks.head.number + 1
    dave_tbill = book.collateralOf(dave, tbill)
    report = k.run("liquidator")
    liquidations = [a for a in report.actions if a.action_id.startswith("liquidate:")]
    assert len(liquidations) == 2 and {a.outcome for a in report.actions} == {"mined"}
    logs = list(book.Liquidated.range(start, chain.blocks.head.number + 1))
    assert {(log.borrower, log.liquidator, log.repaid) for log in logs} == {
        (bob.address, keeper.address, BOB_DEBT),
        (carol.address, keeper.address, CAROL_DEBT),
    }
    assert book.debtOf(bob) == book.debtOf(carol) == 0 and book.totalDebt() == 0
    assert book.collateralOf(dave, tbill) == dave_tbill
    assert k.run("liquidator").actions == []  # nothing left
