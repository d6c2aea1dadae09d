"""A redemption request whose receiver the stablecoin refuses (a blacklisted address, as USDC
and USDT have) must not stall the queue for everyone behind it."""

from __future__ import annotations

import pytest

from tests.vault_support import USDC, deploy_vault_system


@pytest.fixture(scope="module")
def system(project, accounts):
    gov = accounts[0]
    asset = gov.deploy(project.MockBlacklistStablecoin, "Mock USD Coin", "mUSDC", gov)
    return deploy_vault_system(project, gov, accounts[1], accounts[5], asset=asset)


def test_a_blocked_receiver_is_skipped_and_its_owner_can_cancel(system, accounts):
    vault, asset, gov = system.vault, system.asset, system.governance
    alice, bob, blocked = accounts[6], accounts[7], accounts[8]
    system.deposit(alice, 1_000 * USDC)
    system.deposit(bob, 1_000 * USDC)
    first = vault.requestRedeem(vault.balanceOf(alice), blocked, sender=alice).return_value
    second = vault.requestRedeem(vault.balanceOf(bob), bob, sender=bob).return_value
    asset.setBlocked(blocked, True, sender=gov)

    tx = vault.processRedeemQueue(2, sender=bob)

    (failed,) = tx.events.filter(vault.RedeemPaymentFailed)
    assert (failed.requestId, failed.receiver) == (first, blocked.address)
    (paid,) = tx.events.filter(vault.RedeemProcessed)
    assert (paid.requestId, paid.receiver, paid.sharesLeft) == (second, bob.address, 0)
    assert asset.balanceOf(bob) == 1_000 * USDC
    assert vault.redeemQueueBounds() == (2, 2)  # the queue moved past both
    # Alice's shares are still escrowed, not lost: she takes them back and leaves another way.
    escrowed = vault.redeemRequest(first).shares
    assert escrowed > 0 and vault.balanceOf(vault) == escrowed
    vault.cancelRedeemRequest(first, sender=alice)
    assert vault.balanceOf(alice) == escrowed and vault.queuedShares() == 0
    vault.redeem(escrowed, alice, alice, sender=alice)
    assert asset.balanceOf(alice) == 1_000 * USDC
