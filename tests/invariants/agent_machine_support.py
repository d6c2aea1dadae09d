"""Raw JSON-RPC access to a deployed contract, for state machines that make thousands of calls.

An Ape contract call costs round trips besides the call (tests/ape_round_trips.py removes two in
the test process) and an Ape transaction a dozen; `Raw` makes each view one `eth_call` and each
transaction one `eth_sendTransactionSync` (the test accounts are anvil's own, unlocked: the
answer is its receipt), encoding and decoding with eth_abi from the contract's ABI; `batch` reads
many views in one request, and `Reads` any mix of views, storage slots and refusals. Reverted
calls decode to the contract's custom error (name and inputs), like
`tests.vault_support.revert_of`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import ape
from eth_abi import decode, encode
from eth_utils import keccak
from hexbytes import HexBytes

MAX_FEE_PER_GAS = 10**12  # 1000 gwei


def rpc(method: str, params: list) -> Any:
    """One JSON-RPC request to the test chain; its result (an error raises)."""
    response = ape.chain.provider.web3.provider.make_request(method, params)
    if "error" in response:
        raise RuntimeError(f"{method}: {response['error']}")
    return response["result"]


def mined(tx: dict) -> dict:
    """Sends `tx` from an unlocked test account and returns its receipt once mined, in one
    request (`eth_sendTransactionSync`: anvil answers when its automine has mined it, where
    `eth_sendTransaction` answers before and the receipt had to be polled for); a transaction
    the node does not mine within its timeout raises."""
    return rpc("eth_sendTransactionSync", [tx])


def batch(*reads: tuple[Raw, str, tuple]) -> list[Any]:
    """Views of `(contract, method, args)` read in one JSON-RPC batch (one HTTP round trip; calls
    mine nothing, so all see the latest block), decoded as `Raw.call` decodes them; an error
    raises."""
    calls = [{"to": c.address, "data": c.calldata(m, *a)} for c, m, a in reads]
    responses = ape.chain.provider.web3.provider.make_batch_request(
        [("eth_call", [call, "latest"]) for call in calls]
    )
    if not isinstance(responses, list):  # the node refused the batch as a whole
        raise RuntimeError(f"batch of {len(reads)} eth_call: {responses.get('error', responses)}")
    out = []
    for (contract, method, args), response in zip(reads, responses, strict=True):
        if "error" in response:
            raise RuntimeError(f"{method}{args}: {response['error']}")
        out.append(contract.decoded(method, HexBytes(response["result"])))
    return out


def decoded_outputs(outputs: list, result: bytes) -> Any:
    """Return data decoded by a method's `outputs` (a struct as a namespace of its fields)."""
    return _shape(outputs, decode([o.canonical_type for o in outputs], result))


def _address(value: Any) -> Any:
    return value.address if hasattr(value, "address") else value


def _shape(params: list, values: tuple) -> Any:
    """One output: its value (a struct as a namespace of its fields); several: a tuple."""
    shaped = []
    for param, value in zip(params, values, strict=True):
        if param.type == "tuple" and param.components:
            fields = (c.name for c in param.components)
            value = SimpleNamespace(**dict(zip(fields, value, strict=True)))
        shaped.append(value)
    return shaped[0] if len(shaped) == 1 else tuple(shaped)


class Raw:
    """Views, refusals, transactions and logs of one deployed Ape contract, over raw RPC."""

    def __init__(self, contract):
        self.address = contract.address
        abi = contract.contract_type
        self.methods = {m.name: m for m in abi.methods}
        self.events = {e.name: e for e in abi.events}
        self.errors = {keccak(text=e.selector)[:4]: e for e in abi.errors}

    def calldata(self, method: str, *args) -> str:
        abi = self.methods[method]
        types = [i.canonical_type for i in abi.inputs]
        data = keccak(text=abi.selector)[:4] + encode(types, [_address(a) for a in args])
        return HexBytes(data).to_0x_hex()

    def call(self, method: str, *args, block: str = "latest") -> Any:
        """A view's decoded result (addresses come back lowercase)."""
        call = {"to": self.address, "data": self.calldata(method, *args)}
        return self.decoded(method, HexBytes(rpc("eth_call", [call, block])))

    def decoded(self, method: str, result: bytes) -> Any:
        """`method`'s return data decoded (a struct as a namespace of its fields)."""
        return decoded_outputs(self.methods[method].outputs, result)

    def refusal(self, method: str, *args, sender) -> tuple[str, dict] | None:
        """The custom error `method(*args)` from `sender` reverts with on the pending block,
        with its inputs, or None when the call passes."""
        call = {"from": sender.address, "to": self.address, "data": self.calldata(method, *args)}
        response = ape.chain.provider.web3.provider.make_request("eth_call", [call, "pending"])
        return self.refused(response)

    def refused(self, response: dict) -> tuple[str, dict] | None:
        """The custom error (name and inputs) an `eth_call` response reverted with, or None."""
        if "error" not in response:
            return None
        output = HexBytes(response["error"].get("data") or b"")
        abi = self.errors.get(bytes(output[:4]))
        if abi is None:
            return output.to_0x_hex() or response["error"].get("message", "?"), {}
        values = decode([i.canonical_type for i in abi.inputs], output[4:])
        return abi.name, {i.name: v for i, v in zip(abi.inputs, values, strict=True)}

    def send(self, method: str, *args, sender, gas: int | None = None) -> dict:
        """Sends the transaction (mined at once) and returns its receipt; it must succeed.
        Without `gas`, anvil estimates the limit on its pending block."""
        tx = {
            "from": sender.address,
            "to": self.address,
            "data": self.calldata(method, *args),
            # A generous explicit cap: never left pending below the base fee, whatever the fill.
            "maxFeePerGas": hex(MAX_FEE_PER_GAS),
            "maxPriorityFeePerGas": "0x0",
        }
        if gas is not None:
            tx["gas"] = hex(gas)
        receipt = mined(tx)
        assert int(receipt["status"], 16) == 1, f"{method}{args} reverted"
        return receipt

    def logs(self, receipt: dict, event: str) -> list[SimpleNamespace]:
        """This contract's `event` logs in `receipt`, decoded."""
        abi = self.events[event]
        topic0 = keccak(text=abi.selector)
        indexed = [i for i in abi.inputs if i.indexed]
        plain = [i for i in abi.inputs if not i.indexed]
        found = []
        for log in receipt["logs"]:
            topics = [HexBytes(t) for t in log["topics"]]
            if log["address"].lower() != self.address.lower() or topics[:1] != [topic0]:
                continue
            values = {}
            for param, topic in zip(indexed, topics[1:], strict=True):
                (values[param.name],) = decode([param.canonical_type], topic)
            data = decode([p.canonical_type for p in plain], HexBytes(log["data"]))
            values.update(zip((p.name for p in plain), data, strict=True))
            found.append(SimpleNamespace(**values))
        return found


class Read:
    """One read queued on `Reads`; `value` once the batch is fetched."""

    __slots__ = ("request", "decode", "value")

    def __init__(self, request: tuple[str, list], decode) -> None:
        self.request, self.decode = request, decode


class Reads:
    """Views, storage slots and refusals queued, then fetched in one JSON-RPC batch (one HTTP
    round trip; nothing is mined in between, so all see the same state): each queued `Read` gets
    its `value` as the one request would have answered it (a view as `Raw.call` decodes it, a
    slot as an int, a refusal as `Raw.refusal`'s outcome). A view or slot answering an error
    raises."""

    def __init__(self) -> None:
        self.queued: list[Read] = []

    def request(self, method: str, params: list, decode) -> Read:
        """Any request, its value `decode(response)` (the whole JSON-RPC response)."""
        read = Read((method, params), decode)
        self.queued.append(read)
        return read

    def call(self, contract: Raw, method: str, *args, block: str = "latest") -> Read:
        call = {"to": contract.address, "data": contract.calldata(method, *args)}
        outputs = contract.methods[method].outputs  # the overload calldata chose, if any
        return self.request(
            "eth_call",
            [call, block],
            lambda r: decoded_outputs(outputs, HexBytes(_result(r, f"{method}{args}"))),
        )

    def storage(self, address: str, slot: int, block: str = "latest") -> Read:
        return self.request(
            "eth_getStorageAt",
            [address, hex(slot), block],
            lambda r: int(_result(r, f"slot {slot:#x} of {address}"), 16),
        )

    def refusal(self, contract: Raw, method: str, *args, sender, block: str = "pending") -> Read:
        call = {
            "from": sender.address,
            "to": contract.address,
            "data": contract.calldata(method, *args),
        }
        return self.request("eth_call", [call, block], contract.refused)

    def fetch(self) -> None:
        if not self.queued:
            return
        responses = ape.chain.provider.web3.provider.make_batch_request(
            [read.request for read in self.queued]
        )
        if not isinstance(responses, list):  # the node refused the batch as a whole
            raise RuntimeError(f"batch of {len(self.queued)}: {responses.get('error', responses)}")
        for read, response in zip(self.queued, responses, strict=True):
            read.value = read.decode(response)
        self.queued = []


def _result(response: dict, what: str) -> Any:
    if "error" in response:
        raise RuntimeError(f"{what}: {response['error']}")
    return response["result"]
