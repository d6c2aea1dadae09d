"""The gas figures docs/performance.md prints are the committed snapshot's
(`benchmarks/gas/snapshot.json`, written by `make bench-gas`), without a node: every cell of the
Gas section's tables, the runtime code sizes it lists, and the prose figures that name a snapshot
entry as current. A snapshot re-measured without the page (or a page edited by hand) fails here
instead of printing figures nobody measured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "performance.md"
SNAPSHOT = json.loads((ROOT / "benchmarks" / "gas" / "snapshot.json").read_text())
NUMBER = re.compile(r"\b\d{1,3}(?:,\d{3})+\b|\b\d+\b")

# the vault table's columns, and its row labels that differ from the snapshot's keys
COLUMNS = {"idle only": 0, "1 sleeve": 1, "2 sleeves": 2, "3 sleeves": 3, "4 sleeves": 4,
           "5 sleeves": 5}  # fmt: skip
ROW_KEYS = {"rebalance (steady state)": "rebalance"}


def vault(sleeves: int) -> dict[str, int]:
    return SNAPSHOT[f"RWAVault, {sleeves} sleeve{'' if sleeves == 1 else 's'}"]


def gas_section() -> str:
    text = PAGE.read_text()
    start = text.index("\n## Gas\n")
    return text[start : text.index("\n## ", start + 1)]


def tables(section: str) -> list[list[list[str]]]:
    """Each markdown table of `section` as rows of stripped cells (the separator row dropped)."""
    out: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in section.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                current.append(cells)
        elif current:
            out.append(current)
            current = []
    return out


def gas(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_the_vault_table_is_the_snapshot() -> None:
    (table,) = [t for t in tables(gas_section()) if t[0][1:] == list(COLUMNS)]
    checked = 0
    for label, *cells in table[1:]:
        key = ROW_KEYS.get(label, label)
        for column, cell in zip(COLUMNS.values(), cells, strict=True):
            if cell == "":
                assert key not in vault(column), f"{label}, {column} sleeves: missing"
                continue
            assert gas(cell) == vault(column)[key], f"{label}, {column} sleeves"
            checked += 1
    measured = {k for s in range(6) for k in vault(s)}
    assert measured == {ROW_KEYS.get(row[0], row[0]) for row in table[1:]}, "rows vs snapshot"
    assert checked >= 90


def test_the_call_gas_table_is_the_snapshot() -> None:
    """The goal rows as a whole transaction and as the call alone (forge's convention): every
    operation the snapshot holds a call figure for, both figures, and the goal it is held to."""
    calls = SNAPSHOT["Call gas, RWAVault (receipt less 21,000 + calldata)"]
    header = ["operation (idle only)", "transaction", "call", "goal"]
    (table,) = [t for t in tables(gas_section()) if t[0] == header]
    assert [row[0] for row in table[1:]] == list(calls)
    for op, tx, call, goal in table[1:]:
        assert gas(tx) == vault(0)[op], op
        assert gas(call) == calls[op] < gas(tx), op
        assert gas(goal) == (
            70_000 if op.startswith(("requestDeposit", "requestRedeem")) else 60_000
        )
    text = " ".join(gas_section().split())
    floor = re.search(r"new-controller request is ([\d,]+) by the call, ([\d,]+) as a", text)
    assert floor, "the floor's call figure is not in the page"
    op = "requestDeposit (new controller, same window)"
    assert (
        gas(floor.group(1))
        == SNAPSHOT["Call gas, BareRequest (receipt less 21,000 + calldata)"][op]
    )
    assert gas(floor.group(2)) == SNAPSHOT["BareRequest (ERC-7540 floor)"][op]


@pytest.mark.parametrize("contract", ["LendingSleeve", "AgentRegistry"])
def test_the_contract_tables_are_the_snapshot(contract: str) -> None:
    measured = SNAPSHOT[contract]
    found = [t for t in tables(gas_section()) if {r[0] for r in t[1:]} == set(measured)]
    assert len(found) == 1, f"one table lists every {contract} operation"
    for label, cell in found[0][1:]:
        assert gas(cell) == measured[label], f"{contract}: {label}"


def test_the_runtime_sizes_named_are_the_snapshot() -> None:
    section = " ".join(gas_section().split())
    sizes = section[section.index("Runtime code against") :].split("The vault sat")[0]
    named = dict(re.findall(r"([A-Z][A-Za-z]+) (\d{1,2},\d{3})", sizes))
    assert len(named) >= 6
    for contract, size in named.items():
        assert gas(size) == SNAPSHOT["Runtime code, bytes"][contract], contract


def test_the_prose_figures_named_as_current_are_the_snapshot() -> None:
    """The sentences that quote a snapshot entry as the current cost (not a past one)."""
    text = " ".join(gas_section().split())
    per_sleeve = SNAPSHOT["Strike, gas per sleeve (RWAVault)"]["strike (deposits)"]
    quoted = {
        r"paid once for every request it settles: ([\d,]+) with idle only": vault(0)[
            "strike (deposits)"
        ],
        r"with idle only, ([\d,]+) at three sleeves": vault(3)["strike (deposits)"],
        r"`Strike, gas per sleeve` entry: ([\d,]+) on average": per_sleeve,
        r"two requests a week apart settle for ([\d,]+) \(idle only\)": vault(0)[
            "strike (deposits, two windows a week apart)"
        ],
        r"a bare OpenZeppelin ERC4626 deposit \(synchronous, no valuation\) costs ([\d,]+)": (
            SNAPSHOT["BareERC4626 (OpenZeppelin 5.4)"]["deposit"]
        ),
        r"\(`contracts/mocks/BareRequest.sol`.*?\) — costs ([\d,]+)": SNAPSHOT[
            "BareRequest (ERC-7540 floor)"
        ]["requestDeposit (new controller, same window)"],
        r"A steady-state rebalance costs about [\d,]+ per sleeve \(([\d,]+) at three": vault(3)[
            "rebalance"
        ],
    }
    for pattern, value in quoted.items():
        found = re.search(pattern, text)
        assert found, f"not in the page: {pattern}"
        assert gas(found.group(1)) == value, pattern


def test_the_liquidators_default_gas_per_liquidation_is_the_measured_cost_with_a_margin() -> None:
    """The keeper's profit check weighs an unbatched `liquidate` at `gas_per_liquidation`: below
    the dearest measured case it would send liquidations that lose money; far above it (400k was
    twice the measured cost) it skips small unhealthy positions whose bonus pays their real gas,
    leaving them to grow into bad debt that depositors bear. The default covers every measured
    case with at most a quarter to spare."""
    from keepers.job_config import LiquidatorConfig
    from keepers.jobs.liquidator import LiquidatorSettings

    measured = [v for k, v in SNAPSHOT["LendingSleeve"].items() if k.startswith("liquidate (")]
    default = LiquidatorConfig().gas_per_liquidation
    assert default == LiquidatorSettings().gas_per_liquidation
    assert len(measured) == 4 and max(measured) <= default <= max(measured) * 5 // 4, measured
