"""Attack M-6 (issue 18): round-tripping agents farm the reward pot.

Before the fix, `evaluate(id)` credited every decision its whole window's return (`Σ (newBps -
oldBps) · r` from the decision to the evaluation), however soon the vault undid it, and a
decision's negative excess inside `agent.toleranceBps` cost nothing. A churner moving 1,000 bps
into a rising sleeve and back out the next day, again and again, was credited a full window of
the sleeve's rise for every entry (each exit, a small loss inside the tolerance, counted for
nothing) and took most of the agents' pot from an honest agent that had bought and held.

The defence (IAgentRegistry, "Evaluation" and "Rewards: net value added"):
- a later decision inside a decision's window that moves a sleeve the other way ends that part
  of the move there (read from the later decision's recorded `startIndex`): an entry undone the
  next day is credited one day of the sleeve's return;
- an agent's losses net against its points (withdrawn from the open round, then carried as
  `rewardDebt` against later gains): the exit, judged against the weight it undid, costs as
  much as the next entry earns;
- for the reward, any agent's opposite move ends that part of the move (the judgement, slash
  and reputation, counts only the same agent's, so another agent's undoing never spares a
  risky author): two colluding agents, one entering and the other leaving (found in a review
  after issue 18: the entries took 83 % of the pot, the accomplice's exits left only a debt
  on a throwaway bond), earn only the days each entry stood.

The first test mounts the finding's attack (entries and exits evaluated in one reward round)
and shows what the old rule would have paid from the same chain facts; the second keeps
churning while the vault takes a fee every day (as it will at every NAV strike), so every
evaluation falls in a round of its own: the churner's pay stops growing after its first entry.
"""

from __future__ import annotations

import pytest

from tests.agent_support import (
    BPS,
    EVAL_WINDOW,
    NAMES,
    REWARD_SHARE_BPS,
    TOLERANCE_BPS,
    WAD,
    RewardBook,
    build_desk,
    events,
    later_decisions,
    model_cost,
    model_credited_excess,
    model_excess,
    model_points,
    model_value,
    only_event,
)
from tests.vault_support import DAY, bond_agent, isolated

TICKET = 1_000_000  # 1 mUSDC: the deposit the daily strike settles

FEE_BPS = 1_000
HONEST = [3_000, 0, 0]  # tbill, bought once and held
IN = [3_000, 1_000, 0]  # the churner's entry into gold (tbill left where it is)
TBILL_DAILY, GOLD_DAILY = 10, 50  # bps a day: both sleeves rise steadily


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    desk = build_desk(project, accounts, chain)
    desk.set_param("vault.performanceFeeBps", FEE_BPS)
    return desk


class Story:
    """Days from the honest agent's decision: each day both prices rise, then the day's
    actions; every evaluation is checked against the documented formulas (`model_*`), and
    what the old rule (the whole window, no netting) would have credited is kept alongside;
    every strike's reward split against `RewardBook` (each round paid at most what its points
    are worth, the rest carried)."""

    def __init__(self, desk, extra_agents=()):
        self.desk, self.start = desk, desk.now() + 60
        self.book = RewardBook(
            desk.agents, desk.vault, [desk.allocator, desk.rival, *extra_agents],
            carried=desk.agents.undistributedRewards(),
        )  # fmt: skip
        self.old_points: dict[str, int] = {}
        self.values: dict[str, int] = {}
        self.credited: dict[str, int] = {}  # points actually added, net of withdrawals
        self.slashed: dict[str, int] = {}  # slashes opened (the shortfall beyond the tolerance)

    def day(self, d: int) -> None:
        desk = self.desk
        desk.at(max(self.start + d * DAY, desk.vault.nextRebalanceAt(), desk.now() + 1))
        if d:
            desk.move("tbill", TBILL_DAILY)
            desk.move("gold", GOLD_DAILY)
        desk.refresh()

    def rebalance(self, targets, agent):
        """The agent's rebalance, then the day's NAV strike (a 1-unit ticket deposit settled at
        the next window's prices), where the performance fee is taken. Returns the strike."""
        desk = self.desk
        desk.rebalance(targets, agent)
        desk.ready_fee_strike(TICKET)
        points = self.book.points()
        tx = desk.vault.strike(sender=desk.keeper)
        self.book.fee(tx, points)
        return tx

    def evaluate(self, decision_id: int) -> dict:
        desk = self.desk
        vault, agents = desk.vault, desk.agents
        d = vault.decision(decision_id)
        due = agents.decisionRecord(decision_id).dueAt
        assert due == d.timestamp + EVAL_WINDOW
        tx = desk.evaluate(decision_id)
        ends = [desk.system.sleeve(name).sleeve.returnIndex() for name in NAMES]
        # The documented rule, from the chain's records: each later opposite move inside the
        # window ends that much of the move at its recorded startIndex (once the later moves
        # the same way are undone). The judgement counts the same agent's moves, the reward
        # any agent's.
        later = later_decisions(vault, decision_id, due)
        excess = stood = 0
        for i in range(3):
            moved = d.newBps[i] - d.oldBps[i]
            moves = [(x.new_bps[i] - x.old_bps[i], x.start_index[i], x.own) for x in later]
            own = [(size, start) for size, start, mine in moves if mine]
            anyone = [(size, start) for size, start, _ in moves]
            excess += model_credited_excess(moved, d.startIndex[i], ends[i], own)
            stood += model_credited_excess(moved, d.startIndex[i], ends[i], anyone)
        cost = model_cost(d.navBefore, d.navAfter)  # its own trading cost, charged to both
        excess, stood = excess - cost, stood - cost
        evaluated = only_event(tx, agents.Evaluated)
        self.slashed[d.agent] = self.slashed.get(d.agent, 0) + evaluated["slashAmount"]
        assert only_event(tx, agents.ReputationUpdated)["excess"] == excess
        value = model_value(stood, d.navBefore)
        netted = events(tx, agents.ValueNetted)
        assert [n["value"] for n in netted] == ([value] if value else [])
        for n in netted:
            self.credited[d.agent] = (
                self.credited.get(d.agent, 0) + n["pointsAdded"] - n["pointsWithdrawn"]
            )
        self.values[d.agent] = self.values.get(d.agent, 0) + value
        old = model_excess(d.oldBps, d.newBps, d.startIndex, ends)
        self.old_points[d.agent] = self.old_points.get(d.agent, 0) + model_points(old, d.navBefore)
        return {"excess": excess, "stood": stood, "value": value, "old": old}


def test_a_round_tripping_agent_earns_nothing_from_the_pot(desk, chain):
    """The honest allocator buys 3,000 bps of tbill on day 0 and holds. The churner (rival)
    enters gold (1,000 bps) on days 1, 3, 5 and leaves on days 2, 4, 6, each move within the
    bounds and a cooldown apart; gold rises 0.5 % a day, tbill 0.1 %. The seven decisions are
    evaluated when due (days 7-13), then the next fee closes the round."""
    vault, agents, honest, churner = desk.vault, desk.agents, desk.allocator, desk.rival
    with isolated(chain):
        story = Story(desk)
        story.day(0)
        story.rebalance(HONEST, honest)
        for d in range(1, 7):
            story.day(d)
            story.rebalance(IN if d % 2 else HONEST, churner)
        first = vault.decisionCount() - 7
        results = []
        for k in range(7):
            story.day(7 + k)
            results.append(story.evaluate(first + k))
        assert agents.rewardRound() == 0  # every fee so far found no points: all carried

        # The attack as the finding reported it: under the old rule the churner's three
        # entries, each credited a full week of gold's rise, outweigh the honest week of tbill.
        old_share = story.old_points[churner.address] * BPS // sum(story.old_points.values())
        assert old_share > 6_000, old_share
        for k in (2, 4, 6):  # the exits: losses inside the tolerance, free under the old rule
            assert -TOLERANCE_BPS * WAD < results[k]["old"] < 0
        # The honest agent is never slashed. The churner's exits, each a day after its entry,
        # have a day's share of the tolerance (7 of 50 bps; IAgentRegistry, "Slash"): the
        # last, never reversed (~36 bps lost), opens a slash (at the cap) where it was free.
        assert story.slashed[honest.address] == 0
        assert story.slashed[churner.address] > 0
        assert agents.decisionRecord(first + 6).toleranceBps == TOLERANCE_BPS // 7

        # Now: an entry is credited the day it stood, and the exit after it costs about as
        # much; the last exit (never reversed) a week of gold's rise. The churner's net value
        # added is negative: no points, a debt instead.
        for k in (1, 3, 5):
            assert 0 < results[k]["excess"] < results[k]["old"] // 5
        assert story.values[churner.address] < 0
        assert agents.rewardDebt(churner) == -story.values[churner.address]
        assert agents.roundPointsOf(churner) == 0
        assert story.credited[churner.address] == 0
        # The honest agent's week of tbill stands (a churner's drift trims of tbill excepted).
        points = agents.roundPointsOf(honest)
        assert points == story.values[honest.address] == agents.roundPoints()
        assert points * 100 >= story.old_points[honest.address] * 99

        # The next fee pays the round: the churner gets nothing, the honest agent all of it.
        story.day(14)
        pot_before = agents.undistributedRewards()
        tx = story.rebalance(HONEST, honest)
        received = only_event(tx, agents.FeeReceived)
        pot = pot_before + received["toAgents"]
        assert received["toAgents"] == received["shares"] * REWARD_SHARE_BPS // BPS > 0
        assert agents.rewardRound() == 1
        assert agents.claimableRewards(churner) == 0
        assert agents.claimableRewards(honest) == pot
        assert story.book.rounds[-1][:2] == (pot, pot)  # a week of tbill is worth the pot
        assert vault.balanceOf(agents) >= pot


def test_churning_through_fee_rounds_earns_no_more_than_its_first_day(desk, chain):
    """The same churner keeps going for three weeks while the vault takes a fee every day
    (each churn rebalance: a new reward round every day, as when fees come at every NAV
    strike), and each decision is evaluated the day it is due. Rounds close between an entry's
    evaluation and its exit's, so the first entry's day is paid before its exit is known; the
    exit then becomes a debt that the next entry only repays. More round trips earn nothing
    more: the churner's credited points stop at its first entry's day."""
    vault, agents, honest, churner = desk.vault, desk.agents, desk.allocator, desk.rival
    with isolated(chain):
        story = Story(desk)
        story.day(0)
        story.rebalance(HONEST, honest)
        first = vault.decisionCount() - 1
        claimable_after: list[int] = []
        fees = 0
        for d in range(1, 22):
            story.day(d)
            if d >= 7:  # the decision of a week ago is due now
                story.evaluate(first + d - 7)
            tx = story.rebalance(IN if d % 2 else HONEST, churner)
            fees += len(events(tx, agents.FeeReceived))  # closes the round if it has points
            claimable_after.append(agents.claimableRewards(churner))
        # A fee at (nearly) every daily strike: the day's gain above the high-water mark (a
        # day whose strike finds none pays no fee, and the round simply stays open).
        assert fees >= 19, fees
        # Rounds closed on day 7 (the honest week) and day 8 (the churner's first entry); on
        # no later day did anyone have points left after the netting: the pots carried.
        assert agents.rewardRound() == 2 == len(story.book.rounds)

        churned = story.credited[churner.address]
        net = story.values[churner.address]
        # One day of gold's rise on the 1,000 bps it entered with, on the NAV then.
        one_day = 1_000 * GOLD_DAILY * vault.decision(first + 1).navBefore // (BPS * BPS)
        assert churned > 0  # its first entry's day, paid before its exit was evaluated
        assert churned <= one_day * 11 // 10  # not a window's worth: a day's
        assert net <= one_day * 11 // 10  # its net value added over three weeks: about nothing
        # The pay stopped growing after the first entry was paid (the rounds of days 8-21).
        paid = [c for c in claimable_after if c]
        assert paid and max(claimable_after) == claimable_after[-1] == paid[0]
        assert agents.rewardDebt(churner) > 0  # its later exits are still owed
        # The honest agent's held week was paid, far more than the churner's day.
        assert agents.claimableRewards(honest) > 3 * agents.claimableRewards(churner)


def test_two_colluding_agents_taking_turns_earn_only_the_days_their_moves_stood(
    desk, chain, accounts
):
    """The churner (rival) enters gold on days 1, 3 and 5; an accomplice agent of the same
    operator leaves on days 2, 4 and 6, so no agent ever reverses its own move. Each entry is
    still rewarded only for the day it stood, and the honest week of tbill keeps the pot's
    larger part."""
    vault, agents, honest, churner = desk.vault, desk.agents, desk.allocator, desk.rival
    accomplice = accounts[9]
    with isolated(chain):
        bond_agent(desk.system, accomplice)
        story = Story(desk, extra_agents=[accomplice])
        story.start = max(story.start, agents.activeFrom(accomplice) + 60)
        story.day(0)
        story.rebalance(HONEST, honest)
        for d in range(1, 7):
            story.day(d)
            story.rebalance(IN if d % 2 else HONEST, churner if d % 2 else accomplice)
        first = vault.decisionCount() - 7
        results = []
        for k in range(7):
            story.day(7 + k)
            results.append(story.evaluate(first + k))
        # Judged on its own window, each entry earned a week of gold's rise (no own reversal);
        # rewarded, a day: the accomplice's exit the next day ended it.
        for k in (1, 3, 5):
            assert 0 < results[k]["stood"] < results[k]["excess"] // 5
            assert vault.decision(first + k).agent == churner.address
        one_day = 1_000 * GOLD_DAILY * vault.decision(first + 1).navBefore // (BPS * BPS)
        assert 0 < story.credited[churner.address] <= 3 * one_day * 11 // 10
        assert agents.roundPointsOf(honest) == story.values[honest.address]
        assert agents.roundPointsOf(honest) > agents.roundPointsOf(churner)
        assert agents.rewardDebt(accomplice) > 0 and agents.roundPointsOf(accomplice) == 0

        story.day(14)
        story.rebalance(HONEST, honest)
        assert agents.rewardRound() == 1
        assert agents.claimableRewards(honest) > agents.claimableRewards(churner) > 0
        assert agents.claimableRewards(accomplice) == 0
