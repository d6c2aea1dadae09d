"""The keeper state file's schema (`keepers.store`), one SQL script per version, applied in order
to a file whose SQLite `user_version` is below it: v1 the cursors, borrowers, transactions,
decisions and rationale documents; v2 the return-index samples and the jobs' small states; v3
the `redeemer` job renamed `settler` in every table; v4 the chain and deployment the file is
bound to; v5 the hash of each return-index sample's block.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 5

SCHEMA_V1: Final = """
CREATE TABLE IF NOT EXISTS cursors (
    job TEXT PRIMARY KEY,
    block INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS borrowers (
    address TEXT PRIMARY KEY,
    first_block INTEGER NOT NULL,
    last_block INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS txs (
    tx_hash TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    action_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    status TEXT NOT NULL,
    max_fee INTEGER,
    priority_fee INTEGER,
    gas_used INTEGER,
    effective_gas_price INTEGER,
    block INTEGER,
    error TEXT,
    sent_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS txs_action ON txs (action_id);
CREATE INDEX IF NOT EXISTS txs_sender_nonce ON txs (sender, nonce);
CREATE TABLE IF NOT EXISTS decisions (
    decision_id TEXT PRIMARY KEY,
    rationale_hash TEXT NOT NULL,
    uri TEXT NOT NULL,
    tx_hash TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rationales (
    hash TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    created_at REAL NOT NULL
);
"""
SCHEMA_V2: Final = """
CREATE TABLE IF NOT EXISTS index_samples (
    sleeve TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    value TEXT NOT NULL,
    block INTEGER NOT NULL,
    PRIMARY KEY (sleeve, timestamp)
);
CREATE TABLE IF NOT EXISTS job_state (
    job TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""
# v3: the redeemer job became the settler (ERC-7540 strikes and claims): its cursor, its
# transactions and its state are the settler's. The redeemer's cursor held the last block it
# read, which is what the settler's cursor means too.
SCHEMA_V3: Final = """
UPDATE cursors SET job = 'settler' WHERE job = 'redeemer';
UPDATE txs SET job = 'settler' WHERE job = 'redeemer';
UPDATE job_state SET job = 'settler' WHERE job = 'redeemer';
"""

# v4: the chain and deployment the file belongs to (at most one row).
SCHEMA_V4: Final = """
CREATE TABLE IF NOT EXISTS chain_binding (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key TEXT NOT NULL,
    binding TEXT NOT NULL,
    bound_at REAL NOT NULL
);
"""
# v5: the hash of the block each return-index reading was read at (NULL for the readings of
# older files): what tells a reading of a chain the node went back from (`Store.sample_blocks`).
SCHEMA_V5: Final = """
ALTER TABLE index_samples ADD COLUMN hash TEXT;
"""
# Tables whose rows are chain state (a pre-v4 file with any of them is of an unknown chain).
STATE_TABLES: Final = ("cursors", "borrowers", "txs", "decisions", "index_samples", "job_state")

MIGRATIONS: Final = (
    (1, SCHEMA_V1), (2, SCHEMA_V2), (3, SCHEMA_V3), (4, SCHEMA_V4), (5, SCHEMA_V5)
)  # fmt: skip
"""(version, script) in order: a file at version `v` runs every script above `v`."""
