"""The keeper bot polling for blocks — what `silverback run` does for a provider with no
websocket URI (an HTTP-only endpoint), forced here with `--runner
keepers.bots.runner:KeeperPollingRunner` as keepers/bots/README.md says — while its node idles
and restarts (`tests/node_restart_support.py`). Silverback's `PollingRunner` ended the bot with
exit status 0 (a supervisor restarting on failure takes it for a clean stop) after 10 s without
a new block on a local network, and as soon as the node did not answer; the bot's runner polls
again with backoff, one line when blocks stop, one when they come back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node_restart_support import Bot, Node, running_bot

POLLING = ("--runner", "keepers.bots.runner:KeeperPollingRunner")


@pytest.fixture
def fleet(repo_root, tmp_path) -> Iterator[tuple[Node, Bot, Path]]:
    with running_bot(repo_root, tmp_path, *POLLING) as running:
        yield running


def test_the_polling_bot_rides_out_an_idle_chain_and_its_node_restarting(fleet):
    node, bot, _ = fleet
    time.sleep(12)  # no block for longer than a local network's poll timeout (10 s)
    idle = bot.cursor()
    bot.wait_for("a pass after the idle spell", lambda: bot.cursor() > idle, tick=node.mine)
    before = bot.cursor()
    node.stop()
    node.start(keep_state=True)  # the same chain, carried on from its dump
    bot.wait_for("a pass after the restart", lambda: bot.cursor() > before, tick=node.mine)
    log = bot.log()
    assert "gives no block" in log and "gives blocks again" in log, log
    assert "Traceback" not in bot.output(), bot.output()
    assert bot.stop() == 0, bot.output()
