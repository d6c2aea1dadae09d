"""Ape's map of the nodes it started is kept to the ones still running (ballast.node): stale
entries cost every connect and disconnect ~34 ms each, and nothing else removes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ballast.node import forget_dead_nodes


def _entry(port: int) -> dict[str, str]:
    uri = f"127.0.0.1:{port}"
    return {"http_uri": f"http://{uri}", "network_choice": "ethereum:local:foundry",
            "ws_uri": f"ws://{uri}"}  # fmt: skip


def _dead_pid() -> int:
    """The PID of a process that has exited and been reaped (so no process has it now)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def _write(folder: Path, document: object) -> Path:
    path = folder / "processes" / "nodes.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document))
    return path


def test_entries_of_exited_processes_go_and_running_ones_stay(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    path = _write(tmp_path, {"nodes": {str(dead): _entry(1), str(alive): _entry(2)}})

    assert forget_dead_nodes(tmp_path) == 1
    assert json.loads(path.read_text()) == {"nodes": {str(alive): _entry(2)}}
    assert [p.name for p in path.parent.iterdir()] == ["nodes.json"]  # no staged file left
    assert forget_dead_nodes(tmp_path) == 0  # nothing more to drop: the file is not rewritten


def test_no_map_or_one_ape_would_discard_is_left_alone(tmp_path):
    assert forget_dead_nodes(tmp_path) == 0  # no processes/ folder at all
    path = _write(tmp_path, {"nodes": {"not-a-pid": _entry(1)}})
    assert forget_dead_nodes(tmp_path) == 0
    assert json.loads(path.read_text()) == {"nodes": {"not-a-pid": _entry(1)}}
    path.write_text("{half a file")
    assert forget_dead_nodes(tmp_path) == 0
    assert path.read_text() == "{half a file"
