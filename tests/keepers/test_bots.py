"""The keeper bot end to end: `silverback run keepers.bots.keeper:bot` as an operator starts it,
against this test run's anvil, with the guardian's key. It must follow new blocks with every
block job and, once the price feeds go stale for two passes, trip the sentinel and pause the
vault's automation on chain, then stop cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from keepers.store import Store
from tests.keeper_support import bound_state
from tests.ports import free_port

# keepers.bots.keeper.BLOCK_JOBS (not imported: importing the bot module connects its bot)
BLOCK_JOBS = ("sentinel", "liquidator", "settler", "evaluator")
GUARDIAN = 1  # deployments/config/local.yaml: roles.guardian is test account #1
STARTUP_TIMEOUT = 120.0  # importing Ape, connecting, opening the keeper: ~5-40 s
BLOCK_TIMEOUT = 30.0  # one block's passes (four batched reads, perhaps one transaction)
STOP_TIMEOUT = 90.0  # Silverback's graceful shutdown


class Bot:
    """The bot process, its output files and its keeper's state file."""

    def __init__(self, process: subprocess.Popen[bytes], out: Path, err: Path, state: Path) -> None:
        self.process, self.out, self.err, self.state = process, out, err, state
        self._store: Store | None = None

    def output(self) -> str:
        return (
            f"--- bot stdout ---\n{self.out.read_text(errors='replace')}\n"
            f"--- bot stderr ---\n{self.err.read_text(errors='replace')}"
        )

    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.state)
        return self._store

    def wait_for(self, what: str, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if (code := self.process.poll()) is not None:
                pytest.fail(f"bot exited ({code}) before {what}\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{self.output()}")
            time.sleep(0.25)

    def cursor(self, job: str) -> int:
        if not self.state.exists():
            return -1
        block = self.store().last_block(job)
        return -1 if block is None else block

    def stop(self) -> int | None:
        if self._store is not None:
            self._store.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        return self.process.returncode


@pytest.fixture
def bot_manifest(repo_root, accounts, tmp_path) -> Path:
    config = DeployConfig.load(repo_root / "deployments/config/local.yaml")
    deployment = deploy_system(config, accounts[0], report=lambda _: None)
    path = tmp_path / "deployments" / "ethereum-local.json"
    path.parent.mkdir()
    deployment.save(path)
    return path


@pytest.fixture
def bot(repo_root, chain, accounts, bot_manifest, tmp_path) -> Iterator[Bot]:
    state_dir = tmp_path / "state"
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("BALLAST_", "SILVERBACK_"))
    }
    env = {
        **inherited,
        "APE_FOUNDRY_HOST": chain.provider.uri,
        "BALLAST_KEEPER_MANIFEST": str(bot_manifest),
        "BALLAST_KEEPER_ACCOUNT": f"TEST::{GUARDIAN}",
        "BALLAST_KEEPER_STATE_DIR": str(state_dir),
        # Silverback's runner keeps a snapshot in ./.silverback-sessions/<bot name>/: a name of
        # this test's own, removed afterwards.
        "SILVERBACK_BOT_NAME": f"ballast-test-{os.getpid()}",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    out, err = tmp_path / "bot.out", tmp_path / "bot.err"
    command = [str(Path(sys.executable).with_name("silverback")), "run",
               "keepers.bots.keeper:bot", "--network", "ethereum:local:foundry"]  # fmt: skip
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=repo_root, env=env, stdout=stdout, stderr=stderr)
    state, _ = bound_state(state_dir, bot_manifest, str(accounts[GUARDIAN].address))
    running = Bot(process, out, err, state)
    try:
        yield running
    finally:
        running.stop()
        sessions = repo_root / ".silverback-sessions"
        shutil.rmtree(sessions / env["SILVERBACK_BOT_NAME"], ignore_errors=True)
        with contextlib.suppress(OSError):
            sessions.rmdir()  # only if no other bot's snapshot is there


def test_bot_follows_blocks_and_pauses_on_stale_feeds(bot, chain, bot_manifest):
    from keepers.protocol import Protocol

    vault = Protocol.load(bot_manifest).vault
    bot.wait_for(
        "the runner's startup",
        lambda: "Startup complete" in bot.out.read_text(errors="replace"),
        STARTUP_TIMEOUT,
    )

    # The block subscription is set up just after startup: mine until a block is seen.
    def sees_a_new_block() -> bool:
        chain.mine(1)
        target = chain.blocks.head.number
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and bot.cursor("sentinel") < target:
            time.sleep(0.2)
        return bot.cursor("sentinel") >= target

    bot.wait_for("the first block pass", sees_a_new_block, STARTUP_TIMEOUT)

    # Every block job passes on every new block.
    for _ in range(3):
        chain.mine(1)
        head = chain.blocks.head.number
        bot.wait_for(
            f"block {head}",
            lambda: all(bot.cursor(job) >= head for job in BLOCK_JOBS),  # noqa: B023
            BLOCK_TIMEOUT,
        )
    sentinel = json.loads(bot.store().job_state("sentinel") or "null")
    assert sentinel is not None, bot.output()
    assert (sentinel["tripped"], sentinel["critical_streak"]) == (False, 0), bot.output()
    assert sentinel["share_price"] > 0
    assert not vault.automationPaused()
    bot.wait_for(  # the task's return value, logged by the runner as Silverback metrics
        f"the metrics of block {head}",
        lambda: f"sentinel_block: {head}" in bot.out.read_text(errors="replace"),
        BLOCK_TIMEOUT,
    )

    # Feeds two days past oracle.maxStaleness (1 day): critical on every pass; the second
    # critical pass (trip_after 2) trips the sentinel, which holds GUARDIAN_ROLE and pauses.
    chain.pending_timestamp += 3 * 86_400
    for _ in range(2):
        chain.mine(1)
        head = chain.blocks.head.number
        bot.wait_for(f"block {head}", lambda: bot.cursor("sentinel") >= head, BLOCK_TIMEOUT)  # noqa: B023
    bot.wait_for("the pause", lambda: bool(vault.automationPaused()), BLOCK_TIMEOUT)

    pauses = [t for t in bot.store().transactions() if t.action_id.startswith("pauseAutomation:")]
    assert [(t.job, t.status) for t in pauses] == [("sentinel", "mined")], bot.output()
    assert json.loads(bot.store().job_state("sentinel") or "null")["tripped"] is True

    assert bot.stop() == 0, f"the bot did not stop cleanly on SIGTERM\n{bot.output()}"
    log = bot.err.read_text(errors="replace")
    assert not [job for job in BLOCK_JOBS if f"{job} pass failed" in log], bot.output()


def test_the_bot_refuses_a_host_where_no_node_answers(repo_root, bot_manifest, tmp_path):
    """The operator's node is down: `silverback run` connects first, ape-foundry starts a private
    anvil on the named host, and the bot stopped on that empty chain naming the manifest ("no
    code at LendingSleeve … run `ape run deploy` again"). It now stops in one line naming the
    node, exit status 1, having opened nothing of the key's."""
    port = free_port()
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("BALLAST_", "SILVERBACK_"))
    }
    env = {
        **inherited,
        "APE_FOUNDRY_HOST": f"http://127.0.0.1:{port}",
        "BALLAST_KEEPER_MANIFEST": str(bot_manifest),
        "BALLAST_KEEPER_ACCOUNT": f"TEST::{GUARDIAN}",
        "BALLAST_KEEPER_STATE_DIR": str(tmp_path / "state"),
        "SILVERBACK_BOT_NAME": f"ballast-test-{os.getpid()}-down",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    command = [str(Path(sys.executable).with_name("silverback")), "run",
               "keepers.bots.keeper:bot", "--network", "ethereum:local:foundry"]  # fmt: skip
    try:
        done = subprocess.run(
            command, cwd=repo_root, env=env, capture_output=True, text=True,
            timeout=STARTUP_TIMEOUT, check=False,
        )  # fmt: skip
    finally:
        sessions = repo_root / ".silverback-sessions"
        shutil.rmtree(sessions / env["SILVERBACK_BOT_NAME"], ignore_errors=True)
        with contextlib.suppress(OSError):
            sessions.rmdir()  # only if no other bot's snapshot is there
    output = done.stdout + done.stderr
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert done.returncode == 1, output
    assert errors == [
        f"Error: ballast keeper: no node answered at http://127.0.0.1:{port}, so ape-foundry "
        "started a private anvil there that stops with the bot: start your node first (or point "
        "APE_FOUNDRY_HOST at it), or set BALLAST_PRIVATE_NODE=1 for a private one"
    ], output
    assert "Traceback" not in output and "no code at" not in output, output
    assert not (tmp_path / "state").exists()
