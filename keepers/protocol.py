"""The deployed protocol as typed contract handles: the deployment manifest, loaded for one chain.

``Protocol.load()`` reads ``deployments/<ecosystem>-<network>.json`` (ballast.deployment owns its
schema), refuses a manifest of another chain, and turns every address into an ape
``ContractInstance`` of the compiled project, checking that code is there. Every failure is a
:class:`ProtocolError` whose message is one line, for the keeper's CLI to print as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ape import chain, project

from ballast.deployment import (
    DEPLOYMENTS_DIR,
    Deployment,
    ManifestError,
    load_for_chain,
    manifest_to_read,
)

__all__ = ["Protocol", "ProtocolError", "default_manifest_path"]


class ProtocolError(ManifestError):
    """The deployment cannot be loaded on this chain; the message is one line for users."""


def default_manifest_path(root: Path = DEPLOYMENTS_DIR) -> Path:
    """The manifest of the network ape is connected to (on a fork without its own: the forked
    network's, `manifest_to_read`)."""
    network = chain.provider.network
    return manifest_to_read(network.ecosystem.name, network.name, root)


def _freeze(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Protocol:
    """A Ballast system on the connected chain. ``sleeves`` follow the vault's order."""

    deployment: Deployment
    vault: Any  # RWAVault
    agents: Any  # AgentRegistry
    registry: Any  # ParameterRegistry
    router: Any  # OracleRouter
    lending: Any | None  # LendingSleeve, when the vault has a lending book
    claim_relay: Any | None  # ClaimRelay (IClaimRelay), absent from manifests older than it
    sleeves: Mapping[str, Any] = field(default_factory=dict)  # name -> sleeve contract
    tokens: Mapping[str, str] = field(default_factory=dict)  # name -> checksummed address
    roles: Mapping[str, str] = field(default_factory=dict)  # role -> checksummed address
    source: str = "the manifest"  # where the manifest was read (its path), for messages

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id

    @property
    def block(self) -> int:
        """The system's first block: where keepers start scanning events."""
        return self.deployment.block

    @classmethod
    def load(cls, path: Path | str | None = None) -> Protocol:
        """The manifest at `path` (default: this network's) as handles on the connected chain."""
        path = Path(path) if path is not None else default_manifest_path()
        try:
            deployment = load_for_chain(path, chain.chain_id)
        except ProtocolError:
            raise
        except ManifestError as err:
            raise ProtocolError(str(err)) from None
        return cls.from_deployment(deployment, source=str(path))

    @classmethod
    def from_deployment(cls, deployment: Deployment, source: str = "the manifest") -> Protocol:
        """Handles for an already-read manifest; it must describe the connected chain."""
        if deployment.chain_id != chain.chain_id:
            raise ProtocolError(
                f"{source} describes chain {deployment.chain_id}, "
                f"but this node is chain {chain.chain_id}"
            )

        def handle(kind: str, address: str, what: str) -> Any:
            container = getattr(project, kind, None)
            if container is None:
                raise ProtocolError(f"{source}: {what} has unknown contract type {kind!r}")
            if not chain.provider.get_code(address):
                raise ProtocolError(
                    f"{source}: no code at {what} {address} on chain {deployment.chain_id} "
                    "(was the node restarted? run `ape run deploy` again)"
                )
            return container.at(address)

        def named(name: str, required: bool = True) -> Any | None:
            address = deployment.contracts.get(name)
            if address is None:
                if required:
                    raise ProtocolError(f"{source} names no {name} contract")
                return None
            return handle(name, address, name)

        lending = named("LendingSleeve", required=False)
        sleeves = {}
        for entry in deployment.sleeves:
            if lending is not None and entry.address == lending.address:
                sleeves[entry.name] = lending
            else:
                sleeves[entry.name] = handle(entry.kind, entry.address, f"sleeve {entry.name}")
        if lending is None:
            books = [s for s in deployment.sleeves if s.kind == "LendingSleeve"]
            if books:
                lending = sleeves[books[0].name]
        return cls(
            deployment=deployment,
            vault=named("RWAVault"),
            agents=named("AgentRegistry"),
            registry=named("ParameterRegistry"),
            router=named("OracleRouter"),
            lending=lending,
            claim_relay=named("ClaimRelay", required=False),
            sleeves=_freeze(sleeves),
            tokens=_freeze(deployment.tokens),
            roles=_freeze(deployment.roles),
            source=source,
        )
