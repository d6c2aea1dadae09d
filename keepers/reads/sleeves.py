"""The vault's sleeves, read in Multicall3 batches: which sleeves its decisions moved
(`read_moved_sleeves`), and the sleeves it holds (`read_vault_sleeves`), kept between passes as a
`SleeveSet` and read again only once a `SleeveAdded` or `SleeveRemoved` log says the set changed
after the block it was read at (`sleeve_set_changed`, pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address

from keepers.multicall import Call, Multicall, MulticallError
from keepers.reads.batches import failures_of, read_chunked
from keepers.reads.scans import read_logs

SLEEVE_ADDED_TOPIC = "0x" + keccak(text="SleeveAdded(uint256,address,string)").hex()
SLEEVE_REMOVED_TOPIC = "0x" + keccak(text="SleeveRemoved(address)").hex()


@dataclass(frozen=True)
class MovedSleeves:
    """The sleeves (checksummed, first-moved order, each once) whose weight the decisions read at
    `block` changed (`newBps != oldBps`); `failures`: the `decision(id)` reads that failed
    (label -> reason), whose sleeves are left out."""

    block: int
    sleeves: tuple[str, ...]
    failures: Mapping[str, str] = field(default_factory=dict)


def read_moved_sleeves(
    multicall: Multicall, vault: Any, decision_ids: Sequence[int], block: int | str = "latest"
) -> MovedSleeves:
    """`IRWAVault.decision(id)` of every id in `decision_ids`, in one batch (chunked when there
    are many) at `block`: a decision keeps the sleeves it was taken over, so a sleeve it moved
    may since have left the vault (or the manifest)."""
    calls = [Call(vault.decision, i, label=f"decision({i})") for i in decision_ids]
    batch = read_chunked(multicall, calls, block)
    moved: dict[str, None] = {}
    for result in batch.results:
        if not result.success:
            continue
        d = result.value
        for sleeve, old, new in zip(d.sleeves, d.oldBps, d.newBps, strict=True):
            if old != new:
                moved.setdefault(to_checksum_address(str(sleeve)), None)
    return MovedSleeves(batch.block, tuple(moved), failures_of(batch))


def read_vault_sleeves(
    multicall: Multicall, vault: Any, block: int | str = "latest"
) -> tuple[int, tuple[str, ...]]:
    """(block read, the vault's sleeves in its order, checksummed): `sleeveCount()`, then every
    `sleeveAt(i)` in one batch pinned to the first one's block. A failed read raises
    `MulticallError` (a partial list would hide a sleeve)."""
    first = multicall.read([Call(vault.sleeveCount, label="sleeveCount()")], block)
    count = int(first.results[0].unwrap())
    calls = [Call(vault.sleeveAt, i, label=f"sleeveAt({i})") for i in range(count)]
    configs = read_chunked(multicall, calls, first.block).results if calls else ()
    failed = [r for r in configs if not r.success]
    if failed:
        raise MulticallError(f"{failed[0].call.label} failed: {failed[0].error}")
    return first.block, tuple(to_checksum_address(str(r.value.sleeve)) for r in configs)


@dataclass(frozen=True)
class SleeveSet:
    """The vault's `sleeves` as read at `block`, with `feeds` (sleeve -> token) of those the
    manifest does not list, `scanned`: the last block whose sleeve logs were looked at, and
    `mark`: what tells whether the chain went back under them (`keepers.reads.scans.cursor_mark`,
    `chain_changed`)."""

    block: int
    scanned: int
    sleeves: tuple[str, ...]
    feeds: Mapping[str, str] = field(default_factory=dict)
    mark: str | None = None


def sleeve_change_blocks(web3: Any, vault: Any, start: int, end: int, chunk: int) -> list[int]:
    """The blocks of `vault`'s `SleeveAdded`/`SleeveRemoved` logs from `start` to `end`, read in
    `chunk`-block ranges (`read_logs`)."""
    params = {"address": str(vault.address), "topics": [[SLEEVE_ADDED_TOPIC, SLEEVE_REMOVED_TOPIC]]}
    return [int(g["blockNumber"]) for g in read_logs(web3, params, start, end, chunk)]


def sleeve_set_changed(read_block: int, log_blocks: Iterable[int]) -> bool:
    """Whether a `SleeveAdded`/`SleeveRemoved` log at `log_blocks` changed the sleeve set after
    it was read at `read_block` (a log at or below it is in the read already)."""
    return any(b > read_block for b in log_blocks)
