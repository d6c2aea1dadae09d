"""`python -m benchmarks.gas [--check] [--snapshot PATH]`: see benchmarks/gas/__init__.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

SNAPSHOT = Path(__file__).with_name("snapshot.json")
TOLERANCE = 0.02  # a check fails on any operation more than 2 % above its snapshot
GOAL_REQUEST, GOAL_CLAIM = 70_000, 60_000  # issue goals: a request <= 70k gas, a claim <= 60k
REQUESTS = ("requestDeposit", "requestRedeem")  # every row starting so is held to GOAL_REQUEST
ENTRY = ("requestDeposit (new controller, same window)", "deposit (claim all, first shares)")
STRIKES = ("strike (deposits)", "strike (deposits, two windows a week apart)",
           "strike (redemptions)", "strike (redemptions from sleeves)")  # fmt: skip
AAVE_LIQUIDATE = 340_429  # Aave V3 Pool.liquidationCall
GOAL_LIQUIDATE = 170_000  # issue goal: a liquidation costs at most about half of Aave's
GOAL_REBALANCE_SLEEVES, GOAL_REBALANCE = 3, 300_000  # issue goal: rebalance of 3 sleeves < 300k
BARE = "BareERC4626 (OpenZeppelin 5.4)"
# The least an ERC-7540 request can cost: contracts/mocks/BareRequest.sol.
BARE_REQUEST = "BareRequest (ERC-7540 floor)"
LENDING = "LendingSleeve"
AGENTS = "AgentRegistry"
# Derived: (gas at the most sleeves - at the fewest) / the sleeves added.
PER_SLEEVE = "Strike, gas per sleeve (RWAVault)"
# Not gas: each deployed contract's runtime code, recorded for its room under EIP-170's limit
# (RWAVault sat 6 bytes under it once; its module views now return their data undecoded).
CODE_SIZE = "Runtime code, bytes"
CODE_LIMIT = 24_576  # EIP-170
# The goal rows (requests and claims) again as the call's own gas: the receipt less the 21,000
# and calldata every transaction pays (measure.Measured.call), the convention of
# `forge test --gas-report` and of the gas figures protocols quote for a function. On the vault
# with idle only: requests and claims value no sleeve, so the count does not change them.
CALL_VAULT = "Call gas, RWAVault (receipt less 21,000 + calldata)"
CALL_BARE = "Call gas, BareRequest (receipt less 21,000 + calldata)"
NOT_VAULT_COLUMNS = (LENDING, AGENTS, PER_SLEEVE, CODE_SIZE, CALL_VAULT, CALL_BARE)
DEPLOYED = ("RWAVault", "RebalanceModule", "SleeveModule", "LendingSleeve", "TokenizedRWASleeve",
            "AgentRegistry", "ParameterRegistry", "OracleRouter", "InterestRateModel",
            "LiquidationExecutor", "BallastGovernor", "BallastTimelock",
            "BallastToken")  # fmt: skip


def _measure() -> dict:
    from ape import networks

    from ballast.config import DeployConfig
    from benchmarks.gas.agents import measure_agents
    from benchmarks.gas.measure import (
        VAULT_SLEEVES,
        measure_bare,
        measure_bare_request,
        measure_lending,
        measure_vault,
    )

    base = DeployConfig.load(Path("deployments/config/local.yaml"))
    with networks.parse_network_choice("ethereum:local:foundry"):
        vaults: dict[str, dict[str, int]] = {}
        asset = None
        calls: dict[str, int] = {}
        for k in VAULT_SLEEVES:
            ops, asset = measure_vault(base, k)
            vaults[f"RWAVault, {k} sleeve{'s' if k != 1 else ''}"] = {m.name: m.gas for m in ops}
            if k == 0:
                calls = {m.name: m.call for m in ops if _goal(m.name)}
        bare = {m.name: m.gas for m in measure_bare(asset)}
        floor_ops = measure_bare_request(asset)
        floor = {m.name: m.gas for m in floor_ops}
        lending = {m.name: m.gas for m in measure_lending(base)}
        agents = measure_agents(base)
    return {BARE: bare, BARE_REQUEST: floor, **vaults, PER_SLEEVE: _per_sleeve(vaults),
            LENDING: lending, AGENTS: agents, CODE_SIZE: _code_sizes(), CALL_VAULT: calls,
            CALL_BARE: {m.name: m.call for m in floor_ops}}  # fmt: skip


def _goal(op: str) -> int | None:
    """The issue's goal for an operation: a request <= 70k, a claim <= 60k; None for others."""
    if op.startswith(REQUESTS):
        return GOAL_REQUEST
    if "(claim" in op:
        return GOAL_CLAIM
    return None


def _code_sizes() -> dict[str, int]:
    """Each deployed contract's runtime code in bytes, from the project's build."""
    from ape import project

    sizes = {}
    for name in DEPLOYED:
        code = project.get_contract(name).contract_type.runtime_bytecode.bytecode
        sizes[name] = (len(code) - 2) // 2  # a 0x-prefixed hex string
    return sizes


def _sleeves(column: str) -> int:
    """The sleeve count in a column name such as "RWAVault, 3 sleeves"."""
    return int(column.split(", ")[1].split()[0])


def _per_sleeve(vaults: dict[str, dict[str, int]]) -> dict[str, int]:
    """Each strike's cost per sleeve: the rise from the fewest sleeves it was measured with to
    the most, divided by the sleeves added (what one more sleeve costs a strike, on average)."""
    out = {}
    for op in STRIKES:
        points = [(_sleeves(c), ops[op]) for c, ops in vaults.items() if op in ops]
        (k0, g0), (k1, g1) = min(points), max(points)
        if k1 > k0:
            out[op] = round((g1 - g0) / (k1 - k0))
    return out


def _vault_table(results: dict) -> Table:
    columns = {n: ops for n, ops in results.items() if n not in NOT_VAULT_COLUMNS}
    bare = columns[BARE]
    table = Table(title="Gas per operation (bare OpenZeppelin ERC4626: the synchronous reference)")
    table.add_column("operation")
    for column in columns:
        table.add_column(column, justify="right")
    operations = list(dict.fromkeys(op for ops in columns.values() for op in ops))
    for op in operations:
        row = [op]
        for ops in columns.values():
            gas = ops.get(op)
            if gas is None:
                row.append("")
            elif op in bare and ops is not bare:
                row.append(f"{gas:,} ({gas / bare[op]:.2f}x)")
            else:
                row.append(f"{gas:,}")
        table.add_row(*row)
    return table


def _ops_table(title: str, ops: dict[str, int]) -> Table:
    table = Table(title=f"{title}: gas per operation")
    table.add_column("operation")
    table.add_column("gas", justify="right")
    for op, gas in ops.items():
        table.add_row(op, f"{gas:,}")
    return table


def _call_table(results: dict) -> Table:
    """The goal rows as a whole transaction and as the call's own gas, each against its goal."""
    vault, floor = results["RWAVault, 0 sleeves"], results[BARE_REQUEST]
    table = Table(title="Requests and claims: the transaction, and the call alone (idle only)")
    for name in ("operation", "transaction", "call", "goal", "floor: transaction", "floor: call"):
        table.add_column(name, justify="left" if name == "operation" else "right")
    for op, call in results[CALL_VAULT].items():
        goal = _goal(op) or 0
        verdicts = [f"{g:,} ({'meets' if g <= goal else 'misses'})" for g in (vault[op], call)]
        table.add_row(op, *verdicts, f"<= {goal:,}", *(
            f"{m[op]:,}" if op in m else "" for m in (floor, results[CALL_BARE])))  # fmt: skip
    return table


def _regressions(results: dict, snapshot: dict) -> list[str]:
    found = []
    for column, ops in results.items():
        if column == CODE_SIZE:
            continue  # not gas: reported against EIP-170's limit instead
        for op, gas in ops.items():
            before = snapshot.get(column, {}).get(op)
            if before is not None and gas > before * (1 + TOLERANCE):
                rise = gas / before - 1
                found.append(f"{column} / {op}: {gas:,} gas, snapshot {before:,} (+{rise:.1%})")
    return found


@click.command()
@click.option("--check", is_flag=True, help="Fail on a regression over 2 % instead of writing.")
@click.option("--snapshot", "snapshot_path", type=click.Path(path_type=Path), default=SNAPSHOT)
def main(check: bool, snapshot_path: Path) -> None:
    console = Console(width=None if sys.stdout.isatty() else 200)
    results = _measure()
    console.print(_vault_table(results))
    console.print(_ops_table(PER_SLEEVE, results[PER_SLEEVE]))
    console.print(_ops_table(LENDING, results[LENDING]))
    console.print(_ops_table(AGENTS, results[AGENTS]))
    bare = results[BARE]
    for column, ops in results.items():
        if not column.startswith("RWAVault"):
            continue
        parts = []
        for op, gas in ops.items():
            if (goal := _goal(op)) is None:
                continue
            parts.append(f"{op} {gas:,} ({'meets' if gas <= goal else 'misses'} <= {goal:,})")
        entry = sum(ops[op] for op in ENTRY)
        console.print(
            f"{column}: " + ", ".join(parts) + f"; request + claim {entry:,} vs a bare OZ "
            f"deposit {bare['deposit']:,} (the strike's cost is shared by every request it settles)"
        )
    floor = results[BARE_REQUEST]
    console.print(
        f"{BARE_REQUEST}: "
        + ", ".join(f"{op} {gas:,}" for op, gas in floor.items())
        + " (a request that only takes the assets and adds them to the controller's and the total"
        " pending)"
    )
    console.print(_call_table(results))
    for op in (*STRIKES, "rebalance"):
        previous = None
        for column, ops in results.items():
            if not column.startswith("RWAVault") or op not in ops:
                continue
            sleeves = int(column.split(", ")[1].split()[0])
            gas = ops[op]
            step = f", +{gas - previous:,} for this sleeve" if previous is not None else ""
            goal = ""
            if op == "rebalance" and sleeves == GOAL_REBALANCE_SLEEVES:
                verdict = "meets" if gas < GOAL_REBALANCE else "misses"
                goal = f" ({verdict} the goal < {GOAL_REBALANCE:,})"
            console.print(f"{op}, {sleeves} sleeve(s): {gas:,} gas{step}{goal}")
            previous = gas
    for op, gas in results[LENDING].items():
        if op.startswith("liquidate"):
            verdict = "meets" if gas <= GOAL_LIQUIDATE else "misses"
            console.print(
                f"{LENDING}: {op} {gas:,} gas = {gas / AAVE_LIQUIDATE:.2f}x Aave V3's "
                f"{AAVE_LIQUIDATE:,} ({verdict} the goal <= {GOAL_LIQUIDATE:,})"
            )
    for name, size in results[CODE_SIZE].items():
        room = CODE_LIMIT - size
        verdict = f"{room:,} under" if room >= 0 else f"{-room:,} OVER"
        console.print(
            f"{name}: {size:,} bytes of runtime code ({verdict} EIP-170's {CODE_LIMIT:,})"
        )
    if check:
        if not snapshot_path.exists():
            raise click.ClickException(f"no snapshot at {snapshot_path}: run without --check first")
        problems = _regressions(results, json.loads(snapshot_path.read_text()))
        if problems:
            raise click.ClickException("gas regression over 2 %: " + "; ".join(problems))
        console.print(f"no regression over {TOLERANCE:.0%} against {snapshot_path}")
        return
    snapshot_path.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"snapshot written to {snapshot_path}")


if __name__ == "__main__":
    main()
