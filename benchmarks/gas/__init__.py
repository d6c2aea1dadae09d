"""Gas benchmark: the vault's ERC-7540 requests, strikes (0-5 sleeves) and claims against the
goals (a request <= 70,000 gas, a claim <= 60,000), its rebalances (0-5 sleeves), a bare
OpenZeppelin ERC4626 as the synchronous reference, and the lending book's borrower and liquidator
operations against the goal of half of Aave V3's liquidationCall (<= 170,000 gas). Every figure
is a receipt's gasUsed (the whole transaction); the requests and claims are also kept as the
call's own gas, without the 21,000 and calldata a transaction pays (`Call gas, ...`: the
convention of `forge test --gas-report`). What each row measures: benchmarks/gas/measure.py.

    python -m benchmarks.gas            # measure, print the table, write snapshot.json
    python -m benchmarks.gas --check    # measure and fail on a > 2 % regression vs snapshot.json

`make bench-gas` / `make bench-gas-check` run the same with the toolchain on PATH.
"""
