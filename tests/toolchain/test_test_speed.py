"""The two things the suite's speed rests on (measured in the README's CI figures, not here):
signatures in C (coincurve, pinned in requirements.txt) and receipts polled every 5 ms
(tests/conftest.py). A dropped pin or a lost patch would not fail any behaviour test, only
make CI slow again, so they are checked by name."""

from __future__ import annotations

import pytest
from eth_keys import KeyAPI
from eth_keys.backends import CoinCurveECCBackend
from web3.eth.eth import Eth

from tests import conftest


def test_signatures_use_the_c_backend():
    assert isinstance(KeyAPI().backend, CoinCurveECCBackend), (
        "eth-keys fell back to its pure-Python backend: is coincurve installed (requirements.txt)?"
    )


@pytest.fixture
def waits(monkeypatch) -> list[tuple[object, float, float]]:
    seen: list[tuple[object, float, float]] = []
    monkeypatch.setattr(
        conftest,
        "_wait_for_receipt",
        lambda _eth, tx, timeout, latency: seen.append((tx, timeout, latency)),
    )
    return seen


def test_receipts_are_polled_every_5_ms_unless_a_caller_asks_otherwise(waits):
    Eth.wait_for_transaction_receipt(None, "0x01", timeout=30)  # as Ape's get_receipt calls it
    Eth.wait_for_transaction_receipt(None, "0x02", 7, 0.5)
    assert waits == [("0x01", 30, conftest.RECEIPT_POLL_SECONDS), ("0x02", 7, 0.5)]
    assert conftest.RECEIPT_POLL_SECONDS == 0.005
