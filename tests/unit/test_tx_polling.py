"""How long the keepers' sender waits between looks for a receipt (`TxSender._pause`): 10 ms,
doubling, never above the settings' `poll_interval`. A local node has mined by the second look;
a chain with slow blocks is polled at the full interval after a few quick reads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from keepers.settings import TxSettings
from keepers.tx import FIRST_POLL, TxSender


def sender(poll_interval: float, slept: list[float]) -> TxSender:
    account = SimpleNamespace(address="0x" + "11" * 20)
    return TxSender(account, settings=TxSettings(poll_interval=poll_interval), provider=object(),
                    sleep=slept.append)  # fmt: skip


def test_waits_double_from_10_ms_up_to_the_poll_interval():
    slept: list[float] = []
    s = sender(0.25, slept)
    looks = 0
    for _ in range(8):
        looks = s._pause(looks)
    assert looks == 8
    assert slept == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25, 0.25])
    assert FIRST_POLL == 0.01


def test_a_poll_interval_below_the_first_wait_is_kept_and_long_waits_never_overflow():
    slept: list[float] = []
    sender(0.005, slept)._pause(0)
    long_wait = sender(12.0, slept)
    long_wait._pause(10_000)  # a receipt awaited for hours: still the interval, no overflow
    assert slept == [0.005, 12.0]
