"""A keeper's state is bound to its chain and deployment (issue 20, item 4).

The reported case: the node was reset and the system redeployed on the same chain id (at the
same addresses, as a fresh node gives); `ballast-keeper once --job liquidator` read the old
state file (its cursor past the new chain's head, its borrower list, its sentinel streak),
reported no borrowers with debt while positions sat unhealthy, and the sentinel tripped after one
pass. Here the reset is an anvil snapshot restored (block numbers go back, the same addresses are
deployed again); the keeper starts fresh state in a file of its own and finds every position.
Unit tests of the keying (`ChainBinding`, `Store(path, binding)`, the v3 → v4 migration) follow.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ballast.deployment import SleeveEntry
from keepers.binding import ChainBinding
from keepers.config import load_settings
from keepers.math import WAD
from keepers.protocol import Protocol
from keepers.reads import read_chain_binding
from keepers.runtime import StartupError, open_store
from keepers.store import SCHEMA_VERSION, BindingError, Store
from tests.cli_forkserver import forked
from tests.keeper_support import open_many_positions, protocol_of
from tests.lending_support import deploy_lending_system
from tests.vault_support import USDC, SleeveSpec, add_sleeve, faucet

KEEPER = Path(sys.executable).with_name("ballast-keeper")
GENESIS = "0x" + "01" * 32
BLOCK_HASH = "0x" + "02" * 32
VAULT = "0x" + "aa" * 20


def run_keeper(node: str, repo_root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "APE_FOUNDRY_HOST": node, "NO_COLOR": "1", "COLUMNS": "200"}
    command, env = forked([str(KEEPER), *args], env)
    return subprocess.run(
        command, cwd=repo_root, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def deploy_shocked_book(project, accounts, chain, manifest: Path, borrowers: int):
    """A lending system with `borrowers` borrowers, tbill marked down 50 % (every position
    unhealthy), the keeper (accounts[7]) funded; its manifest written to `manifest`. Returns
    (lending, borrowers)."""
    first_block = chain.blocks.head.number + 1
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 1_000_000 * USDC)
    opened = open_many_positions(lending, borrowers, accounts[0])
    faucet(lending.asset, accounts[7], 1_000_000 * USDC)
    protocol_of(lending, first_block).deployment.save(manifest)
    lending.set_nav("tbill", 50_000_000)
    lending.confirm("tbill")  # a liquidation counts the fall once confirmed
    assert all(lending.book.healthFactor(b) < WAD for b in opened)
    return lending, opened


def sentinel_state(store: Store) -> dict:
    raw = store.job_state("sentinel")
    assert raw is not None
    return json.loads(raw)


def test_a_reset_chain_redeployed_at_the_same_addresses_starts_fresh_state(
    project, accounts, chain, repo_root, tmp_path
):
    manifest = tmp_path / "ethereum-local.json"
    state_dir = tmp_path / "state"
    args = ("--manifest", str(manifest), "--account", "TEST::7", "--state-dir", str(state_dir),
            "once", "--job", "sentinel", "--job", "liquidator")  # fmt: skip
    before_anything = chain.snapshot()

    # The first chain: the keeper acts and leaves its state (cursor, borrowers, done markers,
    # a sentinel streak of one critical pass: most of the book's debt is unhealthy).
    first, first_borrowers = deploy_shocked_book(project, accounts, chain, manifest, 6)
    chain.mine(40)  # the first chain runs longer than the second will: its cursor is ahead
    start = chain.blocks.head.number + 1
    ran = run_keeper(chain.provider.uri, repo_root, *args)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    head = chain.blocks.head.number
    liquidated = {log.borrower for log in first.book.Liquidated.range(start, head + 1)}
    assert liquidated == set(first_borrowers)
    (old_file,) = state_dir.glob("*.sqlite")
    with Store(old_file) as old:
        old_cursor = old.last_block("position-scan")
        assert old_cursor is not None
        assert sentinel_state(old)["critical_streak"] == 1
        assert len(old.borrowers()) == len(first_borrowers)
        old_binding = old.binding
    assert old_binding is not None

    # The reset: block numbers go back, and the same system is deployed at the same addresses.
    chain.restore(before_anything)
    chain.mine(1)  # the redeployment's first block is another block than the first's
    # the same six borrowers (the test's addresses are fixed) and two the first chain never had
    second, borrowers = deploy_shocked_book(project, accounts, chain, manifest, 8)
    assert str(second.book.address) == str(first.book.address)  # as a fresh node gives
    assert old_cursor > chain.blocks.head.number  # the old cursor would hide every borrower
    start = chain.blocks.head.number + 1

    again = run_keeper(chain.provider.uri, repo_root, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    head = chain.blocks.head.number
    assert {log.borrower for log in second.book.Liquidated.range(start, head + 1)} == set(borrowers)
    assert f"{len(borrowers)} borrowers with debt" in again.stdout
    assert "pause-recommended" not in again.stdout + again.stderr

    new_file = next(p for p in state_dir.glob("*.sqlite") if p != old_file)
    with Store(new_file) as new:
        assert new.binding is not None and new.binding != old_binding
        assert new.binding.differences(old_binding) == ["deployment block"]
        assert sentinel_state(new)["critical_streak"] == 1  # from zero: one pass, not two
        assert sorted(new.borrowers()) == sorted(b.lower() for b in borrowers)
    with Store(old_file) as old:  # kept as it was, for audit
        assert old.last_block("position-scan") == old_cursor
        assert old.binding == old_binding


def test_the_same_chain_and_deployment_reopen_the_same_state(project, accounts, chain, tmp_path):
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    protocol = protocol_of(lending, chain.blocks.head.number)
    settings = load_settings(state_dir=tmp_path)
    binding = read_chain_binding(chain.provider.web3, protocol)
    assert binding.genesis_hash == "0x" + bytes(chain.provider.web3.eth.get_block(0)["hash"]).hex()
    assert dict(binding.contracts)["contract:LendingSleeve"] == str(lending.book.address).lower()

    legacy = settings.state_path(chain.chain_id, str(accounts[7].address))
    with Store(legacy) as old:  # a file from before chain binding: never adopted
        old.set_last_block("borrower-scan", 10**9)
    who = str(accounts[7].address)
    with open_store(settings, protocol, who) as store:
        assert store.path == settings.state_path(chain.chain_id, who, binding.key)
        assert store.last_block("borrower-scan") is None
        store.set_last_block("borrower-scan", 5)
    with open_store(settings, protocol, who) as store:
        assert store.last_block("borrower-scan") == 5  # a restart on the same chain resumes
    with Store(legacy) as old:
        assert old.last_block("borrower-scan") == 10**9


def test_a_sleeve_change_keeps_the_state_file_and_its_history(project, accounts, chain, tmp_path):
    """The DAO adds a sleeve and removes gold; the manifest is refreshed. The state file's name
    and binding named every address of the manifest, sleeves included: the keeper opened a new,
    empty file, so the rebalancer's return-index history started again and the receipts of its
    earlier decisions stayed in the old file. A state file is the deployment's (the chain, the
    deployment block and hash, the system's contracts): the same file, its history carried on;
    only gold's readings are dropped (a sleeve named gold later is another sleeve)."""
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    vs = lending.vs
    protocol = protocol_of(lending, chain.blocks.head.number)
    settings = load_settings(state_dir=tmp_path)
    who = str(accounts[7].address)
    with open_store(settings, protocol, who, sending=True) as store:
        first_path = store.path
        store.set_last_block("position-scan", 7)
        body = b'{"decision": 0}'
        store.record_decision(0, store.put_rationale(body), "ipfs://0", "0x" + "ab" * 32)
        for name in ("tbill", "gold"):
            store.add_index_sample(name, 1_000, WAD, 1)
            store.add_index_sample(name, 2_000, WAD + 1, 2)

    local = dataclasses.replace(vs, sleeves=list(vs.sleeves))
    extra = add_sleeve(project, local, SleeveSpec("extra", cap_bps=2_000))
    vs.vault.removeSleeve(vs.sleeve("gold").sleeve, sender=vs.governance)
    entries = [e for e in protocol.deployment.sleeves if e.name != "gold"]
    added = {"name": "extra", "kind": "TokenizedRWASleeve", "address": str(extra.sleeve.address),
             "token": str(extra.token.address), "feed": str(extra.feed.address),
             "issuer": str(extra.issuer.address)}  # fmt: skip
    entries.append(SleeveEntry(**added))  # the vault's order: the new one last
    refreshed = Protocol.from_deployment(
        protocol.deployment.model_copy(update={"sleeves": entries}), source="refreshed"
    )
    with open_store(settings, refreshed, who, sending=True) as store:
        assert store.path == first_path
        assert store.last_block("position-scan") == 7
        decision = store.decision(0)
        assert decision is not None and store.rationale(decision.rationale_hash) == body
        assert store.index_history("tbill") == ((1_000, WAD), (2_000, WAD + 1))
        assert store.index_history("gold") == ()  # gone from the vault: its readings dropped
        bound = store.binding
        assert bound is not None
        assert ("sleeve:extra", str(extra.sleeve.address).lower()) in bound.contracts
        store.add_index_sample("extra", 3_000, WAD, 3)
    with open_store(settings, protocol, who) as view:  # a view with the old manifest
        assert view.binding == bound and view.index_history("extra") == ((3_000, WAD),)
    assert [p.name for p in tmp_path.glob("*.sqlite")] == [first_path.name]


def test_a_sending_keeper_with_an_out_of_date_manifest_keeps_a_newer_sleeves_history(
    project, accounts, chain, repo_root, tmp_path
):
    """The DAO adds a sleeve and a keeper with the refreshed manifest records its readings. An
    operator then starts a sending keeper with the manifest from before the sleeve
    (`once --job sentinel`): it rebound the file to that manifest and dropped the readings of a
    sleeve the vault still holds, so the next keeper with the up-to-date manifest had lost its
    history. A manifest that does not list a sleeve the vault holds is out of date: the keeper
    stops in one line (exit 1) naming the manifest and the sleeve, sends nothing and leaves the
    file as it is. A manifest refreshed after the sleeve was removed and its name given to
    another sleeve still rebinds and drops the old sleeve's readings."""
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    vs = lending.vs
    protocol = protocol_of(lending, chain.blocks.head.number)
    old_manifest = tmp_path / "before-extra.json"
    protocol.deployment.save(old_manifest)
    settings = load_settings(state_dir=tmp_path / "state")
    who = str(accounts[7].address)

    local = dataclasses.replace(vs, sleeves=list(vs.sleeves))
    extra = add_sleeve(project, local, SleeveSpec("extra", cap_bps=2_000))
    entry = {"name": "extra", "kind": "TokenizedRWASleeve", "address": str(extra.sleeve.address),
             "token": str(extra.token.address), "feed": str(extra.feed.address),
             "issuer": str(extra.issuer.address)}  # fmt: skip

    def manifest_with(address: str) -> Protocol:
        entries = [*protocol.deployment.sleeves, SleeveEntry(**{**entry, "address": address})]
        return Protocol.from_deployment(
            protocol.deployment.model_copy(update={"sleeves": entries}), source="refreshed"
        )

    with open_store(settings, manifest_with(str(extra.sleeve.address)), who, sending=True) as store:
        for name in ("tbill", "extra"):
            store.add_index_sample(name, 1_000, WAD, 1)
        bound, path = store.binding, store.path
    assert bound is not None

    with pytest.raises(StartupError) as refused:
        open_store(settings, Protocol.load(old_manifest), who, sending=True)
    message = str(refused.value)
    assert "\n" not in message, message
    assert str(old_manifest) in message and f"extra ({extra.sleeve.address})" in message, message
    assert "ape run deploy" in message, message
    nonce = accounts[7].nonce
    ran = run_keeper(chain.provider.uri, repo_root, "--manifest", str(old_manifest),
                     "--account", "TEST::7", "--state-dir", str(settings.state_dir),
                     "once", "--job", "sentinel")  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr
    assert f"Error: {message}" in ran.stderr.splitlines(), ran.stderr
    assert accounts[7].nonce == nonce  # nothing sent
    with Store(path) as store:  # as it was: bound to the up-to-date manifest, its history kept
        assert store.binding == bound
        assert store.index_history("extra") == store.index_history("tbill") == ((1_000, WAD),)

    # The DAO removes extra and adds another sleeve under its name: the manifest refreshed for
    # that rebinds, and extra's readings, another sleeve's, are dropped.
    vs.vault.removeSleeve(extra.sleeve, sender=vs.governance)
    again = vs.governance.deploy(project.TokenizedRWASleeve, vs.vault, extra.issuer, vs.router)
    vs.vault.addSleeve(again, "extra", sender=vs.governance)
    with open_store(settings, manifest_with(str(again.address)), who, sending=True) as store:
        assert store.path == path and store.binding != bound
        assert store.index_history("extra") == ()
        assert store.index_history("tbill") == ((1_000, WAD),)


def test_a_state_file_named_by_every_address_is_carried_over_once(
    project, accounts, chain, tmp_path
):
    """A keeper upgraded from the naming by every address of the manifest starts with the file
    of its manifest under the old name: the first keeper that may send copies it to the
    deployment's name once (the old file kept as it was, for audit), not left behind for an
    empty one; a view before it reads the old file where it is (a copy it made would miss what
    an older keeper still running wrote after it)."""
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    protocol = protocol_of(lending, chain.blocks.head.number)
    settings = load_settings(state_dir=tmp_path)
    who = str(accounts[7].address)
    binding = read_chain_binding(chain.provider.web3, protocol)
    legacy = settings.state_path(chain.chain_id, who, binding.legacy_key())
    assert legacy != settings.state_path(chain.chain_id, who, binding.key)
    with Store(legacy, binding) as old:
        old.set_last_block("position-scan", 7)
    with open_store(settings, protocol, who) as view:  # a view reads it where it is
        assert view.path == legacy and view.last_block("position-scan") == 7
    assert not settings.state_path(chain.chain_id, who, binding.key).exists()
    with open_store(settings, protocol, who, sending=True) as store:
        assert store.path != legacy and store.last_block("position-scan") == 7  # carried over
        store.set_last_block("position-scan", 9)
    with open_store(settings, protocol, who, sending=True) as store:
        assert store.last_block("position-scan") == 9  # once: not copied over again
    with Store(legacy) as old:
        assert old.last_block("position-scan") == 7  # as it was


# ------------------------------------------------------------------ the keying, unit by unit


def binding(**changes) -> ChainBinding:
    values = {
        "chain_id": 31337,
        "genesis_hash": GENESIS,
        "deployment_block": 7,
        "deployment_block_hash": BLOCK_HASH,
        "contracts": [("contract:RWAVault", VAULT), ("token:asset", "0x" + "bb" * 20)],
    }
    return ChainBinding.of(**{**values, **changes})


def test_the_binding_key_follows_the_genesis_the_deployment_and_every_address():
    base = binding()
    assert binding().key == base.key and len(base.key) == 12
    reordered = binding(contracts=[("token:asset", "0x" + "BB" * 20), ("contract:RWAVault", VAULT)])
    assert reordered == base and reordered.key == base.key  # order and case do not matter
    others = {
        "genesis": binding(genesis_hash="0x" + "03" * 32),
        "chain": binding(chain_id=1),
        "block": binding(deployment_block=8),
        "block hash": binding(deployment_block_hash="0x" + "04" * 32),
        "address": binding(contracts=[("contract:RWAVault", "0x" + "cc" * 20),
                                      ("token:asset", "0x" + "bb" * 20)]),
    }  # fmt: skip
    keys = {name: b.key for name, b in others.items()}
    assert len(set(keys.values()) | {base.key}) == len(others) + 1
    assert others["genesis"].differences(base) == ["genesis hash"]
    assert others["address"].differences(base) == ["addresses of contract:RWAVault"]
    assert ChainBinding.from_json(base.to_json()) == base
    # what governance changes on a running system is not the deployment: the same state file
    governed = binding(contracts=[("contract:RWAVault", VAULT), ("sleeve:extra", "0x" + "dd" * 20),
                                  ("token:asset", "0x" + "ee" * 20)])  # fmt: skip
    assert governed != base and governed.deployment == base.deployment
    assert governed.key == base.key and governed.legacy_key() != base.legacy_key()


def test_each_binding_has_its_own_state_file(tmp_path):
    settings = load_settings(state_dir=tmp_path)
    one = settings.state_path(31337, VAULT, binding().key)
    other = settings.state_path(31337, VAULT, binding(genesis_hash="0x" + "05" * 32).key)
    assert one != other and one.parent == other.parent == tmp_path
    assert one.name == f"31337-{VAULT}-{binding().key}.sqlite"


def test_a_file_bound_to_another_chain_is_refused_in_one_line(tmp_path):
    path = tmp_path / "k.sqlite"
    with Store(path, binding()) as store:
        store.set_last_block("liquidator", 99)
        store.set_job_state("sentinel", '{"critical_streak": 1}')
        assert store.binding == binding()
    with Store(path, binding()) as store:  # the same chain: resumed
        assert store.last_block("liquidator") == 99
    with pytest.raises(BindingError) as refused:
        Store(path, binding(genesis_hash="0x" + "06" * 32))
    message = str(refused.value)
    assert "\n" not in message and "genesis hash" in message and "differ" in message
    with Store(path) as store:  # unchecked (tools): still the first chain's state
        assert store.last_block("liquidator") == 99


@pytest.mark.parametrize(
    "damaged",
    ['{"chain_id": 31337, "genesis', "{}", "[1, 2]", '{"chain_id": 31337}', "null"],
    ids=["torn", "empty", "a-list", "keys-missing", "null"],
)
def test_a_file_whose_binding_is_damaged_is_refused_in_one_line(tmp_path, damaged):
    """The file's pages are sound (SQLite's check passes) but the chain binding it holds is not
    a binding (a torn write by another tool, a hand edit): the keeper cannot know the file's
    chain, so it refuses it as it refuses another chain's, naming the file and what to do (the
    CLI: exit 1, nothing sent). It used to raise the JSON's own error, which the CLI's catch-all
    turned into `cannot open the keeper: KeyError: 'chain_id'`, naming neither."""
    path = tmp_path / "k.sqlite"
    with Store(path, binding()) as store:
        store.set_last_block("liquidator", 99)
    db = sqlite3.connect(path)
    db.execute("UPDATE chain_binding SET binding = ? WHERE id = 1", (damaged,))
    db.commit()
    db.close()
    with pytest.raises(BindingError) as refused:
        Store(path, binding())
    message = str(refused.value)
    assert "\n" not in message and str(path) in message and "binding" in message, message


def test_a_v3_file_migrates_and_is_never_adopted_by_a_chain(tmp_path):
    from keepers.store_schema import SCHEMA_V1, SCHEMA_V2, SCHEMA_V3

    def v3_file(name: str, rows: bool) -> Path:
        path = tmp_path / name
        db = sqlite3.connect(path)
        db.executescript(SCHEMA_V1 + SCHEMA_V2 + SCHEMA_V3 + "PRAGMA user_version = 3;")
        if rows:
            db.execute("INSERT INTO cursors (job, block, updated_at) VALUES ('liquidator', 5, 0)")
            db.execute(
                "INSERT INTO txs (tx_hash, job, action_id, sender, nonce, status, sent_at, "
                "updated_at) VALUES ('0xaa', 'evaluator', 'evaluate:0', '0x01', 0, 'mined', 0, 0)"
            )
        db.commit()
        db.close()
        return path

    used = v3_file("used.sqlite", rows=True)
    with Store(used) as store:  # migrated (v4 binds, v5 hashes readings), rows kept, unbound
        assert store.schema_version == SCHEMA_VERSION == 5
        assert store.binding is None
        assert store.last_block("liquidator") == 5 and store.already_done("evaluate:0")
    with pytest.raises(BindingError, match="written before chain binding"):
        Store(used, binding())
    with Store(used) as store:
        assert store.binding is None  # the refusal bound nothing

    empty = v3_file("empty.sqlite", rows=False)
    with Store(empty, binding()) as store:  # nothing in it to mistake: bound
        assert store.binding == binding()
