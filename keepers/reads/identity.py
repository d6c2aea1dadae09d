"""Which chain and deployment a keeper is bound to, and what its key holds."""

from __future__ import annotations

from typing import Any

from keepers.binding import ChainBinding
from keepers.funding import Funding
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
    at: int | str = "latest" if block is None else block
    native = int(web3.eth.get_balance(address, at))
    inventory = int(token.balanceOf(address, block_id=at))
    return Funding(native, inventory, symbol, decimals)
