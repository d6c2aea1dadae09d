"""Processes of the keeper bot's distributed mode for tests: a redis-server of the test's own,
`silverback worker` and `silverback run` subprocesses with the broker settings of
docs/keeper-operator.md's Silverback section, and waiting on them with their output in every
failure."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.ports import free_port

START_TIMEOUT = 180.0  # importing Ape, connecting, opening the keeper, on a loaded machine
PASS_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0  # either process must stop within 30 s of SIGTERM (a supervisor's timeout)
SILVERBACK = str(Path(sys.executable).with_name("silverback"))
REDIS_SERVER = shutil.which("redis-server")
DOWN = "does not answer"  # the one-line warning while Redis is away


def wait_until(what: str, done: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{why()}")
        time.sleep(0.25)


class RedisServer:
    """A redis-server on a free port in its own folder (append-only file: a restart keeps the
    stream, its groups and the leases, as a production Redis with persistence does)."""

    def __init__(self, folder: Path) -> None:
        assert REDIS_SERVER, "redis-server is not installed: run `make install`"
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.folder), "--appendonly", "yes", "--save", ""],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = self.client()
        wait_until("redis to answer", lambda: self._answers(client), 30, lambda: "")

    def _answers(self, client: redis.Redis) -> bool:
        assert self.process is not None and self.process.poll() is None, "redis-server exited"
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None

    def wipe(self) -> None:
        """Forgets everything (a Redis without persistence restarts empty)."""
        assert self.process is None, "stop it first"
        shutil.rmtree(self.folder / "appendonlydir", ignore_errors=True)
        (self.folder / "dump.rdb").unlink(missing_ok=True)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)


class Proc:
    """A silverback process and its output."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path, tmp: Path):
        self.name = name
        self.out, self.err = tmp / f"{name}.out", tmp / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)

    def text(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def output(self) -> str:
        return f"--- {self.name} ---\n{self.text()}"

    def exit_code(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """SIGTERM, then the exit status within STOP_TIMEOUT (None: it had to be killed)."""
        began = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.exit_code(STOP_TIMEOUT)
        print(f"{self.name} stopped in {time.monotonic() - began:.1f} s (exit {code})")  # -s
        if code is None:
            self.process.kill()
            self.process.wait()
        return code


OPERATOR_PAGE = Path("docs") / "keeper-operator.md"


def readme_broker_settings(readme: Path, url: str, queue: str) -> dict[str, str]:
    """docs/keeper-operator.md's `export SILVERBACK_…` lines (the distributed mode's settings, as
    an operator copies them), with this test's Redis URL and queue name."""
    text = readme.read_text()
    settings = dict(re.findall(r"^export (SILVERBACK_\w+)=(.+)$", text, flags=re.MULTILINE))
    names = {"BROKER_CLASS", "BROKER_KWARGS", "RESULT_BACKEND_CLASS", "RESULT_BACKEND_KWARGS"}
    assert set(settings) == {f"SILVERBACK_{n}" for n in names}, settings
    settings = {k: v.strip("'\"") for k, v in settings.items()}
    broker = json.loads(settings["SILVERBACK_BROKER_KWARGS"])
    results = json.loads(settings["SILVERBACK_RESULT_BACKEND_KWARGS"])
    assert broker["url"] == results["redis_url"]  # one Redis for both
    broker |= {"url": url, "queue_name": queue}
    results |= {"redis_url": url}
    settings["SILVERBACK_BROKER_KWARGS"] = json.dumps(broker)
    settings["SILVERBACK_RESULT_BACKEND_KWARGS"] = json.dumps(results)
    return settings


class Fleet:
    """Starts runners and workers on one queue; stops whatever is left at the end."""

    def __init__(self, repo_root: Path, node: str, server: RedisServer, manifest: Path, tmp: Path):
        self.repo_root, self.node, self.server, self.manifest, self.tmp = (
            repo_root, node, server, manifest, tmp,
        )  # fmt: skip
        self.queue = f"ballast-test-{os.getpid()}-{time.monotonic_ns()}"
        self.procs: list[Proc] = []

    def env(self, url: str | None = None, **extra: str) -> dict[str, str]:
        url = url or self.server.url
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("BALLAST_", "SILVERBACK_"))
        }
        return {
            **inherited,
            "APE_FOUNDRY_HOST": self.node,
            "BALLAST_KEEPER_MANIFEST": str(self.manifest),
            "BALLAST_KEEPER_STATE_DIR": str(self.tmp / "state"),
            "BALLAST_KEEPER_JOBS": '["liquidator"]',
            "SILVERBACK_BOT_NAME": self.queue,
            **readme_broker_settings(self.repo_root / OPERATOR_PAGE, url, self.queue),
            "NO_COLOR": "1",
            "COLUMNS": "200",
            **extra,
        }

    def start(self, name: str, role: str, env: dict[str, str]) -> Proc:
        args = ["-w", "1"] if role == "worker" else []
        command = [SILVERBACK, role, "keepers.bots.keeper:bot",
                   "--network", "ethereum:local:foundry", *args]  # fmt: skip
        proc = Proc(name, command, env, self.repo_root, self.tmp)
        self.procs.append(proc)
        return proc

    def worker(
        self, key: int, shard: int, count: int, name: str | None = None, **extra: str
    ) -> Proc:
        env = self.env(
            **{"BALLAST_KEEPER_ACCOUNT": f"TEST::{key}", "BALLAST_KEEPER_SHARD__INDEX": str(shard),
               "BALLAST_KEEPER_SHARD__COUNT": str(count), **extra}
        )  # fmt: skip
        return self.start(name or f"worker-{key}", "worker", env)

    def runner(self, **extra: str) -> Proc:
        return self.start("runner", "run", self.env(**extra))

    def output(self) -> str:
        return "\n".join(p.output() for p in self.procs)

    def lease(self, *parts: object) -> bytes | None:
        try:
            return self.server.client().get(":".join([self.queue, *map(str, parts)]))
        except redis.ConnectionError:
            return None

    def wait_worker_up(self, proc: Proc, address: str) -> None:
        """Until the worker holds its key's lease and has opened its keeper (in that order: the
        lease is claimed before the keeper opens)."""

        def up() -> bool:
            if (code := proc.process.poll()) is not None:
                pytest.fail(f"{proc.name} exited ({code}) at startup\n{self.output()}")
            return (
                self.lease("key", address.lower()) is not None
                and f"keeper {address} on chain" in proc.text()
            )

        wait_until(f"{proc.name}'s lease", up, START_TIMEOUT, self.output)

    def wait_runner_up(self, proc: Proc) -> None:
        def up() -> bool:
            if (code := proc.process.poll()) is not None:
                pytest.fail(f"the runner exited ({code}) at startup\n{self.output()}")
            return "Startup complete" in proc.text()

        wait_until("the runner's startup", up, START_TIMEOUT, self.output)

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.process.poll() is None:
                proc.process.kill()
                proc.process.wait()
        sessions = self.repo_root / ".silverback-sessions"
        shutil.rmtree(sessions / self.queue, ignore_errors=True)
        with contextlib.suppress(OSError):
            sessions.rmdir()
