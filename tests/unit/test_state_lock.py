"""One sending keeper process per state file (`keepers.state_lock`): a second holder is refused
in one line naming the holder's pid, the lock is free again once released, and a holder killed
without a goodbye (SIGKILL) frees it at once (the kernel drops a dead process's `flock`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from keepers.state_lock import StateInUse, hold, lock_path, release

HOLDER = """
import sys, time
from pathlib import Path
from keepers.state_lock import hold
hold(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(600)
"""


def test_a_second_holder_is_refused_until_the_first_releases(tmp_path: Path) -> None:
    state = tmp_path / "state" / "31337-0xabc-k.sqlite"
    first = hold(state)
    try:
        with pytest.raises(StateInUse) as refused:
            hold(state)
        message = str(refused.value)
        assert "\n" not in message
        assert f"pid {os.getpid()}" in message and str(state) in message
        assert "one sending process per key" in message
    finally:
        release(first)
    release(hold(state))  # free again
    assert lock_path(state).name == state.name + ".lock"


def test_a_killed_holder_frees_the_state_at_once(tmp_path: Path) -> None:
    state = tmp_path / "k.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(StateInUse, match=f"pid {child.pid}"):
            hold(state)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    release(hold(state))
