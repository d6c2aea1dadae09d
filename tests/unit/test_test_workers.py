"""tools/test_workers: `make test`'s worker count, one more than the cores the run may use. A
container limited by a CPU quota still shows the host's cores to `nproc`: the quota must win, or
a 2-core CI container on a 64-core host would start 65 workers and 65 anvils."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "test_workers"


def workers(tmp_path: Path, cores: int, files: dict[str, str]) -> int:
    cgroup = tmp_path / "cgroup"
    for name, text in files.items():
        (cgroup / name).parent.mkdir(parents=True, exist_ok=True)
        (cgroup / name).write_text(text + "\n")
    cgroup.mkdir(exist_ok=True)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nproc").write_text(f"#!/bin/sh\necho {cores}\n")
    (fake / "nproc").chmod(0o755)
    env = {**os.environ, "BALLAST_CGROUP": str(cgroup), "PATH": f"{fake}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=True)
    assert done.stderr == ""
    return int(done.stdout)


@pytest.mark.parametrize(
    ("cores", "files", "expected"),
    [
        (2, {}, 3),  # no cgroup limit: the cores and one more
        (2, {"cpu.max": "max 100000"}, 3),  # v2, unlimited
        (64, {"cpu.max": "200000 100000"}, 3),  # v2: a 2-core quota on a 64-core host
        (64, {"cpu.max": "150000 100000"}, 3),  # 1.5 cores count as 2
        (4, {"cpu.max": "50000 100000"}, 2),  # half a core: one, and one more
        (64, {"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, 2),  # v1
        (2, {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, 3),  # v1 unlimited
        (2, {"cpu.max": "800000 100000"}, 3),  # a quota above the cores: the cores
        (64, {}, 8),  # at most 8 workers
    ],
)
def test_one_worker_more_than_the_cores_the_run_may_use(tmp_path, cores, files, expected):
    assert workers(tmp_path, cores, files) == expected
