"""`ballast-keeper`: run keeper jobs once, watch the system, verify decisions.

    ballast-keeper [OPTIONS] once --job liquidator [--job evaluator ...]
    ballast-keeper [OPTIONS] status [--json] [--watch SECONDS]
    ballast-keeper [OPTIONS] verify-decision ID [--replay]
    ballast-keeper [OPTIONS] verify-steward RATIONALE_HASH [--replay] [--document FILE]

Options apply to every command and go before or after it: `--network` (an Ape network choice,
default `ethereum:local:foundry`; export APE_FOUNDRY_HOST to reach a running anvil), `--config`
(a YAML file of `KeeperSettings`), `--account` (an Ape account alias; its keystore is unlocked from
APE_ACCOUNTS_<alias>_PASSPHRASE), `--manifest`, `--state-dir`, `--dry-run`, `--log-json`,
`--metrics-port`. Run it from the project folder (Ape loads the compiled contracts from there).

Exit status: 0 done; 1 the keeper could not start or the input is bad (one line on stderr; a
decision id or rationale hash with no event on chain is bad input), or `status` could not read
the chain (one line, no document printed); 2 a usage error (one line: an unknown option, a
value of the wrong type, an unknown job); 3 (`once`) an action ended reverted, refused, replaced
or stuck; 4 (`verify-decision`, `verify-steward`) the document is missing or does not
match (with --replay: or it is not a replay receipt, the replay
decides otherwise, the node cannot serve or disagrees with its chain inputs, or the decision's
transaction sent other targets, each named), (`steward-moves`) a steward move carries no
rationale hash (a `stewardSet`); 5 (`once`) a pass
failed on a node error (unreachable, timed out, an RPC error: one line on stderr per pass; the
other jobs still run, and the next run resumes from the state file); 6 (`once`) a job could not
act for lack of funds — the key cannot pay the gas, or the liquidator's stablecoin inventory
cannot repay a profitable liquidation (one warning line per job and asset). When several apply:
5, then 6, then 3.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ballast.cli import OneLineUsage, make_console
from keepers.cli_common import Fail, connected, keeper_for, one_line
from keepers.cli_verify import (
    steward_moves_command,
    verify_decision_command,
    verify_steward_command,
)
from keepers.config import JOB_ALIASES, JOBS, ConfigError, job_name, load_settings
from keepers.funding import UNFUNDED_EXIT
from keepers.shell.reports import FAILED_OUTCOMES

__all__ = ["main"]

PASS_FAILED = 5


EXIT_CODES = (
    "Exit status: 0 done; 1 bad input, the keeper cannot start, or (status) the chain cannot be "
    "read; 2 a usage error; 3 (once) an "
    "action reverted, was refused, replaced or stuck; 4 (verify-decision, verify-steward) no "
    "match, (steward-moves) a steward move without a rationale; 5 (once) a pass failed on a "
    f"node error; {UNFUNDED_EXIT} (once) a job could not act for lack of funds (gas coin or "
    "stablecoin inventory). When several apply: 5, then 6, then 3."
)


class _OptionsAnywhere(OneLineUsage, click.Group):
    """A group whose own options may also follow the subcommand (`ballast-keeper once --job x
    --account k` as well as `ballast-keeper --account k once --job x`), like the `ape run`
    scripts: they are moved in front of the subcommand before parsing. Usage errors, its own and
    its commands', are one line (`OneLineUsage`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value, flags = set(), set()
        for param in self.params:
            if isinstance(param, click.Option):
                names = {*param.opts, *param.secondary_opts}
                (flags if param.is_flag else takes_value).update(names)
        names = takes_value | flags
        command_at = next(
            (
                i
                for i, a in enumerate(args)
                if a in self.commands and _is_command_position(args, i, takes_value)
            ),
            None,
        )
        if command_at is None:
            return super().parse_args(ctx, args)
        head, tail, moved = args[:command_at], [], []
        rest = args[command_at:]
        i = 0
        while i < len(rest):
            arg = rest[i]
            if arg == "--":  # everything after it belongs to the subcommand
                tail.extend(rest[i:])
                break
            name = arg.split("=", 1)[0]
            if name in names and name not in ("-h", "--help"):
                moved.append(arg)
                if name in takes_value and "=" not in arg and i + 1 < len(rest):
                    moved.append(rest[i + 1])
                    i += 1
            else:
                tail.append(arg)
            i += 1
        return super().parse_args(ctx, [*head, *moved, *tail])


def _is_command_position(args: list[str], i: int, takes_value: set[str]) -> bool:
    """Whether args[i] is the subcommand, not the value of the group option before it."""
    return i == 0 or args[i - 1] not in takes_value


@click.group(
    cls=_OptionsAnywhere, context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES,
)  # fmt: skip
@click.option("--network", default="ethereum:local:foundry", show_default=True,
              help="Ape network choice (ecosystem:network:provider).")  # fmt: skip
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help="YAML file of keeper settings.")  # fmt: skip
@click.option("--account", help="Ape account alias (none: read only, dry run).")
@click.option("--manifest", type=click.Path(path_type=Path), help="Deployment manifest.")
@click.option("--state-dir", type=click.Path(path_type=Path), help="Keeper state folder.")
@click.option("--dry-run/--no-dry-run", default=None, help="Plan and simulate; never send.")
@click.option("--log-json/--no-log-json", default=None, help="JSON log lines on stderr.")
@click.option("--metrics-port", type=int, help="Serve Prometheus metrics on this port.")
@click.option("-v", "--verbose", is_flag=True, help="Log every action (INFO) on stderr.")
@click.pass_context
def main(
    ctx: click.Context, network: str, config_path: Path | None, verbose: bool, **options: Any
) -> None:
    """Ballast keeper: liquidations, evaluations, redemptions, sentinel and rebalancing."""
    try:
        settings = load_settings(config_path, **options)
    except ConfigError as err:
        raise Fail(str(err)) from None
    ctx.obj = {"settings": settings, "network": network, "verbose": verbose}


def _known_jobs(_ctx: click.Context, _param: click.Parameter, jobs: tuple[str, ...]) -> Any:
    """`--job` values: a job name or a deprecated alias; another is a usage error, one line naming
    the jobs, exit 2 (like a value click refuses, e.g. `params vote ID maybe`). A job given twice
    (or by its name and its alias) runs once, where it was first given: `--job` names the set of
    jobs to run (a list merged from two sources must not double a job's actions, alerts and
    report)."""
    unknown = [j for j in jobs if j not in JOBS and j not in JOB_ALIASES]
    if unknown:
        raise click.BadParameter(f"unknown job {unknown[0]!r}; jobs are {', '.join(JOBS)}")
    first: dict[str, str] = {}
    for job in jobs:
        first.setdefault(job_name(job), job)
    return tuple(first.values())


def _actions_table(reports: list[Any]) -> Table:
    table = Table(title="actions", title_justify="left")
    for column in ("job", "call", "outcome", "tx", "detail"):
        table.add_column(column, overflow="fold")
    for report in reports:
        for a in report.actions:
            table.add_row(report.job, a.call, a.outcome, a.tx_hash or "", a.detail)
    return table


@main.command()
@click.option("--job", "jobs", multiple=True, required=True, metavar="JOB",
              callback=_known_jobs,
              help=f"Job to run (repeatable): {', '.join(JOBS)} (`redeemer`: deprecated, "
                   "runs `settler`).")  # fmt: skip
@click.option("--show-skips", default=10, show_default=True, type=click.IntRange(min=0),
              help="Skips listed per job.")  # fmt: skip
@click.pass_context
def once(ctx: click.Context, jobs: tuple[str, ...], show_skips: int) -> None:
    """One pass of each JOB, then exit (for cron and debugging).

    Exits 3 when an action reverted, was refused, replaced or stuck; 5 when a pass failed on a
    node error; 6 when a job could not act for lack of funds (the key's gas coin, or the
    liquidator's stablecoin inventory: one warning line per job and asset)."""
    from keepers.runtime import StartupError, check_strategy
    from keepers.shell import KeeperError

    console = make_console()
    with connected(ctx.obj["network"]):
        keeper = keeper_for(ctx, serve_metrics=True)
        ctx.call_on_close(keeper.store.close)  # and the state's process lock (in-process runs)
        try:
            check_strategy(keeper, jobs)  # an operator's strategy the keeper could never send
        except StartupError as err:
            raise Fail(str(err)) from None
        reports = []
        failed_passes = []
        for job in jobs:
            if job in JOB_ALIASES:
                click.echo(
                    f"warning: job {job!r} is deprecated; running {job_name(job)!r}", err=True
                )
            try:
                report = keeper.run(job)
            except KeeperError as err:
                raise Fail(f"{job}: {err}") from None
            except Exception as err:  # noqa: BLE001 - a node error: the next run resumes
                click.echo(f"Error: {job} pass failed: {one_line(err)}", err=True)
                failed_passes.append(job)
                continue
            reports.append(report)
            mode = " (dry run)" if report.dry_run else ""
            console.print(f"[bold]{report.summary()}[/bold]{mode} in {report.seconds:.2f}s")
            for note in report.notes:
                console.print(f"  {note}", markup=False)
            for skip in report.skipped[:show_skips]:
                console.print(f"  skip: {skip}", markup=False)
            if len(report.skipped) > show_skips:
                console.print(f"  … and {len(report.skipped) - show_skips} more skips")
            for alert in report.alerts:
                console.print(f"  [{alert.severity}] {alert.code} {alert.subject}: "
                              f"{alert.message}", markup=False)  # fmt: skip
        if any(r.actions for r in reports):
            console.print(_actions_table(reports))
    if failed_passes:
        sys.exit(PASS_FAILED)
    if any(r.shortfalls for r in reports):  # each warned of on stderr by the pass's log
        sys.exit(UNFUNDED_EXIT)
    if any(a.outcome in FAILED_OUTCOMES for r in reports for a in r.actions):
        sys.exit(3)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document (ballast.status/1).")
@click.option("--watch", type=click.FloatRange(min=1.0), metavar="SECONDS",
              help="Redraw every SECONDS until interrupted.")  # fmt: skip
@click.option("--times", type=click.IntRange(min=1), hidden=True,
              help="With --watch: stop after this many refreshes (scripts, tests).")  # fmt: skip
@click.pass_context
def status(ctx: click.Context, as_json: bool, watch: float | None, times: int | None) -> None:
    """A dashboard of the vault, book, requests, strikes, agents, slashes and this keeper's
    actions (--json: one document; --watch: redrawn until Ctrl-C)."""
    from keepers.dashboard import collect_status, render_status
    from keepers.dashboard_json import status_json
    from keepers.multicall import MulticallError

    console = make_console()
    with connected(ctx.obj["network"]):
        keeper = keeper_for(ctx)
        shown = 0
        # Ape's import makes SIGINT exit 130 at once (`sys.exit(130)`), which would skip the
        # `except KeyboardInterrupt` below: while watching, Ctrl-C is Python's own again.
        previous = signal.getsignal(signal.SIGINT)
        if watch is not None:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            while True:
                try:
                    current = collect_status(keeper)
                except MulticallError as err:
                    raise Fail(str(err)) from None
                except Exception as err:  # noqa: BLE001 - a node error outside the batches
                    # (the log scans, the head, the balances): one line, and no document
                    raise Fail(f"status: cannot read the chain: {one_line(err)}") from None
                if watch is not None and not as_json and console.is_terminal:
                    console.clear()
                if as_json:
                    click.echo(status_json(current))
                else:
                    console.print(render_status(current))
                shown += 1
                if watch is None or (times is not None and shown >= times):
                    break
                time.sleep(watch)
        except KeyboardInterrupt:
            pass  # --watch ends with Ctrl-C: not an error
        finally:
            signal.signal(signal.SIGINT, previous)


main.add_command(verify_decision_command)
main.add_command(verify_steward_command)
main.add_command(steward_moves_command)


if __name__ == "__main__":  # pragma: no cover
    main()
