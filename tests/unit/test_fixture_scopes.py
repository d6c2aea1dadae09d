"""The collection-time checks (tests/fixture_scopes.py): no fixture name has two scopes, and every
session fixture of ours is declared chain-independent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fixture_scopes import scope_conflicts, undeclared_session_fixtures

REPO_ROOT = Path(__file__).resolve().parents[2]
SESSION_ARGS = ("-p", "no:ape_test", "-p", "no:cacheprovider", "-q")

# The sessions run in this process (pytester: its own sys.modules, sys.path and capture, undone
# after each run) rather than as `python -m pytest` processes, which spent their time importing
# tests/conftest.py's Ape and keepers (a test took 45-100 s on a loaded machine); the xdist
# case keeps its process.
pytest_plugins = ["pytester"]


def write_sessions_conftest(root: Path) -> None:
    """A session root whose conftest has tests/conftest.py's collection hook."""
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n"
    )


def run_session(pytester):
    """A pytest session in `pytester.path`, in this process, as the suite runs (no Ape plugin,
    no cache)."""
    return pytester.runpytest_inprocess(*SESSION_ARGS)


def fixture(scope: str, root: Path, file: str):
    """A FixtureDef-like object whose function is defined in `root / file`."""
    path = root / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("def f():\n    pass\n")
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return SimpleNamespace(scope=scope, func=namespace["f"], baseid=file)


def test_a_name_with_two_scopes_is_reported_with_its_scopes_and_files(tmp_path):
    defs = {
        "manifest": [
            fixture("module", tmp_path, "tests/b/test_two.py"),
            fixture("function", tmp_path, "tests/c/test_three.py"),
            fixture("module", tmp_path, "tests/a/test_one.py"),
        ],
        "alice": [fixture("module", tmp_path, "tests/a/test_one.py")],
    }
    assert scope_conflicts(defs, tmp_path) == [
        "manifest: function (tests/c/test_three.py), "
        "module (tests/a/test_one.py, tests/b/test_two.py)"
    ]


def test_one_name_in_many_files_with_one_scope_is_fine(tmp_path):
    defs = {
        "bob": [
            fixture("module", tmp_path, "tests/a/test_one.py"),
            fixture("module", tmp_path, "tests/lending/conftest.py"),
        ],
        "tmp_path": [fixture("function", tmp_path, "tests/a/test_one.py")],
    }
    assert scope_conflicts(defs, tmp_path) == []


def test_every_name_in_conflict_gets_its_line_in_name_order(tmp_path):
    defs = {
        name: [
            fixture("session", tmp_path, "tests/conftest.py"),
            fixture("module", tmp_path, f"tests/test_{name}.py"),
        ]
        for name in ("run_ape", "keeper_cli")
    }
    assert scope_conflicts(defs, tmp_path) == [
        "keeper_cli: module (tests/test_keeper_cli.py), session (tests/conftest.py)",
        "run_ape: module (tests/test_run_ape.py), session (tests/conftest.py)",
    ]


def test_a_fixture_outside_the_root_or_without_a_source_file_is_still_located(tmp_path):
    outside = fixture("session", tmp_path / "site-packages", "plugin.py")
    builtin = SimpleNamespace(scope="function", func=len, baseid="")
    conflicts = scope_conflicts({"chain": [outside, builtin]}, tmp_path / "repo")
    assert conflicts == [
        f"chain: function (<unknown>), session ({tmp_path / 'site-packages' / 'plugin.py'})"
    ]


def test_the_run_stops_at_collection_naming_the_fixture(pytester):
    """Real pytest sessions with tests/conftest.py's hook (pytest's own fixture manager): two
    modules define `manifest` with two scopes, so the run stops before any test; with a name of
    its own for one of them, both tests run."""
    tmp_path = pytester.path
    write_sessions_conftest(tmp_path)
    (tmp_path / "test_one.py").write_text(
        "import pytest\n\n\n@pytest.fixture(scope='module')\ndef manifest():\n    return 1\n\n\n"
        "def test_one(manifest):\n    assert manifest == 1\n"
    )
    (tmp_path / "test_two.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef manifest():\n    return 2\n\n\n"
        "def test_two(manifest):\n    assert manifest == 2\n"
    )
    result = run_session(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    assert "manifest: function (test_two.py), module (test_one.py)" in result.stderr.str()
    assert "passed" not in result.stdout.str()

    # Under xdist (the suite runs `-n 3 --dist loadscope`) the workers collect: the controller
    # stops with the message, not an INTERNALERROR about a crashed item. A process of its own:
    # the controller starts its worker as one anyway.
    # not this run's PYTEST_ADDOPTS or xdist worker variables
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    args = [sys.executable, "-m", "pytest", *SESSION_ARGS]
    result = subprocess.run(
        [*args, "-n", "1"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == pytest.ExitCode.INTERRUPTED, result.stdout + result.stderr
    assert "manifest: function (test_two.py), module (test_one.py)" in result.stdout
    assert "INTERNALERROR" not in result.stdout + result.stderr
    assert "passed" not in result.stdout

    (tmp_path / "test_two.py").write_text(
        (tmp_path / "test_two.py").read_text().replace("manifest", "other_manifest")
    )
    result = run_session(pytester)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    assert "2 passed" in result.stdout.str()


def test_a_session_fixture_of_ours_must_be_declared_chain_independent(tmp_path):
    defs = {
        "run_ape": [fixture("session", tmp_path, "tests/conftest.py")],
        "deployer": [fixture("session", tmp_path, "tests/conftest.py")],
        "steward": [fixture("session", tmp_path, "tests/governance/test_links.py")],
        "gov": [fixture("module", tmp_path, "tests/conftest.py")],  # module: not this rule
        "chain": [SimpleNamespace(scope="session", func=len, baseid="")],  # a plugin's
    }
    declared = {"deployer": False, "steward": True}  # True: Ape is told it holds chain state
    assert undeclared_session_fixtures(defs, declared, tmp_path) == [
        "run_ape (tests/conftest.py)",
        "steward (tests/governance/test_links.py)",
    ]
    declared = {"run_ape": False, "deployer": False, "steward": False}
    assert undeclared_session_fixtures(defs, declared, tmp_path) == []


def test_the_run_stops_at_collection_naming_an_undeclared_session_fixture(pytester):
    """A real pytest session with tests/conftest.py's hook: a plain session fixture stops the
    run before any test; declared through `ape.fixture(chain_isolation=False)` it runs."""
    write_sessions_conftest(pytester.path)
    test_file = pytester.path / "test_one.py"
    test_file.write_text(
        "import ape\nimport pytest\n\n\n@pytest.fixture(scope='session')\n"
        "def alice():\n    return 'alice'\n\n\ndef test_one(alice):\n    assert alice\n"
    )
    result = run_session(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    assert "alice (test_one.py)" in result.stderr.str()
    assert "chain_isolation=False" in result.stderr.str()
    assert "passed" not in result.stdout.str()

    test_file.write_text(
        test_file.read_text().replace(
            "@pytest.fixture(scope='session')",
            "@ape.fixture(scope='session', chain_isolation=False)",
        )
    )
    result = run_session(pytester)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    assert "1 passed" in result.stdout.str()
