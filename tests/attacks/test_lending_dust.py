"""Attacks: a wei of a second collateral token (issue 18, findings M-4 and L-1), and dust
made to order by a liquidator (found in a review after issue 18).

M-4, phantom bad debt behind 1 wei: the book used to write off debt only when a liquidation
took the borrower's last collateral token. A borrower holding gold plus 1 wei of T-bills, once
gold crashed, kept 14,444 of debt that no collateral covered after all the gold was seized: the
book counted it as an asset, no `BadDebtRealized`, and the keeper refused to liquidate the
1-wei T-bill (its bonus never pays the gas). Depositors who left early exited at the phantom
NAV, the last ones bore it all, and the lending `returnIndex` (the agents' evidence) never fell.
The defence (ILendingSleeve, "Dust write-off"): a liquidation that leaves behind the debt
collateral worth less than `lend.minDebt` and less than the debt left sweeps it to the
liquidator (`CollateralSwept`) and writes the debt off in the same transaction.

L-1, a borrow cap griefed with dust: a position's principal used to count in full against the
cap of every token it held, and posting collateral is never blocked, so 1 wei of T-bills put a
large gold-backed debt on the T-bill cap and blocked every other T-bill holder's borrow at
will. The defence (ILendingSleeve, `lend.borrowCap.<token>`): principal is attributed to the
tokens pro rata to their borrow power, and a borrow is checked only against the caps of the
tokens whose share it raises. A wei backs nothing, so it counts for nothing; real T-bills still
fill the cap.

Dust made to order: the write-off above sweeps what the borrower keeps to the liquidator when it
is dust, judged after the liquidator's own repay. Below break-even (collateral worth less than
debt x (1 + bonus)) a liquidator could pick the repay that leaves just under `lend.minDebt` of
collateral and get it swept for nothing, the debt behind it written off: up to lend.minDebt /
(1 + bonus) more out of depositors than a full liquidation. The defence (ILendingSleeve, "Dust
write-off"): only a liquidation that took all it could (all of the token, or the largest repay
allowed) may leave dust; a smaller repay that would leave it is refused `DustDebt`. The same
dust in two steps over two tokens (leave under `lend.minDebt` of one while the other is still
there, then take the other) is refused at the first step: `DustCollateral`.

Rates are 0 here so every amount is exact.
"""

from __future__ import annotations

import pytest

from keepers.jobs.liquidator import Borrower, plan_liquidations
from keepers.math import liquidation_trigger
from keepers.strategy.gate import GasMarket
from tests.lending_support import (
    FEED_UNIT,
    MAX_UINT,
    USDC,
    WAD,
    deploy_zero_rate_supplied_book,
    liquidation_rules,
    position_of,
)
from tests.vault_support import assert_reverts, isolated

GOLD = 10**18
GAS = GasMarket(base_fee_wei=20 * 10**9, priority_fee_wei=10**9, native_price_wad=3_000 * WAD)


@pytest.fixture(scope="module")
def lending(project, accounts):
    system = deploy_zero_rate_supplied_book(project, accounts)
    system.fund(accounts[9], 5_000_000 * USDC)  # the keeper's inventory
    return system


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def events(tx, name: str) -> list:
    return [e for e in tx.events if e.event_name == name]


def test_dust_collateral_cannot_hide_bad_debt(lending, accounts, chain):
    book, vault = lending.book, lending.vault
    gold, tbill = lending.token("gold"), lending.token("tbill")
    borrower, keeper = accounts[7], accounts[9]
    with isolated(chain):
        # 50 gold (100,000 at 2,000) behind 70,000, and the wei of T-bills.
        lending.open_position(borrower, "gold", 100_000 * USDC, 70_000 * USDC)
        lending.buy_collateral(borrower, "tbill", 10 * USDC)
        book.depositCollateral(tbill, 1, sender=borrower)
        # Gold crashes 40%: 60,000 of gold behind 70,000 of debt.
        lending.set_nav("gold", 1_200 * FEED_UNIT)
        lending.confirm("gold")  # a liquidation counts the fall once confirmed
        debt = book.debtOf(borrower)
        assert debt == 70_000 * USDC
        # Taking all the gold repays ceil(60,000 / 1.08) and leaves 14,444.44 behind 1 wei.
        repay = ceil_div(50 * GOLD * 1_200 * USDC * 10_000, GOLD * 10_800)
        phantom = debt - repay
        assert 14_444 * USDC < phantom < 14_445 * USDC

        # The keeper's planner acts on it: the liquidation writes the rest off (and sweeps the
        # wei), so there is no unprofitable 1-wei liquidation left for anybody to refuse.
        position = position_of(lending, borrower, debt)
        rules = liquidation_rules(lending)
        call = liquidation_trigger(position, rules)
        assert call.token == gold.address and call.liquidation.sweep
        assert call.liquidation.repay == repay
        report = plan_liquidations([Borrower(borrower.address, position)], rules, GAS)
        assert [p.borrower for p in report.plans] == [borrower.address]
        assert report.plans[0].profit > 0

        ok, data = book.liquidationTrigger(borrower)
        assert ok and data == book.liquidate.encode_input(borrower, gold, MAX_UINT)
        index_before = book.returnIndex()
        assets_before = vault.totalAssets()
        supplied = book.totalAssets()
        tx = book(sender=keeper, data=data)

        (liquidated,) = events(tx, "Liquidated")
        assert (liquidated.repaid, liquidated.seized) == (repay, 50 * GOLD)
        (sweep,) = events(tx, "CollateralSwept")
        assert (sweep.borrower, sweep.liquidator, sweep.token, sweep.amount) == (
            borrower.address, keeper.address, tbill.address, 1,
        )  # fmt: skip
        (bad,) = events(tx, "BadDebtRealized")
        assert (bad.borrower, bad.amount) == (borrower.address, phantom)
        # Depositors see the loss at once, all of them alike; the agents' evidence falls too.
        assert vault.totalAssets() == assets_before - phantom
        assert book.returnIndex() == index_before - ceil_div(index_before * phantom, supplied)
        # Nothing phantom is left: no debt, no collateral, no trigger.
        assert book.debtOf(borrower) == 0 and book.totalDebt() == 0
        assert book.totalAssets() == book.cash()
        pos = book.positionOf(borrower)
        assert (pos.debt, pos.principal, list(pos.tokens)) == (0, 0, [])
        assert book.collateralOf(borrower, tbill) == 0 and tbill.balanceOf(keeper) == 1
        assert book.capUsage(gold) == book.capUsage(tbill) == 0
        assert tuple(book.liquidationTrigger(borrower)) == (False, b"no debt")


def test_dust_collateral_cannot_grief_a_borrow_cap(lending, accounts, chain):
    book = lending.book
    tbill, gold = lending.token("tbill"), lending.token("gold")
    attacker, holder = accounts[7], accounts[8]
    with isolated(chain):
        lending.set_param("lend.borrowCap.tbill", 50_000 * USDC)
        # The attacker: a large gold-backed debt, then the wei of T-bills, then a borrow that
        # attributes the position's principal to both tokens it holds.
        lending.open_position(attacker, "gold", 1_000_000 * USDC, 600_000 * USDC)
        lending.buy_collateral(attacker, "tbill", 10 * USDC)
        book.depositCollateral(tbill, 1, sender=attacker)
        book.borrow(1_000 * USDC, sender=attacker)
        # Counted in full, 601,000 would sit on the 50,000 T-bill cap; a wei backs nothing.
        assert book.capUsageOf(attacker, tbill) == 0 == book.capUsage(tbill)
        assert book.capUsageOf(attacker, gold) == 601_000 * USDC == book.capUsage(gold)

        # Another T-bill holder borrows up to the cap, unhindered.
        lending.open_position(holder, "tbill", 100_000 * USDC, 0)
        assert book.maxBorrow(holder) == 50_000 * USDC
        book.borrow(40_000 * USDC, sender=holder)
        assert book.capUsage(tbill) == 40_000 * USDC

        # The cap still bounds what really rests on T-bills: the attacker's real T-bills take
        # a real share of its debt, and that share cannot pass the 10,000 left.
        # Posting them behind the gold-backed debt rests part of it on them: a borrow against
        # the T-bills, refused past the cap (the holder's room stays the holder's).
        lending.buy_collateral(attacker, "tbill", 1_000_000 * USDC)
        assert_reverts(book, "depositCollateral", tbill, tbill.balanceOf(attacker),
                       sender=attacker, error="BorrowCapExceeded", token=tbill,
                       cap=50_000 * USDC)  # fmt: skip
        assert book.capUsageOf(attacker, tbill) == 0 == book.collateralOf(attacker, tbill) - 1
        # (Nor can debt be moved onto T-bills by a withdrawal: tests/lending/test_book.py.)
        # The holder, whose share is within the cap, keeps borrowing up to it.
        room = book.maxBorrow(holder)
        assert room == 10_000 * USDC
        book.borrow(room, sender=holder)
        assert book.capUsage(tbill) == 50_000 * USDC


def test_a_liquidator_cannot_choose_a_repay_that_leaves_dust_to_sweep(lending, accounts, chain):
    book, vault = lending.book, lending.vault
    gold = lending.token("gold")
    borrower, liquidator = accounts[7], accounts[9]
    with isolated(chain):
        lending.set_param("lend.minDebt", 1_000 * USDC)
        # 50 gold (100,000 at 2,000) behind 70,000; gold falls 40%: 60,000 behind 70,000, below
        # break-even (70,000 x 1.08), so a full liquidation leaves bad debt whatever happens.
        lending.open_position(borrower, "gold", 100_000 * USDC, 70_000 * USDC)
        lending.set_nav("gold", 1_200 * FEED_UNIT)
        lending.confirm("gold")  # a liquidation counts the fall once confirmed
        debt = book.debtOf(borrower)
        full = ceil_div(50 * GOLD * 1_200 * USDC * 10_000, GOLD * 10_800)  # buys all 50 gold

        # The attack: repay what seizes gold worth 59,001, leaving 999 (< minDebt, < the debt
        # left): swept, the liquidator would get all the gold for 54,630.56 instead of 55,555.56.
        chosen = 59_001 * USDC * 10_000 // 10_800
        assets, balance = vault.totalAssets(), gold.balanceOf(liquidator)
        assert_reverts(book, "liquidate", borrower, gold, chosen, sender=liquidator,
                       error="DustDebt", remaining=debt - chosen, minDebt=1_000 * USDC)  # fmt: skip
        assert vault.totalAssets() == assets and gold.balanceOf(liquidator) == balance
        assert book.debtOf(borrower) == debt and book.collateralOf(borrower, gold) == 50 * GOLD

        # Two steps gain nothing either: a partial that leaves collateral worth minDebt (not
        # dust), then the rest, cost what the one full liquidation costs (to rounding).
        first = 59_000 * USDC * 10_000 // 10_800
        book.liquidate(borrower, gold, first, sender=liquidator)
        left = book.collateralOf(borrower, gold)
        assert left * 1_200 * USDC // GOLD >= 1_000 * USDC
        tx = book.liquidate(borrower, gold, MAX_UINT, sender=liquidator)
        (second,) = events(tx, "Liquidated")
        assert second.seized == left and book.collateralOf(borrower, gold) == 0
        assert first + second.repaid >= full
        (bad,) = events(tx, "BadDebtRealized")
        assert bad.amount <= debt - full
        assert book.debtOf(borrower) == 0 and vault.totalAssets() >= assets - (debt - full)


def test_a_liquidator_cannot_leave_dust_of_one_token_behind_another_to_sweep_later(
    lending, accounts, chain
):
    """The dust made to order above, in two steps over two tokens (found in a review after
    issue 18): 50 gold and 5,000 of T-bills behind 72,000; gold falls 40 %. A partial T-bill
    liquidation leaving 999 of them was allowed (the gold was still there, so nothing was dust
    yet); taking all the gold then left only those 999 behind the debt: swept to the liquidator
    for nothing, the debt behind them written off, 951 more out of depositors than liquidating
    gold first, then the T-bills. The defence: a smaller repay than the position allows may not
    leave less than lend.minDebt of the seized token behind other collateral (`DustCollateral`);
    leaving lend.minDebt or more, the two steps cost the liquidator what the honest order does."""
    book, vault = lending.book, lending.vault
    gold, tbill = lending.token("gold"), lending.token("tbill")
    borrower, liquidator = accounts[7], accounts[9]
    min_debt = 1_000 * USDC
    with isolated(chain):
        lending.set_param("lend.minDebt", min_debt)
        lending.open_position(borrower, "gold", 100_000 * USDC, 0)
        lending.open_position(borrower, "tbill", 5_000 * USDC, 0)
        book.borrow(72_000 * USDC, sender=borrower)
        lending.set_nav("gold", 1_200 * FEED_UNIT)  # 60,000 of gold and 5,000 of T-bills
        lending.confirm("gold")  # a liquidation counts the fall once confirmed
        held = book.collateralOf(borrower, tbill)

        def liquidate_all(order) -> tuple[int, int]:
            """Liquidates `order`'s tokens in full; the liquidator's spend and the bad debt."""
            spent, bad = 0, 0
            for token in order:
                tx = book.liquidate(borrower, token, MAX_UINT, sender=liquidator)
                spent += sum(e.repaid for e in events(tx, "Liquidated"))
                bad += sum(e.amount for e in events(tx, "BadDebtRealized"))
            assert book.debtOf(borrower) == 0
            return spent, bad

        with isolated(chain):
            honest_spent, honest_bad = liquidate_all([gold, tbill])
            honest_assets = vault.totalAssets()

        # The attack's first step: T-bills down to 999 (bonus 5 %): refused, nothing moved.
        repay = (held - 999 * 10**18) // 10**12 * 10_000 // 10_500
        seized = repay * 10_500 * 10**12 // 10_000
        debt, assets = book.debtOf(borrower), vault.totalAssets()
        assert_reverts(book, "liquidate", borrower, tbill, repay, sender=liquidator,
                       error="DustCollateral", token=tbill,
                       left=(held - seized) * USDC // 10**18, minDebt=min_debt)  # fmt: skip
        assert book.debtOf(borrower) == debt and vault.totalAssets() == assets
        assert book.collateralOf(borrower, tbill) == held

        # Leaving lend.minDebt of T-bills is allowed, and the gold after it sweeps nothing:
        # the liquidator pays for every T-bill, as in the honest order (to a wei a step).
        repay = (held - min_debt * 10**12) // 10**12 * 10_000 // 10_500
        tx = book.liquidate(borrower, tbill, repay, sender=liquidator)
        first = sum(e.repaid for e in events(tx, "Liquidated"))
        assert book.collateralOf(borrower, tbill) * USDC // 10**18 >= min_debt
        tx = book.liquidate(borrower, gold, MAX_UINT, sender=liquidator)
        assert events(tx, "CollateralSwept") == []
        spent, bad = liquidate_all([tbill])
        spent += first + sum(e.repaid for e in events(tx, "Liquidated"))
        assert spent >= honest_spent - 3 and bad <= honest_bad + 3
        assert vault.totalAssets() >= honest_assets - 3
