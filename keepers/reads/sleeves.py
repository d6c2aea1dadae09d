"""Which sleeves the vault's decisions moved (`read_moved_sleeves`), read in Multicall3 batches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from keepers.multicall import Call, Multicall
from keepers.reads.batches import failures_of, read_chunked


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
