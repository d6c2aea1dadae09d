"""`ape run params`: read the parameter registry and change it through the DAO.

    ape run params show
    ape run params check lend.ltvBps.gold 7600 lend.liqThresholdBps.gold 8000
    ape run params propose vault.idleBufferBps 600 --description "More idle" --account me
    ape run params propose --from-recommendation .keeper/recommendations/steward-N.json --account me
    ape run params propose-batch deployments/ethereum-local.dao.json --account me
    ape run params vote ID for --account me
    ape run params advance 4d              # local networks only: move time forward
    ape run params queue ID --account me
    ape run params execute ID --account me
    ape run params status [ID]

Every command takes Ape's --network option and reads deployments/<ecosystem>-<network>.json
(override with --manifest). Proposals are pre-checked with `registry.check` and the registry's
links between parameters (on the values after the whole proposal): a change the registry would
refuse is explained in words and never sent. `check` runs the same pre-check and sends nothing.
A proposal of several changes is one `setBatch` call, so linked parameters move together.
"""

from __future__ import annotations

from pathlib import Path

import click
from ape import chain
from eth_utils import keccak
from rich.table import Table
from rich.text import Text

from ballast import params as P
from ballast import proposal_calls as C
from ballast.cli import (
    NodeCommand,
    OneLineGroup,
    account_option,
    json_option,
    make_console,
    manifest_option,
)
from ballast.jsonout import document
from ballast.parameters import format_duration, key_of, parse_duration
from ballast.params_chain import (
    PARAMETER_COLUMNS,
    System,
    batch_proposal,
    from_recommendation,
    parameter_rows,
    send,
    submit_proposal,
)
from ballast.params_chain import proposal_id as proposal_id_of

console = make_console()
MAX_ADVANCE = 365 * 86_400  # `advance` moves local time by at most a year per call


@click.group(cls=OneLineGroup)
def cli():
    """Read the parameter registry and change it through the DAO."""


base_units_option = click.option(
    "--base-units", is_flag=True,
    help="Amounts (vault.depositCap, agent.minStake, lend.borrowCap.*, lend.minDebt) in the "
    "asset's base units instead of whole units.",
)  # fmt: skip


@cli.command(cls=NodeCommand)
@manifest_option
@base_units_option
@json_option
def show(ecosystem, network, manifest_file, base_units, as_json):
    """Every parameter: value, bounds, steps, cooldowns, last update, freeze and its expiry
    (--json: one document, values in base units)."""
    system = System(ecosystem, network, manifest_file, base_units)
    table = Table(title="Ballast parameters")
    for column in PARAMETER_COLUMNS:
        table.add_column(column, justify="left" if column == "name" else "right")
    now = chain.blocks.head.timestamp
    rows, shown = parameter_rows(system, now)
    for row in shown:
        table.add_row(*row)
    links, _ = system.links([row["name"] for row in rows])
    if as_json:
        click.echo(document(
            "ballast.parameters/1", chain_time=now, parameters=rows,
            links=[P.describe_link(link) for link in links],
        ))  # fmt: skip
        return
    console.print(table)
    if links:
        console.print("links (every change must keep them):")
        for link in links:
            console.print(f"  {P.describe_link(link)}")


unfreeze_option = click.option(
    "--unfreeze",
    is_flag=True,
    help="The proposal first lifts any guardian freeze on these parameters (`unfreeze`, a no-op "
    "on one not frozen): a freeze on any parameter of a batch at execution blocks it all.",
)


@cli.command(cls=NodeCommand)
@manifest_option
@click.argument("changes", nargs=-1, required=True, metavar="NAME VALUE [NAME VALUE]...")
@unfreeze_option
@base_units_option
def check(ecosystem, network, manifest_file, changes, unfreeze, base_units):
    """Would a proposal of these changes pass the registry? Sends nothing."""
    system = System(ecosystem, network, manifest_file, base_units)
    try:
        parsed = [(name, P.parse_value(name, text)) for name, text in P.parse_changes(changes)]
    except P.InputError as err:
        raise click.ClickException(str(err)) from None
    if refusals := system.refusals(parsed, unfreeze):
        raise click.ClickException("; ".join(refusals) + ".")
    shown = ", ".join(f"{n} = {P.show_value(n, v)}" for n, v in parsed)
    console.print(f"ok: a proposal setting {shown} passes the registry's rules and links now")


@cli.command(cls=NodeCommand)
@manifest_option
@account_option()
@click.argument("changes", nargs=-1, required=False, metavar="NAME VALUE [NAME VALUE]...")
@click.option("--description", default=None, help="Proposal text (default: lists the changes).")
@click.option("--self-delegate", is_flag=True, help="Delegate your tokens to yourself first.")
@click.option(
    "--from-recommendation",
    "recommendation",
    type=click.Path(path_type=Path),
    help="A steward recommendation file: its values, its rationale as description.",
)
@click.option(
    "--max-age",
    default="3d",
    show_default=True,
    help="With --from-recommendation: refuse a file older than this.",
)
@unfreeze_option
@base_units_option
def propose(
    ecosystem, network, manifest_file, account, changes, description, self_delegate,
    recommendation, max_age, unfreeze, base_units,
):  # fmt: skip
    """Propose one batch of parameter changes (pre-checked against the registry). Amounts are in
    the asset's whole units (20000 = 20,000 USDC), unless --base-units."""
    system = System(ecosystem, network, manifest_file, base_units)
    if recommendation is not None:
        if changes:
            raise click.ClickException("give either NAME VALUE pairs or --from-recommendation")
        parsed, drafted = from_recommendation(system, recommendation, max_age)
        description = description or drafted
    elif not changes:
        raise click.ClickException("nothing to propose: give NAME VALUE pairs")
    else:
        try:
            parsed = [(name, P.parse_value(name, text)) for name, text in P.parse_changes(changes)]
        except P.InputError as err:
            raise click.ClickException(str(err)) from None

    if refusals := system.refusals(parsed, unfreeze):
        raise click.ClickException("; ".join(refusals) + ". No proposal was sent.")

    reg = system.registry
    if len(parsed) == 1:
        calldatas = [reg.set.encode_input(key_of(parsed[0][0]), parsed[0][1])]
    else:  # one call: the registry checks the links on the values after all changes
        calldatas = [
            reg.setBatch.encode_input([key_of(n) for n, _ in parsed], [v for _, v in parsed])
        ]
    if unfreeze:  # lifted in the same transaction, just before the change
        calldatas = [reg.unfreeze.encode_input(key_of(n)) for n, _ in parsed] + calldatas
    elif len(parsed) > 1:
        console.print(
            f"note: a guardian freeze on any of these {len(parsed)} parameters when the proposal "
            "executes blocks the whole batch; --unfreeze lifts such freezes in the same proposal"
        )
    summary = ", ".join(f"{n} = {P.show_value(n, v)}" for n, v in parsed)
    text = description or "Set " + summary
    keys, new = [key_of(n) for n, _ in parsed], [v for _, v in parsed]
    planned = C.Call(reg.address, 0, b"", C.REGISTRY, "setBatch", (("", "", keys), ("", "", new)))
    if C.warnings(text, [planned], system.name_of):
        # Voters read the description: it names every change the calls make, with its value.
        text = f"{text} (changes: {summary})"
    try:
        text = P.bound_to_proposer(text, account.address)  # nobody can front-run and cancel it
    except P.InputError as err:
        raise click.ClickException(f"{err}. No proposal was sent.") from None
    targets, values = [reg.address] * len(calldatas), [0] * len(calldatas)
    submit_proposal(system, account, network, (targets, values, calldatas), text, self_delegate,
                    console.print)  # fmt: skip


@cli.command("propose-batch", cls=NodeCommand)
@manifest_option
@account_option()
@click.argument("batch_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--description", default=None, help="Proposal text (default: the batch's steps).")
@click.option("--self-delegate", is_flag=True, help="Delegate your tokens to yourself first.")
def propose_batch(
    ecosystem, network, manifest_file, account, batch_file, description, self_delegate
):  # fmt: skip
    """Propose the steps `ape run deploy` left to the DAO (its .dao.json batch: a new sleeve's
    parameter, feed and addition...) as one proposal, in the batch's order."""
    system = System(ecosystem, network, manifest_file)
    batch, calls, decoded = batch_proposal(system, batch_file)
    console.print(f"the proposal executes, in order ({batch_file}):", highlight=False)
    for i, call in enumerate(decoded, 1):
        console.print(Text(f"  {i}. {C.show_call(call, system.name_of)}"))
    try:
        text = P.bound_to_proposer(description or batch.description(), account.address)
    except P.InputError as err:
        raise click.ClickException(f"{err}. No proposal was sent.") from None
    submit_proposal(system, account, network, calls, text, self_delegate, console.print)


def _print_calls(system: System, event) -> list[str]:
    """Print what proposal `event` executes and what its description does not say; returns
    those warnings."""
    shown, warned = system.explained(event)
    console.print(f"proposal {event.proposalId} executes:", highlight=False)
    for i, line in enumerate(shown, 1):
        console.print(Text(f"  {i}. {line}"))
    for line in warned:
        console.print(Text(f"warning: {line}"), style="yellow")
    return warned


@cli.command(cls=NodeCommand)
@manifest_option
@account_option()
@click.argument("proposal_id")
@click.argument("support", type=click.Choice(sorted(P.SUPPORT)))
@click.option(
    "--despite-warnings", is_flag=True,
    help="Vote for a proposal whose description does not say all that its calls do.",
)  # fmt: skip
def vote(ecosystem, network, manifest_file, account, proposal_id, support, despite_warnings):
    """Vote for, against or abstain on an active proposal (its calls are shown first)."""
    system = System(ecosystem, network, manifest_file)
    pid = proposal_id_of(proposal_id)
    event = system.proposal(pid)  # one clear line for an unknown ID
    state = system.state(pid)
    if state != "Active":
        when = P.show_time(system.governor.proposalSnapshot(pid))
        hint = f" (voting opens {when})" if state == "Pending" else ""
        raise click.ClickException(f"proposal {pid} is {state}, not open for votes{hint}")
    if system.governor.hasVoted(pid, account.address):
        raise click.ClickException(
            f"{account.address} has already voted on proposal {pid} (a vote is final)"
        )
    snapshot = system.governor.proposalSnapshot(pid)
    if system.governor.getVotes(account.address, snapshot) == 0:  # a final vote of nothing
        raise click.ClickException(
            f"{account.address} has no votes on proposal {pid}: only tokens delegated before "
            f"its snapshot ({P.show_time(snapshot)}) count; nothing was sent"
        )
    warned = _print_calls(system, event)
    if warned and support == "for" and not despite_warnings:
        raise click.ClickException(
            f"proposal {pid} does more than its description says ({len(warned)} warning"
            f"{'s' if len(warned) > 1 else ''} above); read its calls, and vote for it anyway "
            "with --despite-warnings. Nothing was sent."
        )
    receipt = send("vote", system.governor.castVote, pid, P.SUPPORT[support], sender=account)
    (cast,) = receipt.events.filter(system.governor.VoteCast)
    console.print(f"voted {support} on {pid} with {cast.weight / 1e18:,.0f} votes")


@cli.command(cls=NodeCommand)
@manifest_option
@account_option()
@click.argument("proposal_id")
def queue(ecosystem, network, manifest_file, account, proposal_id):
    """Queue a succeeded proposal in the timelock."""
    _lifecycle("queue", ecosystem, network, manifest_file, account, proposal_id, "Succeeded")


@cli.command(cls=NodeCommand)
@manifest_option
@account_option()
@click.argument("proposal_id")
def execute(ecosystem, network, manifest_file, account, proposal_id):
    """Execute a queued proposal once the timelock delay has passed."""
    _lifecycle("execute", ecosystem, network, manifest_file, account, proposal_id, "Queued")


def _lifecycle(action, ecosystem, network, manifest_file, account, proposal_id, needed):
    system = System(ecosystem, network, manifest_file)
    pid = proposal_id_of(proposal_id)
    event = system.proposal(pid)  # one log scan: existence and the call data
    state = system.state(pid)
    if state != needed:
        raise click.ClickException(f"proposal {pid} is {state}; {action} needs it {needed}")
    if action == "execute":
        eta = system.governor.proposalEta(pid)
        if chain.pending_timestamp < eta:
            raise click.ClickException(
                f"proposal {pid} is in the timelock until {P.show_time(eta)}"
            )
    args = (event.targets, event.values, event.calldatas, keccak(text=event.description))
    send(action, getattr(system.governor, action), *args, sender=account)
    new_state = P.PROPOSAL_STATES[system.governor.state(pid)]
    line = f"proposal {pid}: {new_state}"
    if new_state == "Queued":
        line += f", executable from {P.show_time(system.governor.proposalEta(pid))}"
    console.print(line)


@cli.command(cls=NodeCommand)
@manifest_option
@click.argument("proposal_id", required=False)
@json_option
def status(ecosystem, network, manifest_file, proposal_id, as_json):
    """State, votes and timing of one proposal, or of all of them (--json: one document)."""
    system = System(ecosystem, network, manifest_file)
    gov = system.governor
    head = chain.blocks.head.number
    events = list(gov.ProposalCreated.range(system.deployment.block, head + 1))
    if proposal_id is not None:
        pid = proposal_id_of(proposal_id)
        events = [e for e in events if e.proposalId == pid]
        if not events:
            raise click.ClickException(f"no proposal {pid} on this deployment")
    table = Table(title="Proposals")
    table.add_column("id", overflow="fold")
    for column in (
        "state",
        "for",
        "against",
        "abstain",
        "quorum",
        "votes close",
        "eta",
        "description",
    ):
        table.add_column(column)
    rows = []
    for event in events:
        pid = event.proposalId
        against, for_, abstain = gov.proposalVotes(pid)
        eta = gov.proposalEta(pid)
        snapshot = gov.proposalSnapshot(pid)
        quorum = gov.quorum(snapshot) if snapshot < chain.blocks.head.timestamp else None
        shown, warned = system.explained(event)
        rows.append({
            "id": str(pid), "state": P.PROPOSAL_STATES[gov.state(pid)], "for": for_,
            "against": against, "abstain": abstain, "quorum": quorum,
            "votes_close": gov.proposalDeadline(pid), "eta": eta or None,
            "description": event.description, "calls": shown, "warnings": warned,
        })  # fmt: skip
        table.add_row(
            str(pid),
            P.PROPOSAL_STATES[gov.state(pid)],
            f"{for_ / 1e18:,.0f}",
            f"{against / 1e18:,.0f}",
            f"{abstain / 1e18:,.0f}",
            f"{quorum / 1e18:,.0f}" if quorum is not None else "at snapshot",
            P.show_time(gov.proposalDeadline(pid)),
            P.show_time(eta) if eta else "-",
            Text(event.description),  # the proposer's text, never read as markup
        )
    if as_json:  # votes in the token's base units (18 decimals), times in unix seconds
        click.echo(document("ballast.proposals/1", proposals=rows))
        return
    if not events:
        console.print("no proposals yet")
        return
    console.print(table)
    if proposal_id is not None:
        _print_calls(system, events[0])
        return
    for row in rows:
        if row["warnings"]:
            console.print(Text(
                f"warning: proposal {row['id']} does more than its description says "
                f"({len(row['warnings'])}): `params status {row['id']}` shows its calls"
            ), style="yellow")  # fmt: skip


@cli.command(cls=NodeCommand)
@click.argument("duration")
def advance(ecosystem, network, duration):
    """Local networks only: move the chain's time forward (e.g. 1d, 12h, 3600)."""
    if network.name != "local":
        raise click.ClickException(f"advance works on local networks only, not {network.name}")
    try:
        seconds = parse_duration(duration)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    if not 0 < seconds <= MAX_ADVANCE:
        raise click.ClickException(
            f"advance moves time by 1s to {format_duration(MAX_ADVANCE)} (a year) at a time, "
            f"not {duration}"
        )
    chain.mine(1, deltatime=seconds)
    console.print(
        f"now {P.show_time(chain.blocks.head.timestamp)} (block {chain.blocks.head.number})"
    )
