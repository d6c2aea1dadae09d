"""`ape run deploy`: deploy (or reuse) the Ballast system and write its manifest.

    ape run deploy --network ethereum:local:foundry --account TEST::0
    ape run deploy --network ethereum:sepolia:node --account deployer \\
        --config deployments/config/sepolia.yaml

Reads ``deployments/config/<network>.yaml`` and writes ``deployments/<ecosystem>-<network>.json``
(the paths can be overridden; a fork network, e.g. ``mainnet-fork``, reads the forked network's
config and writes a manifest of its own, never the forked network's). Running it again on the
same chain reuses what the manifest already names. Every contract is recorded in
``<manifest>.partial.json`` as it is deployed, so an interrupted deploy (Ctrl-C, a lost
connection) resumes where it stopped when run again; the journal is removed once the manifest is
written. Steps of the config only the DAO may take once the deployer handed its roles over (a new
sleeve's cap, link, feed and addition) are written as one proposal batch,
``<manifest>.dao.json`` (`ballast.dao_batch`: `ape run params propose-batch` proposes it), and
the deploy exits 1 with everything else done; run again once the proposal executed.
"""

from __future__ import annotations

from pathlib import Path

import click
from ape import chain
from ape.exceptions import ApeException
from rich.console import Console
from rich.table import Table

from ballast.cli import NodeCommand, account_option
from ballast.config import ConfigError, DeployConfig
from ballast.dao_batch import DaoBatch, batch_path
from ballast.deploy import DeployError, NeedsTheDao, deploy_system
from ballast.deploy_run import NotThisSystem
from ballast.deployment import (
    Deployment,
    ManifestError,
    config_path,
    manifest_path,
    manifest_to_read,
)
from ballast.journal import Journal, journal_path
from ballast.parameters import format_duration
from ballast.progress import StepProgress

console = Console()
if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
    console = Console(width=200)


@click.command(cls=NodeCommand, short_help="Deploy Ballast and write its manifest")
@account_option()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Deploy config (default: deployments/config/<network>.yaml).",
)
@click.option(
    "--manifest",
    "manifest_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Manifest to write (default: deployments/<ecosystem>-<network>.json; a fork network's "
    "own, reusing the forked network's until it has one).",
)
def cli(ecosystem, network, account, config_file: Path | None, manifest_file: Path | None):
    """Deploy Ballast on the connected network as the config describes, reusing what the manifest
    (or an interrupted deploy's journal) already has there, and write the manifest."""
    config_file = config_file or config_path(network.name)
    # a fork reuses what the forked network's manifest names, and writes its own
    reused = manifest_file or manifest_to_read(ecosystem.name, network.name)
    manifest_file = manifest_file or manifest_path(ecosystem.name, network.name)
    journal = None
    try:
        config = DeployConfig.load(config_file)
        previous = Deployment.load(reused) if reused.exists() else None
        if previous is not None and previous.chain_id != chain.chain_id:
            # its addresses are the only record of that deployment: never write over them
            raise ManifestError(
                f"{reused} describes a deployment on chain {previous.chain_id}, but this "
                f"node is chain {chain.chain_id}: give another --manifest (or move that file "
                "away); nothing was sent"
            )
        journal = Journal.open(journal_path(manifest_file))
        nonce = account.nonce
        with StepProgress(console, f"deploying to {ecosystem.name}:{network.name}") as progress:
            deployment = deploy_system(
                config, account, previous, report=progress.step, journal=journal
            )
    except NotThisSystem as err:  # its journal, if it names it, would stop the same way
        raise click.ClickException(str(err)) from None
    except NeedsTheDao as err:  # the rest is done: the DAO's steps, as one proposal batch
        batch = batch_path(manifest_file)
        try:
            DaoBatch.of(err.calls, chain.chain_id, config_file).save(batch)
        except OSError as write:
            raise click.ClickException(
                f"{err}; the batch could not be written to {batch}: {write.strerror or write}"
            ) from None
        kept = _journal_note(journal).replace(
            "run the same command again to resume", "the next run reuses them"
        )
        raise click.ClickException(
            f"{err}. Written as one proposal batch to {batch}: propose it with `ape run params "
            f"propose-batch {batch}`, and run this deploy again once it executed{kept}"
        ) from None
    except (ConfigError, DeployError, ManifestError) as err:
        raise click.ClickException(str(err) + _journal_note(journal)) from None
    except (ApeException, OSError) as err:  # a refused transaction, a lost node (requests'
        # ConnectionError is an OSError): what was deployed stays in the journal
        raise click.ClickException(
            f"deploy stopped: {_reason(err)}{_journal_note(journal)}"
        ) from None
    except (KeyboardInterrupt, SystemExit) as err:
        # Ape turns SIGINT/SIGTERM into SystemExit(130/143) once a provider is connected.
        code = err.code if isinstance(err, SystemExit) else 130
        if code not in (130, 143):
            raise
        click.echo(f"Error: interrupted{_journal_note(journal)}", err=True)
        raise SystemExit(code) from None
    sent = account.nonce - nonce
    deployment.save(manifest_file)
    journal.finish()
    batch_path(manifest_file).unlink(missing_ok=True)  # the DAO's steps it listed are done

    status = _Status(config, previous)
    table = Table(title=f"Ballast on {ecosystem.name}:{network.name} (chain {deployment.chain_id})")
    for column in ("kind", "name", "address", "status"):
        table.add_column(column)
    for kind, entries in (
        ("contract", deployment.contracts),
        ("token", deployment.tokens),
        ("role", deployment.roles),
    ):
        for name, address in entries.items():
            table.add_row(kind, name, address, status(address))
    for sleeve in deployment.sleeves:
        kind = f"sleeve ({sleeve.kind})"
        table.add_row(kind, sleeve.name, sleeve.address, status(sleeve.address))
    for entry in deployment.collateral:
        table.add_row("collateral", entry.name, entry.token, status(entry.token))
    console.print(table)
    console.print(_timelock_line(config))
    if least := config.timelock_delay_floor():  # one second past what the delay must outlast
        console.print(
            f"no proposal can set the timelock delay to {format_duration(least - 1)} or less "
            f"(BallastTimelock.DELAY_FLOOR {least}s)"
        )
    if sent:
        console.print(f"{sent} transaction{'s' if sent != 1 else ''} sent")
    else:
        console.print("nothing sent: everything was already deployed, defined and wired")
    console.print(f"manifest written to {manifest_file}")


def _reason(err: Exception) -> str:
    """One line for an error from Ape or the connection to the node."""
    if isinstance(err, OSError) and not isinstance(err, ApeException):
        text = str(err)
        cause = next((m for m in ("Connection refused", "timed out", "Connection reset")
                      if m in text), type(err).__name__)  # fmt: skip
        return f"lost the node ({cause})"
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _journal_note(journal: Journal | None) -> str:
    """What an interrupted deploy left for the next run (nothing when it sent nothing)."""
    if journal is None or journal.state is None or not journal.state.deployed:
        return ""
    count = len(journal.state.deployed)
    return (
        f" ({count} contract{'s' if count != 1 else ''} recorded in {journal.path}: run the same "
        "command again to resume)"
    )


def _timelock_line(config: DeployConfig) -> str:
    """What the timelock delay outlasts (the config refused anything shorter)."""
    unbonding = next(p.max for p in config.parameters if p.name == "agent.unbondingPeriod")
    line = (
        f"timelock delay {format_duration(config.governance.timelock_delay)}: longer than the "
        f"longest agent.unbondingPeriod ({format_duration(unbonding)})"
    )
    exit_time = config.exit_time()
    if exit_time is None:
        return line + "; the depositors' exit time is not known (no RWA sleeve declares one)"

    def days(value) -> str:
        return f"{float(value):.2f}".rstrip("0").rstrip(".")

    wait = days(exit_time.strike_wait)
    return (
        f"{line} and the depositors' exit time ({days(exit_time.total)} days: sleeve "
        f"{exit_time.sleeve} {days(exit_time.days)} + a strike up to {wait})"
    )


class _Status:
    """Where an address of the manifest comes from: the config, the previous manifest (reused)
    or this run (deployed)."""

    def __init__(self, config: DeployConfig, previous: Deployment | None):
        roles = config.roles
        self.configured = {
            a
            for a in (
                config.asset.address, roles.guardian, roles.steward, roles.treasury,
                roles.allowlist_manager,
                *(s.token for s in config.sleeves),
                *(c.token for s in config.sleeves for c in s.collateral),
            )
            if a is not None
        }  # fmt: skip
        self.known: set[str] = set()
        if previous is not None:
            self.known = {
                *previous.contracts.values(), *previous.tokens.values(),
                *(s.address for s in previous.sleeves),
            }  # fmt: skip

    def __call__(self, address: str) -> str:
        if address in self.configured:
            return "configured"
        return "reused" if address in self.known else "deployed"
