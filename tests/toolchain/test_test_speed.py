"""The things the suite's speed rests on (measured in the README's CI figures, not here):
signatures in C (coincurve, pinned in requirements.txt), receipts polled every 5 ms and HTTP
sessions that do not re-read the environment on every RPC call (tests/conftest.py), and the
ecosystem's default transaction type named in ape-config.yaml (or Ape builds a network config
for every lookup). A dropped pin or a lost patch would not fail any behaviour test, only make
CI slow again, so they are checked by name. The round trips the test process skips around reads
and transactions (tests/ape_round_trips.py) are checked on a chain, in
tests/contracts/test_read_shortcuts.py."""

from __future__ import annotations

import pytest
import requests
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


def test_http_sessions_in_the_test_process_do_not_read_the_environment(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    session = requests.Session()
    assert session.trust_env is False
    settings = session.merge_environment_settings("http://127.0.0.1:8545", {}, None, None, None)
    assert settings["proxies"] == {}  # the proxy variable was not consulted


def test_the_ecosystem_names_its_transaction_type_so_ape_builds_no_config_per_lookup():
    import ape

    assert ape.networks.ethereum.config.get("default_transaction_type") == 2  # not a NetworkConfig
