"""The evaluator, settler, sentinel and rebalancer keeper passes on anvil, against one lending
system (`lending_support`: three RWA sleeves and the lending book, 1M supplied, one borrower).

What users rely on: one evaluator pass evaluates every due decision and executes every slash
past its veto, once even with two keepers racing; a keeper killed mid-pass resumes without a
duplicate transaction; the sentinel pauses automation only with the guardian key (and only
alerts without it), remembering its streak across restarts; the settler strikes once requests
wait and every price is newer (once, even with two settlers racing), waits for prices, strikes
for redemptions after the stale maximum wait, confirms a price move the strike waits on, and
claims for the controllers that made it their operator (and only those); the rebalancer submits
a bounded rebalance whose stored rationale re-hashes to the on-chain hash; a dry run sends
nothing.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest
from eth_abi import decode

from keepers.dashboard import collect_status
from keepers.multicall import MulticallError
from keepers.outcomes import Refused
from keepers.protocol import Protocol
from keepers.reads import read_moved_sleeves, read_vault_sleeves
from keepers.shell import Keeper, confirmations, evaluator
from keepers.shell.confirmations import unlisted_feeds
from keepers.shell.reports import JobReport
from keepers.snapshot import DueDecision, EvaluationSnapshot
from keepers.store import Store
from keepers.tx import TxSender
from keepers.verify import verify_decision
from tests.keeper_support import keeper, protocol_of, race, rpc_requests, supplied_book
from tests.lending_support import MAX_UINT, key
from tests.vault_support import (
    DAY,
    USDC,
    SleeveSpec,
    add_sleeve,
    bond_agent,
    define,
    isolated,
)

NAMES = ("tbill", "gold", "invoices")
EXECUTED = 3  # IAgentRegistry.SlashStatus.Executed


# ------------------------------------------------------------------ the system


@pytest.fixture(scope="module")
def system(project, accounts, chain):
    return supplied_book(project, accounts)


@pytest.fixture(scope="module")
def protocol(system, project, accounts):
    """The system's manifest, with the vault's claim relay."""
    return protocol_of(system, relay=accounts[0].deploy(project.ClaimRelay, system.vault))


@pytest.fixture
def fresh(system, chain):
    """Each test starts from the module's system and leaves it as it found it."""
    with isolated(chain):
        yield system


def now(chain) -> int:
    return chain.blocks.head.timestamp


def refresh(lending) -> None:
    """Republishes every feed's latest answer, stamped with the next block's time."""
    for name in NAMES:
        feed = lending.feed(name)
        feed.setAnswer(feed.latestAnswer(), sender=lending.vs.governance)


def rebalance_after_cooldown(lending, chain, targets: list[int]):
    ready = lending.vault.nextRebalanceAt()
    if ready > now(chain):
        chain.pending_timestamp = ready
    refresh(lending)
    return lending.vs.rebalance(targets)


def nonce(account) -> int:
    return account.provider.get_nonce(account.address)


# ------------------------------------------------------------------ evaluator


@pytest.fixture
def due(fresh, accounts, chain):
    """Three decisions and a slash past its veto window.

    d0 (the supply, 90 % to the book) and d2 are due; d1 moved half the vault into tbill and
    gold just before both fell 20 %: evaluated at its due time it opened slash 0 against the
    allocator, whose veto window is over. The pass should evaluate d0 and d2 and execute 0."""
    lending = fresh
    agents = lending.vs.agents
    rebalance_after_cooldown(lending, chain, [3_000, 2_000, 0, 4_000])  # d1
    chain.pending_timestamp = now(chain) + 3_600
    lending.set_nav("tbill", 80_000_000)
    lending.set_nav("gold", 1_600 * 10**8)
    lending.vs.confirm_moves()  # no decision starts from, nor is judged on, an unconfirmed fall
    rebalance_after_cooldown(lending, chain, [3_000, 2_000, 1_000, 3_000])  # d2
    chain.pending_timestamp = agents.decisionRecord(1).dueAt
    refresh(lending)
    agents.evaluate(1, sender=accounts[9])
    (slash_id,) = agents.pendingSlashes()
    veto_ends = agents.slashInfo(slash_id).vetoEndsAt
    chain.pending_timestamp = veto_ends + 3_600
    refresh(lending)  # fresh evidence for d2's invoices
    assert sorted(agents.decisionsDue(10)) == [0, 2]
    return lending, slash_id


def evaluated_ids(agents, since: int) -> list[int]:
    head = agents.provider.get_block("latest").number
    return [log.decisionId for log in agents.Evaluated.range(since, head + 1)]


def executed_slashes(agents, since: int) -> list[int]:
    head = agents.provider.get_block("latest").number
    return [log.slashId for log in agents.SlashExecuted.range(since, head + 1)]


def test_one_evaluator_pass_evaluates_every_due_decision_and_executes_the_slash(
    due, protocol, accounts, chain, tmp_path
):
    lending, slash_id = due
    agents, vault = lending.vs.agents, lending.vault
    allocator = lending.vs.allocator
    slash = agents.slashInfo(slash_id)
    assert slash.amount > 0
    assets_before = vault.totalAssets()
    slashed_before = agents.agentInfo(allocator).slashed
    start = chain.blocks.head.number + 1

    k = keeper(protocol, accounts[7], tmp_path)
    report = k.run("evaluator")

    assert [(a.action_id, a.outcome) for a in report.actions] == [
        ("evaluate:0", "mined"),
        ("evaluate:2", "mined"),
        (f"executeSlash:{slash_id}", "mined"),
    ], report.summary()
    assert sorted(evaluated_ids(agents, start)) == [0, 2]
    assert executed_slashes(agents, start) == [slash_id]
    assert agents.decisionRecord(0).evaluated
    assert agents.decisionRecord(2).evaluated
    assert agents.slashInfo(slash_id).status == EXECUTED
    assert agents.agentInfo(allocator).slashed == slashed_before + slash.amount
    assert vault.totalAssets() >= assets_before + slash.amount  # donated to the depositors
    for a in report.actions:
        (tx,) = k.store.transactions(a.action_id)
        assert (tx.status, tx.tx_hash) == ("mined", a.tx_hash)
    assert k.store.last_block("evaluator") == report.block

    # a second pass finds nothing left to do
    sent = nonce(accounts[7])
    again = k.run("evaluator")
    assert again.actions == []
    assert nonce(accounts[7]) == sent
    assert sorted(evaluated_ids(agents, start)) == [0, 2]


def test_two_evaluators_racing_evaluate_each_decision_once(
    due, protocol, accounts, chain, tmp_path
):
    lending, slash_id = due
    agents = lending.vs.agents
    start = chain.blocks.head.number + 1
    keepers = [keeper(protocol, accounts[i], tmp_path / str(i)) for i in (7, 8)]
    reports = dict(enumerate(race(keepers, "evaluator", timeout=300)))

    evaluated = evaluated_ids(agents, start)
    assert sorted(evaluated) == [0, 2]  # each exactly once
    assert executed_slashes(agents, start) == [slash_id]
    actions = [a for r in reports.values() for a in r.actions]
    assert {a.outcome for a in actions} <= {"mined", "lost-race"}
    for action_id in ("evaluate:0", "evaluate:2", f"executeSlash:{slash_id}"):
        mined = [a for a in actions if a.action_id == action_id and a.outcome == "mined"]
        assert len(mined) == 1, action_id
    lost = [a for a in actions if a.outcome == "lost-race"]
    assert lost, [r.summary() for r in reports.values()]
    for k, i in zip(keepers, (0, 1), strict=True):
        lost_here = {a.action_id for a in reports[i].actions if a.outcome == "lost-race"}
        recorded = {t.action_id for t in k.store.transactions() if t.status == "lost-race"}
        assert recorded == lost_here
        for action_id in lost_here:
            assert k.store.already_done(action_id)


def move_to_a_new_registry(lending, project, accounts):
    """Governance points the test system's vault at a new AgentRegistry (built as the deploy
    builds one, beside the first); returns it."""
    first, vault = lending.vs.agents, lending.vault
    second = project.AgentRegistry.deploy(
        vault, lending.vs.registry, first.treasury(), sender=accounts[0]
    )
    vault.setAgentRegistry(second, sender=lending.vs.governance)
    return second


def test_the_evaluator_follows_the_vault_to_another_agent_registry_and_settles_the_first(
    due, protocol, project, accounts, chain, tmp_path
):
    """Governance pointed the vault at a new AgentRegistry after the deploy; the manifest (the
    keeper's `protocol`) still names the first. One pass evaluates the new registry's due
    decision and still settles the first's: its due decisions, and its slash past the veto,
    paid to the depositors. Following the manifest alone, the new registry's decisions were
    never evaluated."""
    lending, slash_id = due
    first, vault = lending.vs.agents, lending.vault
    second = move_to_a_new_registry(lending, project, accounts)
    bond_agent(dataclasses.replace(lending.vs, agents=second), lending.vs.allocator)
    rebalance_after_cooldown(lending, chain, [2_500, 2_000, 1_500, 3_000])
    decision = vault.decisionCount() - 1
    assert second.decisionRecord(decision).agent == lending.vs.allocator.address
    chain.pending_timestamp = second.decisionRecord(decision).dueAt
    refresh(lending)
    assert list(second.decisionsDue(10)) == [decision]
    assert sorted(first.decisionsDue(10)) == [0, 2]
    slash = first.slashInfo(slash_id)
    start = chain.blocks.head.number + 1

    k = keeper(protocol, accounts[7], tmp_path)
    report = k.run("evaluator")

    assert [(a.action_id, a.outcome) for a in report.actions] == [
        (f"evaluate:{second.address}:{decision}", "mined"),
        ("evaluate:0", "mined"),
        ("evaluate:2", "mined"),
        (f"executeSlash:{slash_id}", "mined"),
    ], report.summary()
    assert evaluated_ids(second, start) == [decision]
    assert sorted(evaluated_ids(first, start)) == [0, 2]
    assert executed_slashes(first, start) == [slash_id]
    assert first.agentInfo(slash.agent).slashed >= slash.amount
    assert any(f"AgentRegistry {second.address} (the vault's now)" in n for n in report.notes)
    assert k.run("evaluator").actions == []  # done in both
    assert k.agents().address == second.address  # the rebalancer and the status ask this one


def test_a_registry_only_the_vaults_logs_still_name_is_settled(
    due, protocol, project, accounts, chain, tmp_path
):
    """Governance pointed the vault at a new AgentRegistry and a redeploy wrote it into the
    manifest: neither the manifest nor the vault names the first any more, yet its due decisions
    and its slash past the veto (owed to the vault's depositors) wait there. The evaluator finds
    it in the vault's `AgentRegistrySet` logs and settles it; a pass reads no log once it has
    (the logs are read again only when the vault's registry changes), and a restarted keeper
    reads only the blocks since (its state file keeps what they named). Following the manifest
    and the vault, the first registry was never settled, and the status did not show its
    slash."""
    lending, slash_id = due
    first = lending.vs.agents
    second = move_to_a_new_registry(lending, project, accounts)
    refreshed = dataclasses.replace(protocol, agents=second)  # the redeploy's manifest
    assert sorted(first.decisionsDue(10)) == [0, 2]
    start = chain.blocks.head.number + 1

    k = keeper(refreshed, accounts[7], tmp_path)
    # the status lists the slash beside the registry it waits in (ids restart in each)
    assert [(s.slash_id, s.registry) for s in collect_status(k).slashes] == [
        (slash_id, first.address)
    ]
    report = k.run("evaluator")

    assert [(a.action_id, a.outcome) for a in report.actions] == [
        (f"evaluate:{first.address}:0", "mined"),
        (f"evaluate:{first.address}:2", "mined"),
        (f"executeSlash:{first.address}:{slash_id}", "mined"),
    ], report.summary()
    assert sorted(evaluated_ids(first, start)) == [0, 2]
    assert executed_slashes(first, start) == [slash_id]
    assert any(f"AgentRegistry {first.address} (the vault's before)" in n for n in report.notes)
    assert [r.address for r in k.registries()] == [second.address, first.address]
    with rpc_requests() as requests:
        assert k.run("evaluator").actions == []  # done
    assert requests["eth_getLogs"] == 0, requests

    # restarted on the same state file, in 4-block log ranges: only the blocks since the last
    # read are read (from the deployment it was one range per 4 blocks of the whole history)
    k.store.close()
    chain.mine(6)
    again = keeper(refreshed, accounts[7], tmp_path, liquidator={"scan_chunk": 4})
    with rpc_requests() as requests:
        assert again.run("evaluator").actions == []
    assert [r.address for r in again.registries()] == [second.address, first.address]
    history = chain.blocks.head.number - protocol.block
    assert history > 80 and 1 <= requests["eth_getLogs"] <= 6, (history, requests)


def test_a_registry_the_vault_named_without_code_on_the_node_does_not_stop_the_evaluator(
    due, protocol, project, accounts, chain, tmp_path
):
    """The vault's logs name an AgentRegistry this node holds no code for (a chain gone back
    below its deployment, on a node restarted from an older state): its reads fail and the
    pass says so in its notes; the vault's registry is still settled, and the pass does not
    fail."""
    lending, _ = due
    first = lending.vs.agents
    second = move_to_a_new_registry(lending, project, accounts)
    chain.provider.set_code(first.address, "0x")
    k = keeper(dataclasses.replace(protocol, agents=second), accounts[7], tmp_path)
    report = k.run("evaluator")
    assert report.actions == [], report.summary()
    assert any(n.startswith("read failed: openDecisions()") for n in report.notes), report.notes
    assert any(f"AgentRegistry {first.address} (the vault's before)" in n for n in report.notes)
    assert "0 open decisions" in report.notes[0]  # the vault's own, read as ever


# ------------------------------------------------------------------ restart


class Killed(BaseException):
    """The keeper process dying right after a broadcast, before it saw the receipt."""


def die(*args, **kwargs):
    """Stands in for `TxSender._wait`: the process is gone once the transaction is out."""
    raise Killed


def test_a_keeper_killed_mid_pass_resumes_without_a_duplicate(
    due, protocol, accounts, chain, tmp_path, monkeypatch
):
    lending, slash_id = due
    agents = lending.vs.agents
    who = accounts[7]
    first = keeper(protocol, who, tmp_path)
    quiet = first.run("settler")  # a finished pass of another job: its cursor
    assert first.store.last_block("settler") == quiet.block
    start = chain.blocks.head.number + 1

    with monkeypatch.context() as m:
        m.setattr(TxSender, "_wait", die)
        with pytest.raises(Killed):
            first.run("evaluator")
    # the first evaluation was broadcast but never settled, and the pass never finished
    (sent,) = first.store.in_flight(who.address)
    assert sent.action_id == "evaluate:0"
    assert first.store.last_block("evaluator") is None
    first.store.close()
    chain.provider.web3.eth.wait_for_transaction_receipt(sent.tx_hash, timeout=30)
    assert evaluated_ids(agents, start) == [0]  # it got mined while the keeper was down

    restarted = Keeper(protocol, Store(first.store.path), who, first.settings)
    assert restarted.store.last_block("settler") == quiet.block
    assert restarted.reconcile() == []
    assert restarted.store.in_flight() == []
    settled = restarted.store.transaction(sent.tx_hash)
    assert settled.status == "mined" and settled.block is not None
    assert restarted.store.already_done("evaluate:0")

    nonce_before = nonce(who)
    report = restarted.run("evaluator")
    assert [(a.action_id, a.outcome) for a in report.actions] == [
        ("evaluate:2", "mined"),
        (f"executeSlash:{slash_id}", "mined"),
    ], report.summary()
    assert nonce(who) == nonce_before + 2  # nothing sent twice
    assert sorted(evaluated_ids(agents, start)) == [0, 2]
    assert executed_slashes(agents, start) == [slash_id]
    assert restarted.store.last_block("evaluator") == report.block
    # the store alone stops a repeat of a settled action, whatever the chain says
    again = restarted.sender("evaluator").send(agents, "evaluate", 0, action_id="evaluate:0")
    assert type(again).__name__ == "AlreadyDone"
    assert nonce(who) == nonce_before + 2
    assert [t.status for t in restarted.store.transactions("evaluate:0")] == ["mined"]


# ------------------------------------------------------------------ sentinel


def alerts(report) -> set[tuple[str, str, str]]:
    return {(a.code, a.severity, a.subject) for a in report.alerts}


def sentinel_state(store) -> dict:
    return json.loads(store.job_state("sentinel"))


def restart(k: Keeper, **settings) -> Keeper:
    """The same key and state file in a new process (optionally with other settings)."""
    k.store.close()
    new_settings = k.settings.model_copy(update=settings) if settings else k.settings
    return Keeper(k.protocol, Store(k.store.path), k.account, new_settings)


def make_stale(lending, chain, name: str, age: int) -> None:
    feed = lending.feed(name)
    feed.setRound(feed.latestAnswer(), now(chain) - age, sender=lending.vs.governance)


def test_the_sentinel_with_the_guardian_key_pauses_after_trip_after_passes(
    fresh, protocol, accounts, chain, tmp_path
):
    lending = fresh
    vault = lending.vault
    guardian = lending.vs.guardian
    assert vault.hasRole(vault.GUARDIAN_ROLE(), guardian)
    make_stale(lending, chain, "tbill", 3 * DAY)  # bound 1 day: critically stale

    k = keeper(protocol, guardian, tmp_path)
    assert k.settings.sentinel.trip_after == 2
    first = k.run("sentinel")
    assert ("oracle-stale", "critical", "tbill") in alerts(first)
    assert first.actions == [] and not vault.automationPaused()
    assert sentinel_state(k.store)["critical_streak"] == 1

    k = restart(k)  # the streak survives a restart
    start = chain.blocks.head.number + 1
    second = k.run("sentinel")
    assert [(a.call, a.outcome) for a in second.actions] == [("pauseAutomation()", "mined")]
    assert vault.automationPaused()
    paused = list(vault.AutomationPaused.range(start, chain.blocks.head.number + 1))
    assert [log.by for log in paused] == [guardian.address]
    state = sentinel_state(k.store)
    assert state["tripped"] and state["critical_streak"] == 2

    sent = nonce(guardian)
    third = k.run("sentinel")  # tripped and paused: no second pause
    assert third.actions == []
    assert ("oracle-stale", "critical", "tbill") in alerts(third)
    assert nonce(guardian) == sent


def test_the_sentinel_watches_a_sleeve_its_manifest_does_not_list(
    fresh, protocol, project, chain, tmp_path
):
    """The DAO adds a sleeve whose feed then stops (3 days, the bound 1): a sentinel whose
    manifest predates the sleeve watched only the manifest's feeds and said nothing. It now
    watches the vault's sleeves the manifest does not list too (named by address)."""
    lending = fresh
    vs = lending.vs
    local = dataclasses.replace(vs, sleeves=list(vs.sleeves))  # keep the module's list intact
    extra = add_sleeve(project, local, SleeveSpec("extra", cap_bps=2_000))
    extra.feed.setRound(extra.feed.latestAnswer(), now(chain) - 3 * DAY, sender=vs.governance)
    k = keeper(protocol, vs.guardian, tmp_path)
    first = k.run("sentinel")
    assert ("oracle-stale", "critical", extra.sleeve.address) in alerts(first), first.summary()


def test_the_sentinel_reads_the_vaults_sleeves_again_only_after_a_sleeve_change(
    fresh, protocol, project, chain, tmp_path, monkeypatch
):
    """The sentinel read the vault's sleeves (`sleeveCount()` and each `sleeveAt(i)`, an eth_call
    each: five here) on every pass. It reads them once (two batches) and again only after a
    `SleeveAdded` or `SleeveRemoved` log: passes without a change make no sleeve read; the pass
    after the DAO adds a sleeve (its feed stopped 3 days ago) watches it, the pass after the DAO
    removes it no longer does."""
    lending = fresh
    vs = lending.vs
    reads: list[int] = []

    def counted(multicall, vault, block):
        reads.append(block)
        return read_vault_sleeves(multicall, vault, block)

    monkeypatch.setattr(confirmations, "read_vault_sleeves", counted, raising=False)
    k = keeper(protocol, None, tmp_path)
    calls = []
    for _ in range(3):
        chain.mine(2)
        with rpc_requests() as requests:
            report = k.run("sentinel")
        assert not [n for n in report.notes if n.startswith("read failed")], report.notes
        calls.append(requests["eth_call"])
    assert len(reads) == 1 and calls[1] == calls[2] == calls[0] - 2, (reads, calls)

    local = dataclasses.replace(vs, sleeves=list(vs.sleeves))  # keep the module's list intact
    extra = add_sleeve(project, local, SleeveSpec("extra", cap_bps=2_000))
    extra.feed.setRound(extra.feed.latestAnswer(), now(chain) - 3 * DAY, sender=vs.governance)
    added = k.run("sentinel")
    assert len(reads) == 2, reads
    assert ("oracle-stale", "critical", extra.sleeve.address) in alerts(added), added.summary()
    chain.mine(2)
    again = k.run("sentinel")
    assert len(reads) == 2 and ("oracle-stale", "critical", extra.sleeve.address) in alerts(again)

    vs.vault.removeSleeve(extra.sleeve, sender=vs.governance)
    removed = k.run("sentinel")
    assert len(reads) == 3, reads
    assert not [a for a in alerts(removed) if a[2] == extra.sleeve.address], removed.summary()


def test_a_sleeve_the_manifest_does_not_list_on_a_listed_token_is_poked_once(
    fresh, protocol, project, chain, tmp_path
):
    """The DAO adds a second sleeve on gold's issuer, so on gold's token ("gold2", as a second
    mandate under a cap of its own); the sentinel's manifest predates it. Gold moves +20 %: the
    sentinel watched gold's feed under both names (the manifest's "gold", and gold2's address
    for the vault's sleeve it does not list), alerted twice and sent two pokes of the one token
    in the pass, the second changing nothing (the move was already recorded) and paid for. A
    token is now watched and poked once, under the manifest's name."""
    lending = fresh
    vs, router = lending.vs, lending.vs.router
    gold = vs.sleeve("gold")
    gov = vs.governance
    gold2 = gov.deploy(project.TokenizedRWASleeve, vs.vault, gold.issuer, router)
    define(vs.registry, gov, "vault.maxSleeveBps.gold2", 1_000, 0, 10_000)
    vs.vault.addSleeve(gold2, "gold2", sender=gov)
    assert gold2.rwaToken() == gold.token.address
    lending.set_nav("gold", 2_400 * 10**8)  # +20 %, above oracle.maxDeviationBps (10 %)
    k = keeper(protocol, vs.guardian, tmp_path)
    first = k.run("sentinel")
    pokes = [a for a in first.actions if a.call.startswith("poke(")]
    assert [(a.call, a.outcome) for a in pokes] == [(f"poke({gold.token.address})", "mined")], (
        first.summary()
    )
    deviations = sorted(a for a in alerts(first) if a[0] == "oracle-deviation")
    assert deviations == [("oracle-deviation", "critical", "gold")], deviations
    assert router.pendingPrice(gold.token)[0] == 2_400 * 10**18


def test_a_sleeve_whose_rwa_token_view_runs_out_of_gas_is_skipped_not_a_failed_pass(
    fresh, protocol, chain, tmp_path
):
    """The settler, the evaluator and the sentinel read `rwaToken()` of the vault's sleeves the
    manifest does not list, for their feeds. A sleeve whose view runs out of gas gets an RPC
    error from the node (`EVM error OutOfGas`), not a revert: it raised out of the read, and
    failed the settler's whole pass (its strike and claims) and the evaluator's. It is skipped,
    with a warning; a sleeve without the view (the lending book) is skipped as before."""
    odd = "0x" + "0d" * 20
    chain.provider.make_request("anvil_setCode", [odd, "0x5b600056"])  # jumps back for ever
    k = keeper(protocol, fresh.vs.guardian, tmp_path)
    block = chain.blocks.head.number
    book = str(fresh.book.address)
    assert unlisted_feeds(k, [odd, book], block) == {}


def test_the_sentinel_without_the_key_only_recommends_a_pause(
    fresh, protocol, accounts, chain, tmp_path
):
    """+20% on gold: the first pass alarms and has the router record the move (pending for
    oracle.confirmDelay, the reference stays 2,000); the second recommends the pause; once the
    move has held for the delay, the tripped sentinel has it confirmed, and it is alarmed on no
    more."""
    lending = fresh
    vault, router = lending.vault, lending.vs.router
    gold = lending.token("gold")
    lending.set_nav("gold", 2_400 * 10**8)  # +20 %, above oracle.maxDeviationBps (10 %)
    who = accounts[7]
    assert not vault.hasRole(vault.GUARDIAN_ROLE(), who)
    sent = nonce(who)

    k = keeper(protocol, who, tmp_path)
    first = k.run("sentinel")
    assert ("oracle-deviation", "critical", "gold") in alerts(first)
    assert not any(a.code == "pause-recommended" for a in first.alerts)
    assert [(a.call.split("(")[0], a.outcome) for a in first.actions] == [("poke", "mined")]
    price, since = router.pendingPrice(gold)
    assert price == 2_400 * 10**18
    assert router.lastPrice(gold)[0] == 2_000 * 10**18  # the reference stays
    k = restart(k)
    second = k.run("sentinel")
    assert ("pause-recommended", "critical", "sentinel") in alerts(second)
    assert ("oracle-deviation", "critical", "gold") in alerts(second)
    assert second.actions == []  # the move is pending: nothing to poke yet
    assert sentinel_state(k.store)["tripped"]

    delay = lending.vs.registry.get(key("oracle.confirmDelay"))
    chain.pending_timestamp = since + delay
    chain.mine()  # the sentinel reads the latest block
    third = restart(k).run("sentinel")  # tripped and reported: the move is confirmed
    assert not any(a.code == "pause-recommended" for a in third.alerts)  # recommended once
    assert [(a.call.split("(")[0], a.outcome) for a in third.actions] == [("poke", "mined")]
    assert router.lastPrice(gold)[0] == 2_400 * 10**18
    fourth = restart(k).run("sentinel")
    assert not any(a.code in ("pause-recommended", "oracle-deviation") for a in fourth.alerts)
    assert fourth.actions == []
    assert not vault.automationPaused()
    assert nonce(who) == sent + 2


def set_base_fee(chain, wei: int) -> None:
    """Mines a block whose base fee is `wei` (later blocks follow EIP-1559 from there)."""
    chain.provider.web3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(wei)])
    chain.mine()


def test_the_sentinels_pause_pays_a_spiked_base_fee_up_to_the_emergency_cap(
    fresh, protocol, accounts, chain, tmp_path
):
    """Found in a keeper fault drill: the crash a sentinel answers spikes gas too, and the pause
    was priced under `tx.max_fee_cap` like any action: a base fee at three times the cap left
    the vault unpaused ("base fee ... at or above the cap"). The pause is capped by
    `tx.emergency_fee_cap` (default 10 × max_fee_cap); the key's other actions keep the cap."""
    lending = fresh
    vault = lending.vault
    make_stale(lending, chain, "tbill", 3 * DAY)
    k = keeper(protocol, lending.vs.guardian, tmp_path)
    k.run("sentinel")
    cap = k.settings.tx.max_fee_cap
    set_base_fee(chain, 3 * cap)
    tripped = k.run("sentinel")
    (pause,) = tripped.actions
    assert (pause.call, pause.outcome) == ("pauseAutomation()", "mined"), tripped.summary()
    assert vault.automationPaused()
    paid = chain.provider.web3.eth.get_transaction_receipt(pause.tx_hash)["effectiveGasPrice"]
    assert paid > cap
    gold = lending.token("gold")  # fresh: only the fee refuses its poke
    poke = k.sender("sentinel").send(protocol.router, "poke", gold, action_id="poke:gold:0")
    assert isinstance(poke, Refused) and poke.error_name == "FeeCapExceeded", poke


def test_a_pause_that_was_not_sent_is_retried(fresh, protocol, accounts, chain, tmp_path):
    """A base fee at or above the emergency cap refuses the pause: the sentinel must not count
    itself as tripped (it would never pause), and pauses at the next pass once fees allow."""
    lending = fresh
    vault = lending.vault
    make_stale(lending, chain, "tbill", 3 * DAY)
    k = keeper(protocol, lending.vs.guardian, tmp_path)
    k.run("sentinel")
    set_base_fee(chain, k.settings.tx.emergency().max_fee_cap)
    refused = k.run("sentinel")
    assert [a.outcome for a in refused.actions] == ["refused"], refused.summary()
    assert ("pause-failed", "critical", "sentinel") in alerts(refused)
    assert not vault.automationPaused()
    assert not sentinel_state(k.store)["tripped"]

    set_base_fee(chain, 10**9)
    retried = restart(k).run("sentinel")
    assert [a.outcome for a in retried.actions] == ["mined"], retried.summary()
    assert vault.automationPaused()


# ------------------------------------------------------------------ settler


@pytest.fixture
def invested(fresh, chain):
    """Half the vault moved into tbill and gold (decision 1): a strike now needs their feeds to
    publish after the newest request (the empty sleeves and the book are always fresh)."""
    rebalance_after_cooldown(fresh, chain, [3_000, 2_000, 0, 4_000])
    return fresh


def request_redeem(lending, owner, assets: int) -> int:
    """`owner` requests the redemption of shares worth about `assets`; returns the shares."""
    vault = lending.vault
    shares = vault.convertToShares(assets)
    vault.requestRedeem(shares, owner, owner, sender=owner)
    return shares


def request_deposit(lending, owner, assets: int) -> None:
    lending.vs.fund(owner, assets)
    lending.vault.requestDeposit(assets, owner, owner, sender=owner)


def strikes(vault, since: int) -> list[dict]:
    head = vault.provider.get_block("latest").number
    return [
        {"id": log.strikeId, "stale": log.staleSleeves}
        for log in vault.StrikeSettled.range(since, head + 1)
    ]


def test_the_settler_strikes_once_prices_are_newer_than_the_requests(
    invested, protocol, accounts, chain, tmp_path
):
    lending = invested
    vault = lending.vault
    leaver, joiner, who = accounts[6], accounts[2], accounts[7]
    k = keeper(protocol, who, tmp_path)
    sent = nonce(who)
    empty = k.run("settler")
    assert empty.actions == [] and empty.skipped == ["strike: no request"]

    shares = request_redeem(lending, leaver, 50_000 * USDC)
    request_deposit(lending, joiner, 100_000 * USDC)
    waiting = k.run("settler")  # tbill and gold last published before the requests
    assert waiting.actions == []
    (why,) = waiting.skipped  # the requests' window is still open
    assert why.startswith(
        "strike: no request window past a published price: the oldest request window waiting "
        "closes at "
    ), why
    assert nonce(who) == sent

    lending.vs.publish_prices()
    count = vault.strikeCount()
    start = chain.blocks.head.number + 1
    report = k.run("settler")
    assert [(a.call, a.outcome) for a in report.actions] == [("strike()", "mined")], (
        report.summary()
    )
    assert report.actions[0].action_id == f"strike:{count}@{report.block}"
    assert [s["id"] for s in strikes(vault, start)] == [count]
    assert vault.strikeCount() == count + 1
    assert vault.pendingDeposits() == 0 and vault.pendingRedeemRequest(0, leaver) == 0
    # nobody made the settler an operator: the claims stay with their controllers
    assert vault.claimableRedeemRequest(0, leaver) == vault.maxRedeem(leaver) == shares
    assert vault.claimableDepositRequest(0, joiner) == 100_000 * USDC

    again = k.run("settler")
    assert again.actions == [] and again.skipped == ["strike: no request"]
    assert nonce(who) == sent + 1


def test_the_settler_waits_for_a_stale_price_then_strikes_redemptions_after_the_max_wait(
    invested, protocol, accounts, chain, tmp_path
):
    """Deposits wait for fresh prices; a redemption is struck `vault.strikeMaxWait` after its
    request window's cut-off even though no feed published, the stale sleeves at a haircut."""
    lending = invested
    vault, registry = lending.vault, lending.vs.registry
    shares = request_redeem(lending, accounts[6], 10_000 * USDC)
    requested_at = (now(chain) // 3_600 + 1) * 3_600  # the request window's cut-off
    k = keeper(protocol, accounts[7], tmp_path)
    waiting = k.run("settler")
    assert waiting.actions == []
    wait = registry.get(key("vault.strikeMaxWait"))
    assert waiting.skipped == [
        "strike: no request window past a published price: the oldest request window waiting "
        f"closes at {requested_at}"
    ]

    chain.mine(timestamp=requested_at + wait - 2)
    not_yet = k.run("settler")
    assert not_yet.actions == []  # not yet: what it waits on, and when it leaves without it
    (why,) = not_yet.skipped
    assert why.startswith("strike: no request window past a published price: waits on tbill: ")
    assert why.endswith(
        f"before the cut-off {requested_at}; redemptions settle without it from "
        f"{requested_at + wait} (vault.strikeMaxWait), at its last price less "
        "vault.staleHaircutBps"
    ), why
    chain.mine(timestamp=requested_at + wait)
    start = chain.blocks.head.number + 1
    forced = k.run("settler")
    assert [a.outcome for a in forced.actions] == ["mined"], forced.summary()
    ((settled,),) = [strikes(vault, start)]
    assert settled["stale"] != 0  # valued at the haircut: the feeds never published
    assert vault.claimableRedeemRequest(0, accounts[6]) == shares


def test_the_dashboard_says_what_a_strike_waits_on_in_the_settlers_words(
    invested, protocol, accounts, chain, tmp_path
):
    """A redemption waits on T-bills' stopped feed: the settler's line names tbill and when the
    exit leaves without it (`strike_wait`); the status dashboard said only "no request window
    past a published price" (market9's review). Both now say it from one function."""
    lending = invested
    request_redeem(lending, accounts[6], 10_000 * USDC)
    requested_at = (now(chain) // 3_600 + 1) * 3_600  # the request window's cut-off
    wait = lending.vs.registry.get(key("vault.strikeMaxWait"))
    chain.mine(timestamp=requested_at + wait - 2)
    k = keeper(protocol, accounts[7], tmp_path)
    status = collect_status(k).settlement  # the same block as the settler's pass below
    (why,) = k.run("settler").skipped
    assert "waits on tbill: " in why and f"from {requested_at + wait} " in why, why
    assert not status.strikable
    assert status.reason == why.removeprefix("strike: ")  # shown as "not now: <reason>"


def test_the_settler_confirms_a_price_move_the_strike_waits_on_then_strikes(
    invested, protocol, accounts, chain, tmp_path
):
    """Gold falls 20% (beyond oracle.maxDeviationBps) after a deposit request: no strike settles
    on an unconfirmed move. The settler records the move with a poke, and once the move has held
    oracle.confirmDelay confirms it and strikes in the same pass: the deposit pays the NAV
    everybody is marked at, without waiting for the sentinel. The status dashboard says what
    the strike waits on meanwhile."""
    lending = invested
    vault, router, registry = lending.vault, lending.vs.router, lending.vs.registry
    gold, feed = lending.token("gold").address, lending.feed("gold")
    request_deposit(lending, accounts[2], 100_000 * USDC)
    chain.pending_timestamp = (now(chain) // 3_600 + 1) * 3_600  # the request window's cut-off
    fallen = feed.latestAnswer() * 8 // 10
    feed.setAnswer(fallen, sender=lending.vs.governance)
    refresh(lending)
    k = keeper(protocol, accounts[7], tmp_path)
    recorded = k.run("settler")
    assert [(a.call, a.outcome) for a in recorded.actions] == [(f"poke({gold})", "mined")], (
        recorded.summary()
    )
    (why,) = recorded.skipped
    assert why.startswith("strike: no request window past a published price: waits on gold: ")
    assert "its valuation is not fresh (a price stale or moved unconfirmed; published at " in why
    assert why.endswith("; deposits wait for a fresh price"), why
    price, since = router.pendingPrice(gold)
    assert price == fallen * 10**10 and since > 0  # the move is recorded, the reference stays
    assert k.run("settler").actions == []  # held for less than the delay: nothing to send
    # The status dashboard says what the strike waits on, and from when it may go on.
    delay = registry.get(key("oracle.confirmDelay"))
    assert collect_status(k).settlement.reason == (
        f"{why.removeprefix('strike: ')}; "
        f"gold moved 2000 bps from the reference, confirmable at {since + delay}"
    )

    chain.mine(timestamp=since + delay)
    start = chain.blocks.head.number + 1
    confirmed = k.run("settler")
    assert [(a.call, a.outcome) for a in confirmed.actions] == [
        (f"poke({gold})", "mined"),
        ("strike()", "mined"),
    ], confirmed.summary()
    assert router.lastPrice(gold)[0] == fallen * 10**10
    assert len(strikes(vault, start)) == 1
    assert vault.claimableDepositRequest(0, accounts[2]) == 100_000 * USDC


def test_the_settler_confirms_a_move_on_a_sleeve_its_manifest_does_not_list(
    invested, protocol, project, accounts, chain, tmp_path
):
    """The DAO adds a sleeve and an agent moves a tenth of the vault into it; this keeper's
    manifest was written before (the rebalancer refuses it, the settler did not look). The new
    sleeve's price falls 20 %, beyond the band: every strike waits on it, and the settler poked
    only the manifest's feeds, so deposits and exits waited until someone else poked. It now
    pokes the feeds of the vault's sleeves the manifest does not list as well."""
    lending = invested
    vs, vault, router = lending.vs, lending.vault, lending.vs.router
    local = dataclasses.replace(vs, sleeves=list(vs.sleeves))  # keep the module's list intact
    extra = add_sleeve(project, local, SleeveSpec("extra", cap_bps=2_000))
    chain.pending_timestamp = vault.nextRebalanceAt()
    refresh(lending)
    extra.feed.setAnswer(extra.feed.latestAnswer(), sender=vs.governance)
    weights = list(vault.currentBps())  # extra last, at 0
    vs.rebalance([weights[0] - 1_000, *weights[1:-1], 1_000])
    assert extra.sleeve.totalAssets() > 0

    request_deposit(lending, accounts[2], 100_000 * USDC)
    chain.pending_timestamp = (now(chain) // 3_600 + 1) * 3_600  # the request window's cut-off
    fallen = extra.feed.latestAnswer() * 8 // 10
    extra.feed.setAnswer(fallen, sender=vs.governance)
    refresh(lending)
    k = keeper(protocol, accounts[7], tmp_path)
    recorded = k.run("settler")
    assert [(a.call, a.outcome) for a in recorded.actions] == [
        (f"poke({extra.token.address})", "mined")
    ], recorded.summary()
    price, since = router.pendingPrice(extra.token)
    assert price == fallen * 10**10 and since > 0

    delay = vs.registry.get(key("oracle.confirmDelay"))
    chain.mine(timestamp=since + delay)
    confirmed = k.run("settler")
    assert [(a.call, a.outcome) for a in confirmed.actions] == [
        (f"poke({extra.token.address})", "mined"),
        ("strike()", "mined"),
    ], confirmed.summary()
    assert vault.claimableDepositRequest(0, accounts[2]) == 100_000 * USDC


def test_the_status_refuses_a_manifest_whose_sleeve_the_vault_replaced(
    invested, protocol, project, chain, tmp_path
):
    """The DAO removes the emptied gold sleeve and adds another: the vault has four sleeves
    again, [tbill, invoices, lending, extra]. The dashboard compared only the count with its
    manifest's [tbill, gold, invoices, lending], so it printed the vault's weights by index under
    the manifest's names and caps (gold at invoices' weight). It now refuses the manifest as the
    rebalancer does, naming the remedy."""
    lending = invested
    vs = lending.vs
    rebalance_after_cooldown(lending, chain, [3_000, 0, 1_000, 4_000])  # gold sold
    vs.vault.removeSleeve(vs.sleeve("gold").sleeve, sender=vs.governance)
    local = dataclasses.replace(vs, sleeves=list(vs.sleeves))  # keep the module's list intact
    add_sleeve(project, local, SleeveSpec("extra", cap_bps=2_000))
    assert vs.vault.sleeveCount() == len(protocol.sleeves)
    k = keeper(protocol, None, tmp_path)
    with pytest.raises(MulticallError, match="refresh the manifest"):
        collect_status(k)


def test_the_settler_claims_through_the_relay_for_the_controllers_that_made_it_their_operator(
    invested, protocol, accounts, chain, tmp_path
):
    lending = invested
    vault, asset, relay = lending.vault, lending.asset, protocol.claim_relay
    who = accounts[7]
    leaver, joiner, stranger = accounts[6], accounts[2], accounts[3]
    vault.setOperator(relay, True, sender=leaver)
    vault.setOperator(relay, True, sender=joiner)
    vault.setOperator(accounts[8], True, sender=stranger)  # a key, not the relay: not served
    shares = request_redeem(lending, leaver, 40_000 * USDC)
    request_deposit(lending, joiner, 60_000 * USDC)
    request_deposit(lending, stranger, 5_000 * USDC)
    lending.vs.publish_prices()
    shares_before, paid_before = vault.balanceOf(joiner), asset.balanceOf(leaver)

    k = keeper(protocol, who, tmp_path, settler={"controllers": [stranger.address]})
    start = chain.blocks.head.number + 1
    report = k.run("settler")
    calls = [(a.call, a.outcome) for a in report.actions]
    assert calls[0] == ("strike()", "mined"), report.summary()
    assert sorted(calls[1:]) == sorted(
        (f"claim({c.address})", "mined") for c in (leaver, joiner)
    ), report.summary()
    # the configured stranger never made the relay its operator: named, not claimed
    assert report.skipped == [f"claims of {stranger.address}: the relay is not its operator"]
    head = chain.blocks.head.number
    (minted,) = [e for e in vault.Deposit.range(start, head + 1) if e.owner == joiner.address]
    assert (minted.sender, minted.assets) == (joiner.address, 60_000 * USDC)  # ERC-7540
    assert vault.balanceOf(joiner) - shares_before == minted.shares > 0
    assert vault.maxDeposit(joiner) == 0 and vault.maxRedeem(leaver) == 0
    (paid,) = vault.Withdraw.range(start, head + 1)
    assert (paid.sender, paid.receiver, paid.owner) == (
        relay.address,
        leaver.address,
        leaver.address,
    )
    assert paid.shares == shares
    assert asset.balanceOf(leaver) - paid_before == paid.assets > 0
    assert vault.maxDeposit(stranger) == 5_000 * USDC  # left to the stranger or its operator
    # the keeper's key holds nothing and was never anyone's operator
    assert vault.balanceOf(who) == 0 and not vault.isOperator(joiner, who)

    # the joiner revokes the relay: its next settled deposit is left to it
    vault.setOperator(relay, False, sender=joiner)
    request_deposit(lending, joiner, 1_000 * USDC)
    lending.vs.publish_prices()
    sent = nonce(who)
    later = k.run("settler")
    assert [(a.call, a.outcome) for a in later.actions] == [("strike()", "mined")]
    assert vault.maxDeposit(joiner) == 1_000 * USDC
    assert nonce(who) == sent + 1


def test_a_settler_that_lost_the_claim_to_another_counts_a_lost_race(
    invested, protocol, accounts, tmp_path
):
    lending = invested
    vault, relay = lending.vault, protocol.claim_relay
    joiner = accounts[2]
    vault.setOperator(relay, True, sender=joiner)
    request_deposit(lending, joiner, 10_000 * USDC)
    lending.vs.publish_prices()
    lending.vs.strike()
    k = keeper(protocol, accounts[7], tmp_path, settler={"controllers": [joiner.address]})
    # another keeper's claim lands between this one's read and its send
    relay.claim(joiner, sender=accounts[8])
    assert vault.maxDeposit(joiner) == 0
    assert k.run("settler").actions == []  # read after the claim: nothing planned
    report = JobReport("settler", 0, 0, False)  # the claim the pass planned, sent now
    outcome = k.act(report, relay, "claim", joiner.address, action_id="claim:race")
    assert outcome.outcome == "lost-race" and "NothingToClaim" in outcome.detail, report.summary()


def test_a_refused_claim_waits_while_others_are_served_and_is_claimed_once_it_can_be(
    invested, protocol, accounts, chain, tmp_path
):
    """A joiner taken off the allowlist after its strike: its settled shares cannot reach it, so
    the relay's claim is refused. The settler does not spend its `max_claims` on it again for an
    hour (doubling to a day); the other controller is served; put back on the allowlist, the
    joiner is claimed for once its wait is over (a second read: backing off until its amounts
    changed had stopped its claims for good)."""
    lending = invested
    vault, relay, gov = lending.vault, protocol.claim_relay, accounts[0]
    joiner, leaver = accounts[2], accounts[6]
    vault.setAllowlistEnabled(True, sender=gov)
    for who in (joiner, leaver, lending.vs.agents):
        vault.setAllowed(who, True, sender=gov)
    for who in (joiner, leaver):
        vault.setOperator(relay, True, sender=who)
    request_deposit(lending, joiner, 10_000 * USDC)
    lending.vs.publish_prices()
    lending.vs.strike()
    vault.setAllowed(joiner, False, sender=gov)
    k = keeper(protocol, accounts[7], tmp_path, settler={"controllers": [joiner.address]})
    first = k.run("settler")
    assert [(a.call, a.outcome) for a in first.actions] == [(f"claim({joiner.address})", "refused")]
    request_redeem(lending, leaver, 5_000 * USDC)
    later = k.run("settler")  # within the hour: the joiner waits, the leaver's strike goes out
    assert any(m.startswith(f"claims of {joiner.address}: refused, tried again at ")
               for m in later.skipped)  # fmt: skip
    assert f"claim({joiner.address})" not in [a.call for a in later.actions]
    lending.vs.publish_prices()
    lending.vs.strike()
    served = k.run("settler")
    assert (f"claim({leaver.address})", "mined") in [(a.call, a.outcome) for a in served.actions]
    assert vault.maxMint(joiner) > 0 and vault.maxRedeem(leaver) == 0
    vault.setAllowed(joiner, True, sender=gov)
    chain.mine(timestamp=chain.blocks.head.timestamp + 86_401)  # past the longest wait
    again = k.run("settler")
    assert [(a.call, a.outcome) for a in again.actions] == [(f"claim({joiner.address})", "mined")]
    assert vault.maxMint(joiner) == 0


def test_a_claim_refused_for_the_keepers_own_reasons_is_retried(
    invested, protocol, accounts, chain, tmp_path
):
    """Found in a review of the back-off above: a claim refused by a base-fee spike (above
    `tx.max_fee_cap`) was never tried again, a settled deposit's claimable amount never
    changing. Every refusal now waits an hour (doubling to a day), then the claim is tried again."""
    lending = invested
    vault, relay, joiner = lending.vault, protocol.claim_relay, accounts[2]
    vault.setOperator(relay, True, sender=joiner)
    request_deposit(lending, joiner, 10_000 * USDC)
    lending.vs.publish_prices()
    lending.vs.strike()
    k = keeper(protocol, accounts[7], tmp_path, settler={"controllers": [joiner.address]})
    cap = k.settings.tx.max_fee_cap
    provider = chain.provider.web3.provider
    provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(10 * cap)])
    chain.mine()
    spike = k.run("settler")
    assert [a.outcome for a in spike.actions] == ["refused"], spike.summary()
    provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(10**9)])
    chain.mine(timestamp=chain.blocks.head.timestamp + 3_601)
    calm = k.run("settler")
    assert [(a.call, a.outcome) for a in calm.actions] == [(f"claim({joiner.address})", "mined")]
    assert vault.maxMint(joiner) == 0


def test_two_settlers_racing_strike_once_and_the_loser_counts_a_lost_race(
    invested, protocol, accounts, chain, tmp_path
):
    lending = invested
    vault = lending.vault
    request_redeem(lending, accounts[6], 20_000 * USDC)
    request_deposit(lending, accounts[2], 30_000 * USDC)
    lending.vs.publish_prices()
    count = vault.strikeCount()
    start = chain.blocks.head.number + 1
    keepers = [keeper(protocol, accounts[i], tmp_path / str(i)) for i in (7, 8)]
    reports = race(keepers, "settler", timeout=300)

    assert [s["id"] for s in strikes(vault, start)] == [count]  # struck exactly once
    assert vault.strikeCount() == count + 1
    actions = [a for r in reports for a in r.actions]
    assert sorted(a.outcome for a in actions) == ["lost-race", "mined"], [
        r.summary() for r in reports
    ]
    (lost,) = [a for a in actions if a.outcome == "lost-race"]
    assert lost.detail.startswith(("NothingToStrike", "StrikeNotReady")), lost.detail
    for k, r in zip(keepers, reports, strict=True):
        for a in r.actions:
            assert k.store.already_done(a.action_id)


# ------------------------------------------------------------------ rebalancer


def rebalance_call(chain, tx_hash: str) -> tuple[list[int], str, str]:
    """The (targetBps, rationaleHash, rationaleURI) a rebalance transaction sent."""
    data = bytes(chain.provider.web3.eth.get_transaction(tx_hash)["input"])
    targets, digest, uri = decode(["uint16[]", "bytes32", "string"], data[4:])
    return list(targets), "0x" + digest.hex(), uri


def turnover(current: list[int], target: list[int]) -> int:
    """½ Σ|target − current| over the sleeves and idle, rounded up (as the vault bounds it)."""
    moved = sum(abs(t - c) for t, c in zip(target, current, strict=True))
    moved += abs(sum(target) - sum(current))
    return -(-moved // 2)


@pytest.fixture
def lent_out(fresh, accounts):
    """2M more deposited (idle ~70 %), the book lent out at 2/3 utilization at a 5 % base
    rate, turnover limited to 20 %: the strategy wants idle in the book."""
    lending = fresh
    vs = lending.vs
    vs.deposit(accounts[6], 2_000_000 * USDC)
    vs.set_param("vault.maxTurnoverBps", 2_000)
    vs.set_param("lend.rate.baseBps", 500)
    lending.open_position(accounts[2], "gold", 1_000_000 * USDC, 400_000 * USDC)
    return lending


def test_a_suspended_agents_rebalancer_says_so_and_sends_nothing(fresh, protocol, tmp_path):
    vs = fresh.vs
    vs.agents.setSuspended(vs.allocator, True, sender=vs.guardian)
    report = keeper(protocol, vs.allocator, tmp_path).run("rebalancer")
    assert report.actions == []
    assert report.skipped == [
        f"rebalance: {vs.allocator.address} is not an active agent (suspended by the guardian)"
    ]


def test_the_rebalancer_submits_a_bounded_rebalance_with_a_verifiable_rationale(
    lent_out, protocol, accounts, chain, tmp_path
):
    """After the cooldown the strategy moves idle to the book, within the caps, the idle
    buffer and the turnover limit; the decision's document verifies, a tampered one does not."""
    lending = lent_out
    vs, vault, registry = lending.vs, lending.vault, lending.vs.registry

    outsider = keeper(protocol, accounts[7], tmp_path / "outsider").run("rebalancer")
    assert outsider.actions == []
    assert outsider.skipped == [f"rebalance: {accounts[7].address} is not an active agent"]

    # a manifest whose sleeves are not in the vault's order is refused, not acted on
    swapped = dataclasses.replace(protocol, sleeves=dict(reversed(protocol.sleeves.items())))
    stale = keeper(swapped, vs.allocator, tmp_path / "stale").run("rebalancer")
    assert stale.actions == []
    assert stale.skipped[0].startswith("rebalance: the manifest lists sleeves"), stale.skipped

    k = keeper(protocol, vs.allocator, tmp_path)
    early = k.run("rebalancer")
    assert early.actions == [] and early.skipped[0].startswith("rebalance: cooldown (")
    assert all(len(k.store.index_history(n)) == 1 for n in protocol.sleeves)

    chain.pending_timestamp = vault.nextRebalanceAt()
    refresh(lending)
    current = list(vault.currentBps())
    start = chain.blocks.head.number + 1
    report = k.run("rebalancer")
    (action,) = report.actions
    assert action.outcome == "mined", report.summary()
    (event,) = vault.Rebalanced.range(start, chain.blocks.head.number + 1)
    decision_id = event.decisionId
    assert event.agent == vs.allocator.address
    assert f"decision {decision_id} opened" in report.notes
    assert lending.vs.agents.decisionRecord(decision_id).agent == vs.allocator.address

    targets, digest, uri = rebalance_call(chain, action.tx_hash)
    assert action.action_id == f"rebalance:{digest}"
    caps = [registry.get(key(f"vault.maxSleeveBps.{n}")) for n in protocol.sleeves]
    assert all(t <= c for t, c in zip(targets, caps, strict=True)), (targets, caps)
    assert 10_000 - sum(targets) >= registry.get(key("vault.idleBufferBps"))
    assert 0 < turnover(current, targets) <= 2_000
    assert targets[3] > current[3]  # idle went to the book, the only sleeve that yields
    assert list(event.newBps) == list(vault.currentBps())

    record = k.store.decision(decision_id)
    assert (record.rationale_hash, record.uri, record.tx_hash) == (digest, uri, action.tx_hash)
    body = k.store.rationale(digest)
    assert json.loads(body)["outcome"]["target_bps"] == targets
    verdict = verify_decision(protocol, decision_id, k.store)
    assert verdict.ok, verdict.verdict
    assert (verdict.onchain_hash, verdict.agent) == (digest, vs.allocator.address)

    again = k.run("rebalancer")  # the cooldown started again: no second rebalance
    assert again.actions == [] and again.skipped[0].startswith("rebalance: cooldown (")

    # a tampered document no longer matches the on-chain hash
    tampered = body.replace(b'"outcome":{"act":true', b'"outcome":{"act":false', 1)
    assert tampered != body
    with sqlite3.connect(k.store.path) as db:
        db.execute("UPDATE rationales SET body = ? WHERE hash = ?", (tampered, digest))
    forged = verify_decision(protocol, decision_id, k.store)
    assert not forged.ok
    assert forged.verdict.startswith("MISMATCH"), forged.verdict


def into_the_book(inputs):
    """An operator's strategy (the agent kit's entry point): 5 % more of the NAV in the book."""
    from keepers.strategy.kit import Proposal

    target = [s.current_bps for s in inputs.sleeves]
    target[-1] += 500
    return Proposal(tuple(target), "five points more in the book")


def test_the_rebalancer_waits_while_the_books_collateral_has_no_fresh_price(
    lent_out, protocol, accounts, chain, tmp_path
):
    """The agent wants more in the book, but gold, behind 400,000 of its debt, has no fresh
    price: the book's evidence is not fresh, so the vault would refuse the decision
    (StaleValuation). The pass says it waits, and sends nothing; with the price back it acts."""
    lending = lent_out
    vault = lending.vault
    chain.pending_timestamp = vault.nextRebalanceAt()
    refresh(lending)
    feed = lending.feed("gold")
    stale_at = chain.blocks.head.timestamp - lending.vs.registry.get(key("oracle.maxStaleness")) - 1
    feed.setRound(feed.latestAnswer(), stale_at, sender=lending.vs.governance)
    assert lending.book.returnIndexStatus()[1] is False
    entry = f"{__name__}:into_the_book"
    k = keeper(protocol, lending.vs.allocator, tmp_path, rebalancer={"strategy": entry})
    waiting = k.run("rebalancer")
    assert waiting.actions == [], waiting.summary()
    assert waiting.skipped == [
        "rebalance: waits on lending: a token backing its debt has no fresh price"
    ]
    refresh(lending)
    acted = k.run("rebalancer")
    (action,) = acted.actions
    assert action.outcome == "mined", acted.summary()


def test_a_rebalancer_killed_after_sending_records_its_decision_on_restart(
    lent_out, protocol, chain, tmp_path, monkeypatch
):
    lending = lent_out
    vault = lending.vault
    allocator = lending.vs.allocator
    k = keeper(protocol, allocator, tmp_path)
    k.run("rebalancer")  # during the cooldown: a first returnIndex sample
    chain.pending_timestamp = vault.nextRebalanceAt()
    refresh(lending)
    start = chain.blocks.head.number + 1
    with monkeypatch.context() as m:
        m.setattr(TxSender, "_wait", die)
        with pytest.raises(Killed):
            k.run("rebalancer")
    (sent,) = k.store.in_flight(allocator.address)
    chain.provider.web3.eth.wait_for_transaction_receipt(sent.tx_hash, timeout=30)
    (event,) = vault.Rebalanced.range(start, chain.blocks.head.number + 1)
    assert k.store.decision(event.decisionId) is None

    restarted = restart(k)
    assert restarted.reconcile() == []
    report = restarted.run("rebalancer")
    assert report.actions == [] and report.skipped[0].startswith("rebalance: cooldown (")
    assert f"decision {event.decisionId} recorded after a restart" in report.notes
    record = restarted.store.decision(event.decisionId)
    assert (record.rationale_hash, record.uri, record.tx_hash) == (
        "0x" + bytes(event.rationaleHash).hex(),
        event.rationaleURI,
        sent.tx_hash,
    )
    assert verify_decision(protocol, event.decisionId, restarted.store).ok
    assert "recorded after a restart" not in " ".join(restarted.run("rebalancer").notes)


# ------------------------------------------------------------------ dry run


def test_a_dry_run_sends_nothing_and_reports_what_it_would_send(
    due, protocol, accounts, chain, tmp_path
):
    lending, slash_id = due
    agents = lending.vs.agents
    who = accounts[7]
    sent = nonce(who)
    head = chain.blocks.head.number

    k = keeper(protocol, who, tmp_path, dry_run=True)
    report = k.run("evaluator")
    assert report.dry_run
    assert [(a.action_id, a.outcome) for a in report.actions] == [
        ("evaluate:0", "would-send"),
        ("evaluate:2", "would-send"),
        (f"executeSlash:{slash_id}", "would-send"),
    ], report.summary()
    assert all(a.tx_hash is None for a in report.actions)
    assert nonce(who) == sent and chain.blocks.head.number == head
    assert sorted(agents.decisionsDue(10)) == [0, 2]
    assert k.store.transactions() == [] and k.store.last_block("evaluator") is None

    # without a key at all: simulated from the zero address (by the settler's deprecated name)
    shares = request_redeem(lending, accounts[6], 1_000 * USDC)
    lending.vs.publish_prices()
    assert not lending.vs.confirm_moves()  # the 20 % falls were confirmed before d2
    head = chain.blocks.head.number
    readonly = keeper(protocol, None, tmp_path).run("redeemer")
    assert readonly.job == "settler"
    assert [(a.call, a.outcome) for a in readonly.actions] == [("strike()", "would-send")]
    assert chain.blocks.head.number == head
    assert lending.vault.pendingRedeemRequest(0, accounts[6]) == shares


def test_a_trigger_read_that_failed_does_not_skip_a_due_decision(
    due, protocol, accounts, chain, tmp_path, monkeypatch
):
    """`evaluateTrigger` failing inside the batch (say, out of gas) says nothing about the
    decision: the pass evaluates it anyway and the contract re-checks."""
    lending, slash_id = due
    real = EvaluationSnapshot.read

    def failing_triggers(*args, **kwargs):
        snap = real(*args, **kwargs)
        broken = tuple(DueDecision(d.decision_id, False, b"", "out of gas") for d in snap.due)
        return dataclasses.replace(snap, due=broken)

    monkeypatch.setattr(evaluator.EvaluationSnapshot, "read", failing_triggers)
    start = chain.blocks.head.number + 1
    report = keeper(protocol, accounts[7], tmp_path).run("evaluator")
    assert [(a.action_id, a.outcome) for a in report.actions] == [
        ("evaluate:0", "mined"),
        ("evaluate:2", "mined"),
        (f"executeSlash:{slash_id}", "mined"),
    ], report.summary()
    assert sorted(evaluated_ids(lending.vs.agents, start)) == [0, 2]


def test_an_evaluation_waiting_on_an_unconfirmed_move_is_confirmed_then_evaluated(
    fresh, protocol, accounts, chain, tmp_path
):
    """d1 moved a fifth of the vault into gold; when it falls due, gold has just printed -20 %,
    beyond the band and unconfirmed. Nobody may judge d1 on that round (`StaleReturnIndex`),
    and nobody needs the sentinel or a strike for d1 to be judged: the evaluator pass records the
    move, and once it has held for oracle.confirmDelay it confirms it and evaluates d1 in the
    same pass."""
    lending = fresh
    agents, router = lending.vs.agents, lending.vs.router
    gold = lending.vs.sleeve("gold").token
    rebalance_after_cooldown(lending, chain, [3_000, 2_000, 0, 4_000])  # d1
    chain.pending_timestamp = agents.decisionRecord(1).dueAt
    refresh(lending)
    lending.set_nav("gold", 1_600 * 10**8)
    assert tuple(agents.evaluateTrigger(1)) == (False, b"stale return index")
    k = keeper(protocol, accounts[7], tmp_path)
    start = chain.blocks.head.number + 1

    first = k.run("evaluator")
    assert [(a.action_id.split(":")[:2], a.outcome) for a in first.actions] == [
        (["poke", "gold"], "mined"),  # recorded: its confirmDelay clock starts
        (["evaluate", "0"], "mined"),  # d0 (the book) waits on nothing
    ], first.summary()
    assert evaluated_ids(agents, start) == [0]
    assert router.pendingPrice(gold)[0] == 1_600 * 10**18  # pending, not the reference
    again = k.run("evaluator")  # the move is pending: nothing a poke could do yet
    assert again.actions == [], again.summary()

    delay = lending.vs.registry.get(key("oracle.confirmDelay"))
    chain.pending_timestamp = router.pendingPrice(gold)[1] + delay
    refresh(lending)  # the round held
    preview = tuple(agents.previewEvaluation(1))
    second = k.run("evaluator")
    assert [(a.action_id.split(":")[:2], a.outcome) for a in second.actions] == [
        (["poke", "gold"], "mined"),  # confirmed: the band closes
        (["evaluate", "1"], "mined"),
    ], second.summary()
    assert router.lastPrice(gold)[0] == 1_600 * 10**18
    (evaluated,) = [e for e in agents.Evaluated.range(start, chain.blocks.head.number + 1)
                    if e.decisionId == 1]  # fmt: skip
    assert evaluated.slashAmount == preview[1] > 0  # judged on the confirmed fall


def test_an_evaluation_waiting_on_a_removed_sleeves_move_is_confirmed_then_evaluated(
    fresh, protocol, accounts, chain, tmp_path
):
    """d1 moved a fifth of the vault into gold, d2 sold it all, and the DAO removed the empty
    gold sleeve; the manifest, refreshed for the rebalancer (which refuses a manifest that is not
    the vault's set), no longer lists gold. d1 is still judged on gold's return, and when it
    falls due gold has just printed -20 %, unconfirmed. The evaluator poked only the manifest's
    feeds: d1 and d2 waited for ever (their agent's bond with them) unless someone else poked.
    It now pokes the feeds of the sleeves the waiting decisions moved, as the chain names them."""
    lending = fresh
    vs, agents, router = lending.vs, lending.vs.agents, lending.vs.router
    gold = vs.sleeve("gold")
    rebalance_after_cooldown(lending, chain, [3_000, 2_000, 0, 4_000])  # d1
    rebalance_after_cooldown(lending, chain, [3_000, 0, 0, 4_000])  # d2 sells gold
    assert gold.sleeve.totalAssets() == 0
    vs.vault.removeSleeve(gold.sleeve, sender=vs.governance)
    manifest = protocol.deployment.model_copy(
        update={"sleeves": [s for s in protocol.deployment.sleeves if s.name != "gold"]}
    )
    refreshed = Protocol.from_deployment(manifest, source="the refreshed manifest")
    chain.pending_timestamp = agents.decisionRecord(1).dueAt
    refresh(lending)
    lending.set_nav("gold", 1_600 * 10**8)
    assert tuple(agents.evaluateTrigger(1)) == (False, b"stale return index")
    k = keeper(refreshed, accounts[7], tmp_path)

    first = k.run("evaluator")
    assert [(a.action_id.split(":")[:2], a.outcome) for a in first.actions] == [
        (["poke", gold.sleeve.address], "mined"),  # recorded: its confirmDelay clock starts
        (["evaluate", "0"], "mined"),
    ], first.summary()
    assert router.pendingPrice(gold.token)[0] == 1_600 * 10**18

    delay = vs.registry.get(key("oracle.confirmDelay"))
    chain.pending_timestamp = router.pendingPrice(gold.token)[1] + delay
    refresh(lending)  # the round held
    second = k.run("evaluator")
    assert [(a.action_id.split(":")[:2], a.outcome) for a in second.actions] == [
        (["poke", gold.sleeve.address], "mined"),  # confirmed: the band closes
        (["evaluate", "1"], "mined"),
    ], second.summary()
    assert router.lastPrice(gold.token)[0] == 1_600 * 10**18


def test_the_decisions_waiting_on_evidence_are_read_in_one_batch_whatever_their_number(
    fresh, protocol, chain, tmp_path, monkeypatch
):
    """While due decisions wait on stale evidence, a pass reads what each moved
    (`IRWAVault.decision`) to poke the feeds of sleeves the manifest misses: one eth_call per
    decision, up to `evaluator.max_due` (50) a pass for as long as they waited. They are one
    Multicall3 batch now: a pass with four waiting decisions makes as many eth_calls as a pass
    with one, and the batch reads the sleeves the decisions' own views name; a decision whose
    read fails is a note, not a failed pass."""
    lending = fresh
    vault = lending.vault
    rebalance_after_cooldown(lending, chain, [3_000, 2_000, 0, 4_000])  # d1: tbill, gold
    rebalance_after_cooldown(lending, chain, [3_000, 2_000, 1_000, 3_000])  # d2: invoices
    rebalance_after_cooldown(lending, chain, [3_000, 1_000, 1_000, 4_000])  # d3: gold back
    real = EvaluationSnapshot.read
    waiting: list[int] = []

    def with_waiting(*args, **kwargs):  # the reads are real; which ids wait is the test's
        return dataclasses.replace(real(*args, **kwargs), waiting=tuple(waiting))

    monkeypatch.setattr(evaluator.EvaluationSnapshot, "read", with_waiting)
    k = keeper(protocol, None, tmp_path)
    counts = []
    for ids in ([0], [0, 1, 2, 3], [0]):
        waiting[:] = ids
        with rpc_requests() as requests:
            report = k.run("evaluator")
        assert not [n for n in report.notes if n.startswith("read failed")], report.notes
        counts.append(requests["eth_call"])
    # was 3 more: one per further decision; one is the vault's AgentRegistry (`Keeper.agents`)
    assert counts[1] == counts[2] <= 6, counts

    block = chain.blocks.head.number
    moved = read_moved_sleeves(k.multicall, vault, [0, 1, 2, 3, 99], block)
    expected: list[str] = []
    for i in range(4):
        d = vault.decision(i, block_id=block)
        for sleeve, old, new in zip(d.sleeves, d.oldBps, d.newBps, strict=True):
            if old != new and str(sleeve) not in expected:
                expected.append(str(sleeve))
    assert list(moved.sleeves) == expected and len(expected) == 4
    assert list(moved.failures) == ["decision(99)"]  # no such decision: reported, not raised


def test_a_rebalance_the_vault_cannot_carry_out_is_never_sent_nor_holds_the_cooldown(
    fresh, protocol, accounts, chain, tmp_path
):
    """The book is lent out and its cap cut to 30 %: the strategy must move out of it, but the
    book has no cash to give back. Once the rest has moved, the targets would move no weight: the
    vault refuses such a decision (`NothingMoved`), so the rebalancer sends nothing, records
    nothing and the vault-wide cooldown is not restarted, every pass until the book has cash.
    (It sent them and the vault recorded a 0-bps decision restarting the cooldown for every
    agent; RETRY_AFTER only spared the second send: market9's review.)"""
    lending = fresh
    vs, vault = lending.vs, lending.vault
    borrower = accounts[2]
    lending.open_position(borrower, "tbill", 1_200_000 * USDC, 690_000 * USDC)
    vs.set_param("vault.maxSleeveBps.lending", 3_000)
    k = keeper(protocol, vs.allocator, tmp_path)

    def pass_after_cooldown():
        chain.pending_timestamp = max(vault.nextRebalanceAt(), now(chain) + 1)
        refresh(lending)
        return k.run("rebalancer")

    first = pass_after_cooldown()
    assert [a.outcome for a in first.actions] == ["mined"], first.skipped  # the rest moves
    count, ready = vault.decisionCount(), vault.nextRebalanceAt()
    for _ in range(2):  # every pass: one line, nothing sent, nothing recorded
        report = pass_after_cooldown()
        assert report.actions == [], report.actions
        (skip,) = report.skipped
        assert skip.startswith("rebalance: refused: NothingMoved: targets "), skip
        assert (vault.decisionCount(), vault.nextRebalanceAt()) == (count, ready)
    assert int(k.store.latest_decision().decision_id) == count - 1

    # the borrower repays: the book has cash, the same pass sends at once (no cooldown restarted)
    lending.fund(borrower, 800_000 * USDC)
    lending.book.repay(MAX_UINT, borrower, sender=borrower)
    report = pass_after_cooldown()
    assert [a.outcome for a in report.actions] == ["mined"], report.skipped
    assert vault.decisionCount() == count + 1


def out_of_the_book(inputs):
    """An operator's strategy: one point of the NAV from the book (the last sleeve) to the
    first, from the weights the keeper read."""
    from keepers.strategy.kit import Proposal

    target = [s.current_bps for s in inputs.sleeves]
    target[0], target[-1] = target[0] + 100, target[-1] - 100
    return Proposal(tuple(target), "one point out of the book")


def test_the_rebalancer_decides_on_the_vaults_weights_while_a_donation_is_locked(
    fresh, protocol, accounts, chain, tmp_path
):
    """A donation locks for `vault.unlockPeriod`; `totalAssets()` leaves what is locked out, the
    vault's weights (`currentBps`, `rebalance`) do not. Once a rebalance invests the donated
    cash, idle is below what is locked and Σ sleeves is above `totalAssets()`: the keeper's
    pass must still decide on the vault's weights (it used to divide by `totalAssets()` and
    raise ValueError, weights summing above 10,000 bps, at every pass of the lock)."""
    lending = fresh
    vs, vault, registry = lending.vs, lending.vault, lending.vs.registry
    vs.set_param("vault.unlockPeriod", 7 * DAY)  # as the deploy config has it
    donor = accounts[8]
    vs.fund(donor, 200_000 * USDC)
    vault.donate(200_000 * USDC, sender=donor)
    current = list(vault.currentBps())
    room = 10_000 - registry.get(key("vault.idleBufferBps")) - sum(current)
    target = [current[0] + min(room, registry.get(key("vault.maxTurnoverBps"))), *current[1:]]
    rebalance_after_cooldown(lending, chain, target)  # the donated cash into the first sleeve
    chain.pending_timestamp = vault.nextRebalanceAt()
    refresh(lending)
    locked, _ = vault.lockedDonations()
    assert vault.idle() < locked  # the state the keeper used to fail on
    weights = list(vault.currentBps())
    assert sum(weights) <= 10_000
    entry = f"{__name__}:out_of_the_book"
    k = keeper(protocol, vs.allocator, tmp_path, rebalancer={"strategy": entry})
    report = k.run("rebalancer")
    (action,) = report.actions
    assert action.outcome == "mined", report.summary()
    targets, digest, _ = rebalance_call(chain, action.tx_hash)
    assert targets == [weights[0] + 100, *weights[1:-1], weights[-1] - 100]
    inputs = json.loads(k.store.rationale(digest))["inputs"]
    assert [s["current_bps"] for s in inputs["sleeves"]] == weights
    (decision_id,) = [int(n.split()[1]) for n in report.notes if n.endswith(" opened")]
    assert verify_decision(protocol, decision_id, k.store).ok
