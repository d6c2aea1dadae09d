"""Which AgentRegistry a keeper asks about agents, and which ones it settles.

Governance may point the vault at another AgentRegistry after the deploy
(`IRWAVault.setAgentRegistry`) while the manifest still names the first (`Protocol.agents`). A
keeper that followed the manifest would then ask the old registry whether its agent is active
and never evaluate the new one's decisions; one that followed only the vault would leave the old
registry's decisions unevaluated and its slashes, owed to the vault's depositors, unexecuted. A
redeploy then writes the new registry into the manifest: after that only the vault's
`AgentRegistrySet` logs still name the old one (`keepers.reads.registries`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ape import chain, project
from eth_utils import to_checksum_address

from keepers.job_config import LiquidatorConfig
from keepers.protocol import Protocol
from keepers.reads.registries import read_named_registries, settling_order
from keepers.store import Store

log = logging.getLogger("keepers")

__all__ = ["STATE", "Registries"]

STATE = "agent-registries"
"""The job state that keeps what the vault's `AgentRegistrySet` logs named: {"named": [the
registries, in chain order], "through": the last block read}."""


class Registries:
    """The vault's AgentRegistry now (`now`) and every one with something to settle
    (`to_settle`), with one handle per address and a log line the first time each is used
    although the manifest does not name it."""

    def __init__(self, protocol: Protocol, scans: LiquidatorConfig, store: Store) -> None:
        self.protocol = protocol
        self.scans = scans  # `scan_chunk` and `reorg_depth`, as every keeper log scan
        self.store = store  # keeps what the logs named (`STATE`) for the next process
        self._handles: dict[str, Any] = {}  # AgentRegistry handles the manifest does not name
        self._told: set[str] = set()  # registries a log line has named
        # the registries the vault's logs named, in chain order, read up to `_named_through`
        # while the vault's registry was `_named_for` (None: not read yet)
        self._named: list[str] | None = None
        self._named_through = 0
        self._named_for = ""
        self._scan_failed = False  # the last read of the logs failed (said once until one works)

    @property
    def manifest(self) -> str:
        return to_checksum_address(str(self.protocol.agents.address))

    def now(self, block: int | None = None) -> Any:
        """The AgentRegistry the vault checks its agents against at `block` (default: the
        latest; `vault.agentRegistry()`, one read); the manifest's while the vault names none
        (zero: not wired yet)."""
        vault = self.protocol.vault
        named = vault.agentRegistry() if block is None else vault.agentRegistry(block_id=block)
        address = to_checksum_address(str(named))
        if address == self.manifest or int(address, 16) == 0:
            return self.protocol.agents
        if address not in self._told:
            self._told.add(address)
            log.warning(
                "the vault's agents are those of the AgentRegistry %s (the manifest names %s)",
                address, self.manifest,
            )  # fmt: skip
        return self.handle(address)

    def to_settle(self, tolerate: bool = True, block: int | None = None) -> list[Any]:
        """Every AgentRegistry with decisions or slashes to settle, each once: the vault's now
        (`now`), then every other one the vault has named (the latest first), then the
        manifest's (`settling_order`). The decisions an earlier registry recorded are still
        evaluated there, and its slashes executed: they are paid to the vault's depositors,
        whichever registry the vault uses now.

        The vault's logs are read once, from the deployment block, and again (from
        `reorg_depth` blocks below the last read) whenever the vault's registry is not the one it
        was at the last read: a pass reads no log while nothing changes. What they named is kept
        in the state file (job state `agent-registries`), so a restarted keeper, or the next
        `status`, reads only the blocks since the last read. (A registry the vault named and
        left again between two passes of one process is found by the next process.) A read that
        fails is tried again next pass; meanwhile the registries known are settled (with
        `tolerate` False it raises: a status must not pass a half read for a whole one). The
        vault's registry is read at `block` (default: the latest)."""
        current = self.now(block)
        address = to_checksum_address(str(current.address))
        if self._named is None:
            self._load()
        if self._named is None or address != self._named_for:
            try:
                self._read_named(address)
            except Exception as err:  # noqa: BLE001 - the registries known so far are settled
                if not tolerate:
                    raise
                # a node failing `eth_getLogs` must not stop the evaluator's pass over the
                # vault's registry: the logs are read again next pass, one line until they are
                if not self._scan_failed:
                    log.warning(
                        "cannot read the vault's AgentRegistrySet logs (%s): settling the "
                        "AgentRegistries known so far until they are read",
                        str(err).splitlines()[0] if str(err) else type(err).__name__,
                    )
                self._scan_failed = True
            else:
                self._scan_failed = False
        order = settling_order(address, self._named or [], self.manifest)
        for earlier in order[1:]:
            if earlier != self.manifest and earlier not in self._told:
                self._told.add(earlier)
                log.warning("settling the AgentRegistry %s too: the vault named it before", earlier)
        return [current if a == address else self.handle(a) for a in order]

    def handle(self, address: str) -> Any:
        """The AgentRegistry at `address`: the manifest's handle, or one made once."""
        if address == self.manifest:
            return self.protocol.agents
        if address not in self._handles:
            self._handles[address] = project.AgentRegistry.at(address)
        return self._handles[address]

    def _read_named(self, now: str) -> None:
        """Adds the registries the vault's logs name up to the head to `_named`."""
        web3 = chain.provider.web3
        head = int(web3.eth.block_number)
        start = self.protocol.block
        if self._named is not None:
            start = max(start, self._named_through + 1 - self.scans.reorg_depth)
        named = dict.fromkeys(self._named or [])
        vault = str(self.protocol.vault.address)
        for address in read_named_registries(web3, vault, start, head, self.scans.scan_chunk):
            named.pop(address, None)  # named again: it moves to its latest place
            named[address] = None
        self._named, self._named_through, self._named_for = list(named), head, now
        kept = {"named": self._named, "through": head}
        self.store.set_job_state(STATE, json.dumps(kept, sort_keys=True))

    def _load(self) -> None:
        """What an earlier process of this state file read of the logs (`STATE`), if anything:
        a restart then reads only the blocks since (from `reorg_depth` below its last block),
        not the whole history. Anything malformed is read again from the deployment."""
        try:
            kept = json.loads(self.store.job_state(STATE) or "null")
            named = [to_checksum_address(a) for a in kept["named"]]
            through = int(kept["through"])
        except (TypeError, KeyError, ValueError):
            return
        # `_named_for` stays unset: this process reads the blocks since `through` once (a
        # keeper down for a week may have missed a registry the vault named and left meanwhile)
        self._named, self._named_through = named, through
