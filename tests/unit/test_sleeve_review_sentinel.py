"""The sentinel on a feed that answers zero or less (sleevereview): the router refuses the answer
and `tryPrice` falls back on the reference, so the reading shows neither staleness nor deviation;
the sentinel alarms on the answer itself and never pokes it (the router would refuse). And on a
round stamped in the future, which the router's staleness check can never call stale."""

from __future__ import annotations

from keepers.jobs.sentinel import (
    OracleState,
    SentinelSettings,
    SentinelState,
    VaultHealth,
    plan_pokes,
    watch,
)
from keepers.math import WAD

NOW = 1_800_000_000
CALM = VaultHealth(WAD, WAD)


def gold(valid: bool) -> OracleState:
    """Gold published 10 s ago; its reference accepted two days ago (a heartbeat is due)."""
    return OracleState("gold", NOW - 10, 86_400, 2_000 * WAD, 2_000 * WAD, 1_000,
                       confirm_delay=3_600, accepted_at=NOW - 2 * 86_400,
                       answer_valid=valid)  # fmt: skip


def test_an_unusable_answer_is_critical_and_trips_after_the_streak():
    key = SentinelSettings(has_guardian_key=True, trip_after=2)
    first = watch([gold(False)], CALM, NOW, SentinelState(), key)
    assert [(a.code, a.severity, a.subject) for a in first.alerts] == [
        ("oracle-invalid", "critical", "gold")
    ]
    assert not first.pause
    second = watch([gold(False)], CALM, NOW, first.state, key)
    assert second.pause and second.state.tripped
    assert watch([gold(True)], CALM, NOW).alerts == ()


def test_an_unusable_answer_is_never_poked():
    assert [p.reason for p in plan_pokes([gold(True)], NOW, False)] == ["heartbeat"]
    assert plan_pokes([gold(False)], NOW, False) == ()
    assert plan_pokes([gold(False)], NOW, True) == ()


def test_a_round_stamped_in_the_future_is_critical():
    """A pusher writing milliseconds: the router's staleness check can never fire."""
    ms = OracleState("gold", NOW * 1_000, 86_400, 2_000 * WAD, 2_000 * WAD, 1_000)
    (alert,) = watch([ms], CALM, NOW).alerts
    assert (alert.code, alert.severity, alert.subject) == ("oracle-future", "critical", "gold")
    now = OracleState("gold", NOW, 86_400, 2_000 * WAD, 2_000 * WAD, 1_000)
    assert watch([now], CALM, NOW).alerts == ()  # published in this very block: fine
