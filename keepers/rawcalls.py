"""Raw Multicall3 batches for the hot scans: calldata built from bytes, results sliced from bytes.

`keepers.multicall.Multicall.read` encodes each call and decodes each result through Ape's ABI
machinery (about 1 ms per call: 10,000 borrowers cost seconds; ``eth_abi`` alone still costs
about 0.1 ms). A scan of thousands of borrowers needs none of it: the calldata is a selector and
32-byte words, and the results have a fixed layout. `RawMulticall.read` builds the
``aggregate3((address,bool,bytes)[])`` calldata and splits its ``(bool,bytes)[]`` result by the
ABI's head/tail layout, `decode_position` slices `positionOf`'s ``Position`` (all three checked
against ``eth_abi`` in tests/keepers/test_rawcalls.py); one JSON-RPC ``eth_call`` per chunk
goes through the web3 provider, pinned to one block. A call that reverts is reported with its
revert data; nothing raises for a single call. `checksum` is EIP-55 without eth_utils' input
coercion, remembered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ape import chain
from Crypto.Hash import keccak as _keccak
from eth_utils import keccak

from keepers.multicall import MulticallError

__all__ = [
    "RawBatch",
    "RawMulticall",
    "checksum",
    "decode_aggregate3",
    "decode_position",
    "encode_aggregate3",
    "selector",
    "word_address",
]

CHUNK = 1_000  # view calls per eth_call (well under a node's eth_call gas cap)

_AGGREGATE3 = keccak(text="aggregate3((address,bool,bytes)[])")[:4]
_GET_BLOCK_NUMBER = keccak(text="getBlockNumber()")[:4]
_GET_TIMESTAMP = keccak(text="getCurrentBlockTimestamp()")[:4]
_ZERO31 = bytes(31)


def selector(signature: str) -> bytes:
    """The 4-byte selector of a function signature, e.g. ``"healthFactor(address)"``."""
    return keccak(text=signature)[:4]


def word_address(address: str) -> bytes:
    """An address as an ABI word (left-padded to 32 bytes)."""
    return bytes(12) + bytes.fromhex(address[2:] if address[:2] in ("0x", "0X") else address)


@lru_cache(maxsize=1 << 17)
def checksum(address: str) -> str:
    """The EIP-55 form of a 0x-prefixed hex address: `eth_utils.to_checksum_address`'s result
    at a third of its cost (no input coercion), remembered (a keeper scans the same borrowers
    every block)."""
    hex40 = address[2:].lower()
    if len(hex40) != 40:
        raise ValueError(f"{address!r} is not a 20-byte hex address")
    digest = _keccak.new(digest_bits=256, data=hex40.encode()).digest()
    return "0x" + "".join(
        c.upper() if (digest[i >> 1] >> (0 if i & 1 else 4)) & 8 else c for i, c in enumerate(hex40)
    )


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def encode_aggregate3(calls: Sequence[tuple[str, bytes]], allow_failure: bool = True) -> bytes:
    """``aggregate3`` calldata for `calls` (target, calldata), every call with `allow_failure`:
    exactly what ``eth_abi.encode(["(address,bool,bytes)[]"], ...)`` gives, behind the
    selector."""
    flag = _word(1 if allow_failure else 0)
    offsets: list[bytes] = []
    tails: list[bytes] = []
    position = 32 * len(calls)  # the tuples follow the offsets, measured from the offsets' start
    for target, data in calls:
        padded = data + bytes(-len(data) % 32)
        tail = b"".join((word_address(target), flag, _word(96), _word(len(data)), padded))
        offsets.append(_word(position))
        tails.append(tail)
        position += len(tail)
    return b"".join((_AGGREGATE3, _word(32), _word(len(calls)), *offsets, *tails))


def decode_aggregate3(data: bytes) -> list[tuple[bool, bytes]]:
    """The ``(bool,bytes)[]`` an ``aggregate3`` returns, as (success, return data) pairs."""
    view = memoryview(data)
    start = int.from_bytes(view[0:32], "big")
    count = int.from_bytes(view[start : start + 32], "big")
    base = start + 32
    out: list[tuple[bool, bytes]] = []
    for i in range(count):
        at = base + int.from_bytes(view[base + 32 * i : base + 32 * i + 32], "big")
        ok = view[at + 31] == 1 and view[at : at + 31] == _ZERO31
        offset = at + int.from_bytes(view[at + 32 : at + 64], "big")
        length = int.from_bytes(view[offset : offset + 32], "big")
        out.append((ok, bytes(view[offset + 32 : offset + 32 + length])))
    return out


def decode_position(data: bytes) -> tuple[int, int, tuple[str, ...], tuple[int, ...]]:
    """``ILendingSleeve.Position`` (debt, principal, tokens, amounts) from `positionOf`'s return
    data: what ``eth_abi.decode(["(uint256,uint256,address[],uint256[])"], data)[0]`` gives,
    with tokens as lower-case hex."""
    view = memoryview(data)
    if len(data) < 224:  # offset, 4 head words, 2 array lengths
        raise ValueError(f"not a Position ({len(data)} bytes)")
    at = int.from_bytes(view[0:32], "big")
    if at + 128 > len(data):
        raise ValueError("malformed Position")
    debt = int.from_bytes(view[at : at + 32], "big")
    principal = int.from_bytes(view[at + 32 : at + 64], "big")
    tokens_at = at + int.from_bytes(view[at + 64 : at + 96], "big")
    amounts_at = at + int.from_bytes(view[at + 96 : at + 128], "big")
    n = int.from_bytes(view[tokens_at : tokens_at + 32], "big")
    m = int.from_bytes(view[amounts_at : amounts_at + 32], "big")
    if n != m or amounts_at + 32 * (m + 1) > len(data) or tokens_at + 32 * (n + 1) > len(data):
        raise ValueError("malformed Position")
    tokens = tuple(
        "0x" + bytes(view[tokens_at + 32 * k + 12 : tokens_at + 32 * k + 32]).hex()
        for k in range(1, n + 1)
    )
    amounts = tuple(
        int.from_bytes(view[amounts_at + 32 * k : amounts_at + 32 * k + 32], "big")
        for k in range(1, m + 1)
    )
    return debt, principal, tokens, amounts


@dataclass(frozen=True)
class RawBatch:
    """Return data in call order (None: the call reverted; `reverts` holds its revert data),
    read at `block` (`timestamp`)."""

    block: int
    timestamp: int
    returns: tuple[bytes | None, ...]
    reverts: dict[int, bytes]  # call index -> revert data, for the failed calls

    @property
    def words(self) -> tuple[int | None, ...]:
        """Each return as one word (None: reverted, or not one word)."""
        return tuple(
            int.from_bytes(r, "big") if r is not None and len(r) == 32 else None
            for r in self.returns
        )


class RawMulticall:
    """Reads many views through the Multicall3 at `address` (see the module)."""

    def __init__(self, address: str, chunk: int = CHUNK) -> None:
        self.address = address
        self.chunk = chunk

    def _call(
        self, calls: Sequence[tuple[str, bytes]], block: int | str
    ) -> list[tuple[bool, bytes]]:
        head = [(self.address, _GET_BLOCK_NUMBER), (self.address, _GET_TIMESTAMP)]
        data = encode_aggregate3(head + list(calls))
        tag = block if isinstance(block, str) else hex(block)
        request = chain.provider.web3.provider.make_request
        reply: Any = request("eth_call", [{"to": self.address, "data": "0x" + data.hex()}, tag])
        if reply.get("error"):
            error = reply["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise MulticallError(f"Multicall3 batch at block {block} failed: {message}")
        return decode_aggregate3(bytes.fromhex(reply["result"][2:]))

    def read(self, calls: Sequence[tuple[str, bytes]], block: int | str = "latest") -> RawBatch:
        """`calls` (target, calldata) in chunks of `chunk`, all at one block (the first chunk's
        when `block` is a tag); results in call order. (Chunks sent from several threads at
        once were no faster on a 2-core machine: the node and this process share the cores.)"""
        returns: list[bytes | None] = []
        reverts: dict[int, bytes] = {}
        number = timestamp = None
        for start in range(0, max(len(calls), 1), self.chunk):
            at = block if number is None else number
            outcomes = self._call(calls[start : start + self.chunk], at)
            if number is None:
                number = int.from_bytes(outcomes[0][1], "big")
                timestamp = int.from_bytes(outcomes[1][1], "big")
            for i, (ok, returned) in enumerate(outcomes[2:], start):
                if ok:
                    returns.append(returned)
                else:
                    returns.append(None)
                    reverts[i] = returned
        assert number is not None and timestamp is not None
        return RawBatch(number, timestamp, tuple(returns), reverts)
