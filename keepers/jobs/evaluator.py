"""Evaluator job, decision part: which `evaluate(id)` and `executeSlash(id)` calls to make now.

Inputs are what the job read: the open decisions (`openDecisions()` with each `dueAt` and
`evaluateTrigger(id)`'s verdict) and the pending slashes (`vetoEndsAt`, status). `now` is the
timestamp the calls are expected to execute at (the next block's, at least the read block's).

- A decision is evaluated when `now >= dueAt` and its trigger is ok (a trigger not read, `None`,
  counts as ok: the contract re-checks). Skips: "not due", "stale evidence" (the trigger's
  "stale return index"), "already evaluated", or the trigger's own reason.
- A slash is executed when it is `Pending` and `now >= vetoEndsAt`. Skips: "veto window open",
  "not pending (<status>)".

Order: evaluations by (dueAt, id), then slash executions by (vetoEndsAt, id); both stable and
deduplicated by id. `max_actions` caps the calls (the rest is skipped as "over the batch limit").

An evaluation waits while a moved sleeve's price is beyond `oracle.maxDeviationBps` of the
router's reference, unconfirmed (its return index is not fresh: `StaleReturnIndex`): no agent is
judged on a price round nobody confirmed. `plan_evidence_pokes` keeps that wait finite: while a
due decision waits on stale evidence, it pokes the router for each sleeve feed beyond the band, to
record the move and, `oracle.confirmDelay` later, confirm it (or drop it, the price back in the
band), as the settler does for a strike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from keepers.jobs.sentinel import OracleState, PokePlan, confirmation_pokes

Kind = Literal["evaluate", "executeSlash"]


class SlashStatus(IntEnum):
    """`IAgentRegistry.SlashStatus`."""

    NONE = 0
    PENDING = 1
    VETOED = 2
    EXECUTED = 3


@dataclass(frozen=True)
class OpenDecision:
    """An open decision: `decision_id`, `due_at`, and `evaluateTrigger(id)` as read
    (`trigger_ok` None when not read; `trigger_reason` its bytes decoded when false)."""

    decision_id: int
    due_at: int
    trigger_ok: bool | None = None
    trigger_reason: str = ""


@dataclass(frozen=True)
class PendingSlash:
    """A slash: `slash_id`, `veto_ends_at` and its `SlashStatus` (as an int)."""

    slash_id: int
    veto_ends_at: int
    status: int = SlashStatus.PENDING


@dataclass(frozen=True)
class EvaluatorAction:
    """A call to send: `evaluate(target_id)` or `executeSlash(target_id)`."""

    kind: Kind
    target_id: int

    @property
    def args(self) -> tuple[int]:
        return (self.target_id,)


@dataclass(frozen=True)
class EvaluatorSkip:
    """A decision or slash not acted on now, and why."""

    kind: Kind
    target_id: int
    reason: str


@dataclass(frozen=True)
class EvaluatorPlan:
    actions: tuple[EvaluatorAction, ...]
    skipped: tuple[EvaluatorSkip, ...]


_TRIGGER_REASONS = {
    "stale return index": "stale evidence",
    "not due": "not due",
    "already evaluated": "already evaluated",
}


def _decision_verdict(d: OpenDecision, now: int) -> str | None:
    if now < d.due_at:
        return f"not due (due at {d.due_at}, {d.due_at - now}s left)"
    if d.trigger_ok is False:
        return _TRIGGER_REASONS.get(d.trigger_reason, d.trigger_reason or "trigger refused")
    return None


def _slash_verdict(s: PendingSlash, now: int) -> str | None:
    if s.status != SlashStatus.PENDING:
        name = SlashStatus(s.status).name if s.status in set(SlashStatus) else str(s.status)
        return f"not pending ({name.lower()})"
    if now < s.veto_ends_at:
        return f"veto window open (ends at {s.veto_ends_at}, {s.veto_ends_at - now}s left)"
    return None


def plan_evaluator(
    decisions: Iterable[OpenDecision],
    slashes: Iterable[PendingSlash],
    now: int,
    max_actions: int | None = None,
) -> EvaluatorPlan:
    """The calls to make at `now` and the skips, in the stable order described above."""
    seen_d: dict[int, OpenDecision] = {}
    for d in decisions:
        seen_d.setdefault(d.decision_id, d)
    seen_s: dict[int, PendingSlash] = {}
    for s in slashes:
        seen_s.setdefault(s.slash_id, s)
    actions: list[EvaluatorAction] = []
    skipped: list[EvaluatorSkip] = []
    for d in sorted(seen_d.values(), key=lambda d: (d.due_at, d.decision_id)):
        reason = _decision_verdict(d, now)
        if reason is None:
            actions.append(EvaluatorAction("evaluate", d.decision_id))
        else:
            skipped.append(EvaluatorSkip("evaluate", d.decision_id, reason))
    for s in sorted(seen_s.values(), key=lambda s: (s.veto_ends_at, s.slash_id)):
        reason = _slash_verdict(s, now)
        if reason is None:
            actions.append(EvaluatorAction("executeSlash", s.slash_id))
        else:
            skipped.append(EvaluatorSkip("executeSlash", s.slash_id, reason))
    if max_actions is not None and len(actions) > max_actions:
        over = actions[max_actions:]
        actions = actions[:max_actions]
        skipped.extend(EvaluatorSkip(a.kind, a.target_id, "over the batch limit") for a in over)
    return EvaluatorPlan(tuple(actions), tuple(skipped))


def plan_evidence_pokes(
    waiting: Sequence[int], sleeve_oracles: Sequence[OracleState], now: int
) -> tuple[PokePlan, ...]:
    """The `poke`s that let the due decisions `waiting` on stale evidence be evaluated (module
    docstring), for the sleeves' feeds as read at `now`, in name order; none when none waits."""
    if not waiting:
        return ()
    return confirmation_pokes(sleeve_oracles, now, "an evaluation")


__all__ = [
    "EvaluatorAction",
    "EvaluatorPlan",
    "EvaluatorSkip",
    "OpenDecision",
    "PendingSlash",
    "SlashStatus",
    "plan_evaluator",
    "plan_evidence_pokes",
]
