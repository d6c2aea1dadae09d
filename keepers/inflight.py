"""A key's own transactions in flight across passes: settled from chain facts, resumed rather
than sent again, and re-checked after a reorg (the companion of `keepers.tx.TxSender`).

- `settle(sender, record, latest_nonce)`: what became of a `sent` record — a receipt (mined,
  reverted, or lost-race by its own revert reason), its nonce used by another transaction
  (replaced; unless the node holds this very transaction in a block whose receipt it does not
  serve yet: pending, settled from the receipt later), unknown to the node while a newer
  attempt of its nonce is pending (replaced: superseded) or not (dropped; unless the node is
  behind a block the key's transactions are recorded in: a lagging node, which may not have
  seen it mined) — or None while the node still holds it pending.
- `resume(sender, records, timeout)`: one nonce's pending records as a flight again, with every
  attempt the store holds of it (so `max_replacements` bounds its bumps across passes):
  re-priced at once when the current fees are above its last price (a gas spike left it under
  the base fee: the market's price, up to `max_fee_cap`, whatever the budget), else bumped once
  when its last attempt is `replace_after` old and the budget allows, then waited on as the
  sender waits (`TxSender._wait`, for `timeout`) → an `Outcome`.
- `resume_own(sender, action_id)`: before a send, the key's own `sent` records of the same
  action (`keepers.actions.action_key`: any block's) are settled or resumed. A flight still
  pending at the end → its `Stuck` (nothing new is simulated or sent: the pending-block
  simulation would see the key's own transaction and call it a race lost to someone else); one
  that mined → the action is done (the key did it after the plan's read).
- `drain(sender_of, pending)`: at the start of a pass, a gap below the key's lowest pending
  flight filled (`keepers.nonces.fill_gaps`), then its pending flights resumed lowest nonce
  first, each waited on for `replace_after` at most; the first still stuck → `Blocked` (every
  later send would queue behind it; only a priority action takes its nonce:
  `keepers.nonces.take_nonce`).
- `already_done(sender, action_id)`: the store's word, a lost race seen only by a simulation
  (no transaction of ours) counted for `reorg_depth` blocks after it was read.
- `reopen_reorged(sender, head, depth, checked)`: mined or lost-race records from `depth` blocks
  below the lower of the node's `head` and the head the key's last check read (`checked`: a
  reorg since then, however far the chain grew before this pass, replaced no block below it;
  `recheck_floor`) whose receipt is gone (or moved) are set back to `sent`, so `settle`
  classifies them again and an action whose transaction a reorg dropped is planned again.

Every function here classifies from receipts, nonces and the node's pool, never from timing
(the wait's timeout only decides when to stop waiting, as in `TxSender`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from hexbytes import HexBytes

from keepers.actions import action_key
from keepers.outcomes import AlreadyDone, LostRace, Mined, Outcome, Reverted, Stuck
from keepers.store import TxRecord
from keepers.tx import Contested, TxSender
from keepers.tx_rules import Attempt, Flight

log = logging.getLogger(__name__)

RaceCheck = Callable[[TxRecord], Contested | None]
"""A sent record's race check (`TxSender.send_raw`'s `contested`), rebuilt from its job and
action id by the keeper (`keepers.shell.passes.RACE_CHECKS`); None when its job has none."""

LIVE = ("sent", "replaced")
"""Statuses of a flight's attempts still counted while its nonce is pending: the newest
`sent`, those it superseded `replaced`."""


@dataclass(frozen=True)
class Blocked:
    """The key's queue is held up: its transaction for `action_id` at `stuck.nonce` is still
    pending after a full wait; a later nonce cannot mine before it."""

    action_id: str
    stuck: Stuck

    def detail(self) -> str:
        held = "" if self.stuck.behind is None else (
            f" behind nonce {self.stuck.behind}, held by a transaction this keeper did not send"
        )  # fmt: skip
        return (
            f"not sent: nonce {self.stuck.nonce} of this key ({self.action_id}, "
            f"{self.stuck.tx_hashes[-1]}) is still pending{held}"
        )


def settle(
    sender: TxSender,
    record: TxRecord,
    latest_nonce: int,
    superseded: bool = False,
    contested: Contested | None = None,
) -> str | None:
    """Records what became of `record` (a `sent` transaction of `sender`'s key); its new status,
    or None while the node still holds it pending. `superseded`: a later attempt of the same
    nonce is still pending, so one the node no longer has was replaced by it (not dropped).
    `contested`: the job's race check for the record's action (`RaceCheck`), so a revert found
    after the pass that sent it is a lost race by the same chain fact as in that pass.
    A node error propagates: a failed lookup must not read as "dropped" or "nonce used
    elsewhere"."""
    receipt = sender._receipt(record.tx_hash)
    if receipt is not None and receipt.get("blockNumber"):
        block = int(receipt["blockNumber"], 16)
        status, error = "mined", None
        if int(receipt.get("status", "0x1"), 16) != 1:  # its own revert reason names a race
            name, reason = sender.revert_of(record.tx_hash, block)
            evidence = sender._race_evidence(name, lambda: block, contested)
            status = "lost-race" if evidence is not None else "reverted"
            if evidence is not None and evidence != name:
                reason = f"{reason}: {evidence}"
            error = f"{reason} (found after the pass that sent it)"
        sender._record(
            record.tx_hash,
            status,
            gas_used=int(receipt["gasUsed"], 16),
            effective_gas_price=int(receipt.get("effectiveGasPrice") or "0x0", 16),
            block=block,
            error=error,
        )
    elif record.nonce < latest_nonce:
        if sender._in_a_block(record.tx_hash):
            # the node has it in a block but serves no receipt yet (an index behind the state:
            # `TxSender._wait` gives such a node `receipt_grace`): ours, mined; settled from its
            # receipt once served, never written off as "used elsewhere"
            log.info("%s %s is mined but its receipt is not served yet", record.action_id,
                     record.tx_hash)  # fmt: skip
            return None
        status = "replaced"
        sender._record(record.tx_hash, status, error="nonce used elsewhere")
    elif not sender._known(record.tx_hash):
        if not superseded and node_behind(sender):
            return None  # a lagging node that has not seen it: judged once it catches up
        # superseded by a same-nonce replacement still pending (the pool keeps the dearer), or
        # never reached the node (a broadcast whose connection failed) or evicted from its
        # pool: nothing will mine it, and the nonce is free for the next send
        status = "replaced" if superseded else "dropped"
        error = "superseded by a same-nonce replacement" if superseded else "unknown to the node"
        sender._record(record.tx_hash, status, error=error)
    else:
        return None
    log.info("settled %s %s: %s", record.action_id, record.tx_hash, status)
    return status


def node_behind(sender: TxSender) -> bool:
    """Whether the node's head is below a block one of the key's transactions is recorded in
    (a lagging, load-balanced endpoint): a transaction it does not know may have been mined
    on the blocks it has not seen, so it is not written off as dropped."""
    if sender.store is None:
        return False
    head = int(sender._rpc("eth_blockNumber", []), 16)
    return bool(sender.store.settled_since(sender.address, head + 1))


def settle_flights(
    sender_of: Callable[[TxRecord], TxSender],
    records: list[TxRecord],
    latest: int,
    race_check: RaceCheck | None = None,
) -> dict[str, str | None]:
    """`settle` of each record (`sender_of(record)`: the sender of the record's job, or of its
    emergency action, all of one key), each nonce's newest first, so that an older attempt the
    node no longer has while a newer one of its nonce is pending is recorded `replaced`: tx
    hash → new status (None: pending). `race_check`: each record's race check, from its job
    and action id."""
    settled: dict[str, str | None] = {}
    for flight in _flights(records):
        live = False
        for r in reversed(flight):
            contested = race_check(r) if race_check is not None else None
            settled[r.tx_hash] = settle(
                sender_of(r), r, latest, superseded=live, contested=contested
            )
            live |= settled[r.tx_hash] is None
    return settled


def settle_all(
    sender_of: Callable[[TxRecord], TxSender],
    records: list[TxRecord],
    race_check: RaceCheck | None = None,
) -> list[TxRecord]:
    """`settle_flights` of `records`; those still pending, in nonce order."""
    if not records:
        return []
    latest = sender_of(records[0])._latest_nonce()
    settled = settle_flights(sender_of, records, latest, race_check)
    return [r for flight in _flights(records) for r in flight if settled[r.tx_hash] is None]


def attempts(sender: TxSender, newest: TxRecord) -> list[TxRecord]:
    """Every attempt of `newest`'s flight the store holds (its nonce and action, pending or
    superseded), oldest first: the replacement budget counts them across passes."""
    if sender.store is None:
        return [newest]
    mine = [
        t
        for t in sender.store.transactions(newest.action_id)
        if t.nonce == newest.nonce and t.sender == newest.sender and t.status in LIVE
    ]
    return sorted(mine, key=lambda t: t.sent_at) or [newest]


def resume(
    sender: TxSender, records: list[TxRecord], timeout: float | None = None
) -> Outcome | None:
    """Waits on the pending flight `records` (one nonce, oldest first) as `TxSender` waits on
    its own (for `timeout` seconds; default `receipt_timeout`). First re-priced when the
    current fees are above its last price (following the market, up to `max_fee_cap`), else
    bumped once when its last attempt is `replace_after` old and the flight's attempts, counted
    across passes, leave room under `max_replacements`. None when the node no longer has it
    (the caller plans afresh). The caller holds the key's lock."""
    newest = records[-1]
    tx = sender._rpc("eth_getTransactionByHash", [newest.tx_hash])
    if tx is None:
        return None
    to, data = str(tx["to"]), bytes(HexBytes(tx["input"]))
    value = int(tx["value"], 16)
    flight = Flight(nonce=newest.nonce, gas=int(tx["gas"], 16))
    history = attempts(sender, newest)
    for r in history:
        fee = r.max_fee if r.max_fee is not None else int(tx.get("maxFeePerGas") or "0x0", 16)
        tip = r.priority_fee if r.priority_fee is not None else fee
        flight.attempts.append(Attempt(r.tx_hash, fee, tip))
    fee, tip, _ = sender.fees()
    last = flight.attempts[-1]
    settings = sender.settings
    if tx.get("blockNumber") is not None:
        pass  # mined already (its receipt not served yet): nothing to re-price, only to wait on
    elif fee > last.max_fee:
        log.info("re-pricing %s nonce %d: max fee %d → %d", newest.action_id, flight.nonce,
                 last.max_fee, fee)  # fmt: skip
        sender._replace(to, data, value, flight, newest.action_id, floor=(fee, tip))
    elif (
        len(flight.attempts) <= settings.max_replacements
        and time.time() - max(r.sent_at for r in history) >= settings.replace_after
    ):
        sender._replace(to, data, value, flight, newest.action_id)
    log.info("resuming %s nonce %d (%s)", newest.action_id, flight.nonce, flight.hashes[-1])
    return sender._wait(to, data, value, flight, newest.action_id, timeout=timeout)


def _flights(records: list[TxRecord]) -> list[list[TxRecord]]:
    """`records` grouped by nonce (lowest first), each group oldest first."""
    ordered = sorted(records, key=lambda r: (r.nonce, r.sent_at))
    return [list(group) for _, group in groupby(ordered, key=lambda r: r.nonce)]


def resume_own(sender: TxSender, action_id: str) -> Outcome | None:
    """The key's own earlier flights of `action_id`'s action (any block's), settled or resumed
    (see the module docstring). Returns `Stuck` (one still pending: send nothing); the outcome
    of this very action id once its flight settled (mined, reverted, lost race);
    `AlreadyDone` when one of the action's flights mined (this id's, found by its receipt, or
    another block's: the key did this work after the plan's read); else None: nothing of the
    key's pending, plan afresh. The caller holds the key's lock."""
    store = sender.store
    if store is None:
        return None
    key = action_key(action_id)
    mine = [r for r in store.in_flight(sender.address) if action_key(r.action_id) == key]
    if not mine:
        return None
    settled = settle_flights(lambda _: sender, mine, sender._latest_nonce())
    pending = [r for r in mine if settled[r.tx_hash] is None]
    mined = "mined" in settled.values()
    for flight in _flights(pending):
        outcome = resume(sender, flight)
        if isinstance(outcome, Stuck):
            return outcome
        if flight[-1].action_id == action_id and isinstance(outcome, Mined | Reverted | LostRace):
            return outcome
        mined |= isinstance(outcome, Mined)
    return AlreadyDone(action_id) if mined or already_done(sender, action_id) else None


def already_done(sender: TxSender, action_id: str) -> bool:
    """`Store.already_done`, a lost-race row without a transaction (a simulation at the pending
    block saw the action done, maybe by a rival's transaction still pending) counted only while
    read less than `reorg_depth` blocks ago: after that the action is planned again from the
    chain, so one whose rival transaction was dropped is done after all (depth 0: for good)."""
    store, depth = sender.store, sender.settings.reorg_depth
    if store is None:
        return False
    if depth <= 0:
        return store.already_done(action_id)
    return store.already_done(
        action_id, lambda: int(sender._rpc("eth_blockNumber", []), 16) - depth
    )


def drain(
    sender_of: Callable[[TxRecord], TxSender], pending: list[TxRecord]
) -> tuple[list[tuple[str, Outcome]], Blocked | None]:
    """Resumes the key's `pending` flights, lowest nonce first, each under the key's lock and
    waited on for `replace_after` at most (a pass does not spend `receipt_timeout` on each
    before it reads the chain); stops at the first still stuck. First, a gap below the lowest
    (nonces the chain has not used and nothing of the key's holds: the node lost them) is
    filled (`keepers.nonces.fill_gaps`), else the flights above it could never mine. Returns
    (action id, outcome) of each fill and flight resumed, and the `Blocked` that holds the
    queue up (None: the queue drained)."""
    from keepers.nonces import fill_gaps  # it builds on this module

    flights = _flights(pending)
    if not flights:
        return [], None
    first = sender_of(flights[0][-1])
    wait = min(first.settings.replace_after, first.settings.receipt_timeout)
    with first._lock:
        resumed = fill_gaps(first, flights[0][0].nonce, wait)
    for action_id, outcome in resumed:
        if isinstance(outcome, Stuck):
            return resumed, Blocked(action_id, outcome)
    for flight in flights:
        sender = sender_of(flight[-1])
        with sender._lock:
            outcome = resume(sender, flight, timeout=wait)
        if outcome is None:
            continue
        resumed.append((flight[-1].action_id, outcome))
        if isinstance(outcome, Stuck):
            return resumed, Blocked(flight[-1].action_id, outcome)
    return resumed, None


def recheck_floor(head: int, checked: int | None, depth: int) -> int:
    """The lowest block whose records a pass re-checks: `depth` blocks below the lower of the
    node's `head` and `checked`, the head the key's last check read (None: never checked). A
    reorg of at most `depth` blocks since that check replaced no block below it, however far
    the chain has grown since (a cron's interval, a restart): anchored to `head` alone, a
    reorg that happened while the keeper was away would be missed once the chain had grown
    `depth` blocks past it."""
    return min(head, head if checked is None else checked) - depth


def reopen_reorged(
    sender: TxSender, head: int, depth: int, checked: int | None = None
) -> list[TxRecord]:
    """Sets back to `sent` the key's mined or lost-race records of blocks from
    `recheck_floor(head, checked, depth)` whose receipt is gone, moved to another block, or
    changed status (a reorg); returns them. `settle` then says what became of each. Records of
    blocks above `head` are left as they are: a node behind them (a lagging, load-balanced
    endpoint) has no receipt of them yet, which says nothing of a reorg; they are checked once
    the node has reached their block."""
    store = sender.store
    if store is None or depth <= 0:
        return []
    reopened = []
    for r in store.settled_since(sender.address, recheck_floor(head, checked, depth)):
        if r.block is not None and r.block > head:
            continue  # a node that has not reached the block (lagging) cannot say it is gone
        receipt: dict[str, Any] | None = sender._receipt(r.tx_hash)
        if receipt is not None and receipt.get("blockNumber"):
            same_block = int(receipt["blockNumber"], 16) == r.block
            succeeded = int(receipt.get("status", "0x1"), 16) == 1
            if same_block and succeeded == (r.status == "mined"):
                continue
        store.reopen(r.tx_hash, error=f"no longer in block {r.block} (reorg)")
        log.warning("%s %s was %s in block %s: a reorg undid it", r.action_id, r.tx_hash,
                    r.status, r.block)  # fmt: skip
        reopened.append(r)
    return reopened
