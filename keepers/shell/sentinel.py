"""Sentinel pass: every price feed behind the vault (sleeve tokens and lending collateral), the
NAV per share against the previous pass, and the share of lending debt that is unhealthy, judged
by `keepers.jobs.watch`. Its hysteresis state (and the last NAV per share) is kept in the store,
so a restarted sentinel neither forgets a streak nor re-alerts from zero. When tripped it sends
`pauseAutomation()` if this key holds the vault's GUARDIAN_ROLE (or GOVERNANCE_ROLE, which may
pause too), otherwise alerts. A NAV drop of `nav_drop_trip_bps` or more trips on that one pass.
It keeps the router's reference meaningful (`poke`, as `keepers.jobs.plan_pokes` plans): a
deviating feed's move is recorded at once (the router holds it pending for
`oracle.confirmDelay`; nobody's poke resets the reference before that) and confirmed only once
tripped; a move that did not hold is dropped; a feed within bounds gets a daily heartbeat, so
slow drift never reads as a spike."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from eth_utils import keccak

from keepers.errors import one_line
from keepers.jobs import (
    Alert,
    SentinelState,
    VaultHealth,
    plan_pokes,
    rearm_if_pause_undone,
    watch,
    watched_share_price,
)
from keepers.reads import (
    AllocationRead,
    OracleRead,
    priced_tokens,
    read_allocation,
    read_oracles,
)
from keepers.reads.scans import chain_changed, cursor_mark
from keepers.shell.confirmations import vault_unlisted_feeds, with_unlisted
from keepers.shell.liquidator import discover_borrowers
from keepers.shell.reports import JobReport
from keepers.snapshot import BookSnapshot

if TYPE_CHECKING:
    from keepers.shell.keeper import Keeper

log = logging.getLogger("keepers.sentinel")

GUARDIAN_ROLE = keccak(text="GUARDIAN_ROLE")
GOVERNANCE_ROLE = keccak(text="GOVERNANCE_ROLE")
TOTAL_ASSETS = "0x" + keccak(text="totalAssets()")[:4].hex()
# Outcomes after which automation is (or will be) paused: anything else is retried.
PAUSE_SENT = frozenset({"mined", "already-done", "lost-race", "stuck", "would-send"})


def _refresh_baselines(
    keeper: Keeper, report: JobReport, read: OracleRead, priced: dict[str, str], tripped: bool
) -> None:
    """`poke`s the router as `plan_pokes` says (after this pass's read, so a poke never hides a
    move from the pass that made it)."""
    known = [o for o in read.oracles if o.name in priced]
    for plan in plan_pokes(known, read.timestamp, tripped):
        log.info("poke %s: %s", plan.name, plan.reason, extra={"job": "sentinel"})
        keeper.act(report, keeper.protocol.router, "poke", priced[plan.name],
                   action_id=f"poke:{plan.name}:{read.block}")  # fmt: skip


def _held_by_feed(
    keeper: Keeper,
    report: JobReport,
    alloc: AllocationRead,
    priced: Mapping[str, str],
    unlisted: Mapping[str, str],
) -> dict[str, int]:
    """What the vault's sleeves hold at the live price, by the name of the feed that prices them
    (`watched_share_price`'s `held`): the manifest's sleeves as the allocation read them, and
    every priced sleeve of the vault the manifest does not list (`unlisted`: sleeve -> token, read
    from the chain), its `totalAssets()` at the same block, under the name its token is watched
    under (`with_unlisted`: a second sleeve on a listed token counts under that feed). Without
    them an unlisted sleeve's unconfirmed rise stayed in the watched price, and its fall back
    tripped the sentinel as a NAV shock. A read that fails is a note; that sleeve counts 0."""
    held = {s.name: s.held for s in alloc.sleeves}
    names = {token.lower(): name for name, token in priced.items()}
    for sleeve, token in unlisted.items():
        name = names.get(token.lower())
        if name is None:
            continue
        try:
            raw = keeper.web3.eth.call({"to": sleeve, "data": TOTAL_ASSETS}, alloc.block)
            value = int.from_bytes(bytes(raw)[:32], "big")
        except Exception as err:  # noqa: BLE001 - one odd sleeve does not stop the watch
            report.notes.append(f"read failed: {sleeve}.totalAssets(): {one_line(err)}")
            continue
        held[name] = held.get(name, 0) + value
    return held


def _load_state(keeper: Keeper, block: int) -> tuple[SentinelState, int | None]:
    """The kept hysteresis state and the share price the last pass read, or None for that price
    when it is no previous reading of this pass's chain: read above `block` (a node behind, or
    restarted from an older state and not grown back yet: a rise since would read as a drop) or
    on a chain the node no longer has (another block at its mark, `chain_changed`)."""
    raw = keeper.store.job_state("sentinel")
    if raw is None:
        return SentinelState(), 0
    doc = json.loads(raw)
    state = SentinelState(doc["critical_streak"], doc["clear_streak"], doc["tripped"])
    price, mark = int(doc.get("share_price", 0)), doc.get("mark")
    if mark is None:
        return state, price
    if int(mark.partition(":")[0]) > block:
        return state, None
    try:
        changed = chain_changed(keeper.web3, mark, block)
    except Exception:  # noqa: BLE001 - a node error: judged against it, as before marks
        return state, price
    return state, None if changed else price


def _mark(keeper: Keeper, block: int) -> str | None:
    """The mark of the block a pass read (`cursor_mark`), None when the node cannot say."""
    try:
        return cursor_mark(keeper.web3, block, 0, block)
    except Exception:  # noqa: BLE001 - a node error: the state is kept without it
        return None


def run_sentinel(keeper: Keeper) -> JobReport:
    protocol = keeper.protocol
    alloc = read_allocation(keeper.multicall, protocol)
    report = JobReport("sentinel", alloc.block, alloc.timestamp, keeper.dry_run)
    # the manifest's feeds and those of the vault's sleeves it does not list (the DAO added one)
    try:
        unlisted = vault_unlisted_feeds(keeper, alloc.block)
    except Exception as err:  # noqa: BLE001 - a node error: the manifest's feeds are still watched
        unlisted = {}
        report.notes.append(f"read failed: the vault's sleeves: {err}")
    priced = with_unlisted(priced_tokens(protocol), unlisted)
    oracles = read_oracles(keeper.multicall, protocol, priced, alloc.block)
    exposures: tuple[tuple[int, int], ...] = ()
    if protocol.lending is not None:
        borrowers = discover_borrowers(keeper, alloc.block)
        book = BookSnapshot.read(keeper.multicall, protocol.lending, borrowers, alloc.block)
        exposures = tuple(
            (b.debt, b.health_factor)
            for b in book.borrowers
            if b.debt is not None and b.health_factor is not None and b.debt > 0
        )
    for failures in (alloc.failures, oracles.failures):
        report.notes += [f"read failed: {k}: {v}" for k, v in failures.items()]

    state, previous_price = _load_state(keeper, alloc.block)
    if previous_price is None:
        report.notes.append(
            "the last share price was read on another chain or a later block: no NAV drop "
            "judged this pass"
        )
        previous_price = 0
    if state.tripped and not alloc.automation_paused and keeper.address is not None:
        # its own pause undone since it tripped (a reorg, the pool dropped it): armed again
        last = keeper.store.latest_of("pauseAutomation")
        state = rearm_if_pause_undone(
            state, alloc.automation_paused, None if last is None else last.status
        )
    guardian = keeper.address is not None and any(
        protocol.vault.hasRole(role, keeper.address) for role in (GUARDIAN_ROLE, GOVERNANCE_ROLE)
    )
    held = _held_by_feed(keeper, report, alloc, priced, unlisted)
    share_price = watched_share_price(alloc.share_price, alloc.nav, held, oracles.oracles)
    verdict = watch(
        oracles.oracles,
        VaultHealth(share_price, previous_price, alloc.automation_paused, exposures),
        alloc.timestamp,
        state,
        keeper.settings.sentinel.planner(guardian),
    )
    report.alerts += list(verdict.alerts)
    for alert in verdict.alerts:
        level = logging.WARNING if alert.severity != "info" else logging.INFO
        log.log(
            level,
            "%s %s: %s",
            alert.code,
            alert.subject,
            alert.message,
            extra={"job": "sentinel", "alert": alert.code, "severity": alert.severity},
        )
    new = verdict.state
    if verdict.pause:
        action = keeper.act(
            report, protocol.vault, "pauseAutomation", action_id=f"pauseAutomation:{alloc.block}"
        )
        if action.outcome not in PAUSE_SENT:
            # Not paused (refused, reverted, replaced): stay armed, so the next critical pass
            # trips again and retries, instead of believing automation is paused.
            new = SentinelState(new.critical_streak, new.clear_streak, False)
            alert = Alert(
                "pause-failed",
                "critical",
                "sentinel",
                f"pauseAutomation() {action.outcome}: {action.detail or 'not sent'}",
            )
            report.alerts.append(alert)
            log.error(
                "%s %s: %s",
                alert.code,
                alert.subject,
                alert.message,
                extra={"job": "sentinel", "alert": alert.code, "severity": alert.severity},
            )
    if keeper.address is not None:
        _refresh_baselines(keeper, report, oracles, priced, new.tripped)
    if not keeper.dry_run:
        keeper.store.set_job_state(
            "sentinel",
            json.dumps(
                {
                    "critical_streak": new.critical_streak,
                    "clear_streak": new.clear_streak,
                    "tripped": new.tripped,
                    "share_price": share_price,
                    "mark": _mark(keeper, alloc.block),
                }
            ),
        )
    report.notes.append(
        f"{len(oracles.oracles)} feeds, {len(exposures)} borrowers with debt, "
        f"{'tripped' if new.tripped else 'armed'}"
    )
    return report
