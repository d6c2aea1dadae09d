"""A redemption whose receiver the stablecoin refuses (a blacklisted address, as USDC and USDT
have) must not stall the exits of anyone else: the strike pays nobody (it sets the assets aside),
and each controller pulls its own claim to a receiver of its choice."""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from tests.vault_support import USDC, deploy_vault_system, revert_of, settled


@pytest.fixture(scope="module")
def system(project, accounts):
    gov = accounts[0]
    asset = gov.deploy(project.MockBlacklistStablecoin, "Mock USD Coin", "mUSDC", gov)
    return deploy_vault_system(project, gov, accounts[1], accounts[5], asset=asset)


def test_a_blocked_receiver_stalls_nobody_and_its_controller_claims_elsewhere(system, accounts):
    vault, asset, gov = system.vault, system.asset, system.governance
    alice, bob, blocked = accounts[6], accounts[7], accounts[8]
    system.deposit(alice, 1_000 * USDC)
    system.deposit(bob, 1_000 * USDC)
    a_shares, b_shares = vault.balanceOf(alice), vault.balanceOf(bob)
    vault.requestRedeem(a_shares, alice, alice, sender=alice)
    vault.requestRedeem(b_shares, bob, bob, sender=bob)
    asset.setBlocked(blocked, True, sender=gov)

    strike = settled(system.strike(sender=bob), vault)

    # Both requests were filled in full: the strike moves no asset to any receiver.
    assert strike["redeemShares"] == a_shares + b_shares
    assert vault.claimableRedeemRequest(0, alice) == a_shares
    assert vault.claimableRedeemRequest(0, bob) == b_shares
    assert vault.redeem(b_shares, bob, bob, sender=bob).return_value == 1_000 * USDC
    assert asset.balanceOf(bob) == 1_000 * USDC
    # Alice's claim to the blocked address reverts (the token's own error) and moves nothing ...
    owed = vault.maxWithdraw(alice)
    outcome = revert_of(vault, "redeem", a_shares, blocked, alice, sender=alice)
    assert outcome is not None
    blocked_error = (
        keccak(text="Blocked(address)")[:4] + bytes(12) + bytes.fromhex(blocked.address[2:])
    )
    assert outcome[0] == "0x" + blocked_error.hex()
    with ape.reverts():
        vault.redeem(a_shares, blocked, alice, sender=alice)
    assert vault.claimableRedeemRequest(0, alice) == a_shares
    assert vault.claimableRedemptions() == owed
    # ... and stays hers: she claims it to another receiver.
    vault.redeem(a_shares, alice, alice, sender=alice)
    assert asset.balanceOf(alice) == owed == 1_000 * USDC
    assert vault.claimableRedemptions() == 0 and vault.balanceOf(vault) == 0
