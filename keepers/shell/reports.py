"""What a keeper pass reports: each planned call's outcome (`ActionReport`), the pass
(`JobReport`) and the one-line failure of a pass that cannot run (`KeeperError`). Shared by
`Keeper` and the job runners, which import it rather than the `Keeper` module (no cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from keepers.actions import FILL_KIND, same_action
from keepers.funding import Funding, Shortfall
from keepers.inflight import Blocked
from keepers.outcomes import (
    AlreadyDone,
    LostRace,
    Mined,
    Outcome,
    Refused,
    Replaced,
    Reverted,
    Stuck,
    Unfunded,
)

__all__ = [
    "ActionReport",
    "JobReport",
    "KeeperError",
    "blocked_action",
    "describe_outcome",
    "queue_reports",
    "resumed_note",
]


class KeeperError(RuntimeError):
    """A pass cannot run (e.g. the account is not an active agent); the message is one line."""


# Outcomes that count as a failed action (a pass's exit status, the bots' `<job>_failed` metric):
# `blocked` is an action not tried behind the key's own stuck transaction.
FAILED_OUTCOMES: Final = frozenset({"reverted", "refused", "replaced", "stuck", "blocked"})


@dataclass(frozen=True)
class ActionReport:
    """One planned call and what became of it. `outcome`: mined, reverted, refused, lost-race,
    replaced, stuck, already-done, unfunded (the key cannot pay the gas: nothing sent), blocked
    (a transaction of the key is stuck: nothing sent behind it), or in a dry run would-send /
    would-fail."""

    action_id: str
    call: str
    outcome: str
    tx_hash: str | None = None
    detail: str = ""
    gas_used: int | None = None


@dataclass
class JobReport:
    """One pass of a job: the block it read, the actions, the skips and the alerts (sentinel);
    `shortfalls`: what it could not do for lack of funds (at most one per asset); `funding`: the
    key's balances after the pass (None: read-only keeper)."""

    job: str
    block: int
    timestamp: int
    dry_run: bool
    actions: list[ActionReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)
    funding: Funding | None = None
    seconds: float = 0.0

    def shortfall(self, asset: str) -> Shortfall | None:
        return next((s for s in self.shortfalls if s.asset == asset), None)

    def count(self, outcome: str) -> int:
        return sum(1 for a in self.actions if a.outcome == outcome)

    def summary(self) -> str:
        outcomes: dict[str, int] = {}
        for a in self.actions:
            outcomes[a.outcome] = outcomes.get(a.outcome, 0) + 1
        acted = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) or "no action"
        extra = f"; {len(self.skipped)} skipped" if self.skipped else ""
        extra += f"; {len(self.alerts)} alerts" if self.alerts else ""
        return f"{self.job} @ block {self.block}: {acted}{extra}"


def blocked_action(action_id: str, call: str, blocked: Blocked) -> ActionReport:
    """The report of an action not sent because `blocked` holds the key's queue up: `stuck`
    when it is the stuck transaction's own action (any block's), else `blocked`."""
    tx_hash = blocked.stuck.tx_hashes[-1]
    if same_action(action_id, blocked.action_id):
        return ActionReport(action_id, call, "stuck", tx_hash,
                            f"nonce {blocked.stuck.nonce} still pending")  # fmt: skip
    return ActionReport(action_id, call, "blocked", None, blocked.detail())


def resumed_note(action_id: str, outcome: Outcome) -> str:
    """The note of a transaction the pass resumed (or sent to fill a nonce gap) before it
    planned (`keepers.inflight.drain`)."""
    name, tx_hash, detail, _ = describe_outcome(outcome)
    what = (
        f"filled a nonce gap of this key ({action_id})"
        if action_id.startswith(FILL_KIND + ":")
        else f"resumed {action_id} from an earlier pass"
    )
    return f"{what}: {name} {tx_hash or ''}" + (f" ({detail})" if detail else "")


def queue_reports(
    resumed: list[tuple[str, Outcome]], blocked: Blocked | None, actions: list[ActionReport]
) -> list[ActionReport]:
    """Reports the pass adds for its key's queue, so a held-up key or a resumed flight that
    failed is counted (exit status, `<job>_failed`) even when nothing was planned: each
    resumed flight that ended reverted or replaced; and the stuck transaction that holds the
    queue up (`stuck`) unless an action of the pass already says so (stuck or blocked)."""
    added = []
    for action_id, outcome in resumed:
        name, tx_hash, detail, gas = describe_outcome(outcome)
        if name in FAILED_OUTCOMES and name != "stuck":
            added.append(ActionReport(action_id, "(resumed)", name, tx_hash, detail, gas))
    if blocked is not None and not any(a.outcome in ("stuck", "blocked") for a in actions):
        stuck = blocked.stuck
        added.append(ActionReport(blocked.action_id, "(resumed)", "stuck", stuck.tx_hashes[-1],
                                  f"nonce {stuck.nonce} still pending"))  # fmt: skip
    return added


def describe_outcome(outcome: Outcome) -> tuple[str, str | None, str, int | None]:
    """(outcome name, tx hash, detail, gas used) of a sender outcome."""
    match outcome:
        case Mined():
            return "mined", outcome.tx_hash, "", outcome.gas_used
        case Reverted():
            return "reverted", outcome.tx_hash, outcome.reason, None
        case LostRace():
            return "lost-race", outcome.tx_hash, outcome.reason, None
        case Refused():
            return "refused", None, outcome.reason, None
        case Replaced():
            return "replaced", outcome.tx_hashes[-1], f"nonce {outcome.nonce} used elsewhere", None
        case Stuck():
            return "stuck", outcome.tx_hashes[-1], outcome.why(), None
        case AlreadyDone():
            return "already-done", None, "done in an earlier pass", None
        case Unfunded():
            return "unfunded", None, f"gas: needs {outcome.need} wei, has {outcome.have}", None
    raise TypeError(f"unknown outcome {outcome!r}")  # pragma: no cover
