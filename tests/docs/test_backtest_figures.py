"""The strategy figures the README prints are the committed backtest snapshots', without running
the backtest: the test-family table (`benchmarks/backtest/results-test.json`: annual return /
Sharpe of the default strategy and the static target, the default's share of the hindsight
mix's excess return) and the sentence on the 200 committed paths (`results.json`). A snapshot
re-run without the README (or a README edited by hand) fails here instead of printing figures
nobody measured."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BACKTEST = ROOT / "benchmarks" / "backtest"
CELL = re.compile(r"^(-?[\d.]+) % / (-?[\d.]+)$")


def snapshot(name: str) -> dict:
    return json.loads((BACKTEST / name).read_text())


def pct(value: float) -> str:
    return f"{100 * value:.2f}"


def shown(policy: dict) -> tuple[str, str]:
    """A policy's `return % / Sharpe` cell as the README rounds it."""
    return pct(policy["annual_return"]), f"{policy['sharpe']:.2f}"


def cell(text: str) -> tuple[str, str]:
    found = CELL.match(text)
    assert found, f"not 'return % / Sharpe': {text!r}"
    return found.group(1), found.group(2)


def test_the_test_family_table_is_the_test_snapshot() -> None:
    doc = snapshot("results-test.json")
    rows = {}
    head = README.index("| test family | default strategy | static target | share of hindsight |")
    for line in README[head:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        name, strategy, static, share = (c.strip() for c in line.strip("|").split("|"))
        rows[name] = (cell(strategy), cell(static), share.split(" %")[0])
    assert set(rows) == {*doc["families"], "all"}, "one row a test family, and all"
    for name, (strategy, static, share) in rows.items():
        policies = (doc["overall"] if name == "all" else doc["per_family"][name])["policies"]
        assert strategy == shown(policies["strategy"]), f"{name}: default strategy"
        assert static == shown(policies["static_target"]), f"{name}: static target"
        assert share == f"{100 * policies['strategy']['share_of_hindsight']:.0f}", name
    ratio = doc["overall"]["goals"]["excess_vs_hindsight"]["ratio"]
    assert rows["all"][2] == f"{100 * ratio:.0f}", "the overall share is the goal's ratio"


def test_the_committed_paths_sentence_is_the_reference_snapshot() -> None:
    doc = snapshot("results.json")
    text = " ".join(README.split())
    found = re.search(
        r"On the (\d+) committed paths: ([\d.]+) % a year against the static target's "
        r"([\d.]+) %, Sharpe ([\d.]+), (\d+) % of the hindsight mix's excess return",
        text,
    )
    assert found, "the README's sentence on the committed paths"
    summary = doc["summary"]
    assert int(found.group(1)) == doc["scenarios"]["paths"]
    assert found.group(2) == pct(summary["strategy"]["annual_return"]["mean"])
    assert found.group(3) == pct(summary["static_target"]["annual_return"]["mean"])
    assert found.group(4) == f"{summary['strategy']['sharpe']['mean']:.2f}"
    assert found.group(5) == f"{100 * doc['goals']['excess_vs_hindsight']['ratio']:.0f}"
