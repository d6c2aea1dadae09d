"""The deployment manifest: the one file that keepers, scripts and users read.

`ape run deploy` writes ``deployments/<ecosystem>-<network>.json`` (DESIGN.md §Deployment
manifest; a fork network writes its own, read before the forked network's: `manifest_to_read`).
This module owns its schema, so the writer and every reader agree on it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

from eth_utils import is_address, to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

DEPLOYMENTS_DIR = Path("deployments")


class ManifestError(Exception):
    """A manifest that is missing, unreadable or malformed; the message is one line for users."""


def parse_address(value: str) -> str:
    """`value` checksummed; ValueError (one line) when it is not an address, or when it mixes
    cases but its checksum (EIP-55) is wrong: a mistyped digit, never a different account."""
    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"not an address: {value!r}")
    checksummed = to_checksum_address(value)
    digits = value.removeprefix("0x").removeprefix("0X")
    if digits != digits.lower() and digits != digits.upper() and value != checksummed:
        raise ValueError(
            f"{value} fails its checksum (a mistyped digit?); it would checksum as {checksummed}"
        )
    return checksummed


_checksum = parse_address


Address = Annotated[str, AfterValidator(_checksum)]
"""A 20-byte address, stored checksummed."""


class SleeveEntry(BaseModel):
    """One sleeve of the vault, in the vault's order."""

    model_config = ConfigDict(extra="forbid")

    name: str
    address: Address
    kind: str
    token: Address | None = None
    feed: Address | None = None
    issuer: Address | None = None


class CollateralEntry(BaseModel):
    """One collateral token of the lending book, in listing order: its name scopes the
    ``lend.*.<name>`` parameters; the feed prices it on the OracleRouter."""

    model_config = ConfigDict(extra="forbid")

    name: str
    token: Address
    feed: Address


class Deployment(BaseModel):
    """A deployed Ballast system on one network."""

    model_config = ConfigDict(extra="forbid")

    chain_id: int
    block: int = Field(ge=0, description="block of the last deployment transaction")
    deployer: Address
    contracts: dict[str, Address] = Field(default_factory=dict)
    sleeves: list[SleeveEntry] = Field(default_factory=list)
    collateral: list[CollateralEntry] = Field(
        default_factory=list, description="the LendingSleeve's collateral (none without one)"
    )
    tokens: dict[str, Address] = Field(default_factory=dict)
    roles: dict[str, Address] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read a manifest, raising :class:`ManifestError` with a one-line reason."""
        try:
            text = Path(path).read_text(encoding="utf8")
        except FileNotFoundError:
            raise ManifestError(
                f"no deployment manifest at {path}: run `ape run deploy` on this network first"
            ) from None
        except OSError as err:
            raise ManifestError(f"cannot read deployment manifest {path}: {err.strerror}") from None
        try:
            return cls.model_validate_json(text)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "manifest"
            raise ManifestError(
                f"invalid deployment manifest {path}: {where}: {first['msg']}"
            ) from None

    def save(self, path: Path) -> None:
        """Write the manifest atomically (a reader never sees half a file)."""
        write_atomically(Path(path), json.dumps(self.model_dump(mode="json"), indent=2) + "\n")


def write_atomically(path: Path, body: str) -> None:
    """Write `body` to `path` so that a reader (or an interruption) never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf8") as handle:
            handle.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_for_chain(path: Path, chain_id: int) -> Deployment:
    """The manifest at `path`, refused (ManifestError) unless it describes chain `chain_id`."""
    deployment = Deployment.load(path)
    if deployment.chain_id != chain_id:
        raise ManifestError(
            f"{path} describes chain {deployment.chain_id}, but this node is chain {chain_id}"
        )
    return deployment


FORK_SUFFIX = "-fork"  # Ape's fork networks: `mainnet-fork` forks `mainnet`


def manifest_path(ecosystem: str, network: str, root: Path = DEPLOYMENTS_DIR) -> Path:
    """``deployments/<ecosystem>-<network>.json``, the manifest `ape run deploy` writes. A fork
    network has its own (``ethereum-mainnet-fork.json``): a fork has the chain id of the network
    it forks, so nothing else would stop a deploy on it writing over the real manifest."""
    return Path(root) / f"{ecosystem}-{network}.json"


def manifest_to_read(ecosystem: str, network: str, root: Path = DEPLOYMENTS_DIR) -> Path:
    """The manifest read on `network` (by the scripts, the keepers, a deploy's reuse): its own
    (`manifest_path`); on a fork that has none yet, the forked network's, whose contracts the
    fork holds."""
    own = manifest_path(ecosystem, network, root)
    if own.exists() or not network.endswith(FORK_SUFFIX):
        return own
    forked = manifest_path(ecosystem, network.removesuffix(FORK_SUFFIX), root)
    return forked if forked.exists() else own


def config_path(network: str, root: Path = DEPLOYMENTS_DIR) -> Path:
    """``deployments/config/<network>.yaml``; a fork network's is the forked network's (a fork
    rehearses that network's deploy)."""
    return Path(root) / "config" / f"{network.removesuffix(FORK_SUFFIX)}.yaml"
