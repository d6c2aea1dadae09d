"""keepers.rawcalls: the hand-built aggregate3 calldata and the hand-sliced returns are exactly
what eth_abi encodes and decodes (the liquidator's scan relies on them)."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from keepers.rawcalls import decode_aggregate3, decode_position, encode_aggregate3

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
uints = st.integers(min_value=0, max_value=2**256 - 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(addresses, st.binary(max_size=100)), max_size=12), st.booleans())
def test_aggregate3_calldata_is_what_eth_abi_encodes(calls, allow_failure):
    expected = keccak(text="aggregate3((address,bool,bytes)[])")[:4] + encode(
        ["(address,bool,bytes)[]"], [[(t, allow_failure, d) for t, d in calls]]
    )
    assert encode_aggregate3(calls, allow_failure) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=100)), max_size=12))
def test_aggregate3_returns_are_what_eth_abi_decodes(outcomes):
    data = encode(["(bool,bytes)[]"], [outcomes])
    assert decode_aggregate3(data) == [tuple(o) for o in decode(["(bool,bytes)[]"], data)[0]]


@settings(max_examples=200, deadline=None)
@given(uints, uints, st.lists(st.tuples(addresses, uints), max_size=8))
def test_a_position_sliced_by_hand_is_what_eth_abi_decodes(debt, principal, held):
    tokens, amounts = [t for t, _ in held], [a for _, a in held]
    data = encode(["(uint256,uint256,address[],uint256[])"], [(debt, principal, tokens, amounts)])
    d, p, ts, ams = decode(["(uint256,uint256,address[],uint256[])"], data)[0]
    assert decode_position(data) == (d, p, tuple(t.lower() for t in ts), tuple(ams))


@pytest.mark.parametrize("data", [b"", bytes(32), bytes(200)])
def test_a_return_that_is_not_a_position_is_refused(data):
    with pytest.raises(ValueError):
        decode_position(data)


@settings(max_examples=300, deadline=None)
@given(addresses, st.sampled_from([str.lower, str.upper, lambda a: a]))
def test_checksum_is_eip55(address, case):
    from eth_utils import to_checksum_address

    from keepers.rawcalls import checksum

    given_as = "0x" + case(address[2:])
    assert checksum(given_as) == to_checksum_address(address)
