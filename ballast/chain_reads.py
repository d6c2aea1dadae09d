"""Views a command shows, read in Multicall3 batches as the keepers read them.

An Ape contract call costs three round trips on a development network (the address's code, the
latest block, then the `eth_call`), so a table of N parameters read one view at a time cost 3N:
`ape run params show` sent 861 requests for the deployed registry. `read` reads every call in
`aggregate3` batches at one block (`keepers.reads.batches.read_chunked`, the keepers' reader;
Multicall3 is put at its canonical address on a local chain, as `ballast-keeper status` does),
each value decoded as Ape's own call decodes it (one output unwrapped, a struct with its fields
as attributes, several as a tuple).

A call that reverts, or a batch the node does not answer, stops the read with one line naming
it (`ChainReadError`): these are views a command expects to answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keepers.multicall import Call, Multicall, MulticallError
from keepers.reads.batches import read_chunked

__all__ = ["Call", "ChainReadError", "read", "vault_registries"]


class ChainReadError(Exception):
    """A view of a batch failed, or the batch did; the message is one line."""


def read(calls: Sequence[Call], block: int | None = None) -> list[Any]:
    """The decoded result of each call, in order, all read at `block` (default: the head now)."""
    if not calls:
        return []
    try:
        batch = read_chunked(Multicall(), calls, "latest" if block is None else block)
    except MulticallError as err:
        raise ChainReadError(str(err)) from None
    for result in batch.results:
        if not result.success:
            raise ChainReadError(f"{_label(result.call)} at {result.call.target}: {result.error}")
    return [result.value for result in batch.results]


def _label(call: Call) -> str:
    """`view(arg, ...)` with bytes as 0x-hex, as a user reads them (the keys of the registry)."""
    args = ", ".join("0x" + bytes(a).hex() if isinstance(a, bytes) else str(a) for a in call.args)
    return f"{call.abi.name}({args})"


def vault_registries(vault: Any, origin: int, manifest: str) -> list[str]:
    """Every AgentRegistry of `vault` (an Ape RWAVault), each once: its own now, those its
    `AgentRegistrySet` logs named from block `origin` (the deployment) on, the latest first,
    then the manifest's (`ballast.agent.settling_order`). Those after the first are registries
    the vault left, where pending slashes may still be vetoed and stake still withdrawn."""
    from ape import chain

    from ballast.agent import settling_order

    head = chain.blocks.head.number
    named = [e.agents for e in vault.AgentRegistrySet.range(origin, head + 1)]
    return settling_order(str(vault.agentRegistry()), named, manifest)
