"""Sentinel pass: every price feed behind the vault (sleeve tokens and lending collateral), the
NAV per share against the previous pass, and the share of lending debt that is unhealthy, judged
by `keepers.jobs.watch`. Its hysteresis state (and the last NAV per share) is kept in the store,
so a restarted sentinel neither forgets a streak nor re-alerts from zero. When tripped it sends
`pauseAutomation()` if this key holds the vault's GUARDIAN_ROLE (or GOVERNANCE_ROLE, which may
pause too), otherwise alerts. A tripped sentinel then `poke`s the router for each deviating feed:
the new price becomes the baseline, so a move is alarmed on once, not forever."""

from __future__ import annotations

import json
import logging

from eth_utils import keccak, to_checksum_address

from keepers.jobs import Alert, OracleState, SentinelState, VaultHealth, watch
from keepers.reads import read_allocation, read_oracles
from keepers.shell.keeper import JobReport, Keeper
from keepers.shell.liquidator import discover_borrowers
from keepers.snapshot import BookSnapshot

log = logging.getLogger("keepers.sentinel")

GUARDIAN_ROLE = keccak(text="GUARDIAN_ROLE")
GOVERNANCE_ROLE = keccak(text="GOVERNANCE_ROLE")
# Outcomes after which automation is (or will be) paused: anything else is retried.
PAUSE_SENT = frozenset({"mined", "already-done", "lost-race", "stuck", "would-send"})


def priced_tokens(keeper: Keeper) -> dict[str, str]:
    """name -> token of every priced asset: RWA sleeves' tokens, then lending collateral that is
    not a sleeve token (named by the book)."""
    priced = {
        s.name: to_checksum_address(s.token)
        for s in keeper.protocol.deployment.sleeves
        if s.token is not None
    }
    book = keeper.protocol.lending
    if book is not None:
        known = {t.lower() for t in priced.values()}
        for token in book.collateralTokens():
            if str(token).lower() not in known:
                priced[str(book.collateralName(token))] = to_checksum_address(token)
    return priced


def _accept_deviations(
    keeper: Keeper, report: JobReport, oracles: tuple[OracleState, ...], block: int
) -> None:
    """Once the sentinel has tripped on it, a deviating price is accepted as the router's new
    baseline (`poke`): the move has been reported (and paused on, with the key), and a baseline
    left behind would keep every later pass — and every agent's risk-off rule — alarmed about a
    move that is over."""
    priced = priced_tokens(keeper)
    for o in oracles:
        if o.max_deviation_bps and o.deviation_bps() > o.max_deviation_bps and o.name in priced:
            keeper.act(report, keeper.protocol.router, "poke", priced[o.name],
                       action_id=f"poke:{o.name}:{block}")  # fmt: skip


def _load_state(keeper: Keeper) -> tuple[SentinelState, int]:
    raw = keeper.store.job_state("sentinel")
    if raw is None:
        return SentinelState(), 0
    doc = json.loads(raw)
    state = SentinelState(doc["critical_streak"], doc["clear_streak"], doc["tripped"])
    return state, int(doc.get("share_price", 0))


def run_sentinel(keeper: Keeper) -> JobReport:
    protocol = keeper.protocol
    alloc = read_allocation(keeper.multicall, protocol)
    report = JobReport("sentinel", alloc.block, alloc.timestamp, keeper.dry_run)
    oracles = read_oracles(keeper.multicall, protocol, priced_tokens(keeper), alloc.block)
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

    state, previous_price = _load_state(keeper)
    guardian = keeper.address is not None and any(
        protocol.vault.hasRole(role, keeper.address) for role in (GUARDIAN_ROLE, GOVERNANCE_ROLE)
    )
    verdict = watch(
        oracles.oracles,
        VaultHealth(alloc.share_price, previous_price, alloc.automation_paused, exposures),
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
    if new.tripped and keeper.address is not None:
        _accept_deviations(keeper, report, oracles.oracles, alloc.block)
    if not keeper.dry_run:
        keeper.store.set_job_state(
            "sentinel",
            json.dumps(
                {
                    "critical_streak": new.critical_streak,
                    "clear_streak": new.clear_streak,
                    "tripped": new.tripped,
                    "share_price": alloc.share_price,
                }
            ),
        )
    report.notes.append(
        f"{len(oracles.oracles)} feeds, {len(exposures)} borrowers with debt, "
        f"{'tripped' if new.tripped else 'armed'}"
    )
    return report
