"""Batched chain reads: one Multicall3 ``aggregate3`` per job per block.

A job reads everything it needs in one ``eth_call`` (Multicall3 with ``allowFailure``), so the
values are mutually consistent (one block) and cost one round trip. A call that reverts inside
the batch is reported as failed in its :class:`CallResult`; it never raises. The typed views a
job reads through these batches are in :mod:`keepers.snapshot`.

Multicall3 lives at its canonical address on most chains; :func:`ensure_multicall` puts the
project's minimal ``contracts/utils/Multicall3.sol`` there on local chains (anvil_setCode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ape import chain, project
from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from keepers.errors import ErrorDecoder, project_decoder

__all__ = [
    "LOCAL_CHAIN_IDS",
    "MULTICALL3_ADDRESS",
    "Batch",
    "Call",
    "CallResult",
    "Multicall",
    "MulticallError",
    "describe_revert",
    "ensure_multicall",
]

MULTICALL3_ADDRESS = to_checksum_address("0xcA11bde05977b3631167028862bE2a173976CA11")
LOCAL_CHAIN_IDS = frozenset({31337, 1337})

_AGGREGATE3 = keccak(text="aggregate3((address,bool,bytes)[])")[:4]
_GET_BLOCK_NUMBER = keccak(text="getBlockNumber()")[:4]
_GET_TIMESTAMP = keccak(text="getCurrentBlockTimestamp()")[:4]

_known: dict[int, str] = {}  # chain id -> a Multicall3 address verified in this process


class MulticallError(Exception):
    """Multicall3 is unavailable or the batch itself failed; the message is one line."""


def _has_code(address: str) -> bool:
    return len(chain.provider.get_code(address)) > 0


def ensure_multicall(sender: Any = None) -> str:
    """The address of a Multicall3 on the connected chain, putting one in place when local.

    The canonical address when it has code. Otherwise, on a local chain (31337, 1337), the
    project's Multicall3 runtime code is set there (``anvil_setCode``); a provider without
    ``set_code`` falls back to deploying it from `sender`. Elsewhere: :class:`MulticallError`.
    """
    chain_id = chain.chain_id
    remembered = _known.get(chain_id)
    if remembered is not None and _has_code(remembered):
        return remembered
    if _has_code(MULTICALL3_ADDRESS):
        _known[chain_id] = MULTICALL3_ADDRESS
        return MULTICALL3_ADDRESS
    if chain_id not in LOCAL_CHAIN_IDS:
        raise MulticallError(
            f"no Multicall3 at {MULTICALL3_ADDRESS} on chain {chain_id}; "
            "keepers need it (deploy it there, see github.com/mds1/multicall)"
        )
    runtime = project.Multicall3.contract_type.runtime_bytecode.bytecode
    address = MULTICALL3_ADDRESS
    try:
        chain.provider.set_code(MULTICALL3_ADDRESS, runtime)
    except NotImplementedError:
        if sender is None:
            raise MulticallError(
                f"cannot set code on chain {chain_id} and no account was given to deploy Multicall3"
            ) from None
        address = project.Multicall3.deploy(sender=sender).address
    if not _has_code(address):
        raise MulticallError(f"placing Multicall3 at {address} on chain {chain_id} failed")
    _known[chain_id] = address
    return address


# --- calls and results --------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One view call in a batch: ``Call(contract.method, arg, ...)``."""

    method: Any  # an ape ContractMethodHandler (contract.someView)
    args: tuple = ()
    label: str = ""

    def __init__(self, method: Any, *args: Any, label: str = "") -> None:
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "label", label or f"{method.abis[0].name}{args!r}")

    @property
    def target(self) -> str:
        return self.method.contract.address

    @property
    def abi(self) -> Any:
        abis = self.method.abis
        if len(abis) == 1:
            return abis[0]
        return next(a for a in abis if len(a.inputs) == len(self.args))

    def calldata(self) -> bytes:
        if not _plain(self.args):
            return bytes(self.method.encode_input(*self.args))
        key = (tuple(abi.selector for abi in self.method.abis), _typed(self.args))
        data = _ENCODED.get(key)
        if data is None:
            data = bytes(self.method.encode_input(*self.args))
            _remember(_ENCODED, key, data)
        return data

    def decode(self, data: bytes) -> Any:
        """Decode like ape's own call does: one output unwrapped, several as a tuple."""
        abi = self.abi
        if abi.outputs and not data:
            raise ValueError("empty return data (no contract at the target?)")
        key = (abi.selector, tuple(o.canonical_type for o in abi.outputs), bytes(data))
        if key in _DECODED:
            return _DECODED[key]
        values = chain.provider.network.ecosystem.decode_returndata(abi, data)
        if not isinstance(values, (list, tuple)):
            value = values
        elif len(values) < 2:
            value = values[0] if values else None
        else:
            value = tuple(values)
        if _immutable(value):
            _remember(_DECODED, key, value)
        return value


# A job's batches ask the same views with the same arguments pass after pass (a registry
# parameter, a sleeve's valuation), and Ape's encoding of a call's input and decoding of its
# output cost more CPU than the rest of the read: both are remembered, keyed by everything they
# depend on (the methods' selectors and the arguments, with their types: True is not 1; the
# output's selector, types and bytes), for plain arguments and immutable values only.
_ENCODED: dict[tuple, bytes] = {}
_DECODED: dict[tuple, Any] = {}
_REMEMBERED = 4_096  # entries each; a full cache starts again
_PLAIN = (int, bool, str, bytes)


def _plain(args: tuple) -> bool:
    return all(type(a) in _PLAIN for a in args)


def _typed(args: tuple) -> tuple:
    return tuple((type(a), a) for a in args)


def _immutable(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    return value is None or type(value) in _PLAIN or type(value) is HexBytes


def _remember(cache: dict[tuple, Any], key: tuple, value: Any) -> None:
    if len(cache) >= _REMEMBERED:
        cache.clear()
    cache[key] = value


@dataclass(frozen=True)
class CallResult:
    """The outcome of one call of a batch: a decoded value, or why it failed."""

    call: Call
    success: bool
    value: Any = None
    error: str | None = None
    raw: bytes = b""

    def unwrap(self) -> Any:
        if not self.success:
            raise MulticallError(f"{self.call.label} failed: {self.error}")
        return self.value


def describe_revert(data: bytes, contract: Any = None) -> str:
    """A one-line reason for revert data: Error(string), Panic, a custom error of `contract`, or
    else of any contract of the project (the revert came from a contract it called)."""
    decoder = ErrorDecoder(contract.contract_type) if contract is not None else ErrorDecoder()
    name, reason = decoder.decode(bytes(data))
    return reason if name is not None or len(data) < 4 else project_decoder().decode(bytes(data))[1]


@dataclass(frozen=True)
class Batch:
    """The results of one ``aggregate3``, and the block and timestamp it read."""

    block: int
    timestamp: int
    results: tuple[CallResult, ...]


class Multicall:
    """Runs batches of view calls through one Multicall3 ``aggregate3`` eth_call."""

    def __init__(self, address: str | None = None) -> None:
        self.address = to_checksum_address(address) if address else ensure_multicall()

    def read(self, calls: Sequence[Call], block: int | str = "latest") -> Batch:
        """One eth_call at `block`: every call is allowed to fail; failures are reported."""
        items = [(self.address, False, _GET_BLOCK_NUMBER), (self.address, False, _GET_TIMESTAMP)]
        items += [(c.target, True, c.calldata()) for c in calls]
        data = _AGGREGATE3 + encode(["(address,bool,bytes)[]"], [items])
        # Sent to the node as it is (the provider's `make_request`, as `keepers.rawcalls`):
        # web3's `eth.call` first asks the node its chain id (the validation middleware, twice
        # a read), round trips that told a keeper nothing and cost as much as the read.
        tag = block if isinstance(block, str) else hex(block)
        request = chain.provider.web3.provider.make_request
        try:
            reply = request("eth_call", [{"to": self.address, "data": "0x" + data.hex()}, tag])
            if reply.get("error"):
                error = reply["error"]
                raise RuntimeError(
                    error.get("message", error) if isinstance(error, dict) else error
                )
            raw = bytes.fromhex(reply["result"][2:])
        except Exception as err:  # noqa: BLE001 - the node's own error, made one line
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise MulticallError(f"Multicall3 batch at block {block} failed: {reason}") from None
        try:
            (outcomes,) = decode(["(bool,bytes)[]"], bytes(raw))
            number = decode(["uint256"], outcomes[0][1])[0]
            timestamp = decode(["uint256"], outcomes[1][1])[0]
        except Exception:  # noqa: BLE001 - e.g. a block before Multicall3 had code there
            raise MulticallError(
                f"Multicall3 batch at block {block}: the answer is not a batch's "
                f"({len(raw)} bytes; no Multicall3 at {self.address} at that block?)"
            ) from None
        results = []
        for call, (ok, returned) in zip(calls, outcomes[2:], strict=True):
            if not ok:
                reason = describe_revert(returned, call.method.contract)
                results.append(CallResult(call, False, error=reason, raw=returned))
                continue
            try:
                value = call.decode(returned)
            except Exception as err:  # noqa: BLE001 - undecodable output counts as a failure
                results.append(CallResult(call, False, error=f"undecodable: {err}", raw=returned))
                continue
            results.append(CallResult(call, True, value=value, raw=returned))
        return Batch(number, timestamp, tuple(results))
