"""`ape run guardian`, run as the guardian (anvil's account #1, TEST::1) would, against this test
run's anvil and a system deployed from deployments/config/local.yaml.

Two slashes to veto come from one agent's two decisions: gold then T-bills bought just before
gold halves and T-bills lose 20% (`Market`, shared with the agent CLI's tests, plays the
deployer's feeds, the depositor, the agent and the keepers). A proposal to cancel goes through
the governor with the deployer's tokens. The commands run in-process (tests/scripts/inprocess.py);
the shutdown question's two answers through the real `ape run guardian` in a subprocess.
"""

from __future__ import annotations

import json

import pytest
from eth_utils import keccak

from ballast import guardian as G
from ballast.agent import when
from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from ballast.deployment import Deployment
from ballast.parameters import key_of
from ballast.params import PROPOSAL_STATES
from tests.scripts.test_agent_cli import (
    NAV,
    NETWORK,
    USDC,
    Market,
    folded_row,
    move_to_a_new_registry,
    ok,
    refused,
    row,
)

DAY = 86_400


@pytest.fixture(scope="module")
def deployment(repo_root, accounts) -> Deployment:
    config = DeployConfig.load(repo_root / "deployments/config/local.yaml")
    return deploy_system(config, accounts[0], report=lambda _: None)


@pytest.fixture(scope="module")
def guardian_manifest(deployment, tmp_path_factory):
    path = tmp_path_factory.mktemp("deploy") / "ethereum-local.json"
    deployment.save(path)
    return path


@pytest.fixture(scope="module")
def market(project, chain, deployment, accounts) -> Market:
    return Market(project, chain, deployment, accounts)


@pytest.fixture(scope="module")
def slashes(market, accounts) -> list[int]:
    """Slashes #0 and #1, both pending, #0's veto window ending a day before #1's."""
    agent = accounts[5]
    market.bond(agent, 10_000 * USDC)
    market.quote()
    market.deposit(accounts[9], 1_000_000 * USDC)
    first = market.rebalance(agent, gold=2_000)
    market.at(market.vault.nextRebalanceAt())
    market.quote()
    second = market.rebalance(agent, tbill=1_900, gold=2_000)
    market.quote(gold=NAV["gold"] // 2, tbill=NAV["tbill"] * 8 // 10)
    market.evaluate(first)
    market.evaluate(second)
    ids = list(market.registry.pendingSlashes())
    assert sorted(ids) == [0, 1]
    return [0, 1]


def guardian_runner(run, guardian_manifest):
    """`ape run guardian ARGS` as TEST::1 (the guardian) unless told otherwise; `stdin` answers
    prompts. `run(args, stdin)` takes the arguments after `ape run guardian`."""

    def guardian(*args: str, account: str | None = "TEST::1", manifest_file=None, stdin=""):
        extra = ["--account", account] if account else []
        extra += ["--manifest", str(manifest_file or guardian_manifest)]
        result = run([*args, *NETWORK, *extra], stdin)
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    return guardian


@pytest.fixture
def guardian_cli(ape_script, guardian_manifest):
    """In-process (tests/scripts/inprocess.py): the script's own click command."""
    return guardian_runner(
        lambda args, stdin: ape_script("guardian", args, input=stdin), guardian_manifest
    )


@pytest.fixture
def guardian_real(ape_real, guardian_manifest):
    """The real wrapper: `ape run guardian` in a subprocess, `stdin` piped to it (the shutdown
    question is answered on a real pipe, not click's test input)."""
    return guardian_runner(
        lambda args, stdin: ape_real(["run", "guardian", *args], input=stdin), guardian_manifest
    )


def test_status_shows_the_pending_slashes_and_deadlines(
    guardian_cli, chain, market, slashes, accounts
):
    out = ok(guardian_cli("status"))
    now = chain.blocks.head.timestamp
    me = accounts[1].address
    assert row(out, "guardian (manifest)") == me
    assert row(out, f"roles of {me}") == "vault GUARDIAN yes, GuardianVeto yes"
    assert row(out, "automation") == "running"
    assert row(out, "shut down") == "no"
    agent = accounts[5].address
    for slash_id in slashes:
        ends = market.registry.slashInfo(slash_id).vetoEndsAt
        assert row(out, f"slash #{slash_id}") == (
            f"1,000 mUSDC of agent {agent} (decision #{slash_id}), "
            f"veto window ends {when(ends, now)}"
        )
    assert row(out, "slash #1").endswith("(in 3d)")  # opened by the last block, a day after #0
    assert row(out, "queued proposals") == "none"

    document = json.loads(ok(guardian_cli("status", "--json")))
    assert document["version"] == "ballast.guardian-status/1"
    assert document["guardian"] == me and document["automation_paused"] is False
    assert [s["id"] for s in document["pending_slashes"]] == list(slashes)
    assert {s["amount"] for s in document["pending_slashes"]} == {1_000 * 10**6}  # base units
    assert document["queued_proposals"] == []


def test_veto_within_the_window_and_every_refusal(guardian_cli, market, slashes, accounts):
    registry = market.registry
    refused(guardian_cli("veto", "x"), "not a slash id: 'x'")
    refused(guardian_cli("veto", "7"), "no slash #7: the registry has opened #0 to #1")
    refused(
        guardian_cli("veto", "0", account="TEST::6"),
        f"{accounts[6].address} is not the vault's guardian: veto needs GUARDIAN_ROLE on the "
        f"vault {market.vault.address} (the manifest's guardian is {accounts[1].address})",
    )
    out = ok(guardian_cli("veto", "#0"))
    assert f"vetoed slash #0: the 1,000 mUSDC stays with agent {accounts[5].address}" in out
    assert registry.slashInfo(0).status == 2  # Vetoed
    refused(guardian_cli("veto", "0"), "slash #0 is already vetoed")

    market.at(registry.slashInfo(1).vetoEndsAt)
    refused(guardian_cli("veto", "1"), "too late to veto slash #1: its veto window closed ")
    registry.executeSlash(1, sender=market.keeper)
    refused(guardian_cli("veto", "1"), "slash #1 was already executed")
    assert row(ok(guardian_cli("status", account=None)), "pending slashes") == "none"


def test_pause_and_unpause(guardian_cli, market, accounts):
    vault = market.vault
    refused(guardian_cli("pause", account="TEST::6"), "is not the vault's guardian: pause needs")
    assert "automation paused" in ok(guardian_cli("pause"))
    assert vault.automationPaused()
    refused(guardian_cli("pause"), "automation is already paused: nothing was sent")
    assert row(ok(guardian_cli("status")), "automation") == "paused: rebalances are refused"
    assert "active agents may rebalance again" in ok(guardian_cli("unpause"))
    assert not vault.automationPaused()
    refused(guardian_cli("unpause"), "automation is not paused: nothing was sent")


def test_suspend_and_lift_an_agent_and_every_refusal(guardian_cli, market, slashes, accounts):
    registry, agent = market.registry, accounts[5].address
    refused(guardian_cli("suspend", "0x12"), "not an address: '0x12'")
    stranger = accounts[7].address
    refused(guardian_cli("suspend", stranger), f"{stranger} is not a registered agent")
    refused(
        guardian_cli("suspend", agent, account="TEST::6"),
        f"{accounts[6].address} is not the vault's guardian: suspend needs GUARDIAN_ROLE",
    )
    refused(guardian_cli("lift", agent), f"agent {agent} is not suspended: nothing was sent")
    out = ok(guardian_cli("suspend", agent.lower()))
    assert f"agent {agent} suspended: its rebalances are refused" in out
    assert registry.isSuspended(agent) and not registry.isActive(agent)
    refused(guardian_cli("suspend", agent), f"agent {agent} is suspended already")
    assert row(ok(guardian_cli("status")), "suspended agents") == agent
    document = json.loads(ok(guardian_cli("status", "--json")))
    assert document["suspended_agents"] == [agent]

    assert "suspension lifted" in ok(guardian_cli("lift", agent))
    assert not registry.isSuspended(agent)
    assert row(ok(guardian_cli("status")), "suspended agents") == "none"


def test_cancel_a_queued_proposal(guardian_cli, project, chain, deployment, accounts):
    c, holder = deployment.contracts, accounts[0]
    governor = project.BallastGovernor.at(c["BallastGovernor"])
    timelock = project.BallastTimelock.at(c["TimelockController"])
    registry = project.ParameterRegistry.at(c["ParameterRegistry"])
    project.BallastToken.at(c["BallastToken"]).invoke_transaction("delegate", holder, sender=holder)
    chain.mine(1, timestamp=chain.blocks.head.timestamp + 1)  # votes count from the next second
    targets, values = [registry.address], [0]
    calldatas = [registry.set.encode_input(key_of("vault.idleBufferBps"), 600)]
    description = "More idle liquidity"
    receipt = governor.propose(targets, values, calldatas, description, sender=holder)
    (created,) = receipt.events.filter(governor.ProposalCreated)
    pid = created.proposalId
    twin = "More idle liquidity (the same calls, voted alongside)"
    receipt = governor.propose(targets, values, calldatas, twin, sender=holder)
    (created,) = receipt.events.filter(governor.ProposalCreated)
    twin_id = created.proposalId

    refused(guardian_cli("cancel", "12345"), "no proposal 12345 on this deployment")
    refused(
        guardian_cli("cancel", str(pid)), f"proposal {pid} is Pending: it is not in the timelock"
    )
    chain.mine(1, timestamp=governor.proposalSnapshot(twin_id) + 1)
    governor.castVote(pid, 1, sender=holder)
    governor.castVote(twin_id, 1, sender=holder)
    chain.mine(1, timestamp=governor.proposalDeadline(twin_id) + 1)
    refused(
        guardian_cli("cancel", hex(pid)),
        f"proposal {pid} is Succeeded: it passed but is not queued yet",
    )
    receipt = governor.queue(targets, values, calldatas, keccak(text=description), sender=holder)
    (scheduled, *_) = receipt.events.filter(timelock.CallScheduled)
    governor.queue(targets, values, calldatas, keccak(text=twin), sender=holder)
    op = G.operation_id(targets, values, calldatas, keccak(text=description), governor.address)
    assert op == bytes(scheduled.id)  # the id GovernorTimelockControl scheduled

    refused(
        guardian_cli("cancel", str(pid), account="TEST::6"),
        f"{accounts[6].address} is not the guardian of GuardianVeto",
    )
    queued = row(ok(guardian_cli("status", account=None)), "queued proposal")
    assert queued.startswith(f"{pid}: executable from ") and "More idle liquidity" in queued
    out = ok(guardian_cli("cancel", str(pid)))
    assert f"cancelled proposal {pid} (timelock operation 0x{op.hex()}): Canceled" in out
    assert f"queued copies of the same calls, cancel each too: {twin_id}" in out
    assert PROPOSAL_STATES[governor.state(pid)] == "Canceled"
    assert not timelock.isOperation(op)
    refused(
        guardian_cli("cancel", str(pid)), f"proposal {pid} is Canceled: it is already cancelled"
    )
    out = ok(guardian_cli("cancel", str(twin_id)))  # voted before the veto: covered by it
    assert f"cancelled proposal {twin_id}" in out and "queued copies" not in out

    # The DAO passes the same calls again: the guardian's veto was spent on them.
    again = "More idle liquidity (passed again)"
    receipt = governor.propose(targets, values, calldatas, again, sender=holder)
    (created,) = receipt.events.filter(governor.ProposalCreated)
    chain.mine(1, timestamp=governor.proposalSnapshot(created.proposalId) + 1)
    governor.castVote(created.proposalId, 1, sender=holder)
    chain.mine(1, timestamp=governor.proposalDeadline(created.proposalId) + 1)
    governor.queue(targets, values, calldatas, keccak(text=again), sender=holder)
    refused(
        guardian_cli("cancel", str(created.proposalId)),
        "carries an action the guardian already vetoed once",
    )
    assert PROPOSAL_STATES[governor.state(created.proposalId)] == "Queued"


def test_shutdown_asks_first(guardian_cli, guardian_real, market, accounts):
    """The question and its answers go through the real `ape run guardian` (subprocess): a
    prompt read from a real pipe."""
    vault = market.vault
    refused(guardian_cli("shutdown", "--yes", account="TEST::6"), "is not the vault's guardian")
    result = guardian_real("shutdown", stdin="n\n")
    assert "Shut down the vault" in result.stderr and "[y/N]" in result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    # its own line: the answer read from the pipe is not echoed, so the question's line is ended
    assert "Error: shutdown not confirmed: nothing was sent (--yes skips the question)" in (
        result.stderr.splitlines()
    )
    assert not vault.isShutdown()
    out = ok(guardian_real("shutdown", stdin="y\n"))
    assert "is shut down: deposits and rebalances stopped for good" in out
    assert vault.isShutdown()
    refused(guardian_cli("shutdown", "--yes"), "the vault is already shut down: nothing was sent")
    assert row(ok(guardian_cli("status")), "shut down").startswith("yes: deposits and rebalances")


def test_a_manifest_without_what_a_command_needs(guardian_cli, guardian_manifest, tmp_path):
    refused(guardian_cli("status", manifest_file=tmp_path / "none.json"), "no deployment manifest")
    old = json.loads(guardian_manifest.read_text())
    del old["contracts"]["AgentRegistry"], old["contracts"]["BallastGovernor"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    refused(guardian_cli("veto", "0", manifest_file=path), f"{path} has no AgentRegistry")
    refused(guardian_cli("cancel", "1", manifest_file=path), f"{path} has no BallastGovernor")


def test_cancel_lists_only_the_copies_the_veto_covers(
    guardian_cli, project, chain, deployment, accounts
):
    """Found in a review: after a veto, `cancel` listed every queued proposal with the same
    calls as copies to cancel, a re-proposal voted after the veto (immune) included."""
    c, holder = deployment.contracts, accounts[0]
    governor = project.BallastGovernor.at(c["BallastGovernor"])
    registry = project.ParameterRegistry.at(c["ParameterRegistry"])
    project.BallastToken.at(c["BallastToken"]).invoke_transaction("delegate", holder, sender=holder)
    chain.mine(1, timestamp=chain.blocks.head.timestamp + 1)
    targets, values = [registry.address], [0]
    calldatas = [registry.set.encode_input(key_of("vault.idleBufferBps"), 700)]

    def passed(texts):
        ids = []
        for t in texts:
            r = governor.propose(targets, values, calldatas, t, sender=holder)
            (e,) = r.events.filter(governor.ProposalCreated)
            ids.append(e.proposalId)
        chain.mine(1, timestamp=governor.proposalSnapshot(ids[-1]) + 1)
        for i in ids:
            governor.castVote(i, 1, sender=holder)
        chain.mine(1, timestamp=governor.proposalDeadline(ids[-1]) + 1)
        for t in texts:
            governor.queue(targets, values, calldatas, keccak(text=t), sender=holder)
        return ids

    a, b = passed(["Idle at 7 % (a)", "Idle at 7 % (b)"])
    assert f"cancel each too: {b}" in ok(guardian_cli("cancel", str(a)))
    (again,) = passed(["Idle at 7 % (passed again)"])  # voted after the veto: immune
    out = ok(guardian_cli("cancel", str(b)))
    assert f"cancelled proposal {b}" in out and "cancel each too" not in out
    refused(guardian_cli("cancel", str(again)), "already vetoed once")


def test_suspend_acts_on_the_registry_the_vault_uses_now(
    guardian_cli, project, chain, market, deployment, accounts
):
    """Governance pointed the vault at another AgentRegistry after the deploy, and the manifest
    still names the first: the suspension lands where the vault checks its agents."""
    first = market.registry
    second, _ = move_to_a_new_registry(project, deployment, accounts, first)
    agent = accounts[8]
    market.fund(agent, 10_000 * USDC)
    market.asset.approve(second, 10_000 * USDC, sender=agent)
    second.register("ipfs://agent/second", sender=agent)
    second.stake(10_000 * USDC, sender=agent)

    out = ok(guardian_cli("suspend", agent.address))
    assert second.isSuspended(agent) and not first.agentInfo(agent).registered
    note = f"the vault's agents are those of the AgentRegistry {second.address}"
    assert f"{note} (the manifest names {first.address})" in " ".join(out.split())
    assert note in " ".join(row(ok(guardian_cli("status")), "AgentRegistry").split())
    assert "suspension lifted" in ok(guardian_cli("lift", agent.address))
    assert not second.isSuspended(agent)


def test_the_slashes_of_a_registry_the_vault_left_are_listed_and_vetoed_there(
    guardian_cli, project, deployment, market, slashes, accounts, tmp_path
):
    """Governance pointed the vault at a new AgentRegistry and a redeploy wrote it into the
    manifest; the first still holds pending slashes #0 and #1, which the keepers will execute
    (paid to the depositors) unless the guardian vetoes them. `status` lists them beside that
    registry; `veto` of the vault's registry says where slash #0 is; `veto --registry` vetoes it
    there and refuses any address the vault never named. The first registry was out of the
    guardian's sight before: nothing named it but the vault's logs."""
    first, vault = market.registry, market.vault
    second, manifest = move_to_a_new_registry(project, deployment, accounts, first, tmp_path)
    agent = accounts[5].address

    out = ok(guardian_cli("status", manifest_file=manifest))
    for slash_id in slashes:
        cell = folded_row(out, f"slash #{slash_id} (a registry left)")
        assert cell.startswith(f"1,000 mUSDC of agent {agent} (decision #{slash_id})"), cell
        assert cell.endswith(f"in the AgentRegistry {first.address}, which the vault left "
                             f"(veto with --registry {first.address})"), cell  # fmt: skip
    document = json.loads(ok(guardian_cli("status", "--json", manifest_file=manifest)))
    assert [(s["id"], s["registry"]) for s in document["pending_slashes"]] == [
        (slash_id, first.address) for slash_id in slashes
    ]

    refused(
        guardian_cli("veto", "0", manifest_file=manifest),
        f"no slash #0: the registry has opened no slash yet (the AgentRegistry {first.address}, "
        f"which the vault left, has a pending slash #0: add --registry {first.address}",
    )
    stranger = accounts[7].address
    refused(
        guardian_cli("veto", "0", "--registry", stranger, manifest_file=manifest),
        f"--registry: {stranger} is not an AgentRegistry of the vault {vault.address}: it uses "
        f"{second.address} and has left {first.address}",
    )
    refused(
        guardian_cli("veto", "0", "--registry", "0x12", manifest_file=manifest),
        "--registry: not an address: '0x12'",
    )
    out = ok(guardian_cli("veto", "0", "--registry", first.address.lower(), manifest_file=manifest))
    assert f"vetoed slash #0 of AgentRegistry {first.address}: the 1,000 mUSDC stays" in out
    assert first.slashInfo(0).status == 2  # Vetoed
    assert second.slashCount() == 0
    status = ok(guardian_cli("status", manifest_file=manifest))
    assert "slash #0 (a registry left)" not in status and "slash #1 (a registry left)" in status
