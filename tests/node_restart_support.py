"""A keeper bot and its own node for fault drills (tests/keepers/test_bot_node_restart.py,
tests/keepers/test_bot_chain_swap.py): an anvil on a port of the test's own, restartable with its
state, from an older dump or as a fresh chain; the system deployed there by `ape run deploy`;
`silverback run keepers.bots.keeper:bot` started as an operator starts it (this checkout's code,
JSON log lines); `running_bot` yields them and stops both."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth_utils import keccak

from keepers.store import Store
from tests.cli_forkserver import forked
from tests.ports import free_port

ANVIL = Path(__file__).resolve().parents[1] / "node_modules/.bin/anvil"
SILVERBACK = Path(sys.executable).with_name("silverback")
GUARDIAN = "TEST::1"  # deployments/config/local.yaml: roles.guardian
GUARDIAN_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TIMEOUT = 120.0


def rpc(url: str, method: str, params: list) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=10).read())["result"]


class Node:
    """An anvil on one port, restartable with its state (`--state`) or as a fresh chain."""

    def __init__(self, tmp_path: Path) -> None:
        self.port, self.state = free_port(), tmp_path / "anvil-state.json"
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, keep_state: bool, load: Path | None = None) -> None:
        command = [str(ANVIL), "--port", str(self.port), "--silent"]
        if keep_state:
            command += ["--state", str(self.state)]
        if load is not None:
            command += ["--load-state", str(load)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                rpc(self.url, "eth_chainId", [])
                return
            except OSError:
                assert self.process.poll() is None, "anvil exited"
                assert time.monotonic() < deadline, "anvil did not start"
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # anvil dumps its state (with --state) on SIGTERM
            self.process.wait(30)

    def dump(self, path: Path) -> Path:
        """The node's state now, as `anvil --dump-state` writes it (`--load-state` reads it)."""
        data = bytes.fromhex(str(rpc(self.url, "anvil_dumpState", []))[2:])
        path.write_bytes(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        return path

    def head(self) -> int:
        return int(rpc(self.url, "eth_blockNumber", []), 16)

    def mine(self) -> int:
        rpc(self.url, "evm_mine", [])
        return int(rpc(self.url, "eth_blockNumber", []), 16)


def deploy(node: Node, repo_root: Path, manifest: Path) -> dict:
    env = {**os.environ, "APE_FOUNDRY_HOST": node.url, "NO_COLOR": "1"}
    command, env = forked(["ape", "run", "deploy", "--network", "ethereum:local:foundry",
                           "--account", "TEST::0", "--manifest", str(manifest)], env)  # fmt: skip
    done = subprocess.run(
        command,
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(manifest.read_text())


class Bot:
    def __init__(
        self, node: Node, repo_root: Path, manifest: Path, tmp_path: Path, *options: str
    ) -> None:
        self.state_dir, self.repo_root = tmp_path / "state", repo_root
        self.out, self.err = tmp_path / "bot.out", tmp_path / "bot.err"
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("BALLAST_", "SILVERBACK_"))
        }
        self.name = f"ballast-node-restart-{os.getpid()}"
        env = {
            **inherited,
            # the bot is this checkout's (the console script's own import path is /work/main's)
            "PYTHONPATH": os.pathsep.join(
                [str(repo_root), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "APE_FOUNDRY_HOST": node.url,
            "BALLAST_KEEPER_MANIFEST": str(manifest),
            "BALLAST_KEEPER_ACCOUNT": GUARDIAN,
            "BALLAST_KEEPER_STATE_DIR": str(self.state_dir),
            "BALLAST_KEEPER_METRICS_PORT": "0",
            "BALLAST_KEEPER_LOG_JSON": "true",  # one line per entry, however long
            "BALLAST_KEEPER_JOBS": '["sentinel", "liquidator", "settler", "evaluator"]',
            "SILVERBACK_BOT_NAME": self.name,
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
        command = [str(SILVERBACK), "run", "keepers.bots.keeper:bot",
                   "--network", "ethereum:local:foundry", *options]  # fmt: skip
        with self.out.open("wb") as stdout, self.err.open("wb") as stderr:
            self.process = subprocess.Popen(
                command, cwd=repo_root, env=env, stdout=stdout, stderr=stderr
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def log(self) -> str:
        return self.err.read_text(errors="replace")

    def state_file(self) -> Path | None:
        files = sorted(self.state_dir.glob("31337-*.sqlite"))
        return files[0] if files else None

    def cursor(self, job: str = "sentinel") -> int:
        path = self.state_file()
        if path is None:
            return -1
        with Store(path) as store:
            block = store.last_block(job)
        return -1 if block is None else block

    def wait_for(
        self,
        what: str,
        done: Callable[[], bool],
        tick: Callable[[], object] = lambda: None,
        timeout: float = TIMEOUT,
    ) -> None:
        """Until `done()`, calling `tick()` about once a second (a block for the bot to follow)."""
        deadline, ticked = time.monotonic() + timeout, 0.0
        while not done():
            if time.monotonic() - ticked >= 1.0:
                tick()
                ticked = time.monotonic()
            if (code := self.process.poll()) is not None:
                pytest.fail(f"bot exited ({code}) before {what}\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}\n{self.output()}")
            time.sleep(0.25)

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        return self.process.returncode


def automation_paused(node: Node, manifest: Path) -> bool:
    vault = json.loads(manifest.read_text())["contracts"]["RWAVault"]
    call = {"to": vault, "data": "0x" + keccak(text="automationPaused()")[:4].hex()}
    return int(str(rpc(node.url, "eth_call", [call, "latest"])), 16) == 1


@contextlib.contextmanager
def running_bot(repo_root: Path, tmp_path: Path, *options: str) -> Iterator[tuple[Node, Bot, Path]]:
    """A node with the system deployed, and the bot following it (its first pass made)."""
    node = Node(tmp_path)
    node.start(keep_state=True)
    manifest = tmp_path / "ethereum-local.json"
    bot = None
    try:
        deploy(node, repo_root, manifest)
        bot = Bot(node, repo_root, manifest, tmp_path, *options)
        bot.wait_for("the first pass", lambda: bot.cursor() > 0, tick=node.mine)
        yield node, bot, manifest
    finally:
        if bot is not None:
            bot.stop()
            shutil.rmtree(repo_root / ".silverback-sessions" / bot.name, ignore_errors=True)
            with contextlib.suppress(OSError):
                (repo_root / ".silverback-sessions").rmdir()
        node.stop()
