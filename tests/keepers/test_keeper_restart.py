"""Keepers surviving the worst: a keeper process killed (SIGKILL) in the middle of its
liquidations and started again finishes the job with no action done twice; a node restarted
under a keeper (anvil with `--state`) is reconnected to and the keeper resumes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from keepers.math import WAD
from keepers.store import Store
from tests.cli_forkserver import forked
from tests.keeper_support import bound_state, open_many_positions, protocol_of
from tests.lending_support import deploy_lending_system
from tests.ports import free_port
from tests.vault_support import USDC, faucet

KEEPER = Path(sys.executable).with_name("ballast-keeper")
ANVIL = Path(__file__).resolve().parents[2] / "node_modules/.bin/anvil"


def keeper_process(node: str, repo_root: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "APE_FOUNDRY_HOST": node, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        [str(KEEPER), *args], cwd=repo_root, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def mined_liquidations(state_file: Path) -> int:
    if not state_file.exists():
        return 0
    db = sqlite3.connect(state_file, timeout=5)
    try:
        return db.execute(
            "SELECT count(*) FROM txs WHERE action_id LIKE 'liquidate:%' AND status = 'mined'"
        ).fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        db.close()


def test_a_keeper_killed_mid_run_finishes_without_doing_anything_twice(
    project, accounts, chain, repo_root, tmp_path
):
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 1_000_000 * USDC)
    borrowers = open_many_positions(lending, 90, accounts[0])
    keeper_account = accounts[7]
    faucet(lending.asset, keeper_account, 1_000_000 * USDC)
    manifest = tmp_path / "ethereum-local.json"
    protocol_of(lending).deployment.save(manifest)
    lending.set_nav("tbill", 65_000_000)  # tbill -35 %: the most indebted ~40 % are unhealthy
    lending.confirm("tbill")  # a liquidation counts the fall once confirmed
    book = lending.book
    unhealthy = {b for b in borrowers if book.healthFactor(b) < WAD}
    assert len(unhealthy) >= 15
    start = chain.blocks.head.number + 1
    state_dir = tmp_path / "state"
    state_file, _ = bound_state(state_dir, manifest, keeper_account.address)
    args = ("--manifest", str(manifest), "--account", "TEST::7", "--state-dir", str(state_dir),
            "once", "--job", "liquidator")  # fmt: skip

    first = keeper_process(chain.provider.uri, repo_root, *args)
    deadline = time.monotonic() + 180
    while mined_liquidations(state_file) < 3:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the keeper never got going"
        time.sleep(0.1)
    first.kill()  # SIGKILL: no cleanup, possibly a transaction in flight
    first.wait(30)
    done_before = mined_liquidations(state_file)
    assert 3 <= done_before < len(unhealthy), "killed too late to test a resume"

    second = keeper_process(chain.provider.uri, repo_root, *args)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, out + err

    head = chain.blocks.head.number
    liquidated = [log.borrower for log in book.Liquidated.range(start, head + 1)]
    assert sorted(liquidated) == sorted(unhealthy)  # every one, each exactly once
    with Store(state_file) as store:
        assert store.in_flight() == []  # the killed run's transaction was reconciled
        mined = [t for t in store.transactions() if t.action_id.startswith("liquidate:")
                 and t.status == "mined"]  # fmt: skip
        assert len(mined) == len(unhealthy)
        assert len({t.action_id.split(":")[1] for t in mined}) == len(unhealthy)
        assert store.last_block("liquidator") is not None


# ------------------------------------------------------------------ the node restarts


def rpc(url: str, method: str, params: list) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=10).read())["result"]


def start_anvil(port: int, state: Path) -> subprocess.Popen:
    node = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--state", str(state), "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            rpc(url, "eth_chainId", [])
            return node
        except OSError:
            assert node.poll() is None, node.stderr.read().decode()
            assert time.monotonic() < deadline, "anvil did not start"
            time.sleep(0.2)


@pytest.fixture
def restartable_node(tmp_path):
    port, state = free_port(), tmp_path / "anvil-state.json"
    nodes = [start_anvil(port, state)]

    def restart() -> None:
        nodes[-1].terminate()  # anvil dumps its state on exit
        nodes[-1].wait(30)
        nodes.append(start_anvil(port, state))

    yield f"http://127.0.0.1:{port}", restart
    for node in nodes:
        if node.poll() is None:
            node.terminate()
            node.wait(30)


def test_the_keeper_reconnects_to_a_restarted_node_and_resumes(
    restartable_node, repo_root, tmp_path
):
    url, restart = restartable_node
    manifest = tmp_path / "ethereum-local.json"
    command, env = forked(
        ["ape", "run", "deploy", "--network", "ethereum:local:foundry", "--account", "TEST::0",
         "--manifest", str(manifest)],
        {**os.environ, "APE_FOUNDRY_HOST": url, "NO_COLOR": "1"},
    )  # fmt: skip
    deploy = subprocess.run(
        command,
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    state_dir = tmp_path / "state"
    args = ("--manifest", str(manifest), "--account", "TEST::7", "--state-dir", str(state_dir),
            "once", "--job", "sentinel", "--job", "evaluator")  # fmt: skip

    first = keeper_process(url, repo_root, *args)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, out + err
    (state_file,) = state_dir.glob("31337-0x*.sqlite")  # one chain, deployment and key: one file
    with Store(state_file) as store:
        before = store.last_block("sentinel")
    assert before is not None

    restart()
    rpc(url, "evm_mine", [])  # the restarted node carries on from the dumped chain
    second = keeper_process(url, repo_root, *args)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, out + err
    with Store(state_file) as store:
        assert store.last_block("sentinel") > before
        assert store.last_block("evaluator") > before
