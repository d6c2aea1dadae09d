"""Evaluator pass: read the due decisions (with `evaluateTrigger`) and the pending slashes in
one snapshot, plan with `keepers.jobs.plan_evaluator`, send `evaluate(id)` and
`executeSlash(id)`. Action ids are permanent (`evaluate:<id>`): a restarted keeper never
evaluates twice, and a keeper that lost the race records it and moves on.

The registry is the vault's (`vault.agentRegistry()`), read at each pass: when governance has
pointed the vault at another AgentRegistry since the manifest was written, the pass covers the
new one (ids `evaluate:<registry>:<id>`, `executeSlash:<registry>:<id>`) and still settles the
manifest's and every other one the vault has named (`Keeper.registries`: its `AgentRegistrySet`
logs), whose open decisions and slashes stay there.

While due decisions wait on stale evidence (a sleeve's price moved beyond
`oracle.maxDeviationBps`, unconfirmed), the pass first pokes the router as
`plan_evidence_pokes` says (record the move; confirm it once `oracle.confirmDelay` has passed)
and, when a poke was mined, reads again: a decision whose move was confirmed is evaluated in the
same pass."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from keepers.jobs import OpenDecision, PendingSlash, plan_evaluator, plan_evidence_pokes
from keepers.reads import read_moved_sleeves
from keepers.shell.confirmations import poke_confirmations, unlisted_feeds
from keepers.shell.reports import JobReport
from keepers.snapshot import EvaluationSnapshot

if TYPE_CHECKING:
    from keepers.shell.keeper import Keeper


def _unlisted_feeds(
    keeper: Keeper, report: JobReport, waiting: Sequence[int], block: int
) -> dict[str, str]:
    """`unlisted_feeds` of the sleeves the waiting decisions moved: a decision keeps the sleeves
    it was taken over (`IRWAVault.decision`), so one may wait on a sleeve removed since (gone
    from a refreshed manifest) or added after the manifest was written. The decisions are read
    in one Multicall3 batch (`read_moved_sleeves`); one whose read failed is named in the
    report's notes and its sleeves are not poked."""
    moved = read_moved_sleeves(keeper.multicall, keeper.protocol.vault, waiting, block)
    report.notes += [f"read failed: {k}: {v}" for k, v in moved.failures.items()]
    return unlisted_feeds(keeper, moved.sleeves, block)


def run_evaluator(keeper: Keeper) -> JobReport:
    """One pass over every registry with work to settle (`Keeper.registries`): the vault's
    AgentRegistry now, then every one it named before and the manifest's, when governance has
    pointed the vault at another since (their open decisions are still evaluated and their
    slashes executed there)."""
    now, *earlier = keeper.registries()
    report = _evaluate(keeper, now, None)
    for agents in earlier:
        _evaluate(keeper, agents, report)
    return report


def _evaluate(keeper: Keeper, agents: Any, report: JobReport | None) -> JobReport:
    """`agents`' due decisions evaluated and slashes past their veto executed, into `report`
    (a new one, at this read's block, when None: `agents` is the vault's registry now). Action
    ids are `evaluate:<id>` and `executeSlash:<id>` on the manifest's registry,
    `<kind>:<registry>:<id>` on another (slash ids count from 0 in each registry)."""
    vaults_now = report is None
    settings = keeper.settings.evaluator
    snap = EvaluationSnapshot.read(keeper.multicall, agents, settings.max_due)
    if report is None:
        report = JobReport("evaluator", snap.block, snap.timestamp, keeper.dry_run)
    manifest = agents is keeper.protocol.agents
    scope = "" if manifest else f"{to_checksum_address(str(agents.address))}:"
    pokes = partial(plan_evidence_pokes, snap.waiting)
    extra = _unlisted_feeds(keeper, report, snap.waiting, snap.block) if snap.waiting else {}
    if snap.waiting and poke_confirmations(keeper, report, pokes, snap.block, extra=extra):
        snap = EvaluationSnapshot.read(keeper.multicall, agents, settings.max_due)
    report.notes += [f"read failed: {k}: {v}" for k, v in snap.failures.items()]
    # decisionsDue lists decisions already due: their dueAt is at or before the read block.
    # A trigger whose read failed is unknown (None), not a refusal: the planner then acts and
    # the contract re-checks (its reason, when any, comes back from the simulation).
    decisions = [
        OpenDecision(
            d.decision_id,
            0,
            None if d.error is not None else d.should_act,
            "" if d.error is not None else d.data.decode("utf-8", errors="replace"),
        )
        for d in snap.due
    ]
    slashes = [
        PendingSlash(s.slash_id, int(s.info.vetoEndsAt), int(s.info.status))
        for s in snap.slashes
        if s.info is not None
    ]
    plan = plan_evaluator(decisions, slashes, snap.timestamp, settings.max_actions)
    report.notes.append(
        (
            ""
            if manifest
            else f"AgentRegistry {scope[:-1]} "
            + ("(the vault's now): " if vaults_now else "(the vault's before): ")
        )
        + f"{len(snap.open_decisions)} open decisions, {len(snap.due)} due, "
        f"{len(snap.waiting)} waiting on stale evidence, {len(snap.slashes)} pending slashes"
    )
    report.skipped += [f"{s.kind}({scope}{s.target_id}): {s.reason}" for s in plan.skipped]
    for action in plan.actions:
        keeper.act(
            report,
            agents,
            action.kind,
            action.target_id,
            action_id=f"{action.kind}:{scope}{action.target_id}",
        )
    return report
