"""What the `ape run` scripts share: the console, the `--manifest` and `--account` options,
commands that check their node before connecting, usage errors on one line (`OneLineUsage`, also
`ballast-keeper`'s), and sending a transaction whose revert becomes one line in words."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, ClassVar

import click
from ape.cli import ConnectedProviderCommand
from ape.exceptions import ContractLogicError, CustomError, ProviderError
from rich.console import Console

from ballast.accounts import AccountError, load_account, ready_to_sign, unattended_requested
from ballast.chain_reads import ChainReadError
from ballast.deployment import Deployment, ManifestError, load_for_chain
from ballast.node import NodeError, forget_dead_nodes, require_node
from keepers.errors import revert_in_words


def make_console() -> Console:
    """A rich console; piped or captured output is not squeezed into 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


class OneLineUsageError(click.UsageError):
    """A usage error (an unknown option or command, a bad or missing value) shown as one line,
    ``Error: <what is wrong>``, exit status 2: without click's usage line and help hint above it
    (``-h`` shows the usage)."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Error: {self.format_message()}", file=file, err=True)


class OneLineUsage(click.Command):
    """Put first in the bases of a click command or group: a usage error raised while parsing its
    arguments or running it, subcommands included, is shown as one line (`OneLineUsageError`),
    whether click's own `main` shows it (`ballast-keeper`) or Ape's (`ape run <script>`)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as err:
            raise _one_line_usage(err) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            raise _one_line_usage(err) from None


def _one_line_usage(err: click.UsageError) -> click.UsageError:
    if isinstance(err, OneLineUsageError):
        return err
    one = OneLineUsageError(err.format_message(), err.ctx)
    one.exit_code = err.exit_code
    return one


class OneLineGroup(OneLineUsage, click.Group):
    """A click group whose usage errors, and its subcommands', are one line (`OneLineUsage`)."""


manifest_option = click.option(
    "--manifest",
    "manifest_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Deployment manifest (default: deployments/<ecosystem>-<network>.json).",
)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document instead of the table."
)


def account_option(prompt: bool = True):
    """``--account ALIAS`` (an Ape keystore alias, or ``TEST::<n>`` on local networks), loaded
    ready to sign (ballast.accounts): with ``BALLAST_UNATTENDED=1`` a keystore signs without
    asking, from ``APE_ACCOUNTS_<alias>_PASSPHRASE``; at a terminal Ape asks as usual; neither
    is one line and exit 1. Without ``--account``: Ape's account chooser at a terminal, else one
    line. ``prompt=False``: the account is optional and only read (its address), never signs."""

    def load(ctx: click.Context, param: click.Parameter, value: str | None):
        try:
            if value is None:
                if not prompt:
                    return None
                if not sys.stdin.isatty():
                    raise AccountError("give --account ALIAS (no terminal to choose one)")
                from ape.cli import AccountAliasPromptChoice

                account = AccountAliasPromptChoice().select_account()
            else:
                account = load_account(value)
            if not prompt:
                return account
            return ready_to_sign(account, unattended=unattended_requested())
        except AccountError as err:
            raise click.ClickException(str(err)) from None

    return click.option(
        "--account",
        metavar="ALIAS",
        callback=load,
        help="Ape account alias, or TEST::<n> on a local network "
        + ("(signs; BALLAST_UNATTENDED=1 signs without asking)." if prompt else "(read only)."),
    )


def load_deployment(path: Path, needs: tuple[str, ...]) -> Deployment:
    """The manifest at `path` for the connected chain, with code at each contract in `needs`
    (and at the asset it names): otherwise one line (a ClickException), before any call to a
    contract that is not there (the node was restarted, or the manifest is of another node)."""
    from ape import chain

    try:
        deployment = load_for_chain(path, chain.chain_id)
    except ManifestError as err:
        raise click.ClickException(str(err)) from None
    named = {name: deployment.contracts.get(name) for name in needs}
    for name, address in named.items():
        if address is None:
            raise click.ClickException(f"{path} has no {name}: redeploy with `ape run deploy`")
    if (asset := deployment.tokens.get("asset")) is not None:
        named["asset"] = asset
    for name, address in named.items():
        if not chain.provider.get_code(address):
            raise click.ClickException(
                f"{path}: no code at {name} {address} on chain {deployment.chain_id} (was the "
                "node restarted? run `ape run deploy` again, or give the right --manifest)"
            )
    return deployment


Explain = Callable[[str, dict[str, Any]], str]
"""Turns a contract's custom error (name, inputs) into a sentence."""


def send_explained(action: str, explain: Explain, call, *args, **kwargs):
    """Send a transaction; a revert becomes one line: the custom error in words (`explain`),
    or the node's message (a custom error in it named: `revert_in_words`)."""
    try:
        return call(*args, **kwargs)
    except ContractLogicError as err:
        if not isinstance(err, CustomError):
            raise click.ClickException(f"{action} reverted: {revert_in_words(err)}") from None
        raise click.ClickException(f"{action} refused: {explain(err.name, err.inputs)}") from None


_NEGATIVE = re.compile(r"^-[0-9.]")


def network_problem(message: str) -> str:
    """Ape's message for an unknown ecosystem, network or provider, on one line: its first line
    without the list of every choice that follows ("Options:")."""
    first = message.strip().splitlines()[0] if message.strip() else "unknown network"
    if not first.endswith("Options:"):
        return first
    return f"{first.removesuffix('Options:').strip()} (`ape networks list` shows the choices)"


class NegativeNumbers(click.Command):
    """A negative number (`-5`, `-1d`) among the arguments is an argument, never read as an
    option: the command's own parser then explains why it is refused; a real unknown option
    (`--acount`, `--replya`) is still refused by name. `known_options`: options a base class
    adds while parsing (name -> takes a value)."""

    known_options: ClassVar[dict[str, bool]] = {}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not any(_NEGATIVE.match(a) for a in args):
            return super().parse_args(ctx, args)
        self._refuse_unknown_options(ctx, args)  # before any option's callback runs
        ctx.ignore_unknown_options = True
        return super().parse_args(ctx, args)

    def _refuse_unknown_options(self, ctx: click.Context, args: list[str]) -> None:
        """A mistyped option (`--acount`) among negative numbers is named as click would name
        it, not swallowed as an argument (which left `--account` unset)."""
        options = dict(self.known_options)  # name -> takes a value
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                for name in (*param.opts, *param.secondary_opts):
                    options[name] = not param.is_flag and not param.count
        taking_value = False
        for arg in args:
            if arg == "--":
                return
            if taking_value:
                taking_value = False
                continue
            if arg.startswith("-") and not _NEGATIVE.match(arg):
                name = arg.split("=", 1)[0]
                if name not in options:
                    raise click.NoSuchOption(name, possibilities=list(options), ctx=ctx)
                taking_value = "=" not in arg and options[name]


class NodeCommand(OneLineUsage, NegativeNumbers, ConnectedProviderCommand):
    """An Ape command that connects only to a node that is running (see ballast.node): a dead or
    unnamed node is one line and exit 1, never a private anvil that vanishes with the command.

    A negative number (`-5`, `-1d`) is an argument, never read as an option: the command's own
    parser then explains why it is refused; a real unknown option is still refused
    (`NegativeNumbers`). A usage error is one line (`OneLineUsage`), and so is a revert that
    reaches the command's end, its custom error named (`revert_in_words`)."""

    private_ok = False
    # Ape adds these while parsing
    known_options: ClassVar[dict[str, bool]] = {"--network": True, "--provider-settings": True}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.BadParameter as err:
            if err.param is not None and err.param.name == "network":
                err.message = network_problem(err.message)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        provider = ctx.params.get("network")
        if provider is None:  # no --network: Ape's default network and provider
            from ape import networks

            provider = networks.default_ecosystem.default_network.get_provider()
        forget_dead_nodes()  # Ape checks each entry on connecting: keep the map short
        if not isinstance(provider, str):
            try:
                require_node(provider, private_ok=self.private_ok)
            except NodeError as err:
                raise click.ClickException(str(err)) from None
        try:
            return super().invoke(ctx)
        except ProviderError as err:  # e.g. the node answers but is not anvil: one line
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise click.ClickException(f"cannot use the node: {first}") from None
        except ContractLogicError as err:  # a call or transaction no explain() caught
            raise click.ClickException(f"a contract refused: {revert_in_words(err)}") from None
        except ChainReadError as err:  # a batched view (ballast.chain_reads) failed
            raise click.ClickException(f"a contract refused: {err}") from None


class PrivateNodeCommand(NodeCommand):
    """A NodeCommand meant to run on a private anvil (the demo): an unnamed node is fine, a named
    one must answer."""

    private_ok = True
