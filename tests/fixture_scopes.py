"""One scope per fixture name across the run (checked at collection by tests/conftest.py).

Ape's chain isolation (ape.pytest.fixtures, ape.pytest.runners) keys fixtures by NAME, not by
definition: a test's fixture map lists a name under every scope any module defines it with, and
the first scope seen is the one Ape tracks. A module-scoped fixture sharing its name with a
function-scoped one elsewhere so silently stopped the latter's chain from being reverted between
tests on the worker where both ran (tests/vault/test_rwa_sleeve.py's `invested`, beside an
attack module's module-scoped `invested`). The run now refuses such a pair at collection, with
the name, its scopes and the files that define each; the fix is a name of its own.
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


def check_fixture_scopes(session: pytest.Session) -> None:
    """Raise pytest.UsageError naming every fixture defined with two scopes in this run (at the
    end of collection: pytest registers a module's fixtures when it collects the module)."""
    conflicts = scope_conflicts(session._fixturemanager._arg2fixturedefs, session.config.rootpath)
    if conflicts:
        message = (
            "fixture names defined with more than one scope (Ape's chain isolation tracks "
            "fixtures by name: give each its own name; tests/fixture_scopes.py):\n  "
            + "\n  ".join(conflicts)
        )
        if hasattr(session.config, "workerinput"):
            # An xdist worker's UsageError reaches the controller as an INTERNALERROR about a
            # crashed item; its shouldfail ends the run with the message ("Interrupted").
            session.shouldfail = message
        raise pytest.UsageError(message)
