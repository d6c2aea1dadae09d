"""A node restarted from an older state (`anvil --load-state` of a dump 40 blocks old: the chain
goes back 40 blocks, deeper than `liquidator.reorg_depth`), a borrower opening a position on the
rewound chain, and the chain growing back past the block the keeper's borrower scan had read
before the keeper's next pass. The scan's look-back started 12 blocks below its old cursor, so
the borrower was never found and, once unhealthy, never liquidated. The scan now keeps its
cursor block's hash and reads the book's history again when the chain under it changed
(`keepers.reads.scans.scan_cursor`). Chain facts: the book's debt and `Liquidated` logs."""

from __future__ import annotations

from keepers.math import WAD
from tests.keeper_support import keeper, protocol_of, supplied_book
from tests.vault_support import USDC, faucet


def test_a_borrower_on_a_chain_gone_back_past_the_scan_is_found_and_liquidated(
    project, accounts, chain, tmp_path
):
    lending = supplied_book(project, accounts)
    k = keeper(protocol_of(lending), accounts[7], tmp_path)
    faucet(lending.asset, accounts[7], 1_000_000 * USDC)
    fork = chain.snapshot()  # the state the node is restarted from
    chain.mine(40)
    k.run("liquidator")  # the scan reads up to 40 blocks past the dump
    scanned = chain.blocks.head.number
    chain.restore(fork)  # the node restarted from its older state
    borrower = accounts[9]
    lending.open_position(borrower, "tbill", 100_000 * USDC, 70_000 * USDC)
    opened = chain.blocks.head.number
    chain.mine(45)  # grown back past the old scan before the keeper's next pass
    lending.set_nav("tbill", 65_000_000)
    lending.confirm("tbill")
    assert opened < scanned - k.settings.liquidator.reorg_depth < chain.blocks.head.number
    assert lending.book.healthFactor(borrower) < WAD
    start = chain.blocks.head.number + 1
    k.run("liquidator")
    assert borrower.address.lower() in k.store.borrowers()
    liquidated = [log.borrower for log in lending.book.Liquidated.range(start, start + 50)]
    assert liquidated == [borrower.address]
    assert lending.book.debtOf(borrower) < 70_000 * USDC
