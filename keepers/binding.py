"""Which chain and deployment a keeper's state belongs to (pure).

A `ChainBinding` names a chain by its identity, not only its id: block 0's hash (the genesis
hash) and, for the deployment, the block the manifest names with that block's hash and every
address the manifest lists. Its `deployment` is what a state file belongs to: the chain, the
deployment block and hash, and the system's contracts (`contract:*`), not what governance
changes on a running system (its sleeves, the book's collateral, their tokens). A node
restarted empty, or a system redeployed (even at the same addresses, as a fresh anvil gives), is
another deployment, so its state is another file (`KeeperSettings.state_path(..., binding.key)`)
and a `Store` opened with a binding refuses a file bound to another deployment; a manifest
refreshed after a sleeve was added or removed is the same deployment: the same file, its history
carried on (`keepers.store`). `keepers.reads.read_chain_binding` reads one from the chain.

Two fresh anvils started in the same second share a genesis hash (anvil's genesis is the
start time); the deployment block's hash (its transactions and timestamp) still tells their
deployments apart unless every deployment transaction and timestamp is the same too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace

from eth_utils import keccak

__all__ = ["ChainBinding"]


def _hex(value: bytes | str) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


@dataclass(frozen=True)
class ChainBinding:
    """A chain (id, genesis hash) and a deployment on it (block, block hash, addresses)."""

    chain_id: int
    genesis_hash: str
    deployment_block: int
    deployment_block_hash: str
    contracts: tuple[tuple[str, str], ...]  # (name, lower-case address), sorted by name

    @classmethod
    def of(
        cls,
        chain_id: int,
        genesis_hash: bytes | str,
        deployment_block: int,
        deployment_block_hash: bytes | str,
        contracts: Iterable[tuple[str, str]],
    ) -> ChainBinding:
        """A binding with its values normalised (hex lower-case, contracts sorted)."""
        return cls(
            chain_id=int(chain_id),
            genesis_hash=_hex(genesis_hash),
            deployment_block=int(deployment_block),
            deployment_block_hash=_hex(deployment_block_hash),
            contracts=tuple(sorted((str(n), _hex(a)) for n, a in contracts)),
        )

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): what `key` hashes and the store keeps."""
        doc = {
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash,
            "deployment_block": self.deployment_block,
            "deployment_block_hash": self.deployment_block_hash,
            "contracts": [list(c) for c in self.contracts],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ChainBinding:
        doc = json.loads(text)
        return cls.of(
            doc["chain_id"],
            doc["genesis_hash"],
            doc["deployment_block"],
            doc["deployment_block_hash"],
            (tuple(c) for c in doc["contracts"]),
        )

    @property
    def deployment(self) -> ChainBinding:
        """This binding without the addresses governance changes on a running system (sleeves,
        collateral, tokens): the chain, the deployment block and hash, and the `contract:*`
        addresses. Two bindings of one deployment share their state file."""
        contracts = tuple(c for c in self.contracts if c[0].startswith("contract:"))
        return replace(self, contracts=contracts)

    @property
    def key(self) -> str:
        """12 hex digits of the keccak of `deployment.to_json()`: the state file's name part."""
        return keccak(text=self.deployment.to_json()).hex()[:12]

    def legacy_key(self) -> str:
        """The key state files had before it named the deployment only (every address the
        manifest lists: a sleeve added or removed was another file)."""
        return keccak(text=self.to_json()).hex()[:12]

    def describe(self) -> str:
        """One line: chain id, genesis hash and deployment block (short hashes)."""
        return (
            f"chain {self.chain_id} genesis {self.genesis_hash[:10]}… deployment block "
            f"{self.deployment_block} ({self.deployment_block_hash[:10]}…, "
            f"{len(self.contracts)} addresses)"
        )

    def differences(self, other: ChainBinding) -> list[str]:
        """What differs from `other`, in words (empty when they are the same binding)."""
        found = []
        if self.chain_id != other.chain_id:
            found.append(f"chain id {other.chain_id} → {self.chain_id}")
        if self.genesis_hash != other.genesis_hash:
            found.append("genesis hash")
        if (self.deployment_block, self.deployment_block_hash) != (
            other.deployment_block,
            other.deployment_block_hash,
        ):
            found.append("deployment block")
        mine, theirs = dict(self.contracts), dict(other.contracts)
        changed = sorted(n for n in mine.keys() | theirs.keys() if mine.get(n) != theirs.get(n))
        if changed:
            found.append("addresses of " + ", ".join(changed))
        return found
