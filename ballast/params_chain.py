"""What `ape run params` (scripts/params.py) reads and sends on chain: the governance contracts
of one deployment, the pre-check of a proposal's changes against the registry's rules and links,
proposals by ID, and steward recommendation files."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import click
from ape import chain, project
from eth_utils import keccak, to_checksum_address

from ballast import agent as A
from ballast import chain_reads as R
from ballast import params as P
from ballast import proposal_calls as C
from ballast.cli import load_deployment, send_explained
from ballast.deployment import manifest_to_read
from ballast.parameters import format_duration, key_of, parse_duration

NEEDS = ("ParameterRegistry", "BallastGovernor", "BallastToken", "TimelockController")


class System:
    """The governance contracts of one deployment."""

    def __init__(self, ecosystem, network, manifest_file: Path | None, base_units: bool = False):
        path = manifest_file or manifest_to_read(ecosystem.name, network.name)
        deployment = load_deployment(path, NEEDS)
        c = deployment.contracts
        self.registry = project.ParameterRegistry.at(c["ParameterRegistry"])
        self.governor = project.BallastGovernor.at(c["BallastGovernor"])
        self.token = project.BallastToken.at(c["BallastToken"])
        self.timelock = project.BallastTimelock.at(c["TimelockController"])
        self.deployment = deployment
        # amount parameters (vault.depositCap, agent.minStake, lend.*) in the asset's whole units
        if not base_units and (asset := deployment.tokens.get("asset")):
            token = project.MockStablecoin.at(asset)  # ERC-20 views only
            P._AMOUNT_UNITS.set(A.Units(token.decimals(), token.symbol()))

    def param(self, name: str) -> P.ParamView | None:
        key = key_of(name)
        if key not in {bytes(k) for k in self.registry.keys()}:
            return None
        p = self.registry.getParam(key)
        return P.ParamView(
            p.value, p.min, p.max, p.maxStepBps, p.cooldown, p.lastUpdate,
            frozen_until=p.frozenUntil, governance_value=p.governanceValue,
            last_governance_update=p.lastGovernanceUpdate,
        )  # fmt: skip

    def links(self, names: list[str]) -> tuple[list[P.LinkView], dict[str, int]]:
        """The live links naming any of `names`, and the live value of every key they name (three
        batched reads: the links of each name, the links, then the names and values they hold)."""
        reg = self.registry
        named = R.read([R.Call(reg.linksOf, key_of(name)) for name in names])
        ids = sorted({int(i) for found in named for i in found})
        live = [link for link in R.read([R.Call(reg.getLink, i) for i in ids]) if link.rule]
        keys = list(dict.fromkeys(bytes(k) for link in live for k in link.keys))
        read = R.read([R.Call(reg.nameOf, k) for k in keys] + [R.Call(reg.get, k) for k in keys])
        name_of = dict(zip(keys, read[: len(keys)], strict=True))
        value_of = dict(zip(keys, read[len(keys) :], strict=True))
        links, values = [], {}
        for link in live:  # removed links (rule 0) are left out
            link_names = tuple(name_of[bytes(k)] for k in link.keys)
            links.append(P.LinkView(link.rule, link_names, link.bound))
            for key in link.keys:
                values.setdefault(name_of[bytes(key)], value_of[bytes(key)])
        return links, values

    def refusals(self, parsed: list[tuple[str, int]], unfreezes: bool = False) -> list[str]:
        """Why governance could not make these changes by a proposal made now: each value rule
        at the earliest execution time (past any freeze, with `unfreezes`: the proposal lifts
        them first), then every link on the values after all changes."""
        gov = self.governor
        executes_at = chain.pending_timestamp + gov.votingDelay() + gov.votingPeriod()
        executes_at += self.timelock.getMinDelay()
        refusals = []
        for name, value in parsed:
            ok, reason = self.registry.check(key_of(name), value, False)
            if not ok:
                param = self.param(name)
                sentence = P.explain(reason, name, value, param, executes_at, unfreezes)
                if sentence:
                    refusals.append(sentence)
        if refusals:
            return refusals
        links, values = self.links([name for name, _ in parsed])
        return P.explain_links(links, {**values, **dict(parsed)})

    def name_of(self, key: bytes) -> str | None:
        """The parameter name of a registry key, None if the registry has no such parameter."""
        if not hasattr(self, "_names"):
            keys = [bytes(k) for k in self.registry.keys()]
            names = R.read([R.Call(self.registry.nameOf, k) for k in keys])
            self._names = dict(zip(keys, names, strict=True))
        return self._names.get(bytes(key))

    def calls(self, event) -> list[C.Call]:
        """A ProposalCreated event's calls, decoded against the deployment's contracts."""
        if not hasattr(self, "_abis"):
            self._abis = {}
            for name, address in self.deployment.contracts.items():
                kind = project.BallastTimelock if name == "TimelockController" else (
                    getattr(project, name, None)
                )  # fmt: skip
                if kind is not None:
                    abi = [a.model_dump(mode="json", by_alias=True) for a in kind.contract_type.abi]
                    self._abis[address.lower()] = (name, abi)
        return [
            C.decode_call(t, v, bytes(d), self._abis)
            for t, v, d in zip(event.targets, event.values, event.calldatas, strict=True)
        ]

    def explained(self, event) -> tuple[list[str], list[str]]:
        """A proposal's calls in words, and what its description does not say about them."""
        calls = self.calls(event)
        shown = [C.show_call(call, self.name_of) for call in calls]
        return shown, C.warnings(event.description, calls, self.name_of)

    def proposal(self, proposal_id: int):
        """The ProposalCreated event of `proposal_id` (it holds what queue/execute need)."""
        head = chain.blocks.head.number
        for log in self.governor.ProposalCreated.range(self.deployment.block, head + 1):
            if log.proposalId == proposal_id:
                return log
        raise click.ClickException(f"no proposal {proposal_id} on this deployment")

    def state(self, proposal_id: int) -> str:
        """The proposal's state; call after `proposal()` has shown that it exists."""
        return P.PROPOSAL_STATES[self.governor.state(proposal_id)]


def send(action: str, call, *args, **kwargs):
    """Send a transaction; a revert becomes one line naming the contract's error."""
    return send_explained(action, P.explain_governor_error, call, *args, **kwargs)


def after(network, timestamp: int) -> None:
    """Return once the next block will be later than `timestamp`.

    The governor counts votes at `clock() - 1`: votes delegated at time t count for a proposal
    only from a block with a later timestamp. Local nodes mine one empty block a second later;
    elsewhere the next block is awaited.
    """
    if network.name == "local":
        if chain.blocks.head.timestamp <= timestamp:
            chain.mine(1, timestamp=timestamp + 1)
        return
    deadline = time.monotonic() + 120
    while chain.blocks.head.timestamp <= timestamp:
        if time.monotonic() > deadline:
            raise click.ClickException("no new block for 2 minutes: is the node producing blocks?")
        time.sleep(2)


def from_recommendation(system: System, path: Path, max_age: str) -> tuple[list, str]:
    """The (name, value) changes and the description of a steward recommendation file
    (`keepers.jobs.steward`); a malformed, stale or unknown-parameter file is one line."""
    from ballast.parameters import is_known
    from keepers.jobs.steward import RecommendationError, check_recommendation, load_recommendation

    try:
        age = parse_duration(max_age)
        data = load_recommendation(path)
        values, text = check_recommendation(
            data,
            now=chain.blocks.head.timestamp,
            max_age=age,
            known=lambda name: is_known(name) and system.param(name) is not None,
        )
    except (RecommendationError, ValueError) as err:
        raise click.ClickException(f"{path}: {err}. No proposal was sent.") from None
    return values, text


def proposal_id(text: str) -> int:
    try:
        return P.parse_proposal_id(text)
    except P.InputError as err:
        raise click.ClickException(str(err)) from None


PARAMETER_COLUMNS = (
    "name", "value", "min", "max", "step", "cooldown", "steward", "last update", "frozen",
)  # fmt: skip


def parameter_rows(system: System, now: int) -> tuple[list[dict], list[tuple[str, ...]]]:
    """Every registry parameter, as `params show --json` gives it (base units) and as its table
    shows it (`PARAMETER_COLUMNS`, in words)."""
    reg = system.registry
    keys = [bytes(k) for k in reg.keys()]
    views = (reg.nameOf, reg.getParam, reg.freezeStatus)
    read = R.read([R.Call(view, key) for key in keys for view in views])
    rows, shown = [], []
    for i in range(len(keys)):
        name, p, (_, frozen_until, freezable_at) = read[3 * i : 3 * i + 3]
        rows.append({
            "name": name, "value": p.value, "min": p.min, "max": p.max,
            "max_step_bps": p.maxStepBps, "cooldown": p.cooldown,
            "steward_step_bps": p.stewardStepBps, "steward_cooldown": p.stewardCooldown,
            "last_update": p.lastUpdate, "frozen_until": frozen_until or None,
        })  # fmt: skip
        steward = (
            f"{p.stewardStepBps} bps / {format_duration(p.stewardCooldown)}"
            if p.stewardStepBps
            else "-"
        )
        shown.append((
            name, P.show_value(name, p.value), P.show_value(name, p.min),
            P.show_value(name, p.max), f"{p.maxStepBps} bps" if p.maxStepBps else "any",
            format_duration(p.cooldown), steward, P.show_time(p.lastUpdate),
            P.show_freeze(frozen_until, freezable_at, now),
        ))  # fmt: skip
    return rows, shown


def submit_proposal(
    system: System,
    account,
    network,
    calls,
    text: str,
    self_delegate: bool,
    say: Callable[[str], object],
) -> None:
    """Propose `calls` (targets, values, calldatas) with the description `text` from `account`
    (delegating its tokens to itself first with `self_delegate`); refused in one line when the
    same proposal exists or the account has too few votes."""
    gov = system.governor
    targets, values, calldatas = calls
    existing = gov.hashProposal(targets, values, calldatas, keccak(text=text))
    if gov.proposalSnapshot(existing):  # the same changes and text: the governor refuses it
        raise click.ClickException(
            f"proposal {existing} makes these changes with this description already "
            f"({system.state(existing)}); vote on it, or give another --description. "
            "No proposal was sent."
        )

    balance, votes = system.token.balanceOf(account), system.token.getVotes(account)
    if self_delegate and system.token.delegates(account) != account.address:
        # ContractInstance.delegate is Ape's own attribute: call the token's method by name.
        receipt = send(
            "delegate", system.token.invoke_transaction, "delegate", account, sender=account
        )
        say(f"delegated {balance / 1e18:,.0f} BLST of votes to yourself")
        after(network, chain.blocks[receipt.block_number].timestamp)
        votes = system.token.getVotes(account)
    elif balance and system.token.delegates(account) == "0x" + "00" * 20:
        say(
            f"[yellow]warning:[/] your {balance / 1e18:,.0f} BLST are not delegated, so they count "
            "for nothing (ERC20Votes). Re-run with --self-delegate, or delegate to someone."
        )
    threshold = gov.proposalThreshold()
    if votes < threshold:
        raise click.ClickException(
            f"proposing needs {threshold / 1e18:,.0f} votes; {account.address} has "
            f"{votes / 1e18:,.0f} (votes count from the moment tokens are delegated)"
        )

    receipt = send("propose", gov.propose, targets, values, calldatas, text, sender=account)
    (created,) = receipt.events.filter(gov.ProposalCreated)
    say(f"proposal {created.proposalId}")
    say(f"voting opens {P.show_time(created.voteStart)}, closes {P.show_time(created.voteEnd)}")


def batch_proposal(system: System, batch_file: Path):
    """The batch `ape run deploy` left for the DAO (`ballast.dao_batch`) as a proposal's calls
    (targets, values, calldatas) and decoded; refused in one line when it is unreadable, of
    another chain, or calls what no contract of this deployment decodes."""
    from ballast.dao_batch import DaoBatch
    from ballast.deployment import ManifestError

    try:
        batch = DaoBatch.load(batch_file)
    except ManifestError as err:
        raise click.ClickException(f"{err}. No proposal was sent.") from None
    if batch.chain_id != chain.chain_id:
        raise click.ClickException(
            f"{batch_file} was written for chain {batch.chain_id}, this node is chain "
            f"{chain.chain_id}. No proposal was sent."
        )
    targets = [to_checksum_address(c.target) for c in batch.calls]
    calldatas = [bytes.fromhex(c.data[2:]) for c in batch.calls]
    values = [0] * len(targets)
    decoded = system.calls(SimpleNamespace(targets=targets, values=values, calldatas=calldatas))
    for step, call in zip(batch.calls, decoded, strict=True):
        if call.contract is None or call.function is None:
            raise click.ClickException(
                f"{batch_file}: {step.what!r} calls {call.target} with data no contract of this "
                "deployment decodes. No proposal was sent."
            )
    return batch, (targets, values, calldatas), decoded
