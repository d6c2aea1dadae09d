"""tests/clock_skew.py: the opt-in plugin that makes seconds pass between transactions."""

from __future__ import annotations

from tests.clock_skew import skewed


def test_the_clock_moves_before_every_mining_request_and_only_then():
    sent = []
    request = skewed(lambda self, method, params: sent.append((method, params)) or "ok", 2)
    assert request(None, "eth_call", [{}, "latest"]) == "ok"
    assert request(None, "eth_sendRawTransaction", ["0x01"]) == "ok"
    assert request(None, "evm_mine", []) == "ok"
    assert sent == [
        ("eth_call", [{}, "latest"]),
        ("evm_increaseTime", [2]),
        ("eth_sendRawTransaction", ["0x01"]),
        ("evm_increaseTime", [2]),
        ("evm_mine", []),
    ]
