"""ballast.chain_reads: the views a command shows, read in Multicall3 batches as the keepers read
them. They must give what Ape's own calls give (structs, tuples, strings, arrays), at one block
however many batches they take, and a view that reverts, or a batch the node cannot answer, must
stop the command with one line naming it."""

from __future__ import annotations

import pytest

from ballast import chain_reads as R
from ballast.parameters import key_of
from keepers.multicall import Multicall
from keepers.reads import batches


def every_view(registry) -> list[R.Call]:
    keys = [bytes(k) for k in registry.keys()]
    views = (registry.nameOf, registry.getParam, registry.freezeStatus, registry.linksOf)
    return [R.Call(view, key) for key in keys for view in views]


def one_by_one(calls: list[R.Call]) -> list:
    return [call.method(*call.args) for call in calls]


def test_a_batched_read_gives_what_apes_calls_give_at_one_block(gov, monkeypatch):
    calls = every_view(gov.registry)
    monkeypatch.setattr(batches, "CHUNK", 100)
    assert len(calls) > batches.CHUNK  # more than one aggregate3
    blocks: list[int | str] = []
    read = Multicall.read

    def counted(self, chunk, block="latest"):
        blocks.append(block)
        return read(self, chunk, block)

    monkeypatch.setattr(Multicall, "read", counted)
    values = R.read(calls)
    head = gov.registry.provider.get_block("latest").number
    assert blocks == ["latest", head]  # the second batch reads the first one's block
    assert values == one_by_one(calls)
    name, param, (frozen, frozen_until, _) = values[:3]
    assert name == gov.registry.nameOf(gov.registry.keys()[0])
    assert param.value == gov.registry.get(key_of(name)) and frozen is False and frozen_until == 0


def test_reads_are_at_the_block_given(gov, chain):
    key = key_of("vault.idleBufferBps")
    R.read([R.Call(gov.registry.get, key)])  # Multicall3 in place on this chain
    before = chain.blocks.head.number
    value = gov.registry.get(key)
    chain.mine(3)
    assert R.read([R.Call(gov.registry.get, key)], block=before) == [value]
    # Nothing had code at block 0; a node that no longer keeps that block's state (anvil drops
    # old states once it holds many: a long test session's node) refuses the batch instead.
    # Either way one line naming the batch's block.
    with pytest.raises(R.ChainReadError) as refused:
        R.read([R.Call(gov.registry.get, key)], block=0)
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith("Multicall3 batch at block 0"), refused.value


def test_a_view_that_reverts_stops_the_read_naming_the_view_and_the_error(gov):
    unknown = key_of("vault.idleBufferBps")[:31] + b"\x01"
    calls = [R.Call(gov.registry.keys), R.Call(gov.registry.get, unknown)]
    with pytest.raises(R.ChainReadError) as refused:
        R.read(calls)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"get(0x{unknown.hex()}) at {gov.registry.address}: ")
    assert f"UnknownParameter(key=0x{unknown.hex()})" in message, message
