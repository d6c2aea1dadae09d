"""`verify-decision`: does the rationale document a keeper stored re-hash to the hash the vault
recorded for a decision? With `--replay`: does the strategy, re-run on the document (a replay
receipt, `keepers.strategy.replay`), decide the same, and does the node, read at the receipt's
block, agree with the chain inputs it records?

The chain's side is the `Rebalanced(decisionId, agent, …, rationaleHash, rationaleURI)` event
of that decision; the document is found by hash in the keeper's store, or as
`<rationale_dir>/<hash>.json`, or at a `file://` URI naming a file in that folder (the URI is the
agent's word: one naming any other local path is not read). A document is read only from a
regular file of at most `MAX_DOCUMENT_BYTES`. `verify_decision` never raises for a missing,
refused or mismatching document: the `Verification` says what was found.

A receipt verifies only against the chain: the targets its decision's transaction sent
(`rebalance(targetBps, …)` to the vault) are its outcome's, its block is before the decision's,
and the node serves that block and agrees with its inputs there, and every reading of its
return-index history is the chain's at a block carrying its timestamp. A receipt whose inputs
cannot be checked (no block, a block the node no longer serves) does not verify. (The lending
book's exposures and the gas market a receipt records are not checked.)
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from keepers.protocol import Protocol
from keepers.reads import AllocationRead, read_allocation
from keepers.reads.scans import log_chunks
from keepers.store import Store
from keepers.strategy.bounds import weights_bps
from keepers.strategy.inputs import StrategyInputs
from keepers.strategy.kit import SHIPPED
from keepers.strategy.rationale import MAX_DOCUMENT_BYTES, is_canonical, rationale_hash
from keepers.strategy.rationale import decode as decode_rationale
from keepers.strategy.replay import (
    ReceiptError,
    Replay,
    StrategyUnavailable,
    from_document,
    replay,
)

__all__ = ["DecisionNotFound", "DocumentRefused", "ReplayCheck", "Verification",
           "agent_differences", "blocks_at", "chain_differences", "decision_differences",
           "decode_rebalanced", "find_document",
           "history_differences", "onchain_rationale", "oracle_differences", "replay_decision",
           "sleeve_set_differences", "timing_differences", "verify_decision"]  # fmt: skip

REBALANCE_SELECTOR = keccak(text="rebalance(uint16[],bytes32,string)")[:4]
RETURN_INDEX_SELECTOR = keccak(text="returnIndex()")[:4]
REBALANCED_TOPIC = (
    "0x"
    + keccak(
        text="Rebalanced(uint256,address,uint16[],uint16[],uint256,uint256,bytes32,string)"
    ).hex()
)

DEFAULT_CHUNK = 5_000  # blocks per eth_getLogs range: `liquidator.scan_chunk`'s default


class DecisionNotFound(LookupError):
    """No `Rebalanced` event for this decision id (one-line message)."""


class DocumentRefused(ValueError):
    """A document that is there but is not read: a `file://` URI outside the rationale folder,
    not a regular file, larger than `MAX_DOCUMENT_BYTES`, or unreadable (one-line message)."""


@dataclass(frozen=True)
class Verification:
    decision_id: int
    agent: str
    block: int
    onchain_hash: str
    uri: str
    source: str | None  # where the document was found; None: nowhere
    computed_hash: str | None
    canonical: bool
    tx_hash: str = ""  # the transaction that emitted the decision's `Rebalanced`
    note: str = ""  # why no document was read (`DocumentRefused`); "" when none was found

    @property
    def ok(self) -> bool:
        return self.computed_hash == self.onchain_hash and self.canonical

    @property
    def verdict(self) -> str:
        if self.source is None and self.note:
            return f"no document with hash {self.onchain_hash} read: {self.note}"
        if self.source is None:
            return f"no document with hash {self.onchain_hash} in the store or at {self.uri}"
        if self.computed_hash != self.onchain_hash:
            return f"MISMATCH: {self.source} hashes to {self.computed_hash}"
        if not self.canonical:
            return f"{self.source} has the right hash but is not canonical JSON"
        return f"verified: {self.source} hashes to the on-chain {self.onchain_hash}"


def onchain_rationale(
    protocol: Protocol, decision_id: int, chunk: int = DEFAULT_CHUNK
) -> tuple[str, str, str, int, str]:
    """(agent, rationale hash as 0x hex, URI, block, transaction hash) of decision
    `decision_id` (its last `Rebalanced` event), read newest first in `chunk`-block ranges
    (`liquidator.scan_chunk`) down to the deployment block. `DecisionNotFound` (one line) when
    there is none, or when the node does not serve it: a node that refuses the scan (a range
    too wide for a public endpoint), or one that keeps no logs that old, whose empty answer is
    told from a decision that does not exist by the vault's `decisionCount()`. (Found in an
    outside review: the first was a traceback, the second "has no Rebalanced event on this
    chain" for a decision the chain holds.)"""
    from ape import chain

    web3 = chain.provider.web3
    params = {
        "address": protocol.vault.address,
        "topics": [REBALANCED_TOPIC, "0x" + decision_id.to_bytes(32, "big").hex()],
    }
    try:
        chunks = log_chunks(web3, params, protocol.block, web3.eth.block_number, chunk,
                            newest_first=True)  # fmt: skip
        entry = next((logs[-1] for _, _, logs in chunks if logs), None)
    except Exception as err:  # noqa: BLE001 - any node refusal: the event cannot be read here
        raise DecisionNotFound(f"decision {decision_id}: this node does not serve the vault's "
                               f"Rebalanced events: {_line(err)}") from None  # fmt: skip
    if entry is None:
        raise DecisionNotFound(_no_event(protocol, decision_id))
    _, agent, digest, uri = decode_rebalanced(entry)
    tx_hash = "0x" + bytes(entry["transactionHash"]).hex()
    return agent, "0x" + digest.hex(), uri, int(entry["blockNumber"]), tx_hash


def _no_event(protocol: Protocol, decision_id: int) -> str:
    """Why no `Rebalanced` event of `decision_id` was found, as the vault's `decisionCount()`
    (its latest state, which any node serves) tells it."""
    try:
        count = int(protocol.vault.decisionCount())
    except Exception:  # noqa: BLE001 - not read: the scan's answer alone
        return f"decision {decision_id} has no Rebalanced event on this chain"
    if decision_id < count:
        return (f"decision {decision_id} is on chain (the vault has made {count}) but this node "
                "serves no Rebalanced event for it: it keeps no logs that old (ask an archive "
                "node)")  # fmt: skip
    return (f"decision {decision_id} has no Rebalanced event on this chain (the vault has made "
            f"{count} decisions)")  # fmt: skip


def decode_rebalanced(entry: Any) -> tuple[int, str, bytes, str]:
    """(decision id, agent, rationale hash, URI) of a raw `Rebalanced` log. The URI is the
    agent's calldata, which Solidity's `string` does not check: bytes that are not UTF-8 are
    read with U+FFFD in their place (found in an outside review: a URI of `0xff` ended
    `verify-decision` in a `UnicodeDecodeError` traceback)."""
    topics = entry["topics"]
    *_, digest, uri = decode(  # `bytes`: the ABI encoding of a `string`, not decoded as UTF-8
        ["uint16[]", "uint16[]", "uint256", "uint256", "bytes32", "bytes"], bytes(entry["data"])
    )
    agent = to_checksum_address("0x" + bytes(topics[2])[-20:].hex())
    text = bytes(uri).decode("utf-8", errors="replace")
    return int.from_bytes(bytes(topics[1]), "big"), agent, bytes(digest), text


def find_document(
    digest: str, uri: str, store: Store | None, rationale_dir: Path | None
) -> tuple[bytes, str] | None:
    """The document and where it was found: the store, the rationale folder
    (`<digest>.json`), or a `file://` URI naming a file inside that folder. None: not there.
    The URI is the agent's word (the `Rebalanced` event's): one naming a local file anywhere
    else (`/etc/shadow`, a device, a FIFO, `/proc`) is never opened, and a document that is
    not a regular file of at most `MAX_DOCUMENT_BYTES` is never read whole: `DocumentRefused`,
    one line. (Found in an outside review: any local file a URI named was read and hashed.)"""
    if store is not None:
        body = store.rationale(digest)
        if body is not None:
            return body, f"the store ({store.path})"
    folder = None if rationale_dir is None else Path(rationale_dir)
    if folder is not None:
        path = folder / f"{digest}.json"
        body = read_document(path, str(path))
        if body is not None:
            return body, str(path)
    named = _file_uri_path(uri)
    if named is None:
        return None
    if folder is None or not _inside(named, folder):
        raise DocumentRefused(
            "its file:// URI names a local file outside rebalancer.rationale_dir: not read "
            "(a file:// URI is followed only into that folder)"
        )
    body = read_document(named, "the file its file:// URI names")
    return None if body is None else (body, uri)


def _file_uri_path(uri: str) -> Path | None:
    """The path of a `file://` URI (None: another scheme, or not a URI at all)."""
    try:
        parsed = urlsplit(uri)
    except ValueError:  # e.g. `file://[x`: an unbalanced IPv6 host
        return None
    if parsed.scheme != "file" or not parsed.path or "\x00" in parsed.path:
        return None
    return Path(parsed.path)


def _inside(path: Path, folder: Path) -> bool:
    """`path`, its links resolved, is inside `folder` (resolved too)."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError, RuntimeError):  # a link loop, a name too long
        return False


def read_document(path: Path, what: str) -> bytes | None:
    """The bytes of the regular file `path` (None: no such file), at most `MAX_DOCUMENT_BYTES`
    read; anything else is `DocumentRefused` naming `what`. Opened without blocking (a FIFO
    does not hold the verifier) and checked on the open file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as err:
        raise DocumentRefused(f"{what} cannot be read: {_reason(err)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DocumentRefused(f"{what} is not a regular file: not read")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_DOCUMENT_BYTES and info.st_size <= MAX_DOCUMENT_BYTES:
            chunk = os.read(fd, min(2**20, MAX_DOCUMENT_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if max(size, info.st_size) > MAX_DOCUMENT_BYTES:
            raise DocumentRefused(f"{what} is larger than {MAX_DOCUMENT_BYTES:,} bytes, the most "
                                  "a rationale document may be: not read")  # fmt: skip
        return b"".join(chunks)
    except OSError as err:
        raise DocumentRefused(f"{what} cannot be read: {_reason(err)}") from None
    finally:
        os.close(fd)


def _reason(err: BaseException) -> str:
    return (err.strerror if isinstance(err, OSError) and err.strerror else None) or _line(err)


def verify_decision(
    protocol: Protocol,
    decision_id: int,
    store: Store | None = None,
    rationale_dir: Path | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> Verification:
    """Re-hash decision `decision_id`'s stored rationale and compare with the chain (its event
    read in `chunk`-block ranges)."""
    agent, digest, uri, block, tx_hash = onchain_rationale(protocol, decision_id, chunk)
    try:
        found = find_document(digest, uri, store, rationale_dir)
    except DocumentRefused as err:
        return Verification(decision_id, agent, block, digest, uri, None, None, False, tx_hash,
                            str(err))  # fmt: skip
    if found is None:
        return Verification(decision_id, agent, block, digest, uri, None, None, False, tx_hash)
    body, source = found
    computed = "0x" + rationale_hash(body).hex()
    return Verification(
        decision_id, agent, block, digest, uri, source, computed, is_canonical(body), tx_hash
    )


# ------------------------------------------------------------------------------ replay receipts


def chain_differences(inputs: StrategyInputs, allocation: AllocationRead) -> tuple[str, ...]:
    """What the receipt's chain inputs say that the node, read at the receipt's block, does not:
    NAV, the bounds, each sleeve's cap and weight, and the latest return index sampled there."""
    found: list[str] = []

    def compare(what: str, receipt: int, node: int | None) -> None:
        if node is not None and receipt != node:
            found.append(f"{what}: receipt {receipt}, node {node}")

    compare("timestamp", inputs.timestamp, allocation.timestamp)
    compare("nav", inputs.nav, allocation.rebalance_nav)
    compare("vault.idleBufferBps", inputs.idle_buffer_bps, allocation.idle_buffer_bps)
    compare("vault.maxTurnoverBps", inputs.max_turnover_bps, allocation.max_turnover_bps)
    names = [s.name for s in allocation.sleeves]
    if [s.name for s in inputs.sleeves] != names:
        found.append(f"sleeves: receipt {[s.name for s in inputs.sleeves]}, node {names}")
        return tuple(found)
    weights = weights_bps([s.held for s in allocation.sleeves], allocation.rebalance_nav)
    for mine, node, weight in zip(inputs.sleeves, allocation.sleeves, weights, strict=True):
        compare(f"{mine.name} cap_bps", mine.cap_bps, node.cap_bps)
        compare(f"{mine.name} current_bps", mine.current_bps, weight)
        history = mine.history
        index = None if node.return_index is None else int(node.return_index)
        if history.timestamps and history.timestamps[-1] == inputs.timestamp and index is None:
            # the keeper records no reading it could not take: this one is the agent's word
            found.append(f"{mine.name} returnIndex: receipt {history.indices[-1]}, node unread "
                         f"(the sleeve's index cannot be read at the receipt's block)")  # fmt: skip
        elif history.timestamps and history.timestamps[-1] == inputs.timestamp:
            compare(f"{mine.name} returnIndex", history.indices[-1], index)
        elif index is not None:  # the keeper records the index it read before it decides
            found.append(f"{mine.name} returnIndex: the receipt has no reading at its timestamp, "
                         f"node {index}")  # fmt: skip
    return tuple(found)


def history_differences(
    inputs: StrategyInputs,
    blocks_at: Callable[[int], Sequence[int]],
    indices_at: Callable[[int], Mapping[str, int | None]],
) -> tuple[str, ...]:
    """What the receipt's return-index history says that the chain does not: every reading but
    the latest (`chain_differences` checks that one) must be the sleeve's `returnIndex()` at a
    block carrying the reading's timestamp (`blocks_at(t)`: those blocks, newest first; a block
    where any of them agrees will do) as `indices_at(block)` reads it (name -> index, None:
    unread); a chain index of 0 is recorded as 1 (`jobs.rebalancer.strategy_inputs`). At most
    one difference per sleeve, its oldest. (Found in an agent review: only the latest reading
    was checked, so an agent could write any history, the forecast's whole input, and run the
    strategy on it: its decision "replayed" and "the node agreed".)"""
    found: dict[str, str] = {}
    readings: dict[int, list[tuple[str, int]]] = {}
    for s in inputs.sleeves:
        for t, v in zip(s.history.timestamps, s.history.indices, strict=True):
            if t != inputs.timestamp:
                readings.setdefault(t, []).append((s.name, v))
    for t in sorted(readings):
        waiting = [(n, v) for n, v in readings[t] if n not in found]
        if not waiting:
            continue
        blocks = list(blocks_at(t))
        if not blocks:
            for name, _ in waiting:
                found[name] = f"{name} returnIndex history: no block at its reading's time {t}"
            continue
        seen: dict[str, list[int | None]] = {name: [] for name, _ in waiting}
        for block in blocks:
            node = indices_at(block)
            for name, value in list(waiting):
                index = node.get(name)
                chain_value = None if index is None else max(int(index), 1)
                if chain_value == value:
                    waiting.remove((name, value))
                else:
                    seen[name].append(chain_value)
            if not waiting:
                break
        for name, value in waiting:
            found[name] = (f"{name} returnIndex history at {t}: receipt {value}, node "
                           f"{seen[name][0]} (block {blocks[0]})")  # fmt: skip
    return tuple(found[s.name] for s in inputs.sleeves if s.name in found)


def oracle_differences(
    inputs: StrategyInputs, deviations: Mapping[str, int], book: str | None
) -> tuple[str, ...]:
    """The receipt's `oracle_deviation_bps` (the risk-off rule's input) against the router read
    at the receipt's block (`deviations`: feed name -> bps, collateral included): a priced
    sleeve's own feed, the lending sleeve (named `book`) the largest of every feed
    (`shell.rebalancer._snapshot`), any other sleeve 0."""
    found = []
    for s in inputs.sleeves:
        node = max(deviations.values(), default=0) if s.name == book else deviations.get(s.name, 0)
        if s.oracle_deviation_bps != node:
            found.append(f"{s.name} oracle_deviation_bps: receipt {s.oracle_deviation_bps}, "
                         f"node {node}")  # fmt: skip
    return tuple(found)


def blocks_at(timestamp_of: Callable[[int], int], first: int, last: int, t: int,
              most: int = 8) -> tuple[int, ...]:  # fmt: skip
    """The blocks in [first, last] whose timestamp is `t`, newest first (at most `most`), found
    by bisection on `timestamp_of(block)` (block timestamps never decrease)."""
    lo, hi = first, last
    if hi < lo or timestamp_of(lo) > t:
        return ()
    while lo < hi:  # the newest block with a timestamp <= t
        mid = (lo + hi + 1) // 2
        if timestamp_of(mid) <= t:
            lo = mid
        else:
            hi = mid - 1
    found = []
    block = lo
    while block >= first and len(found) < most and timestamp_of(block) == t:
        found.append(block)
        block -= 1
    return tuple(found)


def decision_differences(
    recorded_target: tuple[int, ...] | None,
    receipt_block: int,
    verification: Verification,
    vault: str,
    sent: Mapping[str, Any],
) -> tuple[str, ...]:
    """What the chain's decision says that the receipt does not: its block, which must follow
    the receipt's, and the targets its transaction `sent` (a web3 transaction:
    `rebalance(targetBps, rationaleHash, rationaleURI)` to `vault`), which must be the receipt's
    outcome's."""
    found: list[str] = []
    if receipt_block >= verification.block:
        found.append(
            f"block: the receipt reads block {receipt_block}, not before the decision's block "
            f"{verification.block}"
        )
    data = bytes(sent.get("input") or b"")
    to = sent.get("to")
    direct = to is not None and to_checksum_address(str(to)) == to_checksum_address(vault)
    if not direct or data[:4] != REBALANCE_SELECTOR:
        found.append(
            f"targets: transaction {verification.tx_hash} is not a rebalance call to the vault: "
            "the targets it sent cannot be checked"
        )
        return tuple(found)
    targets, _, _ = decode(["uint16[]", "bytes32", "string"], data[4:])
    if tuple(targets) != recorded_target:
        mine = list(recorded_target) if recorded_target is not None else None
        found.append(f"targets: the transaction sent {list(targets)}, the receipt's outcome {mine}")
    return tuple(found)


def agent_differences(receipt_agent: str, decision_agent: str) -> tuple[str, ...]:
    """The receipt names the agent it was read for (`StrategyInputs.agent`), and it must be the
    decision's (`Rebalanced.agent`, the sender). (Found in an outside review: a receipt did not
    name its agent, so another agent that copied a pending `rebalance` — targets, hash, URI —
    and landed first had a decision that verified, exit 0, as the strategy's run for it.)"""
    if not receipt_agent:
        return (f"agent: the receipt names no agent; the decision was sent by {decision_agent}",)
    try:
        same_agent = to_checksum_address(receipt_agent) == to_checksum_address(decision_agent)
    except ValueError:
        same_agent = False
    if same_agent:
        return ()
    return (f"agent: the receipt was read for {receipt_agent}, the decision was sent by "
            f"{decision_agent}",)  # fmt: skip


# `verify-decision --replay`'s default for `--max-age`: the keeper sends its rebalance right after
# its read (`tx.receipt_timeout` 180 s, with replacements); an hour covers a slow inclusion (as
# `verify-steward`'s).
DECISION_RECEIPT_MAX_AGE = 3_600


def timing_differences(
    receipt_block: int,
    receipt_timestamp: int,
    decision_block: int,
    decision_timestamp: int,
    previous_block: int | None,
    max_age: int,
) -> tuple[str, ...]:
    """What makes a receipt's inputs not those its decision was made on, though the chain held
    them at the receipt's block: read more than `max_age` seconds before the decision's block
    (a receipt kept from a moment the agent picked, or another decision's receipt reused), or
    before the vault's previous decision (`previous_block`: its block, None when there is none:
    the weights the receipt decided from were moved since). (Found in an outside review: a
    decision sent days after its receipt, or a later decision reusing an earlier one's receipt
    and targets, verified: exit 0.) A receipt read at or after the decision's block is named by
    `decision_differences`."""
    found: list[str] = []
    if receipt_block >= decision_block:
        return ()
    age = decision_timestamp - receipt_timestamp
    if age > max_age:
        found.append(f"the receipt's inputs are {age} s older than the decision "
                     f"(block {receipt_block}, decision at {decision_block}; at most "
                     f"{max_age} s)")  # fmt: skip
    if previous_block is not None and previous_block > receipt_block:
        found.append(f"the vault's previous decision (block {previous_block}) came after "
                     f"the receipt's block {receipt_block}: its weights are not the "
                     f"decision's")  # fmt: skip
    return tuple(found)


@dataclass(frozen=True)
class ReplayCheck:
    """`verify-decision --replay`: the document's verification, the strategy re-run on it, its
    chain inputs against the node at its block (`node` None: not checked, said in `note`: the
    receipt names no block or the node cannot serve it — it does not verify) and what the
    decision sent against the receipt (`decision`: `decision_differences`), and the receipt's
    timing against the decision's (`timing`: `timing_differences`)."""

    verification: Verification
    replay: Replay | None
    node: tuple[str, ...] | None
    note: str
    decision: tuple[str, ...] = ()
    timing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return (
            self.verification.ok
            and self.replay is not None
            and self.replay.ok
            and self.node == ()  # checked, and the node agrees
            and not self.decision
            and not self.timing
        )


def replay_decision(
    keeper_multicall: Any,
    protocol: Protocol,
    decision_id: int,
    store: Store | None = None,
    rationale_dir: Path | None = None,
    chunk: int = DEFAULT_CHUNK,
    time_limit: float | None = None,
    max_age: int = DECISION_RECEIPT_MAX_AGE,
    trusted: Collection[str] = SHIPPED,
) -> ReplayCheck:
    """Verify decision `decision_id`'s document, replay it (an operator's strategy within
    `time_limit` seconds when set: `rebalancer.strategy_time_limit_seconds`; only a strategy
    of `trusted`, `kit.trusted_strategies`: the receipt is the agent's document), cross-check
    its chain inputs and its timing (`timing_differences`, at most `max_age` seconds old)."""
    verification = verify_decision(protocol, decision_id, store, rationale_dir, chunk)
    if not verification.ok:
        return ReplayCheck(verification, None, None, verification.verdict)
    try:
        found = find_document(verification.onchain_hash, verification.uri, store, rationale_dir)
    except DocumentRefused:  # changed since it verified: as missing
        found = None
    body = found[0] if found is not None else b""
    try:
        result = replay(body, time_limit, trusted)
        inputs, _ = from_document(decode_rationale(body))
    except StrategyUnavailable as err:
        return ReplayCheck(verification, None, None, f"cannot replay here: {err}")
    except ReceiptError as err:
        return ReplayCheck(verification, None, None, f"not a replay receipt: {err}")
    try:
        from ape import chain

        sent = chain.provider.web3.eth.get_transaction(verification.tx_hash)
        vault = str(protocol.vault.address)
        decision = decision_differences(result.recorded_target, inputs.block, verification,
                                        vault, sent)  # fmt: skip
    except Exception as err:  # noqa: BLE001 - any node refusal: the transaction is not served
        decision = (f"targets: transaction {verification.tx_hash} not served: {_line(err)}",)
    decision += agent_differences(inputs.agent, verification.agent)
    try:
        from ape import chain

        decided_at = int(chain.provider.web3.eth.get_block(verification.block)["timestamp"])
        previous = None
        if decision_id > 0:
            previous = onchain_rationale(protocol, decision_id - 1, chunk)[3]
        timing = timing_differences(inputs.block, inputs.timestamp, verification.block,
                                    decided_at, previous, max_age)  # fmt: skip
    except Exception as err:  # noqa: BLE001 - any node refusal: the timing cannot be checked
        timing = (f"the decision's block or its previous decision not served: {_line(err)}",)
    if inputs.block <= 0:
        return ReplayCheck(verification, result, None, "the receipt names no block", decision,
                           timing)  # fmt: skip
    try:
        then = sleeves_at(protocol, inputs.block)
        allocation = read_allocation(keeper_multicall, then, inputs.block)
    except UnknownSleeve as err:  # served, but not a sleeve the replay can read
        return ReplayCheck(verification, result, None, str(err), decision, timing)
    except Exception as err:  # noqa: BLE001 - any node refusal: the block is not served
        note = f"block {inputs.block} not served: {_line(err)}"
        return ReplayCheck(verification, result, None, note, decision, timing)
    receipt_set = [(e.name, str(e.address)) for e in then.deployment.sleeves]
    try:
        decision += sleeve_set_differences(
            receipt_set, _decision_sleeves(protocol, decision_id, verification.block, receipt_set)
        )
    except Exception as err:  # noqa: BLE001 - any node refusal: the sleeves cannot be checked
        decision += (f"sleeves: the decision's sleeves not served: {_line(err)}",)
    try:
        node = chain_differences(inputs, allocation) + _history_and_oracles(
            keeper_multicall, then, inputs
        )
    except Exception as err:  # noqa: BLE001 - any node refusal: the inputs cannot be checked
        return ReplayCheck(verification, result, None, f"inputs not served: {_line(err)}",
                           decision, timing)  # fmt: skip
    return ReplayCheck(verification, result, node, "", decision, timing)


def sleeve_set_differences(
    receipt: Sequence[tuple[str, str]], decision: Sequence[tuple[str, str]]
) -> tuple[str, ...]:
    """The sleeves the decision's targets went to (`decision`: (name, address) in index order,
    `RWAVault.decision(id).sleeves`) must be those the receipt decided over (`receipt`: the
    vault's at the receipt's block). Targets are per index: a set changed between the two (a
    removal and an addition keep the count) sends them to other sleeves. (Found in an outside
    review: before the vault's first decision no cooldown follows a change of the set; tbill
    removed and tbill2 added after the keeper's read, the receipt's 1,995 bps for tbill went
    into gold, and the decision verified, exit 0.)"""
    if [a.lower() for _, a in receipt] == [a.lower() for _, a in decision]:
        return ()
    return (f"sleeves: the decision moved {[n for n, _ in decision]}, the receipt decided over "
            f"{[n for n, _ in receipt]}: its targets went to other sleeves",)  # fmt: skip


def _decision_sleeves(protocol: Protocol, decision_id: int, block: int,
                      known: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:  # fmt: skip
    """(name, address) of each sleeve behind decision `decision_id`'s indices, as the vault
    recorded them; a name from `known`, else the vault's at the decision's `block`, else the
    address."""
    vault = protocol.vault
    names = {a.lower(): n for n, a in known}
    found = []
    for i, sleeve in enumerate(vault.decision(decision_id).sleeves):
        address = to_checksum_address(str(sleeve))
        name = names.get(address.lower())
        if name is None:
            try:
                config = vault.sleeveAt(i, block_id=block)
                name = str(config.name) if str(config.sleeve).lower() == address.lower() else None
            except Exception:  # noqa: BLE001 - the address says which sleeve it is
                name = None
        found.append((name or address, address))
    return found


class UnknownSleeve(Exception):
    """The vault held, at the receipt's block, a sleeve the replay cannot read (`sleeves_at`)."""


def sleeves_at(protocol: Protocol, block: int) -> Protocol:
    """`protocol` with the vault's sleeves as they were at `block` (order, names, addresses;
    a priced sleeve's token read there when the manifest does not list it): a receipt is
    checked against the sleeves its decision was taken over, not the manifest's, which a
    sleeve added or removed since has changed (refreshed for the rebalancer, which refuses one
    that is not the vault's set). `protocol` itself when they are the manifest's."""
    from ape import project
    from ape.exceptions import ContractLogicError

    from ballast.deployment import SleeveEntry

    vault, listed = protocol.vault, protocol.deployment.sleeves
    known = {s.address.lower(): s for s in listed}
    book = "" if protocol.lending is None else str(protocol.lending.address).lower()
    entries = []
    for i in range(int(vault.sleeveCount(block_id=block))):
        config = vault.sleeveAt(i, block_id=block)
        address, name = to_checksum_address(str(config.sleeve)), str(config.name)
        entry = known.get(address.lower())
        if entry is not None:
            entries.append(entry.model_copy(update={"name": name}))
        elif address.lower() == book:
            entries.append(SleeveEntry(name=name, address=address, kind="LendingSleeve"))
        else:
            try:
                token = project.TokenizedRWASleeve.at(address).rwaToken(block_id=block)
            except ContractLogicError:  # a second lending book, or a kind the keepers lack
                raise UnknownSleeve(
                    f"sleeve {name!r} ({address}) at block {block} is neither a tokenized RWA "
                    "sleeve nor the manifest's lending book: its inputs cannot be read"
                ) from None
            entries.append(SleeveEntry(name=name, address=address, kind="TokenizedRWASleeve",
                                       token=str(token)))  # fmt: skip
    if entries == list(listed):
        return protocol
    deployment = protocol.deployment.model_copy(update={"sleeves": entries})
    return Protocol.from_deployment(deployment, source=f"the vault's sleeves at block {block}")


def _history_and_oracles(multicall: Any, protocol: Protocol,
                         inputs: StrategyInputs) -> tuple[str, ...]:  # fmt: skip
    """`oracle_differences` at the receipt's block and `history_differences` over the blocks
    from the deployment's to the receipt's (read through the node)."""
    from ape import chain

    from keepers.reads.oracles import priced_tokens, read_oracles

    web3 = chain.provider.web3
    times: dict[int, int] = {}

    def timestamp_of(block: int) -> int:
        if block not in times:
            times[block] = int(web3.eth.get_block(block)["timestamp"])
        return times[block]

    def indices(block: int) -> dict[str, int | None]:
        # One plain call per sleeve: Multicall3 may postdate the oldest readings (a local node).
        out: dict[str, int | None] = {}
        for name, sleeve in protocol.sleeves.items():
            call = {"to": str(sleeve.address), "data": "0x" + RETURN_INDEX_SELECTOR.hex()}
            try:
                raw = bytes(web3.eth.call(call, block))
            except Exception:  # noqa: BLE001 - unread: a difference, never a pass
                raw = b""
            out[name] = int.from_bytes(raw[:32], "big") if len(raw) >= 32 else None
        return out

    oracles = read_oracles(multicall, protocol, priced_tokens(protocol), inputs.block)
    deviations = {o.name: o.deviation_bps() for o in oracles.oracles}
    book = "" if protocol.lending is None else str(protocol.lending.address).lower()
    book_name = next((n for n, c in protocol.sleeves.items() if str(c.address).lower() == book),
                     None)  # fmt: skip
    found = oracle_differences(inputs, deviations, book_name)
    first = max(int(protocol.block), 0)
    history = history_differences(
        inputs, lambda t: blocks_at(timestamp_of, first, inputs.block, t), indices
    )
    return found + history


def _line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
