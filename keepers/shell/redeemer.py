"""Redeemer pass: `redeemQueueTrigger()` (the vault's own check of what liquidity can pay),
planned with `keepers.jobs.plan_redeem` (batch size, base-fee ceiling, a wait limit that forces
old requests through), then `processRedeemQueue(n)`."""

from __future__ import annotations

from eth_utils import keccak

from keepers.jobs import RedeemSkip, decode_redeem_trigger, plan_redeem
from keepers.shell.keeper import JobReport, Keeper
from keepers.snapshot import VaultSnapshot

REQUESTED_TOPIC = "0x" + keccak(text="RedeemRequested(uint256,address,address,uint256)").hex()


HEAD_SCAN = 50  # queue entries looked at past cancelled ones for the oldest live request


def _oldest_wait(keeper: Keeper, now: int) -> int | None:
    """Seconds the oldest live request (the first from the head with shares left; cancelled and
    paid ones hold none) has waited, from its `RedeemRequested` block. Logs are scanned
    backwards from the head in `liquidator.scan_chunk` windows (node providers cap ranges)."""
    vault = keeper.protocol.vault
    head, tail = vault.redeemQueueBounds()
    oldest = next(
        (i for i in range(head, min(tail, head + HEAD_SCAN)) if vault.redeemRequest(i).shares),
        None,
    )
    if oldest is None:
        return None
    topics = [REQUESTED_TOPIC, "0x" + int(oldest).to_bytes(32, "big").hex()]
    chunk = keeper.settings.liquidator.scan_chunk
    stop = keeper.web3.eth.block_number
    while stop >= keeper.protocol.block:
        start = max(keeper.protocol.block, stop - chunk + 1)
        logs = keeper.web3.eth.get_logs(
            {"address": vault.address, "topics": topics, "fromBlock": start, "toBlock": stop}
        )
        if logs:
            block = int(logs[-1]["blockNumber"])
            return now - int(keeper.web3.eth.get_block(block)["timestamp"])
        stop = start - 1
    return None


def run_redeemer(keeper: Keeper) -> JobReport:
    vault = keeper.protocol.vault
    snap = VaultSnapshot.read(keeper.multicall, vault)
    report = JobReport("redeemer", snap.block, snap.timestamp, keeper.dry_run)
    report.notes += [f"read failed: {k}: {v}" for k, v in snap.failures.items()]
    try:
        trigger = decode_redeem_trigger(snap.redeem_should_act, snap.redeem_data)
    except ValueError as err:
        report.skipped.append(f"processRedeemQueue: {err}")
        return report
    wait = _oldest_wait(keeper, snap.timestamp) if trigger.ok else None
    base_fee = keeper.gas_market().base_fee_wei
    call = plan_redeem(trigger, base_fee, keeper.settings.redeemer.planner(), wait)
    if isinstance(call, RedeemSkip):
        report.skipped.append(f"processRedeemQueue: {call.reason}")
        return report
    if call.forced:
        report.notes.append(f"head request waited {wait}s: processed regardless of batch/fees")
    keeper.act(
        report,
        vault,
        "processRedeemQueue",
        call.max_requests,
        action_id=f"processRedeemQueue:{snap.block}",
    )
    return report
