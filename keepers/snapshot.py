"""Typed snapshots: what each job reads, as one Multicall3 batch at one block.

Each snapshot's ``read`` makes its calls in one ``aggregate3`` (:mod:`keepers.multicall`) and
turns the results into a frozen dataclass; a call that failed leaves its field None (or the
item out) and is named in ``failures`` (label -> reason). Snapshots whose second reads depend on
the first (the evaluator's per-decision triggers) make a second batch pinned to the first
batch's block.

The batch machinery (`Call`, `Multicall`, `ensure_multicall`, ...) lives in
:mod:`keepers.multicall`; the names listed in ``__all__`` are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from eth_utils import to_checksum_address

from keepers.jobs.settler import ControllerClaims
from keepers.multicall import (
    LOCAL_CHAIN_IDS,
    MULTICALL3_ADDRESS,
    Call,
    CallResult,
    Multicall,
    MulticallError,
    ensure_multicall,
)
from keepers.reads.batches import read_chunked

__all__ = [
    "LOCAL_CHAIN_IDS",
    "MULTICALL3_ADDRESS",
    "BookSnapshot",
    "BorrowerView",
    "Call",
    "CallResult",
    "ClaimsSnapshot",
    "DueDecision",
    "EvaluationSnapshot",
    "Multicall",
    "MulticallError",
    "PendingSlash",
    "VaultSnapshot",
    "ensure_multicall",
]

# `evaluateTrigger`'s reason for a due decision whose evidence is stale (IAgentRegistry).
STALE_EVIDENCE = b"stale return index"


# --- typed snapshots ----------------------------------------------------------------------------


def _failures(results: Iterable[CallResult]) -> Mapping[str, str]:
    return MappingProxyType({r.call.label: r.error or "" for r in results if not r.success})


def _trigger(result: CallResult) -> tuple[bool, bytes]:
    if not result.success:
        return False, b""
    should_act, data = result.value
    return bool(should_act), bytes(data)


@dataclass(frozen=True)
class BorrowerView:
    """One borrower of the lending book. ``None`` fields: the read failed (see ``error``)."""

    borrower: str
    health_factor: int | None
    debt: int | None
    liquidatable: bool
    trigger_data: bytes
    error: str | None = None


@dataclass(frozen=True)
class BookSnapshot:
    """The liquidator's view: health, debt and ``liquidationTrigger`` of each borrower."""

    block: int
    timestamp: int
    borrowers: tuple[BorrowerView, ...]
    failures: Mapping[str, str] = field(default_factory=dict)

    @property
    def liquidatable(self) -> tuple[BorrowerView, ...]:
        return tuple(b for b in self.borrowers if b.liquidatable)

    @classmethod
    def read(
        cls,
        multicall: Multicall,
        lending: Any,
        borrowers: Sequence[str],
        block: int | str = "latest",
    ) -> BookSnapshot:
        calls = []
        for borrower in borrowers:
            calls += [
                Call(lending.healthFactor, borrower, label=f"healthFactor({borrower})"),
                Call(lending.debtOf, borrower, label=f"debtOf({borrower})"),
                Call(lending.liquidationTrigger, borrower, label=f"liquidationTrigger({borrower})"),
            ]
        batch = multicall.read(calls, block)
        views = []
        for i, borrower in enumerate(borrowers):
            health, debt, trigger = batch.results[3 * i : 3 * i + 3]
            liquidatable, data = _trigger(trigger)
            failed = next((r for r in (health, debt, trigger) if not r.success), None)
            views.append(
                BorrowerView(
                    borrower=to_checksum_address(borrower),
                    health_factor=health.value if health.success else None,
                    debt=debt.value if debt.success else None,
                    liquidatable=liquidatable,
                    trigger_data=data,
                    error=None if failed is None else f"{failed.call.label}: {failed.error}",
                )
            )
        return cls(batch.block, batch.timestamp, tuple(views), _failures(batch.results))


@dataclass(frozen=True)
class DueDecision:
    """A decision past its evaluation window and its ``evaluateTrigger``."""

    decision_id: int
    should_act: bool
    data: bytes
    error: str | None = None


@dataclass(frozen=True)
class PendingSlash:
    """A pending slash and its ``slashInfo`` (None when the read failed)."""

    slash_id: int
    info: Any | None  # IAgentRegistry.Slash: agent, vetoEndsAt, status, decisionId, amount
    error: str | None = None


@dataclass(frozen=True)
class EvaluationSnapshot:
    """The evaluator's view. Two batches at one block: the ids, then per-id reads. `waiting`:
    open decisions `decisionsDue` left out because their evidence is stale (`evaluateTrigger`
    says "stale return index": a price stale or a move unconfirmed), at most `max_due` read."""

    block: int
    timestamp: int
    open_decisions: tuple[int, ...]
    due: tuple[DueDecision, ...]
    slashes: tuple[PendingSlash, ...]
    failures: Mapping[str, str] = field(default_factory=dict)
    waiting: tuple[int, ...] = ()

    @classmethod
    def read(
        cls, multicall: Multicall, agents: Any, max_due: int = 50, block: int | str = "latest"
    ) -> EvaluationSnapshot:
        first = multicall.read(
            [
                Call(agents.openDecisions, label="openDecisions()"),
                Call(agents.decisionsDue, max_due, label=f"decisionsDue({max_due})"),
                Call(agents.pendingSlashes, label="pendingSlashes()"),
            ],
            block,
        )
        open_r, due_r, slashes_r = first.results
        open_ids = tuple(open_r.value) if open_r.success else ()
        due_ids = tuple(due_r.value) if due_r.success else ()
        slash_ids = tuple(slashes_r.value) if slashes_r.success else ()
        results = list(first.results)
        listed = set(due_ids)
        others = tuple(i for i in open_ids if i not in listed)[:max_due]
        due: list[DueDecision] = []
        slashes: list[PendingSlash] = []
        waiting: list[int] = []
        if due_ids or slash_ids or others:
            ids = due_ids + others
            calls = [Call(agents.evaluateTrigger, i, label=f"evaluateTrigger({i})") for i in ids]
            calls += [Call(agents.slashInfo, i, label=f"slashInfo({i})") for i in slash_ids]
            second = multicall.read(calls, first.block)
            results += second.results
            triggers = second.results[: len(ids)]
            for i, r in zip(due_ids, triggers[: len(due_ids)], strict=True):
                should_act, data = _trigger(r)
                due.append(DueDecision(i, should_act, data, r.error))
            for i, r in zip(others, triggers[len(due_ids) :], strict=True):
                should_act, data = _trigger(r)
                if not should_act and data == STALE_EVIDENCE:
                    waiting.append(i)
            for i, r in zip(slash_ids, second.results[len(ids) :], strict=True):
                slashes.append(PendingSlash(i, r.value if r.success else None, r.error))
        return cls(
            first.block,
            first.timestamp,
            open_ids,
            tuple(due),
            tuple(slashes),
            _failures(results),
            tuple(waiting),
        )


@dataclass(frozen=True)
class VaultSnapshot:
    """The vault's state for the rebalancer, settler and sentinel. None: the read failed."""

    block: int
    timestamp: int
    total_assets: int | None
    idle: int | None
    current_bps: tuple[int, ...] | None
    automation_paused: bool | None
    is_shutdown: bool | None
    strike_should_act: bool
    strike_data: bytes
    strike_count: int | None
    liquidity: int | None
    pending_deposits: int | None
    next_rebalance_at: int | None
    failures: Mapping[str, str] = field(default_factory=dict)
    pending_redemptions: int | None = None  # escrowed shares not yet filled
    total_supply: int | None = None
    # `requestWindows()`: the open request window and the deposit queue's head (the oldest
    # window not yet settled; with the queue empty, one past the newest it held)
    open_window: int | None = None
    deposit_head: int | None = None

    @classmethod
    def read(cls, multicall: Multicall, vault: Any, block: int | str = "latest") -> VaultSnapshot:
        batch = multicall.read(
            [
                Call(vault.totalAssets, label="totalAssets()"),
                Call(vault.idle, label="idle()"),
                Call(vault.currentBps, label="currentBps()"),
                Call(vault.automationPaused, label="automationPaused()"),
                Call(vault.isShutdown, label="isShutdown()"),
                Call(vault.strikeTrigger, label="strikeTrigger()"),
                Call(vault.strikeCount, label="strikeCount()"),
                Call(vault.liquidity, label="liquidity()"),
                Call(vault.pendingDeposits, label="pendingDeposits()"),
                Call(vault.nextRebalanceAt, label="nextRebalanceAt()"),
                Call(vault.pendingRedemptions, label="pendingRedemptions()"),
                Call(vault.totalSupply, label="totalSupply()"),
                Call(vault.requestWindows, label="requestWindows()"),
            ],
            block,
        )
        (total, idle, bps, paused, shutdown, trigger, strikes, liquid, deposits, next_at,
         redemptions, supply, windows) = batch.results  # fmt: skip

        def value(r: CallResult) -> Any:
            return r.value if r.success else None

        should_act, data = _trigger(trigger)
        return cls(
            block=batch.block,
            timestamp=batch.timestamp,
            total_assets=value(total),
            idle=value(idle),
            current_bps=tuple(bps.value) if bps.success else None,
            automation_paused=value(paused),
            is_shutdown=value(shutdown),
            strike_should_act=should_act,
            strike_data=data,
            strike_count=value(strikes),
            liquidity=value(liquid),
            pending_deposits=value(deposits),
            next_rebalance_at=value(next_at),
            failures=_failures(batch.results),
            pending_redemptions=value(redemptions),
            total_supply=value(supply),
            open_window=int(windows.value[0]) if windows.success else None,
            deposit_head=int(windows.value[1]) if windows.success else None,
        )

    def closed_deposits(self) -> int | None:
        """The pending deposits a strike now may settle: all of them when the deposit queue's
        head is a window before the open one, 0 when the only ones wait in the open window
        (no strike settles a window before its cut-off). None: a read failed."""
        if self.pending_deposits is None or None in (self.open_window, self.deposit_head):
            return None if self.pending_deposits is None else self.pending_deposits
        return self.pending_deposits if self.deposit_head < self.open_window else 0

    def queued_assets(self) -> int | None:
        """What the redemptions not yet filled are worth at the share price now (None: a read
        failed)."""
        if None in (self.pending_redemptions, self.total_assets, self.total_supply):
            return None
        if not self.total_supply:
            return 0
        return self.pending_redemptions * self.total_assets // self.total_supply


@dataclass(frozen=True)
class ClaimsSnapshot:
    """What each controller may claim now (`maxDeposit`, `maxRedeem`) and whether `operator`
    may claim it for them (`isOperator(controller, operator)`), read at one block in batches of
    at most `keepers.reads.batches.CHUNK` calls (anyone can add controllers by approving the
    relay: one batch of them all would pass a node's eth_call limits). A controller whose reads
    failed is left out and named in `failures`."""

    block: int
    timestamp: int
    claims: tuple[ControllerClaims, ...]
    failures: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def read(
        cls,
        multicall: Multicall,
        vault: Any,
        operator: str,
        controllers: Sequence[str],
        block: int | str = "latest",
    ) -> ClaimsSnapshot:
        calls = []
        for c in controllers:
            calls += [
                Call(vault.isOperator, c, operator, label=f"isOperator({c})"),
                Call(vault.maxDeposit, c, label=f"maxDeposit({c})"),
                Call(vault.maxRedeem, c, label=f"maxRedeem({c})"),
            ]
        batch = read_chunked(multicall, calls, block)
        claims = []
        for i, c in enumerate(controllers):
            op, dep, red = batch.results[3 * i : 3 * i + 3]
            if op.success and dep.success and red.success:
                claims.append(ControllerClaims(c, bool(op.value), int(dep.value), int(red.value)))
        return cls(batch.block, batch.timestamp, tuple(claims), _failures(batch.results))
