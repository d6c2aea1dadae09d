"""Settler pass (formerly the redeemer): strike the NAV when the vault's `strikeTrigger()` says a
strike would settle something, then claim, through the vault's `ClaimRelay`, for the controllers
that made the relay their ERC-7540 operator.

1. One batched read (`VaultSnapshot`): `strikeTrigger()`, `strikeCount()`, `liquidity()`,
   `pendingDeposits()` and `requestWindows()`. A true trigger's call data (exactly `strike()`)
   is sent as is (unless the strike could change nothing worth its gas: no deposit of a closed
   window pending — one in the open window settles at no strike yet — and no liquidity, or
   less than the strike's gas, `plan_strike`); the vault re-checks, so
   a settler that lost the race to another (or to anyone calling `strike()`) gets
   `NothingToStrike` / `StrikeNotReady` back from the simulation: a lost race, not a failure.
2. Controllers: those an `OperatorSet(controller, operator = the relay, approved)` log names (the
   scan resumes `liquidator.reorg_depth` blocks below the store's `relay-operator-scan` cursor;
   the last log of each controller wins, kept with its block in the job's state), plus
   `settler.controllers` from the settings. After a mined strike, one batched read
   (`ClaimsSnapshot`) gives each one's `isOperator(controller, relay)`,
   `maxDeposit` and `maxRedeem` (after a strike lost to another address too: what the winner's
   strike settled is claimed in the same pass); `plan_claims` picks the claims, each sent as
   `relay.claim(controller)`: the controller receives all it may claim. A claim the controller
   (or another settler) made first comes back `NothingToClaim`: a lost race. A manifest without
   a relay (deployed before it) gets no claims, and the report says so.

While requests wait on a price move nobody has confirmed (the trigger false, a sleeve's price
beyond `oracle.maxDeviationBps` of the router's reference), the pass first pokes the router as
`plan_confirmations` says (record the move; confirm it once `oracle.confirmDelay` has passed) and,
when a poke was mined, reads the trigger again: a confirmed move is struck in the same pass.
While requests wait, the skipped line says on what, from the vault's own `StrikeNotReady` (an
`eth_call` of `strike()` at the pass's block, `strike_wait`): the window still open, or the
sleeve valued at a price older than the cut-off or not fresh, and when redemptions settle without
it.

While only queued redemptions wait (no deposit of a closed window), the strike is first run as
an `eth_call` at the pass's block, followed in the same Multicall3 call by the vault's pending
redemptions and deposits (`strike()` is anyone's to call, Multicall3 included): when it would
fill none and settle nothing (an issuer paying nothing while its `maxRedeem` says it can keeps
the trigger true), nothing is sent (`futile_strike`), and the next pass looks again, so the
queue is struck as soon as a strike would fill some of it. A deposit a strike would settle never
waits.

While the node is behind this key's own transactions (`Keeper.behind`: a load-balanced endpoint
whose read backend lags), the pass sends no claims: on those reads a mined claim is still
claimable, and its refused copy (a stale nonce) was backed off as the controller's refusal.

Action ids carry the block the pass read (`strike:<count>@<block>`, `claim:<c>@<block>`), so a
restart never repeats an action of the same read, and a race lost to a new request (the strike
not ready after all) does not mark later strikes done.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from keepers.jobs import (
    RefusedClaim,
    SettleSkip,
    StrikeTrigger,
    decode_strike_trigger,
    futile_strike,
    merge_operator_logs,
    next_refusal,
    plan_claims,
    plan_confirmations,
    plan_strike,
    requests_wait,
    strike_wait,
    waiting_reason,
)
from keepers.jobs.settler import STRIKE_NOT_READY, STRIKE_SELECTOR
from keepers.math import gas_cost_assets
from keepers.multicall import Call, MulticallError
from keepers.outcomes import error_data
from keepers.reads.scans import scan_cursor
from keepers.shell.confirmations import poke_confirmations, vault_unlisted_feeds
from keepers.shell.reports import JobReport
from keepers.snapshot import ClaimsSnapshot, VaultSnapshot

if TYPE_CHECKING:
    from keepers.shell.keeper import Keeper

OPERATOR_SET_TOPIC = "0x" + keccak(text="OperatorSet(address,address,bool)").hex()
SCAN_CURSOR = "relay-operator-scan"
JOB = "settler"


def _topic(address: str) -> str:
    return "0x" + bytes.fromhex(address[2:].lower()).rjust(32, b"\0").hex()


def _known_operators(state: dict[str, Any]) -> dict[str, tuple[bool, int]]:
    """The job state's controllers: [approved, block of the last log] each (a state written
    before the look-back kept a bool: its block unknown, -1, below any re-scan)."""
    known: dict[str, tuple[bool, int]] = {}
    for controller, value in state.get("relay_operators", {}).items():
        approved, block = (value, -1) if isinstance(value, bool) else value
        known[controller] = (bool(approved), int(block))
    return known


def discover_controllers(keeper: Keeper, relay: str, head: int) -> list[str]:
    """Controllers whose last `OperatorSet` log for `relay` approved it, scanned to `head` from
    `liquidator.reorg_depth` blocks below the store's cursor, in `liquidator.scan_chunk`-block
    ranges (`keepers.reads.scans`); the job's state keeps each controller's last log (approval
    and block) between passes, merged by `merge_operator_logs` (the last log wins)."""
    store = keeper.store
    cfg = keeper.settings.liquidator

    def apply(first: int, last: int, logs: Sequence[Any]) -> None:
        state = json.loads(store.job_state(JOB) or "{}")
        read = [
            (
                to_checksum_address("0x" + bytes(log["topics"][1])[-20:].hex()),
                int.from_bytes(bytes(log["data"])[-32:], "big") != 0,
                int(log["blockNumber"]),
            )
            for log in logs
        ]
        known = merge_operator_logs(_known_operators(state), first, last, read)
        kept = {c: [ok, block] for c, (ok, block) in known.items()}
        store.set_job_state(JOB, json.dumps({**state, "relay_operators": kept}, sort_keys=True))

    scan_cursor(
        keeper.web3, store, SCAN_CURSOR,
        {"address": str(keeper.protocol.vault.address),
         "topics": [OPERATOR_SET_TOPIC, None, _topic(relay)]},
        origin=keeper.protocol.block, head=head, chunk=cfg.scan_chunk, depth=cfg.reorg_depth,
        apply=apply,
    )  # fmt: skip
    state = json.loads(store.job_state(JOB) or "{}")
    return [c for c, (ok, _) in _known_operators(state).items() if ok]


def _controllers(keeper: Keeper, relay: str, head: int) -> list[str]:
    found = dict.fromkeys(discover_controllers(keeper, relay, head))
    found.update(dict.fromkeys(to_checksum_address(c) for c in keeper.settings.settler.controllers))
    return list(found)


def _trigger(report: JobReport, snap: VaultSnapshot) -> StrikeTrigger | None:
    report.notes += [f"read failed: {k}: {v}" for k, v in snap.failures.items()]
    try:
        return decode_strike_trigger(snap.strike_should_act, snap.strike_data)
    except ValueError as err:
        report.skipped.append(f"strike: {err}")
        return None


def _strike_gas_cost(keeper: Keeper, gas: int) -> int | None:
    """A strike's `gas` at the gas market now, in asset units (None: not read)."""
    try:
        return gas_cost_assets(keeper.gas_market(), gas, keeper.asset_meta()[1])
    except Exception:  # noqa: BLE001 - a failed read never stops a strike
        return None


def read_strike_wait(keeper: Keeper, block: int) -> str | None:
    """What a strike at `block` waits on, in words (`strike_wait`), from the `StrikeNotReady` the
    vault reverts with (an `eth_call` of `strike()`, nothing sent); None when it reverts
    otherwise, passes, or the node does not answer. The settler's skipped line and the status
    dashboard both read it (`waiting_reason`)."""
    vault = keeper.protocol.vault
    call = {"to": str(vault.address), "data": "0x" + STRIKE_SELECTOR.hex()}
    try:
        response = keeper.web3.provider.make_request("eth_call", [call, hex(block)])
        error = response.get("error")
        data = error_data(error) if isinstance(error, dict) else b""
        if data[:4] != STRIKE_NOT_READY:
            return None
        blocker, at, cutoff, ready = abi_decode(
            ["address", "uint256", "uint256", "uint256"], data[4:]
        )
    except Exception:  # noqa: BLE001 - a read that fails only leaves the trigger's reason
        return None
    names = {to_checksum_address(str(e.address)): n for n, e in keeper.protocol.sleeves.items()}
    who = None if int(blocker, 16) == 0 else names.get(to_checksum_address(blocker), blocker)
    return strike_wait(who, int(at), int(cutoff), int(ready))


def run_settler(keeper: Keeper) -> JobReport:
    vault = keeper.protocol.vault
    settings = keeper.settings.settler.planner()
    snap = VaultSnapshot.read(keeper.multicall, vault)
    report = JobReport(JOB, snap.block, snap.timestamp, keeper.dry_run)
    trigger = _trigger(report, snap)
    confirm = trigger is not None and settings.strike and requests_wait(trigger)
    pokes = partial(plan_confirmations, trigger)
    extra = vault_unlisted_feeds(keeper, snap.block) if confirm else {}
    if confirm and poke_confirmations(keeper, report, pokes, snap.block, extra=extra):
        snap = VaultSnapshot.read(keeper.multicall, vault)  # a confirmed move may strike now
        trigger = _trigger(report, snap)
    block = snap.block
    if trigger is not None:
        call = plan_strike(
            trigger,
            settings,
            liquidity=snap.liquidity,
            pending_deposits=snap.closed_deposits(),
            gas_cost=_strike_gas_cost(keeper, settings.strike_gas),
            queued=snap.queued_assets(),
        )
        futile = None
        if not isinstance(call, SettleSkip) and snap.closed_deposits() == 0:
            before = (snap.pending_redemptions, snap.pending_deposits)
            futile = futile_strike(block, before, simulate_strike(keeper, block))
        if isinstance(call, SettleSkip):
            wait = read_strike_wait(keeper, block) if requests_wait(trigger) else None
            report.skipped.append(f"strike: {waiting_reason(call.reason, wait)}")
        elif futile is not None:
            report.skipped.append(f"strike: {futile}")
        else:
            count = "?" if snap.strike_count is None else snap.strike_count
            outcome = keeper.act_data(
                report, vault, call.data, call="strike()", action_id=f"strike:{count}@{block}"
            )
            if outcome.outcome in ("mined", "lost-race"):
                # claim what this strike, or the one another address sent first, settled: this
                # pass, not the next (the read block is before either)
                block = keeper.web3.eth.block_number
    if not settings.claim or keeper.address is None:
        return report
    if keeper.behind is not None and not keeper.dry_run:
        # the node has not reached this key's own transactions: on its reads a mined claim is
        # still claimable; its copy would be refused (a stale nonce), and that refusal would
        # hold the controller's next claim of the same size (a strike goes on: the vault
        # re-checks it, nothing backs it off, and a chain truly rewound must not hold exits)
        report.skipped.append("claims: the node is behind this key's transactions: none sent")
        return report
    relay = keeper.protocol.claim_relay
    if relay is None:
        report.notes.append("claims: the manifest names no ClaimRelay (deployed before it)")
        return report
    controllers = _controllers(keeper, str(relay.address), block)
    if not controllers:
        return report
    claims = ClaimsSnapshot.read(keeper.multicall, vault, str(relay.address), controllers, block)
    report.notes += [f"read failed: {k}: {v}" for k, v in claims.failures.items()]
    refused = _refused(keeper)
    now = claims.timestamp
    plan = plan_claims(claims.claims, keeper.gas_market().base_fee_wei, settings, refused, now)
    report.skipped += list(plan.skipped)
    for c in plan.calls:
        outcome = keeper.act(
            report,
            relay,
            "claim",
            c.controller,
            action_id=f"claim:{c.controller.lower()}@{claims.block}",
        )
        if outcome.outcome == "refused":
            refused[c.controller] = next_refusal(refused.get(c.controller), c, now)
        elif outcome.outcome == "mined":
            refused.pop(c.controller, None)
    _keep_refused(keeper, refused)
    return report


def simulate_strike(keeper: Keeper, block: int) -> tuple[int, int] | None:
    """The vault's (pendingRedemptions, pendingDeposits) after a `strike()` run at `block`: one
    Multicall3 `eth_call` whose first call strikes (anyone may) and whose next two read, on the
    state it left; nothing is sent. None when the strike reverts or a read fails. The settler
    and the status dashboard read it (`futile_strike`)."""
    vault = keeper.protocol.vault
    calls = [
        Call(vault.strike, label="strike()"),
        Call(vault.pendingRedemptions, label="pendingRedemptions()"),
        Call(vault.pendingDeposits, label="pendingDeposits()"),
    ]
    try:
        results = keeper.multicall.read(calls, block).results
    except MulticallError:
        return None
    if not all(r.success for r in results):
        return None
    return int(results[1].value), int(results[2].value)


def _refused(keeper: Keeper) -> dict[str, RefusedClaim]:
    """Controllers whose claim was refused, and when each is tried again (job state)."""
    state = json.loads(keeper.store.job_state(JOB) or "{}")
    kept = state.get("refused_claims", {})
    return {c: RefusedClaim(*(int(v) for v in r)) for c, r in kept.items() if len(r) == 4}


def _keep_refused(keeper: Keeper, refused: dict[str, RefusedClaim]) -> None:
    state = json.loads(keeper.store.job_state(JOB) or "{}")
    kept = {c: [r.max_deposit, r.max_redeem, r.retry_at, r.attempts] for c, r in refused.items()}
    keeper.store.set_job_state(JOB, json.dumps({**state, "refused_claims": kept}, sort_keys=True))
