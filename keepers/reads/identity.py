"""Which chain and deployment a keeper is bound to, and what its key holds."""

from __future__ import annotations

from typing import Any

from keepers.binding import ChainBinding
from keepers.funding import Funding
from keepers.multicall import Call
from keepers.outcomes import RpcError
from keepers.protocol import Protocol


def read_chain_binding(web3: Any, protocol: Protocol) -> ChainBinding:
    """The chain and deployment `protocol` is on: block 0's hash, the manifest's block and its
    hash, and every address the manifest names (contracts, sleeves, collateral, tokens)."""
    deployment = protocol.deployment
    named = [(f"contract:{k}", v) for k, v in deployment.contracts.items()]
    named += [(f"sleeve:{s.name}", s.address) for s in deployment.sleeves]
    named += [(f"collateral:{c.name}", c.token) for c in deployment.collateral]
    named += [(f"token:{k}", v) for k, v in deployment.tokens.items()]
    genesis = web3.eth.get_block(0)
    deployed = web3.eth.get_block(deployment.block)
    return ChainBinding.of(
        int(web3.eth.chain_id), bytes(genesis["hash"]), deployment.block,
        bytes(deployed["hash"]), named,
    )  # fmt: skip


def read_funding(
    web3: Any, token: Any, address: str, symbol: str, decimals: int, block: int | None = None
) -> Funding:
    """`address`'s gas coin (wei) and `token` balance (its units), at `block` (default: the
    latest)."""
    # Asked of the node as they are: an Ape call of `balanceOf` first asked for the token's code
    # and the latest block, and cost more CPU than the two reads (one a pass, every pass).
    at = "latest" if block is None else hex(block)
    native = _word(web3, "eth_getBalance", [address, at])
    data = "0x" + Call(token.balanceOf, address).calldata().hex()
    inventory = _word(web3, "eth_call", [{"to": str(token.address), "data": data}, at])
    return Funding(native, inventory, symbol, decimals)


def _word(web3: Any, method: str, params: list[Any]) -> int:
    """The node's answer to `method` as a number; its error (or an empty answer: no contract)
    raised in one line."""
    reply = web3.provider.make_request(method, params)
    if reply.get("error"):
        error = reply["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise RpcError(f"{method} failed: {message}")
    result = reply.get("result") or "0x"
    if result == "0x":
        raise RpcError(f"{method} {params[0]} answered nothing (no contract there?)")
    return int(result, 16) if method == "eth_getBalance" else int(result[2:66], 16)
