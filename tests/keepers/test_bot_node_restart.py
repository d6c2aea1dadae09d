"""The keeper bot (`silverback run keepers.bots.keeper:bot`, one process) while its node restarts
under it, as a fault drill runs it: a node of its own (anvil on a port of this test), the system
deployed there by `ape run deploy`, the bot started as an operator starts it.

- The node restarted with its state (`anvil --state`: the same chain): the bot says so in one
  line, reconnects and acts on the next blocks — no traceback, no exit. (Silverback's own
  websocket runner printed a traceback of some hundred lines and exited with status 1, and the
  bot stayed down once the node was back: `keepers.bots.runner`.)
- The node replaced by a fresh chain at the same URL, the system deployed again at the same
  addresses: the bot sends nothing and writes nothing on the old deployment's state (its scan
  cursors, borrowers, done markers would miss the new chain's borrowers below the old cursor),
  says why in one line, and stops cleanly on SIGTERM (`KeeperTasks` checks the binding before
  each block's passes).
"""

from __future__ import annotations

import contextlib
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

from keepers.multicall import MULTICALL3_ADDRESS
from keepers.store import Store
from tests.ports import free_port

ANVIL = Path(__file__).resolve().parents[2] / "node_modules/.bin/anvil"
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

    def start(self, keep_state: bool) -> None:
        command = [str(ANVIL), "--port", str(self.port), "--silent"]
        if keep_state:
            command += ["--state", str(self.state)]
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

    def mine(self) -> int:
        rpc(self.url, "evm_mine", [])
        return int(rpc(self.url, "eth_blockNumber", []), 16)


def deploy(node: Node, repo_root: Path, manifest: Path) -> dict:
    env = {**os.environ, "APE_FOUNDRY_HOST": node.url, "NO_COLOR": "1"}
    done = subprocess.run(
        ["ape", "run", "deploy", "--network", "ethereum:local:foundry", "--account", "TEST::0",
         "--manifest", str(manifest)],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(manifest.read_text())


class Bot:
    def __init__(self, node: Node, repo_root: Path, manifest: Path, tmp_path: Path) -> None:
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
                   "--network", "ethereum:local:foundry"]  # fmt: skip
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


@pytest.fixture
def fleet(repo_root, tmp_path) -> Iterator[tuple[Node, Bot, Path]]:
    node = Node(tmp_path)
    node.start(keep_state=True)
    manifest = tmp_path / "ethereum-local.json"
    bot = None
    try:
        deploy(node, repo_root, manifest)
        bot = Bot(node, repo_root, manifest, tmp_path)
        bot.wait_for("the first pass", lambda: bot.cursor() > 0, tick=node.mine)
        yield node, bot, manifest
    finally:
        if bot is not None:
            bot.stop()
            shutil.rmtree(repo_root / ".silverback-sessions" / bot.name, ignore_errors=True)
            with contextlib.suppress(OSError):
                (repo_root / ".silverback-sessions").rmdir()
        node.stop()


def test_the_bot_rides_out_its_node_restarting_with_its_state(fleet):
    node, bot, _ = fleet
    before = bot.cursor()
    node.stop()
    node.start(keep_state=True)  # the same chain, carried on from its dump
    bot.wait_for("reconnecting", lambda: "answers again" in bot.log())
    bot.wait_for("a pass after the restart", lambda: bot.cursor() > before, tick=node.mine)
    log = bot.log()
    assert "Traceback" not in bot.output(), bot.output()
    assert log.count("connection lost") == 1 and log.count("answers again") == 1, log
    assert bot.stop() == 0, bot.output()


def test_the_bot_acts_on_no_stale_state_when_a_fresh_chain_answers_at_its_nodes_url(
    fleet, project, repo_root, tmp_path
):
    node, bot, manifest = fleet
    old = json.loads(manifest.read_text())
    state_file = bot.state_file()
    before = bot.cursor()
    node.stop()
    node.start(keep_state=False)  # a fresh anvil at the same URL: another genesis
    fresh = deploy(node, repo_root, tmp_path / "fresh.json")
    assert fresh["contracts"] == old["contracts"]  # the same addresses: only the chain differs
    runtime = project.Multicall3.contract_type.runtime_bytecode.bytecode
    rpc(node.url, "anvil_setCode", [MULTICALL3_ADDRESS, runtime])  # as any keeper there puts it
    nonce = int(rpc(node.url, "eth_getTransactionCount", [GUARDIAN_ADDRESS, "latest"]), 16)
    while node.mine() <= before:  # past the blocks the old state has read
        pass
    bot.wait_for(
        "a pass on the fresh chain or the bot saying it changed",
        lambda: "another chain" in bot.log() or bot.cursor() > before,
        tick=node.mine,
    )
    for _ in range(3):  # three more blocks: the passes they would run
        node.mine()
        time.sleep(1)
    assert bot.state_file() == state_file
    # nothing of the fresh chain read into the old deployment's state (its cursors, borrowers)
    assert bot.cursor() == before, (bot.cursor(), before)
    assert int(rpc(node.url, "eth_getTransactionCount", [GUARDIAN_ADDRESS, "latest"]), 16) == nonce
    lines = [line for line in bot.log().splitlines() if "another chain" in line]
    assert len(lines) == 4, bot.log()  # once per job, not once per block
    assert "genesis hash" in lines[0]
    assert "Traceback" not in bot.output(), bot.output()
    assert bot.stop() == 0, bot.output()
