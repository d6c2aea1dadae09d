"""The keeper-throughput benchmark's CI smoke (`python -m benchmarks.keeper_throughput`): 200
borrowers opened by the keeper-scan bulk setup, blocks of 5,000,000 gas (so the book needs
several), a 45 % tbill markdown, one liquidator pass through a `LiquidationExecutor`. Counted
from the chain: every unhealthy position liquidated once, every block after the shock holding
one batch up to its gas limit, the book cleared within ⌈gas used / block gas⌉ + 1 blocks. No
timing is asserted."""

from __future__ import annotations

from benchmarks.keeper_scan.book import deploy, open_borrowers, release_block_gas_limit
from benchmarks.keeper_throughput.__main__ import clear_book
from tests.vault_support import isolated

BORROWERS = 200
BLOCK_GAS = 5_000_000


def test_the_book_is_cleared_within_the_gas_bound(chain):
    bench = None
    try:
        with isolated(chain):
            bench = deploy(BORROWERS)
            open_borrowers(bench, BORROWERS)
            r = clear_book(bench, BLOCK_GAS)  # raises unless each unhealthy one is liquidated once

            assert r["unhealthy"] == r["liquidated"] == BORROWERS  # 45 % down: all unhealthy
            assert r["outcomes"] == {"mined": BORROWERS}
            assert r["blocks_to_clear"] <= r["bound_blocks"]
            assert r["blocks_to_clear"] >= 3  # 200 liquidations do not fit one 5M block
            blocks = [b for b in r["blocks"] if b["liquidations"]]
            assert blocks[0]["block"] == r["shock_block"] + 1  # the first block after the shock
            per_item = max(b["gas_declared"] / b["liquidations"] for b in blocks)
            for b in blocks[:-1]:  # every block but the last filled to within two items
                assert BLOCK_GAS - 2 * per_item < b["gas_declared"] <= BLOCK_GAS, b
    finally:
        if bench is not None:
            release_block_gas_limit(bench.node)
