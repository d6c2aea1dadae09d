"""Liquidator pass: find borrowers (`Borrowed` and `CollateralDeposited` events since the last
scan), keep this key's shard of them (`KeeperSettings.shard`: all unless keys split the book),
read every position and keep the unhealthy ones (`read_book(unhealthy_only=True)`), plan with
`keepers.jobs.plan_liquidations` (profit after gas, the keeper's inventory), send each
`liquidate` — a liquidation another keeper made first comes back as a lost race (the position is
healthy again, the debt gone, or the borrower liquidated by another address since the read
block) and the pass carries on. Profitable liquidations the key's stablecoin inventory cannot
repay are a `Shortfall` of the report (the CLI warns once and exits `UNFUNDED_EXIT`).

With a `LiquidationExecutor` (the `liquidator.executor` setting, else the manifest's) the
liquidations go out in batches, one `liquidateBatch` transaction each (`send_batches`). Each is
weighed at the gas a batch item costs by the node's estimate (`item_gas`: one batch of every
liquidation worth anything before gas, the executor approved first, then of those still worth
it, up to `ITEM_GAS_ROUNDS` estimates: fewer items share the transaction's own gas;
`batch_item_gas` only when the node cannot estimate it), not at a transaction's. The batches
are packed to the latest block's gas limit (`keepers.jobs.liquidator` batch functions): a batch
is first simulated (`eth_call`: its per-item results), items that would fail are reported at
once (a lost race when the book's error is a lost-race error or another address liquidated the
borrower since the read block) and left out, the rest estimated and re-sized to fit the block,
then sent through the key's `TxSender` — the same write-ahead record, replacement, receipt and
restart reconciliation as any transaction. Each item is reported from the mined receipt's own events
(`ItemLiquidated` / `ItemFailed` of this key's call): an item that lost a race on chain is
`lost-race` and does not revert the batch.

A fall beyond `oracle.maxDeviationBps` counts for a liquidation at once up to the band's edge,
the rest only once the router confirmed it: the pass first pokes the router as
`keepers.jobs.plan_liquidation_pokes` says (record the fall past the edge of a token an
unhealthy position holds; confirm it once `oracle.confirmDelay` has passed) and, when a poke
was mined, reads the book again, so a confirmed fall is liquidated in the same pass and never
waits on the sentinel."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from eth_utils import keccak, to_checksum_address

from keepers.funding import Shortfall
from keepers.jobs import (
    Borrower,
    LiquidationSkip,
    OracleState,
    PokePlan,
    plan_liquidation_pokes,
    plan_liquidations,
)
from keepers.reads import priced_tokens, read_book
from keepers.reads.scans import log_chunks, scan_cursor
from keepers.shell.confirmations import poke_confirmations
from keepers.shell.liquidation_batches import find_executor, item_gas, send_batches
from keepers.shell.reports import JobReport
from keepers.tx_rules import Contested

if TYPE_CHECKING:
    from keepers.shell.keeper import Keeper

BORROWED_TOPIC = "0x" + keccak(text="Borrowed(address,uint256,uint256)").hex()
COLLATERAL_TOPIC = "0x" + keccak(text="CollateralDeposited(address,address,uint256)").hex()
LIQUIDATED_TOPIC = "0x" + keccak(text="Liquidated(address,address,address,uint256,uint256)").hex()
ITEM_GAS_ROUNDS = 3  # batch estimates weighing one pass's liquidations (`item_gas`)
# the scan of both topics; "borrower-scan" read `Borrowed` only: a file that has it reads the
# book's history again once, from the deployment block, for the positions it never saw
SCAN_CURSOR = "position-scan"


def discover_borrowers(keeper: Keeper, head: int) -> list[str]:
    """Scans `Borrowed` and `CollateralDeposited` logs into the store (a position with
    collateral and no debt yet is one: the status shows it), from `liquidator.reorg_depth`
    blocks below the last scanned block to `head` (chunked: `keepers.reads.scans`); returns
    every borrower known. The look-back re-reads blocks a reorg or a lagging node may have
    changed: adding a borrower again changes nothing."""
    store = keeper.store
    cfg = keeper.settings.liquidator

    def apply(_first: int, _last: int, logs: Sequence[Any]) -> None:
        by_block: dict[int, set[str]] = {}
        for log in logs:  # recorded at the block each was seen (first seen kept by the store)
            borrower = to_checksum_address("0x" + bytes(log["topics"][1])[-20:].hex())
            by_block.setdefault(int(log["blockNumber"]), set()).add(borrower)
        for block in sorted(by_block):
            store.add_borrowers(sorted(by_block[block]), block)

    scan_cursor(
        keeper.web3, store, SCAN_CURSOR,
        {"address": keeper.protocol.lending.address,
         "topics": [[BORROWED_TOPIC, COLLATERAL_TOPIC]]},
        origin=keeper.protocol.block, head=head, chunk=cfg.scan_chunk, depth=cfg.reorg_depth,
        apply=apply,
    )  # fmt: skip
    return store.borrowers()


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_BLOCK = re.compile(r"[0-9]+")


def liquidation_race_check(keeper: Keeper, action_id: str) -> Contested | None:
    """The race check of a liquidation sent by an earlier pass or process (`Keeper.reconcile`):
    its action id, `liquidate:<borrower>:<read block>`, names what `liquidated_by_others` was
    given then, so a revert found after a restart is a lost race by the same chain fact (a
    rival that took all of a collateral leaves ours `NoCollateral`, no lost-race error). A
    batch's items were settled with their batch; other ids have none."""
    kind, _, rest = action_id.partition(":")
    borrower, _, block = rest.partition(":")
    # as the liquidator writes it: 0x and 40 hex digits (the log topic is built from them), a
    # block in ASCII digits (str.isdigit alone passes "²", which int() refuses)
    if kind != "liquidate" or not _ADDRESS.fullmatch(borrower) or not _BLOCK.fullmatch(block):
        return None
    return liquidated_by_others(keeper, borrower, int(block))


def liquidated_by_others(
    keeper: Keeper, borrower: str, read_block: int, executors: tuple[str, ...] = ()
) -> Contested:
    """The liquidator's race check (`TxSender.send_raw`'s `contested`): `Liquidated` logs of
    `borrower` by an address other than this keeper's, after `read_block` (the state its plan
    was made on) up to the block asked about. One found: another keeper cleared (part of) the
    position first, so a liquidation of ours that reverted or was refused lost the race.
    A liquidation through one of `executors` (batch contracts anyone may call) is told by the
    sender of its transaction. Read in `liquidator.scan_chunk` ranges, oldest first, up to the
    first found: a flight mined long after its read (settled at a restart) spans many."""
    executors = tuple(e.lower() for e in executors)
    topic = "0x" + bytes(12).hex() + borrower[2:].lower()
    ours = (keeper.address or "").lower()

    def check(block: int) -> str | None:
        if block <= read_block:
            return None
        params = {"address": keeper.protocol.lending.address, "topics": [LIQUIDATED_TOPIC, topic]}
        chunk = keeper.settings.liquidator.scan_chunk  # a flight may have waited that long
        logs = (
            log
            for _, _, found in log_chunks(keeper.web3, params, read_block + 1, block, chunk)
            for log in found
        )
        for log in logs:
            liquidator = "0x" + bytes(log["topics"][2])[-20:].hex()
            if liquidator == ours:
                continue
            if liquidator in executors:  # a batch: whose is told by its transaction's sender
                tx = keeper.web3.eth.get_transaction(log["transactionHash"])
                if str(tx["from"]).lower() == ours:
                    continue
                liquidator = str(tx["from"]).lower()
            return (
                f"{borrower} liquidated by {to_checksum_address(liquidator)} "
                f"in block {int(log['blockNumber'])}"
            )
        return None

    return check


def _pokes(
    borrowers: Sequence[Borrower], tokens: dict[str, str], oracles: Sequence[OracleState], now: int
) -> tuple[PokePlan, ...]:
    """`plan_liquidation_pokes` as a `poke_confirmations` planner."""
    return plan_liquidation_pokes(borrowers, oracles, tokens, now)


def _skip_line(skip: LiquidationSkip, names: dict[str, str]) -> str:
    """A skipped borrower's line; the falls it waits on named as the manifest names them."""
    if not skip.falling:
        return f"liquidate {skip.borrower}: {skip.reason}"
    falls = ", ".join(names.get(t.lower(), t) for t in skip.falling)
    return f"liquidate {skip.borrower}: waits on {falls}: {skip.reason}"


def run_liquidator(keeper: Keeper) -> JobReport:
    protocol = keeper.protocol
    if protocol.lending is None:
        return JobReport("liquidator", 0, 0, keeper.dry_run, notes=["no lending book"])
    head = keeper.web3.eth.block_number
    shard = keeper.settings.shard  # several keys splitting the book: this key's borrowers only
    borrowers = [b for b in discover_borrowers(keeper, head) if shard.owns(b)]
    read = read_book(
        keeper.multicall, protocol, borrowers, keeper.asset, block=head, unhealthy_only=True
    )
    report = JobReport("liquidator", read.block, read.timestamp, keeper.dry_run)
    if read.borrowers:
        tokens = priced_tokens(protocol)
        pokes = partial(_pokes, read.borrowers, tokens)
        if poke_confirmations(keeper, report, pokes, read.block, collateral=True):
            # a confirmed fall may liquidate now: read again (this key's pokes are mined)
            head = keeper.web3.eth.block_number
            read = read_book(
                keeper.multicall, protocol, borrowers, keeper.asset, block=head,
                unhealthy_only=True,
            )  # fmt: skip
    report.notes += [f"read failed: {k}: {v}" for k, v in read.failures.items()]
    inventory = None
    if keeper.address is not None:
        asset = keeper.erc20(keeper.asset)
        inventory = int(asset.balanceOf(keeper.address))
    executor = find_executor(keeper) if read.borrowers and not keeper.dry_run else None
    planner = keeper.settings.liquidator.planner()
    gas = keeper.gas_market()
    if executor is not None:  # a batch item costs its share of the batch, not a transaction
        item = keeper.settings.liquidator.batch_item_gas
        free = replace(planner, gas_per_liquidation=0, gas_per_extra_collateral=0)
        probe = plan_liquidations(read.borrowers, read.rules, gas, free, inventory).plans
        if probe and keeper.address is not None:
            sent = len(report.actions)
            need = sum(p.liquidation.repay for p in probe)
            keeper.ensure_allowance(report, keeper.asset, str(executor.address), need)
            approval = report.actions[sent:]
            # not approved: nothing to estimate (the pass still reports its plan and shortfall,
            # then stops at the approval below)
            rounds = ITEM_GAS_ROUNDS if not approval or approval[0].outcome == "mined" else 0
            for _ in range(rounds):  # fewer items share the batch's own gas: again
                estimate = item_gas(keeper, executor, probe, inventory)
                if estimate is None:
                    break
                item = estimate
                weighed = replace(planner, gas_per_liquidation=item, gas_per_extra_collateral=0)
                kept = plan_liquidations(read.borrowers, read.rules, gas, weighed, inventory).plans
                if not kept or len(kept) >= len(probe):
                    break
                probe = kept
        planner = replace(planner, gas_per_liquidation=item, gas_per_extra_collateral=0)
    plan = plan_liquidations(read.borrowers, read.rules, gas, planner, inventory)
    report.notes.append(
        f"{len(read.borrowers) + len(read.healthy)} borrowers, "
        f"{len(plan.healthy) + len(read.healthy)} healthy, "
        f"{len(plan.plans)} to liquidate, {len(plan.skipped)} skipped"
    )
    names = {}  # the falls a skipped loan waits on, named as the manifest names their tokens
    if any(s.falling for s in plan.skipped):
        names = {token.lower(): name for name, token in priced_tokens(protocol).items()}
    report.skipped += [_skip_line(s, names) for s in plan.skipped]
    if plan.inventory_short > 0 and inventory is not None:
        symbol, decimals = keeper.asset_meta()
        unfunded = sum(1 for s in plan.skipped if s.reason.startswith("insufficient inventory"))
        report.shortfalls.append(
            Shortfall(
                "liquidator",
                symbol,
                plan.inventory_short,
                inventory,
                decimals,
                f"to repay {unfunded} liquidation(s) (inventory)",
            )
        )
    if plan.plans and keeper.address is not None and not keeper.dry_run:
        need = sum(p.liquidation.repay for p in plan.plans)
        spender = str((executor or protocol.lending).address)
        sent = len(report.actions)
        keeper.ensure_allowance(report, keeper.asset, spender, need)
        approval = report.actions[sent:]
        if executor is not None and approval and approval[0].outcome != "mined":
            return report  # the executor could pull nothing: no batch would liquidate
    if executor is not None:
        executors = (str(executor.address),)

        def contested(borrower: str) -> Contested:
            return liquidated_by_others(keeper, borrower, read.block, executors)

        send_batches(keeper, report, executor, list(plan.plans), read.block, inventory, contested)
        return report
    for p in plan.plans:
        keeper.act(
            report,
            protocol.lending,
            "liquidate",
            p.borrower,
            p.token,
            p.repay_amount,
            action_id=f"liquidate:{p.borrower.lower()}:{read.block}",
            contested=liquidated_by_others(keeper, p.borrower, read.block),
        )
    return report
