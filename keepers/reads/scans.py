"""Event-log scans in bounded `eth_getLogs` ranges, with a look-back for reorgs and lagging nodes.

Providers cap the block range of one `eth_getLogs` (10k blocks is common, public endpoints
allow less): `log_chunks` asks in `chunk`-block ranges (`liquidator.scan_chunk`), oldest first
or newest first.

A job that keeps a cursor (the last block it scanned) starts its next scan `depth` blocks below
it (`scan_start`; `liquidator.reorg_depth`): a reorg that puts a log into a block the cursor has
passed, or a load-balanced node a few blocks behind that answered a range for less than was
asked, is read again on the next pass instead of missed for ever. What a job keeps from a scan
must therefore be idempotent (a borrower added twice is one borrower) or replace, not add to,
what it kept from the re-read blocks (`scan_cursor` gives each chunk's range for that;
`fold_block_sums` keeps a running total that way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from web3 import Web3

    from keepers.store import Store

__all__ = [
    "Chunk",
    "block_hash",
    "chain_changed",
    "cursor_mark",
    "cursor_moved",
    "fold_block_sums",
    "log_chunks",
    "mark_cursor",
    "read_logs",
    "scan_cursor",
    "scan_start",
]

Chunk = tuple[int, int, list[Any]]  # (first block, last block, the logs in chain order)


def scan_start(cursor: int | None, origin: int, depth: int) -> int:
    """The first block of a scan: `origin` (the deployment block) when nothing was scanned yet,
    else `depth` blocks below the block after `cursor` (never below `origin`)."""
    if cursor is None:
        return origin
    return max(origin, cursor + 1 - depth)


def fold_block_sums(
    settled: int,
    recent: Mapping[int, int],
    first: int,
    last: int,
    fresh: Mapping[int, int],
    depth: int,
) -> tuple[int, dict[int, int]]:
    """A running total kept as `settled` (blocks no later scan reads again) plus `recent` (block
    -> amount, blocks a look-back may read again), after a scan of blocks `first`..`last` read
    `fresh` (block -> amount): what was kept for those blocks and any after them is replaced by
    what the scan read (a reorg may have changed them: nothing is counted twice, nothing dropped
    is kept), and blocks more than `depth` below `last` are settled."""
    kept = {b: v for b, v in recent.items() if b < first}
    kept.update({b: v for b, v in fresh.items() if first <= b <= last and v})
    keep_from = last + 1 - depth
    settled += sum(v for b, v in kept.items() if b < keep_from)
    return settled, {b: v for b, v in kept.items() if b >= keep_from}


def _ranges(start: int, stop: int, chunk: int, newest_first: bool) -> list[tuple[int, int]]:
    if chunk < 1:
        raise ValueError(f"chunk {chunk} is not a positive number of blocks")
    out = [(lo, min(lo + chunk - 1, stop)) for lo in range(start, stop + 1, chunk)]
    return out[::-1] if newest_first else out


def _chain_order(log: Any) -> tuple[int, int]:
    return int(log["blockNumber"]), int(log["logIndex"])


def log_chunks(
    web3: Web3,
    params: Mapping[str, Any],
    start: int,
    stop: int,
    chunk: int,
    *,
    newest_first: bool = False,
) -> Iterator[Chunk]:
    """`eth_getLogs` of `params` (address, topics) over blocks `start`..`stop`, asked in ranges
    of at most `chunk` blocks; each range's logs sorted by (block, log index)."""
    for lo, hi in _ranges(start, stop, chunk, newest_first):
        logs = web3.eth.get_logs({**params, "fromBlock": lo, "toBlock": hi})
        yield lo, hi, sorted(logs, key=_chain_order)


def read_logs(
    web3: Web3, params: Mapping[str, Any], start: int, stop: int, chunk: int
) -> list[Any]:
    """Every log of `params` in blocks `start`..`stop` (chunked), in chain order."""
    return [log for _, _, logs in log_chunks(web3, params, start, stop, chunk) for log in logs]


def scan_cursor(
    web3: Web3,
    store: Store,
    cursor: str,
    params: Mapping[str, Any],
    *,
    origin: int,
    head: int,
    chunk: int,
    depth: int,
    apply: Callable[[int, int, Sequence[Any]], None],
) -> None:
    """Scans `params` from `scan_start` (the store's `cursor`, `depth` blocks back) to `head`:
    `apply(first, last, logs)` per chunk, then the cursor moves to the chunk's last block (a scan
    cut short by a failed request resumes there). `apply` sees the look-back blocks again each
    pass: it must be idempotent over them.

    Beside the cursor its mark is kept (`cursor_mark`, job state `<cursor>:block-hash`): a pass
    that finds another block there — a node restarted from an older state (`anvil
    --load-state`), a reorg deeper than `depth` — reads from `origin` again: the look-back alone
    started 12 blocks below the old cursor once the chain had grown back past it, and a borrower
    who borrowed in between was never found (`tests/keepers/test_keeper_rewound_scan.py`). A
    node below the mark (lagging, or rewound and not grown back yet) is checked once it reaches
    it; while it is below the cursor each pass reads the `depth` blocks below the node's head
    (the cursor stays): a node restarted from an older state had the liquidator read nothing
    while the chain grew back, and a borrower who borrowed there was not liquidated. Cost: two
    block reads a pass."""
    # the chain under the cursor changed: read it again from `origin`
    kept = None if cursor_moved(web3, store, cursor, head) else store.last_block(cursor)
    start = scan_start(kept if kept is None else min(kept, head), origin, depth)
    for lo, hi, logs in log_chunks(web3, params, start, head, chunk):
        apply(lo, hi, logs)
        store.set_last_block(cursor, hi)
    mark_cursor(web3, store, cursor, head, depth)


def cursor_moved(web3: Web3, store: Store, cursor: str, head: int) -> bool:
    """`chain_changed` under the store's `cursor`, against the mark `mark_cursor` kept beside it
    (job state `<cursor>:block-hash`)."""
    return chain_changed(web3, store.job_state(f"{cursor}:block-hash"), head)


def mark_cursor(web3: Web3, store: Store, cursor: str, head: int, depth: int) -> None:
    """Keeps the mark of the store's `cursor` (`cursor_mark`) beside it, for `cursor_moved`."""
    now = store.last_block(cursor)
    mark = None if now is None else cursor_mark(web3, now, depth, head)
    if mark is not None:
        store.set_job_state(f"{cursor}:block-hash", mark)


def block_hash(web3: Web3, block: int) -> str:
    """The hash of the node's block `block` now ("0x…")."""
    return "0x" + bytes(web3.eth.get_block(block)["hash"]).hex()


def cursor_mark(web3: Web3, cursor: int, depth: int, head: int, floor: int = 0) -> str | None:
    """What a cursor keeps to tell whether the chain it read went back under it: the number and
    hash ("<number>:0x…") of the block `depth` below it (not below `floor`), the highest block
    its look-back no longer reads — a reorg above it is read again anyway, and marking the
    cursor's own block had every one-block reorg of the head read the whole history again;
    None while the node's `head` is below that block."""
    block = max(cursor - depth, floor, 0)
    return f"{block}:{block_hash(web3, block)}" if block <= head else None


def chain_changed(web3: Web3, mark: str | None, head: int) -> bool:
    """Whether the node now has another block at the one `mark` (`cursor_mark`) names: the chain
    went back below the look-back of the cursor that kept it (a node restarted from an older
    state, a reorg deeper than the look-back) and grew again, and what was read up to it may be
    of the abandoned chain. False when nothing was kept (or a bare hash, the mark's older
    form), or the marked block is above `head` (a node below it, lagging or rewound and not
    grown back yet, is checked once it reaches it). Every cursor that keeps what it read of
    past blocks uses it: the log scans (`scan_cursor`), the keeper's reorg check of its own
    mined transactions (`Keeper.reconcile`; both through `cursor_moved`), the steward's
    bad-debt total, the vault's sleeve set (`keepers.shell.confirmations.vault_unlisted_feeds`).
    One block read."""
    number, marked, seen = (mark or "").partition(":")
    if not marked or not number.isdigit():
        return False
    return int(number) <= head and block_hash(web3, int(number)) != seen
