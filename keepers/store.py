"""The keeper's local state: one SQLite file (WAL mode), so that a restart resumes without
double work.

What it keeps:

- `cursors`: the last block each job has fully processed (`last_block` / `set_last_block`);
- `borrowers`: every borrower address seen, with the first and last block it was seen at;
- `txs`: every transaction sent (job, sender, nonce, hash, action id such as
  `"liquidate:<borrower>"` or `"evaluate:<decisionId>"`, status, fees, timestamps);
- `decisions`: the decisions a keeper submitted (id, rationale hash, URI, transaction);
- `rationales`: rationale documents by their keccak hash, bytes exactly as hashed
  (`keepers.strategy.rationale.verify` checks them; this module only stores them);
- `index_samples` (v2): each sleeve's `returnIndex()` readings, the rebalancer's history;
- `job_state` (v2): small JSON documents a job carries between passes (the sentinel's streaks,
  the settler's operator approvals).

v3 renamed the job `redeemer` to `settler` in every table (the settler replaced it).

v4 binds a file to one chain and deployment (`chain_binding`, one row: a
`keepers.binding.ChainBinding` — chain id, genesis hash, deployment block and hash, contract
addresses). State is only true of the chain that wrote it: a cursor, a borrower list, a
sentinel streak or an `evaluate:<id>` done marker of a reset or other chain would hide work or
trip alarms on this one. The rule: each binding has its own file
(`KeeperSettings.state_path(chain_id, address, binding.key)`), so a reset or different chain
starts fresh state in a new file and the old file stays untouched for audit;
`Store(path, binding)` binds a new (or empty) file to `binding` and refuses, with a one-line
`BindingError`, a file bound to another binding or a pre-v4 file that holds state (its chain
cannot be known, so it is never adopted). `Store(path)` opens any file unchecked (tools, tests).
Migrating a v3 file to v4 only adds the table: its rows stay, unbound.

A transaction's status is one of `STATUSES`: `sent` (in flight), `mined`, `reverted`,
`lost-race` (another keeper did it first: the action is done), `replaced` (a same-nonce
replacement superseded it) and `dropped`. `already_done(action_id)` is true once an action has
a `mined` or `lost-race` transaction (a `lost-race` row without a transaction, read from the
pending block, only while recent); `reopen` sets one a reorg undid back to `sent`
(`keepers.inflight.reopen_reorged`). Every write is an idempotent upsert. The schema version
is SQLite's `user_version` pragma; opening a newer file than this code knows is refused.

One `Store` may be shared by threads: a lock serialises its statements.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args

from keepers.binding import ChainBinding
from keepers.store_schema import MIGRATIONS, SCHEMA_VERSION, STATE_TABLES
from keepers.strategy.rationale import rationale_hash

Status = Literal["sent", "mined", "reverted", "lost-race", "replaced", "dropped"]
STATUSES: Final[tuple[str, ...]] = get_args(Status)
DONE_STATUSES: Final = ("mined", "lost-race")


class SchemaError(RuntimeError):
    """The file was written by a newer schema than this code knows."""


class BindingError(RuntimeError):
    """The file belongs to another chain or deployment (or to an unknown one); one line."""


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


@dataclass(frozen=True)
class DecisionRecord:
    """One row of `decisions`."""

    decision_id: str
    rationale_hash: str
    uri: str
    tx_hash: str | None
    created_at: float


def _hex(value: bytes | str) -> str:
    """`0x`-prefixed lower-case hex of bytes or a hex string."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = value.lower()
    return text if text.startswith("0x") else "0x" + text


class Store:
    """The keeper state in the SQLite file at `path` (created with its folders if absent),
    bound to `binding` when given (see the module docstring)."""

    def __init__(self, path: str | Path, binding: ChainBinding | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
            if binding is not None:
                self._bind(binding)
        except BaseException:
            self._db.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"{self.path} has schema version {version}; this keeper knows {SCHEMA_VERSION}"
            )
        # One script per step, one transaction each (executescript commits before it runs).
        for target, script in MIGRATIONS:
            if version < target:
                with self._lock:
                    self._db.executescript(
                        f"BEGIN IMMEDIATE;{script}PRAGMA user_version = {target};COMMIT;"
                    )

    def _bind(self, binding: ChainBinding) -> None:
        """Binds an unbound, empty file to `binding`; refuses any other file (`BindingError`)."""
        with self._transaction() as db:
            row = db.execute("SELECT binding FROM chain_binding WHERE id = 1").fetchone()
            if row is None:
                if any(
                    db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()  # noqa: S608
                    for table in STATE_TABLES
                ):
                    raise BindingError(
                        f"{self.path} holds state written before chain binding (schema v4): "
                        f"its chain is unknown, so it is not used for {binding.describe()}"
                    )
                db.execute(
                    "INSERT INTO chain_binding (id, key, binding, bound_at) VALUES (1, ?, ?, ?)",
                    (binding.key, binding.to_json(), time.time()),
                )
                return
        bound = ChainBinding.from_json(str(row[0]))
        if bound != binding:
            raise BindingError(
                f"{self.path} is the state of {bound.describe()}, not of "
                f"{binding.describe()} ({', '.join(binding.differences(bound))} differ)"
            )

    @property
    def binding(self) -> ChainBinding | None:
        """The chain and deployment this file is bound to (None: not bound)."""
        with self._lock:
            row = self._db.execute("SELECT binding FROM chain_binding WHERE id = 1").fetchone()
        return None if row is None else ChainBinding.from_json(str(row[0]))

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _transaction(self) -> _Tx:
        return _Tx(self._db, self._lock)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ cursors

    def last_block(self, job: str) -> int | None:
        """The last block `job` has fully processed, or None if it never ran."""
        with self._lock:
            row = self._db.execute("SELECT block FROM cursors WHERE job = ?", (job,)).fetchone()
        return None if row is None else int(row[0])

    def set_last_block(self, job: str, block: int) -> None:
        """Records that `job` has processed up to `block` (never moves the cursor back)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO cursors (job, block, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (job) DO UPDATE SET block = max(block, excluded.block), "
                "updated_at = excluded.updated_at",
                (job, block, time.time()),
            )

    # ------------------------------------------------------------------ borrowers

    def add_borrowers(self, addresses: Iterator[str] | list[str], block: int) -> None:
        """Records `addresses` as seen at `block` (first seen kept, last seen updated)."""
        rows = [(_hex(a), block, block) for a in addresses]
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO borrowers (address, first_block, last_block) VALUES (?, ?, ?) "
                "ON CONFLICT (address) DO UPDATE SET "
                "first_block = min(first_block, excluded.first_block), "
                "last_block = max(last_block, excluded.last_block)",
                rows,
            )

    def borrowers(self) -> list[str]:
        """Every borrower seen, in the order first seen."""
        with self._lock:
            rows = self._db.execute(
                "SELECT address FROM borrowers ORDER BY first_block, address"
            ).fetchall()
        return [str(r[0]) for r in rows]

    # ------------------------------------------------------------------ transactions

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

    def transaction(self, tx_hash: bytes | str) -> TxRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM txs WHERE tx_hash = ?", (_hex(tx_hash),)
            ).fetchone()
        return None if row is None else TxRecord(**dict(row))

    # ------------------------------------------------------------------ decisions

    def put_rationale(self, body: bytes) -> str:
        """Stores a rationale document's bytes under their keccak hash; returns the hash."""
        digest = _hex(rationale_hash(body))
        with self._transaction() as db:
            db.execute(
                "INSERT INTO rationales (hash, body, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (hash) DO NOTHING",
                (digest, bytes(body), time.time()),
            )
        return digest

    def rationale(self, digest: bytes | str) -> bytes | None:
        """The stored document with this hash, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM rationales WHERE hash = ?", (_hex(digest),)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def record_decision(
        self,
        decision_id: int | str,
        rationale_hash_: bytes | str,
        uri: str,
        tx_hash: bytes | str | None = None,
    ) -> None:
        """Records a submitted decision (upsert: a later call may add the transaction)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO decisions (decision_id, rationale_hash, uri, tx_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (decision_id) DO UPDATE SET "
                "rationale_hash = excluded.rationale_hash, uri = excluded.uri, "
                "tx_hash = coalesce(excluded.tx_hash, tx_hash)",
                (
                    str(decision_id),
                    _hex(rationale_hash_),
                    uri,
                    None if tx_hash is None else _hex(tx_hash),
                    time.time(),
                ),
            )

    def decision(self, decision_id: int | str) -> DecisionRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM decisions WHERE decision_id = ?", (str(decision_id),)
            ).fetchone()
        return None if row is None else DecisionRecord(**dict(row))

    def latest_decision(self) -> DecisionRecord | None:
        """The decision with the highest id this keeper recorded, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM decisions ORDER BY CAST(decision_id AS INTEGER) DESC LIMIT 1"
            ).fetchone()
        return None if row is None else DecisionRecord(**dict(row))

    # ------------------------------------------------------------------ history and job state

    def add_index_sample(self, sleeve: str, timestamp: int, value: int, block: int) -> None:
        """Records `sleeve`'s `returnIndex()` at `timestamp` (one reading per timestamp)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO index_samples (sleeve, timestamp, value, block) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (sleeve, timestamp) DO NOTHING",
                (sleeve, timestamp, str(value), block),
            )

    def index_history(self, sleeve: str, limit: int = 2_000) -> tuple[tuple[int, int], ...]:
        """The newest `limit` readings of `sleeve` as (timestamp, value), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT timestamp, value FROM index_samples WHERE sleeve = ? "
                "ORDER BY timestamp DESC LIMIT ?",
                (sleeve, limit),
            ).fetchall()
        return tuple((int(t), int(v)) for t, v in reversed(rows))

    def job_state(self, job: str) -> str | None:
        """The document `job` stored last (JSON text), or None."""
        with self._lock:
            row = self._db.execute("SELECT state FROM job_state WHERE job = ?", (job,)).fetchone()
        return None if row is None else str(row[0])

    def set_job_state(self, job: str, state: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO job_state (job, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (job) DO UPDATE SET state = excluded.state, "
                "updated_at = excluded.updated_at",
                (job, state, time.time()),
            )


class _Tx:
    """`with store._transaction() as db:` — the lock held and one BEGIN IMMEDIATE … COMMIT
    (ROLLBACK on error)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._lock.release()
