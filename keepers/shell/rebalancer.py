"""Rebalancer pass: the keeper as a registered agent. Reads the allocation, the lending book and
the oracles at one block, appends each sleeve's `returnIndex()` to the stored history, runs the
strategy (`keepers.jobs.plan_rebalance`), stores the rationale document under its keccak hash
(and, when configured, as `<rationale_dir>/<hash>.json`), then sends
`rebalance(targetBps, rationaleHash, rationaleURI)` and records the decision it opened. Before
sending, it pokes the router for any sleeve feed beyond `oracle.maxDeviationBps` of the reference
(`plan_rebalance_pokes`: record the move, confirm it once `oracle.confirmDelay` has passed): the
vault refuses to move a sleeve whose band is open, and the refusal in simulation costs nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from keepers.actions import CANCEL_KIND
from keepers.inflight import Blocked
from keepers.jobs import (
    RETRY_AFTER,
    LendingSnapshot,
    RebalancerSnapshot,
    RebalanceSkip,
    SleeveSnapshot,
    futile_repeat,
    moved_sleeves,
    plan_rebalance,
    plan_rebalance_pokes,
    rebalance_waits,
    stale_rebalance,
)
from keepers.math import adjusted_collateral, health_factor
from keepers.multicall import MulticallError
from keepers.nonces import cancel_flight
from keepers.outcomes import Refused, Stuck
from keepers.reads import (
    AllocationRead,
    OracleRead,
    priced_tokens,
    read_allocation,
    read_book,
    read_oracles,
    read_vault_sleeves,
    sleeve_change_blocks,
)
from keepers.reads.scans import block_hash
from keepers.shell.confirmations import poke_confirmations
from keepers.shell.liquidator import discover_borrowers
from keepers.shell.reports import JobReport, KeeperError
from keepers.strategy import StrategyParams
from keepers.strategy.kit import ProposalRefused
from keepers.strategy.rationale import decode as decode_rationale
from keepers.tx_node import key_lock
from keepers.verify import REBALANCED_TOPIC, decode_rebalanced

if TYPE_CHECKING:
    from keepers.shell.keeper import Keeper
    from keepers.store import TxRecord

log = logging.getLogger("keepers")

REBALANCE_KIND = "rebalance"

RECOVER_LAST = 3  # newest mined rebalances checked for an unrecorded decision at each pass


def _lending_snapshot(keeper: Keeper, block: int) -> tuple[LendingSnapshot, int]:
    """The book for the strategy, and the asset's decimals."""
    borrowers = discover_borrowers(keeper, block)
    book = read_book(keeper.multicall, keeper.protocol, borrowers, keeper.asset, block)
    exposures = []
    for b in book.borrowers:
        pos = b.position
        if pos.debt == 0:
            continue
        value = sum(h.value(pos.asset_decimals) for h in pos.held)
        threshold = adjusted_collateral(pos.held, pos.asset_decimals) // value if value else 0
        exposures.append((pos.debt, health_factor(pos), threshold))
    snapshot = LendingSnapshot(book.cash, book.debt, book.rate_model, tuple(exposures))
    return snapshot, book.asset_decimals


def _snapshot(keeper: Keeper, alloc: AllocationRead) -> tuple[RebalancerSnapshot, OracleRead]:
    """What the strategy decides on at `alloc`'s block (the stored index history, the oracles,
    the lending book, gas), and the oracles read."""
    cfg, protocol = keeper.settings.rebalancer, keeper.protocol
    oracles = read_oracles(keeper.multicall, protocol, priced_tokens(protocol), alloc.block)
    lending, decimals = (None, int(keeper.erc20(keeper.asset).decimals()))
    if protocol.lending is not None:
        lending, decimals = _lending_snapshot(keeper, alloc.block)
    collateral_dev = max((o.deviation_bps() for o in oracles.oracles), default=0)
    sleeves = []
    for s in alloc.sleeves:
        history = keeper.store.index_history(s.name, cfg.history)
        is_book = protocol.lending is not None and s.address == protocol.lending.address
        sleeves.append(
            SleeveSnapshot(
                name=s.name,
                held=s.held,
                cap_bps=s.cap_bps,
                index_timestamps=tuple(t for t, _ in history),
                index_values=tuple(v for _, v in history),
                oracle_deviation_bps=collateral_dev if is_book else oracles.deviation_bps(s.name),
                lending=lending if is_book else None,
            )
        )
    snapshot = RebalancerSnapshot(
        timestamp=alloc.timestamp,
        nav=alloc.rebalance_nav,  # the vault's weights: locked donations included
        asset_decimals=decimals,
        sleeves=tuple(sleeves),
        idle_buffer_bps=alloc.idle_buffer_bps,
        max_turnover_bps=alloc.max_turnover_bps,
        gas=keeper.gas_market(),
        block=alloc.block,
        agent=to_checksum_address(keeper.address) if keeper.address else "",
    )
    return snapshot, oracles


def _params(keeper: Keeper) -> StrategyParams:
    return keeper.settings.rebalancer.strategy_params()


def _observe(keeper: Keeper, alloc: AllocationRead) -> None:
    """Each sleeve's `returnIndex()` of `alloc` appended to the stored history, with its block's
    hash, after the readings that are not of this chain up to `alloc.block` are dropped
    (`_drop_abandoned_readings`)."""
    _drop_abandoned_readings(keeper, alloc.block)
    mark = block_hash(keeper.web3, alloc.block)
    for s in alloc.sleeves:
        if s.return_index is not None:
            keeper.store.add_index_sample(
                s.name, alloc.timestamp, int(s.return_index), alloc.block, mark
            )


def _drop_abandoned_readings(keeper: Keeper, head: int) -> None:
    """Drops the stored readings read above `head` (a node behind, or restarted from an older
    state and not grown back yet) or at a block the node now has another of (the chain went
    back under them and grew again on other history), newest first down to the first one whose
    block the node still has: a block's hash commits to every block below it. Kept, they were
    the strategy's input and went into its receipts, where `verify-decision` finds them on no
    block (an honest decision "mismatched") and the forecast read a chain that is not there.
    Readings of a file older than their hashes (v5) are kept as they are. One block read a
    pass while nothing went back."""
    gone = []
    for block, known in keeper.store.sample_blocks():
        if known is None or (block <= head and block_hash(keeper.web3, block) == known):
            break
        gone.append(block)
    if gone:
        keeper.store.drop_samples_at(gone)
        log.warning(
            "dropped the return-index readings of %d blocks the node does not have (%d to %d)",
            len(gone), gone[-1], gone[0], extra={"job": "rebalancer"},
        )  # fmt: skip


def trial_strategy(keeper: Keeper) -> str | None:
    """Why the configured strategy's proposal on the vault as it is now would be refused (one
    line: outside the vault's bounds, bad output, a receipt that does not replay), or None. Run
    when a keeper starts, so that an operator's strategy that cannot be sent stops it at once
    instead of skipping every pass; a later pass still refuses any proposal it would not send."""
    alloc = read_allocation(keeper.multicall, keeper.protocol)
    _observe(keeper, alloc)  # an observation like any pass's
    if alloc.order_mismatch is not None:
        return None  # the pass says so; nothing the strategy can be judged on
    snapshot, _ = _snapshot(keeper, alloc)
    cfg = keeper.settings.rebalancer
    try:
        plan_rebalance(
            snapshot, _params(keeper), cfg.uri_base, cfg.strategy, cfg.strategy_time_limit_seconds
        )
    except ProposalRefused as err:
        return str(err)
    return None


def run_rebalancer(keeper: Keeper) -> JobReport:
    protocol = keeper.protocol
    cfg = keeper.settings.rebalancer
    alloc = read_allocation(keeper.multicall, protocol)
    report = JobReport("rebalancer", alloc.block, alloc.timestamp, keeper.dry_run)
    report.notes += [f"read failed: {k}: {v}" for k, v in alloc.failures.items()]
    _observe(keeper, alloc)  # history first: every pass is an observation, acted on or not

    if keeper.address is None:
        raise KeeperError("the rebalancer acts as an agent: give --account (an active agent)")
    if not keeper.dry_run:
        _recover_decisions(keeper, report)
    agents = keeper.agents()  # the vault's registry now, which its rebalance asks
    if not agents.isActive(keeper.address):
        why = " (suspended by the guardian)" if agents.isSuspended(keeper.address) else ""
        report.skipped.append(f"rebalance: {keeper.address} is not an active agent{why}")
        return report
    if alloc.order_mismatch is not None:
        report.skipped.append(f"rebalance: {alloc.order_mismatch}")
        return report
    if alloc.is_shutdown or alloc.automation_paused:
        report.skipped.append(
            "rebalance: vault shut down" if alloc.is_shutdown else "rebalance: automation paused"
        )
        return report
    if alloc.timestamp < alloc.next_rebalance_at:
        left = alloc.next_rebalance_at - alloc.timestamp
        report.skipped.append(f"rebalance: cooldown ({left}s left)")
        return report

    snapshot, oracles = _snapshot(keeper, alloc)
    try:
        call = plan_rebalance(
            snapshot, _params(keeper), cfg.uri_base, cfg.strategy, cfg.strategy_time_limit_seconds
        )
    except ProposalRefused as err:  # outside the vault's bounds: never sent
        report.skipped.append(f"rebalance: refused: {err}")
        return report
    if isinstance(call, RebalanceSkip):
        # Staying put is a plan too: a pending rebalance to other targets no longer holds.
        target = _skip_target(call)
        if target is not None and (superseded := _supersede_pending(keeper, report, target)):
            report.skipped.append(superseded)
        report.skipped.append(f"rebalance: {call.code}: {call.reason}")
        return report
    if (superseded := _supersede_pending(keeper, report, call.target_bps)) is not None:
        report.skipped.append(superseded)
        return report
    futile = _futile_repeat(keeper, call.target_bps, alloc.timestamp)
    if futile is not None:
        report.skipped.append(f"rebalance: unreachable: {futile}")
        return report

    # A sleeve the targets change may not have its band open (the vault's StaleValuation): poke
    # to record or confirm such a move; wait while one is still unconfirmed.
    # The pass's own oracle read says whether any sleeve feed is beyond the band; only then are
    # the feeds read again (at the same block) to poke.
    names = {s.name for s in alloc.sleeves}
    sleeve_oracles = [o for o in oracles.oracles if o.name in names]
    if plan_rebalance_pokes(sleeve_oracles, alloc.timestamp):
        poke_confirmations(keeper, report, plan_rebalance_pokes, alloc.block)
    moved = moved_sleeves(snapshot, call.target_bps)
    # The lending book's evidence waits on its collaterals' prices, which no poke restores
    # (LendingSleeve.returnIndexStatus): the vault would refuse the decision (StaleValuation).
    book = protocol.lending.address if protocol.lending is not None else None
    if stale := [s.name for s in alloc.sleeves
                 if s.name in moved and s.address == book and not s.index_fresh]:  # fmt: skip
        report.skipped.append(
            f"rebalance: waits on {stale[0]}: a token backing its debt has no fresh price"
        )
        return report
    if waits := rebalance_waits(sleeve_oracles, moved, alloc.timestamp):
        report.skipped.append("rebalance: waits on an unconfirmed move: " + "; ".join(waits))
        return report

    if (nothing := _moves_nothing(keeper, call.args)) is not None:
        report.skipped.append(f"rebalance: refused: {nothing}")
        return report

    digest = keeper.store.put_rationale(call.rationale)
    if cfg.rationale_dir is not None:
        cfg.rationale_dir.mkdir(parents=True, exist_ok=True)
        (cfg.rationale_dir / f"{digest}.json").write_bytes(call.rationale)
    report.notes.append(f"target {list(call.target_bps)}, rationale {digest}")
    action = keeper.act(
        report, protocol.vault, "rebalance", *call.args, action_id=f"rebalance:{digest}"
    )
    if action.outcome == "mined" and action.tx_hash is not None:
        for decision_id in _record_decisions(keeper, action.tx_hash):
            report.notes.append(f"decision {decision_id} opened")
    return report


# ------------------------------------------------------------------ stale flights


@dataclass
class Cancels:
    """What `cancel_stale_rebalances` did: one line each (`notes`), the flights whose cancel
    was broadcast (`sent`: cancel action id -> (the flight's hashes, the reason)), those mined
    before their cancel (`raced`: action id -> hashes), and the flight that holds the key up
    because no cancel of it could be priced (`blocked`)."""

    notes: list[str] = field(default_factory=list)
    sent: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    raced: dict[str, tuple[str, ...]] = field(default_factory=dict)
    blocked: Blocked | None = None


def _plan_of(keeper: Keeper, action_id: str) -> tuple[int, list[int]] | None:
    """(read block, targets) of the plan a `rebalance:<digest>` was sent for, from its rationale
    document in the store (None: not there or not readable)."""
    body = keeper.store.rationale(action_id.split(":", 1)[1])
    if body is None:
        return None
    try:
        doc = decode_rationale(body)
        return int(doc["inputs"]["block"]), [int(b) for b in doc["outcome"]["target_bps"]]
    except (ValueError, KeyError, TypeError):
        return None


def _sleeve_log_blocks(keeper: Keeper, since: int) -> list[int]:
    """The blocks of the vault's `SleeveAdded`/`SleeveRemoved` logs from `since` to the head."""
    head = int(keeper.web3.eth.block_number)
    if since > head:
        return []
    chunk = keeper.settings.liquidator.scan_chunk
    return sleeve_change_blocks(keeper.web3, keeper.protocol.vault, since, head, chunk)


def _sleeves_replaced(keeper: Keeper) -> str | None:
    """Why the vault's sleeves at the head are not the manifest's, or None (also when they
    cannot be read: the sleeve logs still decide). The rebalancer plans over the manifest's
    sleeves only (`AllocationRead.order_mismatch`), so a pending rebalance found over another
    set is stale whatever the logs say: after a node restarted from an older state (a reorg
    deeper than any look-back) the DAO's swap may be below the plan's read block on the chain
    that grew back, and no `SleeveAdded`/`SleeveRemoved` log is after it."""
    try:
        _, sleeves = read_vault_sleeves(keeper.multicall, keeper.protocol.vault)
    except MulticallError:
        return None
    ours = [str(s.address).lower() for s in keeper.protocol.sleeves.values()]
    if [s.lower() for s in sleeves] == ours:
        return None
    return "the vault's sleeves are no longer those it was planned over (the manifest's)"


def cancel_stale_rebalances(
    keeper: Keeper, pending: list[TxRecord], newer: tuple[int, ...] | None = None
) -> Cancels:
    """Cancels each of the key's own pending rebalance flights (`pending`: the key's records
    still pending, as `Keeper.reconcile` returns them) that no longer holds
    (`keepers.jobs.stale_rebalance`: a sleeve change after its plan's read block, or `newer`
    targets of this pass's plan; or the vault's sleeves no longer the manifest's, which it was
    planned over: `_sleeves_replaced`): a same-nonce 0-value transfer to the key itself
    (`keepers.nonces.cancel_flight`), not waited on here. The caller holds the key's lock and
    settles the cancels like any flight (`Keeper.reconcile`, `keepers.inflight.drain`)."""
    done = Cancels()
    ordered = sorted(pending, key=lambda r: (r.nonce, r.sent_at))
    kinds = {r.action_id.split(":", 1)[0] for r in ordered}
    replaced = _sleeves_replaced(keeper) if REBALANCE_KIND in kinds else None
    for _, group in groupby(ordered, key=lambda r: r.nonce):
        flight = list(group)
        newest = flight[-1]
        if newest.action_id.split(":", 1)[0] != REBALANCE_KIND:
            continue
        plan = _plan_of(keeper, newest.action_id)
        if plan is None:
            log.warning("%s: its plan is not in the store; it cannot be checked for a sleeve "
                        "change", newest.action_id)  # fmt: skip
            continue
        block, targets = plan
        logs = _sleeve_log_blocks(keeper, block + 1)
        reason = stale_rebalance(block, logs, targets, newer) or replaced
        if reason is None:
            continue
        hashes = tuple(r.tx_hash for r in flight)
        cancel_id = f"{CANCEL_KIND}:{newest.action_id.split(':', 1)[1]}"
        result = cancel_flight(keeper.sender(newest.job), Stuck(newest.nonce, hashes), cancel_id)
        what = f"{newest.action_id} (nonce {newest.nonce}, {hashes[-1]})"
        if isinstance(result, str):
            line = f"cancelled {what}: {reason}; cancel {result}, planned afresh once it settles"
            done.sent[cancel_id] = (hashes, reason)
        elif isinstance(result, Refused):
            line = (f"cannot cancel {what}: {reason}; {result.reason}: nothing is sent behind it "
                    "and it is not re-priced")  # fmt: skip
            done.blocked = Blocked(newest.action_id, Stuck(newest.nonce, hashes))
        else:  # said once the reconcile has its receipt (`settle_cancels`)
            done.raced[newest.action_id] = hashes
            continue
        log.warning(line, extra={"job": newest.job, "action_id": cancel_id})
        done.notes.append(line)
        if done.blocked is not None:
            break  # every later nonce waits behind it
    return done


def settle_cancels(keeper: Keeper, cancels: Cancels) -> None:
    """After the reconcile that followed `cancels`: each cancelled attempt the node no longer
    has (recorded `replaced`) says which cancel replaced it and why; a flight mined before its
    cancel is reported as the chain has it (one line: landed, or reverted and why)."""
    store = keeper.store
    for cancel_id, (hashes, reason) in cancels.sent.items():
        for h in hashes:
            record = store.transaction(h)
            if record is not None and record.status == "replaced":
                store.record_outcome(h, "replaced", error=f"cancelled by {cancel_id}: {reason}")
    for action_id, hashes in cancels.raced.items():
        records = [r for h in hashes if (r := store.transaction(h)) is not None]
        final = next((r for r in records if r.status in ("mined", "reverted", "lost-race")), None)
        if final is None:  # a receipt not served yet: the next reconcile settles it
            line = f"{action_id} ({hashes[-1]}) was mined before its cancel (no receipt yet)"
        else:
            verdict = (
                "landed on the vault's sleeves as they are now"
                if final.status == "mined"
                else f"{final.status}: {final.error}"
            )
            line = (
                f"{action_id} ({final.tx_hash}) was mined before its cancel, in block "
                f"{final.block}: {verdict}"
            )
        log.warning(line, extra={"action_id": action_id})
        cancels.notes.append(line)


def _supersede_pending(keeper: Keeper, report: JobReport, target: tuple[int, ...]) -> str | None:
    """While the key is held up by its own earlier rebalance (`Keeper.blocked`), this pass's plan
    with other targets supersedes it: it is cancelled (`cancel_stale_rebalances`) instead of
    being left to land first, and the pass sends nothing (it plans afresh once the cancel has
    settled). The skip line, or None (nothing of the key's rebalances pending)."""
    blocked = keeper.blocked
    if keeper.dry_run or blocked is None:
        return None
    if blocked.action_id.split(":", 1)[0] != REBALANCE_KIND:
        return None
    flight = [r for r in keeper.store.in_flight(keeper.address)
              if r.nonce == blocked.stuck.nonce]  # fmt: skip
    with key_lock(str(keeper.address)):
        cancels = cancel_stale_rebalances(keeper, flight, newer=target)
        if cancels.sent or cancels.raced:
            keeper.reconcile()
            settle_cancels(keeper, cancels)
    report.notes += cancels.notes
    if cancels.sent:
        (cancel_id,) = cancels.sent
        hashes = tuple(r.tx_hash for r in keeper.store.transactions(cancel_id))
        keeper.blocked = Blocked(cancel_id, Stuck(blocked.stuck.nonce, hashes))
        return (
            f"rebalance: {blocked.action_id} superseded and cancelled; planned afresh once the "
            "cancel settles"
        )
    if cancels.blocked is not None:
        return (
            f"rebalance: {blocked.action_id} is superseded but cannot be cancelled under the "
            "fee cap"
        )
    return None


def _skip_target(skip: RebalanceSkip) -> tuple[int, ...] | None:
    """The targets a skipped plan chose (its document's outcome: the current weights, or a move
    too small or too dear to send), or None when the skip has no readable document."""
    if skip.rationale is None:
        return None
    try:
        return tuple(int(b) for b in decode_rationale(skip.rationale)["outcome"]["target_bps"])
    except (ValueError, KeyError, TypeError):
        return None


def _moves_nothing(keeper: Keeper, args: tuple[Any, ...]) -> str | None:
    """Why the vault would refuse `rebalance(*args)` as moving no weight (`NothingMoved`: the
    targets cannot be reached now, a sleeve cannot take or pay), checked before anything is
    stored or sent: such a pass sends nothing and records nothing, every pass until the market
    changes. None: send (any other refusal is the send's own to report)."""
    if keeper.account is None:
        return None  # a dry run without a key: the action's own simulation reports it
    vault = keeper.protocol.vault
    probe = keeper.sender("rebalancer")
    probe.decoder.add(vault.contract_type)
    data = bytes(HexBytes(vault.rebalance.encode_input(*args)))
    refusal = probe.simulate(str(vault.address), data)
    if refusal is None or refusal[0] != "NothingMoved":
        return None
    return (
        f"NothingMoved: targets {list(args[0])} would move no weight now (a sleeve cannot take "
        "or pay); nothing sent"
    )


def _futile_repeat(keeper: Keeper, target: tuple[int, ...], now: int) -> str | None:
    """Why sending `target` again would be futile (`jobs.rebalancer.futile_repeat` on this
    keeper's last decision and what it moved on chain). None: send — also when the chain no
    longer holds that decision as this keeper's (a node restarted from an older state, a reorg
    that dropped the rebalance: `decision(id)` reverted `UnknownDecision` and failed every
    later pass, or another agent's decision took its id)."""
    last = keeper.store.latest_decision()
    body = keeper.store.rationale(last.rationale_hash) if last is not None else None
    if last is None or body is None:
        return None
    try:
        previous = [int(b) for b in decode_rationale(body)["outcome"]["target_bps"]]
    except (ValueError, KeyError, TypeError):
        return None
    vault = keeper.protocol.vault
    if int(last.decision_id) >= int(vault.decisionCount()):
        return None
    decision = vault.decision(int(last.decision_id))
    if str(decision.agent).lower() != str(keeper.address).lower():
        return None
    moved = sum(abs(int(n) - int(o)) for n, o in zip(decision.newBps, decision.oldBps, strict=True))
    if not futile_repeat(previous, target, int(decision.timestamp), now, moved):
        return None
    return (
        f"decision {last.decision_id} aimed at these targets and moved {moved} bps (a sleeve "
        f"cannot pay out now); retrying after {RETRY_AFTER // 86_400} days"
    )


def _rebalanced(keeper: Keeper, receipt: Any) -> list[tuple[int, bytes, str]]:
    """(decision id, rationale hash, URI) of each `Rebalanced` the vault emitted in `receipt`."""
    vault = to_checksum_address(str(keeper.protocol.vault.address))
    found = []
    for entry in receipt["logs"]:
        topics = entry["topics"]
        if not topics or "0x" + bytes(topics[0]).hex() != REBALANCED_TOPIC:
            continue
        if to_checksum_address(entry["address"]) != vault:
            continue
        decision_id, _agent, digest, uri = decode_rebalanced(entry)
        found.append((decision_id, digest, uri))
    return found


def _record_decisions(keeper: Keeper, tx_hash: str, missing_only: bool = False) -> list[int]:
    """Records the decisions a mined rebalance opened, as the vault's `Rebalanced` events state
    them (id, rationale hash, URI); returns the ids recorded."""
    try:
        receipt = keeper.web3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:  # the node does not have it (behind it, or the chain went
        return []  # back under it: a pass failed on it until the chain grew back): none yet
    ids = []
    for decision_id, digest, uri in _rebalanced(keeper, receipt):
        if missing_only and keeper.store.decision(decision_id) is not None:
            continue
        keeper.store.record_decision(decision_id, digest, uri, tx_hash)
        ids.append(decision_id)
    return ids


def _recover_decisions(keeper: Keeper, report: JobReport) -> None:
    """A keeper killed after its rebalance was broadcast never recorded the decision it opened
    (a restart's `reconcile` settles the transaction, and the next pass is in the cooldown):
    the newest mined rebalances are checked and their missing decisions recorded. One
    transaction is in flight per key, so only the last few can be missing."""
    recent = [
        t
        for t in keeper.store.transactions(limit=200)
        if t.job == "rebalancer" and t.status == "mined" and t.action_id.startswith("rebalance:")
    ]
    for tx in recent[:RECOVER_LAST]:
        for decision_id in _record_decisions(keeper, tx.tx_hash, missing_only=True):
            report.notes.append(f"decision {decision_id} recorded after a restart")


__all__ = ["Cancels", "cancel_stale_rebalances", "run_rebalancer", "settle_cancels"]
