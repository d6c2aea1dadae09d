"""The steps of a deploy config that only the DAO may take once the deployer handed its roles
over (`ballast.deploy_run.NeedsTheDao`), written as one proposal batch.

`ape run deploy` writes the file next to the manifest (`deployments/ethereum-local.dao.json`)
and stops; `ape run params propose-batch FILE` proposes its calls as one governor proposal, in
the file's order (the order they must execute in: a parameter is defined before a link names
it, a sleeve's feed is set before the sleeve is added); once the proposal executed, `ape run
deploy` again finds every step done and writes the manifest with the new sleeve.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ballast.deployment import ManifestError, write_atomically

if TYPE_CHECKING:
    from ballast.deploy_run import DaoCall


class BatchCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what: str = Field(min_length=1, description="the config's step, in words")
    call: str = Field(min_length=1, description="the call in words: Contract.method(args)")
    target: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    data: str = Field(pattern=r"^0x([0-9a-fA-F]{2})+$", description="the calldata, hex")

    @field_validator("data")
    @classmethod
    def _has_a_selector(cls, data: str) -> str:
        if len(data) < 10:
            raise ValueError("calldata shorter than a function selector")
        return data


class DaoBatch(BaseModel):
    """What the DAO must execute, in order, for the config to be deployed on chain `chain_id`."""

    model_config = ConfigDict(extra="forbid")

    chain_id: int
    config: str = Field(description="the deploy config the steps come from")
    calls: list[BatchCall] = Field(min_length=1)

    @classmethod
    def of(cls, calls: list[DaoCall], chain_id: int, config: Path) -> DaoBatch:
        return cls(
            chain_id=chain_id,
            config=str(config),
            calls=[
                BatchCall(what=c.what, call=c.call, target=c.target, data="0x" + c.data.hex())
                for c in calls
            ],
        )

    def description(self) -> str:
        """The proposal's text: every step, in words (what voters read)."""
        steps = "; ".join(f"{c.what} ({c.call})" for c in self.calls)
        return f"Deploy config {self.config}: {steps}"

    @classmethod
    def load(cls, path: Path) -> DaoBatch:
        """The batch at `path`; `ManifestError` with a one-line reason when it cannot be used."""
        try:
            return cls.model_validate_json(Path(path).read_text(encoding="utf8"))
        except OSError as err:
            raise ManifestError(f"cannot read the batch {path}: {err.strerror or err}") from None
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the file"
            raise ManifestError(
                f"{path} is not a batch `ape run deploy` wrote: {where}: {first['msg']}"
            ) from None

    def save(self, path: Path) -> None:
        write_atomically(Path(path), json.dumps(self.model_dump(mode="json"), indent=2) + "\n")


def batch_path(manifest: Path) -> Path:
    """``deployments/ethereum-local.json`` → ``deployments/ethereum-local.dao.json``."""
    manifest = Path(manifest)
    return manifest.with_name(f"{manifest.stem}.dao.json")
