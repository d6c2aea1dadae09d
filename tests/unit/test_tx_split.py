"""The seams of the sender's split (`keepers.tx`, `keepers.tx_node`, `keepers.tx_rules`), without
a chain: one lock per key across every module that takes it, and the sender's log lines under
the `keepers.tx` logger whichever module's method writes them (JSON lines carry its name)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from keepers import tx, tx_node
from keepers.outcomes import RpcError
from keepers.shell import keeper
from keepers.tx import TxSender
from keepers.tx_rules import Flight

ADDRESS = "0x" + "ab" * 20


def sender(make_request) -> TxSender:
    provider = SimpleNamespace(web3=SimpleNamespace(provider=SimpleNamespace(
        make_request=make_request)))  # fmt: skip
    return TxSender(SimpleNamespace(address=ADDRESS), provider=provider)


def test_every_sender_of_a_key_shares_one_lock():
    assert tx.key_lock is tx_node.key_lock is keeper.key_lock
    one, other = sender(None), sender(None)
    assert one._lock is other._lock is tx.key_lock(ADDRESS.upper().replace("0X", "0x"))


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_senders_node_steps_log_as_keepers_tx():
    def unanswered(method, params):
        if method == "eth_sendRawTransaction":
            raise TimeoutError("read timed out")
        return {"error": {"message": "the method does not exist"}}

    s = sender(unanswered)
    logger, records = logging.getLogger("keepers"), Records()
    level = logger.level
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    try:
        with pytest.raises(TimeoutError):  # unanswered: stays recorded as sent, said so
            s._logged_broadcast(b"\x01", "evaluate:3", Flight(nonce=0, gas=21_000), 2, 1)
        with pytest.raises(RpcError):  # no trace, and the transaction cannot be read either
            s.revert_of("0x" + "cd" * 32, 7)
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    said = [(r.name, r.levelname, r.getMessage().split(" ")[0]) for r in records.records]
    assert said == [("keepers.tx", "WARNING", "broadcast"), ("keepers.tx", "DEBUG", "no")]
