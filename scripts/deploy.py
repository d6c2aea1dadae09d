"""`ape run deploy`: deploy (or reuse) the Ballast system and write its manifest.

    ape run deploy --network ethereum:local:foundry --account TEST::0
    ape run deploy --network ethereum:sepolia:node --account deployer \\
        --config deployments/config/sepolia.yaml

Reads ``deployments/config/<network>.yaml`` and writes ``deployments/<ecosystem>-<network>.json``
(the paths can be overridden). Running it again on the same chain reuses what the manifest
already names.
"""

from __future__ import annotations

from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand, account_option
from rich.console import Console
from rich.table import Table

from ballast.config import ConfigError, DeployConfig
from ballast.deploy import DeployError, deploy_system
from ballast.deployment import Deployment, ManifestError, config_path, manifest_path

console = Console()
if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
    console = Console(width=200)


@click.command(cls=ConnectedProviderCommand, short_help="Deploy Ballast and write its manifest")
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
    help="Manifest to write (default: deployments/<ecosystem>-<network>.json).",
)
def cli(ecosystem, network, account, config_file: Path | None, manifest_file: Path | None):
    config_file = config_file or config_path(network.name)
    manifest_file = manifest_file or manifest_path(ecosystem.name, network.name)
    try:
        config = DeployConfig.load(config_file)
        previous = Deployment.load(manifest_file) if manifest_file.exists() else None
        deployment = deploy_system(config, account, previous, report=console.print)
    except (ConfigError, DeployError, ManifestError) as err:
        raise click.ClickException(str(err)) from None
    deployment.save(manifest_file)

    table = Table(title=f"Ballast on {ecosystem.name}:{network.name} (chain {deployment.chain_id})")
    table.add_column("kind")
    table.add_column("name")
    table.add_column("address")
    for kind, entries in (
        ("contract", deployment.contracts),
        ("token", deployment.tokens),
        ("role", deployment.roles),
    ):
        for name, address in entries.items():
            table.add_row(kind, name, address)
    for sleeve in deployment.sleeves:
        table.add_row(f"sleeve ({sleeve.kind})", sleeve.name, sleeve.address)
    for entry in deployment.collateral:
        table.add_row("collateral", entry.name, entry.token)
    console.print(table)
    console.print(f"manifest written to {manifest_file}")
