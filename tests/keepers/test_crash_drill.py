"""A market scenario the other keeper tests never play: gold falls 50 % in three steps while the
base fee spikes, depositors ask for their money back and the gold issuer freezes redemptions.

The book: 56 borrowers across the three collateral tokens — dust-sized (a few hundred), retail
(a few thousand to 40,000) and whales (a million and more), some on two tokens, borrowed between
half and nearly all of what their collateral allows. The real keeper (`Keeper.run`, as
`ballast-keeper once` runs it) liquidates through a `LiquidationExecutor` in blocks of
`SMALL_BLOCK` gas, with a guardian-key sentinel beside it; between passes an hour passes (the
router's `oracle.confirmDelay`) and the feeds publish again, as a live chain would.

What users rely on is measured from chain facts (the book's views and its `Liquidated` /
`BadDebtRealized` events), never from the keeper's own report:

- every position with health < 1 is liquidated or written off within `PASS_BOUND` passes of the
  last price step (see `PASS_BOUND` for where the number comes from);
- no position that was healthy at the block before is liquidated;
- what is written off is realised: no debt is left behind no collateral (no phantom debt);
- a depositor's exit settles with no keeper at all (anyone strikes), the gold issuer frozen;
- the guardian-key sentinel pauses automation on the crash (the allocator's rebalancer then
  sends nothing) while liquidations go on;
- no pass raises, and every pass ends (each sends a bounded number of transactions).
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import to_checksum_address

from keepers.config import load_settings
from keepers.jobs import LiquidatorSettings, plan_liquidations
from keepers.math import WAD, GasMarket, gas_cost_assets
from keepers.reads import read_book
from tests.keeper_support import block_gas_limit, keeper, protocol_of, send_as, views
from tests.lending_support import deploy_lending_system
from tests.vault_support import FEED_UNIT, USDC, faucet

MAX_UINT = 2**256 - 1
SMALL_BLOCK = 6_000_000
GOLD_STEPS = (1_700, 1_400, 1_000)  # gold's NAV (from 2,000): -15 %, -30 %, -50 %
SPIKE_GWEI = 150  # the base fee the block after the first step starts at
# A pass sends its batches back to back, one block each, until every plan is reported, so one
# pass liquidates every position unhealthy at the price it reads. A fall beyond the router's band
# counts only once confirmed (`oracle.confirmDelay`): the pass after a step records the fall
# (and liquidates what is unhealthy at the band's edge), the next confirms it and liquidates the
# rest; a close-factor liquidation (health still >= fullCloseHealth) may leave a position that
# is still unhealthy, taken on the following pass. Hence three passes after the last step, for
# every liquidation whose gain covers its batch item's gas at the base fee of the pass (one that
# does not waits, skipped "unprofitable", until the base fee falls: the spike here has decayed
# by then). The blocks a pass fills: ceil(declared gas / (block gas limit - headroom)), one batch
# of at most `max_batch_items` each (tests/keepers/test_keeper_liquidator_batch.py).
PASS_BOUND = 3


def _send(web3, contract, method, *args, sender):
    data = getattr(contract, method).encode_input(*args)
    receipt = send_as(web3, sender, str(contract.address), data, 2_000_000)
    assert int(receipt["status"], 16) == 1, f"{method}{args} from {sender} reverted"


def book_shape(i: int) -> tuple[list[tuple[str, int]], int]:
    """Borrower `i`'s collateral ((name, assets spent on it)) and the share (bps) of its
    `maxBorrow` it borrows: four kinds in turn, sizes dust / retail / whale."""
    size = (300, 2_500, 12_000, 40_000, 1_500_000)[i % 5] * USDC
    kind = i % 4
    if kind == 0:
        held = [("gold", size)]
    elif kind == 1:
        held = [("gold", size * 2 // 3), ("tbill", size // 3)]
    elif kind == 2:
        held = [("tbill", size)]
    else:
        held = [("invoices", size // 2), ("gold", size // 2)]
    # 50 % .. 99 % of what the collateral allows; a gold-only loan at 67 % stays healthy at the
    # band's edge of the last step and is under water by more than the bonus once it is
    # confirmed: its liquidation seizes everything and writes the rest off (bad debt)
    share = (6_700, 9_900, 7_000, 9_500, 5_000, 9_800, 8_500)[i % 7]
    return held, share


BORROWERS = 56


def open_book(lending) -> list[str]:
    web3 = ape.chain.provider.web3
    book, asset = lending.book, lending.asset
    out = []
    for i in range(BORROWERS):
        who = to_checksum_address(f"0x{0xC4A5_0000 + i:040x}")
        out.append(who)
        web3.provider.make_request("anvil_setBalance", [who, hex(10**20)])
        web3.provider.make_request("anvil_impersonateAccount", [who])
        held, share = book_shape(i)
        for name, assets in held:
            issuer = lending.vs.sleeve(name).issuer
            token = lending.token(name)
            faucet(asset, who, assets)
            _send(web3, asset, "approve", issuer.address, MAX_UINT, sender=who)
            _send(web3, issuer, "subscribe", assets, sender=who)
            _send(web3, token, "approve", book.address, MAX_UINT, sender=who)
            _send(web3, book, "depositCollateral", token.address, token.balanceOf(who),
                  sender=who)  # fmt: skip
        debt = book.maxBorrow(who) * share // 10_000
        _send(web3, book, "borrow", debt, sender=who)
        web3.provider.make_request("anvil_stopImpersonatingAccount", [who])
    return out


@pytest.fixture(scope="module")
def drill_book(project, accounts):
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 30_000_000 * USDC)
    borrowers = open_book(lending)
    executor = accounts[0].deploy(project.LiquidationExecutor, lending.book)
    faucet(lending.asset, accounts[7], 10_000_000 * USDC)
    lending.asset.approve(executor, MAX_UINT, sender=accounts[7])
    return lending, borrowers, executor


@pytest.fixture
def drill(drill_book, chain):
    """The drill book, every change undone after the test."""
    with chain.isolate():
        yield drill_book


@pytest.fixture
def small_blocks(chain):
    """Blocks of SMALL_BLOCK gas from the next one on (anvil's default limit restored after)."""
    with block_gas_limit(chain, SMALL_BLOCK):
        yield SMALL_BLOCK


def republish(lending) -> None:
    """An hour on, every feed publishes its answer again (fresh), as a live chain would."""
    ape.chain.pending_timestamp = ape.chain.pending_timestamp + 3_600
    for s in lending.vs.sleeves:
        s.feed.setAnswer(s.feed.latestAnswer(), sender=lending.vs.governance)


def health(lending, borrowers) -> dict[str, int]:
    """borrower -> health factor, in one batch."""
    return dict(zip(borrowers, map(int, views(lending.book.healthFactor, borrowers)), strict=True))


def liquidated_in(lending, start: int, stop: int) -> list[tuple[int, str]]:
    return [
        (int(log.block_number), str(log.borrower))
        for log in lending.book.Liquidated.range(start, stop + 1)
    ]


def test_a_50_percent_gold_crash_under_a_gas_spike_is_cleared_within_the_bound(
    drill, small_blocks, accounts, chain, tmp_path
):
    lending, borrowers, executor = drill
    book = lending.book
    settings = load_settings(liquidator={"executor": str(executor.address)})
    liquidator = keeper(protocol_of(lending), accounts[7], tmp_path, settings=settings)
    sentinel = keeper(protocol_of(lending), accounts[1], tmp_path)  # the guardian's key
    allocator = keeper(
        protocol_of(lending), accounts[5], tmp_path,
        settings=load_settings(rebalancer={"rationale_dir": str(tmp_path / "rationales")}),
    )  # fmt: skip
    start = chain.blocks.head.number + 1
    assert min(health(lending, borrowers).values()) >= WAD  # a healthy book to begin with

    late = accounts[8]  # buys gold now, posts it and borrows mid-crash
    lending.buy_collateral(late, "gold", 30_000 * USDC)
    # depositors ask for their money back; the gold issuer freezes redemptions
    depositor = accounts[6]
    lending.vs.sleeve("gold").issuer.setFrozen(True, sender=lending.vs.governance)
    lending.vault.requestRedeem(
        lending.vault.balanceOf(depositor) // 10, depositor, depositor, sender=depositor
    )

    borrowers = list(borrowers)
    since_last_step = 0
    paused_at = None
    for step, nav in enumerate((*GOLD_STEPS, None, None, None, None)):
        if step == 1:  # a borrower the keeper has not seen yet, at the edge, mid-crash
            book.depositCollateral(lending.token("gold"), lending.token("gold").balanceOf(late),
                                   sender=late)  # fmt: skip
            book.borrow(book.maxBorrow(late) * 99 // 100, sender=late)
            borrowers.append(str(late.address))
        if nav is not None:
            lending.set_nav("gold", nav * FEED_UNIT)
            since_last_step = 0
            if step == 0:
                chain.provider.make_request(
                    "anvil_setNextBlockBaseFeePerGas", [hex(SPIKE_GWEI * 10**9)]
                )
                chain.provider.make_request("evm_mine", [])
        before = health(lending, borrowers)
        head = chain.blocks.head.number
        watch = sentinel.run("sentinel")
        if paused_at is None and any(a.call == "pauseAutomation()" for a in watch.actions):
            paused_at = chain.blocks.head.number
        report = liquidator.run("liquidator")
        moved = allocator.run("rebalancer")
        if paused_at is not None:  # the guardian's pause holds the allocator's keeper off
            assert not moved.actions and moved.skipped == ["rebalance: automation paused"]
        since_last_step += 1
        liquidated = liquidated_in(lending, head + 1, chain.blocks.head.number)
        for _, who in liquidated:  # none healthy is touched (health read the block before)
            assert before[who] < WAD, (who, before[who], report.summary())
        assert len(report.actions) <= 4 * BORROWERS  # a pass ends: bounded sends
        after = health(lending, borrowers)
        low = [b for b, h in after.items() if h < WAD]
        unhealthy = {b for b, d in zip(low, views(book.debtOf, low), strict=True) if d > 0}
        if nav is None and since_last_step >= PASS_BOUND:
            assert not unhealthy, (since_last_step, unhealthy, report.summary(), report.skipped)
        republish(lending)

    head = chain.blocks.head.number
    events = liquidated_in(lending, start, head)
    assert str(accounts[8].address) in {who for _, who in events}  # seen though opened mid-crash
    # the guardian-key sentinel paused automation on the crash; liquidations went on after it
    assert paused_at is not None and lending.vault.automationPaused()
    assert any(block > paused_at for block, _ in events)
    # nothing phantom: no debt is left behind no collateral, and the book's debt is owed by
    # its borrowers (a write-off took its debt out of the book: `BadDebtRealized`)
    debts = dict(zip(borrowers, map(int, views(book.debtOf, borrowers)), strict=True))
    owed = sum(debts.values())
    indebted = [b for b, debt in debts.items() if debt > 0]
    for b, position in zip(indebted, views(book.positionOf, indebted), strict=True):
        assert any(a > 0 for a in position.amounts), b
    assert abs(int(book.totalDebt()) - owed) <= len(borrowers)  # each rounds: a wei a borrower
    written_off = list(book.BadDebtRealized.range(start, head + 1))
    assert written_off  # the 67 % gold-only loans went under water: their loss is realised
    for e in written_off:
        assert book.debtOf(e.borrower) == 0 and not any(book.positionOf(e.borrower).amounts)

    # the depositor's exit settles without any keeper: anyone strikes, the issuer still frozen
    lending.vs.publish_prices()
    lending.vs.confirm_moves()
    lending.vault.strike(sender=accounts[9])
    assert lending.vault.maxRedeem(depositor) > 0


def test_a_batched_liquidation_is_weighed_at_the_gas_its_item_costs_not_the_packing_guess(
    drill, accounts, chain, tmp_path
):
    """After gold's fall is confirmed, at a base fee of 19 gwei: the keeper weighed every batch
    item at `liquidator.batch_item_gas` (250,000, the packing's first guess, "the estimate
    decides", 15.0 USDC at 19 gwei) while an item of the batch it then sent used ~83,000 gas
    (5.0 USDC), so the small positions (gains of 7.4 to 13.6 USDC) were skipped "unprofitable"
    for as long as the base fee stayed above ~10 gwei. No position the pass left alone may gain
    more than its item cost in the pass's own batches (gas used per item, from the receipts)."""
    lending, borrowers, executor = drill
    web3 = chain.provider.web3
    lending.set_nav("gold", GOLD_STEPS[-1] * FEED_UNIT)
    assert lending.confirm("gold")
    settings = load_settings(liquidator={"executor": str(executor.address)})
    protocol = protocol_of(lending)
    k = keeper(protocol, accounts[7], tmp_path, settings=settings)
    chain.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(19 * 10**9)])
    chain.provider.make_request("evm_mine", [])
    read_at = web3.eth.get_block("latest")
    market = GasMarket(int(read_at["baseFeePerGas"]), settings.tx.priority_fee, 3_000 * WAD)

    report = k.run("liquidator")

    mined = [a for a in report.actions if a.outcome == "mined" and "liquidateBatch" in a.call]
    assert mined, report.summary()
    hashes = {a.tx_hash for a in mined}
    used = sum(int(web3.eth.get_transaction_receipt(h)["gasUsed"]) for h in hashes)
    per_item = -(-used // len(mined))
    cost = gas_cost_assets(market, per_item, 6)
    touched = {
        str(log.borrower)
        for log in lending.book.Liquidated.range(
            read_at["number"] + 1, chain.blocks.head.number + 1
        )
    }
    after = read_book(k.multicall, protocol, borrowers, k.asset, unhealthy_only=True)
    free = plan_liquidations(
        after.borrowers, after.rules, market, LiquidatorSettings(gas_per_liquidation=0)
    )
    left = [(p.borrower, p.gain) for p in free.plans if p.borrower not in touched]
    worth = [(b, g) for b, g in left if g > cost]
    assert not worth, (per_item, cost, worth, report.skipped)
