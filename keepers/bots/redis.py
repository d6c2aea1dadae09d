"""The keeper bot's Redis broker for Silverback's distributed mode (see keepers/bots/README.md).

    SILVERBACK_BROKER_CLASS=keepers.bots.redis:KeeperStreamBroker
    SILVERBACK_RESULT_BACKEND_CLASS=keepers.bots.redis:KeeperResultBackend

taskiq-redis's `RedisStreamBroker` and `RedisAsyncResultBackend`, with four changes:

- **Fan-out per key.** Each worker reads the task stream through its own consumer group,
  `<queue>:<key address>`, so every worker sees every block and its liquidator takes only its
  shard of the borrowers (`KeeperSettings.shard`). A task a worker left unacknowledged (killed
  mid-pass) stays pending in its key's group and is handed to the next worker of that key as
  soon as it starts.
- **Reconnects.** Every Redis call (queueing, reading, acknowledging, results, heartbeats)
  that fails for a lost connection is retried with exponential backoff (0.5 s doubling to
  10 s); the process logs one warning when Redis stops answering and one line when it answers
  again (`keepers.bots.reconnect`). A consumer group lost with an unpersisted Redis is
  declared again.
- **Start-up checks** (each refused with one line and exit status 1, before the bot's
  handlers run: a refused worker has not opened its keeper, so it touched neither the key's
  state file nor its metrics port nor its transactions in flight): Redis does not answer;
  the runner or a worker is on another chain or deployment than the processes already on the
  queue (`<queue>:network`, the `ChainBinding` of the first); a key or a shard already held
  by a live worker (`<queue>:key:<address>`, `<queue>:shard:<index>`, `<queue>:shards`);
  a runner with no worker up.
- **Leases.** Those records expire `lease_ms` (15 s) after their holder stops refreshing them
  (every third of that): a worker killed without a goodbye frees its key after 15 s. A runner
  asking a question at shutdown when no worker holds a lease any more answers it itself,
  so it stops whichever process is stopped first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import socket
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from silverback.exceptions import StartupFailure
from taskiq import AckableMessage, BrokerMessage, TaskiqResult
from taskiq_redis import RedisStreamBroker

from keepers.bots.reconnect import (
    FIRST_DELAY,
    MAX_DELAY,
    OUTAGE,
    RETRYABLE,
    KeeperResultBackend,
    one_line,
    retrying,
    shown,
)

__all__ = ["KeeperResultBackend", "KeeperStreamBroker", "Member"]

log = logging.getLogger("keepers.bot")

# Silverback's questions a runner asks at shutdown, and the answer it gets when no worker is up.
SHUTDOWN_QUESTIONS: Final = {"system:create-snapshot", "system:user-taskdata"}
# Refresh the leases we hold; take one back that expired while Redis was away; 0: another has it.
_REFRESH: Final = """
local out = {}
for i, key in ipairs(KEYS) do
  local held = redis.call('GET', key)
  if held == false then
    redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1]); out[i] = 1
  elseif held == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1]); out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""


@dataclass(frozen=True)
class Member:
    """Who a process is on the queue: the chain and deployment it serves (`network`: the
    `ChainBinding.describe()` line, `binding`: its key) and, for a worker, its key address and
    shard (index of count)."""

    binding: str
    network: str
    address: str | None = None
    shard: tuple[int, int] = (0, 1)


class KeeperStreamBroker(RedisStreamBroker):
    """The stream broker with per-key fan-out, reconnects, start-up checks and leases (see the
    module docstring). `lease_ms`: how long a record outlives its holder's last refresh."""

    def __init__(
        self, url: str, queue_name: str = "ballast-keeper", lease_ms: int = 15_000, **kwargs: Any
    ) -> None:
        kwargs.setdefault("socket_connect_timeout", 5)
        kwargs.setdefault("unacknowledged_lock_timeout", 10)
        super().__init__(url, queue_name=queue_name, **kwargs)
        self.url = url
        self.lease_ms = lease_ms
        self.member: Member | None = None
        # who this process is (argument: a worker?), set by the bot when its module is imported;
        # asked at startup before the bot's handlers run (a worker opens its keeper in them)
        self.identify: Callable[[bool], Member] | None = None
        # called on SIGTERM/SIGINT (the bot: its pass under way stops waiting on its transaction)
        self.on_stop: Callable[[], None] | None = None
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._leases: dict[str, str] = {}
        self._started = asyncio.Lock()
        self._ready = False
        self._heartbeat: asyncio.Task[None] | None = None
        self._recovered: list[tuple[str, dict[bytes, bytes]]] = []
        self._watches: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    def _key(self, *parts: object) -> str:
        return ":".join([self.queue_name, *map(str, parts)])

    # ----- start-up -------------------------------------------------------------------------

    async def startup(self) -> None:
        """Once per process (every receiver of a worker calls it): Redis answers, who this
        process is (`identify`: settings, account, chain binding; nothing of the key's is
        touched), the consumer group of its key, this process's leases, and only then the bot's
        handlers (a worker's keeper opens: its state file, its metrics port, the reconciling of
        its transactions in flight), then the tasks its key left unacknowledged. A second
        worker of a held key is thus refused before it opens anything."""
        async with self._started:
            if self._ready:
                return
            await self._ping()
            if self.member is None and self.identify is not None:
                self.member = self.identify(self.is_worker_process)
            if self.member is None:
                raise StartupFailure(
                    "ballast keeper: the bot did not name this process to the broker"
                )
            if self.is_worker_process:  # the group first: a runner seeing our lease reaches us
                self.consumer_group_name = self._key((self.member.address or "readonly").lower())
                self.consumer_name = self.token
                await self._declare_consumer_group()
            await self._claim(self.member)
            # refreshed from now on: opening the keeper may outlast a lease
            self._heartbeat = asyncio.create_task(self._beat())
            try:
                await super(RedisStreamBroker, self).startup()  # the event handlers, the results
                if self.is_worker_process:
                    await self._recover()
                    self._stop_on_signals()
                else:
                    await self._require_a_worker()
            except BaseException:
                await self._stop_beating()
                with contextlib.suppress(Exception):  # else they expire after `lease_ms`
                    await self._release()
                raise
            self._ready = True

    async def _ping(self) -> None:
        try:
            async with Redis(connection_pool=self.connection_pool) as redis:
                await redis.ping()
        except (*RETRYABLE, ResponseError) as err:
            raise StartupFailure(
                f"ballast keeper: redis {shown(self.url)} does not answer: {one_line(err)}"
            ) from None

    async def _claim(self, member: Member) -> None:
        """Takes this process's leases or refuses to start (one line)."""
        network = json.dumps({"binding": member.binding, "network": member.network})
        leases = {self._key("network"): network}
        if self.is_worker_process:
            index, count = member.shard
            who = member.address or "readonly"
            leases |= {
                self._key("shards"): str(count),
                self._key("key", who.lower()): self.token,
                self._key("shard", index): f"{who} {self.token}",
            }
        async with Redis(connection_pool=self.connection_pool) as redis:
            for key, value in leases.items():
                if await redis.set(key, value, nx=True, px=self.lease_ms):
                    self._leases[key] = value
                    continue
                held = await redis.get(key)
                held = held.decode() if isinstance(held, bytes) else held
                if key.endswith(":network") and held == value:
                    self._leases[key] = value  # shared by everyone on the queue
                    continue
                if key.endswith(":shards") and held == value:
                    self._leases[key] = value
                    continue
                await self._release()
                raise StartupFailure(f"ballast keeper: {self._refusal(key, held, member)}")

    def _refusal(self, key: str, held: str | None, member: Member) -> str:
        where = f"redis {shown(self.url)} queue {self.queue_name}"
        if key.endswith(":network"):
            other = json.loads(held or "{}").get("network", "?")
            return (
                f"{where} serves {other}; this process is on {member.network}: "
                "give each chain and deployment its own queue_name"
            )
        if key.endswith(":shards"):
            return (
                f"the workers on {where} split the borrowers in {held} shards; this worker says "
                f"{member.shard[1]} (BALLAST_KEEPER_SHARD__COUNT)"
            )
        if ":key:" in key:
            return (
                f"key {member.address} is already held by the worker {held} on {where}: "
                "run one worker per key"
            )
        return (
            f"shard {member.shard[0]} of {member.shard[1]} is already taken by the worker "
            f"{(held or '?').split(' ')[0]} on {where}: give each key its own "
            "BALLAST_KEEPER_SHARD__INDEX"
        )

    async def _require_a_worker(self) -> None:
        if not await self._workers_alive():
            await self._release()
            raise StartupFailure(
                f"ballast keeper: no keeper worker is up on redis {shown(self.url)} queue "
                f"{self.queue_name}: start `silverback worker` first"
            )

    async def _workers_alive(self) -> bool:
        async def scan() -> bool:
            async with Redis(connection_pool=self.connection_pool) as redis:
                async for _ in redis.scan_iter(match=self._key("key", "*"), count=100):
                    return True
            return False

        return await retrying(self.url, self.connection_pool, scan)

    async def _recover(self) -> None:
        """Tasks left pending in this key's group by a worker that stopped (killed mid-pass):
        they are this key's and only one worker holds the key, so they are ours now."""
        async with Redis(connection_pool=self.connection_pool) as redis:
            claimed = await redis.xautoclaim(
                self.queue_name, self.consumer_group_name, self.consumer_name,
                min_idle_time=0, start_id="0-0", count=self.unacknowledged_batch_size,
            )  # fmt: skip
        self._recovered = [(m, body) for m, body in claimed[1] if body]
        if self._recovered:
            log.warning(
                "redelivering %d task(s) a previous worker of key %s left unacknowledged",
                len(self._recovered), self.member.address if self.member else "?",
            )  # fmt: skip

    # ----- leases ---------------------------------------------------------------------------

    async def _beat(self) -> None:
        """Refreshes this process's leases every third of `lease_ms` (through outages)."""
        keys, values = list(self._leases), list(self._leases.values())
        while True:
            await asyncio.sleep(self.lease_ms / 3000)

            async def refresh() -> list[int]:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    return await redis.eval(_REFRESH, len(keys), *keys, self.lease_ms, *values)

            held = await retrying(self.url, self.connection_pool, refresh)
            lost = [k for k, ok in zip(keys, held, strict=True) if not ok]
            if lost and self.is_worker_process:
                log.error(
                    "lease %s taken by another process while redis was away: stopping", lost[0]
                )
                self._stopping.set()
                return

    async def _release(self) -> None:
        """Gives back the leases only this process holds (not the shared network record)."""
        mine = [k for k in self._leases if not k.endswith((":network", ":shards"))]
        if mine:
            async with Redis(connection_pool=self.connection_pool) as redis:
                for key in mine:
                    held = await redis.get(key)
                    if held is not None and held.decode() == self._leases[key]:
                        await redis.delete(key)
        self._leases.clear()

    async def _stop_beating(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None

    async def shutdown(self) -> None:
        await self._stop_beating()
        try:
            await asyncio.wait_for(self._release(), timeout=5)
        except (TimeoutError, *RETRYABLE):
            pass  # Redis is away: the leases expire by themselves
        await super().shutdown()

    # ----- the stream -----------------------------------------------------------------------

    async def kick(self, message: BrokerMessage) -> None:
        """Queues `message`, waiting out an outage. A shutdown question of the runner's when no
        worker holds a lease any more is answered here (a worker stopped first)."""
        if message.task_name in SHUTDOWN_QUESTIONS and not await self._workers_alive():
            await self._answer_alone(message)
            return
        queue = super().kick
        await retrying(self.url, self.connection_pool, lambda: queue(message))
        if message.task_name in SHUTDOWN_QUESTIONS:  # the worker may stop before answering
            watch = asyncio.create_task(self._answer_if_abandoned(message))
            self._watches.add(watch)
            watch.add_done_callback(self._watches.discard)

    async def _answer_if_abandoned(self, message: BrokerMessage) -> None:
        while not await self.result_backend.is_result_ready(message.task_id):
            if not await self._workers_alive():
                await self._answer_alone(message)
                return
            await asyncio.sleep(1)

    async def _answer_alone(self, message: BrokerMessage) -> None:
        if message.task_name == "system:user-taskdata":
            result: TaskiqResult[Any] = TaskiqResult(
                is_err=False, return_value=[], execution_time=0.0, log=None
            )
        else:
            result = TaskiqResult(
                is_err=True, return_value=None, execution_time=0.0, log=None,
                error=RuntimeError("no keeper worker is up to take a snapshot"),
            )  # fmt: skip
        await self.result_backend.set_result(message.task_id, result)

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        ack = super()._ack_generator(id, queue_name)

        async def _ack() -> None:
            await retrying(self.url, self.connection_pool, ack)

        return _ack

    def _stop_on_signals(self) -> None:
        """SIGTERM or SIGINT: stop taking tasks; the passes under way finish (`on_stop`: a pass
        stops waiting on its transaction, left recorded for the next start), then the worker
        shuts down (its handlers run, its leases are given back) and exits 0."""

        def stop() -> None:
            self._stopping.set()
            if self.on_stop is not None:
                self.on_stop()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """The messages of `_messages` until a stop signal (a message read but not yet handed
        over stays pending in this key's group: the next worker of the key takes it)."""
        messages = self._messages()
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            while True:
                following = asyncio.ensure_future(anext(messages))
                await asyncio.wait({following, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not following.done():
                    following.cancel()
                    with contextlib.suppress(asyncio.CancelledError, *RETRYABLE):
                        await following
                    return
                yield following.result()
        finally:
            stop.cancel()
            await messages.aclose()

    async def _messages(self) -> AsyncGenerator[AckableMessage, None]:
        """taskiq-redis's reading loop, restarted after a lost connection or a lost group."""
        while self._recovered:
            msg_id, body = self._recovered.pop(0)
            yield AckableMessage(
                data=body[b"data"], ack=self._ack_generator(id=msg_id, queue_name=self.queue_name)
            )
        delay, failures = FIRST_DELAY, 0
        while True:
            try:
                async for message in super().listen():
                    OUTAGE.up(self.url)
                    delay, failures = FIRST_DELAY, 0
                    yield message
            except RETRYABLE as err:
                failures += 1
                if failures == 1:  # a pooled connection the server closed: try a fresh one
                    await self.connection_pool.disconnect(inuse_connections=False)
                    continue
                OUTAGE.down(self.url, err)
            except ResponseError as err:
                if "NOGROUP" not in str(err):
                    raise
                log.warning(
                    "consumer group %s is gone (redis restarted empty?): declaring it again",
                    self.consumer_group_name,
                )
                self.consumer_id = "0"  # the whole (new) stream: nothing queued since is missed
                await retrying(self.url, self.connection_pool, self._declare_consumer_group)
                continue
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, MAX_DELAY)
