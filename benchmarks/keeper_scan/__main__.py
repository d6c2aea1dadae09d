"""`python -m benchmarks.keeper_scan [--sizes 100,1000,10000] [--repeats 3] [--out FILE]`:
see benchmarks/keeper_scan/__init__.py."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

SNAPSHOT = Path(__file__).with_name("snapshot.json")
DEFAULT_SIZES = "100,1000,10000"
GOAL_RATIO = 20.0  # issue 10: the batched scan >= 20x faster than naive reads ...
GOAL_SECONDS = 2.0  # ... and under 2 s at 10,000 borrowers
GOAL_SECONDS_AT = 10_000
GOAL_SHARE = 0.99  # >= 99 % of unhealthy positions liquidated in the first block after a shock
MAINNET_BLOCK_GAS = 36_000_000


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    except ValueError:
        raise click.BadParameter(f"{text!r}: comma-separated borrower counts") from None
    if not sizes or sizes[0] < 1:
        raise click.BadParameter("at least one size, every size >= 1")
    return sizes


def measure(
    sizes: list[int],
    repeats: int,
    shock_test: bool = True,
    clear_limit: int = 100,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The whole benchmark on a private anvil: the results as written to the snapshot. `say`
    gets a line at each step (progress; a full run takes tens of minutes)."""
    from ape import chain, networks

    from benchmarks.keeper_scan.anvil import private_anvil
    from benchmarks.keeper_scan.book import BLOCK_GAS_LIMIT, deploy, open_borrowers
    from benchmarks.keeper_scan.scan import measure_scans, profile_batched
    from benchmarks.keeper_scan.shock import run_shock, shock

    started = time.monotonic()
    out: dict[str, Any] = {"sizes": {}}
    with (
        private_anvil(BLOCK_GAS_LIMIT),
        networks.parse_network_choice("ethereum:local:foundry"),
    ):
        bench = deploy(max(sizes))
        out["deploy_seconds"] = round(time.monotonic() - started, 2)
        say(f"deployed in {out['deploy_seconds']:.1f} s")
        for size in sizes:
            setup = open_borrowers(bench, size)
            say(f"{size:,} borrowers open ({setup:.1f} s)")
            before = chain.snapshot()
            try:
                shock_block = shock(bench)
                scans = measure_scans(bench, repeats)
                profile = profile_batched(bench)
                unhealthy = scans["batched"].unhealthy
                say(f"{size:,} borrowers scanned: {len(unhealthy):,} unhealthy")
                shocks = run_shock(bench, shock_block, unhealthy, clear_limit) if shock_test else []
                say(f"{size:,} borrowers: shock test done")
            finally:
                chain.restore(before)
            out["sizes"][str(size)] = _size_record(size, setup, scans, shocks, profile)
    out["total_seconds"] = round(time.monotonic() - started, 1)
    out["repeats"] = repeats
    out["clear_limit"] = clear_limit
    out["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    return out


def _size_record(
    size: int, setup: float, scans: dict, shocks: list, profile: dict[str, float]
) -> dict[str, Any]:
    batched = scans["batched"]
    record: dict[str, Any] = {
        "borrowers": size,
        "setup_seconds": round(setup, 2),
        "unhealthy_after_shock": len(batched.unhealthy),
        "scans": {
            name: {
                "seconds": round(r.seconds, 4),
                "runs": [round(t, 4) for t in r.runs],
                "rpc_requests": r.rpc_requests,
                "rpc_by_method": r.rpc_by_method,
            }
            for name, r in scans.items()
        },
        "batched_profile_seconds": {k: round(v, 3) for k, v in profile.items()},
        "speedup": {
            name: round(r.seconds / batched.seconds, 1)
            for name, r in scans.items()
            if name != "batched"
        },
        "shock": {
            s.sender: {
                "share_first_block": round(s.share, 4),
                "liquidated_first_block": s.liquidated_first_block,
                "pool_at_first_block": s.pool_at_first_block,
                "first_block_gas": s.first_block_gas,
                "first_block_mainnet_blocks": round(s.first_block_gas / MAINNET_BLOCK_GAS, 2),
                "seconds_to_first_block": round(s.seconds_to_first_block, 2),
                "liquidated_total": s.liquidated_total,
                "blocks_to_clear": s.blocks_to_clear,
                "seconds_total": None if s.seconds_total is None else round(s.seconds_total, 2),
            }
            for s in shocks
        },
    }
    return record


def _profile_table(results: dict[str, Any]) -> Table:
    table = Table(title="Where the batched scan's time goes (one run under cProfile)")
    table.add_column("borrowers", justify="right")
    parts = list(next(iter(results["sizes"].values()))["batched_profile_seconds"])
    for part in parts:
        table.add_column(part, justify="right")
    for size, r in results["sizes"].items():
        profile = r["batched_profile_seconds"]
        total = profile[parts[0]]
        cells = [f"{profile[parts[0]]:.2f} s"]
        cells += [f"{profile[p]:.2f} s ({profile[p] / total:.0%})" for p in parts[1:]]
        table.add_row(f"{int(size):,}", *cells)
    return table


def _scan_table(results: dict[str, Any]) -> Table:
    table = Table(title="Keeper scan: which borrowers are unhealthy, one block, three ways")
    for column in ("borrowers", "setup s", "unhealthy", "method", "median s", "RPC", "× batched"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for size, r in results["sizes"].items():
        for i, (name, scan) in enumerate(r["scans"].items()):
            first = i == 0
            table.add_row(
                f"{int(size):,}" if first else "",
                f"{r['setup_seconds']:.1f}" if first else "",
                f"{r['unhealthy_after_shock']:,}" if first else "",
                name,
                f"{scan['seconds']:.3f}",
                f"{scan['rpc_requests']:,}",
                "1" if name == "batched" else f"{r['speedup'][name]:.1f}×",
            )
    return table


def _shock_table(results: dict[str, Any]) -> Table:
    table = Table(title="Shock: tbill -25 %; share of unhealthy positions liquidated in block S+1")
    columns = (
        "borrowers", "sender", "unhealthy", "in S+1", "share", "pool at S+1", "S+1 gas",
        "s to S+1", "cleared", "blocks", "s total",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "sender" else "right")
    for size, r in results["sizes"].items():
        for i, (sender, s) in enumerate(r["shock"].items()):
            table.add_row(
                f"{int(size):,}" if i == 0 else "",
                sender,
                f"{r['unhealthy_after_shock']:,}",
                f"{s['liquidated_first_block']:,}",
                f"{s['share_first_block']:.2%}",
                f"{s['pool_at_first_block']:,}",
                f"{s['first_block_gas']:,} ({s['first_block_mainnet_blocks']:.2f})",
                f"{s['seconds_to_first_block']:.1f}",
                f"{s['liquidated_total']:,}",
                "stopped" if s["blocks_to_clear"] is None else f"{s['blocks_to_clear']:,}",
                "" if s["seconds_total"] is None else f"{s['seconds_total']:.1f}",
            )
    return table


def _verdicts(results: dict[str, Any]) -> list[str]:
    lines = []
    for size, r in results["sizes"].items():
        batched = r["scans"]["batched"]["seconds"]
        for name, ratio in r["speedup"].items():
            verdict = "meets" if ratio >= GOAL_RATIO else "misses"
            lines.append(
                f"{int(size):,} borrowers: batched {batched:.3f} s, {ratio:.1f}× faster than "
                f"{name} ({verdict} the goal >= {GOAL_RATIO:.0f}×)"
            )
        if int(size) == GOAL_SECONDS_AT:
            verdict = "meets" if batched < GOAL_SECONDS else "misses"
            lines.append(
                f"{int(size):,} borrowers: batched scan {batched:.3f} s "
                f"({verdict} the goal < {GOAL_SECONDS:.0f} s)"
            )
        for sender, s in r["shock"].items():
            verdict = "meets" if s["share_first_block"] >= GOAL_SHARE else "misses"
            lines.append(
                f"{int(size):,} borrowers, {sender}: {s['share_first_block']:.2%} of "
                f"{r['unhealthy_after_shock']:,} unhealthy liquidated in the first block "
                f"({verdict} the goal >= {GOAL_SHARE:.0%})"
            )
    return lines


@click.command()
@click.option("--sizes", default=DEFAULT_SIZES, show_default=True, help="Borrower counts.")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1), help="Scans.")
@click.option("--no-shock", is_flag=True, help="Measure the scans only.")
@click.option(
    "--clear-limit",
    default=100,
    show_default=True,
    type=click.IntRange(0),
    help="Above this many unhealthy positions the keeper as built is stopped after block S+1.",
)
@click.option("--out", type=click.Path(path_type=Path), default=SNAPSHOT, show_default=True)
def main(sizes: str, repeats: int, no_shock: bool, clear_limit: int, out: Path) -> None:
    console = Console(width=None if sys.stdout.isatty() else 160)
    progress = Console(stderr=True)
    started = time.monotonic()

    def say(line: str) -> None:
        progress.print(f"[{time.monotonic() - started:7.1f} s] {line}")

    results = measure(
        _sizes(sizes), repeats, shock_test=not no_shock, clear_limit=clear_limit, say=say
    )
    console.print(_scan_table(results))
    console.print(_profile_table(results))
    if not no_shock:
        console.print(_shock_table(results))
    for line in _verdicts(results):
        console.print(line)
    console.print(
        f"deploy {results['deploy_seconds']:.1f} s; whole run {results['total_seconds']:.1f} s"
    )
    out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"results written to {out}")


if __name__ == "__main__":
    main()
