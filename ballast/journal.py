"""The journal of a deploy in progress: ``<manifest>.partial.json``.

`ape run deploy` records every contract it deploys here as it goes: the address a creation will
have is written before the transaction is sent (it follows from the deployer and its nonce), and
confirmed once it is mined (a creation refused before it was sent is taken out again, so a
deploy that sent nothing, e.g. from a deployer without ETH, leaves no journal). An interrupted
deploy (Ctrl-C, a dropped connection, a refused step) leaves the journal behind; the next run on
the same chain reuses every contract it names that has code, so it sends only what is missing.
The journal is removed when the manifest is written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import rlp
from eth_utils import keccak, to_canonical_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ballast.deployment import Address, ManifestError, write_atomically


def create_address(sender: str, nonce: int) -> str:
    """The address of the contract `sender` creates with its transaction of nonce `nonce`."""
    return to_checksum_address(keccak(rlp.encode([to_canonical_address(sender), nonce]))[12:])


def config_digest(config: BaseModel) -> str:
    """What the journal records of the config a deploy is made for: the SHA-256 of its
    validated form (comments, key order and spelling of the file aside, e.g. ``15d`` or
    ``1296000``)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


def journal_path(manifest: Path) -> Path:
    """``deployments/ethereum-local.json`` → ``deployments/ethereum-local.partial.json``."""
    manifest = Path(manifest)
    return manifest.with_name(f"{manifest.stem}.partial.json")


class Sending(BaseModel):
    """A creation about to be sent: its nonce and the address it will have."""

    model_config = ConfigDict(extra="forbid")

    nonce: int = Field(ge=0)
    address: Address


class JournalState(BaseModel):
    """What the file holds."""

    model_config = ConfigDict(extra="forbid")

    chain_id: int
    deployer: Address
    block: int = Field(ge=0, description="first block of the interrupted deploy")
    config: str | None = Field(
        default=None, description="digest of the config the deploy was made for (config_digest)"
    )
    deployed: dict[str, Address] = Field(default_factory=dict)
    sending: dict[str, Sending] = Field(default_factory=dict)


class Journal:
    """A deploy's journal; `path` None keeps it in memory only (tests, the demo)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else None
        self.state: JournalState | None = None
        self.resumed: JournalState | None = None
        """The interrupted deploy's journal this run resumes, if any."""

    @classmethod
    def open(cls, path: Path | None) -> Journal:
        """The journal at `path`, with what an interrupted deploy left there (ManifestError when
        the file is unreadable)."""
        journal = cls(path)
        if path is not None and Path(path).exists():
            try:
                journal.resumed = JournalState.model_validate_json(Path(path).read_text("utf8"))
            except (OSError, ValidationError) as err:
                raise ManifestError(
                    f"cannot read the deploy journal {path} ({type(err).__name__}): delete it to "
                    "deploy from scratch"
                ) from None
        return journal

    def begin(
        self, chain_id: int, deployer: str, block: int, has_code, config: str | None = None
    ) -> int:
        """Start recording a deploy from `deployer` on chain `chain_id` whose first block is
        `block`, of the config whose digest is `config`; an interrupted deploy of the same
        chain and deployer is resumed (refused under another config: its contracts were built,
        and some roles granted, for the old one): its creations that have code count as
        deployed. Returns the first block of the deploy (the interrupted one's when resuming)."""
        old = self.resumed
        if old is not None and old.chain_id == chain_id and old.deployer != deployer:
            raise ManifestError(
                f"{self.path} is an interrupted deploy by {old.deployer} on this chain: resume it "
                "with that account, or delete the file to deploy from scratch"
            )
        if old is not None and old.chain_id == chain_id and old.config not in (None, config):
            raise ManifestError(
                f"{self.path} is an interrupted deploy of another config (it changed since): "
                "restore that config to resume, or delete the file to deploy from scratch"
            )
        if old is None or old.chain_id != chain_id:
            self.resumed = None
            self.state = JournalState(
                chain_id=chain_id, deployer=deployer, block=block, config=config
            )
            return block
        deployed = {k: a for k, a in old.deployed.items() if has_code(a)}
        # A creation sent just before the interruption: mined if its address has code (nothing
        # else can put code there: only the deployer's transaction of that nonce).
        deployed |= {k: s.address for k, s in old.sending.items() if has_code(s.address)}
        self.state = JournalState(
            chain_id=chain_id, deployer=deployer, block=old.block, deployed=deployed, config=config
        )
        self._save()
        return old.block

    def address(self, key: str) -> str | None:
        """The address recorded for `key`, if any."""
        return self.state.deployed.get(key) if self.state else None

    def sending(self, key: str, nonce: int) -> None:
        """Record, before it is sent, the creation of `key` with the deployer's nonce `nonce`."""
        assert self.state is not None, "begin() first"
        address = create_address(self.state.deployer, nonce)
        self.state.sending[key] = Sending(nonce=nonce, address=address)
        self._save()

    def not_sent(self, key: str) -> None:
        """The creation of `key` recorded by `sending` never reached the node (refused before it
        was sent, e.g. the deployer cannot pay for it): forget it. A journal that then records
        nothing is removed: the next run has no interrupted deploy to resume (nor to refuse
        another deployer for)."""
        assert self.state is not None, "begin() first"
        self.state.sending.pop(key, None)
        if self.state.deployed or self.state.sending:
            self._save()
        else:
            self.finish()

    def deployed(self, key: str, address: str) -> None:
        """Record that `key` is deployed at `address`."""
        assert self.state is not None, "begin() first"
        self.state.sending.pop(key, None)
        self.state.deployed[key] = to_checksum_address(address)
        self._save()

    def finish(self) -> None:
        """The manifest is written: the journal is no longer needed."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def _save(self) -> None:
        if self.path is not None and self.state is not None:
            write_atomically(self.path, self.state.model_dump_json(indent=2) + "\n")
