"""Rebalancer pass: the keeper as a registered agent. Reads the allocation, the lending book and
the oracles at one block, appends each sleeve's `returnIndex()` to the stored history, runs the
strategy (`keepers.jobs.plan_rebalance`), stores the rationale document under its keccak hash
(and, when configured, as `<rationale_dir>/<hash>.json`), then sends
`rebalance(targetBps, rationaleHash, rationaleURI)` and records the decision it opened."""

from __future__ import annotations

from keepers.jobs import (
    LendingSnapshot,
    RebalancerSnapshot,
    RebalanceSkip,
    SleeveSnapshot,
    plan_rebalance,
)
from keepers.math import adjusted_collateral, health_factor
from keepers.reads import read_allocation, read_book, read_oracles
from keepers.shell.keeper import JobReport, Keeper, KeeperError
from keepers.shell.liquidator import discover_borrowers
from keepers.shell.sentinel import priced_tokens
from keepers.strategy import GateParams, StrategyParams
from keepers.verify import REBALANCED_TOPIC


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


def _params(keeper: Keeper) -> StrategyParams:
    cfg = keeper.settings.rebalancer
    return StrategyParams(
        horizon_seconds=cfg.horizon_seconds,
        gate=GateParams(gain_margin=cfg.gain_margin, min_turnover_bps=cfg.min_turnover_bps),
    )


def run_rebalancer(keeper: Keeper) -> JobReport:
    protocol = keeper.protocol
    cfg = keeper.settings.rebalancer
    alloc = read_allocation(keeper.multicall, protocol)
    report = JobReport("rebalancer", alloc.block, alloc.timestamp, keeper.dry_run)
    report.notes += [f"read failed: {k}: {v}" for k, v in alloc.failures.items()]
    for s in alloc.sleeves:  # history first: every pass is an observation, acted on or not
        if s.return_index is not None:
            keeper.store.add_index_sample(s.name, alloc.timestamp, int(s.return_index), alloc.block)

    if keeper.address is None:
        raise KeeperError("the rebalancer acts as an agent: give --account (an active agent)")
    if not protocol.agents.isActive(keeper.address):
        report.skipped.append(f"rebalance: {keeper.address} is not an active agent")
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

    oracles = read_oracles(keeper.multicall, protocol, priced_tokens(keeper), alloc.block)
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
        nav=alloc.nav,
        asset_decimals=decimals,
        sleeves=tuple(sleeves),
        idle_buffer_bps=alloc.idle_buffer_bps,
        max_turnover_bps=alloc.max_turnover_bps,
        gas=keeper.gas_market(),
    )
    call = plan_rebalance(snapshot, _params(keeper), cfg.uri_base)
    if isinstance(call, RebalanceSkip):
        report.skipped.append(f"rebalance: {call.code}: {call.reason}")
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
        receipt = keeper.web3.eth.get_transaction_receipt(action.tx_hash)
        for entry in receipt["logs"]:
            topics = entry["topics"]
            if topics and "0x" + bytes(topics[0]).hex() == REBALANCED_TOPIC:
                decision_id = int.from_bytes(bytes(topics[1]), "big")
                uri = call.rationale_uri
                keeper.store.record_decision(decision_id, digest, uri, action.tx_hash)
                report.notes.append(f"decision {decision_id} opened")
    return report


__all__ = ["run_rebalancer"]
