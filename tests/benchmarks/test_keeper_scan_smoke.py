"""The keeper-scan benchmark at its smallest size, the CI smoke of
`python -m benchmarks.keeper_scan`: 100 borrowers opened by the benchmark's bulk setup, a 25 %
tbill markdown, the batched and the naive scans agreeing on who is unhealthy, and the shock
test's first-block share computed from the Liquidated events. No timing is asserted: these
machines are too noisy for that, and the benchmark reports times, it does not gate on them."""

from __future__ import annotations

from benchmarks.keeper_scan.book import (
    USDC,
    borrower_address,
    debt_of,
    deploy,
    open_borrowers,
    release_block_gas_limit,
)
from benchmarks.keeper_scan.scan import measure_scans
from benchmarks.keeper_scan.shock import run_shock, shock
from keepers.math import WAD
from tests.vault_support import isolated

BORROWERS = 100
# after the markdown a position is worth 10,000 · 0.75 · 0.85 = 6,375 of weighted collateral:
# loans clearly above are unhealthy, clearly below healthy (interest blurs the edge itself)
UNHEALTHY_FROM, HEALTHY_UP_TO = 6_380 * USDC, 6_370 * USDC


def test_the_scans_agree_and_the_shock_share_is_counted(chain):
    bench = None
    try:
        with isolated(chain):
            bench = deploy(BORROWERS)
            open_borrowers(bench, BORROWERS)
            book = bench.lending.book
            assert bench.borrowers == [borrower_address(i) for i in range(BORROWERS)]
            assert all(book.debtOf(b) >= debt_of(i) for i, b in enumerate(bench.borrowers))

            shock_block = shock(bench)
            scans = measure_scans(bench, repeats=1)  # raises unless all three find one set
            unhealthy = scans["batched"].unhealthy
            assert {n: s.unhealthy for n, s in scans.items()} == dict.fromkeys(scans, unhealthy)
            for i, b in enumerate(bench.borrowers):
                if debt_of(i) >= UNHEALTHY_FROM:
                    assert b in unhealthy, (i, debt_of(i))
                elif debt_of(i) <= HEALTHY_UP_TO:
                    assert b not in unhealthy, (i, debt_of(i))
            assert unhealthy == {b for b in bench.borrowers if book.healthFactor(b) < WAD}
            # one request per borrower naively, a handful of batches for the keeper
            assert scans["naive (raw eth_call)"].rpc_requests == BORROWERS
            assert scans["batched"].rpc_requests < BORROWERS // 5

            keeper, pipelined = run_shock(bench, shock_block, unhealthy, clear_limit=BORROWERS)
            for result in (keeper, pipelined):
                assert result.first_block == shock_block + 1
                assert result.unhealthy == len(unhealthy)
                assert 0 < result.liquidated_first_block <= result.pool_at_first_block
                assert result.share == result.liquidated_first_block / len(unhealthy)
                assert result.liquidated_total == len(unhealthy), result  # the book is cleared
            # the pipelined sender puts every liquidation in the first block
            assert pipelined.liquidated_first_block == len(unhealthy)
            assert pipelined.blocks_to_clear == 1
            # run_shock restored the shocked state: nothing liquidated, still unhealthy
            assert chain.blocks.head.number == shock_block
            assert list(book.Liquidated.range(shock_block, shock_block + 1)) == []
            assert all(book.healthFactor(b) < WAD for b in unhealthy)
    finally:
        if bench is not None:
            release_block_gas_limit(bench.node)
