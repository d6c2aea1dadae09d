"""The keeper bot (`silverback run keepers.bots.keeper:bot`, one process) while its node restarts
under it, as a fault drill runs it (`tests/node_restart_support.py`: a node of the test's own, the
system deployed by `ape run deploy`, the bot started as an operator starts it).

- The node restarted with its state (`anvil --state`: the same chain): the bot says so in one
  line, reconnects and acts on the next blocks — no traceback, no exit. (Silverback's own
  websocket runner printed a traceback of some hundred lines and exited with status 1, and the
  bot stayed down once the node was back: `keepers.bots.runner`.)
- The node restarted from an older dump (`anvil --load-state`: the chain 40 blocks back): the
  bot's jobs pass on the next blocks, not only once the chain grew past the head they read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node_restart_support import Bot, Node, automation_paused, rpc, running_bot


@pytest.fixture
def fleet(repo_root, tmp_path) -> Iterator[tuple[Node, Bot, Path]]:
    with running_bot(repo_root, tmp_path) as running:
        yield running


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


def test_a_node_restarted_from_an_older_state_gets_the_bots_passes_at_once(fleet, tmp_path):
    """`anvil --load-state` of a dump taken 40 blocks before the bot's last pass: the chain is
    back 40 blocks. A job skips a block its last pass already read (a backlog coalesces), so the
    bot sat idle until the chain grew past its old head again; here the feeds go stale on the
    rewound chain (three days pass) and the sentinel must pause the vault within a few blocks,
    not 40."""
    node, bot, manifest = fleet
    dump = node.dump(tmp_path / "older-state.json")
    at = node.head()
    rpc(node.url, "anvil_mine", [hex(40)])
    bot.wait_for("the bot's passes 40 blocks on", lambda: bot.cursor() >= at + 40, node.mine)
    node.stop()
    node.start(keep_state=False, load=dump)  # the chain as it was 40 blocks ago
    assert node.head() == at
    bot.wait_for("reconnecting", lambda: "answers again" in bot.log())
    assert not automation_paused(node, manifest)
    rpc(node.url, "evm_increaseTime", [3 * 86_400])  # past oracle.maxStaleness: critical passes

    def below_the_old_head() -> None:
        """A block for the bot to follow, while the chain is still below the head it read:
        whatever the machine's load, the pause must come before the chain grows back."""
        if node.head() < at + 39:
            node.mine()

    # the sentinel trips on its second critical pass (before: no pass until the chain grew back)
    bot.wait_for("the pause on the rewound chain", lambda: automation_paused(node, manifest),
                 tick=below_the_old_head)  # fmt: skip
    assert node.head() < at + 40  # before the chain grew back to the bot's old head
    assert "Traceback" not in bot.output(), bot.output()
    assert bot.stop() == 0, bot.output()
