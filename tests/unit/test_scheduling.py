"""The loadscope order (tests/scheduling.py) and the cost table's scopes (tools/scope_costs.py)."""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from pathlib import Path

from tests.scheduling import DEFAULT_COST_PER_TEST, load_costs, order_by_cost

# tools/ is not a package (like tests/unit/test_slither_gate.py, load the script by its path)
_PATH = Path(__file__).resolve().parents[2] / "tools" / "scope_costs.py"
_SPEC = importlib.util.spec_from_file_location("scope_costs", _PATH)
scope_costs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(scope_costs)
costs, scope_of = scope_costs.costs, scope_costs.scope_of


def queue(**sizes: int) -> OrderedDict[str, dict[str, bool]]:
    return OrderedDict(
        (name, {f"{name}::t{i}": False for i in range(n)}) for name, n in sizes.items()
    )


def test_the_slowest_scope_goes_first_whatever_its_number_of_tests():
    work = queue(many=40, machine=1, middle=5)
    ordered = order_by_cost(work, {"many": 30.0, "machine": 300.0, "middle": 60.0})
    assert list(ordered) == ["machine", "middle", "many"]
    assert ordered["many"] == work["many"]  # the scopes' tests are untouched


def test_an_unmeasured_scope_counts_its_tests_and_ties_keep_their_order():
    work = queue(a=3, b=50, c=3, d=1)
    ordered = order_by_cost(work, {"d": 10.0})
    assert DEFAULT_COST_PER_TEST * 50 > 10.0 > DEFAULT_COST_PER_TEST * 3
    assert list(ordered) == ["b", "d", "a", "c"]


def test_a_missing_or_broken_table_is_no_table(tmp_path):
    assert load_costs(tmp_path / "absent.json") == {}
    (tmp_path / "broken.json").write_text("[1, 2")
    assert load_costs(tmp_path / "broken.json") == {}
    (tmp_path / "list.json").write_text("[1, 2]")
    assert load_costs(tmp_path / "list.json") == {}


def test_the_committed_table_names_scopes_as_xdist_does():
    table = load_costs()
    assert table, "tests/scope_costs.json is missing or empty"
    assert "tests/invariants/test_system_state_machine.py::TestSystemStateMachine" in table
    assert all(s.startswith("tests/") and ".py" in s for s in table)
    assert all(v >= 0 for v in table.values())


def test_scopes_from_a_junit_report(tmp_path):
    assert scope_of("tests.vault.test_smoke") == "tests/vault/test_smoke.py"
    assert scope_of("tests.invariants.test_m.TestM") == "tests/invariants/test_m.py::TestM"
    report = tmp_path / "r.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.a.test_x" name="t1" time="1.25"/>'
        '<testcase classname="tests.a.test_x" name="t2[p]" time="2.5"/>'
        '<testcase classname="tests.b.test_y.TestY" name="runTest" time="10"/>'
        "</testsuite></testsuites>"
    )
    assert costs(report) == {"tests/a/test_x.py": 3.8, "tests/b/test_y.py::TestY": 10.0}
