"""A replay receipt written on a return-index history the chain never held (found in an agent
review, branch `agents`).

`verify-decision --replay` re-ran the strategy on the receipt and compared the node, at the
receipt's block, with its NAV, bounds, caps, weights and each sleeve's *latest* return index. The
rest of the history, the forecast's whole input, was the agent's word: an agent could write gold
rising 0.2 % a day over a month in which gold's feed never moved, run the published strategy on
it, send the decision it gave (into gold) and publish the receipt — which "replayed" and on which
"the node agreed" (exit 0). Every reading is now checked against the sleeve's `returnIndex()` at
a block carrying its timestamp; the honest keeper's history (its own readings of the chain)
still verifies.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid

import pytest

from ballast.deployment import Deployment
from keepers.store import Store
from tests.keeper_support import bound_state, deployed_manifest, observe_days
from tests.scripts import inprocess

# The in-process CLI runner and what it needs (tests/scripts/conftest.py's fixtures).
_process_state_restored = inprocess._process_state_restored
keeper_main = inprocess.keeper_main

DAY = 86_400


@pytest.fixture(scope="module")
def manifest(repo_root, accounts, tmp_path_factory):
    return deployed_manifest(repo_root, accounts[0], tmp_path_factory.mktemp("deployments"))


def _market(project, chain, manifest, accounts):
    from tests.scripts.test_agent_cli import Market

    return Market(project, chain, Deployment.load(manifest), accounts)


def _month_observed(market, manifest, days: int = 30):
    """A month on chain as the keeper reads it (tbill's NAV up 5 %/year, gold flat)."""
    return observe_days(market, Deployment.load(manifest), days)


def _keeper_decides(keeper_main, market, project, manifest, accounts, tmp_path, readings,
                    *dry_run: str):  # fmt: skip
    """Agent TEST::7 bonded, 1M deposited, the keeper's store holding `readings`: one rebalancer
    pass (`dry_run`: "--dry-run", it stores the receipt and sends nothing). Returns the store's
    file."""
    agent = accounts[7]
    market.bond(agent, 10_000 * 10**6)
    depositor = accounts[4]
    market.fund(depositor, 1_000_000 * 10**6)
    market.asset.approve(market.vault, 1_000_000 * 10**6, sender=depositor)
    market.vault.requestDeposit(1_000_000 * 10**6, depositor, depositor, sender=depositor)
    market.strike()
    market.vault.deposit(1_000_000 * 10**6, depositor, sender=depositor)
    market.quote()
    state_file, binding = bound_state(tmp_path / "state", manifest, agent.address)
    with Store(state_file, binding) as store:
        for name, timestamp, index, block in readings:
            store.add_index_sample(name, timestamp, index, block)
    ran = keeper_main(["--state-dir", str(tmp_path / "state"), "--manifest", str(manifest),
                       "--account", "TEST::7", *dry_run, "once", "--job",
                       "rebalancer"])  # fmt: skip
    if not dry_run:
        assert "decision 0 opened" in ran.stdout, ran.stdout + ran.stderr
    return state_file


def _verify(keeper_main, manifest, tmp_path):
    return keeper_main(["--state-dir", str(tmp_path / "state"), "--manifest", str(manifest),
                        "--account", "TEST::7", "verify-decision", "0", "--replay"])  # fmt: skip


def test_a_receipt_written_on_a_history_the_chain_never_held_does_not_verify(
    keeper_main, manifest, project, chain, accounts, tmp_path
):
    market = _market(project, chain, manifest, accounts)
    readings = _month_observed(market, manifest)
    # The agent's story: gold up 0.2 % a day at the very blocks the chain has (gold never moved).
    gold = [r for r in readings if r[0] == "gold"]
    base = gold[0][2]
    forged = [
        (name, t, base + base * 2 * day // 1_000 if name == "gold" else index, block)
        for name, t, index, block in readings
        for day in [next(i for i, g in enumerate(gold) if g[1] == t)]
    ]
    assert {r[2] for r in gold} == {base}  # the chain's gold: flat all month
    state_file = _keeper_decides(keeper_main, market, project, manifest, accounts, tmp_path,
                                 forged)  # fmt: skip
    with Store(state_file) as store:
        body = store.rationale(store.decision(0).rationale_hash)
    target = json.loads(body)["outcome"]["target_bps"]
    assert target[1] > 0  # the forged rise sent the vault into gold
    assert market.vault.decision(0).newBps[1] > 0

    result = _verify(keeper_main, manifest, tmp_path)
    assert "replay: same document" in result.stdout, result.stdout  # the strategy's, on the story
    assert result.returncode == 4, result.stdout + result.stderr  # was 0: "the node agrees"
    first = gold[0]
    assert (
        f"chain inputs MISMATCH: gold returnIndex history at {first[1]}: receipt {base}, "
        f"node {base}"
    ) not in result.stdout  # day 0 is the chain's own reading
    second = gold[1]
    assert (f"chain inputs MISMATCH: gold returnIndex history at {second[1]}: receipt "
            f"{base + base * 2 // 1_000}, node {base} (block {second[3]})") in result.stdout, (
        result.stdout
    )  # fmt: skip
    assert "tbill returnIndex history" not in result.stdout  # tbill's readings are the chain's


def test_the_keepers_own_readings_of_the_chain_verify(
    keeper_main, manifest, project, chain, accounts, tmp_path
):
    """Control: the same month as the keeper read it; its decision verifies (exit 0)."""
    market = _market(project, chain, manifest, accounts)
    readings = _month_observed(market, manifest)
    _keeper_decides(keeper_main, market, project, manifest, accounts, tmp_path, readings)
    result = _verify(keeper_main, manifest, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "chain inputs: the node agrees at the receipt's block" in result.stdout, result.stdout


def test_a_decision_taken_before_a_sleeve_was_added_still_verifies(
    keeper_main, manifest, project, chain, accounts, tmp_path
):
    """The keeper decides (decision 0, it verifies); the DAO then adds a sleeve and the manifest
    is refreshed to the vault's new set, as the rebalancer requires. The replay read the node at
    the receipt's block through the manifest's sleeves: "sleeves: receipt [tbill, gold,
    invoices, lending], node [..., tbill2]", so an honest decision no longer verified (exit 4)
    once the set had changed. The node is now read through the vault's sleeves at that block."""
    from keepers.protocol import Protocol
    from keepers.verify import replay_decision
    from tests.keeper_support import keeper

    market = _market(project, chain, manifest, accounts)
    readings = _month_observed(market, manifest)
    state_file = _keeper_decides(keeper_main, market, project, manifest, accounts, tmp_path,
                                 readings)  # fmt: skip
    assert _verify(keeper_main, manifest, tmp_path).returncode == 0

    deployment = Deployment.load(manifest)
    timelock = accounts.impersonate_account(deployment.contracts["TimelockController"])
    accounts[0].transfer(timelock, 10**19)
    tbill = next(s for s in deployment.sleeves if s.name == "tbill")
    added = accounts[0].deploy(project.TokenizedRWASleeve, market.vault, tbill.issuer,
                               market.router)  # fmt: skip
    market.params.defineParameter("vault.maxSleeveBps.tbill2", 1_000, 0, 10_000, 0, 0,
                                  sender=timelock)  # fmt: skip
    market.vault.addSleeve(added, "tbill2", sender=timelock)
    entry = tbill.model_copy(update={"name": "tbill2", "address": str(added.address)})
    refreshed = Protocol.from_deployment(
        deployment.model_copy(update={"sleeves": [*deployment.sleeves, entry]})
    )
    reader = keeper(refreshed, None, tmp_path / "reader")
    with Store(state_file) as store:
        check = replay_decision(reader.multicall, refreshed, 0, store)
    assert check.node == () and check.ok, (check.node, check.note, check.decision, check.timing)


def test_a_reading_at_a_time_no_block_has_does_not_verify(
    keeper_main, manifest, project, chain, accounts, tmp_path
):
    """A reading moved off its block (half a day earlier, when nothing was mined) has no block
    to be checked at: the receipt does not verify."""
    market = _market(project, chain, manifest, accounts)
    readings = _month_observed(market, manifest)
    name, t, index, block = readings[0]
    moved = [(name, t - DAY // 2, index, block), *readings[1:]]
    _keeper_decides(keeper_main, market, project, manifest, accounts, tmp_path, moved)
    result = _verify(keeper_main, manifest, tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"{name} returnIndex history: no block at its reading's time {t - DAY // 2}" in (
        result.stdout
    )


def test_a_later_decision_reusing_an_earlier_receipt_does_not_verify(
    keeper_main, manifest, project, chain, accounts, tmp_path
):
    """Found in an outside review (kit2): `verify-decision --replay` checked that the receipt's
    block was before the decision's, never how long before nor whether the vault decided in
    between. The agent's keeper decides honestly (decision 0); two days later the agent sends
    decision 1 by hand, with decision 0's targets, rationale hash and URI: the receipt replays,
    the node agrees at its block, the transaction sent its targets — it verified (exit 0) for a
    move the strategy never made on the vault as it was then. Now the receipt's inputs must be at
    most `--max-age` seconds (an hour) older than the decision, with no decision between them."""
    market = _market(project, chain, manifest, accounts)
    readings = _month_observed(market, manifest)
    state_file = _keeper_decides(keeper_main, market, project, manifest, accounts, tmp_path,
                                 readings)  # fmt: skip
    assert _verify(keeper_main, manifest, tmp_path).returncode == 0  # decision 0: its own
    first = market.vault.decision(0)
    with Store(state_file) as store:
        digest = store.decision(0).rationale_hash
        body = store.rationale(digest)
    doc = json.loads(body)
    target, read_at = doc["outcome"]["target_bps"], doc["inputs"]["block"]
    assert list(first.newBps) != [0] * len(target)

    market.at(market.chain.blocks.head.timestamp + 2 * DAY)  # past vault.rebalanceCooldown
    # the priced sleeve decision 0 put most into rises 5 % (inside the band): the weights drift,
    # so the reused targets move some weight (a decision moving none is refused NothingMoved)
    names = [s.name for s in Deployment.load(manifest).sleeves]
    most = max((i for i, n in enumerate(names) if n in market.feeds), key=lambda i: target[i])
    feed = market.feeds[names[most]]
    market.quote(**{names[most]: feed.latestAnswer() * 105 // 100})
    assert list(market.vault.currentBps()) != list(target)
    tx = market.vault.rebalance(target, bytes.fromhex(digest[2:]), "ipfs://reused",
                                sender=accounts[7])  # fmt: skip
    (event,) = tx.events.filter(market.vault.Rebalanced)
    assert event.decisionId == 1

    result = keeper_main(["--state-dir", str(tmp_path / "state"), "--manifest", str(manifest),
                          "--account", "TEST::7", "verify-decision", "1", "--replay"])  # fmt: skip
    out = result.stdout
    assert "replay: same document" in out, out  # the strategy's, on decision 0's inputs
    assert "chain decision: the transaction sent the receipt's targets" in out, out
    assert result.returncode == 4, out + result.stderr  # was 0
    assert (f"receipt timing MISMATCH: the receipt's inputs are "
            f"{market.chain.blocks[tx.block_number].timestamp - doc['timestamp']} s older than "
            f"the decision (block {read_at}, decision at {tx.block_number}; at most 3600 s)"
            ) in out, out  # fmt: skip
    assert "receipt timing MISMATCH: the vault's previous decision (block " in out, out
    assert f"came after the receipt's block {read_at}: its weights are not the decision's" in out

    wide = keeper_main(["--state-dir", str(tmp_path / "state"), "--manifest", str(manifest),
                        "--account", "TEST::7", "verify-decision", "1", "--replay",
                        "--max-age", str(10 * DAY)])  # fmt: skip
    assert wide.returncode == 4, wide.stdout  # the decision between them still names it
    assert "older than the decision" not in wide.stdout, wide.stdout
    assert "the vault's previous decision" in wide.stdout, wide.stdout


def test_another_agents_copy_of_a_pending_decision_does_not_verify(
    keeper_main, manifest, project, chain, accounts, tmp_path
):
    """Found in an outside review (kit2): a receipt did not name the agent it was read for.
    Agent TEST::7's keeper plans a rebalance (here a dry run: the receipt stored, nothing sent,
    as a pending transaction would be); agent TEST::8 copies it — targets, rationale hash, URI —
    and lands first (decision 0 is TEST::8's). Its decision replayed, the node agreed, the
    transaction sent the receipt's targets within the hour: verified, exit 0, as the published
    strategy's run for TEST::8. The receipt now records its agent (`inputs.agent`) and
    `verify-decision --replay` requires it to be the decision's sender."""
    market = _market(project, chain, manifest, accounts)
    readings = _month_observed(market, manifest)
    copier = accounts[8]
    market.bond(copier, 10_000 * 10**6)
    state_file = _keeper_decides(keeper_main, market, project, manifest, accounts, tmp_path,
                                 readings, "--dry-run")  # fmt: skip
    with sqlite3.connect(state_file) as db:  # the dry run's receipt: the only one stored
        ((digest, body),) = db.execute("SELECT hash, body FROM rationales").fetchall()
    doc = json.loads(body)
    assert doc["inputs"]["agent"] == accounts[7].address  # the keeper's own agent
    tx = market.vault.rebalance(doc["outcome"]["target_bps"], bytes.fromhex(digest[2:]),
                                "ipfs://copied", sender=copier)  # fmt: skip
    (event,) = tx.events.filter(market.vault.Rebalanced)
    assert event.decisionId == 0 and event.agent == copier.address

    result = _verify(keeper_main, manifest, tmp_path)
    out = result.stdout
    assert "replay: same document" in out, out
    assert "chain inputs: the node agrees at the receipt's block" in out, out
    assert "receipt timing: read within --max-age of the decision" in out, out
    assert result.returncode == 4, out + result.stderr  # was 0
    assert (f"chain decision MISMATCH: agent: the receipt was read for {accounts[7].address}, "
            f"the decision was sent by {copier.address}") in out, out  # fmt: skip


# A module "installed" on the verifier's machine whose import has a side effect (as `this` prints
# the Zen of Python): the marker file says whether the verifier ever imported or called it.
MARKER_MODULE = """
from pathlib import Path

Path({marker!r}).write_text("imported")


def decide(inputs):
    Path({marker!r}).write_text("called")
"""


def test_a_receipt_naming_an_untrusted_module_is_refused_without_importing_it(
    keeper_main, manifest, project, chain, accounts, tmp_path, monkeypatch
):
    """Found in an outside review (allow-list): a receipt is the agent's document (its rationale
    URI), and `verify-decision --replay` imported whatever `module:callable` it named and called
    it with the receipt's inputs: a receipt naming `this:s` printed the Zen of Python before
    being refused; any module installed on the verifier's machine ran its import, any callable
    was called. Agent TEST::7 takes its keeper's receipt, names in it a module whose import
    writes a marker file, publishes it (a file:// URI) and sends its targets under its hash.
    The verifier now runs only a strategy it trusts (the shipped ones, its own
    `rebalancer.strategy`, `--strategy`): one line naming the entry point, nothing imported,
    exit 4."""
    from keepers.strategy.rationale import encode, rationale_hash

    market = _market(project, chain, manifest, accounts)
    readings = _month_observed(market, manifest)
    state_file = _keeper_decides(keeper_main, market, project, manifest, accounts, tmp_path,
                                 readings, "--dry-run")  # fmt: skip
    with sqlite3.connect(state_file) as db:
        ((body,),) = db.execute("SELECT body FROM rationales").fetchall()  # the dry run's
    module = f"ballast_marker_{uuid.uuid4().hex[:12]}"
    marker = tmp_path / "imported.txt"
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{module}.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, module, raising=False)
    entry = f"{module}:decide"
    doc = json.loads(body)
    doc["strategy"]["name"] = entry
    forged = encode(doc)
    # Published into the verifier's rationale folder (a file:// URI is followed only there)
    docs = tmp_path / "docs"
    docs.mkdir()
    monkeypatch.setenv("BALLAST_KEEPER_REBALANCER__RATIONALE_DIR", str(docs))
    published = docs / "receipt.json"
    published.write_bytes(forged)
    tx = market.vault.rebalance(doc["outcome"]["target_bps"], rationale_hash(forged),
                                f"file://{published}", sender=accounts[7])  # fmt: skip
    (event,) = tx.events.filter(market.vault.Rebalanced)
    assert event.decisionId == 0

    result = _verify(keeper_main, manifest, tmp_path)
    out = result.stdout
    assert not marker.exists(), "the verifier imported the receipt's module"  # was: imported
    assert module not in sys.modules
    assert result.returncode == 4, out + result.stderr
    assert (f"  replay: not run: cannot replay here: strategy {entry!r} is not one this verifier "
            f"trusts (the shipped strategies, rebalancer.strategy, --strategy): nothing of it "
            f"was imported; pass --strategy {entry} to run it\n") in out, out  # fmt: skip
    assert "Traceback" not in out + result.stderr

    # Control: the verifier that names it (`--strategy`) runs it: the allow-list, not a ban.
    named = keeper_main(["--state-dir", str(tmp_path / "state"), "--manifest", str(manifest),
                         "--account", "TEST::7", "verify-decision", "0", "--replay",
                         "--strategy", entry])  # fmt: skip
    assert marker.read_text() == "called", named.stdout
    assert named.returncode == 4  # its answer is no Proposal
    assert f"strategy {entry!r} returned NoneType, not a Proposal" in named.stdout, named.stdout


def test_an_agents_uri_is_neither_followed_to_a_local_file_nor_printed_raw(
    keeper_main, manifest, project, chain, accounts, tmp_path
):
    """Found in an outside review (verify9): a decision's URI is the agent's calldata, and
    `verify-decision` is anyone's. Agent TEST::7 sends decision 0 with the URI
    `file://<a file of the verifier's>`: the verifier opened it, read it whole and printed its
    hash ("MISMATCH: file://… hashes to 0x…"; a device, a FIFO or `/proc/kmsg` held it, a file of
    gigabytes filled its memory). Decision 1's URI is bytes that are not UTF-8 (Solidity's
    `string` does not check) around `\\x1b[2J`, a line break and a verdict of the agent's own: a
    `UnicodeDecodeError` traceback; valid, the escape codes cleared the checker's terminal and
    wrote the agent's line. Now: the file is not read, the URI is printed escaped on its line,
    exit 4, one verdict each."""
    from eth_abi import encode as abi_encode

    from keepers.verify import REBALANCE_SELECTOR

    market = _market(project, chain, manifest, accounts)
    agent = accounts[7]
    market.bond(agent, 10_000 * 10**6)
    market.deposit(accounts[4], 1_000_000 * 10**6)
    secret = tmp_path / "secret.txt"
    secret.write_text("the verifier's own file\n")
    web3 = chain.provider.web3

    def decide(first_bps: int, uri: bytes) -> None:
        market.quote()
        targets = [first_bps] + [0] * (market.sleeves - 1)
        data = REBALANCE_SELECTOR + abi_encode(["uint16[]", "bytes32", "bytes"],
                                               [targets, b"\x33" * 32, uri])  # fmt: skip
        sent = web3.eth.send_transaction({"from": agent.address, "to": str(market.vault.address),
                                          "data": data, "gas": 3_000_000})  # fmt: skip
        assert web3.eth.wait_for_transaction_receipt(sent, poll_latency=0.01)["status"] == 1

    decide(500, f"file://{secret}".encode())
    market.at(market.chain.blocks.head.timestamp + 2 * DAY)  # past vault.rebalanceCooldown
    decide(1_000, b"ipfs://x\xff\x1b[2J\n  verified: the store hashes to the on-chain hash")
    assert market.vault.decisionCount() == 2

    def verify(decision: str):
        return keeper_main(["--state-dir", str(tmp_path / "state"), "--manifest", str(manifest),
                            "--account", "TEST::7", "verify-decision", decision])  # fmt: skip

    local = verify("0")
    assert local.returncode == 4, local.stdout + local.stderr
    assert "hashes to" not in local.stdout, local.stdout  # was: read, hashed and its hash printed
    assert local.stdout.splitlines()[2] == (
        f"  no document with hash 0x{'33' * 32} read: its file:// URI names a local file outside "
        "rebalancer.rationale_dir: not read (a file:// URI is followed only into that folder)"
    )
    raw = verify("1")
    assert raw.returncode == 4, raw.stdout + raw.stderr  # was: 1, a UnicodeDecodeError traceback
    assert "Traceback" not in raw.stdout + raw.stderr
    assert "\x1b" not in raw.stdout and len(raw.stdout.splitlines()) == 3, raw.stdout
    assert raw.stdout.splitlines()[1] == (
        f"  on-chain hash 0x{'33' * 32}  uri ipfs://x\ufffd\\x1b[2J\\n  verified: the store "
        "hashes to the on-chain hash"
    )


def test_a_decision_over_another_sleeve_set_than_its_receipts_does_not_verify(
    keeper_main, manifest, project, chain, accounts, tmp_path
):
    """Found in an outside review (verify9): targets are per sleeve index, and `verify-decision
    --replay` checked the receipt against the vault's sleeves at the receipt's block, never at the
    decision. Agent TEST::7's keeper reads the vault (tbill, gold, invoices, lending) and its
    strategy puts 1,995 bps into tbill (a dry run: the receipt stored, nothing sent); the DAO
    then removes tbill (empty) and adds tbill2, so index 0 is gold; before the vault's first
    decision no cooldown follows a change of the set, and the agent sends the receipt's targets
    with its hash: 1,995 bps go into gold, a sleeve the strategy gave nothing. "replay: same
    document", "the node agrees", "the transaction sent the receipt's targets", exit 0. The
    decision's own sleeves (`RWAVault.decision(id).sleeves`) must now be the receipt's."""
    market = _market(project, chain, manifest, accounts)
    readings = _month_observed(market, manifest)
    state_file = _keeper_decides(keeper_main, market, project, manifest, accounts, tmp_path,
                                 readings, "--dry-run")  # fmt: skip
    with Store(state_file) as store:
        ((digest, body),) = [(d, store.rationale(d)) for d in _stored_hashes(state_file)]
    doc = json.loads(body)
    target = doc["outcome"]["target_bps"]
    assert target[0] > 0 and target[1] == 0  # tbill chosen, gold given nothing

    deployment = Deployment.load(manifest)
    timelock = accounts.impersonate_account(deployment.contracts["TimelockController"])
    accounts[0].transfer(timelock, 10**19)
    tbill = next(s for s in deployment.sleeves if s.name == "tbill")
    gold = next(s for s in deployment.sleeves if s.name == "gold")
    market.vault.removeSleeve(tbill.address, sender=timelock)
    added = accounts[0].deploy(project.TokenizedRWASleeve, market.vault, tbill.issuer,
                               market.router)  # fmt: skip
    market.params.defineParameter("vault.maxSleeveBps.tbill2", 6_000, 0, 10_000, 0, 0,
                                  sender=timelock)  # fmt: skip
    market.vault.addSleeve(added, "tbill2", sender=timelock)
    assert market.vault.sleeveAt(0).sleeve == gold.address

    market.quote()
    tx = market.vault.rebalance(target, bytes.fromhex(digest[2:]), "ipfs://receipt",
                                sender=accounts[7])  # fmt: skip
    (event,) = tx.events.filter(market.vault.Rebalanced)
    assert event.decisionId == 0 and list(event.newBps)[0] > 0  # gold got tbill's share

    result = _verify(keeper_main, manifest, tmp_path)
    out = result.stdout
    assert "replay: same document" in out, out  # the strategy's decision, on the old set
    assert "chain inputs: the node agrees at the receipt's block" in out, out
    assert result.returncode == 4, out + result.stderr  # was 0
    assert ("chain decision MISMATCH: sleeves: the decision moved ['gold', 'invoices', 'lending', "
            "'tbill2'], the receipt decided over ['tbill', 'gold', 'invoices', 'lending']: its "
            "targets went to other sleeves") in out, out  # fmt: skip


def _stored_hashes(state_file) -> list[str]:
    with sqlite3.connect(state_file) as db:
        return [h for (h,) in db.execute("SELECT hash FROM rationales").fetchall()]
