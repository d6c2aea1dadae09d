"""What every reader shares: Multicall3 batches in chunks, their failures and values, a
registry parameter as a call, ABIs for ERC-20 tokens and Chainlink feeds, a revert's reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from types import MappingProxyType
from typing import Any

from ape import project

from ballast.parameters import key_of as param_key
from keepers.multicall import Batch, Call, CallResult, Multicall, describe_revert

CHUNK = 400  # calls per eth_call: keeps each batch well under a node's eth_call gas cap


@cache
def token_at(address: str) -> Any:
    return project.MockStablecoin.at(address)  # any ERC-20 ABI serves for decimals()


@cache
def feed_at(address: str) -> Any:
    return project.MockAggregator.at(address)  # Chainlink's AggregatorV3 ABI


def read_chunked(multicall: Multicall, calls: Sequence[Call], block: int | str) -> Batch:
    """Several `aggregate3` at one block when there are many calls; results in call order."""
    if len(calls) <= CHUNK:
        return multicall.read(calls, block)
    first = multicall.read(calls[:CHUNK], block)
    results = list(first.results)
    for start in range(CHUNK, len(calls), CHUNK):
        results += multicall.read(calls[start : start + CHUNK], first.block).results
    return Batch(first.block, first.timestamp, tuple(results))


def failures_of(*batches: Batch) -> Mapping[str, str]:
    return MappingProxyType(
        {r.call.label: r.error or "" for b in batches for r in b.results if not r.success}
    )


def value_of(result: CallResult, default: Any = None) -> Any:
    return result.value if result.success else default


def param_call(registry: Any, name: str) -> Call:
    return Call(registry.get, param_key(name), label=name)


def revert_reason(data: bytes, contract: Any) -> str:
    return describe_revert(data, contract) if data else "reverted (or not one word) without data"
