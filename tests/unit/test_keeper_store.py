"""keepers.store: the keeper's SQLite state survives a restart and every write is idempotent."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from keepers.store import SCHEMA_VERSION, SchemaError, Store
from keepers.strategy.rationale import encode, verify

ALICE = "0x" + "aa" * 20
BOB = "0x" + "BB" * 20
KEEPER = "0x" + "11" * 20
HASH_1 = "0x" + "01" * 32
HASH_2 = bytes.fromhex("02" * 32)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "state" / "keeper.sqlite"


def test_new_file_is_wal_and_versioned(path):
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    Store(path).close()  # reopening migrates nothing and fails nothing


def test_every_commit_is_synced_to_disk(path):
    """A record written before its broadcast must survive a power loss, not only a killed
    process: WAL with synchronous=FULL (2) syncs each commit; NORMAL (1) may lose the last."""
    with Store(path) as store:
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_a_newer_schema_is_refused(path):
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(SchemaError):
        Store(path)


def test_cursor_resumes_after_restart_and_never_moves_back(path):
    with Store(path) as store:
        assert store.last_block("liquidator") is None
        store.set_last_block("liquidator", 10)
        store.set_last_block("liquidator", 12)
        store.set_last_block("liquidator", 11)  # a late, older pass
        store.set_last_block("evaluator", 3)
    with Store(path) as store:
        assert store.last_block("liquidator") == 12
        assert store.last_block("evaluator") == 3


def test_borrowers_upsert(path):
    with Store(path) as store:
        store.add_borrowers([ALICE, BOB], block=5)
        store.add_borrowers([BOB.lower(), ALICE], block=9)
        store.add_borrowers([ALICE], block=2)
        assert store.borrowers() == [ALICE, BOB.lower()]


def test_sent_then_outcome_and_already_done(path):
    action = "liquidate:" + ALICE
    with Store(path) as store:
        assert not store.already_done(action)
        store.record_sent(
            job="liquidator",
            action_id=action,
            sender=KEEPER,
            nonce=7,
            tx_hash=HASH_1,
            max_fee=100,
            priority_fee=2,
        )
        store.record_sent(  # the same broadcast recorded twice: one row
            job="liquidator",
            action_id=action,
            sender=KEEPER,
            nonce=7,
            tx_hash=HASH_1,
        )
        assert not store.already_done(action)  # in flight is not done
        assert [t.tx_hash for t in store.in_flight()] == [HASH_1]
    with Store(path) as store:  # restart: the in-flight transaction is still known
        (pending,) = store.in_flight(KEEPER)
        assert (pending.nonce, pending.status, pending.max_fee) == (7, "sent", 100)
        store.record_outcome(HASH_1, "mined", gas_used=21_000, effective_gas_price=50, block=44)
        store.record_outcome(HASH_1, "mined")  # idempotent, keeps the numbers
        record = store.transaction(HASH_1)
        assert record is not None
        assert (record.status, record.gas_used, record.block) == ("mined", 21_000, 44)
        assert store.already_done(action)
        assert store.in_flight() == []


def test_reverted_and_replaced_are_not_done_lost_race_is(path):
    with Store(path) as store:
        store.record_sent(job="e", action_id="evaluate:1", sender=KEEPER, nonce=1, tx_hash=HASH_1)
        store.record_outcome(HASH_1, "replaced")
        store.record_sent(job="e", action_id="evaluate:1", sender=KEEPER, nonce=1, tx_hash=HASH_2)
        store.record_outcome(HASH_2, "reverted", error="Paused")
        assert not store.already_done("evaluate:1")
        assert [t.status for t in store.transactions("evaluate:1")] == ["reverted", "replaced"]
        store.record_lost_race(
            job="e", action_id="evaluate:1", sender=KEEPER, error="AlreadyEvaluated"
        )
        store.record_lost_race(
            job="e", action_id="evaluate:1", sender=KEEPER, error="AlreadyEvaluated"
        )
        assert store.already_done("evaluate:1")
        assert len(store.transactions("evaluate:1")) == 3


def test_a_lost_race_seen_only_by_a_simulation_is_done_only_while_recent(path):
    """A lost-race row without a transaction (a rival's pending transaction, which may yet be
    dropped) counts for the caller's reorg window only; a mined one of ours for good."""
    with Store(path) as store:
        store.record_lost_race(job="e", action_id="evaluate:1", sender=KEEPER, error="x",
                               block=100)  # fmt: skip
        assert store.already_done("evaluate:1")  # no window given: as before
        assert store.already_done("evaluate:1", lambda: 99)  # read at 100, window above 99
        assert not store.already_done("evaluate:1", lambda: 100)  # older than the window
        store.record_lost_race(job="e", action_id="evaluate:1", sender=KEEPER, error="x",
                               block=110)  # fmt: skip
        assert store.already_done("evaluate:1", lambda: 100)  # seen again later: recent
        store.record_lost_race(job="e", action_id="evaluate:2", sender=KEEPER, error="x")
        assert not store.already_done("evaluate:2", lambda: 0)  # no block: never recent
        store.record_sent(job="e", action_id="evaluate:2", sender=KEEPER, nonce=1, tx_hash=HASH_1)
        store.record_outcome(HASH_1, "lost-race", block=3)  # our own transaction lost it
        assert store.already_done("evaluate:2", lambda: 1_000)
        assert not store.already_done("evaluate:3", lambda: pytest.fail("not read"))


def test_outcome_of_unknown_hash_or_status_is_an_error(path):
    with Store(path) as store:
        with pytest.raises(KeyError):
            store.record_outcome(HASH_1, "mined")
        store.record_sent(job="e", action_id="a", sender=KEEPER, nonce=0, tx_hash=HASH_1)
        with pytest.raises(ValueError):
            store.record_outcome(HASH_1, "confirmed")  # type: ignore[arg-type]


def test_rationale_by_hash_and_decision_record(path):
    body = encode({"version": "ballast.rationale/1", "gain": 0.25, "weights": [6000, 0]})
    with Store(path) as store:
        digest = store.put_rationale(body)
        assert store.put_rationale(body) == digest
        store.record_decision(4, digest, "file://rationales/" + digest)
        store.record_decision(4, digest, "file://rationales/" + digest, tx_hash=HASH_1)
        store.record_decision(4, digest, "file://rationales/" + digest)  # keeps the tx
    with Store(path) as store:
        stored = store.rationale(digest)
        assert stored == body and verify(stored, digest)
        assert store.rationale("0x" + "00" * 32) is None
        decision = store.decision(4)
        assert decision is not None
        assert (decision.rationale_hash, decision.tx_hash) == (digest, HASH_1)
        assert store.decision(5) is None


def test_threads_share_one_store(path):
    with Store(path) as store:

        def work(n: int) -> None:
            for i in range(50):
                store.record_sent(
                    job="j",
                    action_id=f"a:{n}:{i}",
                    sender=KEEPER,
                    nonce=i,
                    tx_hash=f"0x{n:02x}{i:062x}",
                )
                store.set_last_block("j", n * 100 + i)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(store.transactions()) == 200
        assert store.last_block("j") == 349


def test_a_version_1_file_is_migrated_keeping_its_rows(path):
    from keepers.store_schema import SCHEMA_V1

    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1 + "PRAGMA user_version = 1;")
    db.execute("INSERT INTO cursors (job, block, updated_at) VALUES ('liquidator', 41, 0)")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 5
        assert store.last_block("liquidator") == 41
        store.add_index_sample("gold", 100, 10**18, 5)
        assert store.index_history("gold") == ((100, 10**18),)


def test_a_version_2_file_hands_the_redeemers_rows_to_the_settler(path):
    """v3: the settler replaced the redeemer; its cursor and transactions carry over, other
    jobs' rows are untouched."""
    from keepers.store_schema import SCHEMA_V1, SCHEMA_V2

    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1 + SCHEMA_V2 + "PRAGMA user_version = 2;")
    db.execute("INSERT INTO cursors (job, block, updated_at) VALUES ('redeemer', 77, 0)")
    db.execute("INSERT INTO cursors (job, block, updated_at) VALUES ('evaluator', 80, 0)")
    db.execute(
        "INSERT INTO txs (tx_hash, job, action_id, sender, nonce, status, sent_at, updated_at) "
        "VALUES ('0xaa', 'redeemer', 'processRedeemQueue:70', '0x01', 4, 'mined', 0, 0)"
    )
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 5
        assert store.last_block("settler") == 77
        assert store.last_block("redeemer") is None
        assert store.last_block("evaluator") == 80
        (tx,) = store.transactions()
        assert (tx.job, tx.action_id, tx.status) == ("settler", "processRedeemQueue:70", "mined")
        assert store.already_done("processRedeemQueue:70")


def test_index_history_is_ordered_bounded_and_keeps_big_values(path):
    big = 2**200  # uint256 readings do not fit SQLite integers
    with Store(path) as store:
        for t in (300, 100, 200):
            store.add_index_sample("tbill", t, big + t, t // 100)
        store.add_index_sample("tbill", 200, 1, 9)  # one reading per timestamp: the first stays
        store.add_index_sample("gold", 150, 7, 1)
        expected = ((100, big + 100), (200, big + 200), (300, big + 300))
        assert store.index_history("tbill") == expected
        assert store.index_history("tbill", limit=2) == ((200, big + 200), (300, big + 300))
        assert store.index_history("lending") == ()
    with Store(path) as store:  # survives a restart
        assert store.index_history("gold") == ((150, 7),)


def test_readings_keep_their_blocks_hash_and_are_dropped_by_block(path):
    """v5: each reading's block hash (None for a reading of an older file, or given none), the
    blocks newest first, and the readings of chosen blocks dropped, every sleeve's."""
    with Store(path) as store:
        store.add_index_sample("gold", 100, 7, 10, "0xa")
        store.add_index_sample("tbill", 100, 8, 10, "0xa")
        store.add_index_sample("gold", 112, 9, 11, "0xb")
        store.add_index_sample("gold", 124, 5, 12)
        assert store.sample_blocks() == [(12, None), (11, "0xb"), (10, "0xa")]
        store.drop_samples_at([12, 11])
        assert store.sample_blocks() == [(10, "0xa")]
        assert store.index_history("gold") == ((100, 7),)
        assert store.index_history("tbill") == ((100, 8),)


def test_a_version_4_file_keeps_its_readings_without_hashes(path):
    from keepers.store_schema import SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4

    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1 + SCHEMA_V2 + SCHEMA_V3 + SCHEMA_V4 + "PRAGMA user_version = 4;")
    db.execute("INSERT INTO index_samples VALUES ('gold', 100, '7', 10)")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 5
        assert store.sample_blocks() == [(10, None)]
        assert store.index_history("gold") == ((100, 7),)


def test_a_file_another_process_migrated_since_its_version_was_read_is_not_migrated_twice(
    path, monkeypatch
):
    """A bot and a reader of its state open an older file at once: both read the old version,
    and the second to take the write lock found the first's step applied ("duplicate column
    name: hash", seen in tests/keepers/test_bot_node_restart.py). The version is read again
    under the lock."""
    from keepers.store_schema import SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4

    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1 + SCHEMA_V2 + SCHEMA_V3 + SCHEMA_V4 + "PRAGMA user_version = 4;")
    db.close()
    Store(path).close()  # the other process: migrated to 5
    reads = []
    real = Store.schema_version.fget

    def stale_first(self):  # this process read the version before the other migrated
        reads.append(1)
        return 4 if len(reads) == 1 else real(self)

    monkeypatch.setattr(Store, "schema_version", property(stale_first))
    with Store(path) as store:
        assert len(reads) >= 2 and store.schema_version == SCHEMA_VERSION == 5
        store.set_job_state("sentinel", "{}")
        assert store.job_state("sentinel") == "{}"


def test_job_state_round_trips_and_overwrites(path):
    with Store(path) as store:
        assert store.job_state("sentinel") is None
        store.set_job_state("sentinel", '{"tripped": false}')
        store.set_job_state("sentinel", '{"tripped": true}')
    with Store(path) as store:
        assert store.job_state("sentinel") == '{"tripped": true}'


def test_latest_decision_is_the_highest_id_not_the_last_written(path):
    with Store(path) as store:
        assert store.latest_decision() is None
        store.record_decision(10, HASH_1, "ballast://r/10")
        store.record_decision(9, HASH_2, "ballast://r/9")
        assert store.latest_decision().decision_id == "10"  # ids compare as numbers


def test_a_dropped_transaction_broadcast_again_is_in_flight_again(path):
    """The same signed bytes (same nonce, fees and call) re-sent after the pool lost them have
    the same hash: the record is `sent` again, so a restart reconciles it."""
    with Store(path) as store:
        store.record_sent(job="e", action_id="evaluate:1", sender=KEEPER, nonce=0, tx_hash=HASH_1)
        store.record_outcome(HASH_1, "dropped", error="unknown to the node")
        assert store.in_flight() == []
        store.record_sent(job="e", action_id="evaluate:1", sender=KEEPER, nonce=0, tx_hash=HASH_1)
        assert [t.status for t in store.in_flight(KEEPER)] == ["sent"]
        store.record_outcome(HASH_1, "mined", block=9)
        store.record_sent(job="e", action_id="evaluate:1", sender=KEEPER, nonce=0, tx_hash=HASH_1)
        assert store.transaction(HASH_1).status == "mined"  # only a dropped one is re-opened


def test_a_mined_record_undone_by_a_reorg_is_reopened_and_no_longer_done(path):
    with Store(path) as store:
        store.record_sent(job="e", action_id="evaluate:1", sender=KEEPER, nonce=0, tx_hash=HASH_1)
        store.record_outcome(HASH_1, "mined", block=20, gas_used=50_000)
        store.record_sent(job="e", action_id="evaluate:2", sender=KEEPER, nonce=1, tx_hash=HASH_2)
        store.record_outcome(HASH_2, "mined", block=5)
        store.record_lost_race(job="e", action_id="evaluate:3", sender=KEEPER, error="x")
        # the last blocks' settled records of the key (not an old one, nor one without a tx)
        assert [t.action_id for t in store.settled_since(KEEPER, 12)] == ["evaluate:1"]
        assert store.settled_since(ALICE, 0) == []
        store.reopen(HASH_1, error="no longer in block 20 (reorg)")
        assert not store.already_done("evaluate:1")
        (record,) = store.in_flight(KEEPER)
        assert (record.tx_hash, record.block, record.gas_used) == (HASH_1, None, None)
        assert record.error == "no longer in block 20 (reorg)"
        with pytest.raises(KeyError):
            store.reopen("0x" + "09" * 32, error="?")
