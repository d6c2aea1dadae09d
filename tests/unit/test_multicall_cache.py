"""keepers.multicall.Call remembers its calldata and plain decoded values: keyed by everything the
encoding and decoding depend on, never handing back a value another input would not give."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from keepers import multicall
from keepers.multicall import Call


@pytest.fixture(autouse=True)
def empty_caches(monkeypatch):
    monkeypatch.setattr(multicall, "_ENCODED", {})
    monkeypatch.setattr(multicall, "_DECODED", {})


def method(selector: str, outputs: tuple[str, ...] = ("uint256",)):
    encoded: list[tuple] = []

    def encode_input(*args):
        encoded.append(args)
        return repr(args).encode()

    abi = SimpleNamespace(
        selector=selector,
        name=selector.split("(")[0],
        inputs=[None] * selector.count(","),
        outputs=[SimpleNamespace(canonical_type=t) for t in outputs],
    )
    return SimpleNamespace(abis=[abi], encode_input=encode_input, encoded=encoded)


def test_calldata_is_encoded_once_per_selector_and_typed_arguments():
    get, other = method("get(bytes32)"), method("nameOf(bytes32)")
    assert Call(get, b"k").calldata() == Call(get, b"k").calldata() == repr((b"k",)).encode()
    assert get.encoded == [(b"k",)]
    Call(other, b"k").calldata()  # another method: encoded anew
    assert other.encoded == [(b"k",)]
    flag = method("f(uint256)")
    Call(flag, 1).calldata(), Call(flag, True).calldata()  # equal and same hash, not the same
    assert flag.encoded == [(1,), (True,)]


def test_arguments_that_are_not_plain_are_encoded_every_time():
    batch = method("many(uint256[])")
    Call(batch, [1, 2]).calldata(), Call(batch, [1, 2]).calldata()
    assert batch.encoded == [([1, 2],), ([1, 2],)]


def test_only_immutable_values_are_remembered_by_output_types_and_bytes(monkeypatch):
    decoded: list[bytes] = []

    def decode_returndata(abi, data):
        decoded.append(data)
        kind = abi.outputs[0].canonical_type
        return [[int(data.hex(), 16)]] if kind.endswith("[]") else [int(data.hex(), 16)]

    ecosystem = SimpleNamespace(decode_returndata=decode_returndata)
    fake = SimpleNamespace(provider=SimpleNamespace(network=SimpleNamespace(ecosystem=ecosystem)))
    monkeypatch.setattr(multicall, "chain", fake)
    get = Call(method("get(bytes32)"), b"k")
    assert get.decode(b"\x07") == get.decode(b"\x07") == 7
    assert get.decode(b"\x08") == 8  # other bytes: decoded anew
    assert decoded == [b"\x07", b"\x08"]
    listed = Call(method("get(bytes32)", ("uint256[]",)), b"k")  # same selector, other output
    first = listed.decode(b"\x07")
    assert first == [7] and listed.decode(b"\x07") == [7] and listed.decode(b"\x07") is not first
    assert decoded == [b"\x07", b"\x08", b"\x07", b"\x07", b"\x07"]  # a list: never remembered
