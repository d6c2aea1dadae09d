"""Riding out a node restart in the bot's runner (`silverback run keepers.bots.keeper:bot`).

Silverback's `WebsocketRunner` follows new blocks over one websocket subscription; when the node
goes away (restarted, a provider's connection dropped) its subscription handling ends, the runner
shuts down and the process exits with status 1 after a traceback of some hundred lines — and does
not come back when the node does (`tests/keepers/test_bot_node_restart.py`).

`KeeperWebsocketRunner` is that runner with the connection kept: when the subscription ends for a
lost connection it logs one warning (`node ws://… connection lost (<error>); reconnecting with
backoff`), reconnects with backoff (0.5 s doubling to 10 s, as `keepers.bots.reconnect` does for
Redis), subscribes its block (and log) tasks again on the new connection, and logs one line when
it is back (`node ws://… answers again after N s`). Blocks mined while it was away are not
replayed: each keeper pass reads the chain as it is, and the keeper's own cursors (log scans,
transactions in flight) cover the gap. Whether the node that answers is still the chain and
deployment the keeper's state belongs to is the keeper's check (`keepers.bots.keeper.KeeperTasks`),
made before every pass. The bot module makes it the runner `silverback run` picks for a websocket
provider; `--runner keepers.bots.runner:KeeperWebsocketRunner` names it explicitly.

`KeeperPollingRunner` does the same for Silverback's `PollingRunner` (picked for a provider with
no websocket URI; `--runner keepers.bots.runner:KeeperPollingRunner` forces it — Silverback's
reads `--runner silverback.runner:PollingRunner` before the bot is imported, so that string still
names Silverback's own): its block poll (Ape's
`poll_blocks`) ended the bot — exit status 0, which a supervisor restarting on failure takes for a
clean stop — as soon as the node did not answer, or gave no new block for 10 s on a local network
(50 block times on a live one). It now polls again with backoff, one line when the node stops
answering or giving blocks, one when a block comes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine
from typing import Any, Final

from ape import chain
from silverback.main import TaskData
from silverback.runner import BaseRunner, PollingRunner, WebsocketRunner
from silverback.utils import async_wrap_iter
from web3 import AsyncWeb3, WebSocketProvider
from web3.exceptions import ProviderConnectionError, TaskNotRunning, TimeExhausted
from websockets.exceptions import WebSocketException

from keepers.bots.reconnect import FIRST_DELAY, MAX_DELAY, one_line

__all__ = ["LOST", "KeeperPollingRunner", "KeeperWebsocketRunner"]

log = logging.getLogger("keepers.bot")

LOST: Final = (
    WebSocketException,  # ConnectionClosed and the handshake's errors
    ProviderConnectionError,
    TaskNotRunning,
    TimeExhausted,
    asyncio.TimeoutError,
    OSError,  # refused, reset
)
"""What a lost or refused websocket connection raises."""


class KeeperWebsocketRunner(WebsocketRunner):
    """Silverback's websocket runner, reconnecting when the node goes away (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subscriptions: list[tuple[str, TaskData]] = []

    async def _connect(self, retries: int = 1) -> AsyncWeb3:
        provider = WebSocketProvider(self.ws_uri, max_connection_retries=retries)
        web3 = AsyncWeb3(provider)
        await provider.connect()
        return web3

    async def _block_task(self, task_data: TaskData) -> None:
        self._subscriptions.append(("block", task_data))
        await super()._block_task(task_data)

    async def _event_task(self, task_data: TaskData) -> None:
        self._subscriptions.append(("event", task_data))
        await super()._event_task(task_data)

    async def run(self) -> None:
        self._web3 = await self._connect(retries=5)  # at startup as Silverback's own
        try:
            await BaseRunner.run(self)
        finally:
            await self._close()

    def _daemon_tasks(self) -> list[Coroutine]:
        return [self._follow()]

    def _cleanup_tasks(self) -> list[Coroutine]:
        return [self._close()]

    async def _close(self) -> None:
        """Unsubscribes and disconnects, quietly when the connection is already gone."""
        with contextlib.suppress(*LOST, Exception):
            await self._web3.subscription_manager.unsubscribe_all()
        with contextlib.suppress(*LOST, Exception):
            await self._web3.provider.disconnect()

    async def _follow(self) -> None:
        """Handles the subscriptions for ever, reconnecting when the connection is lost."""
        while True:
            try:
                await self._web3.subscription_manager.handle_subscriptions(run_forever=True)
            except LOST as err:
                lost, since = one_line(err), time.monotonic()
            else:
                # the listener ended without an error it raised: the connection is gone too
                lost, since = "the node closed the connection", time.monotonic()
            log.warning(
                "node %s connection lost (%s); reconnecting with backoff", self.ws_uri, lost
            )
            await self._reconnect()
            log.warning("node %s answers again after %.0f s", self.ws_uri, time.monotonic() - since)

    async def _reconnect(self) -> None:
        """A new connection with every subscription made again (backoff until it works)."""
        await self._close()
        delay = FIRST_DELAY
        while True:
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, MAX_DELAY)
            try:
                self._web3 = await self._connect()
                for kind, task_data in self._subscriptions:  # as at startup, not recorded again
                    if kind == "block":
                        await WebsocketRunner._block_task(self, task_data)
                    else:
                        await WebsocketRunner._event_task(self, task_data)
                return
            except LOST:
                await self._close()


class KeeperPollingRunner(PollingRunner):
    """Silverback's polling runner, polling again when the node stops answering or giving blocks
    (module docstring). Blocks the node mined meanwhile are not replayed: a poll starts at the
    head, and each pass reads the chain as it is."""

    async def _block_task(self, task_data: TaskData) -> None:
        delay, since, failure = FIRST_DELAY, 0.0, None
        while True:
            try:
                async for block in async_wrap_iter(chain.blocks.poll_blocks()):
                    if failure is not None:
                        log.warning(
                            "node %s gives blocks again after %.0f s",
                            chain.provider.uri,
                            time.monotonic() - since,
                        )
                        delay, failure = FIRST_DELAY, None
                    self._runtime_task_group.create_task(self.run_task(task_data, block))
            except Exception as err:  # noqa: BLE001 - a node down, a poll timed out: poll again
                if failure is None:
                    since, failure = time.monotonic(), one_line(err)
                    log.warning(
                        "node %s gives no block (%s); polling again with backoff",
                        chain.provider.uri,
                        failure,
                    )
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, MAX_DELAY)
