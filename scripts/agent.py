"""`ape run agent`: a strategy agent operator bonds stake in the AgentRegistry.

    ape run agent register ipfs://my-agent-card --account me
    ape run agent stake 10000 --account me          # approves the registry first if needed
    ape run agent status [ADDRESS] [--account me]
    ape run agent update-metadata ipfs://v2 --account me
    ape run agent unbond 2500 --account me          # withdrawable after agent.unbondingPeriod
    ape run agent withdraw --account me              # once nothing awaits evaluation or a slash
    ape run agent claim --account me                 # rewards, in vault shares

Amounts are whole units of the vault's asset (e.g. 10000 or 12.5). Every command takes Ape's
--network option and reads deployments/<ecosystem>-<network>.json (override with --manifest);
it acts on the manifest's AgentRegistry, or with --registry ADDRESS on another one the vault has
used (one governance moved the vault away from, where what was bonded is unbonded and withdrawn).
Everything the registry would refuse is checked first and explained in one line; nothing is
sent then.
"""

from __future__ import annotations

from pathlib import Path

import click
from ape import chain, project
from ape.exceptions import ApeException
from rich.table import Table

from ballast import agent as A
from ballast import chain_reads as R
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
from ballast.parameters import format_duration, key_of

console = make_console()
registry_option = click.option(
    "--registry",
    "registry",
    metavar="ADDRESS",
    help="an AgentRegistry the vault has used (one it left: unbond, withdraw, claim what was "
    "bonded there); default: the manifest's",
)
# `stake -5` reaches the amount parser (and is refused in words): NodeCommand reads a negative
# number as an argument, and still refuses a mistyped option (`--acount`).
AMOUNT_COMMAND = {"cls": NodeCommand}


class Agents:
    """The AgentRegistry of one deployment, its asset and its parameters."""

    def __init__(self, ecosystem, network, manifest_file: Path | None, registry: str | None = None):
        path = manifest_file or manifest_to_read(ecosystem.name, network.name)
        deployment = load_deployment(path, ("AgentRegistry", "ParameterRegistry"))
        try:
            self.registry = project.AgentRegistry.at(deployment.contracts["AgentRegistry"])
            self.params_registry = project.ParameterRegistry.at(
                deployment.contracts["ParameterRegistry"]
            )
            # Any ERC-20 speaks this ABI; only `faucet` is the local mock's own.
            self.asset = project.MockStablecoin.at(self.registry.asset())
            self.vault = project.RWAVault.at(self.registry.vault())
            live = str(self.vault.agentRegistry())
            self._live, self._origin = live, deployment.block  # `registries_of_the_vault`
            self._manifest = str(self.registry.address)
            self._known: list[str] | None = None  # `registries_of_the_vault`, once read
            if registry is not None:
                self.registry = self._registry_of_the_vault(registry)
        except ApeException as err:
            raise click.ClickException(f"{path}: {err}") from None
        here = str(self.registry.address)
        if int(live, 16) != 0 and live.lower() != here.lower():
            # Governance pointed the vault at another registry since this manifest was written
            # (or --registry named one it left): stake here no longer makes an agent active (the
            # vault asks the other one), though it is still the place to unbond and withdraw what
            # was bonded here.
            which = "the manifest's" if registry is None else "the one the vault left"
            tip = (
                "`ape run deploy` again records the vault's in the manifest"
                if registry is None
                else "drop --registry to act on the vault's"
            )
            click.echo(
                f"note: the vault's agents are those of the AgentRegistry {live}; this acts on "
                f"{which}, {here} ({tip})",
                err=True,
            )
        self.units = A.Units(self.asset.decimals(), self.asset.symbol())
        self.share_units = A.Units(self.vault.decimals(), self.vault.symbol())
        self.network = network

    def registries_of_the_vault(self) -> list[str]:
        """Every AgentRegistry of the vault, each once: its own now, those its
        `AgentRegistrySet` logs named since the deployment (the latest first), the manifest's
        (`A.settling_order`). Read once."""
        if self._known is None:
            self._known = R.vault_registries(self.vault, self._origin, self._manifest)
        return self._known

    def _registry_of_the_vault(self, text: str):
        """The AgentRegistry `--registry` names: one of `registries_of_the_vault` (one it left
        is where an operator still unbonds, withdraws and claims what was bonded there).
        Anything else is refused in one line: stake bonded in a registry of no vault of this
        deployment would be stake no evaluation covers."""
        try:
            address = parse_address(text)
        except ValueError as err:
            raise click.ClickException(f"--registry: {err}") from None
        known = self.registries_of_the_vault()
        if address not in known:
            raise click.ClickException(
                f"--registry: {address} is not an AgentRegistry of the vault {self.vault.address}: "
                f"it has named {', '.join(known)}"
            )
        return project.AgentRegistry.at(address)

    def held_elsewhere(self, address: str) -> list[A.HeldElsewhere]:
        """What `address` still holds in the vault's other AgentRegistries (bonded, unbonding,
        rewards), those it holds nothing in left out: stake a registry swap left behind, which
        only `--registry` reaches once the manifest names the new one."""
        here = str(self.registry.address)
        found = []
        for other in self.registries_of_the_vault():
            if other == here:
                continue
            registry = project.AgentRegistry.at(other)
            info = registry.agentInfo(address)
            rewards = registry.claimableRewards(address)
            if info.stake or info.unbonding or rewards:
                vaults = other == self._live
                found.append(A.HeldElsewhere(other, vaults, info.stake, info.unbonding, rewards))
        return found

    def param(self, name: str) -> int:
        return self.params_registry.get(key_of(name))

    def params(self) -> A.AgentParams:
        return A.AgentParams(*(self.param(name) for name in A.PARAMETERS))

    def view(self, address: str) -> A.AgentView:
        info = self.registry.agentInfo(address)
        return A.AgentView(
            address=address,
            registered=info.registered,
            metadata_uri=info.metadataURI,
            stake=info.stake,
            unbonding=info.unbonding,
            unbond_ready_at=info.unbondReadyAt,
            bonded_since=info.bondedSince,
            active=self.registry.isActive(address),
            active_from=self.registry.activeFrom(address),
            open_decisions=info.openDecisions,
            pending_slashes=info.pendingSlashes,
            reputation=info.reputation,
            slashed=info.slashed,
            slash_pending=info.slashPending,
            suspended=info.suspended,
        )

    def decisions(self, agent: A.AgentView) -> list[A.DecisionView]:
        """The agent's decisions awaiting evaluation, the earliest due first."""
        if not agent.open_decisions:
            return []
        ids = list(self.registry.openDecisions())  # every agent's: one batched read of them
        records = R.read([R.Call(self.registry.decisionRecord, i) for i in ids])
        found = [
            A.DecisionView(i, record.agent, record.dueAt)
            for i, record in zip(ids, records, strict=True)
            if record.agent == agent.address
        ]
        return sorted(found, key=lambda d: (d.due_at, d.id))

    def slashes(self, agent: A.AgentView) -> list[A.SlashView]:
        """The agent's pending slashes, the earliest veto deadline first."""
        if not agent.pending_slashes:
            return []
        ids = list(self.registry.pendingSlashes())  # every agent's: one batched read of them
        infos = R.read([R.Call(self.registry.slashInfo, i) for i in ids])
        found = [
            A.SlashView(i, s.agent, s.amount, s.vetoEndsAt, s.decisionId)
            for i, s in zip(ids, infos, strict=True)
            if s.agent == agent.address
        ]
        return sorted(found, key=lambda s: (s.veto_ends_at, s.id))

    def rewards(self, address: str) -> str:
        shares = self.registry.claimableRewards(address)
        assets = self.vault.convertToAssets(shares) if shares else 0
        return A.rewards_text(shares, assets, self.share_units, self.units)

    def registered(self, account) -> A.AgentView:
        agent = self.view(account.address)
        if not agent.registered:
            raise click.ClickException(
                f"{account.address} is not registered: run `ape run agent register URI` first"
            )
        return agent

    def amount(self, text: str) -> int:
        try:
            return A.parse_amount(text, self.units.decimals, self.units.symbol)
        except A.InputError as err:
            raise click.ClickException(str(err)) from None

    def faucet_hint(self) -> str:
        """On local networks: where test funds come from (the mock's faucet), if it has one."""
        if self.network.name != "local":
            return ""
        try:
            limit = self.asset.FAUCET_LIMIT()
        except (ApeException, ValueError):
            return ""
        return (
            f"; on this local network the mock {self.units.symbol}'s faucet(to, amount) mints up "
            f"to {self.units(limit)} a call"
        )

    def send(self, action: str, call, *args, **kwargs):
        """Send a transaction; a revert becomes one line naming the contract's error in words."""

        def explain(name: str, inputs: dict) -> str:
            return A.explain_error(name, inputs, _now(), self.units)

        return send_explained(action, explain, call, *args, **kwargs)


def _now() -> int:
    return chain.blocks.head.timestamp


def _metadata_uri(uri: str) -> str:
    try:
        return A.check_metadata_uri(uri)
    except A.InputError as err:
        raise click.ClickException(str(err)) from None


@click.group(cls=OneLineGroup)
def cli():
    """Bond stake in the AgentRegistry as a strategy agent."""


@cli.command(cls=NodeCommand)
@manifest_option
@registry_option
@account_option()
@click.argument("uri")
def register(ecosystem, network, manifest_file, registry, account, uri):
    """Register the account as a strategy agent with a metadata URI (its agent card)."""
    uri = _metadata_uri(uri)
    agents = Agents(ecosystem, network, manifest_file, registry)
    if agents.view(account.address).registered:
        raise click.ClickException(
            f"{account.address} is already registered (use `update-metadata` to change its URI)"
        )
    agents.send("register", agents.registry.register, uri, sender=account)
    params = agents.params()
    console.print(f"registered {account.address} with metadata {uri}")
    console.print(
        f"next: stake at least {agents.units(params.min_stake)} (agent.minStake); the agent is "
        f"active {format_duration(params.activation_delay)} (agent.activationDelay) after that"
    )


@cli.command("update-metadata", cls=NodeCommand)
@manifest_option
@registry_option
@account_option()
@click.argument("uri")
def update_metadata(ecosystem, network, manifest_file, registry, account, uri):
    """Replace the agent's metadata URI."""
    uri = _metadata_uri(uri)
    agents = Agents(ecosystem, network, manifest_file, registry)
    old = agents.registered(account).metadata_uri
    agents.send("update-metadata", agents.registry.updateMetadata, uri, sender=account)
    console.print(f"metadata of {account.address}: {old or '-'} → {uri}")


@cli.command(**AMOUNT_COMMAND)
@manifest_option
@registry_option
@account_option()
@click.argument("amount")
def stake(ecosystem, network, manifest_file, registry, account, amount):
    """Bond AMOUNT (whole units of the vault's asset); approves the registry first if needed."""
    agents = Agents(ecosystem, network, manifest_file, registry)
    value = agents.amount(amount)
    agents.registered(account)
    units = agents.units
    balance = agents.asset.balanceOf(account)
    if balance < value:
        raise click.ClickException(
            f"insufficient balance: {account.address} holds {units(balance)}; staking "
            f"{units(value)} needs {units(value - balance)} more (fund the account first"
            f"{agents.faucet_hint()})"
        )
    allowance = agents.asset.allowance(account, agents.registry)
    if allowance < value:
        agents.send("approve", agents.asset.approve, agents.registry, value, sender=account)
        console.print(f"approved the AgentRegistry to take {units(value)}")
    receipt = agents.send("stake", agents.registry.stake, value, sender=account)
    now = chain.blocks[receipt.block_number].timestamp
    agent, params = agents.view(account.address), agents.params()
    console.print(f"staked {units(value)}; bonded stake {units(agent.stake)}")
    console.print(f"active: {A.activation(agent, params, now, units)}")


@cli.command(**AMOUNT_COMMAND)
@manifest_option
@registry_option
@account_option()
@click.argument("amount")
def unbond(ecosystem, network, manifest_file, registry, account, amount):
    """Start unbonding AMOUNT of the bonded stake (withdraw it after agent.unbondingPeriod)."""
    agents = Agents(ecosystem, network, manifest_file, registry)
    value = agents.amount(amount)
    before = agents.registered(account)
    units = agents.units
    if value > before.stake:
        raise click.ClickException(
            f"cannot unbond {units(value)}: the bonded stake of {account.address} is "
            f"{units(before.stake)}"
        )
    params = agents.params()
    if before.stake - value < params.min_stake and before.active_from:
        lost = "the agent stops being active" if before.active else "its activation is turned off"
        console.print(
            f"warning: this leaves {units(before.stake - value)} bonded, below agent.minStake "
            f"{units(params.min_stake)}: {lost}, and bonding back to the minimum restarts the "
            f"{format_duration(params.activation_delay)} activation delay"
        )  # said before sending, not after
    if before.unbonding:
        console.print(
            f"warning: the wait restarts for the {units(before.unbonding)} already unbonding"
        )
    receipt = agents.send("unbond", agents.registry.requestUnbond, value, sender=account)
    (event,) = receipt.events.filter(agents.registry.UnbondRequested)
    now = chain.blocks[receipt.block_number].timestamp
    console.print(
        f"unbonding {units(value)} (in all {units(event.unbonding)}); "
        f"withdrawable from {A.when(event.readyAt, now)}"
    )
    console.print("unbonding stake stays slashable until it is withdrawn")


@cli.command(cls=NodeCommand)
@manifest_option
@registry_option
@account_option()
def withdraw(ecosystem, network, manifest_file, registry, account):
    """Withdraw the unbonded stake once agent.unbondingPeriod has passed."""
    agents = Agents(ecosystem, network, manifest_file, registry)
    agent = agents.registered(account)
    units = agents.units
    if not agent.unbonding:
        raise click.ClickException(
            f"nothing to withdraw: {account.address} has no unbonding stake "
            "(start with `ape run agent unbond AMOUNT`)"
        )
    if chain.pending_timestamp < agent.unbond_ready_at:
        lock = A.withdrawal_lock(agent.open_decisions, agent.pending_slashes)
        raise click.ClickException(
            f"not ready: the {units(agent.unbonding)} unbonding is withdrawable from "
            f"{A.when(agent.unbond_ready_at, _now())}"
            + (f", and only once nothing is pending ({lock})" if lock else "")
        )
    if agent.open_decisions or agent.pending_slashes:
        now = _now()
        raise click.ClickException(
            A.lock_message(agent, agents.decisions(agent), agents.slashes(agent), now, units)
        )
    receipt = agents.send("withdraw", agents.registry.withdrawUnbonded, sender=account)
    (event,) = receipt.events.filter(agents.registry.UnbondedWithdrawn)
    console.print(f"withdrew {units(event.amount)} to {account.address}")


@cli.command(cls=NodeCommand)
@manifest_option
@registry_option
@account_option()
def claim(ecosystem, network, manifest_file, registry, account):
    """Claim the agent's rewards: vault shares from the performance fee."""
    agents = Agents(ecosystem, network, manifest_file, registry)
    registry = agents.registry
    if (
        not registry.claimableRewards(account)
        and registry.roundPointsOf(account)
        and agents.vault.isShutdown()
    ):
        # No fee may come after a shutdown: close the open round from the carried pot first.
        agents.send("close the reward round", registry.closeRound, sender=account)
        console.print("closed the open reward round (the vault is shut down: no fee will)")
    if not registry.claimableRewards(account):
        raise click.ClickException(
            f"nothing to claim: {account.address} has no rewards (decisions that beat the "
            "weights they replaced earn points; the vault's next performance fee pays them)"
        )
    vault = agents.vault
    if vault.allowlistEnabled() and not vault.isAllowed(account):
        raise click.ClickException(
            f"{account.address} is not on the vault's allowlist, so it cannot hold the vault's "
            "shares its rewards are paid in: ask the allowlist manager to add it"
        )
    receipt = agents.send("claim", agents.registry.claimRewards, sender=account)
    (event,) = receipt.events.filter(agents.registry.RewardsClaimed)
    assets = vault.convertToAssets(event.shares)
    worth = A.rewards_text(event.shares, assets, agents.share_units, agents.units)
    console.print(f"claimed {worth} to {account.address}")


@cli.command(cls=NodeCommand)
@manifest_option
@registry_option
@account_option(prompt=False)
@click.argument("address", required=False)
@json_option
def status(ecosystem, network, manifest_file, registry, account, address, as_json):
    """The bond, reputation, slashes and rewards of ADDRESS (default: --account), the agent.*
    parameters and the totals."""
    if address is None:
        if account is None:
            raise click.ClickException("give an ADDRESS or --account")
        address = account.address
    try:
        address = parse_address(address)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    agents = Agents(ecosystem, network, manifest_file, registry)
    agent, params, now = agents.view(address), agents.params(), _now()
    staked, unbonding = agents.registry.totals()
    units = agents.units

    table = Table(title=f"Strategy agent {address}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for label, value in A.agent_rows(agent, params, now, units):
        table.add_row(label, value)
    if agent.registered:
        decisions, slashes = agents.decisions(agent), agents.slashes(agent)
        for label, value in A.standing_rows(agent, decisions, slashes, now, units):
            table.add_row(label, value)
        table.add_row("claimable rewards", agents.rewards(address))
        points, debt = agents.registry.roundPointsOf(address), agents.registry.rewardDebt(address)
        for label, value in A.reward_rows(points, debt, units):
            table.add_row(label, value)
    wallet = agents.asset.balanceOf(address)
    table.add_row("wallet balance", units(wallet))
    elsewhere = agents.held_elsewhere(address)
    for label, value in A.elsewhere_rows(elsewhere, units, agents.share_units):
        table.add_row(label, value)
    table.add_section()
    slashed = agents.registry.totalSlashed()
    for label, value in A.registry_rows(params, staked, unbonding, slashed, units):
        table.add_row(label, value)
    if as_json:  # raw base units, as read on chain
        click.echo(document(
            "ballast.agent-status/1", address=address, chain_time=now, agent=agent,
            params=params, wallet_balance=wallet, asset=units,
            totals={"staked": staked, "unbonding": unbonding, "slashed": slashed},
            registry=str(agents.registry.address), held_elsewhere=elsewhere,
        ))  # fmt: skip
        return
    console.print(table)
    console.print(f"chain time {A.show_time(now)}")
