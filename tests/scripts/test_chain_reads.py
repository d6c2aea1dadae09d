"""ballast.chain_reads: the views a command shows, read in JSON-RPC batches. They must give what
Ape's own calls give (structs, tuples, strings, arrays), at one block, whether or not the node
takes batches, and a view that reverts must stop the command with one line naming it."""

from __future__ import annotations

import pytest

from ballast import chain_reads as R
from ballast.parameters import key_of


def every_view(registry) -> list[R.Call]:
    keys = [bytes(k) for k in registry.keys()]
    views = (registry.nameOf, registry.getParam, registry.freezeStatus, registry.linksOf)
    return [R.Call(view, key) for key in keys for view in views]


def one_by_one(calls: list[R.Call]) -> list:
    return [call.method(*call.args) for call in calls]


def test_a_batched_read_gives_what_apes_calls_give(gov, monkeypatch):
    calls = every_view(gov.registry)
    monkeypatch.setattr(R, "BATCH_SIZE", 100)
    assert len(calls) > R.BATCH_SIZE  # more than one HTTP request
    sent: list[int] = []
    provider = gov.registry.provider.web3.provider
    batch = provider.make_batch_request

    def counted(requests):
        sent.append(len(requests))
        return batch(requests)

    monkeypatch.setattr(provider, "make_batch_request", counted)
    values = R.read(calls)
    assert sent == [R.BATCH_SIZE, len(calls) - R.BATCH_SIZE]
    assert values == one_by_one(calls)
    name, param, (frozen, frozen_until, _) = values[:3]
    assert name == gov.registry.nameOf(gov.registry.keys()[0])
    assert param.value == gov.registry.get(key_of(name)) and frozen is False and frozen_until == 0


def test_a_node_that_refuses_batches_is_asked_one_call_at_a_time(gov, monkeypatch):
    calls = every_view(gov.registry)[:12]
    provider = gov.registry.provider.web3.provider

    def refused(requests):
        return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "no batches"}}

    monkeypatch.setattr(provider, "make_batch_request", refused)
    assert R.read(calls) == one_by_one(calls)


def test_reads_are_at_the_block_given(gov, accounts, chain):
    key = key_of("vault.idleBufferBps")
    before = chain.blocks.head.number
    value = gov.registry.get(key)
    chain.mine(3)
    assert R.read([R.Call(gov.registry.get, key)], block=before) == [value]
    with pytest.raises(R.ChainReadError):  # the registry did not exist yet at block 0
        R.read([R.Call(gov.registry.get, key)], block=0)


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "one-by-one"])
def test_a_view_that_reverts_stops_the_read_naming_the_view_and_the_error(
    gov, monkeypatch, batched
):
    provider = gov.registry.provider.web3.provider
    if not batched:
        monkeypatch.setattr(provider, "make_batch_request", lambda requests: {"error": "off"})
    unknown = key_of("vault.idleBufferBps")[:31] + b"\x01"
    calls = [R.Call(gov.registry.keys), R.Call(gov.registry.get, unknown)]
    with pytest.raises(R.ChainReadError) as refused:
        R.read(calls)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"get(0x{unknown.hex()}) at {gov.registry.address} reverted: ")
    assert f"UnknownParameter(key=0x{unknown.hex()})" in message, message
