"""Third outside review of the vault's settlement core (branch `strike3`): NAV strikes, the
hourly request windows, the FIFO redemption queue, donations unlocking, the stale-sleeve path,
shutdown, and the settler keeper that strikes as a service.

Each test mounts the attack or the check on a private anvil and classifies what happened from
chain facts (events, the vault's views, storage) and the keeper's report.
"""

from __future__ import annotations

import pytest

from tests.keeper_support import keeper, relayed_book
from tests.vault_support import USDC, isolated


@pytest.fixture(scope="module")
def review3_book(project, accounts, chain):
    """1M supplied (decision 0: 90 % lent), one borrower owing 200k, the vault's claim relay.
    (Named apart from every other module's fixtures: Ape's isolation tracks them by name.)"""
    return relayed_book(project, accounts)


@pytest.fixture
def review3_fresh(review3_book, chain):
    with isolated(chain):
        yield review3_book


def test_a_deposit_waiting_in_the_open_window_does_not_reopen_the_wei_griefing_of_the_settler(
    review3_fresh, accounts, tmp_path
):
    """While redemptions wait for liquidity, a wei sent to the vault makes `strikeTrigger` true;
    the settler's gas gate (`plan_strike`) stops a redemptions-only strike worth less than its
    gas, but it let any strike through while `pendingDeposits()` was not 0, taking every pending
    deposit for one this strike settles. A deposit requested in the open window settles at no
    strike before the window's cut-off, so a griefer's 1-wei deposit request (once an hour, or
    any depositor's request in the hour) plus a wei sent to the vault (34,409 gas) made the
    settler send a strike (about 210,000 gas) that paid the leaver 2 wei and settled nothing
    else. The gate now counts only deposits of a closed window (`requestWindows()`: the deposit
    queue's head before the open window); a settleable deposit is struck for at once."""
    lending, protocol = review3_fresh
    vault, asset = lending.vault, lending.asset
    leaver, griefer, depositor = accounts[6], accounts[9], accounts[8]
    vault.requestRedeem(vault.balanceOf(leaver) * 9 // 10, leaver, leaver, sender=leaver)
    lending.vs.publish_prices()
    k = keeper(protocol, accounts[7], tmp_path)
    first = k.run("settler")
    assert [(a.call, a.outcome) for a in first.actions] == [("strike()", "mined")]
    assert vault.pendingRedemptions() > 0 and vault.strikeTrigger()[0] is False

    lending.fund(griefer, 2, spender=vault)
    vault.requestDeposit(
        1, griefer, griefer, sender=griefer
    )  # the open window: no strike settles it
    asset.transfer(vault, 1, sender=griefer)
    assert vault.strikeTrigger()[0] is True and vault.pendingDeposits() == 1
    opened, deposit_head, _ = vault.requestWindows()
    assert deposit_head == opened  # the only deposit waits in the open window
    count = vault.strikeCount()
    griefed = k.run("settler")
    assert griefed.actions == [], griefed.summary()
    assert vault.strikeCount() == count
    assert any(s.startswith("strike: liquidity 2 below the strike's gas") for s in griefed.skipped)

    # control: a deposit whose window has closed is worth a strike, liquidity or not
    lending.fund(depositor, 10_000 * USDC, spender=vault)
    vault.requestDeposit(10_000 * USDC, depositor, depositor, sender=depositor)
    lending.vs.publish_prices()
    struck = k.run("settler")
    assert [(a.call, a.outcome) for a in struck.actions][:1] == [("strike()", "mined")]
    assert vault.strikeCount() == count + 1
    assert vault.pendingDepositRequest(0, depositor) == 0
    assert vault.claimableDepositRequest(0, depositor) == 10_000 * USDC
