"""Smoke: supply the book through the vault, borrow, accrue, crash, liquidate."""

from __future__ import annotations

import pytest

from tests.lending_support import DAY, FEED_UNIT, MAX_UINT, USDC, deploy_lending_system


@pytest.fixture(scope="module")
def lending(project, accounts):
    return deploy_lending_system(project, accounts[0], accounts[1], accounts[5])


def test_borrow_liquidate(lending, accounts, chain):
    alice, bob, keeper = accounts[6], accounts[7], accounts[8]
    lending.supply(alice, 1_000_000 * USDC)
    book = lending.book
    assert book.cash() == 900_000 * USDC
    lending.open_position(bob, "gold", 100_000 * USDC, 60_000 * USDC)
    print("health", book.healthFactor(bob) / 1e18, "rate", book.borrowRate() / 1e18)
    chain.mine(timestamp=chain.pending_timestamp + 30 * DAY)
    print("debt after 30d", book.debtOf(bob), "vault", lending.vault.totalAssets())
    lending.set_nav("gold", 1_500 * FEED_UNIT)
    print("health", book.healthFactor(bob) / 1e18)
    ok, data = book.liquidationTrigger(bob)
    print(ok, data.hex() if ok else data)
    lending.fund(keeper, 100_000 * USDC)
    tx = book.liquidate(bob, lending.token("gold"), MAX_UINT, sender=keeper)
    print("gas", tx.gas_used, "health", book.healthFactor(bob) / 1e18, book.debtOf(bob))
