"""`python -m benchmarks.gas.profile [--sleeves K] [--only TEXT]`: where each measured vault
operation's gas goes.

Runs the vault scenario of benchmarks/gas/measure.py (the same deployment, the same steps) and
traces every measured transaction with anvil's `debug_traceTransaction`, then prints per
operation: the intrinsic cost (21,000 + calldata), storage writes and reads (by contract and slot,
cold or warm: a zero-to-nonzero write is 20,000 + the 2,100 cold read), external calls (2,600
for a cold account), logs, and the rest (computation, memory). Refunds (a slot cleared) are shown
apart: `gas_used` is after them. A tool for finding what to cut, not a snapshot.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import click
from rich.console import Console
from rich.table import Table

CALLS = {"CALL", "STATICCALL", "DELEGATECALL", "CALLCODE"}


@dataclass
class Profile:
    name: str
    gas_used: int
    intrinsic: int
    # (op, contract, slot, gas) and (op, target, access gas)
    storage: list[tuple[str, str, str, int]] = field(default_factory=list)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    logs: int = 0
    other: int = 0
    refund: int = 0


def _intrinsic(data: bytes) -> int:
    zeros = data.count(0)
    return 21_000 + 4 * zeros + 16 * (len(data) - zeros)


def _label(address: str, names: dict[str, str]) -> str:
    return names.get(address.lower(), address[:10])


def profile_tx(name: str, tx_hash: str, names: dict[str, str]) -> Profile:
    from ape import chain

    provider = chain.provider
    tx = provider.make_request("eth_getTransactionByHash", [tx_hash])
    receipt = provider.make_request("eth_getTransactionReceipt", [tx_hash])
    trace = provider.make_request(
        "debug_traceTransaction",
        [tx_hash, {"disableMemory": True, "disableStorage": True, "disableStack": False}],
    )
    data = bytes.fromhex(tx["input"][2:])
    gas_used = int(receipt["gasUsed"], 16)
    prof = Profile(name, gas_used, _intrinsic(data))
    frames = [tx["to"]]  # the storage context per depth (DELEGATECALL keeps the caller's)
    logs = trace["structLogs"]
    for i, step in enumerate(logs):
        op, cost, depth = step["op"], step["gasCost"], step["depth"]
        del frames[depth:]
        stack = step.get("stack") or []
        if op in ("SLOAD", "SSTORE"):
            slot = stack[-1][-8:] if stack else "?"
            prof.storage.append((op, _label(frames[depth - 1], names), slot, cost))
        elif op in CALLS:
            target = f"0x{int(stack[-2], 16):040x}" if len(stack) >= 2 else "?"
            # The call's own access cost: what it charged beyond the gas it forwarded.
            nxt = logs[i + 1] if i + 1 < len(logs) else None
            if nxt is not None and nxt["depth"] == depth + 1:
                access = cost - nxt["gas"]
                frames.append(frames[depth - 1] if op == "DELEGATECALL" else target)
            else:
                access = cost
            prof.calls.append((op, _label(target, names), access))
        elif op.startswith("LOG"):
            prof.logs += cost
        else:
            prof.other += cost
    executed = sum(s[3] for s in prof.storage) + sum(c[2] for c in prof.calls)
    executed += prof.logs + prof.other
    prof.refund = max(0, prof.intrinsic + executed - gas_used)
    return prof


def _print(console: Console, prof: Profile) -> None:
    table = Table(title=f"{prof.name}: {prof.gas_used:,} gas")
    table.add_column("what")
    table.add_column("gas", justify="right")
    table.add_row("intrinsic (21,000 + calldata)", f"{prof.intrinsic:,}")
    grouped: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for op, contract, slot, gas in prof.storage:
        grouped[(op, contract, slot)].append(gas)
    for (op, contract, slot), costs in sorted(grouped.items(), key=lambda kv: -sum(kv[1])):
        if sum(costs) >= 2_000:
            parts = "+".join(map(str, costs))
            table.add_row(f"{op} {contract} ..{slot} ({parts})", f"{sum(costs):,}")
    small = sum(sum(c) for k, c in grouped.items() if sum(c) < 2_000)
    table.add_row("other storage reads/writes (warm)", f"{small:,}")
    for op, target, access in prof.calls:
        table.add_row(f"{op} {target} (access)", f"{access:,}")
    table.add_row("logs", f"{prof.logs:,}")
    table.add_row("computation, memory", f"{prof.other:,}")
    table.add_row("refund", f"-{prof.refund:,}")
    counts = Counter(op for op, *_ in prof.storage)
    table.add_row(f"({counts['SLOAD']} SLOAD, {counts['SSTORE']} SSTORE)", "")
    console.print(table)


@click.command()
@click.option("--sleeves", default=0, show_default=True, help="The vault's RWA sleeves.")
@click.option("--only", default="", help="Profile only operations whose name contains this.")
def main(sleeves: int, only: str) -> None:
    from pathlib import Path

    from ape import networks

    from ballast.config import DeployConfig
    from benchmarks.gas import measure

    console = Console(width=160)
    base = DeployConfig.load(Path("deployments/config/local.yaml"))
    profiles: list[Profile] = []
    original = measure.Measured

    class Traced(original):
        @classmethod
        def of(cls, name: str, tx) -> measure.Measured:
            if only in name:
                profiles.append(profile_tx(name, tx.txn_hash, {}))
            return original.of(name, tx)

    with networks.parse_network_choice("ethereum:local:foundry"):
        measure.Measured = Traced  # type: ignore[misc]
        try:
            measure.measure_vault(base, sleeves)
        finally:
            measure.Measured = original  # type: ignore[misc]
    for prof in profiles:
        _print(console, prof)


if __name__ == "__main__":
    main()
