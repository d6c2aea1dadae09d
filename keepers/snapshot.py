"""Batched chain reads: one Multicall3 ``aggregate3`` per job per block.

A job reads everything it needs in one ``eth_call`` (Multicall3 with ``allowFailure``), so the
values are mutually consistent (one block) and cost one round trip. A call that reverts inside
the batch is reported as failed in its :class:`CallResult`; it never raises. Snapshots whose
second reads depend on the first (the evaluator's per-decision triggers) make a second batch
pinned to the first batch's block.

Multicall3 lives at its canonical address on most chains; :func:`ensure_multicall` puts the
project's minimal ``contracts/utils/Multicall3.sol`` there on local chains (anvil_setCode).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ape import chain, project
from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from keepers.errors import ErrorDecoder
from keepers.jobs.settler import ControllerClaims

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

MULTICALL3_ADDRESS = to_checksum_address("0xcA11bde05977b3631167028862bE2a173976CA11")
LOCAL_CHAIN_IDS = frozenset({31337, 1337})

_AGGREGATE3 = keccak(text="aggregate3((address,bool,bytes)[])")[:4]
_GET_BLOCK_NUMBER = keccak(text="getBlockNumber()")[:4]
_GET_TIMESTAMP = keccak(text="getCurrentBlockTimestamp()")[:4]
# `evaluateTrigger`'s reason for a due decision whose evidence is stale (IAgentRegistry).
STALE_EVIDENCE = b"stale return index"

_known: dict[int, str] = {}  # chain id -> a Multicall3 address verified in this process


class MulticallError(Exception):
    """Multicall3 is unavailable or the batch itself failed; the message is one line."""


def _has_code(address: str) -> bool:
    return len(chain.provider.get_code(address)) > 0


def ensure_multicall(sender: Any = None) -> str:
    """The address of a Multicall3 on the connected chain, putting one in place when local.

    The canonical address when it has code. Otherwise, on a local chain (31337, 1337), the
    project's Multicall3 runtime code is set there (``anvil_setCode``); a provider without
    ``set_code`` falls back to deploying it from `sender`. Elsewhere: :class:`MulticallError`.
    """
    chain_id = chain.chain_id
    remembered = _known.get(chain_id)
    if remembered is not None and _has_code(remembered):
        return remembered
    if _has_code(MULTICALL3_ADDRESS):
        _known[chain_id] = MULTICALL3_ADDRESS
        return MULTICALL3_ADDRESS
    if chain_id not in LOCAL_CHAIN_IDS:
        raise MulticallError(
            f"no Multicall3 at {MULTICALL3_ADDRESS} on chain {chain_id}; "
            "keepers need it (deploy it there, see github.com/mds1/multicall)"
        )
    runtime = project.Multicall3.contract_type.runtime_bytecode.bytecode
    address = MULTICALL3_ADDRESS
    try:
        chain.provider.set_code(MULTICALL3_ADDRESS, runtime)
    except NotImplementedError:
        if sender is None:
            raise MulticallError(
                f"cannot set code on chain {chain_id} and no account was given to deploy Multicall3"
            ) from None
        address = project.Multicall3.deploy(sender=sender).address
    if not _has_code(address):
        raise MulticallError(f"placing Multicall3 at {address} on chain {chain_id} failed")
    _known[chain_id] = address
    return address


# --- calls and results --------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One view call in a batch: ``Call(contract.method, arg, ...)``."""

    method: Any  # an ape ContractMethodHandler (contract.someView)
    args: tuple = ()
    label: str = ""

    def __init__(self, method: Any, *args: Any, label: str = "") -> None:
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "label", label or f"{method.abis[0].name}{args!r}")

    @property
    def target(self) -> str:
        return self.method.contract.address

    @property
    def abi(self) -> Any:
        abis = self.method.abis
        if len(abis) == 1:
            return abis[0]
        return next(a for a in abis if len(a.inputs) == len(self.args))

    def calldata(self) -> bytes:
        return bytes(self.method.encode_input(*self.args))

    def decode(self, data: bytes) -> Any:
        """Decode like ape's own call does: one output unwrapped, several as a tuple."""
        abi = self.abi
        if abi.outputs and not data:
            raise ValueError("empty return data (no contract at the target?)")
        values = chain.provider.network.ecosystem.decode_returndata(abi, data)
        if not isinstance(values, (list, tuple)):
            return values
        if len(values) < 2:
            return values[0] if values else None
        return tuple(values)


@dataclass(frozen=True)
class CallResult:
    """The outcome of one call of a batch: a decoded value, or why it failed."""

    call: Call
    success: bool
    value: Any = None
    error: str | None = None
    raw: bytes = b""

    def unwrap(self) -> Any:
        if not self.success:
            raise MulticallError(f"{self.call.label} failed: {self.error}")
        return self.value


def describe_revert(data: bytes, contract: Any = None) -> str:
    """A one-line reason for revert data: Error(string), Panic, a custom error of `contract`."""
    decoder = ErrorDecoder(contract.contract_type) if contract is not None else ErrorDecoder()
    return decoder.decode(bytes(data))[1]


@dataclass(frozen=True)
class Batch:
    """The results of one ``aggregate3``, and the block and timestamp it read."""

    block: int
    timestamp: int
    results: tuple[CallResult, ...]


class Multicall:
    """Runs batches of view calls through one Multicall3 ``aggregate3`` eth_call."""

    def __init__(self, address: str | None = None) -> None:
        self.address = to_checksum_address(address) if address else ensure_multicall()

    def read(self, calls: Sequence[Call], block: int | str = "latest") -> Batch:
        """One eth_call at `block`: every call is allowed to fail; failures are reported."""
        items = [(self.address, False, _GET_BLOCK_NUMBER), (self.address, False, _GET_TIMESTAMP)]
        items += [(c.target, True, c.calldata()) for c in calls]
        data = _AGGREGATE3 + encode(["(address,bool,bytes)[]"], [items])
        try:
            raw = chain.provider.web3.eth.call(
                {"to": self.address, "data": "0x" + data.hex()}, block_identifier=block
            )
        except Exception as err:  # noqa: BLE001 - the node's own error, made one line
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise MulticallError(f"Multicall3 batch at block {block} failed: {reason}") from None
        (outcomes,) = decode(["(bool,bytes)[]"], bytes(raw))
        number = decode(["uint256"], outcomes[0][1])[0]
        timestamp = decode(["uint256"], outcomes[1][1])[0]
        results = []
        for call, (ok, returned) in zip(calls, outcomes[2:], strict=True):
            if not ok:
                reason = describe_revert(returned, call.method.contract)
                results.append(CallResult(call, False, error=reason, raw=returned))
                continue
            try:
                value = call.decode(returned)
            except Exception as err:  # noqa: BLE001 - undecodable output counts as a failure
                results.append(CallResult(call, False, error=f"undecodable: {err}", raw=returned))
                continue
            results.append(CallResult(call, True, value=value, raw=returned))
        return Batch(number, timestamp, tuple(results))


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
            ],
            block,
        )
        total, idle, bps, paused, shutdown, trigger, strikes, liquid, deposits, next_at = (
            batch.results
        )

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
        )


@dataclass(frozen=True)
class ClaimsSnapshot:
    """What each controller may claim now (`maxDeposit`, `maxRedeem`) and whether `operator`
    may claim it for them (`isOperator(controller, operator)`), read in one batch. A controller
    whose reads failed is left out and named in `failures`."""

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
        batch = multicall.read(calls, block)
        claims = []
        for i, c in enumerate(controllers):
            op, dep, red = batch.results[3 * i : 3 * i + 3]
            if op.success and dep.success and red.success:
                claims.append(ControllerClaims(c, bool(op.value), int(dep.value), int(red.value)))
        return cls(batch.block, batch.timestamp, tuple(claims), _failures(batch.results))
