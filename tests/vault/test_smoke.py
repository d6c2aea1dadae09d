"""A first end-to-end pass: deposit, rebalance into three sleeves, withdraw through them."""

from __future__ import annotations

import pytest

from tests.vault_support import USDC, deploy_vault_system


@pytest.fixture(scope="module")
def system(project, accounts):
    return deploy_vault_system(project, accounts[0], accounts[1], accounts[5])


def test_deposit_rebalance_withdraw(system, accounts):
    alice = accounts[6]
    system.deposit(alice, 1_000_000 * USDC)
    assert system.vault.totalAssets() == 1_000_000 * USDC
    tx = system.rebalance([4_000, 3_000, 2_000])
    print("rebalance gas", tx.gas_used)
    assert list(system.vault.currentBps()) == [4_000, 3_000, 2_000]
    assert system.vault.idle() == 100_000 * USDC
    assert system.vault.totalAssets() == 1_000_000 * USDC
    shares = system.vault.balanceOf(alice)
    assert system.vault.maxRedeem(alice) == shares
    tx = system.vault.redeem(shares, alice, alice, sender=alice)
    print("redeem gas", tx.gas_used)
    assert system.asset.balanceOf(alice) >= 1_000_000 * USDC - 10
