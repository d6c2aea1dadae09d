"""keepers.shell.reports.queue_reports: a held-up queue or a failed resumed flight is an action
of the pass (the exit status and `<job>_failed` count it), once."""

from __future__ import annotations

from keepers.actions import is_priority
from keepers.inflight import Blocked
from keepers.outcomes import Mined, Replaced, Stuck
from keepers.shell.reports import FAILED_OUTCOMES, ActionReport, queue_reports

H1, H2 = "0x" + "01" * 32, "0x" + "02" * 32
BLOCKED = Blocked("approve:t:s:5", Stuck(7, (H1, H2)))


def test_a_held_up_queue_is_reported_stuck_when_nothing_was_planned():
    (added,) = queue_reports([("approve:t:s:5", Stuck(7, (H1, H2)))], BLOCKED, [])
    assert (added.action_id, added.outcome, added.tx_hash) == ("approve:t:s:5", "stuck", H2)
    assert added.outcome in FAILED_OUTCOMES and "nonce 7" in added.detail


def test_a_held_up_queue_already_reported_by_an_action_is_not_counted_twice():
    planned = [ActionReport("evaluate:0", "evaluate(0)", "blocked")]
    assert queue_reports([], BLOCKED, planned) == []


def test_a_resumed_flight_that_failed_is_reported_one_that_mined_is_not():
    mined = Mined(H1, {"gasUsed": "0x5208", "blockNumber": "0x1"}, 3, 1, 1)
    added = queue_reports([("evaluate:0", mined), ("evaluate:1", Replaced(4, (H2,)))], None, [])
    assert [(a.action_id, a.outcome) for a in added] == [("evaluate:1", "replaced")]


def test_only_the_pause_is_a_priority_action():
    assert is_priority("pauseAutomation:120")
    assert not any(map(is_priority, ("approve:t:s:5", "poke:tbill:3", "evaluate:0")))
