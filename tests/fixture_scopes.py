"""One scope per fixture name across the run (checked at collection by tests/conftest.py).

Ape's chain isolation (ape.pytest.fixtures, ape.pytest.runners) keys fixtures by NAME, not by
definition: a test's fixture map lists a name under every scope any module defines it with, and
the first scope seen is the one Ape tracks. A module-scoped fixture sharing its name with a
function-scoped one elsewhere so silently stopped the latter's chain from being reverted between
tests on the worker where both ran (tests/vault/test_rwa_sleeve.py's `invested`, beside an
attack module's module-scoped `invested`). The run now refuses such a pair at collection, with
the name, its scopes and the files that define each; the fix is a name of its own.

And every session-scoped fixture of ours declares `@ape.fixture(chain_isolation=False)`. Ape
snapshots the chain per scope; a session fixture first requested in the middle of a module
(`run_ape`, first used by a later test of a module on a worker whose earlier module used
another session fixture) made Ape "rebase": revert the chain to before the module's own
fixtures and drop their cached results, unless it had judged them stateless. A module fixture it
kept (the `gov` deployment) then named contracts the chain no longer had, and a CI run failed on
an order the local runs never drew. Whether a session fixture shows up mid-module depends on how
`--dist loadscope` deals modules to workers, so the rule is checked at collection instead: ours
return accounts, paths and command runners, the same whatever the block.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest


def _where(fixturedef: Any, root: Path) -> str:
    """The file defining a fixture, relative to `root` when under it (else its baseid)."""
    try:
        source = inspect.getsourcefile(fixturedef.func)
    except TypeError:
        source = None
    if not source:
        return fixturedef.baseid or "<unknown>"
    path = Path(source).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def scope_conflicts(arg2fixturedefs: Mapping[str, Sequence[Any]], root: Path) -> list[str]:
    """One line per fixture name defined with more than one scope, in name order:
    `name: scope (file, ...), scope (file, ...)`, scopes and files sorted.

    `arg2fixturedefs` is pytest's `session._fixturemanager._arg2fixturedefs` (name -> its
    FixtureDefs: `.scope` a scope name, `.func` the fixture function, `.baseid` its node id)."""
    root = root.resolve()
    lines = []
    for name in sorted(arg2fixturedefs):
        files_by_scope: dict[str, set[str]] = {}
        for fixturedef in arg2fixturedefs[name]:
            files_by_scope.setdefault(fixturedef.scope, set()).add(_where(fixturedef, root))
        if len(files_by_scope) > 1:
            scopes = ", ".join(
                f"{scope} ({', '.join(sorted(files))})"
                for scope, files in sorted(files_by_scope.items())
            )
            lines.append(f"{name}: {scopes}")
    return lines


def undeclared_session_fixtures(
    arg2fixturedefs: Mapping[str, Sequence[Any]], declared: Mapping[str, bool], root: Path
) -> list[str]:
    """One line per session- or package-scoped fixture of this run's conftests and test modules
    not declared chain-independent (`declared[name] is False`: Ape's record of
    `@ape.fixture(chain_isolation=False)`), in name order: `name (file)`. Plugins' fixtures
    (Ape's own `chain` and `accounts`, pytest's `tmp_path_factory`) are not ours to declare."""
    lines = []
    for name in sorted(arg2fixturedefs):
        if declared.get(name) is False:
            continue
        for fixturedef in arg2fixturedefs[name]:
            # a plugin's fixture (Ape's `chain`, pytest's `tmp_path_factory`) has an empty baseid;
            # a conftest's or test module's has its node id
            if fixturedef.scope in ("session", "package") and fixturedef.baseid:
                lines.append(f"{name} ({_where(fixturedef, root)})")
    return lines


def check_fixture_scopes(session: pytest.Session) -> None:
    """Raise pytest.UsageError naming every fixture defined with two scopes in this run, and
    every session fixture of ours not declared chain-independent (at the end of collection:
    pytest registers a module's fixtures when it collects the module)."""
    defs = session._fixturemanager._arg2fixturedefs
    root = session.config.rootpath
    problems = []
    if conflicts := scope_conflicts(defs, root):
        problems.append(
            "fixture names defined with more than one scope (Ape's chain isolation tracks "
            "fixtures by name: give each its own name; tests/fixture_scopes.py):\n  "
            + "\n  ".join(conflicts)
        )
    if undeclared := undeclared_session_fixtures(defs, _ape_declarations(), root):
        problems.append(
            'session fixtures not declared @ape.fixture(scope="session", chain_isolation=False)'
            " (one first used mid-module makes Ape revert the module's chain; "
            "tests/fixture_scopes.py):\n  " + "\n  ".join(undeclared)
        )
    if problems:
        message = "\n".join(problems)
        if hasattr(session.config, "workerinput"):
            # An xdist worker's UsageError reaches the controller as an INTERNALERROR about a
            # crashed item; its shouldfail ends the run with the message ("Interrupted").
            session.shouldfail = message
        raise pytest.UsageError(message)


def _ape_declarations() -> Mapping[str, bool]:
    """Ape's record of `@ape.fixture(chain_isolation=...)` declarations (a class attribute,
    filled at import; at collection no test has run, so nothing computed is in it yet). Empty
    when Ape is not installed or not loaded (a pure-Python run), where no chain is isolated."""
    try:
        from ape.pytest.fixtures import FixtureManager
    except ImportError:
        return {}
    return FixtureManager._stateful_fixtures_cache
