"""The keeper bot's start-up (`KeeperTasks.open`): whatever stops the keeper from opening ends
the bot with Silverback's `StartupFailure` and one line, never a traceback."""

from __future__ import annotations

import asyncio
import logging
import re
import threading

import pytest
from silverback.exceptions import StartupFailure

from keepers.runtime import StartupError


@pytest.fixture
def bot(chain):
    """keepers.bots.keeper (its Silverback bot is built on import: a provider connected). Opening
    it configures the `keepers` loggers (no propagation): restored afterwards, so later tests in
    this process still see their log records (caplog)."""
    from keepers.bots import keeper

    logger = logging.getLogger("keepers")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield keeper
    handlers, propagate, level = saved
    logger.handlers[:] = handlers
    logger.propagate = propagate
    logger.setLevel(level)


@pytest.mark.parametrize(
    ("raised", "says"),
    [
        (StartupError("no account alias 'k'"), "ballast keeper: no account alias 'k'"),
        (ConnectionError("connection refused\nretrying"),
         "ballast keeper: cannot open the keeper: ConnectionError: connection refused"),
        (KeyError("chainId"), "ballast keeper: cannot open the keeper: KeyError: 'chainId'"),
    ],
)  # fmt: skip
def test_any_start_up_failure_is_one_line(bot, monkeypatch, raised, says):
    monkeypatch.delenv("BALLAST_KEEPER_CONFIG", raising=False)

    def fail(*_args, **_kwargs):
        raise raised

    monkeypatch.setattr(bot, "open_keeper", fail)
    with pytest.raises(StartupFailure) as err:
        bot.KeeperTasks().open()
    assert str(err.value) == says


def test_a_settings_file_that_cannot_be_read_is_one_line(bot, monkeypatch, tmp_path):
    monkeypatch.setenv("BALLAST_KEEPER_CONFIG", str(tmp_path))  # a folder
    with pytest.raises(StartupFailure) as err:
        bot.KeeperTasks().open()
    assert (
        str(err.value) == f"ballast keeper: config file {tmp_path} cannot be read: Is a directory"
    )


def test_a_strategy_the_keeper_would_refuse_stops_the_bot_in_one_line(bot, monkeypatch):
    """A bot running the rebalancer tries the operator's strategy once it has opened the keeper
    (`keepers.runtime.check_strategy`): a refusal ends it with one line, its state file closed."""
    monkeypatch.delenv("BALLAST_KEEPER_CONFIG", raising=False)
    closed = []

    class Opened:
        class store:  # noqa: N801 - the keeper's store, as the bot closes it
            @staticmethod
            def close():
                closed.append(True)

    tried = []

    def refuse(keeper, jobs):
        tried.append((keeper, jobs))
        raise StartupError("rebalancer: strategy 'greedy:all_in' proposed [10000, 0]: sleeve 0: "
                           "target 10000 above ceiling 6000")  # fmt: skip

    monkeypatch.setattr(bot, "open_keeper", lambda *_a, **_k: Opened)
    monkeypatch.setattr(bot, "check_strategy", refuse)
    tasks = bot.KeeperTasks()
    with pytest.raises(StartupFailure) as err:
        tasks.open()
    assert str(err.value) == (
        "ballast keeper: rebalancer: strategy 'greedy:all_in' proposed [10000, 0]: sleeve 0: "
        "target 10000 above ceiling 6000"
    )
    assert len(tried) == 1 and tried[0][0] is Opened
    assert closed == [True] and tasks.keeper is None


def test_the_bot_acts_only_on_the_node_it_was_given(bot, chain, monkeypatch):
    """docs/keeper-operator.md runs the bot against the node `APE_FOUNDRY_HOST` names. Silverback
    connects before it loads the bot, and ape-foundry starts a private anvil on that host when no
    node answers there (or on a free port when none is named): the bot then stopped on the empty
    chain with "no code at LendingSleeve … (was the node restarted? run `ape run deploy`
    again)". Now the worker's start-up (and a Redis worker's or runner's `identify`) refuses
    such a node in one line naming the cause, before the keeper opens; a private node only when
    asked (`BALLAST_PRIVATE_NODE=1`). This test's provider started its own anvil, as
    ape-foundry does for a host where nothing answers."""
    assert chain.provider.process is not None
    monkeypatch.delenv("BALLAST_PRIVATE_NODE", raising=False)
    monkeypatch.delenv("APE_FOUNDRY_HOST", raising=False)
    with pytest.raises(StartupFailure) as err:
        bot.require_named_node()
    assert str(err.value).startswith(
        "ballast keeper: no node named: export APE_FOUNDRY_HOST=http://127.0.0.1:8545"
    )
    monkeypatch.setenv("APE_FOUNDRY_HOST", chain.provider.uri)  # where ape-foundry started one
    says = (
        f"ballast keeper: no node answered at {chain.provider.uri}, so ape-foundry started a "
        "private anvil there that stops with the bot: start your node first"
    )
    monkeypatch.setattr(bot.tasks, "open", lambda: pytest.fail("the keeper was opened"))
    with pytest.raises(StartupFailure) as err:
        asyncio.run(bot.open_keeper_at_worker_startup(None))
    assert str(err.value).startswith(says) and "\n" not in str(err.value)
    for worker in (True, False):
        with pytest.raises(StartupFailure, match=re.escape(says)):
            bot.identify(worker)
    monkeypatch.setenv("BALLAST_PRIVATE_NODE", "1")
    bot.require_named_node()  # asked for
    monkeypatch.delenv("BALLAST_PRIVATE_NODE")
    monkeypatch.setattr(chain.provider, "process", None)  # a node the provider found running
    bot.require_named_node()


def test_stopping_the_bot_ends_the_pass_under_way_and_starts_no_other(bot, monkeypatch):
    """Silverback's shutdown runs `stop_passes_at_shutdown` (SIGTERM, SIGINT) while a pass may
    still wait on its transaction: it sets the keeper's `stopping` (every sender's wait ends at
    its next look, tests/keepers/test_tx_sender.py) and no later pass starts."""
    ran = []

    class Opened:
        stopping = threading.Event()

        @staticmethod
        def run(job):
            ran.append(job)
            raise RuntimeError("not reached")

    tasks = bot.KeeperTasks()
    tasks.keeper, tasks.jobs = Opened, ("settler",)
    monkeypatch.setattr(bot, "tasks", tasks)
    bot.stop_passes_at_shutdown()
    assert Opened.stopping.is_set()
    assert tasks.run(("settler",), 5) == {} and ran == []
