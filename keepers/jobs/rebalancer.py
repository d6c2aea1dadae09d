"""Rebalancer job, decision part: a thin adapter from on-chain state to `keepers.strategy.decide`
and from its `Decision` to the arguments of
`RWAVault.rebalance(uint16[] targetBps, bytes32 rationaleHash, string rationaleURI)`.

`strategy_inputs` builds `StrategyInputs` from a `RebalancerSnapshot`: current weights as the
contract computes them (`bounds.weights_bps`: `floor(held · 1e4 / nav)`), caps, idle buffer,
turnover limit, each sleeve's `returnIndex` history, the lending book and gas. `plan_rebalance`
runs the strategy and returns a `RebalanceCall` (with the rationale document to store under its
hash before sending) or a `RebalanceSkip` with the strategy's reason.

The vault refuses to move a sleeve whose price moved beyond `oracle.maxDeviationBps` until the
move is confirmed or dropped (`StaleValuation`: no decision starts from an unconfirmed round).
`plan_rebalance_pokes` keeps that wait short for a planned rebalance (a risk-off cut on a crash,
say): it pokes the router for each sleeve feed beyond the band, to record the move and,
`oracle.confirmDelay` later, confirm it; `rebalance_waits` says which moves the planned targets
still wait on after those pokes (the rebalance is then skipped and planned again at a later pass).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from keepers.jobs.sentinel import OracleState, PokePlan, confirmation_pokes, move_stages
from keepers.math import RateModel
from keepers.strategy import (
    BorrowerExposure,
    Decision,
    GasMarket,
    LendingBookState,
    ReturnHistory,
    SleeveState,
    StrategyInputs,
    StrategyParams,
    weights_bps,
)
from keepers.strategy.kit import BUILTIN, ProposalRefused, decide_with, trusted_strategies
from keepers.strategy.replay import ReceiptError, replay

DEFAULT_URI_BASE = "ballast://rationale/"


@dataclass(frozen=True)
class LendingSnapshot:
    """The lending book as read: cash, debt, the rate model and `(debt, health, threshold_bps)`
    per borrower."""

    cash: int
    debt: int
    rate_model: RateModel
    borrowers: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True)
class SleeveSnapshot:
    """One sleeve as read, in the vault's order: `held` (its `totalAssets()`, asset units),
    `cap_bps` (`vault.maxSleeveBps.<name>`), its `returnIndex()` readings, the oracle deviation
    of the prices valuing it (bps against the last accepted), and the book when it lends."""

    name: str
    held: int
    cap_bps: int
    index_timestamps: tuple[int, ...]
    index_values: tuple[int, ...]
    oracle_deviation_bps: int = 0
    lending: LendingSnapshot | None = None


@dataclass(frozen=True)
class RebalancerSnapshot:
    timestamp: int
    nav: int
    asset_decimals: int
    sleeves: tuple[SleeveSnapshot, ...]
    idle_buffer_bps: int
    max_turnover_bps: int
    gas: GasMarket
    block: int = 0  # the block read (0: off chain, e.g. the backtest)
    agent: str = ""  # the agent the keeper decides for (checksummed; "": off chain)


@dataclass(frozen=True)
class RebalanceCall:
    """`rebalance(target_bps, rationale_hash, rationale_uri)`; store `rationale` under the hash
    first (the URI points at it)."""

    target_bps: tuple[int, ...]
    rationale_hash: bytes
    rationale_uri: str
    rationale: bytes
    decision: Decision

    @property
    def rationale_hash_hex(self) -> str:
        return "0x" + self.rationale_hash.hex()

    @property
    def args(self) -> tuple[list[int], bytes, str]:
        return (list(self.target_bps), self.rationale_hash, self.rationale_uri)


@dataclass(frozen=True)
class RebalanceSkip:
    """No rebalance: the strategy's `code` and `reason` (and its document, for the log)."""

    code: str
    reason: str
    rationale: bytes | None = None


def rationale_uri(base: str, rationale_hash: bytes) -> str:
    """`base` followed by the hash as `0x` hex (a `/` is inserted unless `base` already ends
    with `/`, `:` or `=`, or is empty)."""
    sep = "" if not base or base[-1] in "/:=" else "/"
    return f"{base}{sep}0x{rationale_hash.hex()}"


def _lending(book: LendingSnapshot | None) -> LendingBookState | None:
    if book is None:
        return None
    exposures = tuple(BorrowerExposure(d, h, t) for d, h, t in book.borrowers)
    return LendingBookState(book.cash, book.debt, book.rate_model, exposures)


def strategy_inputs(snapshot: RebalancerSnapshot) -> StrategyInputs:
    """The strategy's inputs for `snapshot` (current weights as the contract computes them).

    A `returnIndex()` of 0 is read as 1 wei, the least positive index: a lending book that
    lost everything writes its supply index down to 0 (`LendingSleeve` bad debt over the whole
    book), and the loss must stay in the history the strategy reads (`ReturnHistory` takes
    positive indices only) rather than stop every later decision."""
    current = weights_bps([s.held for s in snapshot.sleeves], snapshot.nav)
    sleeves = tuple(
        SleeveState(
            s.name,
            w,
            s.cap_bps,
            ReturnHistory(s.index_timestamps, tuple(max(v, 1) for v in s.index_values)),
            _lending(s.lending),
            s.oracle_deviation_bps,
        )
        for s, w in zip(snapshot.sleeves, current, strict=True)
    )
    return StrategyInputs(
        snapshot.timestamp,
        snapshot.nav,
        snapshot.asset_decimals,
        sleeves,
        snapshot.idle_buffer_bps,
        snapshot.max_turnover_bps,
        snapshot.gas,
        snapshot.block,
        snapshot.agent,
    )


def plan_rebalance(
    snapshot: RebalancerSnapshot,
    params: StrategyParams | None = None,
    uri_base: str = DEFAULT_URI_BASE,
    strategy: str = BUILTIN,
    time_limit: float | None = None,
) -> RebalanceCall | RebalanceSkip:
    """Run the strategy (`strategy`: an entry point, `keepers.strategy.kit`; an operator's within
    `time_limit` seconds, each of its two runs) on `snapshot`; the call to send or why not. A
    proposal outside the vault's bounds, a strategy that does not return in time, or a decision
    whose receipt does not replay to itself (a strategy reading a clock or a random source),
    raises `ProposalRefused`: what is sent is what `verify-decision --replay` will find."""
    inputs = strategy_inputs(snapshot)
    result = decide_with(strategy, inputs, params or StrategyParams(), time_limit)
    if not isinstance(result, Decision):
        return RebalanceSkip(result.code, result.reason, result.rationale)
    try:
        check = replay(result.rationale, time_limit, trusted_strategies(strategy))
        problem = None if check.ok else check.differences[0]
    except ReceiptError as err:
        problem = str(err)
    if problem is not None:
        raise ProposalRefused(f"strategy {strategy!r}: its receipt does not replay: {problem}")
    return RebalanceCall(
        result.target_bps,
        result.rationale_hash,
        rationale_uri(uri_base, result.rationale_hash),
        result.rationale,
        result,
    )


def plan_rebalance_pokes(sleeve_oracles: Sequence[OracleState], now: int) -> tuple[PokePlan, ...]:
    """The `poke`s that close the open bands a planned rebalance may wait on (module docstring),
    for the sleeves' feeds as read at `now`, in name order."""
    return confirmation_pokes(sleeve_oracles, now, "a rebalance")


def moved_sleeves(snapshot: RebalancerSnapshot, target: Sequence[int]) -> frozenset[str]:
    """The sleeves whose weight `target` changes from the contract's current weights
    (`bounds.weights_bps`): those whose return index the vault requires fresh."""
    current = weights_bps([s.held for s in snapshot.sleeves], snapshot.nav)
    pairs = zip(snapshot.sleeves, current, target, strict=True)
    return frozenset(s.name for s, c, t in pairs if c != t)


def rebalance_waits(
    sleeve_oracles: Sequence[OracleState], moved: Collection[str], now: int
) -> tuple[str, ...]:
    """The unconfirmed moves a rebalance changing the sleeves `moved` waits on after this pass's
    pokes (`plan_rebalance_pokes`), one phrase each, in name order: a move just recorded or
    still pending; a confirmable one is confirmed by the pass's poke and no longer waits."""
    out = []
    for o, stage in move_stages(sleeve_oracles, now):
        if o.name not in moved or stage == "confirmable":
            continue
        since = now if stage == "unrecorded" else o.pending_since
        out.append(
            f"{o.name} moved {o.deviation_bps()} bps from the oracle's reference, confirmable at "
            f"{since + o.confirm_delay}"
        )
    return tuple(out)


FUTILE_BPS = 10  # weights within this of each other count as the same allocation
RETRY_AFTER = 3 * 86_400  # a futile target is tried again after this long


def futile_repeat(
    previous_target: Sequence[int],
    target: Sequence[int],
    decided_at: int,
    now: int,
    moved_bps: int,
) -> bool:
    """Whether sending `target` again is futile: the last decision (taken at `decided_at`)
    aimed at the same targets, within FUTILE_BPS each, less than RETRY_AFTER ago, and moved the
    weights by at most FUTILE_BPS in all (`moved_bps`: a sleeve could not pay out — lent-out
    cash, a frozen issuer)."""
    if len(previous_target) != len(target) or now - decided_at >= RETRY_AFTER:
        return False
    same = all(abs(a - b) <= FUTILE_BPS for a, b in zip(previous_target, target, strict=True))
    return same and moved_bps <= FUTILE_BPS


def stale_rebalance(
    plan_block: int,
    sleeve_log_blocks: Iterable[int],
    pending_targets: Sequence[int] | None = None,
    newer_targets: Sequence[int] | None = None,
) -> str | None:
    """Why the keeper's own pending rebalance, planned on the vault read at `plan_block` for
    `pending_targets`, no longer holds and must be cancelled (one phrase), or None (keep it).

    `rebalance` takes one target per sleeve INDEX: a `SleeveAdded`/`SleeveRemoved` log after
    the plan's read block (`sleeve_log_blocks`: the blocks of those logs) means its vector may
    now name other sleeves than it was planned on (a swap keeps the count), whatever the
    targets; the vault's cooldown restart stops it only while the change is recent. A newer
    plan of the same keeper (`newer_targets`, None: none) with other targets supersedes it:
    left pending it would still land first, on its nonce. Same targets: it does the work."""
    changed = sorted(b for b in sleeve_log_blocks if b > plan_block)
    if changed:
        return (
            f"the vault's sleeve set changed at block {changed[0]}, after the plan's read at "
            f"block {plan_block}"
        )
    if newer_targets is not None and (
        pending_targets is None or list(pending_targets) != list(newer_targets)
    ):
        return (
            f"superseded by a newer plan {list(newer_targets)} (it was planned at block "
            f"{plan_block} for {list(pending_targets or [])})"
        )
    return None


__all__ = [
    "DEFAULT_URI_BASE",
    "FUTILE_BPS",
    "RETRY_AFTER",
    "LendingSnapshot",
    "RebalanceCall",
    "RebalanceSkip",
    "RebalancerSnapshot",
    "SleeveSnapshot",
    "futile_repeat",
    "plan_rebalance",
    "moved_sleeves",
    "plan_rebalance_pokes",
    "rationale_uri",
    "rebalance_waits",
    "stale_rebalance",
    "strategy_inputs",
]
