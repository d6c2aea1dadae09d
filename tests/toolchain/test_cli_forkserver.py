"""tests/cli_forkserver.py: a command forked from the server prints and exits exactly as the same
command started as its own process, with the caller's arguments, environment and folder."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.cli_forkserver import ForkServer
from tests.conftest import REPO_ROOT

BASE = {k: v for k, v in os.environ.items() if not k.startswith(("BALLAST_", "APE_FOUNDRY"))}
BASE |= {"NO_COLOR": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # started without the variables the commands below set: each command brings its own
    running = ForkServer.start(tmp_path_factory.mktemp("forkserver"), BASE)
    yield running
    running.stop()


def both(server: ForkServer, args: list[str], env: dict[str, str], cwd=REPO_ROOT):
    ran = [
        subprocess.run(args, env=e, cwd=cwd, capture_output=True, text=True, timeout=300)
        for e in (env, server.env(env))
    ]
    return [(r.returncode, r.stdout, r.stderr) for r in ran]


@pytest.mark.parametrize(
    "args",
    [
        ["ape", "run", "params", "--help"],
        ["ballast-keeper", "once", "--job", "no-such-job"],  # a usage error: exit 2
    ],
    ids=["ape-run-help", "keeper-bad-job"],
)
def test_a_forked_command_prints_and_exits_as_its_own_process(server, args):
    real, forked = both(server, args, BASE)
    assert forked == real


def test_a_forked_command_has_the_callers_environment_and_folder(server, tmp_path):
    """A node URL only the command's environment names (nobody answers there), run from another
    folder: the same one-line refusal and exit status, not the server's view."""
    env = {**BASE, "APE_FOUNDRY_HOST": "http://127.0.0.1:1"}
    manifest = str(tmp_path / "none.json")
    args = ["ballast-keeper", "once", "--job", "sentinel", "--manifest", manifest]
    real, forked = both(server, args, env, cwd=tmp_path)
    assert real[0] != 0 and forked == real
