"""What every `ballast-keeper` command shares (`keepers.cli`, `keepers.cli_verify`): the one-line
failure (`Fail`, exit status 1), the connection to the network (`connected`) and the keeper of
the invocation (`keeper_for`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import click

from ballast.cli import network_problem
from ballast.node import NodeError, forget_dead_nodes, require_node
from keepers.config import KeeperSettings
from keepers.errors import one_line

__all__ = ["Fail", "connected", "keeper_for", "one_line"]


class Fail(click.ClickException):
    """One line on stderr, exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


@contextlib.contextmanager
def connected(network: str) -> Iterator[None]:
    """Connects Ape to `network` for the duration; a bad choice or a dead node is one line."""
    from ape import networks
    from ape.exceptions import ApeException

    forget_dead_nodes()  # Ape checks each entry on connecting: keep the map short
    try:
        context = networks.parse_network_choice(network)
        require_node(context._provider)  # never a private anvil that vanishes with the command
        context.__enter__()
    except NodeError as err:
        raise Fail(str(err)) from None
    except ApeException as err:
        raise Fail(f"cannot connect to {network}: {network_problem(str(err))}") from None
    except Exception as err:  # noqa: BLE001 - e.g. connection refused from the provider
        raise Fail(f"cannot connect to {network}: {err}".splitlines()[0]) from None
    try:
        yield
    finally:
        context.__exit__(None, None, None)


def keeper_for(ctx: click.Context, serve_metrics: bool = False) -> Any:
    """The keeper of this invocation (connected, reconciled, logging set up; metrics served and
    the state file's process lock taken only when `serve_metrics`: `once` acts, the views do not
    and leave the port and the state file to the keeper)."""
    from keepers.logs import configure_logging
    from keepers.runtime import StartupError, open_keeper

    settings: KeeperSettings = ctx.obj["settings"]
    verbose = ctx.obj["verbose"] or settings.log_json
    configure_logging(settings.log_json, logging.INFO if verbose else logging.WARNING)
    try:
        return open_keeper(settings, serve_metrics=serve_metrics, sending=serve_metrics)
    except StartupError as err:
        raise Fail(str(err)) from None
    except Exception as err:  # noqa: BLE001 - a node error while opening (reads, reconcile)
        raise Fail(f"cannot open the keeper: {one_line(err)}") from None
