"""The keeper state file itself (`keepers.store`): the SQLite connection (WAL mode), the schema
migrations (`keepers.store_schema`) applied on opening, the chain binding checked on opening
(`BindingError`), and the lock and `BEGIN IMMEDIATE … COMMIT` every write runs under.

`StateFile` is the base of `keepers.store.Store`; the tables' reads and writes are in
`keepers.store_txs` (the transactions) and `keepers.store` (the rest).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

from keepers.binding import ChainBinding
from keepers.state_lock import release
from keepers.store_schema import MIGRATIONS, SCHEMA_VERSION, STATE_TABLES


class SchemaError(RuntimeError):
    """The file was written by a newer schema than this code knows."""


class BindingError(RuntimeError):
    """The file belongs to another chain or deployment (or to an unknown one); one line."""


def _hex(value: bytes | str) -> str:
    """`0x`-prefixed lower-case hex of bytes or a hex string."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = value.lower()
    return text if text.startswith("0x") else "0x" + text


class StateFile:
    """The SQLite file at `path` (created with its folders if absent), migrated to
    `SCHEMA_VERSION` and bound to `binding` when given (see `keepers.store`)."""

    process_lock: int | None = None
    """The sending process's lock on this file (`keepers.state_lock`), released by `close`."""

    def __init__(
        self,
        path: str | Path,
        binding: ChainBinding | None = None,
        *,
        rebind: bool = True,
        check_rebind: Callable[[ChainBinding, ChainBinding], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: each commit (a record written before its broadcast) is on disk before the
            # keeper moves on, so a power loss or OS crash cannot forget a sent transaction
            # (NORMAL, in WAL mode, may lose the last commits then; a killed process never did)
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._check()
            self._migrate()
            if binding is not None:
                self._bind(binding, rebind, check_rebind)
        except BaseException:
            self._db.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def _migrate(self) -> None:
        if self._version_known() == SCHEMA_VERSION:
            return  # up to date: no write lock taken (a bot may be writing)
        # The version read again under the write lock, every step in that transaction: two
        # processes opening an older file at once (a bot and a reader of its state) both saw
        # the old version, and the second applied a step again ("duplicate column name").
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                version = self._version_known()
                for target, script in MIGRATIONS:
                    if version < target:
                        for statement in _statements(script):
                            self._db.execute(statement)
                        self._db.execute(f"PRAGMA user_version = {target}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _version_known(self) -> int:
        """The file's schema version; `SchemaError` for one newer than this keeper's."""
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"{self.path} has schema version {version}; this keeper knows {SCHEMA_VERSION}"
            )
        return version

    def _check(self) -> None:
        """`sqlite3.DatabaseError` when the file is damaged (SQLite's `quick_check`: every page
        and index readable): a keeper must not sign on a state it cannot write the outcome
        of, so a torn file stops it at opening, not in the middle of a pass after a broadcast."""
        rows = self._db.execute("PRAGMA quick_check").fetchall()
        lines = [line.strip() for r in rows for line in str(r[0]).splitlines()]
        if lines != ["ok"]:  # one line: the first concrete problem and how many there are
            problems = [p for p in lines if p and not p.startswith("***")] or lines
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise sqlite3.DatabaseError(f"integrity check failed: {problems[0]}{more}")

    def _bind(
        self,
        binding: ChainBinding,
        rebind: bool = True,
        check_rebind: Callable[[ChainBinding, ChainBinding], None] | None = None,
    ) -> None:
        """Binds an unbound, empty file to `binding`; a file bound to the same deployment with
        other sleeves, collateral or tokens (a manifest refreshed after governance changed
        them) is rebound (`_rebind`) when `rebind` (a keeper that sends; a view or a dry run
        reads it as it is), once `check_rebind(bound, binding)` returned (it raises to refuse
        the rebind, the file left as it is: `keepers.runtime` refuses a manifest that is out of
        date); refuses any other file (`BindingError`)."""
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
        bound = self._bound(str(row[0]))
        if bound.deployment != binding.deployment:
            differ = binding.deployment.differences(bound.deployment)
            raise BindingError(
                f"{self.path} is the state of {bound.describe()}, not of "
                f"{binding.describe()} ({', '.join(differ)} differ)"
            )
        if bound != binding and rebind:
            if check_rebind is not None:
                check_rebind(bound, binding)
            self._rebind(bound, binding)

    def _rebind(self, bound: ChainBinding, binding: ChainBinding) -> None:
        """The same deployment, its manifest refreshed: the file now records `binding`, and the
        return-index readings of a sleeve name that left the manifest or now names another
        address are dropped (the rebalancer keys them by name: a new sleeve under a removed
        one's name starts its own history, never the old sleeve's)."""
        old = {n: a for n, a in bound.contracts if n.startswith("sleeve:")}
        new = {n: a for n, a in binding.contracts if n.startswith("sleeve:")}
        gone = sorted(n.removeprefix("sleeve:") for n, a in old.items() if new.get(n) != a)
        with self._transaction() as db:
            db.execute(
                "UPDATE chain_binding SET key = ?, binding = ?, bound_at = ? WHERE id = 1",
                (binding.key, binding.to_json(), time.time()),
            )
            db.executemany("DELETE FROM index_samples WHERE sleeve = ?", [(n,) for n in gone])

    def _bound(self, text: str) -> ChainBinding:
        """The binding the file holds; `BindingError` when it is not one (torn, hand-edited):
        the file's chain cannot be known, so it is refused like another chain's."""
        try:
            return ChainBinding.from_json(text)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise BindingError(
                f"{self.path} holds a chain binding that cannot be read ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else 'malformed'}): its chain is "
                "unknown, so it is not used; move it away to start with empty state"
            ) from None

    @property
    def binding(self) -> ChainBinding | None:
        """The chain and deployment this file is bound to (None: not bound)."""
        with self._lock:
            row = self._db.execute("SELECT binding FROM chain_binding WHERE id = 1").fetchone()
        return None if row is None else self._bound(str(row[0]))

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _transaction(self) -> _Tx:
        return _Tx(self._db, self._lock)

    def close(self) -> None:
        """Closes the file and releases the sending process's lock on it, if it holds one
        (`keepers.state_lock`, taken by `keepers.runtime.open_store`)."""
        with self._lock:
            self._db.close()
            release(self.process_lock)
            self.process_lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def _statements(script: str) -> list[str]:
    """The SQL statements of `script`, one each (a `;` inside a string or comment kept)."""
    statements: list[str] = []
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\n;"):
                statements.append(pending)
            pending = ""
    if pending.strip(" \t\n;"):
        statements.append(pending)
    return statements
