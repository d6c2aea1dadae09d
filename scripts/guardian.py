"""`ape run guardian`: the guardian's brakes on the vault, the agents and governance.

    ape run guardian status [--account guardian]     # paused? shut down? slashes, queued proposals
    ape run guardian pause --account guardian        # vault.pauseAutomation: rebalances stop
    ape run guardian unpause --account guardian
    ape run guardian veto 3 --account guardian       # AgentRegistry.vetoSlash (agent.vetoWindow)
    ape run guardian veto 0 --registry 0x… --account guardian  # of a registry the vault left
    ape run guardian cancel ID --account guardian    # a queued proposal, through the timelock
    ape run guardian shutdown --account guardian     # for good; asks first unless --yes

Every command takes Ape's --network option and reads deployments/<ecosystem>-<network>.json
(override with --manifest). Everything the contracts would refuse is checked first and explained
in one line; nothing is sent then.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from ape import chain, project
from ape.exceptions import ApeException
from eth_utils import keccak
from rich.table import Table

from ballast import agent as A
from ballast import chain_reads as R
from ballast import guardian as G
from ballast.cli import (
    NodeCommand,
    OneLineGroup,
    account_option,
    json_option,
    load_deployment,
    make_console,
    manifest_option,
    send_explained,
)
from ballast.deployment import manifest_to_read, parse_address
from ballast.jsonout import document
from ballast.params import PROPOSAL_STATES, InputError, parse_proposal_id

console = make_console()
CONTRACTS = {
    "RWAVault": "RWAVault",
    "AgentRegistry": "AgentRegistry",
    "BallastGovernor": "BallastGovernor",
    "TimelockController": "BallastTimelock",
    "GuardianVeto": "GuardianVeto",
}


class Guardian:
    """The contracts the guardian acts on, from one deployment's manifest."""

    def __init__(self, ecosystem, network, manifest_file: Path | None, needs: tuple[str, ...]):
        path = manifest_file or manifest_to_read(ecosystem.name, network.name)
        deployment = load_deployment(path, ("RWAVault", *needs))
        self.deployment = deployment
        try:
            found = {
                name: getattr(project, kind).at(deployment.contracts[name])
                for name, kind in CONTRACTS.items()
                if name in deployment.contracts
            }
            self.vault = found["RWAVault"]
            self.agents = found.get("AgentRegistry")
            # The vault's registry is the one whose agents may rebalance (governance may have
            # pointed the vault at another since the deploy): act on it, never on a stale one.
            self.moved_from: str | None = None  # the manifest's registry, when not the vault's
            self._left: list | None = None  # `left_registries`, once read
            live = self.vault.agentRegistry()
            if self.agents is not None and int(live, 16) != 0 and live != self.agents.address:
                self.moved_from = self.agents.address
                self.agents = project.AgentRegistry.at(live)
            self.governor = found.get("BallastGovernor")
            self.timelock = found.get("TimelockController")
            self.veto = found.get("GuardianVeto")
            asset = project.MockStablecoin.at(self.vault.asset())  # any ERC-20 speaks this ABI
            self.units = A.Units(asset.decimals(), asset.symbol())
        except ApeException as err:
            raise click.ClickException(f"{path}: {err}") from None

    def registry_note(self) -> str:
        """Where the agents' registry was taken from, when not the manifest's ('' when it is)."""
        if self.moved_from is None:
            return ""
        return (
            f"the vault's agents are those of the AgentRegistry {self.agents.address} "
            f"(the manifest names {self.moved_from})"
        )

    def hint(self) -> str:
        guardian = self.deployment.roles.get("guardian")
        return f" (the manifest's guardian is {guardian})" if guardian else ""

    def require_vault_guardian(self, account, action: str, governance_too: bool = True) -> None:
        vault = self.vault
        if vault.hasRole(vault.GUARDIAN_ROLE(), account):
            return
        if governance_too and vault.hasRole(vault.GOVERNANCE_ROLE(), account):
            return
        raise click.ClickException(
            f"{account.address} is not the vault's guardian: {action} needs GUARDIAN_ROLE on the "
            f"vault {vault.address}{self.hint()}"
        )

    def slash(self, slash_id: int, agents=None) -> A.SlashView:
        """Slash `slash_id` of `agents` (default: the vault's registry)."""
        agents = self.agents if agents is None else agents
        s = agents.slashInfo(slash_id)
        status = A.SLASH_STATUSES[s.status]
        left = None if agents.address == self.agents.address else agents.address
        return A.SlashView(slash_id, s.agent, s.amount, s.vetoEndsAt, s.decisionId, status, left)

    def pending_slashes(self) -> list[A.SlashView]:
        """The pending slashes of the vault's registry and of every one it left."""
        return [
            self.slash(i, agents)
            for agents in (self.agents, *self.left_registries())
            for i in agents.pendingSlashes()
        ]

    def left_registries(self) -> list:
        """The AgentRegistries the vault has left: those its `AgentRegistrySet` logs named
        before the one it uses now (the latest first), and the manifest's when not that one.
        Their pending slashes still pay the vault's depositors, and the guardian may still veto
        them (`veto --registry`). Read once."""
        if self._left is None:
            manifest = self.moved_from or self.agents.address
            order = R.vault_registries(self.vault, self.deployment.block, manifest)
            self._left = [project.AgentRegistry.at(a) for a in order if a != self.agents.address]
        return self._left

    def registry_at(self, text: str):
        """The AgentRegistry `--registry` names: the vault's, or one it left; anything else is
        refused in one line."""
        try:
            address = parse_address(text)
        except ValueError as err:
            raise click.ClickException(f"--registry: {err}") from None
        known = [self.agents, *self.left_registries()]
        for agents in known:
            if agents.address == address:
                return agents
        named = ", ".join(a.address for a in known[1:]) or "none"
        raise click.ClickException(
            f"--registry: {address} is not an AgentRegistry of the vault {self.vault.address}: "
            f"it uses {self.agents.address} and has left {named}"
        )

    def suspended_agents(self) -> list[str]:
        """The agents suspended now (the registry's `AgentSuspended` logs since the deployment)."""
        head = chain.blocks.head.number
        logs = self.agents.AgentSuspended.range(self.deployment.block, head + 1)
        return G.suspended_agents([(log.agent, log.suspended) for log in logs])

    def proposals(self):
        head = chain.blocks.head.number
        return list(self.governor.ProposalCreated.range(self.deployment.block, head + 1))

    def send(self, action: str, call, *args, **kwargs):
        """Send a transaction; a revert becomes one line naming the contract's error in words."""

        def explain(name: str, inputs: dict) -> str:
            return G.explain_error(name, inputs, _now(), self.units)

        return send_explained(action, explain, call, *args, **kwargs)


def _now() -> int:
    return chain.blocks.head.timestamp


@click.group(cls=OneLineGroup)
def cli():
    """The guardian: pause, veto slashes, suspend agents, cancel queued proposals, shut down."""


@cli.command(cls=NodeCommand)
@manifest_option
@account_option()
def pause(ecosystem, network, manifest_file, account):
    """Pause automation: agents' rebalances are refused; deposits and withdrawals go on."""
    guardian = Guardian(ecosystem, network, manifest_file, ())
    guardian.require_vault_guardian(account, "pause")
    vault = guardian.vault
    if vault.automationPaused():
        raise click.ClickException("automation is already paused: nothing was sent")
    guardian.send("pause", vault.pauseAutomation, sender=account)
    console.print("automation paused: rebalances are refused until `ape run guardian unpause`")
    console.print("deposits, withdrawals and the redemption queue go on")


@cli.command(cls=NodeCommand)
@manifest_option
@account_option()
def unpause(ecosystem, network, manifest_file, account):
    """Let active agents rebalance again."""
    guardian = Guardian(ecosystem, network, manifest_file, ())
    guardian.require_vault_guardian(account, "unpause")
    vault = guardian.vault
    if not vault.automationPaused():
        raise click.ClickException("automation is not paused: nothing was sent")
    guardian.send("unpause", vault.unpauseAutomation, sender=account)
    if vault.isShutdown():
        console.print("automation unpaused, but the vault is shut down: no rebalance ever again")
    else:
        console.print("automation unpaused: active agents may rebalance again")


@cli.command(cls=NodeCommand)
@manifest_option
@account_option()
@click.option(
    "--registry",
    "registry",
    metavar="ADDRESS",
    help="an AgentRegistry the vault has left, whose slash ID this is (`status` names it; "
    "slash ids count from 0 in each registry); default: the vault's",
)
@click.argument("slash_id", metavar="ID")
def veto(ecosystem, network, manifest_file, account, registry, slash_id):
    """Veto pending slash ID before its veto window (agent.vetoWindow) ends."""
    guardian = Guardian(ecosystem, network, manifest_file, ("AgentRegistry",))
    try:
        sid = G.parse_slash_id(slash_id)
    except G.InputError as err:
        raise click.ClickException(str(err)) from None
    agents = guardian.agents if registry is None else guardian.registry_at(registry)
    count = agents.slashCount()
    slash = guardian.slash(sid, agents) if sid < count else None
    refusal = G.veto_refusal(sid, count, slash, chain.pending_timestamp)
    if refusal:
        if registry is None:
            refusal += _left_hint(guardian, sid)
        raise click.ClickException(refusal)
    # The registry asks the vault: its GUARDIAN role vetoes (governance does not).
    guardian.require_vault_guardian(account, "veto", governance_too=False)
    guardian.send("veto", agents.vetoSlash, sid, sender=account)
    if registry is None and (note := guardian.registry_note()):
        console.print(note)
    where = "" if slash.registry is None else f" of AgentRegistry {slash.registry}"
    console.print(
        f"vetoed slash #{sid}{where}: the {guardian.units(slash.amount)} stays with agent "
        f"{slash.agent} (decision #{slash.decision_id})"
    )


def _left_hint(guardian: Guardian, slash_id: int) -> str:
    """When a registry the vault left has slash `slash_id` pending: how to veto that one."""
    for agents in guardian.left_registries():
        if slash_id in agents.pendingSlashes():
            return (
                f" (the AgentRegistry {agents.address}, which the vault left, has a pending "
                f"slash #{slash_id}: add --registry {agents.address} to veto that one)"
            )
    return ""


@cli.command(cls=NodeCommand)
@manifest_option
@account_option()
@click.argument("proposal_id", metavar="ID")
def cancel(ecosystem, network, manifest_file, account, proposal_id):
    """Cancel queued governance proposal ID (the governor's id) in the timelock, through
    GuardianVeto: once per action (the same calls proposed again cannot be cancelled)."""
    guardian = Guardian(
        ecosystem, network, manifest_file, ("BallastGovernor", "TimelockController", "GuardianVeto")
    )
    try:
        pid = parse_proposal_id(proposal_id)
    except InputError as err:
        raise click.ClickException(str(err)) from None
    governor, timelock = guardian.governor, guardian.timelock
    proposals = guardian.proposals()
    event = next((e for e in proposals if e.proposalId == pid), None)
    if event is None:
        raise click.ClickException(f"no proposal {pid} on this deployment")
    state = PROPOSAL_STATES[governor.state(pid)]
    if refusal := G.cancel_refusal(pid, state):
        raise click.ClickException(refusal)
    op = G.operation_id(
        event.targets,
        event.values,
        event.calldatas,
        keccak(text=event.description),
        governor.address,
    )
    if not timelock.isOperationPending(op):
        raise click.ClickException(
            f"proposal {pid} is Queued, but the timelock {timelock.address} has no pending "
            f"operation 0x{op.hex()} for it: was it queued through another timelock?"
        )
    veto = guardian.veto
    if veto.guardian() != account.address:
        raise click.ClickException(
            f"{account.address} is not the guardian of GuardianVeto {veto.address}, through "
            f"which cancelling goes{guardian.hint()}"
        )
    salt = G.timelock_salt(governor.address, keccak(text=event.description))
    if not veto.covered(event.targets, event.values, event.calldatas, salt):
        raise click.ClickException(
            f"proposal {pid} carries an action the guardian already vetoed once: the DAO passed "
            "it again after the veto, and a second veto is not possible (GuardianVeto)"
        )
    guardian.send(
        "cancel", veto.cancel, event.targets, event.values, event.calldatas, G.ZERO32, salt,
        sender=account,
    )  # fmt: skip
    now_state = PROPOSAL_STATES[governor.state(pid)]
    console.print(f"cancelled proposal {pid} (timelock operation 0x{op.hex()}): {now_state}")
    console.print(f"it will never execute: {event.description}")
    calls = (list(event.targets), list(event.values), list(event.calldatas))
    copies = [  # the same calls (so the same action), queued, and voted before this veto
        e.proposalId
        for e in proposals
        if e.proposalId != pid
        and (list(e.targets), list(e.values), list(e.calldatas)) == calls
        and PROPOSAL_STATES[governor.state(e.proposalId)] == "Queued"
        and veto.covered(
            e.targets,
            e.values,
            e.calldatas,
            G.timelock_salt(governor.address, keccak(text=e.description)),
        )
    ]
    if copies:
        ids = ", ".join(str(c) for c in copies)
        console.print(f"queued copies of the same calls, cancel each too: {ids}")
    console.print(
        "the same calls, passed again after this veto, cannot be cancelled a second time "
        "(copies voted before it can)"
    )


def _suspension(ecosystem, network, manifest_file, account, agent: str, suspend: bool) -> None:
    """Sends `setSuspended(agent, suspend)` after checking what would make it revert."""
    guardian = Guardian(ecosystem, network, manifest_file, ("AgentRegistry",))
    try:
        address = parse_address(agent)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    agents = guardian.agents
    if not agents.agentInfo(address).registered:
        raise click.ClickException(f"{address} is not a registered agent: nothing was sent")
    if bool(agents.isSuspended(address)) == suspend:
        state = "suspended already" if suspend else "not suspended"
        raise click.ClickException(f"agent {address} is {state}: nothing was sent")
    guardian.require_vault_guardian(account, "suspend" if suspend else "lift")
    guardian.send("suspend" if suspend else "lift", agents.setSuspended, address, suspend,
                  sender=account)  # fmt: skip
    if note := guardian.registry_note():
        console.print(note)
    if suspend:
        console.print(
            f"agent {address} suspended: its rebalances are refused until "
            "`ape run guardian lift`; its open decisions are still evaluated"
        )
    else:
        console.print(f"agent {address}: suspension lifted (active again if its bond allows)")


@cli.command(cls=NodeCommand)
@manifest_option
@account_option()
@click.argument("agent", metavar="AGENT")
def suspend(ecosystem, network, manifest_file, account, agent):
    """Suspend agent AGENT: its rebalances are refused (the others' go on) until lifted."""
    _suspension(ecosystem, network, manifest_file, account, agent, True)


@cli.command(cls=NodeCommand)
@manifest_option
@account_option()
@click.argument("agent", metavar="AGENT")
def lift(ecosystem, network, manifest_file, account, agent):
    """Lift agent AGENT's suspension (`suspend`)."""
    _suspension(ecosystem, network, manifest_file, account, agent, False)


@cli.command(cls=NodeCommand)
@manifest_option
@account_option()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def shutdown(ecosystem, network, manifest_file, account, yes):
    """Shut the vault down for good: no deposits, no rebalances; withdrawals go on."""
    guardian = Guardian(ecosystem, network, manifest_file, ())
    guardian.require_vault_guardian(account, "shutdown")
    vault = guardian.vault
    if vault.isShutdown():
        raise click.ClickException("the vault is already shut down: nothing was sent")
    if not yes:
        question = (
            f"Shut down the vault {vault.address} for good? Deposits and rebalances stop and "
            "cannot be restarted; withdrawals go on"
        )
        try:
            confirmed = click.confirm(question, default=False, err=True)
        except click.Abort:
            confirmed = False
        if not confirmed:
            if not sys.stdin.isatty():  # an answer read from a pipe is not echoed: end the line
                click.echo(err=True)
            raise click.ClickException(
                "shutdown not confirmed: nothing was sent (--yes skips the question)"
            )
    guardian.send("shutdown", vault.shutdown, sender=account)
    console.print(
        f"the vault {vault.address} is shut down: deposits and rebalances stopped for good"
    )
    console.print("withdrawals go on; anyone may now unwind(sleeve, assets) capital back to idle")


@cli.command(cls=NodeCommand)
@manifest_option
@account_option(prompt=False)
@json_option
def status(ecosystem, network, manifest_file, account, as_json):
    """Paused? Shut down? Pending slashes with their veto deadlines; queued proposals."""
    guardian = Guardian(ecosystem, network, manifest_file, ())
    vault, now = guardian.vault, _now()
    table = Table(title=f"Guardian of the vault {vault.address}", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("guardian (manifest)", guardian.deployment.roles.get("guardian", "-"))
    if account is not None:
        roles = [("vault GUARDIAN", vault.hasRole(vault.GUARDIAN_ROLE(), account))]
        if guardian.veto is not None:
            roles.append(("GuardianVeto", guardian.veto.guardian() == account.address))
        held = ", ".join(f"{name} {'yes' if has else 'no'}" for name, has in roles)
        table.add_row(f"roles of {account.address}", held)
    paused, shutdown = vault.automationPaused(), vault.isShutdown()
    table.add_section()
    for label, value in G.vault_rows(paused, shutdown):
        table.add_row(label, value)
    slashes = guardian.pending_slashes() if guardian.agents is not None else []
    suspended = guardian.suspended_agents() if guardian.agents is not None else []
    if guardian.agents is not None:
        table.add_section()
        for label, value in G.slash_rows(slashes, now, guardian.units):
            table.add_row(label, value)
        table.add_row("suspended agents", ", ".join(suspended) or "none")
        if guardian.moved_from is not None:
            table.add_row("AgentRegistry", guardian.registry_note())
    queued = []
    if guardian.governor is not None:
        table.add_section()
        queued = [
            (e, guardian.governor.proposalEta(e.proposalId)) for e in guardian.proposals()
            if PROPOSAL_STATES[guardian.governor.state(e.proposalId)] == "Queued"
        ]  # fmt: skip
        for e, eta in queued:
            table.add_row(
                "queued proposal",
                f"{e.proposalId}: executable from {A.when(eta, now)}: {e.description}",
            )
        if not queued:
            table.add_row("queued proposals", "none")
    if as_json:
        click.echo(document(
            "ballast.guardian-status/1", vault=vault.address, chain_time=now,
            guardian=guardian.deployment.roles.get("guardian"), automation_paused=paused,
            shutdown=shutdown, pending_slashes=slashes, suspended_agents=suspended,
            queued_proposals=[
                {"id": e.proposalId, "eta": eta, "description": e.description} for e, eta in queued
            ],
        ))  # fmt: skip
        return
    console.print(table)
    console.print(f"chain time {A.show_time(now)}")
