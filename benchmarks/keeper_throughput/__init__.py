"""Keeper throughput benchmark (issue 20 item 1): how many blocks the liquidator needs to clear
a book of 1,000 unhealthy positions after a shock, against the physical bound
⌈total gas / block gas⌉ + 1.

    python -m benchmarks.keeper_throughput                  # 1,000 borrowers, writes snapshot.json
    python -m benchmarks.keeper_throughput --borrowers 200 --out /tmp/t.json   # quick

One run starts its own anvil (`benchmarks.keeper_scan.anvil`, cancun), deploys the keeper
tests' lending system and opens the borrowers as `benchmarks.keeper_scan.book` does (the same
population), deploys a `LiquidationExecutor` on the book, and has the keeper approve it (the
operator's one-time approval, before the shock). The node's block gas limit is then set to
30,000,000 (anvil's default) for a block before the shock, so every block the keeper's pass
mines has that limit; the shock marks tbill down 45 % (every position unhealthy), sent as a raw
transaction. One `Keeper.run("liquidator")` pass with the executor then clears the book on
automine (each transaction is mined in a block of its own, so a block holds one batch).

Counted from chain facts: the `Liquidated` events of every block after the shock (each
unhealthy borrower exactly once, no healthy one), each block's gasUsed and its batch's declared
gas limit. The bound is taken on the gas the blocks used; the seconds are reported, never
asserted.
"""
