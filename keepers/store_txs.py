"""The transactions a keeper sent (`keepers.store`'s `txs` table): what was broadcast, how each
ended, and whether an action is done.

A transaction's status is one of `STATUSES` (see `keepers.store`); `already_done` counts an
action done once it has a `mined` or `lost-race` transaction (a `lost-race` row without a
transaction only while recent), and `reopen` sets one a reorg undid back to `sent`.
`TxLedger` is a base of `keepers.store.Store`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, get_args

from keepers.store_file import StateFile, _hex

Status = Literal["sent", "mined", "reverted", "lost-race", "replaced", "dropped"]
STATUSES: Final[tuple[str, ...]] = get_args(Status)
DONE_STATUSES: Final = ("mined", "lost-race")


@dataclass(frozen=True)
class TxRecord:
    """One row of `txs`."""

    tx_hash: str
    job: str
    action_id: str
    sender: str
    nonce: int
    status: str
    max_fee: int | None
    priority_fee: int | None
    gas_used: int | None
    effective_gas_price: int | None
    block: int | None
    error: str | None
    sent_at: float
    updated_at: float


class TxLedger(StateFile):
    """The `txs` table of a state file: every transaction sent and its outcome."""

    def record_sent(
        self,
        *,
        job: str,
        action_id: str,
        sender: str,
        nonce: int,
        tx_hash: bytes | str,
        max_fee: int | None = None,
        priority_fee: int | None = None,
    ) -> None:
        """Records a transaction just broadcast (status `sent`); re-recording the same hash
        changes nothing, except that one recorded `dropped` is `sent` again (the same signed
        bytes broadcast anew: same nonce, fees and call after the pool lost the first)."""
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO txs (tx_hash, job, action_id, sender, nonce, status, max_fee, "
                "priority_fee, sent_at, updated_at) VALUES (?, ?, ?, ?, ?, 'sent', ?, ?, ?, ?) "
                "ON CONFLICT (tx_hash) DO UPDATE SET status = 'sent', "
                "updated_at = excluded.updated_at WHERE status = 'dropped'",
                (
                    _hex(tx_hash),
                    job,
                    action_id,
                    _hex(sender),
                    nonce,
                    max_fee,
                    priority_fee,
                    now,
                    now,
                ),
            )

    def record_outcome(
        self,
        tx_hash: bytes | str,
        status: Status,
        *,
        gas_used: int | None = None,
        effective_gas_price: int | None = None,
        block: int | None = None,
        error: str | None = None,
    ) -> None:
        """Sets the final status of a recorded transaction (idempotent; unknown hash: error)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE txs SET status = ?, gas_used = coalesce(?, gas_used), "
                "effective_gas_price = coalesce(?, effective_gas_price), "
                "block = coalesce(?, block), error = coalesce(?, error), updated_at = ? "
                "WHERE tx_hash = ?",
                (status, gas_used, effective_gas_price, block, error, time.time(), _hex(tx_hash)),
            )
            if cursor.rowcount == 0:
                raise KeyError(f"no transaction {_hex(tx_hash)} recorded")

    def record_lost_race(
        self, *, job: str, action_id: str, sender: str, error: str, block: int | None = None
    ) -> None:
        """Records an action another keeper did first, found before sending anything (a
        simulation refused it): a `lost-race` row without a transaction (nonce -1), read at
        `block` (the head when the simulation ran; a later record of the same action moves it
        up). Such a row is provisional: `already_done` counts it only while it is recent."""
        now = time.time()
        key = f"lost:{action_id}:{_hex(sender)}"
        with self._transaction() as db:
            db.execute(
                "INSERT INTO txs (tx_hash, job, action_id, sender, nonce, status, error, block, "
                "sent_at, updated_at) VALUES (?, ?, ?, ?, -1, 'lost-race', ?, ?, ?, ?) "
                "ON CONFLICT (tx_hash) DO UPDATE SET updated_at = excluded.updated_at, "
                "status = 'lost-race', error = excluded.error, "
                "block = max(coalesce(block, 0), coalesce(excluded.block, 0))",
                (key, job, action_id, _hex(sender), error, block, now, now),
            )

    def already_done(self, action_id: str, fresh_above: Callable[[], int] | None = None) -> bool:
        """The action has a mined transaction, or was found done by another keeper.

        A lost-race row without a transaction of ours (a simulation at the pending block saw
        the action done: perhaps by a rival's transaction still pending, which may yet be
        dropped) is provisional: with `fresh_above` (called only for such a row: the caller's
        head block minus its reorg depth) it counts only when read at a block above that;
        an older one no longer does, so the action is planned again from the chain (and, if
        the chain shows it done, recorded anew). Without `fresh_above` every row counts."""
        with self._lock:
            rows = self._db.execute(
                "SELECT nonce, block FROM txs WHERE action_id = ? AND status IN (?, ?)",
                (action_id, *DONE_STATUSES),
            ).fetchall()
        if not rows:
            return False
        if fresh_above is None or any(int(r[0]) >= 0 for r in rows):
            return True
        floor = fresh_above()
        return any(r[1] is not None and int(r[1]) > floor for r in rows)

    def settled_since(self, sender: str, block: int) -> list[TxRecord]:
        """`sender`'s transactions recorded `mined` or `lost-race` with a receipt in `block` or
        later (a reorg may have undone them: `keepers.inflight.reopen_reorged`)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM txs WHERE sender = ? AND status IN (?, ?) AND nonce >= 0 "
                "AND block IS NOT NULL AND block >= ? ORDER BY nonce",
                (_hex(sender), *DONE_STATUSES, block),
            ).fetchall()
        return [TxRecord(**dict(r)) for r in rows]

    def reopen(self, tx_hash: bytes | str, error: str) -> None:
        """Sets a transaction whose receipt a reorg removed back to `sent` (its block, gas and
        price cleared; `error` says why), for the next reconcile to settle again."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE txs SET status = 'sent', block = NULL, gas_used = NULL, "
                "effective_gas_price = NULL, error = ?, updated_at = ? WHERE tx_hash = ?",
                (error, time.time(), _hex(tx_hash)),
            )
            if cursor.rowcount == 0:
                raise KeyError(f"no transaction {_hex(tx_hash)} recorded")

    def in_flight(self, sender: str | None = None) -> list[TxRecord]:
        """Transactions still `sent` (to reconcile with the chain after a restart)."""
        query = "SELECT * FROM txs WHERE status = 'sent'"
        args: tuple[str, ...] = ()
        if sender is not None:
            query += " AND sender = ?"
            args = (_hex(sender),)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY sender, nonce, sent_at", args).fetchall()
        return [TxRecord(**dict(r)) for r in rows]

    def transactions(self, action_id: str | None = None, limit: int = 1_000) -> list[TxRecord]:
        """Recorded transactions (of one action, or all), newest first."""
        query = "SELECT * FROM txs"
        args: tuple[str | int, ...] = ()
        if action_id is not None:
            query += " WHERE action_id = ?"
            args = (action_id,)
        with self._lock:
            rows = self._db.execute(
                query + " ORDER BY sent_at DESC, rowid DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [TxRecord(**dict(r)) for r in rows]

    def latest_of(self, kind: str) -> TxRecord | None:
        """The newest record of an action of `kind` (ids `<kind>:…`), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM txs WHERE action_id LIKE ? ORDER BY sent_at DESC, rowid DESC "
                "LIMIT 1",
                (kind + ":%",),
            ).fetchone()
        return None if row is None else TxRecord(**dict(row))

    def transaction(self, tx_hash: bytes | str) -> TxRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM txs WHERE tx_hash = ?", (_hex(tx_hash),)
            ).fetchone()
        return None if row is None else TxRecord(**dict(row))
