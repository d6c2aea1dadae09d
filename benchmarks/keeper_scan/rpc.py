"""The JSON-RPC plumbing of the keeper-scan benchmark: a request counter on the connected
provider, batched JSON-RPC for the bulk setup, and anvil's mining controls.

`RpcCounter` wraps the web3 HTTP provider's request hook: every request Ape, web3 or the keeper
sends goes through it (Ape's own calls included), so the count is the number of round trips a
measured read cost. The bulk setup does not go through it: `Node.batch` posts JSON-RPC arrays
straight to anvil (hundreds of requests per HTTP round trip), which is how 10,000 borrowers are
opened in minutes rather than hours.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from ape import chain

__all__ = ["Node", "RpcCounter", "RpcError"]

BATCH = 500  # JSON-RPC requests per HTTP POST in the bulk setup


class RpcError(RuntimeError):
    """A JSON-RPC request of the bulk setup failed; the message names the method and why."""


@dataclass
class RpcCounter:
    """Counts the requests sent through the connected provider while active (by method)."""

    by_method: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_method.values())

    @contextmanager
    def counting(self) -> Iterator[RpcCounter]:
        """Counts every HTTP JSON-RPC request of the connected provider while in the block.

        The hook is the web3 HTTP provider's ``_make_request`` (one per request, looked up on
        the instance at every call): ``make_request`` itself cannot be patched, web3 binds it
        once into its request pipeline.
        """
        provider = chain.provider.web3.provider
        original = provider._make_request
        patched_before = "_make_request" in vars(provider)

        def _make_request(method: Any, request_data: bytes) -> bytes:
            name = str(method)
            self.by_method[name] = self.by_method.get(name, 0) + 1
            return original(method, request_data)

        provider._make_request = _make_request
        try:
            yield self
        finally:
            if patched_before:
                provider._make_request = original
            else:
                del provider._make_request  # the class's method again


class Node:
    """The private anvil Ape started: batched requests and mining control."""

    def __init__(self) -> None:
        self.uri = str(chain.provider.uri)
        self._session = requests.Session()
        self._ids = itertools.count(1)

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]

    def batch(self, requests_: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Sends `requests_` in JSON-RPC arrays of `BATCH`; returns the results in order. Any
        error fails the whole call (the setup must not go on from a half-built book)."""
        results: list[Any] = []
        for start in range(0, len(requests_), BATCH):
            chunk = requests_[start : start + BATCH]
            body = [
                {"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": p}
                for m, p in chunk
            ]
            response = self._session.post(self.uri, json=body, timeout=600)
            response.raise_for_status()
            by_id = {r["id"]: r for r in response.json()}
            for request, (method, _) in zip(body, chunk, strict=True):
                reply = by_id[request["id"]]
                if "error" in reply:
                    raise RpcError(f"{method}: {reply['error'].get('message', reply['error'])}")
                results.append(reply.get("result"))
        return results

    # -------------------------------------------------------------- mining

    def automine(self, on: bool) -> None:
        self.call("evm_setAutomine", on)

    def set_block_gas_limit(self, gas: int) -> None:
        self.call("evm_setBlockGasLimit", hex(gas))

    def zero_base_fee(self) -> None:
        """From the next block on, a base fee of 0 (it stays 0: blocks are never above the
        raised gas limit's target), so the setup's gasPrice-0 transactions are valid on a node
        an earlier user left at a higher base fee (a test worker's shared anvil)."""
        self.call("anvil_setNextBlockBaseFeePerGas", "0x0")

    def pending_count(self) -> int:
        return int(self.call("txpool_status")["pending"], 16)

    def mine_one(self) -> int:
        """Mines one block with what the pool holds; returns its number."""
        self.call("evm_mine")
        return int(self.call("eth_blockNumber"), 16)

    def mine_until_empty(self, timeout: float = 600.0) -> int:
        """Mines blocks until the pool is empty; returns how many were mined."""
        mined = 0
        deadline = time.monotonic() + timeout
        while self.pending_count() > 0:
            if time.monotonic() > deadline:
                raise RpcError(f"the pool still holds {self.pending_count()} txs after {timeout}s")
            self.call("evm_mine")
            mined += 1
        return mined
