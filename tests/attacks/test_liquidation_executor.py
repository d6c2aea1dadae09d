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
from tests.vault_support import USDC, confirm_moves, faucet, isolated

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
    lending.confirm("tbill")  # a liquidation counts the fall once confirmed
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


# ------------------------------------------------------------------ re-entry from a token hook

HOOK_NAV = 100 * 10**8  # 100.00 a token (8-decimal feed)
HOOK_RULES = {"ltvBps": 7_000, "liqThresholdBps": 7_500, "liqBonusBps": 500}
TOKEN = 10**18
REENTRANT_CALL = keccak(text="ReentrancyGuardReentrantCall()")[:4]


def test_a_hook_token_cannot_re_enter_the_executor_while_it_hands_out_seizures(
    project, system, accounts, chain
):
    """The seized collateral is a hook-calling token; the attacker is a contract whose
    `tokensReceived` — run while the executor is still inside `liquidateBatch`, paying out —
    calls `liquidateBatch` again. The re-entry is refused (`ReentrancyGuardReentrantCall`), the
    outer batch completes once, and the attacker paid exactly what its one liquidation cost."""
    from tests.vault_support import define

    lending, _, executor, _ = system
    gov, owner, borrower = accounts[0], accounts[8], accounts[4]
    with isolated(chain):
        token = gov.deploy(project.MockHookToken, "Hooked RWA", "HOOK")
        feed = gov.deploy(project.MockAggregator, 8, "HOOK / USD", HOOK_NAV, gov)
        lending.vs.router.setFeed(token, feed, sender=gov)
        for rule, value in HOOK_RULES.items():
            define(lending.vs.registry, gov, f"lend.{rule}.hook", value, 0, 10_000)
        define(lending.vs.registry, gov, "lend.borrowCap.hook", 10**9 * USDC, 0, 10**15 * USDC)
        lending.book.listCollateral(token, "hook", sender=gov)
        # an ordinary borrower posts 1,000 hook tokens (100,000) and borrows 60,000
        token.mint(borrower, 1_000 * TOKEN, sender=borrower)
        token.approve(lending.book, MAX_UINT, sender=borrower)
        lending.book.depositCollateral(token, 1_000 * TOKEN, sender=borrower)
        lending.book.borrow(60_000 * USDC, sender=borrower)
        feed.setAnswer(70 * 10**8, sender=gov)  # hook -30 %: health 0.875
        # confirmed by the router: a liquidation counts a fall beyond the band only then
        assert confirm_moves(lending.vs.router, lending.vs.registry, [(token, feed)], gov)
        assert lending.book.healthFactor(borrower) < WAD

        attacker = owner.deploy(project.ReentrantLiquidator, executor)
        attacker.hook(token, sender=owner)
        faucet(lending.asset, owner, 100_000 * USDC)
        lending.asset.transfer(attacker, 100_000 * USDC, sender=owner)
        item = [(borrower.address, token.address, MAX_UINT)]
        attacker.arm(item, 30_000 * USDC, sender=owner)  # again, with the rest of its money

        # health 0.875 < lend.fullCloseHealthBps: the whole 60,000 is repaid, so the budget
        # covers it (a 50,000 budget failed the item on the allowance and the hook never ran;
        # unseen while the test ran inside Ape's exception-swallowing `chain.isolate()`)
        receipt = attacker.liquidate(item, 70_000 * USDC, sender=owner)

        assert attacker.reentered() and not attacker.lastSucceeded()
        assert bytes(attacker.lastError()) == REENTRANT_CALL
        (done,) = receipt.decode_logs(executor.ItemLiquidated)  # one liquidation, once
        assert len(list(receipt.decode_logs(lending.book.Liquidated))) == 1
        assert lending.asset.balanceOf(attacker) == 100_000 * USDC - done.repaid
        assert token.balanceOf(attacker) == done.seized
        assert token.balanceOf(executor) == 0 and lending.asset.balanceOf(executor) == 0
