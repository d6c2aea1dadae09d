"""`ape run demo`: Ballast doing its job, on a private anvil, in a few minutes.

    ape run demo --network ethereum:local:foundry [--seed 7] [--weeks 8] [--out out/demo]

Deploys the whole system (deployments/config/local.yaml with demo timings), seeds depositors,
borrowers, two agents, two keepers and a settler keeper (it strikes, and claims through the vault's
ClaimRelay for the depositors that made the relay their operator), then plays
`ballast.demo.scenario` day by day: yields drift, the T-bill issuer pauses redemptions while
redemptions queue, the settler is down for a day (a depositor strikes), gold crashes, the risk
steward tightens gold's LTV within its bounds the same hour and the DAO's larger cut follows weeks
later, the guardian pauses automation. The keepers, the steward and the strategist agent are the
real keeper jobs. At the end it prints a report and writes PNG charts to the output folder, whose
path it prints.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import click
from ape import chain
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ballast.cli import PrivateNodeCommand, make_console
from ballast.demo.scenario import MAX_WEEKS, MIN_WEEKS, plan
from keepers.logs import configure_logging

console = make_console()


@click.command(cls=PrivateNodeCommand, short_help="Play the Ballast market scenario")
@click.option("--seed", default=7, show_default=True, help="Seed of the price paths and actors.")
@click.option("--weeks", default=8, show_default=True, type=click.IntRange(MIN_WEEKS, MAX_WEEKS),
              help="Simulated weeks.")  # fmt: skip
@click.option(
    "--out",
    "out_dir",
    default="out/demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report and charts folder.",
)
def cli(network, seed: int, weeks: int, out_dir: Path):
    """Play the Ballast market scenario on a private local node: depositors, borrowers, agents,
    keepers, a gold crash, a DAO vote and a guardian pause; write the report and charts to
    --out. Local chains only (it moves time and impersonates accounts)."""
    # Heavy imports here, not at the top: `ape run <any script>` imports every script.
    from keepers.multicall import LOCAL_CHAIN_IDS

    if chain.chain_id not in LOCAL_CHAIN_IDS:
        raise click.ClickException(
            f"the demo moves time and impersonates accounts: it runs on a local chain only "
            f"(this is chain {chain.chain_id})"
        )
    from ape.logging import logger

    from ballast.demo.charts import write_charts
    from ballast.demo.report import render_report
    from ballast.demo.world import World

    logger.set_level("WARNING")  # not a "Confirmed …" line per transaction
    configure_logging(level=logging.ERROR)  # the keepers' alerts go into the report instead
    started = time.monotonic()
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    scenario = plan(seed, weeks)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(), console=console, transient=False,
    ) as progress:  # fmt: skip
        task = progress.add_task("setting up", total=scenario.days, note="")
        world = World(scenario, out_dir, say=lambda text: progress.console.print(text))

        def on_day(day: int) -> None:
            last = world.record.days[-1]
            note = (f"day {day}/{scenario.days}  share price {last.share_price:.4f}  strikes "
                    f"{last.strikes}  queue {last.pending_redemptions:,.0f} shares")  # fmt: skip
            progress.update(task, completed=day, note=note)

        try:
            world.setup()
            progress.update(task, description="playing")
            world.play(on_day)
        except BaseException:
            with contextlib.suppress(Exception):  # the node may be what failed
                world.release_clock()  # a node of your own keeps its wall clock after a failure
            raise
    record = world.finish()
    record.wall_seconds = time.monotonic() - started
    console.print(render_report(record))
    charts = write_charts(record, out_dir)
    console.print(f"charts: {', '.join(p.name for p in charts)} in {out_dir}")
    console.print(
        f"keeper state files and rationale documents: {world.state_dir} (this run's private "
        "anvil stopped with it: `ballast-keeper verify-decision` needs a node that still has the "
        "chain, e.g. the demo played against your own anvil with APE_FOUNDRY_HOST)"
    )
