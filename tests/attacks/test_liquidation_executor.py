"""Attack: using the keepers' `LiquidationExecutor` to move a keeper's money.

A keeper approves the executor for its whole stablecoin inventory (once, unlimited: the
liquidator's `ensure_allowance`). Anyone may call `liquidateBatch`. An attacker who could make
the executor pull from the keeper would liquidate with the keeper's money and keep the seized
collateral; one who could spend what the executor holds would take tokens sent to it by mistake
or left from another call.

The defence: the executor pulls the budget from `msg.sender` only, lets the book pull at most
that budget (its allowance to the book is the budget during the call and zero after), and pays
the caller only balance differences made by the call itself. The tests show the attacker's
batch refused or paid with the attacker's own money, the keeper's balance and allowance
untouched, and stray tokens in the executor neither spent nor paid out.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from tests.keeper_support import open_many_positions
from tests.lending_support import deploy_lending_system
from tests.vault_support import USDC, faucet

MAX_UINT = 2**256 - 1
WAD = 10**18
INSUFFICIENT_ALLOWANCE = keccak(text="ERC20InsufficientAllowance(address,uint256,uint256)")[:4]


@pytest.fixture(scope="module")
def system(project, accounts, chain):
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 500_000 * USDC)
    borrowers = open_many_positions(lending, 12, accounts[0])
    executor = accounts[0].deploy(project.LiquidationExecutor, lending.book)
    keeper = accounts[7]
    faucet(lending.asset, keeper, 500_000 * USDC)
    lending.asset.approve(executor, MAX_UINT, sender=keeper)
    lending.set_nav("tbill", 50_000_000)  # halved: every position unhealthy
    assert all(lending.book.healthFactor(b) < WAD for b in borrowers)
    return lending, borrowers, executor, keeper


@pytest.fixture
def shocked(system, chain):
    with chain.isolate():
        yield system


def _items(lending, borrowers):
    tbill = lending.token("tbill")
    return [(b, tbill.address, MAX_UINT) for b in borrowers]


def test_a_stranger_cannot_spend_the_keepers_approval(shocked, accounts):
    lending, borrowers, executor, keeper = shocked
    asset, attacker = lending.asset, accounts[9]
    held = asset.balanceOf(keeper)
    items = _items(lending, borrowers[:3])

    # asking for the keeper's balance as budget: the pull is from the attacker — its allowance
    # (none) and, once it approves, its balance (none); never the keeper's
    with ape.reverts(asset.ERC20InsufficientAllowance, spender=executor.address, allowance=0):
        executor.liquidateBatch(items, held, sender=attacker)
    asset.approve(executor, MAX_UINT, sender=attacker)
    with ape.reverts(asset.ERC20InsufficientBalance, sender=attacker.address, balance=0):
        executor.liquidateBatch(items, held, sender=attacker)
    assert asset.balanceOf(keeper) == held
    assert asset.allowance(keeper, executor) == MAX_UINT

    # with a zero budget every item fails (the book may pull nothing) and nothing moves
    results = executor.liquidateBatch.call(items, 0, sender=attacker)
    assert [r.ok for r in results] == [False] * 3
    assert all(bytes(r.reason)[:4] == INSUFFICIENT_ALLOWANCE for r in results)
    before = {b: lending.book.debtOf(b) for b in borrowers[:3]}
    receipt = executor.liquidateBatch(items, 0, sender=attacker)
    assert len(list(receipt.decode_logs(executor.ItemFailed))) == 3
    assert list(receipt.decode_logs(lending.book.Liquidated)) == []
    assert all(lending.book.debtOf(b) >= debt for b, debt in before.items())  # + interest
    assert asset.balanceOf(keeper) == held


def test_a_stranger_liquidating_through_the_executor_pays_with_its_own_money(shocked, accounts):
    lending, borrowers, executor, keeper = shocked
    asset, tbill, attacker = lending.asset, lending.token("tbill"), accounts[9]
    faucet(asset, attacker, 100_000 * USDC)
    asset.approve(executor, MAX_UINT, sender=attacker)
    held, own = asset.balanceOf(keeper), asset.balanceOf(attacker)

    receipt = executor.liquidateBatch(
        _items(lending, borrowers[:2]), 20_000 * USDC, sender=attacker
    )

    done = list(receipt.decode_logs(executor.ItemLiquidated))
    assert [d.borrower for d in done] == borrowers[:2]
    assert all(d.caller == attacker.address for d in done)
    assert asset.balanceOf(keeper) == held  # the keeper paid nothing
    assert asset.balanceOf(attacker) == own - sum(d.repaid for d in done)
    assert tbill.balanceOf(attacker) == sum(d.seized for d in done)
    assert tbill.balanceOf(keeper) == 0


def test_tokens_left_in_the_executor_are_neither_spent_nor_paid_out(shocked, accounts):
    lending, borrowers, executor, keeper = shocked
    asset, tbill, attacker = lending.asset, lending.token("tbill"), accounts[9]
    # someone sends the executor stablecoin by mistake
    stray_asset = 50_000 * USDC
    faucet(asset, accounts[8], stray_asset)
    asset.transfer(executor, stray_asset, sender=accounts[8])

    # a zero-budget batch cannot liquidate with the stray stablecoin
    (result,) = executor.liquidateBatch.call(_items(lending, borrowers[:1]), 0, sender=attacker)
    assert not result.ok and bytes(result.reason)[:4] == INSUFFICIENT_ALLOWANCE
    # the keeper's batch pays exactly its own liquidations and gets exactly their seizures
    held = asset.balanceOf(keeper)
    receipt = executor.liquidateBatch(_items(lending, borrowers[:2]), 30_000 * USDC, sender=keeper)
    done = list(receipt.decode_logs(executor.ItemLiquidated))
    assert len(done) == 2
    assert asset.balanceOf(keeper) == held - sum(d.repaid for d in done)
    assert tbill.balanceOf(keeper) == sum(d.seized for d in done)
    assert asset.balanceOf(executor) == stray_asset  # the stray stays where it was sent
    assert tbill.balanceOf(executor) == 0
    assert asset.allowance(executor, lending.book) == 0
    (settled,) = receipt.decode_logs(executor.BatchSettled)
    assert (settled.liquidated, settled.failed) == (2, 0)
    assert settled.spent == sum(d.repaid for d in done)
