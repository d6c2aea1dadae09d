"""The keeper bot's Redis retries (`keepers.bots.reconnect`): a lost connection is retried with
exponential backoff, the first failure only refreshes the pool, and the process logs one warning
per outage and one line when Redis answers again; passwords never reach a log line."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from keepers.bots import reconnect

URL = "redis://127.0.0.1:6379/0"


class Pool:
    def __init__(self) -> None:
        self.disconnects = 0

    async def disconnect(self, inuse_connections: bool = True) -> None:
        assert inuse_connections is False  # never the connection another call is using
        self.disconnects += 1


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(reconnect.asyncio, "sleep", sleep)
    monkeypatch.setattr(reconnect, "OUTAGE", reconnect._Outage())
    return slept


def failing(times: int, error: Exception):
    calls = {"n": 0}

    async def call() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return "ok"

    return call, calls


def test_an_outage_is_retried_with_backoff_and_said_once(sleeps, caplog):
    caplog.set_level(logging.INFO, logger="keepers.bot")
    pool = Pool()
    call, calls = failing(7, RedisConnectionError("Error 111 connecting to 127.0.0.1:6379."))
    assert asyncio.run(reconnect.retrying(URL, pool, call)) == "ok"
    assert calls["n"] == 8 and pool.disconnects == 1
    # the first failure is tried again at once; then 0.5 s doubling to the 10 s cap, ±20 %
    for slept, nominal in zip(sleeps, [0.5, 1, 2, 4, 8, 10], strict=True):
        assert 0.8 * nominal <= slept <= 1.2 * nominal
    lines = [r.getMessage() for r in caplog.records]
    error = "Error 111 connecting to 127.0.0.1:6379."
    assert lines[0] == f"redis {URL} does not answer ({error}); retrying with backoff"
    assert lines[1].startswith(f"redis {URL} answers again after ")
    assert len(lines) == 2


def test_a_closed_pooled_connection_is_no_outage(sleeps, caplog):
    pool = Pool()
    call, _ = failing(1, RedisConnectionError("Connection closed by server."))
    assert asyncio.run(reconnect.retrying(URL, pool, call)) == "ok"
    assert (sleeps, pool.disconnects, caplog.records) == ([], 1, [])


def test_an_error_that_is_not_a_lost_connection_is_raised(sleeps):
    call, calls = failing(1, ResponseError("WRONGTYPE Operation against a key"))
    with pytest.raises(ResponseError):
        asyncio.run(reconnect.retrying(URL, Pool(), call))
    assert calls["n"] == 1 and sleeps == []


def test_passwords_stay_out_of_log_lines():
    assert (
        reconnect.shown("redis://:s3cret@redis.internal:6380/2")
        == "redis://:***@redis.internal:6380/2"
    )
    assert reconnect.shown("redis://keeper:s3cret@h/0") == "redis://keeper:***@h/0"
    assert reconnect.shown(URL) == URL
