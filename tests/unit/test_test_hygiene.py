"""The suite's own rules, checked on its source: a test body never runs inside Ape's
`chain.isolate()` (it swallows every exception raised inside it, failed assertions included, so a
check there can never fail; `tests.vault_support.isolated` is the snapshot that does not), and no
test is a strict xfail (a defence the catalogue says is missing: every attack listed fails or
gains nothing). Process state a test changes is restored for the tests after it on the same
xdist worker: `keepers.logs.configure_logging` runs inside `loggers_kept()`, and a submodule
taken out of `sys.modules` leaves its package's attribute too."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _is_fixture(function: ast.FunctionDef) -> bool:
    """A pytest fixture: a `yield` inside `chain.isolate()` there runs no test body inside it."""
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
        if isinstance(target, ast.Name) and target.id == "fixture":
            return True
    return False


def _isolates(node: ast.With) -> bool:
    return any(
        isinstance(item.context_expr, ast.Call)
        and isinstance(item.context_expr.func, ast.Attribute)
        and item.context_expr.func.attr == "isolate"
        for item in node.items
    )


def isolate_blocks_outside_fixtures(source: str) -> list[str]:
    """`function:line` of every `with <x>.isolate():` in a function that is not a fixture."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if _is_fixture(function):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.With) and _isolates(node):
                found.append(f"{function.name}:{node.lineno}")
    return found


def strict_xfails(source: str) -> list[int]:
    """Lines of every `xfail(..., strict=True)` marker."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "xfail"
        and any(
            k.arg == "strict" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in node.keywords
        )
    ]


def _calls(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == name)
        or (isinstance(node.func, ast.Attribute) and node.func.attr == name)
    )


def logging_configured_unrestored(source: str) -> list[int]:
    """Lines of every `configure_logging(...)` call outside a `with loggers_kept():` block: it
    leaves the `keepers` logger without propagation (and its handler on a stream that was this
    test's), so caplog sees no `keepers` record in any later test of the same worker."""
    tree = ast.parse(source)
    kept: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(
            _calls(item.context_expr, "loggers_kept") for item in node.items
        ):
            kept.update(id(inner) for inner in ast.walk(node))
    return [
        node.lineno
        for node in ast.walk(tree)
        if _calls(node, "configure_logging") and id(node) not in kept
    ]


def _is_sys_modules(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "modules"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    )


def _submodules_taken_out(function: ast.AST) -> set[str]:
    """Dotted module names a function pops or deletes from `sys.modules`."""
    names = set()
    for node in ast.walk(function):
        key = None
        if _calls(node, "pop") and _is_sys_modules(node.func.value) and node.args:
            key = node.args[0]
        elif _calls(node, "delitem") and len(node.args) >= 2 and _is_sys_modules(node.args[0]):
            key = node.args[1]
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and _is_sys_modules(target.value):
                    key = target.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and "." in key.value:
            names.add(key.value)
    return names


def _attributes_handled(function: ast.AST) -> set[str]:
    """Attribute names a function deletes, assigns or passes to delattr/setattr/delitem."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Delete | ast.Assign):
            targets = node.targets
            names.update(t.attr for t in targets if isinstance(t, ast.Attribute))
        elif (
            (_calls(node, "delattr") or _calls(node, "setattr"))
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
        ):
            names.add(str(node.args[1].value))
    return names


def submodules_left_on_their_package(source: str) -> list[str]:
    """`function:module` for every function that takes a submodule out of `sys.modules` but
    never touches the package's attribute of that name: `from package import sub` reads the
    attribute first, so a later test gets the module that was taken out (a stub)."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        handled = _attributes_handled(function)
        for name in sorted(_submodules_taken_out(function)):
            if name.rpartition(".")[2] not in handled:
                found.append(f"{function.name}:{name}")
    return found


def _test_sources() -> dict[str, str]:
    return {
        str(path.relative_to(TESTS)): path.read_text()
        for path in sorted(TESTS.rglob("*.py"))
        if path.resolve() != Path(__file__).resolve()
    }


def offenders(check) -> dict[str, list]:
    """test file -> what `check` finds in it, for every file where it finds something."""
    return {name: found for name, src in _test_sources().items() if (found := check(src))}


def test_no_test_body_runs_inside_apes_isolate():
    found = offenders(isolate_blocks_outside_fixtures)
    assert found == {}, f"use tests.vault_support.isolated, not chain.isolate(): {found}"


def test_the_isolate_check_finds_a_test_body_and_spares_a_fixture():
    source = (
        "import pytest\n"
        "@pytest.fixture\n"
        "def snap(chain):\n"
        "    with chain.isolate():\n"
        "        yield\n"
        "def test_x(chain):\n"
        "    with chain.isolate():\n"
        "        assert False\n"
    )
    assert isolate_blocks_outside_fixtures(source) == ["test_x:7"]


def test_no_strict_xfail_is_left():
    found = offenders(strict_xfails)
    assert found == {}, f"a strict xfail states a missing defence: {found}"


def test_the_strict_xfail_check_finds_a_marker():
    source = "import pytest\n@pytest.mark.xfail(strict=True, reason='x')\ndef test_y():\n    pass\n"
    assert strict_xfails(source) == [2]


def test_no_test_leaves_the_keepers_logging_configured():
    found = offenders(logging_configured_unrestored)
    assert found == {}, f"configure_logging inside tests.scripts.inprocess.loggers_kept: {found}"


def test_the_logging_check_finds_a_bare_call_and_spares_a_kept_one():
    source = (
        "def test_a():\n"
        "    configure_logging(json_lines=True)\n"
        "def test_b():\n"
        "    with loggers_kept():\n"
        "        logs.configure_logging()\n"
    )
    assert logging_configured_unrestored(source) == [2]


def test_no_submodule_taken_out_of_sys_modules_is_left_on_its_package():
    found = offenders(submodules_left_on_their_package)
    assert found == {}, f"restore (or delete) the package attribute too: {found}"


def test_the_submodule_check_finds_a_pop_without_the_attribute():
    source = (
        "def stub():\n"
        "    sys.modules.pop('keepers.bots.keeper', None)\n"
        "def stub_restored():\n"
        "    sys.modules.pop('keepers.bots.keeper', None)\n"
        "    del keepers.bots.keeper\n"
        "def top_level(monkeypatch):\n"
        "    monkeypatch.delitem(sys.modules, 'this', raising=False)\n"
    )
    assert submodules_left_on_their_package(source) == ["stub:keepers.bots.keeper"]
