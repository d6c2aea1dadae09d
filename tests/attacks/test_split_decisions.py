"""A move split into decisions to stay inside the slash tolerance (found in an agent review).

Each decision was judged against the whole `agent.toleranceBps` (bps of the NAV it moved), so an
agent could buy 2,000 bps of gold as four daily 500 bps decisions: through a 5.9 % fall each
part lost ~29 bps, inside its own 50 bps, and no slash opened, where the single 2,000 bps buy
(~118 bps) was slashed 6,761.60: what the agent lost was not paid to depositors, only the
decisions' size changed. Now the parts are slashed 6,721.20.

The defence (IAgentRegistry, "Slash"; `AgentRegistry.onDecision`): the tolerance is a budget per
`agent.evalWindow` of time. A decision's record keeps the part the time since the same agent's
previous decision earned, `floor(toleranceBps · min(elapsed, window) / window)`: the first part
of the split gets the whole 50 bps, each daily part after it 7 (50 · 1/7), so splitting buys at
most the tolerance the days between the parts earned.
"""

from __future__ import annotations

import pytest

from tests.agent_support import BPS, NAV, build_desk, gold_days, only_event
from tests.vault_support import DAY, isolated

TOLERANCE_BPS = 50
WINDOW_DAYS = 7
GOLD_FALL = -200  # bps a day on days 4-6 (inside oracle.maxDeviationBps: no band opens)


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    desk = build_desk(project, accounts, chain)
    # The whole bond may be slashed (10,000), so the cap (10 % by default) does not hide the
    # difference between the paths.
    desk.set_param("agent.maxSlashBps", BPS)
    return desk


def buy_through_a_fall(desk, steps: dict[int, int]) -> dict:
    """Buys gold on the days of `steps` (day -> gold target bps); gold falls 2 % a day on days
    4-6 (every part bought before the fall, inside every part's window) and stays flat after.
    Each decision is evaluated when due. Returns the slashes, the recorded tolerances and the
    gold moves."""
    vault, agents = desk.vault, desk.agents

    def fall(d: int) -> None:
        if 4 <= d <= 6:
            desk.move("gold", GOLD_FALL)

    ids, evaluations = gold_days(desk, WINDOW_DAYS + max(steps) + 1, steps, fall)
    slashes = [only_event(tx, agents.Evaluated)["slashAmount"] for tx in evaluations]
    return {
        "slash": sum(slashes),
        "slashes": slashes,
        "tolerance": [agents.decisionRecord(i).toleranceBps for i in ids],
        "moves": [vault.decision(i).newBps[1] - vault.decision(i).oldBps[1] for i in ids],
    }


def test_a_move_split_into_daily_parts_is_tolerated_no_more_than_the_days_earned(desk, chain):
    """The same 2,000 bps of gold held through the same 6 % fall, bought at once or in four
    daily parts: split, each part's loss (~30 bps) was inside its own whole tolerance and no
    slash opened. Now the parts after the first share the budget the days between them earned,
    so the split path is slashed, short of the whole buy's slash by at most those days'
    tolerance (3 days of 50 bps a week, on the NAV)."""
    with isolated(chain):
        whole = buy_through_a_fall(desk, {0: 2_000})
    with isolated(chain):
        split = buy_through_a_fall(desk, {0: 500, 1: 1_000, 2: 1_500, 3: 2_000})
    assert sum(whole["moves"]) == sum(split["moves"]) == 2_000  # the same gold, the same fall
    report = f"one buy: {whole}; four daily parts: {split}"
    assert whole["tolerance"] == [TOLERANCE_BPS], report
    # The first part has the whole budget (the agent's first decision), each later one a day's.
    assert split["tolerance"] == [TOLERANCE_BPS] + [TOLERANCE_BPS // WINDOW_DAYS] * 3, report
    assert whole["slash"] > 60 * NAV // BPS, report  # ~120 bps lost, 50 tolerated
    # The defence: the parts are slashed, at most the three days' tolerance short of the whole.
    earned = 3 * (TOLERANCE_BPS // WINDOW_DAYS) * NAV // BPS
    assert split["slash"] >= whole["slash"] - earned - 3 * NAV // BPS, report
    assert all(s > 0 for s in split["slashes"][1:]), report


def test_decisions_a_window_apart_each_have_the_whole_tolerance(desk, chain):
    """An agent deciding once a window is judged as before: the time since its previous
    decision earned the whole budget, and a decision half a window after another gets half."""
    vault, agents, agent = desk.vault, desk.agents, desk.allocator
    with isolated(chain):
        times = []
        week = WINDOW_DAYS * DAY
        for gap, target in ((0, 1_000), (week, 1_500), (week // 2, 1_000)):
            desk.at(max(desk.now() + gap, vault.nextRebalanceAt(), desk.now() + 1))
            desk.refresh()
            tx = desk.rebalance([0, target, 0], agent)
            times.append(chain.blocks[tx.block_number].timestamp)
        records = [agents.decisionRecord(vault.decisionCount() - 3 + k) for k in range(3)]
        elapsed = times[2] - times[1]
        assert [r.toleranceBps for r in records] == [
            TOLERANCE_BPS,
            TOLERANCE_BPS,
            TOLERANCE_BPS * elapsed // (WINDOW_DAYS * DAY),
        ]
        assert agents.agentInfo(agent).lastDueAt == records[2].dueAt == times[2] + WINDOW_DAYS * DAY
