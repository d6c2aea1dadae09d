"""A first end-to-end pass: request, strike, claim; rebalance into three sleeves; exit through
them."""

from __future__ import annotations

import pytest

from tests.vault_support import USDC, deploy_vault_system


@pytest.fixture(scope="module")
def system(project, accounts):
    return deploy_vault_system(project, accounts[0], accounts[1], accounts[5])


def test_request_strike_claim_rebalance_and_exit(system, accounts):
    alice = accounts[6]
    system.deposit(alice, 1_000_000 * USDC)
    assert system.vault.totalAssets() == 1_000_000 * USDC
    system.rebalance([4_000, 3_000, 2_000])
    assert list(system.vault.currentBps()) == [4_000, 3_000, 2_000]
    assert system.vault.idle() == 100_000 * USDC
    assert system.vault.totalAssets() == 1_000_000 * USDC
    shares = system.vault.balanceOf(alice)
    system.redeem(alice, shares)
    assert system.vault.balanceOf(alice) == 0
    assert system.vault.pendingRedeemRequest(0, alice) == 0
    # The pull through three sleeves costs at most 1 wei each.
    assert system.asset.balanceOf(alice) >= 1_000_000 * USDC - 3
