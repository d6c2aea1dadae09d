"""AgentRegistry, evaluation: when a decision may be evaluated, what excess it earned, and the
reputation and reward points that follow (IAgentRegistry, "Evaluation").

The vault holds 1,000,000 (all idle at first); three sleeves (tbill 1.00, gold 2,000, invoices
1.00); agent.evalWindow 7 days, toleranceBps 50, maxSlashBps 1000. Prices are moved between a
decision and its evaluation, and every expected number is computed with the documented
formulas (`tests.agent_support.model_*`) from the prices and weights the test chose.
"""

from __future__ import annotations

import pytest

from tests.agent_support import (
    DAY,
    EVAL_WINDOW,
    FEED_UNIT,
    MAX_SLASH_BPS,
    MIN_STAKE,
    NAV,
    NO_SLASH,
    START,
    TOLERANCE_BPS,
    USDC,
    WAD,
    build_desk,
    events,
    model_cost,
    model_excess,
    model_points,
    model_reputation,
    model_return,
    model_slash,
    only_event,
    toward_zero,
    wad_price,
)
from tests.vault_support import assert_reverts

NAMES = ("tbill", "gold", "invoices")


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    return build_desk(project, accounts, chain)


def starts_of(answers: dict[str, int]) -> list[int]:
    return [wad_price(answers[n]) for n in NAMES]


def expected_evaluation(desk, decision_id: int, ends: dict[str, int], stake=MIN_STAKE):
    """(excess, slash, points) of a decision from its recorded weights and NAVs, the start
    prices it recorded and the `ends` answers the test published (formulas: IAgentRegistry),
    its own trading cost (`navBefore - navAfter`) charged."""
    d = desk.vault.decision(decision_id)
    end_index = [wad_price(ends[n]) for n in NAMES]
    excess = model_excess(d.oldBps, d.newBps, d.startIndex, end_index)
    excess -= model_cost(d.navBefore, d.navAfter)
    slash = model_slash(excess, TOLERANCE_BPS, d.navBefore, stake, 0, MAX_SLASH_BPS)
    return excess, slash, model_points(excess, d.navBefore)


def publish(desk, answers: dict[str, int]) -> None:
    for name, answer in answers.items():
        desk.set_price(name, answer)


# ------------------------------------------------------------------ when


def test_due_exactly_at_the_end_of_the_window_anyone_evaluates_once(desk):
    agents, keeper = desk.agents, desk.keeper
    tx = desk.rebalance([6_000, 0, 0])
    due = tx.timestamp + EVAL_WINDOW
    reported = only_event(tx, agents.DecisionReported)
    assert reported == {"decisionId": 0, "agent": desk.allocator.address, "dueAt": due}
    record = agents.decisionRecord(0)
    assert (record.agent, record.dueAt, record.evaluated) == (desk.allocator.address, due, False)
    assert desk.vault.decision(0).timestamp == tx.timestamp

    desk.at(due - 10)
    desk.set_price("tbill", 101 * FEED_UNIT // 100)  # +1 %
    desk.at(due - 1)
    assert_reverts(agents, "evaluate", 0, sender=keeper, error="EvaluationNotDue",
                   decisionId=0, dueAt=due)  # fmt: skip
    desk.mine_at(due - 1)
    assert tuple(agents.evaluateTrigger(0)) == (False, b"not due")
    assert list(agents.decisionsDue(10)) == []
    assert list(agents.openDecisions()) == [0]

    excess = 6_000 * (WAD // 100)  # 6000 bps moved into a sleeve that earned exactly 1 %
    assert expected_evaluation(desk, 0, START | {"tbill": 101 * FEED_UNIT // 100})[0] == excess
    points = excess * NAV // (10_000 * WAD)
    assert points == 6_000 * USDC  # 60 bps of 1,000,000 added
    assert tuple(agents.previewEvaluation(0)) == (excess, 0, points)

    desk.at(due)
    tx = agents.evaluate(0, sender=keeper)  # a keeper, neither the agent nor governance
    assert tx.timestamp == due
    assert tuple(tx.return_value) == (60, NO_SLASH)
    assert only_event(tx, agents.Evaluated) == {"decisionId": 0, "excessBps": 60,
                                                "slashAmount": 0}  # fmt: skip
    assert only_event(tx, agents.ReputationUpdated) == {
        "agent": desk.allocator.address, "excess": excess,
        "reputation": excess * 2_000 // 10_000, "rewardPoints": points,
    }  # fmt: skip
    assert events(tx, agents.SlashOpened) == []
    assert agents.reputation(desk.allocator) == 12 * WAD
    assert agents.roundPoints() == points
    assert agents.decisionRecord(0).evaluated
    assert list(agents.openDecisions()) == []
    assert agents.agentInfo(desk.allocator).openDecisions == 0

    assert_reverts(agents, "evaluate", 0, sender=keeper, error="AlreadyEvaluated", decisionId=0)
    assert_reverts(agents, "evaluate", 0, sender=desk.allocator, error="AlreadyEvaluated")
    assert tuple(agents.evaluateTrigger(0)) == (False, b"already evaluated")


def test_unknown_decisions(desk):
    agents = desk.agents
    for decision_id in (0, 1, 2**256 - 1):
        assert_reverts(agents, "evaluate", decision_id, sender=desk.keeper,
                       error="UnknownDecision", decisionId=decision_id)  # fmt: skip
        assert_reverts(agents, "previewEvaluation", decision_id, sender=desk.keeper,
                       error="UnknownDecision", decisionId=decision_id)  # fmt: skip
        assert tuple(agents.evaluateTrigger(decision_id)) == (False, b"unknown decision")
    desk.rebalance([1_000, 0, 0])
    assert_reverts(agents, "evaluate", 1, sender=desk.keeper, error="UnknownDecision",
                   decisionId=1)  # fmt: skip


def test_the_window_is_fixed_when_the_decision_is_reported(desk):
    agents = desk.agents
    first = desk.rebalance([3_000, 0, 0])
    desk.set_param("agent.evalWindow", 2 * DAY)  # shorter, after the fact
    assert agents.decisionRecord(0).dueAt == first.timestamp + EVAL_WINDOW
    desk.at(first.timestamp + 2 * DAY)
    assert_reverts(agents, "evaluate", 0, sender=desk.keeper, error="EvaluationNotDue",
                   dueAt=first.timestamp + EVAL_WINDOW)  # fmt: skip
    second = desk.rebalance_after_cooldown([3_000, 1_000, 0])  # a new decision: the new window
    assert agents.decisionRecord(1).dueAt == second.timestamp + 2 * DAY
    desk.set_param("agent.evalWindow", 30 * DAY)  # longer: the first decision is not delayed
    assert agents.decisionRecord(0).dueAt == first.timestamp + EVAL_WINDOW
    desk.at(first.timestamp + EVAL_WINDOW)
    desk.refresh()
    desk.agents.evaluate(0, sender=desk.keeper)


# ------------------------------------------------------------------ what: excess


# Answers at evaluation (8 decimals) after a decision from all idle to [3000, 2000, 1000], and
# the excess in bps the Evaluated event must report (rounded toward zero).
MOVES = {
    "tbill +1%, gold -2%: -10 bps": ({"tbill": 101_000_000, "gold": 196_000_000_000}, -10),
    "all up": ({"tbill": 102_000_000, "gold": 210_000_000_000, "invoices": 100_500_000}, 165),
    "+9.99999 bps rounds to 9": ({"tbill": 100_333_333}, 9),
    "-9.99999 bps rounds to -9, not -10": ({"tbill": 99_666_667}, -9),
    "gold -2.5% within tolerance by 0": ({"gold": 195_000_000_000}, -50),
    "gold +0.001%, tbill -0.0003%": ({"gold": 200_002_000_000, "tbill": 99_999_700}, 0),
}


@pytest.mark.parametrize("case", MOVES.keys())
def test_excess_is_the_weight_change_times_each_sleeves_return(desk, case):
    moves, excess_bps = MOVES[case]
    agents = desk.agents
    tx = desk.rebalance([3_000, 2_000, 1_000])
    d = desk.vault.decision(0)
    assert (list(d.oldBps), list(d.newBps)) == ([0, 0, 0], [3_000, 2_000, 1_000])
    assert list(d.startIndex) == starts_of(START)
    assert d.navBefore == NAV

    due = tx.timestamp + EVAL_WINDOW
    desk.at(due - 60)
    ends = START | moves
    publish(desk, ends)  # every changed sleeve fresh at evaluation
    desk.mine_at(due)
    excess, slash, points = expected_evaluation(desk, 0, ends)
    assert toward_zero(excess, WAD) == excess_bps
    assert slash == 0  # every case is within the 50 bps tolerance
    assert tuple(agents.previewEvaluation(0)) == (excess, slash, points)
    assert tuple(agents.evaluateTrigger(0)) == (True, agents.evaluate.encode_input(0))

    tx = agents.evaluate(0, sender=desk.keeper)
    assert tuple(tx.return_value) == (excess_bps, NO_SLASH)
    assert only_event(tx, agents.Evaluated) == {"decisionId": 0, "excessBps": excess_bps,
                                                "slashAmount": 0}  # fmt: skip
    rep = model_reputation(0, excess)
    assert only_event(tx, agents.ReputationUpdated) == {
        "agent": desk.allocator.address, "excess": excess, "reputation": rep,
        "rewardPoints": points,
    }  # fmt: skip
    assert agents.reputation(desk.allocator) == rep
    assert agents.roundPoints() == points
    assert (points > 0) == (excess > 0)


def test_return_division_rounds_down_and_reputation_is_an_ewma(desk):
    """A second decision starts from a non-round index (1.03): r = ⌊1e36 / 1.03e18⌋ - 1e18."""
    agents = desk.agents
    desk.rebalance([6_000, 0, 0])
    desk.at(desk.vault.nextRebalanceAt())
    desk.set_price("tbill", 103_000_000)
    desk.refresh()
    second = desk.rebalance([3_000, 0, 0])  # sells tbill at 1.03
    d = desk.vault.decision(1)
    assert d.startIndex[0] == 103 * WAD // 100
    assert d.navBefore == (400_000 + 618_000) * USDC  # 600,000 tbill now worth 618,000
    assert d.oldBps[0] == 618_000 * 10_000 // 1_018_000

    desk.at(agents.decisionRecord(0).dueAt)
    desk.set_price("tbill", 99_000_000)  # 1.03 -> 0.99 over the second decision's window
    first = agents.evaluate(0, sender=desk.keeper)  # 6000 bps into tbill, which fell 1 %...
    # ... but the second decision, inside the first one's window, sold 3071 bps of them at 1.03:
    # that part of the move ended there (+3 %, read from the second decision's startIndex), the
    # other 2929 bps stood to the end (-1 %).
    cut = d.oldBps[0] - d.newBps[0]
    assert cut == 3_071
    excess0 = cut * (3 * WAD // 100) + (6_000 - cut) * (99 * WAD // 100 - WAD)
    assert excess0 == 62_840 * WAD // 1_000
    rep0 = model_reputation(0, excess0)
    assert (
        only_event(first, agents.ReputationUpdated)["reputation"] == rep0 == 12_568 * WAD // 1_000
    )
    assert only_event(first, agents.Evaluated)["slashAmount"] == 0
    assert only_event(first, agents.ReputationUpdated)["rewardPoints"] == model_points(excess0, NAV)

    desk.at(second.timestamp + EVAL_WINDOW)
    desk.refresh()
    tx = agents.evaluate(1, sender=desk.keeper)
    r = 99 * WAD // 100 * WAD // (103 * WAD // 100) - WAD
    assert r == model_return(103 * WAD // 100, 99 * WAD // 100) == -38_834_951_456_310_680
    # The sale's own trading cost: the unit its rounding lost (the NAV it recorded after its
    # trades), ceil(1 · 1e4 · 1e18 / 1,018,000e6) bps × WAD, charged against the excess.
    assert d.navBefore - d.navAfter == 1
    cost = -(-1 * 10_000 * WAD // d.navBefore)
    assert cost == model_cost(d.navBefore, d.navAfter) == 9_823_182_712
    excess1 = (d.newBps[0] - d.oldBps[0]) * r - cost  # weight sold: the sale avoided the fall
    assert excess1 > 0
    rep1 = rep0 + toward_zero((excess1 - rep0) * 2_000, 10_000)
    ev = only_event(tx, agents.ReputationUpdated)
    assert (ev["excess"], ev["reputation"]) == (excess1, rep1)
    assert ev["rewardPoints"] == excess1 * d.navBefore // (10_000 * WAD)
    assert only_event(tx, agents.Evaluated)["excessBps"] == toward_zero(excess1, WAD)


def test_idle_earns_nothing(desk):
    """Moving 5000 bps from tbill to idle, then tbill gains 2 %: the excess is -5000 · 2 %."""
    agents = desk.agents
    desk.rebalance([6_000, 0, 0])
    second = desk.rebalance_after_cooldown([1_000, 0, 0])
    d = desk.vault.decision(1)
    assert (list(d.oldBps), list(d.newBps)) == ([6_000, 0, 0], [1_000, 0, 0])
    desk.at(second.timestamp + EVAL_WINDOW)
    desk.set_price("tbill", 102_000_000)
    tx = agents.evaluate(1, sender=desk.keeper)
    excess = -5_000 * (2 * WAD // 100)
    assert only_event(tx, agents.ReputationUpdated)["excess"] == excess == -100 * WAD
    slash = min((100 - 50) * WAD * d.navBefore // (10_000 * WAD), MIN_STAKE * 1_000 // 10_000)
    assert only_event(tx, agents.Evaluated) == {"decisionId": 1, "excessBps": -100,
                                                "slashAmount": slash}  # fmt: skip


def test_a_sleeve_whose_weight_did_not_change_is_ignored(desk):
    """tbill and gold keep their weights: gold's crash (on a stale price) and tbill's rise do
    not count; only invoices, the sleeve the decision moved into, does."""
    agents = desk.agents
    desk.rebalance([3_000, 2_000, 0])
    second = desk.rebalance_after_cooldown([3_000, 2_000, 1_000])
    d = desk.vault.decision(1)
    assert list(d.oldBps) == [3_000, 2_000, 0] and list(d.newBps) == [3_000, 2_000, 1_000]

    due = second.timestamp + EVAL_WINDOW
    desk.at(due - 60)
    desk.set_price("tbill", 110_000_000)  # +10 %, fresh
    desk.set_price("invoices", 100_500_000)  # +0.5 %
    desk.feed("gold").setRound(140_000_000_000, due - 8 * DAY, sender=desk.governance)  # stale
    desk.mine_at(due)
    assert tuple(agents.evaluateTrigger(1))[0] is True
    assert list(agents.decisionsDue(5)) == [1]  # the first decision moved gold: it must wait
    tx = agents.evaluate(1, sender=desk.keeper)
    excess = 1_000 * (WAD // 200)
    assert only_event(tx, agents.ReputationUpdated)["excess"] == excess
    assert only_event(tx, agents.ReputationUpdated)["rewardPoints"] == model_points(
        excess, d.navBefore
    )
    assert_reverts(agents, "evaluate", 0, sender=desk.keeper, error="StaleReturnIndex",
                   decisionId=0, sleeve=desk.system.sleeve("gold").sleeve)  # fmt: skip


def test_stale_price_of_a_moved_sleeve_holds_the_evaluation(desk):
    agents = desk.agents
    tx = desk.rebalance([6_000, 0, 0])
    due = tx.timestamp + EVAL_WINDOW
    tbill = desk.system.sleeve("tbill")
    desk.at(due - 60)
    tbill.feed.setRound(90_000_000, due - 60 - 7 * DAY - 1, sender=desk.governance)  # -10 %
    desk.mine_at(due)
    assert not tbill.sleeve.valuation()[1]
    assert_reverts(agents, "evaluate", 0, sender=desk.keeper, error="StaleReturnIndex",
                   decisionId=0, sleeve=tbill.sleeve)  # fmt: skip
    assert tuple(agents.evaluateTrigger(0)) == (False, b"stale return index")
    assert list(agents.decisionsDue(10)) == []
    assert list(agents.openDecisions()) == [0]

    # A fresh round (another price) lets it through, judged on the fresh price.
    desk.set_price("tbill", 98_000_000)
    assert tuple(agents.evaluateTrigger(0))[0] is True
    assert list(agents.decisionsDue(10)) == [0]
    tx = agents.evaluate(0, sender=desk.keeper)
    excess = 6_000 * (-2 * WAD // 100)
    slash = model_slash(excess, TOLERANCE_BPS, NAV, MIN_STAKE, 0, MAX_SLASH_BPS)
    assert only_event(tx, agents.Evaluated) == {"decisionId": 0, "excessBps": -120,
                                                "slashAmount": slash}  # fmt: skip


def test_a_sleeve_sold_out_is_still_judged_on_a_fresh_price(desk):
    """A decision that sells a sleeve out: the empty sleeve's `valuation()` says fresh whatever
    its price, but its return index must still rest on a fresh price to be evidence."""
    agents = desk.agents
    desk.rebalance([3_000, 0, 0])
    tx = desk.rebalance_after_cooldown([0, 0, 0])  # sells tbill out
    decision = tx.return_value
    due = agents.decisionRecord(decision).dueAt
    tbill = desk.system.sleeve("tbill")
    desk.at(due - 60)
    tbill.feed.setRound(50_000_000, due - 60 - 7 * DAY - 1, sender=desk.governance)  # stale -50 %
    desk.mine_at(due)
    assert tuple(tbill.sleeve.valuation()) == (0, True)  # nothing held: "fresh"
    assert not tbill.sleeve.returnIndexStatus()[1]
    assert tuple(agents.evaluateTrigger(decision)) == (False, b"stale return index")
    assert decision not in list(agents.decisionsDue(10))
    assert_reverts(agents, "evaluate", decision, sender=desk.keeper, error="StaleReturnIndex",
                   decisionId=decision, sleeve=tbill.sleeve)  # fmt: skip


# ------------------------------------------------------------------ keeper views


def test_open_and_due_decisions_and_previews_for_two_agents(desk):
    agents, rival = desk.agents, desk.rival
    first = desk.rebalance([3_000, 0, 0])  # the allocator, decision 0
    second = desk.rebalance_after_cooldown([3_000, 2_000, 0], agent=desk.rival)  # decision 1
    assert agents.decisionRecord(1).agent == rival.address
    assert list(agents.openDecisions()) == [0, 1]
    assert agents.agentInfo(desk.allocator).openDecisions == 1
    assert agents.agentInfo(rival).openDecisions == 1

    # Both windows open: nothing due.
    desk.at(first.timestamp + EVAL_WINDOW - 60)
    ends = START | {"tbill": 101_000_000, "gold": 204_000_000_000}
    publish(desk, ends)
    desk.mine_at(first.timestamp + EVAL_WINDOW - 1)
    assert list(agents.decisionsDue(10)) == []

    desk.mine_at(first.timestamp + EVAL_WINDOW)
    assert list(agents.decisionsDue(10)) == [0]
    assert list(agents.decisionsDue(0)) == []
    desk.mine_at(second.timestamp + EVAL_WINDOW)
    assert sorted(agents.decisionsDue(10)) == [0, 1]
    assert len(agents.decisionsDue(1)) == 1

    # Previews match what the evaluation then reports, for either agent.
    for decision_id, agent in ((1, rival), (0, desk.allocator)):
        excess, slash, points = expected_evaluation(desk, decision_id, ends)
        assert tuple(agents.previewEvaluation(decision_id)) == (excess, slash, points)
        tx = agents.evaluate(decision_id, sender=desk.keeper)
        ev = only_event(tx, agents.ReputationUpdated)
        assert (ev["agent"], ev["excess"], ev["rewardPoints"]) == (agent.address, excess, points)
    # decision 0: 3000 bps into tbill (+1 %); decision 1: 2000 bps into gold (+2 %)
    assert agents.reputation(desk.allocator) == 30 * WAD * 2_000 // 10_000
    assert agents.reputation(rival) == 40 * WAD * 2_000 // 10_000
    assert list(agents.openDecisions()) == []
    assert list(agents.decisionsDue(10)) == []
    assert agents.roundPoints() == (30 + 40) * WAD * NAV // (10_000 * WAD)
