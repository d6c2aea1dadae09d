"""An agent operator's review of the AgentRegistry (staking, evaluation, slashing, rewards).

1. One reversal ending two moves (fixed). Each evaluation walked the later decisions on its own,
   so a reversal ended part of every earlier move it opposed: an agent that bought gold in two
   1,000 bps decisions and sold 1,000 bps the next day had *both* buys ended by the one sale,
   and the 1,000 bps it still held was judged by no decision. Through a 13 % fall the split
   path opened no slash (the one-decision path: 1,000) and was paid +13,187 of value added for
   the depositors' loss on the gold it held (the one-decision path: +3,580). The defence
   (IAgentRegistry, "Evaluation"): later moves the same way stand in front of the move and a
   reversal undoes the newest moves first, so one sale never ends more than its size.

2. Carried pot sniped with next to no value added (fixed). A reward round that
   ends with no points carries the agents' share of its fee to the next round, and a round is
   split pro rata among the points earned in it, however few. The vault takes a fee at (nearly)
   every daily strike while an honest agent's decision waits the week before it is evaluated,
   so most rounds have no points and the pot piles up; whoever has *any* points in the round
   that closes it takes all of it. A sniper agent buys 10 bps of T-bills (risk-free: its index
   only rises) a day before the honest agent buys gold; its evaluation lands first: 7.02 of
   value added took 100.75 of a 121 pot (83 %), the honest week of gold (7,102 of value) was
   paid 20.39. The defence (IAgentRegistry, "Rewards"): a round never pays more than the value
   its points stand for (points are value added in the vault's asset), `min(pot,
   vault.convertToShares(roundPoints))` after the strike, the rest stays carried for the agents
   who add value.
"""

from __future__ import annotations

import pytest

from tests.agent_support import BPS, build_desk, events, gold_days, only_event
from tests.vault_support import DAY, isolated

FEE_BPS = 1_000
TICKET = 1_000_000  # 1 mUSDC: the deposit each daily strike settles
TBILL_DAILY, GOLD_DAILY = 10, 50  # bps a day: both sleeves rise steadily
SNIPE_BPS = 10  # the sniper's T-bill position: 10 bps of the NAV
GOLD_BPS = 2_000  # the honest agent's gold


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    desk = build_desk(project, accounts, chain)
    desk.set_param("vault.performanceFeeBps", FEE_BPS)
    return desk


def day(desk, start: int, d: int) -> None:
    """Day `d`: both prices rise, every feed publishes."""
    desk.at(max(start + d * DAY, desk.vault.nextRebalanceAt(), desk.now() + 1))
    if d:
        desk.move("tbill", TBILL_DAILY)
        desk.move("gold", GOLD_DAILY)
    desk.refresh()


def fee_strike(desk):
    """The day's NAV strike (a 1-unit ticket deposit settled at the next window's prices), a day
    after the fee's sample so it may charge the day's gain. Returns its receipt."""
    desk.ready_fee_strike(TICKET)
    return desk.vault.strike(sender=desk.keeper)


def value_of(tx, agents) -> int:
    netted = only_event(tx, agents.ValueNetted)
    return netted["value"]


def run(desk, snipe: bool) -> dict:
    """Day 0: the sniper's T-bill decision (or nothing); day 1: the honest gold decision; a fee
    strike every day; each decision evaluated when due (days 7 and 8), the fee after it."""
    vault, agents, honest, sniper = desk.vault, desk.agents, desk.allocator, desk.rival
    start = desk.now() + 60
    out: dict = {"fees": 0}
    day(desk, start, 0)
    if snipe:
        desk.rebalance([SNIPE_BPS, 0, 0], sniper)
        out["snipe"] = vault.decisionCount() - 1
    fee_strike(desk)
    day(desk, start, 1)
    targets = list(vault.currentBps())
    targets[1] = GOLD_BPS
    desk.rebalance(targets, honest)
    honest_id = vault.decisionCount() - 1
    for d in range(1, 9):
        if d > 1:
            day(desk, start, d)
        if d == 7 and snipe:
            out["sniper_value"] = value_of(desk.evaluate(out["snipe"]), agents)
        if d == 8:
            out["honest_value"] = value_of(desk.evaluate(honest_id), agents)
        tx = fee_strike(desk)
        out["fees"] += sum(e["toAgents"] for e in events(tx, agents.FeeReceived))
    out["honest"] = agents.claimableRewards(honest)
    out["sniper"] = agents.claimableRewards(sniper)
    out["carried"] = agents.undistributedRewards()
    return out


def test_a_sniper_with_next_to_no_value_added_cannot_take_the_carried_pot(desk, chain):
    vault = desk.vault
    with isolated(chain):
        fair = run(desk, snipe=False)
    with isolated(chain):
        attack = run(desk, snipe=True)
    # Both runs: a fee (nearly) every day, the honest week of gold worth thousands.
    assert fair["fees"] > 0 and attack["fees"] > 0
    assert fair["honest"] == fair["fees"]  # without the sniper the honest agent gets the pot
    assert attack["honest_value"] > 1_000 * 10**6
    assert 0 < attack["sniper_value"] < 10 * 10**6  # about 7 mUSDC of T-bill yield
    sniper_paid = vault.convertToAssets(attack["sniper"])
    report = (
        f"sniper value {attack['sniper_value']} paid {sniper_paid} ({attack['sniper']} shares); "
        f"honest value {attack['honest_value']} paid {attack['honest']} shares "
        f"(alone: {fair['honest']}); carried {attack['carried']}"
    )
    # The defence: nobody is paid more than the value it added; the rest waits for those who
    # add value (here the honest agent, paid as without the sniper, less what the sniper added).
    # (1 % for the share price's rise between the fee and now)
    assert sniper_paid <= attack["sniper_value"] * 101 // 100, report
    assert attack["honest"] * BPS >= fair["honest"] * 9_000, report


# ------------------------------------------------------------------ one reversal ending two moves

GOLD_FALL = -200  # bps a day, from day 3 on (inside oracle.maxDeviationBps: no band opens)


def held_through_a_fall(desk, split: bool) -> dict:
    """The agent ends day 2 holding 1,000 bps more gold than on day 0, then gold falls 2 % a day
    for a week. `split`: bought as +1,000 (day 0) and +1,000 (day 1), then sold 1,000 (day 2);
    else bought +2,000 on day 0 and sold 1,000 on day 2. Each decision is evaluated when due;
    returns the slashes opened, the values netted and the decisions."""
    vault, agents = desk.vault, desk.agents
    steps = {0: 1_000, 1: 2_000, 2: 1_000} if split else {0: 2_000, 2: 1_000}

    def fall(d: int) -> None:
        if d >= 3:
            desk.move("gold", GOLD_FALL)

    ids, evaluations = gold_days(desk, 10, steps, fall)
    slashes = [only_event(tx, agents.Evaluated)["slashAmount"] for tx in evaluations]
    values = [e["value"] for tx in evaluations for e in events(tx, agents.ValueNetted)]
    gold = [vault.decision(i).newBps[1] - vault.decision(i).oldBps[1] for i in ids]
    return {"slash": sum(slashes), "value": sum(values), "moves": gold, "ids": ids}


def test_one_reversal_cannot_end_two_moves_and_hide_the_gold_still_held(desk, chain):
    """The same portfolio path, bought in one decision or in two: the agent holds 1,000 bps more
    gold through a 13 % fall either way, and must be judged the same. In one decision the buy's
    remaining 1,000 bps is judged to its due date (slashed) and the sale from then on; split in
    two, the one 1,000 bps sale ended *both* buys (each evaluation walks the later decisions on
    its own), so the gold still held is judged by no decision: no slash, and the fall the
    depositors took on it is paid to the agent as value added."""
    with isolated(chain):
        whole = held_through_a_fall(desk, split=False)
    with isolated(chain):
        split = held_through_a_fall(desk, split=True)
    assert sum(whole["moves"]) == sum(split["moves"]) == 1_000  # the same gold held after day 2
    assert whole["slash"] > 0  # the buy's kept 1,000 bps fell ~9.6 % inside its window
    report = (
        f"one buy: slash {whole['slash']}, value {whole['value']}; "
        f"split buys: slash {split['slash']}, value {split['value']}"
    )
    # The defence: however the buy was split, the gold held is judged (slashed) and the
    # depositors' loss on it is not paid as value added.
    assert split["slash"] >= whole["slash"], report
    assert split["value"] <= whole["value"] + 10**6, report
