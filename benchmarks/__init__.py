"""Ballast benchmarks: gas against OpenZeppelin and the anchors (gas), keeper scan scaling,
strategy backtests. Each runs with one command from a fresh clone; see docs/performance.md."""
