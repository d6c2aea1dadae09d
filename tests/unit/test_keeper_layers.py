"""Where the keepers' shared pieces live: a job imports what it shares with other jobs from a
shared module (keepers.math, keepers.reads, keepers.tx_rules), never from a sibling job's or the
strategy's own module, and the shared modules import no job."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from keepers.math import WAD, GasMarket, gas_cost_assets

KEEPERS = Path(__file__).resolve().parents[2] / "keepers"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_the_gas_cost_in_asset_units_rounds_up():
    market = GasMarket(
        base_fee_wei=20 * 10**9, priority_fee_wei=10**9, native_price_wad=3_000 * WAD
    )
    # 400,000 gas at 21 gwei = 0.0084 ETH = 25.2 USDC at 3,000: exact, then one wei more rounds up
    assert gas_cost_assets(market, 400_000, 6) == 25_200_000
    assert gas_cost_assets(GasMarket(1, 0, 1), 1, 6) == 1
    assert gas_cost_assets(GasMarket(0, 0, 3_000 * WAD), 400_000, 6) == 0


@pytest.mark.parametrize(
    "module", ["shell/settler.py", "jobs/settler.py", "jobs/liquidator.py", "shell/keeper.py"]
)
def test_jobs_take_the_gas_conversion_from_the_shared_math_not_the_strategy_gate(module):
    assert "keepers.strategy.gate" not in imported_modules(KEEPERS / module)


def test_the_strategy_gate_uses_the_same_conversion():
    from keepers.shell import settler
    from keepers.strategy import gate

    assert gate.gas_cost_assets is settler.gas_cost_assets is gas_cost_assets
    assert gate.GasMarket is GasMarket


def test_the_shared_math_imports_no_job_and_no_strategy():
    for path in (KEEPERS / "math").glob("*.py"):
        jobs = ("keepers.jobs", "keepers.shell", "keepers.strategy")
        bad = {m for m in imported_modules(path) if m.startswith(jobs)}
        assert not bad, (path.name, bad)


@pytest.mark.parametrize(
    "module", ["keepers.math", "keepers.shell.settler", "keepers.strategy.gate"]
)
def test_each_module_imports_first_without_a_cycle(module):
    # a cycle shows as an ImportError (partially initialised module) when it is imported first
    ran = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
