"""Views read in JSON-RPC batches, for the commands that show many rows.

An Ape contract call costs three round trips on a development network (the address's code, the
latest block, then the `eth_call`), so a table of N parameters read one view at a time cost 3N:
`ape run params show` sent 857 requests to list 90 parameters. `read` sends the `eth_call`s of
one round of reads as one HTTP request, every call at the same block, and decodes each result as
Ape's own call does (one output unwrapped, a struct with its fields as attributes, several as a
tuple). A node that refuses batches (some providers do, others cap their size) is asked the same
calls one at a time, so the answer never depends on the node's batch support.

A call that reverts fails the whole read with one line naming the view and the contract's error
(`ChainReadError`), and so does an answer that does not decode (no contract at the address at
that block): these are views a command expects to answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ape import chain
from hexbytes import HexBytes

from keepers.multicall import Call, describe_revert

__all__ = ["BATCH_SIZE", "Call", "ChainReadError", "read"]

BATCH_SIZE = 250  # eth_calls per HTTP request: under the caps providers put on a batch


class ChainReadError(Exception):
    """A view of a batch reverted, or the node did not answer it; the message is one line."""


def read(calls: Sequence[Call], block: int | None = None) -> list[Any]:
    """The decoded result of each call, in order, all read at `block` (default: the head now)."""
    if not calls:
        return []
    provider = chain.provider
    tag = hex(provider.get_block("latest").number if block is None else block)
    values: list[Any] = []
    for start in range(0, len(calls), BATCH_SIZE):
        chunk = calls[start : start + BATCH_SIZE]
        requests = [("eth_call", [_transaction(c), tag]) for c in chunk]
        try:
            responses = provider.web3.provider.make_batch_request(requests)
        except Exception:  # noqa: BLE001 - the node or provider refused batches: one at a time
            responses = None
        if not isinstance(responses, list) or len(responses) != len(chunk):
            values += [_one(c, tag) for c in chunk]
            continue
        for call, response in zip(chunk, responses, strict=True):
            if "error" in response:
                raise ChainReadError(_refusal(call, response["error"]))
            values.append(_decoded(call, HexBytes(response["result"])))
    return values


def _decoded(call: Call, data: bytes) -> Any:
    try:
        return call.decode(data)
    except Exception as err:  # noqa: BLE001 - e.g. no code at the address at that block
        raise ChainReadError(f"{_label(call)} at {call.target}: {err}") from None


def _transaction(call: Call) -> dict[str, str]:
    return {"to": call.target, "data": "0x" + call.calldata().hex()}


def _one(call: Call, tag: str) -> Any:
    try:
        raw = chain.provider.web3.eth.call(_transaction(call), block_identifier=tag)
    except Exception as err:  # noqa: BLE001 - the node's own error, made one line
        data = getattr(err, "data", None)
        error = {"message": str(err).splitlines()[0] if str(err) else type(err).__name__}
        if isinstance(data, str) and data.startswith("0x"):
            error["data"] = data
        raise ChainReadError(_refusal(call, error)) from None
    return _decoded(call, bytes(raw))


def _label(call: Call) -> str:
    """`view(arg, ...)` with bytes as 0x-hex, as a user reads them (the keys of the registry)."""
    args = ", ".join("0x" + bytes(a).hex() if isinstance(a, bytes) else str(a) for a in call.args)
    return f"{call.abi.name}({args})"


def _refusal(call: Call, error: Any) -> str:
    """`<view>(<args>) at <address>: <why>`, the why decoded from the revert data when any."""
    where = f"{_label(call)} at {call.target}"
    if not isinstance(error, dict):
        return f"{where}: {error}"
    data = error.get("data")
    if isinstance(data, dict):  # some nodes nest it: {"data": {"data": "0x..."}}
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return f"{where} reverted: {describe_revert(HexBytes(data), call.method.contract)}"
    return f"{where}: {error.get('message', error)}"
