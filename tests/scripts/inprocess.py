"""The CLIs run in-process: click's CliRunner on the scripts' own click commands (`scripts/*.py`)
and on `ballast-keeper`'s (`keepers.cli.main`), inside this test session that already has a node.

A real `ape run <script>` or `ballast-keeper` costs about five seconds of start-up (Ape's plugins
and project), most of a CLI test's time; in-process a command costs what it does. The scripts use
this session's provider as it is (`session_provider`: Ape's connect/disconnect around each
command is left to the subprocess cases every module keeps); their node check
(`NodeCommand.invoke`) still runs first. The keeper connects and disconnects as it does alone.

Each call restores what a process keeps until it exits and a later test would see: environment
variables, the working directory, ContextVars (`ballast.params._AMOUNT_UNITS`: the command runs
in a copy of the context), the `keepers` logger (handlers, level, propagate) and Ape's logger
(level, handlers, filters). A module-scoped autouse fixture (tests/scripts/conftest.py) restores
the ContextVar and the loggers around each module, for what a test calls outside `invoke`.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import logging
import os
import subprocess
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

from tests.cli_forkserver import forked
from tests.conftest import REPO_ROOT

# What the subprocess runners (tests/conftest.py's run_ape) set for a command's output.
OUTPUT_ENV = {"NO_COLOR": "1", "COLUMNS": "200"}


@dataclass(frozen=True)
class Ran:
    """A command's end, shaped like subprocess.CompletedProcess (text mode)."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def env_vars(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Sets (or, for None, removes) environment variables for the block; restores them after
    (pytest's MonkeyPatch)."""
    with pytest.MonkeyPatch.context() as patch:
        for k, v in changes.items():
            if v is None:
                patch.delenv(k, raising=False)
            else:
                patch.setenv(k, v)
        yield


@contextlib.contextmanager
def loggers_kept() -> Iterator[None]:
    """Restores, after the block, the `keepers` logger (handlers, level, propagate) and Ape's
    logger (level, handlers, filters)."""
    from ape.logging import logger as ape_logger

    keepers = logging.getLogger("keepers")
    kept = (list(keepers.handlers), keepers.level, keepers.propagate, keepers.disabled)
    ape = logging.getLogger("ape")
    ape_kept = (list(ape.handlers), list(ape.filters), ape_logger.level)
    try:
        yield
    finally:
        keepers.handlers[:] = kept[0]
        keepers.setLevel(kept[1])
        keepers.propagate, keepers.disabled = kept[2], kept[3]
        ape.handlers[:] = ape_kept[0]
        ape.filters[:] = ape_kept[1]
        ape_logger.set_level(ape_kept[2])


@contextlib.contextmanager
def process_state_kept() -> Iterator[None]:
    """Restores, after the block, the process state a CLI sets: every environment variable, the
    working directory and the loggers (`loggers_kept`)."""
    environ = dict(os.environ)
    cwd = os.getcwd()
    try:
        with loggers_kept():
            yield
    finally:
        os.chdir(cwd)
        if dict(os.environ) != environ:
            os.environ.clear()
            os.environ.update(environ)


def invoke(
    command: Any,
    args: Sequence[str],
    *,
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,  # noqa: A002 - CliRunner's name
    mixed: bool = False,
) -> Ran:
    """Runs a click command as its console script would (from the repository's root, output
    not coloured, 200 columns); an exception that escapes is reported in stderr as a
    "Traceback", as a real process would print it. `mixed`: stdout and stderr in one stream, in
    the order written (in `stdout`; `stderr` holds only such a traceback)."""
    runner = CliRunner(mix_stderr=mixed)

    def run() -> Any:
        with process_state_kept():
            os.chdir(REPO_ROOT)
            return runner.invoke(
                command, list(args), input=input, env={**OUTPUT_ENV, **(env or {})},
                catch_exceptions=True,
            )  # fmt: skip

    result = contextvars.copy_context().run(run)
    stderr = "" if mixed else result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (in-process)\n" + "".join(traceback.format_exception(result.exception))
    return Ran(result.exit_code, result.stdout, stderr)


_SCRIPTS: dict[str, Any] = {}


def script(name: str) -> Any:
    """The click command of scripts/<name>.py (loaded once per process, as `ape run` loads it:
    its module-level console sees the subprocess runners' output settings)."""
    if name not in _SCRIPTS:
        spec = importlib.util.spec_from_file_location(
            f"_inprocess_{name}", REPO_ROOT / f"scripts/{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        with env_vars(OUTPUT_ENV):
            spec.loader.exec_module(module)
        _SCRIPTS[name] = module.cli
    return _SCRIPTS[name]


@pytest.fixture(scope="module")
def session_provider(chain) -> Iterator[None]:
    """In-process `ape run` commands use this session's connected provider as it is (Ape's own
    connect and disconnect, about a second each, are exercised by the subprocess cases). The
    scripts' own node check (NodeCommand.invoke) still runs first."""
    from ape.cli.commands import ConnectedProviderCommand

    original = ConnectedProviderCommand.invoke

    def invoke_connected(self, ctx):
        return self._invoke(ctx, provider=chain.provider)

    ConnectedProviderCommand.invoke = invoke_connected
    yield
    ConnectedProviderCommand.invoke = original


@pytest.fixture(scope="module")
def ape_script(chain, session_provider):
    """`ape run NAME ARGS...` in-process against this run's anvil: returns a Ran."""

    def run(
        name: str,
        args: Sequence[str],
        env: Mapping[str, str | None] | None = None,
        input: str | None = None,  # noqa: A002
    ) -> Ran:
        full_env = {"APE_FOUNDRY_HOST": chain.provider.uri, **(env or {})}
        return invoke(script(name), args, env=full_env, input=input)

    return run


@pytest.fixture
def ape_real(chain):
    """`ape ARGS...` in a subprocess, as tests/conftest.py's run_ape (the real wrapper), for the
    cases each module keeps real. Function-scoped: first asked for by a module's later tests
    (a session-scoped fixture set up after module-scoped ones costs Ape a rebase)."""
    node_uri = chain.provider.uri

    def run(args: Sequence[str], input: str | None = None) -> subprocess.CompletedProcess:  # noqa: A002
        command, env = forked(
            ["ape", *args], {**os.environ, "APE_FOUNDRY_HOST": node_uri, **OUTPUT_ENV}
        )
        return subprocess.run(
            command, cwd=REPO_ROOT, env=env, input=input, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip

    return run


@pytest.fixture(scope="module")
def keeper_main(chain):
    """`ballast-keeper ARGS...` in-process against this run's anvil: returns a Ran."""
    from keepers.cli import main

    def run(args: Sequence[str], env: Mapping[str, str | None] | None = None) -> Ran:
        return invoke(main, args, env={"APE_FOUNDRY_HOST": chain.provider.uri, **(env or {})})

    return run


@pytest.fixture(scope="module", autouse=True)
def _process_state_restored() -> Iterator[None]:
    """Around each module, for what its tests run in-process outside `invoke` (the benchmarks'
    ``main(argv)``, a script's class): the amount units (a ContextVar `ape run params` sets) and
    the loggers as a fresh process has them, for the tests that follow in this worker.
    (Environment variables and the working directory are restored by `invoke` and `env_vars`
    themselves; restoring the whole environment here could undo what a session fixture set.)"""
    from ballast import params as P

    token = P._AMOUNT_UNITS.set(None)
    with loggers_kept():
        yield
    P._AMOUNT_UNITS.reset(token)
