"""Riding out a Redis outage (the keeper bot's distributed mode, `keepers.bots.redis`): every
call that fails for a lost connection is retried with backoff, and the process says so once.

`retrying(url, pool, call)` retries `call()` with exponential backoff (0.5 s doubling to 10 s,
±20 % jitter) until it succeeds; the first failure only drops the pool's idle connections and
tries again at once (after a Redis restart the server has closed them all: no outage). While
Redis does not answer, the process logs one warning (`redis <url> does not answer (<error>);
retrying with backoff`) and, when it answers again, one line (`redis <url> answers again after
N s`). `KeeperResultBackend` is taskiq-redis's result backend with its calls retried so.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import TaskiqResult
from taskiq_redis import RedisAsyncResultBackend

__all__ = ["OUTAGE", "RETRYABLE", "KeeperResultBackend", "one_line", "retrying", "shown"]

log = logging.getLogger("keepers.bot")

T = TypeVar("T")
RETRYABLE: Final = (RedisConnectionError, RedisTimeoutError, OSError)
FIRST_DELAY: Final = 0.5
MAX_DELAY: Final = 10.0


def shown(url: str) -> str:
    """`url` without its password (for log lines)."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (
            f":{parts.port}" if parts.port else ""
        )
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class _Outage:
    """This process's view of Redis: one warning when it stops answering, one line when back."""

    def __init__(self) -> None:
        self.since: float | None = None

    def down(self, url: str, err: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning(
                "redis %s does not answer (%s); retrying with backoff", shown(url), one_line(err)
            )

    def up(self, url: str) -> None:
        if self.since is not None:
            log.warning(
                "redis %s answers again after %.0f s", shown(url), time.monotonic() - self.since
            )
            self.since = None


OUTAGE = _Outage()


async def retrying(url: str, pool: ConnectionPool, call: Callable[[], Awaitable[T]]) -> T:
    """`call()` until it does not fail for a lost connection (backoff 0.5 s doubling to 10 s).
    The first failure drops `pool`'s idle connections and tries again at once: after a Redis
    restart they are all closed by the server, which is no outage."""
    delay, failures = FIRST_DELAY, 0
    while True:
        try:
            result = await call()
        except RETRYABLE as err:
            failures += 1
            if failures == 1:
                await pool.disconnect(inuse_connections=False)
                continue
            OUTAGE.down(url, err)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, MAX_DELAY)
            continue
        OUTAGE.up(url)
        return result


class KeeperResultBackend(RedisAsyncResultBackend[Any]):
    """taskiq-redis's result backend whose calls wait out a Redis outage."""

    def __init__(self, redis_url: str, **kwargs: Any) -> None:
        kwargs.setdefault("socket_connect_timeout", 5)
        super().__init__(redis_url, **kwargs)
        self.url = redis_url

    async def set_result(self, task_id: str, result: TaskiqResult[Any]) -> None:
        parent = super()
        await retrying(
            self.url,
            self.redis_pool,
            lambda: parent.set_result(task_id, result),
        )

    async def is_result_ready(self, task_id: str) -> bool:
        parent = super()
        return await retrying(
            self.url,
            self.redis_pool,
            lambda: parent.is_result_ready(task_id),
        )

    async def get_result(self, task_id: str, with_logs: bool = False) -> TaskiqResult[Any]:
        parent = super()
        return await retrying(
            self.url,
            self.redis_pool,
            lambda: parent.get_result(task_id, with_logs),
        )
