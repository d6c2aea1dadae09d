"""The rebalancer's view of the vault (`read_allocation`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eth_utils import to_checksum_address

from keepers.multicall import Call, Multicall
from keepers.protocol import Protocol
from keepers.reads.batches import (
    failures_of,
    param_call,
    value_of,
)


@dataclass(frozen=True)
class SleeveRead:
    name: str
    address: str
    held: int
    cap_bps: int
    return_index: int | None
    # `returnIndexStatus()`'s flag: the vault refuses a decision that moves a sleeve whose index
    # is not fresh (StaleValuation); an unreadable flag counts as fresh (the vault decides)
    index_fresh: bool = True


@dataclass(frozen=True)
class AllocationRead:
    """The vault as the rebalancer sees it at `block`."""

    block: int
    timestamp: int
    nav: int
    sleeves: tuple[SleeveRead, ...]
    idle_buffer_bps: int
    max_turnover_bps: int
    next_rebalance_at: int
    automation_paused: bool
    is_shutdown: bool
    share_price: int  # NAV per share unit, WAD (a ratio: the sentinel watches its drops)
    failures: Mapping[str, str] = field(default_factory=dict)
    vault_sleeves: tuple[str, ...] = ()  # the vault's own sleeve order (sleeveAt), checksummed
    # `idle()`: the vault's cash less pending deposits and unclaimed redemptions (None: unread)
    idle: int | None = None

    @property
    def rebalance_nav(self) -> int:
        """The NAV `rebalance` weighs and moves with (`RebalanceModule`: idle + Σ sleeves, as
        `currentBps()`): `totalAssets()` (`nav`) leaves out the donations still locked, so while
        one is, weights over `nav` are higher than the vault's, and sum above 10,000 bps once
        the idle left is below what is locked. `nav` when `idle()` could not be read."""
        if self.idle is None:
            return self.nav
        return self.idle + sum(s.held for s in self.sleeves)

    @property
    def order_mismatch(self) -> str | None:
        """Why the manifest's sleeves are not the vault's (targets would be misordered)."""
        ours = tuple(s.address for s in self.sleeves)
        if self.vault_sleeves == ours:
            return None
        return (
            f"the manifest lists sleeves {[s.name for s in self.sleeves]} but the vault holds "
            f"{len(self.vault_sleeves)} in another order; refresh the manifest (ape run deploy)"
        )


def read_allocation(
    multicall: Multicall, protocol: Protocol, block: int | str = "latest"
) -> AllocationRead:
    vault, registry = protocol.vault, protocol.registry
    names = list(protocol.sleeves)
    calls = [
        Call(vault.totalAssets, label="totalAssets()"),
        param_call(registry, "vault.idleBufferBps"),
        param_call(registry, "vault.maxTurnoverBps"),
        Call(vault.nextRebalanceAt, label="nextRebalanceAt()"),
        Call(vault.automationPaused, label="automationPaused()"),
        Call(vault.isShutdown, label="isShutdown()"),
        Call(vault.totalSupply, label="totalSupply()"),
        Call(vault.sleeveCount, label="sleeveCount()"),
    ]
    for n in names:
        s = protocol.sleeves[n]
        calls += [
            Call(s.totalAssets, label=f"{n}.totalAssets()"),
            param_call(registry, f"vault.maxSleeveBps.{n}"),
            # the index and its flag in one read (returnIndex() is the same index)
            Call(s.returnIndexStatus, label=f"{n}.returnIndexStatus()"),
        ]
    calls += [Call(vault.sleeveAt, i, label=f"sleeveAt({i})") for i in range(len(names))]
    calls.append(Call(vault.idle, label="idle()"))
    batch = multicall.read(calls, block)
    head, rest = batch.results[:8], batch.results[8 : 8 + 3 * len(names)]
    count = int(value_of(head[7], 0))
    configs = batch.results[8 + 3 * len(names) : -1]
    idle = value_of(batch.results[-1])
    vault_sleeves = tuple(to_checksum_address(r.value.sleeve) for r in configs[:count] if r.success)
    if count > len(names):  # more sleeves on chain than the manifest knows
        vault_sleeves += ("?",) * (count - len(names))
    nav = int(head[0].unwrap())
    supply = int(value_of(head[6], 0))
    # NAV per share in WAD; an empty vault is priced at one asset unit per share unit.
    share_price = nav * 10**18 // supply if supply else 10**18
    statuses = [value_of(rest[3 * i + 2]) for i in range(len(names))]  # (index, fresh) or None
    sleeves = tuple(
        SleeveRead(
            name=n,
            address=to_checksum_address(str(protocol.sleeves[n].address)),
            held=int(value_of(rest[3 * i], 0)),
            cap_bps=int(value_of(rest[3 * i + 1], 0)),
            return_index=None if statuses[i] is None else statuses[i][0],
            index_fresh=True if statuses[i] is None else bool(statuses[i][1]),
        )
        for i, n in enumerate(names)
    )
    return AllocationRead(
        block=batch.block,
        timestamp=batch.timestamp,
        nav=nav,
        sleeves=sleeves,
        idle_buffer_bps=int(value_of(head[1], 0)),
        max_turnover_bps=int(value_of(head[2], 0)),
        next_rebalance_at=int(value_of(head[3], 0)),
        automation_paused=bool(value_of(head[4], False)),
        is_shutdown=bool(value_of(head[5], False)),
        share_price=share_price,
        failures=failures_of(batch),
        vault_sleeves=vault_sleeves,
        idle=None if idle is None else int(idle),
    )
