"""The scan measured: which borrowers are unhealthy, read three ways at one block.

- **batched** — the liquidator's own code: `keepers.reads.read_book(unhealthy_only=True)` (the
  book's rules and prices through Ape's Multicall, then every borrower's ``positionOf`` in raw
  Multicall3 batches of 1,000 calls per ``eth_call`` pinned to that block, the calldata built
  from bytes and the returns sliced by `keepers.rawcalls`; positions with health >= 1 dropped
  by `keepers.math.health_factor`) and `keepers.jobs.plan_liquidations`; the unhealthy set is
  what the planner planned or skipped (every position with debt and health below 1).
- **naive (ape)** — what a keeper written without batching would do: per borrower the book's
  ``healthFactor(borrower)`` view through the Ape contract handle, one call at a time
  (``type(uint256).max`` for no debt, so "< 1 WAD" is exactly "unhealthy").
- **naive (raw eth_call)** — the same calls with the calldata encoded by hand and sent as one
  JSON-RPC request each through the web3 provider: the round trips alone, without Ape's or
  web3's per-call extras (Ape adds ``eth_getCode`` and ``eth_getBlockByNumber``, web3 two
  ``eth_chainId``), so the ratio is not flattered by a slow client.

Each scan is timed with ``time.perf_counter`` and its JSON-RPC requests are counted by
`RpcCounter` (every request, whoever sends it). All three must find the same set: a benchmark
whose two sides disagree measures nothing, so a mismatch stops the run. Runs are interleaved;
above `REPEAT_UP_TO` borrowers each method runs once (one naive scan of 10,000 takes minutes).

`profile_batched` then runs the batched scan once more under cProfile and splits its time into
the JSON-RPC round trips (the node's answers: the HTTP provider's ``_make_request``), the Ape
ABI encoding and decoding of the small first batches (`Call.calldata`, `Call.decode`), the raw
``aggregate3`` encoding and slicing (`keepers.rawcalls`), the planner and the rest — where
the batched time goes.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from ape import chain
from eth_utils import keccak

from benchmarks.keeper_scan.book import Bench
from benchmarks.keeper_scan.rpc import RpcCounter
from keepers.config import KeeperSettings
from keepers.jobs import plan_liquidations
from keepers.math import WAD
from keepers.multicall import Multicall
from keepers.reads import read_book
from keepers.strategy.gate import GasMarket

__all__ = ["ScanMismatch", "ScanResult", "measure_scans", "profile_batched"]

REPEAT_UP_TO = 2_000  # larger books are scanned once per method

_HEALTH_FACTOR = keccak(text="healthFactor(address)")[:4]


class ScanMismatch(AssertionError):
    """The scans disagree on which borrowers are unhealthy."""


@dataclass(frozen=True)
class ScanResult:
    """One scan method at one size: median wall time of `runs`, requests per scan."""

    method: str
    seconds: float
    runs: tuple[float, ...]
    rpc_requests: int
    rpc_by_method: dict[str, int]
    unhealthy: frozenset[str]


def _gas_market(settings: KeeperSettings) -> GasMarket:
    """The keeper's gas market on this node (base fee 0: Ape starts anvil with no base fee)."""
    return GasMarket(0, settings.tx.priority_fee, int(settings.native_price * 10**18))


def batched(
    bench: Bench, borrowers: Sequence[str], block: int, multicall: Multicall | None = None
) -> frozenset[str]:
    """The liquidator's read and plan (keepers.shell.liquidator.run_liquidator, minus sending).
    `multicall`: the one to use (a keeper builds its `Multicall` once, at start)."""
    settings = KeeperSettings()
    multicall = multicall or Multicall()
    read = read_book(
        multicall, bench.protocol, borrowers, _asset(bench), block=block, unhealthy_only=True
    )
    if read.failures or len(read.borrowers) + len(read.healthy) != len(borrowers):
        raise ScanMismatch(f"the batched read failed for some borrowers: {dict(read.failures)}")
    plan = plan_liquidations(read.borrowers, read.rules, _gas_market(settings), None)
    return frozenset([p.borrower for p in plan.plans] + [s.borrower for s in plan.skipped])


def naive_ape(bench: Bench, borrowers: Sequence[str], block: int) -> frozenset[str]:
    book = bench.lending.book
    return frozenset(b for b in borrowers if book.healthFactor(b, block_id=block) < WAD)


def naive_raw(bench: Bench, borrowers: Sequence[str], block: int) -> frozenset[str]:
    request = chain.provider.web3.provider.make_request  # one HTTP request per call, no more
    book = str(bench.lending.book.address)
    unhealthy = []
    for b in borrowers:
        data = "0x" + (_HEALTH_FACTOR + bytes(12) + bytes.fromhex(b[2:])).hex()
        reply = request("eth_call", [{"to": book, "data": data}, hex(block)])
        if "error" in reply:
            raise ScanMismatch(f"healthFactor({b}) failed: {reply['error']}")
        if int(reply["result"], 16) < WAD:
            unhealthy.append(b)
    return frozenset(unhealthy)


def _asset(bench: Bench) -> str:
    return str(bench.lending.asset.address)


METHODS: dict[str, Callable[[Bench, Sequence[str], int], frozenset[str]]] = {
    "batched": batched,
    "naive (ape)": naive_ape,
    "naive (raw eth_call)": naive_raw,
}


def measure_scans(bench: Bench, repeats: int) -> dict[str, ScanResult]:
    """Every method `repeats` times, interleaved (a noisy machine slows all of them alike), at
    the head block; the sets they find must be equal."""
    block = chain.blocks.head.number
    borrowers = list(bench.borrowers)
    methods = dict(METHODS, batched=partial(batched, multicall=Multicall()))  # placed untimed
    runs: dict[str, list[float]] = {name: [] for name in methods}
    requests: dict[str, RpcCounter] = {}
    found: dict[str, frozenset[str]] = {}
    for _ in range(repeats if len(borrowers) <= REPEAT_UP_TO else 1):
        for name, method in methods.items():
            counter = RpcCounter()
            with counter.counting():
                started = time.perf_counter()
                unhealthy = method(bench, borrowers, block)
                runs[name].append(time.perf_counter() - started)
            requests[name] = counter
            if found.setdefault(name, unhealthy) != unhealthy:
                raise ScanMismatch(f"{name} found a different set on a repeat at block {block}")
    reference = found["batched"]
    for name, unhealthy in found.items():
        if unhealthy != reference:
            extra, missing = sorted(unhealthy - reference), sorted(reference - unhealthy)
            raise ScanMismatch(
                f"{name} and batched disagree at block {block}: "
                f"{len(extra)} only in {name} (e.g. {extra[:3]}), "
                f"{len(missing)} only in batched (e.g. {missing[:3]})"
            )
    if chain.blocks.head.number != block:
        raise ScanMismatch("a block was mined while scanning: the scans read different states")
    return {
        name: ScanResult(
            name,
            statistics.median(t),
            tuple(t),
            requests[name].total,
            dict(requests[name].by_method),
            found[name],
        )
        for name, t in runs.items()
    }


_PARTS = {  # (file suffix, function) -> part of the batched scan
    ("web3/providers/rpc/rpc.py", "_make_request"): "JSON-RPC (node)",
    ("keepers/multicall.py", "calldata"): "ape ABI encode",
    ("keepers/multicall.py", "decode"): "ape ABI decode",
    ("keepers/rawcalls.py", "encode_aggregate3"): "raw encode",
    ("keepers/rawcalls.py", "decode_aggregate3"): "raw decode",
    ("keepers/rawcalls.py", "decode_position"): "raw decode",
    ("keepers/jobs/liquidator.py", "plan_liquidations"): "plan",
}


def profile_batched(bench: Bench) -> dict[str, float]:
    """Seconds of one profiled batched scan, by part (cProfile slows it; the shares count)."""
    block = chain.blocks.head.number
    profiler, multicall = cProfile.Profile(), Multicall()
    started = time.perf_counter()
    profiler.runcall(batched, bench, list(bench.borrowers), block, multicall)
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    parts = {part: 0.0 for part in _PARTS.values()}
    for (filename, _, function), (_, _, _, cumulative, _) in stats.items():
        part = next(
            (p for (f, fn), p in _PARTS.items() if filename.endswith(f) and function == fn), None
        )
        if part is not None:
            parts[part] += cumulative
    parts["other (positions, checksums, ...)"] = max(total - sum(parts.values()), 0.0)
    return {"total (profiled)": total, **parts}
