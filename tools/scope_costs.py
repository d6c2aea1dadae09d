"""Seconds per xdist scope from a whole test run's JUnit report, for tests/scheduling.py.

    ape test -n 2 --dist loadscope --junitxml=/tmp/run.xml
    python tools/scope_costs.py /tmp/run.xml            # writes tests/scope_costs.json

A scope is what `--dist loadscope` keeps on one worker: a test module, or a class in it (each
hypothesis state machine is one). Its cost is the sum of its tests' times (setup, call and
teardown, as pytest's JUnit report counts them). `--print` shows the table and the two workers'
expected loads instead of writing it.
"""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "scope_costs.json"


def scope_of(classname: str) -> str:
    """`tests.vault.test_x` -> `tests/vault/test_x.py`; a class after the module -> `::Class`."""
    parts = classname.split(".")
    module = max(i for i, part in enumerate(parts) if part.startswith("test_"))
    path = "/".join(parts[: module + 1]) + ".py"
    return "::".join([path, *parts[module + 1 :]])


def costs(report: Path) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).iter("testcase"):
        totals[scope_of(case.get("classname", ""))] += float(case.get("time") or 0)
    return {scope: round(seconds, 1) for scope, seconds in sorted(totals.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="pytest --junitxml output of a whole run")
    parser.add_argument("--print", action="store_true", help="show instead of writing")
    args = parser.parse_args()
    table = costs(args.report)
    if args.print:
        loads = [0.0, 0.0]
        for scope, seconds in sorted(table.items(), key=lambda kv: -kv[1]):
            loads[loads.index(min(loads))] += seconds
            print(f"{seconds:8.1f}  {scope}")
        print(
            f"total {sum(table.values()):.0f} s; two workers, longest first: "
            f"{loads[0]:.0f} s and {loads[1]:.0f} s"
        )
        return
    OUT.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {len(table)} scopes to {OUT}")


if __name__ == "__main__":
    main()
