"""Keeper scan benchmark (issue 10): the liquidator's batched read against naive per-borrower
calls at 100, 1,000 and 10,000 borrowers, and a price shock's first block.

    python -m benchmarks.keeper_scan                        # all sizes, writes snapshot.json
    python -m benchmarks.keeper_scan --sizes 100 --out /tmp/scan.json   # quick (CI smoke)

One run starts its own anvil (`anvil.py`: without Ape's ``--steps-tracing``, whose traces of
the setup's transactions exhaust memory at 10,000 borrowers), deploys the keeper tests' lending
system there and opens the borrowers (`book.py`; the setup's seconds are reported). At each
size, after a 25 % collateral markdown, it times the batched and the naive scans side by side,
counting their JSON-RPC requests (`scan.py`; all must find the same unhealthy set), then
measures the share of unhealthy positions liquidated in the first block after the shock, for
the keeper as built and for a pipelined sender (`shock.py`). Ratios, not absolute times, are
the figures to compare across machines: every method runs interleaved in the same run. The
full run takes about 9 minutes; anvil must be on PATH (node_modules/.bin, as in `make`).
"""
