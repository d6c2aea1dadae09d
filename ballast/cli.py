"""What the `ape run` scripts share: the console, the `--manifest` option, and sending a
transaction whose revert becomes one line in words."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from ape.exceptions import ContractLogicError, CustomError
from rich.console import Console


def make_console() -> Console:
    """A rich console; piped or captured output is not squeezed into 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


manifest_option = click.option(
    "--manifest",
    "manifest_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Deployment manifest (default: deployments/<ecosystem>-<network>.json).",
)

Explain = Callable[[str, dict[str, Any]], str]
"""Turns a contract's custom error (name, inputs) into a sentence."""


def send_explained(action: str, explain: Explain, call, *args, **kwargs):
    """Send a transaction; a revert becomes one line: the custom error in words (`explain`),
    or the node's message."""
    try:
        return call(*args, **kwargs)
    except ContractLogicError as err:
        if not isinstance(err, CustomError):
            raise click.ClickException(f"{action} reverted: {err.message}") from None
        raise click.ClickException(f"{action} refused: {explain(err.name, err.inputs)}") from None
