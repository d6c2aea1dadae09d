"""The keeper bot's node replaced under it by a fresh chain at the same URL, the system deployed
there again at the same addresses (`tests/node_restart_support.py`): the bot sends nothing and
writes nothing on the old deployment's state (its scan cursors, borrowers and done markers would
miss the new chain's borrowers below the old cursor), says why in one line per job, and stops
cleanly on SIGTERM (`keepers.bots.keeper.KeeperTasks` checks the binding before each block's
passes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from keepers.multicall import MULTICALL3_ADDRESS
from tests.node_restart_support import GUARDIAN_ADDRESS, Bot, Node, deploy, rpc, running_bot


@pytest.fixture
def fleet(repo_root, tmp_path) -> Iterator[tuple[Node, Bot, Path]]:
    with running_bot(repo_root, tmp_path) as running:
        yield running


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
    bot.wait_for(  # every job's pass refused on the fresh chain, each said once
        "every job saying the chain changed",
        lambda: sum("another chain" in line for line in bot.log().splitlines()) >= 4,
        tick=node.mine,
    )
    for _ in range(3):  # three more blocks: their passes must say nothing more
        node.mine()
    assert bot.state_file() == state_file
    # nothing of the fresh chain read into the old deployment's state (its cursors, borrowers)
    assert bot.cursor() == before, (bot.cursor(), before)
    assert int(rpc(node.url, "eth_getTransactionCount", [GUARDIAN_ADDRESS, "latest"]), 16) == nonce
    lines = [line for line in bot.log().splitlines() if "another chain" in line]
    assert len(lines) == 4, bot.log()  # once per job, not once per block
    assert "genesis hash" in lines[0]
    assert "Traceback" not in bot.output(), bot.output()
    assert bot.stop() == 0, bot.output()
