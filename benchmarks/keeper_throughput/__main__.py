"""`python -m benchmarks.keeper_throughput [--borrowers 1000] [--out FILE]`: see
benchmarks/keeper_throughput/__init__.py."""

from __future__ import annotations

import json
import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

SNAPSHOT = Path(__file__).with_name("snapshot.json")
BLOCK_GAS = 30_000_000  # anvil's default block gas limit, set explicitly for the pass
MARKDOWN_BPS = 4_500  # tbill marked down 45 %: every position of the population unhealthy
LIQUIDATED = "Liquidated(address,address,address,uint256,uint256)"


def _send(node: Any, sender: str, to: str, data: bytes) -> None:
    """A raw transaction with explicit gas (Ape sizes its own to the setup's larger limit)."""
    tx = {"from": sender, "to": to, "data": "0x" + bytes(data).hex(), "gas": hex(1_000_000)}
    tx_hash = node.call("eth_sendTransaction", tx)
    deadline = time.monotonic() + 60
    while (receipt := node.call("eth_getTransactionReceipt", tx_hash)) is None:
        if time.monotonic() > deadline:  # automine: the receipt comes with the answer
            raise RuntimeError(f"setup transaction {tx_hash} to {to} was not mined")
        time.sleep(0.05)
    if int(receipt["status"], 16) != 1:
        raise RuntimeError(f"setup transaction {tx_hash} to {to} reverted")


def clear_book(
    bench: Any, block_gas: int = BLOCK_GAS, say: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """On the connected node, with `bench`'s borrowers open: deploys the executor, has the
    keeper approve it, sets the block gas limit to `block_gas` (from a block before the
    shock), shocks, runs one liquidator pass and counts (see the package docstring). Raises
    unless every unhealthy position is liquidated exactly once and no healthy one."""
    from ape import accounts, project
    from eth_utils import keccak, to_checksum_address

    from keepers.config import load_settings
    from keepers.multicall import Multicall
    from keepers.reads import read_book
    from keepers.shell import Keeper
    from keepers.store import Store

    node, lending = bench.node, bench.lending
    governance = accounts.test_accounts[0]
    executor = governance.deploy(project.LiquidationExecutor, lending.book)
    keeper_address = str(bench.keeper.address)
    approve = lending.asset.approve.encode_input(executor.address, 2**256 - 1)
    _send(node, keeper_address, str(lending.asset.address), approve)
    node.set_block_gas_limit(block_gas)
    node.mine_one()  # from here on every block has `block_gas`
    feed = lending.feed("tbill")
    answer = int(feed.latestAnswer()) * (10_000 - MARKDOWN_BPS) // 10_000
    governor = str(lending.vs.governance.address)
    _send(node, governor, str(feed.address), feed.setAnswer.encode_input(answer))
    shock = int(node.call("eth_blockNumber"), 16)
    asset = str(lending.asset.address)
    read = read_book(Multicall(), bench.protocol, bench.borrowers, asset, unhealthy_only=True)
    unhealthy = {v.address for v in read.borrowers}
    say(f"shock in block {shock}: {len(unhealthy):,} unhealthy")

    settings = load_settings(liquidator={"executor": str(executor.address)})
    with (
        tempfile.TemporaryDirectory(prefix="keeper-throughput-") as state,
        Store(Path(state) / "keeper.sqlite") as store,
    ):
        keeper = Keeper(bench.protocol, store, bench.keeper, settings)
        t0 = time.monotonic()
        report = keeper.run("liquidator")
        seconds = time.monotonic() - t0
    head = int(node.call("eth_blockNumber"), 16)
    logs = node.call(
        "eth_getLogs",
        {
            "address": str(lending.book.address),
            "topics": ["0x" + keccak(text=LIQUIDATED).hex()],
            "fromBlock": hex(shock + 1),
            "toBlock": hex(head),
        },
    )
    by_block: dict[int, list[str]] = {}
    for log in logs:
        borrower = to_checksum_address("0x" + log["topics"][1][-40:])
        by_block.setdefault(int(log["blockNumber"], 16), []).append(borrower)
    liquidated = [b for n in sorted(by_block) for b in by_block[n]]
    if sorted(liquidated) != sorted(unhealthy):
        raise RuntimeError("the liquidated set is not the unhealthy set, each once")
    blocks = []
    for n in range(shock + 1, head + 1):
        block = node.call("eth_getBlockByNumber", hex(n), True)
        blocks.append(
            {
                "block": n,
                "liquidations": len(by_block.get(n, [])),
                "gas_used": int(block["gasUsed"], 16),
                "gas_declared": sum(int(t["gas"], 16) for t in block["transactions"]),
                "transactions": len(block["transactions"]),
            }
        )
    with_liquidations = [b for b in blocks if b["liquidations"]]
    used = sum(b["gas_used"] for b in with_liquidations)
    declared = sum(b["gas_declared"] for b in with_liquidations)
    first = blocks[0]
    return {
        "borrowers": len(bench.borrowers),
        "block_gas_limit": block_gas,
        "markdown_bps": MARKDOWN_BPS,
        "shock_block": shock,
        "unhealthy": len(unhealthy),
        "liquidated": len(liquidated),
        "outcomes": {o: report.count(o) for o in sorted({a.outcome for a in report.actions})},
        "blocks": blocks,
        "first_block_liquidations": first["liquidations"],
        "first_block_gas_used": first["gas_used"],
        "first_block_gas_declared": first["gas_declared"],
        "blocks_to_clear": max(by_block) - shock,
        "total_gas_used": used,
        "total_gas_declared": declared,
        "bound_blocks": math.ceil(used / block_gas) + 1,
        "min_blocks_declared": math.ceil(declared / block_gas),
        "gas_used_per_liquidation": used // len(liquidated),
        "pass_seconds": round(seconds, 2),
    }


def measure(borrowers: int, say: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The whole benchmark on a private anvil; the results as written to the snapshot."""
    from ape import networks

    from benchmarks.keeper_scan.anvil import private_anvil
    from benchmarks.keeper_scan.book import BLOCK_GAS_LIMIT, deploy, open_borrowers

    started = time.monotonic()
    with (
        private_anvil(BLOCK_GAS_LIMIT),
        networks.parse_network_choice("ethereum:local:foundry"),
    ):
        bench = deploy(borrowers)
        setup = open_borrowers(bench, borrowers)
        say(f"{borrowers:,} borrowers open ({setup:.1f} s)")
        out = clear_book(bench, BLOCK_GAS, say)
    out.update(
        {
            "setup_seconds": round(setup, 1),
            "total_seconds": round(time.monotonic() - started, 1),
            "machine": platform.machine(),
            "python": platform.python_version(),
        }
    )
    return out


def _table(r: dict[str, Any]) -> Table:
    table = Table(title=f"Clearing {r['unhealthy']:,} unhealthy positions "
                  f"(block gas limit {r['block_gas_limit']:,})")  # fmt: skip
    for col in ("block", "liquidations", "gas used", "gas declared", "txs"):
        table.add_column(col, justify="right")
    for b in r["blocks"]:
        table.add_row(str(b["block"]), f"{b['liquidations']:,}", f"{b['gas_used']:,}",
                      f"{b['gas_declared']:,}", str(b["transactions"]))  # fmt: skip
    return table


@click.command()
@click.option("--borrowers", default=1_000, show_default=True, type=click.IntRange(1, 20_000))
@click.option("--out", type=click.Path(path_type=Path), default=SNAPSHOT, show_default=True)
def main(borrowers: int, out: Path) -> None:
    console = Console(width=None if sys.stdout.isatty() else 160)
    progress = Console(stderr=True)
    started = time.monotonic()

    def say(line: str) -> None:
        progress.print(f"[{time.monotonic() - started:7.1f} s] {line}")

    r = measure(borrowers, say)
    console.print(_table(r))
    verdict = "met" if r["blocks_to_clear"] <= r["bound_blocks"] else "NOT met"
    console.print(
        f"{r['liquidated']:,} liquidated in {r['blocks_to_clear']} blocks; bound "
        f"⌈{r['total_gas_used']:,} / {r['block_gas_limit']:,}⌉ + 1 = {r['bound_blocks']}: "
        f"{verdict}; first block {r['first_block_liquidations']:,} liquidations; "
        f"pass {r['pass_seconds']:.1f} s"
    )
    out.write_text(json.dumps(r, indent=2) + "\n")
    console.print(f"results written to {out}")
    if verdict != "met":
        sys.exit(1)


if __name__ == "__main__":
    main()
