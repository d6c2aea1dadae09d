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
- `index_samples` (v2): each sleeve's `returnIndex()` readings, the rebalancer's history (v5:
  with the hash of the block each was read at);
- `job_state` (v2): small JSON documents a job carries between passes (the sentinel's streaks,
  the settler's operator approvals).

v3 renamed the job `redeemer` to `settler` in every table (the settler replaced it).

v4 binds a file to one chain and deployment (`chain_binding`, one row: a
`keepers.binding.ChainBinding` — chain id, genesis hash, deployment block and hash, the
manifest's addresses). State is only true of the chain that wrote it: a cursor, a borrower
list, a sentinel streak or an `evaluate:<id>` done marker of a reset or other chain would hide
work or trip alarms on this one. The rule: each deployment has its own file
(`KeeperSettings.state_path(chain_id, address, binding.key)`, the key of `binding.deployment`:
chain, genesis, deployment block and hash, the `contract:*` addresses), so a reset or different
chain starts fresh state in a new file and the old file stays untouched for audit;
`Store(path, binding)` binds a new (or empty) file to `binding`, rebinds a file of the same
deployment whose sleeves, collateral or tokens differ (a manifest refreshed after governance
changed them: the history carries on; the index readings of a sleeve name that left or now names
another address are dropped; `rebind=False`, a view's or a dry run's, reads it as it is;
`check_rebind` may refuse the rebind first, as `keepers.runtime` does for a manifest that does
not list a sleeve the vault holds), and
refuses, with a one-line `BindingError`, a file bound to
another deployment or a pre-v4 file that holds state (its chain cannot be known, so it is never
adopted). `Store(path)` opens any file unchecked (tools, tests).
Migrating a v3 file to v4 only adds the table: its rows stay, unbound.

A transaction's status is one of `STATUSES`: `sent` (in flight), `mined`, `reverted`,
`lost-race` (another keeper did it first: the action is done), `replaced` (a same-nonce
replacement superseded it) and `dropped`. `already_done(action_id)` is true once an action has
a `mined` or `lost-race` transaction (a `lost-race` row without a transaction, read from the
pending block, only while recent); `reopen` sets one a reorg undid back to `sent`
(`keepers.inflight.reopen_reorged`). Every write is an idempotent upsert. The schema version
is SQLite's `user_version` pragma; opening a newer file than this code knows is refused.

One `Store` may be shared by threads: a lock serialises its statements.

The code is in three modules: `keepers.store_file` (the SQLite connection, its migrations, the
binding check and the lock every statement runs under), `keepers.store_txs` (the `txs` table)
and this one (the other tables, and `Store`, which has them all); `keepers.store_schema` holds
the schema.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from keepers.store_file import BindingError, SchemaError, _hex
from keepers.store_schema import SCHEMA_VERSION
from keepers.store_txs import DONE_STATUSES, STATUSES, Status, TxLedger, TxRecord
from keepers.strategy.rationale import rationale_hash

__all__ = [
    "DONE_STATUSES",
    "SCHEMA_VERSION",
    "STATUSES",
    "BindingError",
    "DecisionRecord",
    "SchemaError",
    "Status",
    "Store",
    "TxRecord",
]


@dataclass(frozen=True)
class DecisionRecord:
    """One row of `decisions`."""

    decision_id: str
    rationale_hash: str
    uri: str
    tx_hash: str | None
    created_at: float


class Store(TxLedger):
    """The keeper state in the SQLite file at `path` (created with its folders if absent),
    bound to `binding` when given (see the module docstring)."""

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

    def add_index_sample(
        self, sleeve: str, timestamp: int, value: int, block: int, block_hash: str | None = None
    ) -> None:
        """Records `sleeve`'s `returnIndex()` at `timestamp` (one reading per timestamp), read at
        `block` (hash `block_hash`, "0x…", when known)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO index_samples (sleeve, timestamp, value, block, hash) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sleeve, timestamp) DO NOTHING",
                (sleeve, timestamp, str(value), block, block_hash),
            )

    def sample_blocks(self) -> list[tuple[int, str | None]]:
        """The blocks the return-index readings were read at, newest first, with their hash
        (None: a reading of a file older than v5)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT block, MAX(hash) FROM index_samples GROUP BY block ORDER BY block DESC"
            ).fetchall()
        return [(int(block), block_hash) for block, block_hash in rows]

    def drop_samples_at(self, blocks: Iterable[int]) -> None:
        """Forgets the return-index readings read at `blocks`."""
        with self._transaction() as db:
            db.executemany("DELETE FROM index_samples WHERE block = ?", [(b,) for b in blocks])

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
