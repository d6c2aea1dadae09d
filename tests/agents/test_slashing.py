"""AgentRegistry, slashing: how much a bad decision costs its agent, the guardian's veto, the
execution that donates the stake to the depositors, and the bond it keeps locked meanwhile
(IAgentRegistry, "Evaluation" and "Slashes"; IRWAVault.donate).

agent.toleranceBps 50, agent.maxSlashBps 1000 (10 % of stake + unbonding), agent.vetoWindow
3 days, agent.minStake 10,000, agent.unbondingPeriod 7 days, agent.evalWindow 7 days. The vault
holds 1,000,000; a decision from all idle into tbill (6000 bps) followed by tbill's fall is the
usual bad decision. Expected numbers come from `tests.agent_support.model_*`.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.agent_support import (
    BPS,
    DAY,
    EVAL_WINDOW,
    MAX_SLASH_BPS,
    MIN_STAKE,
    NAV,
    NO_SLASH,
    SLASH_STATUS,
    START,
    TOLERANCE_BPS,
    UNBONDING,
    USDC,
    VETO_WINDOW,
    WAD,
    build_desk,
    events,
    model_cap,
    model_cost,
    model_excess,
    model_points,
    model_reputation,
    model_slash,
    model_to_assets,
    only_event,
    wad_price,
)
from tests.vault_support import assert_reverts, isolated

NAMES = ("tbill", "gold", "invoices")
CRASH = 80_000_000  # tbill at 0.80: -20 %


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    return build_desk(project, accounts, chain)


def bad_decision(desk, targets=(6_000, 0, 0), answer=CRASH, sleeve="tbill", agent=None):
    """A decision, then `sleeve`'s NAV moves to `answer`, then the decision is evaluated at its
    dueAt. Returns the evaluation's transaction."""
    tx = desk.rebalance_after_cooldown(list(targets), agent=agent)
    decision_id = tx.return_value
    due = desk.agents.decisionRecord(decision_id).dueAt
    desk.at(due - 60)
    desk.set_price(sleeve, answer)
    return desk.evaluate(decision_id)


def opened(desk, tx) -> dict:
    return only_event(tx, desk.agents.SlashOpened)


def bond_of(desk, agent) -> tuple[int, int]:
    info = desk.agents.agentInfo(agent)
    return info.stake, info.unbonding


# ------------------------------------------------------------------ sizing


def test_shortfall_beyond_the_tolerance_opens_a_pending_slash(desk):
    agents, agent = desk.agents, desk.allocator
    tx = bad_decision(desk, answer=99_100_000)  # tbill -0.9 %
    excess = 6_000 * (-9 * WAD // 1_000)
    assert excess == -54 * WAD
    amount = (54 - 50) * WAD * NAV // (BPS * WAD)  # 4 bps beyond tolerance of 1,000,000
    assert amount == 400 * USDC < MIN_STAKE * MAX_SLASH_BPS // BPS  # under the cap
    veto_ends = tx.timestamp + VETO_WINDOW
    assert tuple(tx.return_value) == (-54, 0)
    assert only_event(tx, agents.Evaluated) == {"decisionId": 0, "excessBps": -54,
                                                "slashAmount": amount}  # fmt: skip
    assert opened(desk, tx) == {"slashId": 0, "agent": agent.address, "decisionId": 0,
                                "amount": amount, "vetoEndsAt": veto_ends}  # fmt: skip
    assert only_event(tx, agents.ReputationUpdated)["rewardPoints"] == 0
    s = agents.slashInfo(0)
    assert (s.agent, s.vetoEndsAt, s.status, s.decisionId, s.amount) == (
        agent.address, veto_ends, SLASH_STATUS["Pending"], 0, amount,
    )  # fmt: skip
    assert agents.slashCount() == 1
    assert list(agents.pendingSlashes()) == [0]
    info = agents.agentInfo(agent)
    assert (info.pendingSlashes, info.stake, info.slashed) == (1, MIN_STAKE, 0)
    assert agents.totalSlashed() == 0  # opened, not taken


# (targets, tbill answer, expected slash): at the tolerance exactly nothing; one feed unit
# beyond it, 5000 bps · 1e-8 = 5e13 bps×WAD, i.e. 0.005 of 1,000,000.
BOUNDARIES = {
    "at the tolerance": ((5_000, 0, 0), 99_000_000, 0),
    "just beyond": ((5_000, 0, 0), 98_999_999, 5_000),
    "a gain": ((5_000, 0, 0), 101_000_000, 0),
    "uncapped": ((6_000, 0, 0), 99_050_000, 700 * USDC),
    "capped": ((6_000, 0, 0), CRASH, 1_000 * USDC),
}


@pytest.mark.parametrize("case", BOUNDARIES.keys())
def test_slash_size_at_the_boundaries(desk, case):
    targets, answer, expected = BOUNDARIES[case]
    tx = bad_decision(desk, targets, answer)
    d = desk.vault.decision(0)
    excess = model_excess(d.oldBps, d.newBps, d.startIndex,
                          [wad_price(answer), *d.startIndex[1:]])  # fmt: skip
    assert model_slash(excess, TOLERANCE_BPS, NAV, MIN_STAKE, 0, MAX_SLASH_BPS) == expected
    assert only_event(tx, desk.agents.Evaluated)["slashAmount"] == expected
    if expected == 0:
        assert events(tx, desk.agents.SlashOpened) == []
        assert tx.return_value.slashId == NO_SLASH
        assert desk.agents.slashCount() == 0 and list(desk.agents.pendingSlashes()) == []
        assert desk.agents.agentInfo(desk.allocator).pendingSlashes == 0
    else:
        assert opened(desk, tx)["amount"] == expected


def test_the_cap_counts_unbonding_stake_and_is_the_one_of_the_decisions_day(desk):
    agents, agent = desk.agents, desk.allocator
    desk.add_stake(agent, 20_000 * USDC)
    agents.requestUnbond(15_000 * USDC, sender=agent)  # 15,000 bonded + 15,000 unbonding
    tx = desk.rebalance_after_cooldown([6_000, 0, 0])
    due = agents.decisionRecord(tx.return_value).dueAt
    desk.at(due - 60)
    desk.set_price("tbill", CRASH)
    shortfall = (1_200 - 50) * WAD * NAV // (BPS * WAD)
    assert shortfall == 115_000 * USDC
    assert tuple(agents.previewEvaluation(0)) == (-1_200 * WAD, 3_000 * USDC, 0)
    desk.set_param("agent.maxSlashBps", 2_500)  # governance changes the cap before evaluation
    assert model_cap(15_000 * USDC, 15_000 * USDC, 1_000) == 3_000 * USDC
    tx = desk.evaluate(0)
    assert opened(desk, tx)["amount"] == 3_000 * USDC  # the decision's own cap, not the new one


# ------------------------------------------------------------------ execution


def test_execute_takes_stake_then_unbonding_never_more_than_both(desk):
    """Two slashes of the whole bond (maxSlashBps 100 %): the first takes 10,000 of stake and
    20,000 of unbonding stake; the second finds nothing left and takes 0."""
    agents, agent, keeper = desk.agents, desk.allocator, desk.keeper
    desk.set_param("agent.maxSlashBps", BPS)
    desk.add_stake(agent, 20_000 * USDC)
    agents.requestUnbond(20_000 * USDC, sender=agent)
    assert bond_of(desk, agent) == (10_000 * USDC, 20_000 * USDC)
    first = desk.rebalance_after_cooldown([6_000, 0, 0])  # into tbill
    desk.rebalance_after_cooldown([6_000, 2_000, 0])  # into gold
    desk.at(first.timestamp + EVAL_WINDOW - 60)
    desk.set_price("tbill", CRASH)
    desk.set_price("gold", 1_600 * 10**8)  # -20 %
    s0 = opened(desk, desk.evaluate(0))
    s1 = opened(desk, desk.evaluate(1))
    # 1,150 and 350 bps beyond tolerance of ~1,000,000: both above the whole bond.
    assert s0["amount"] == s1["amount"] == 30_000 * USDC
    assert sorted(agents.pendingSlashes()) == [0, 1]

    registry_balance = desk.system.asset.balanceOf(agents)
    desk.at(s0["vetoEndsAt"])
    total = desk.vault.totalAssets()
    tx = agents.executeSlash(0, sender=keeper)
    assert tx.return_value == 30_000 * USDC
    assert only_event(tx, agents.SlashExecuted) == {"slashId": 0, "agent": agent.address,
                                                    "amount": 30_000 * USDC}  # fmt: skip
    assert bond_of(desk, agent) == (0, 0)
    assert tuple(agents.totals()) == (MIN_STAKE, 0)  # only the rival's bond is left
    assert desk.vault.totalAssets() == total + 30_000 * USDC
    assert desk.system.asset.balanceOf(agents) == registry_balance - 30_000 * USDC

    desk.at(s1["vetoEndsAt"])
    tx = agents.executeSlash(1, sender=keeper)
    assert tx.return_value == 0
    assert only_event(tx, agents.SlashExecuted)["amount"] == 0
    assert events(tx, desk.vault.Donated) == []
    assert agents.slashInfo(1).status == SLASH_STATUS["Executed"]
    assert agents.agentInfo(agent).slashed == agents.totalSlashed() == 30_000 * USDC
    assert list(agents.pendingSlashes()) == []
    assert_reverts(agents, "withdrawUnbonded", sender=agent, error="NothingToWithdraw")


def test_a_slash_below_the_minimum_deactivates_the_agent(desk):
    agents, agent = desk.agents, desk.allocator
    tx = bad_decision(desk)
    assert not agents.isActive(agent)  # opened: paused, the pending slash counts as gone
    desk.at(opened(desk, tx)["vetoEndsAt"])
    agents.executeSlash(0, sender=desk.keeper)
    info = agents.agentInfo(agent)
    assert (info.stake, info.bondedSince) == (MIN_STAKE - 1_000 * USDC, 0)
    assert not agents.isActive(agent) and agents.activeFrom(agent) == 0
    assert_reverts(desk.vault, "rebalance", [1_000, 0, 0], b"\x11" * 32, "", sender=agent,
                   error="NotActiveAgent", caller=agent)  # fmt: skip
    desk.add_stake(agent, 1_000 * USDC)  # back at the minimum: the clock restarts
    assert agents.isActive(agent)  # activation delay 0 here
    assert agents.agentInfo(agent).bondedSince == desk.now()


@pytest.mark.parametrize("outcome", ["no slash", "vetoed", "executed"])
def test_unbonded_stake_is_locked_while_a_decision_or_slash_is_pending(desk, outcome):
    agents, agent = desk.agents, desk.allocator
    desk.add_stake(agent, 20_000 * USDC)
    unbond = agents.requestUnbond(20_000 * USDC, sender=agent)
    ready = unbond.timestamp + UNBONDING
    desk.at(unbond.timestamp + 10)
    decision = desk.rebalance([6_000, 0, 0])  # still bonded at the minimum: active
    due = decision.timestamp + EVAL_WINDOW
    assert ready < due
    desk.at(ready)
    assert_reverts(agents, "withdrawUnbonded", sender=agent, error="WithdrawalLocked",
                   openDecisions=1, pendingSlashes=0)  # fmt: skip
    desk.set_price("tbill", START["tbill"] if outcome == "no slash" else CRASH)
    tx = desk.evaluate(0, due)

    balance = desk.system.asset.balanceOf(agent)
    if outcome == "no slash":
        assert events(tx, agents.SlashOpened) == []
    else:
        veto_ends = opened(desk, tx)["vetoEndsAt"]
        assert_reverts(agents, "withdrawUnbonded", sender=agent, error="WithdrawalLocked",
                       openDecisions=0, pendingSlashes=1)  # fmt: skip
        if outcome == "vetoed":
            desk.at(veto_ends - 1)
            agents.vetoSlash(0, sender=desk.guardian)
        else:
            desk.at(veto_ends)
            agents.executeSlash(0, sender=desk.keeper)
            assert bond_of(desk, agent) == (MIN_STAKE - 3_000 * USDC, 20_000 * USDC)
    tx = agents.withdrawUnbonded(sender=agent)
    assert tx.return_value == 20_000 * USDC  # a slash takes bonded stake first
    assert desk.system.asset.balanceOf(agent) == balance + 20_000 * USDC


# ------------------------------------------------------------------ veto


def test_only_the_vaults_guardian_vetoes(desk):
    agents = desk.agents
    veto_ends = opened(desk, bad_decision(desk))["vetoEndsAt"]
    for caller in (desk.keeper, desk.governance, desk.allocator, desk.rival):
        assert_reverts(agents, "vetoSlash", 0, sender=caller, error="NotGuardian", caller=caller)
    desk.at(veto_ends - 1)  # the last second of the window
    tx = agents.vetoSlash(0, sender=desk.guardian)
    assert only_event(tx, agents.SlashVetoed) == {"slashId": 0, "by": desk.guardian.address}
    s = agents.slashInfo(0)
    assert (s.status, s.amount) == (SLASH_STATUS["Vetoed"], 1_000 * USDC)
    assert list(agents.pendingSlashes()) == []
    assert agents.agentInfo(desk.allocator).pendingSlashes == 0
    for method, sender in (("vetoSlash", desk.guardian), ("executeSlash", desk.keeper)):
        assert_reverts(agents, method, 0, sender=sender, error="SlashNotPending", slashId=0,
                       status=SLASH_STATUS["Vetoed"])  # fmt: skip
    desk.mine_at(veto_ends)
    assert_reverts(agents, "executeSlash", 0, sender=desk.keeper, error="SlashNotPending")
    assert bond_of(desk, desk.allocator) == (MIN_STAKE, 0)
    assert agents.totalSlashed() == 0


def test_veto_strictly_before_the_end_execute_from_the_end(desk):
    agents = desk.agents
    tx = bad_decision(desk)
    veto_ends = opened(desk, tx)["vetoEndsAt"]
    assert veto_ends == tx.timestamp + VETO_WINDOW
    desk.set_param("agent.vetoWindow", DAY)  # fixed when the slash opened: no effect
    assert agents.slashInfo(0).vetoEndsAt == veto_ends
    desk.at(veto_ends - 1)
    assert_reverts(agents, "executeSlash", 0, sender=desk.keeper, error="VetoWindowOpen",
                   slashId=0, vetoEndsAt=veto_ends)  # fmt: skip
    desk.at(veto_ends)
    assert_reverts(agents, "vetoSlash", 0, sender=desk.guardian, error="VetoWindowOver",
                   slashId=0, vetoEndsAt=veto_ends)  # fmt: skip
    tx = agents.executeSlash(0, sender=desk.keeper)  # anyone
    assert tx.timestamp == veto_ends
    assert agents.slashInfo(0).status == SLASH_STATUS["Executed"]
    for method, sender in (("vetoSlash", desk.guardian), ("executeSlash", desk.keeper)):
        assert_reverts(agents, method, 0, sender=sender, error="SlashNotPending", slashId=0,
                       status=SLASH_STATUS["Executed"])  # fmt: skip


def test_unknown_slashes(desk):
    agents = desk.agents
    for slash_id in (0, 1, 2**256 - 1):
        assert_reverts(agents, "vetoSlash", slash_id, sender=desk.guardian,
                       error="UnknownSlash", slashId=slash_id)  # fmt: skip
        assert_reverts(agents, "executeSlash", slash_id, sender=desk.keeper,
                       error="UnknownSlash", slashId=slash_id)  # fmt: skip
        assert_reverts(agents, "slashInfo", slash_id, sender=desk.keeper,
                       error="UnknownSlash", slashId=slash_id)  # fmt: skip
    bad_decision(desk)
    assert_reverts(agents, "executeSlash", 1, sender=desk.keeper, error="UnknownSlash",
                   slashId=1)  # fmt: skip


def test_pending_slashes_are_listed_until_vetoed_or_executed(desk):
    """Three bad decisions (allocator, rival, allocator), each into a sleeve that falls 20 %."""
    agents, allocator, rival = desk.agents, desk.allocator, desk.rival
    d0 = desk.rebalance_after_cooldown([2_000, 0, 0])
    desk.rebalance_after_cooldown([2_000, 2_000, 0], agent=rival)
    desk.rebalance_after_cooldown([2_000, 2_000, 1_000])
    desk.at(d0.timestamp + EVAL_WINDOW - 60)
    desk.set_price("tbill", CRASH)
    desk.set_price("gold", 1_600 * 10**8)
    desk.set_price("invoices", 80_000_000)
    slashes = [opened(desk, desk.evaluate(i)) for i in range(3)]
    assert [(s["slashId"], s["agent"], s["decisionId"]) for s in slashes] == [
        (0, allocator.address, 0), (1, rival.address, 1), (2, allocator.address, 2),
    ]  # fmt: skip
    assert sorted(agents.pendingSlashes()) == [0, 1, 2]
    assert agents.agentInfo(allocator).pendingSlashes == 2
    assert agents.agentInfo(rival).pendingSlashes == 1

    desk.at(slashes[0]["vetoEndsAt"] - 1)
    agents.vetoSlash(0, sender=desk.guardian)
    assert sorted(agents.pendingSlashes()) == [1, 2]
    desk.at(slashes[2]["vetoEndsAt"])
    agents.executeSlash(2, sender=desk.keeper)
    assert list(agents.pendingSlashes()) == [1]
    assert agents.agentInfo(allocator).pendingSlashes == 0
    agents.executeSlash(1, sender=desk.keeper)
    assert list(agents.pendingSlashes()) == []
    assert agents.agentInfo(rival).pendingSlashes == 0
    assert agents.slashCount() == 3
    # 200 bps into a sleeve down 20 %: 400 - 50 bps of ~1,000,000, capped at 1,000 each.
    assert agents.totalSlashed() == slashes[1]["amount"] + slashes[2]["amount"] == 2_000 * USDC


# ------------------------------------------------------------------ donation to the depositors


@pytest.mark.parametrize("unlock_period", [0, 7 * DAY])
def test_execution_donates_exactly_the_amount_and_the_share_price_never_falls(desk, unlock_period):
    """The slash is donated: with `vault.unlockPeriod` 0 it is in the share price at once;
    with a period it is locked first and unlocks linearly into the price, which never falls."""
    agents, vault = desk.agents, desk.vault
    desk.set_param("vault.unlockPeriod", unlock_period)
    veto_ends = opened(desk, bad_decision(desk))["vetoEndsAt"]
    desk.at(veto_ends)
    total, supply = vault.totalAssets(), vault.totalSupply()
    price = desk.share_price()
    assert price == model_to_assets(WAD, total, supply)
    depositor_value = vault.convertToAssets(desk.shares_of(desk.depositor))
    tx = agents.executeSlash(0, sender=desk.keeper)
    amount = 1_000 * USDC
    assert tx.return_value == amount
    end = tx.timestamp + unlock_period
    assert only_event(tx, vault.Donated) == {
        "from": agents.address, "assets": amount, "locked": amount, "lockedUntil": end,
    }  # fmt: skip
    assert vault.totalSupply() == supply
    shares = desk.shares_of(desk.depositor)
    if unlock_period:
        # Locked at first: not yet in the share price, which does not move ...
        assert tuple(vault.lockedDonations()) == (amount, end)
        assert vault.totalAssets() == total and desk.share_price() == price
        # ... then half of it unlocked halfway, and the price rose by as much.
        desk.mine_at(tx.timestamp + unlock_period // 2)
        assert tuple(vault.lockedDonations()) == (amount // 2, end)
        assert vault.totalAssets() == total + amount // 2
        assert desk.share_price() == model_to_assets(WAD, total + amount // 2, supply) >= price
        desk.mine_at(end)
    assert tuple(vault.lockedDonations())[0] == 0
    assert vault.totalAssets() == total + amount
    assert desk.share_price() == model_to_assets(WAD, total + amount, supply) > price
    assert vault.convertToAssets(shares) == model_to_assets(shares, total + amount, supply)
    assert vault.convertToAssets(shares) > depositor_value
    assert agents.totalSlashed() == agents.agentInfo(desk.allocator).slashed == amount
    assert tuple(agents.totals()) == (2 * MIN_STAKE - amount, 0)
    assert desk.system.asset.balanceOf(agents) == 2 * MIN_STAKE - amount


# ------------------------------------------------------------------ the whole story


def test_good_agent_rewarded_bad_agent_slashed_depositors_repaid(desk, chain):
    """The allocator moves 3000 bps into gold, which then falls 20 %; the rival moves 2000 bps
    into tbill, which then gains 3 %. The rival earns reputation and reward points; the
    allocator is slashed, nobody vetoes, and the depositors end up richer by exactly the slash
    than they would have been without it."""
    agents, vault, allocator, rival = desk.agents, desk.vault, desk.allocator, desk.rival
    bad = desk.rebalance([0, 3_000, 0])
    good = desk.rebalance_after_cooldown([2_000, 3_000, 0], agent=rival)
    assert list(vault.decision(1).oldBps)[1] == list(vault.decision(1).newBps)[1] == 3_000
    desk.at(good.timestamp + 60)
    desk.set_price("gold", 1_600 * 10**8)
    desk.set_price("tbill", 103_000_000)

    desk.at(bad.timestamp + EVAL_WINDOW)
    desk.refresh()
    tx = desk.evaluate(0)
    bad_excess = 3_000 * (-20 * WAD // 100)
    assert only_event(tx, agents.ReputationUpdated) == {
        "agent": allocator.address, "excess": bad_excess,
        "reputation": model_reputation(0, bad_excess), "rewardPoints": 0,
    }  # fmt: skip
    slash = opened(desk, tx)
    assert slash["amount"] == 1_000 * USDC  # 55,000 short, capped at 10 % of 10,000

    tx = desk.evaluate(1)
    good_excess = 2_000 * (3 * WAD // 100)
    points = good_excess * NAV // (BPS * WAD)
    assert points == 6_000 * USDC  # 60 bps of 1,000,000 added
    assert only_event(tx, agents.ReputationUpdated) == {
        "agent": rival.address, "excess": good_excess,
        "reputation": model_reputation(0, good_excess), "rewardPoints": points,
    }  # fmt: skip
    assert agents.reputation(rival) > 0 > agents.reputation(allocator)
    assert agents.roundPoints() == points

    shares = desk.shares_of(desk.depositor)
    with isolated(chain):  # the world without the slash: the guardian vetoes it
        desk.at(slash["vetoEndsAt"] - 1)
        agents.vetoSlash(slash["slashId"], sender=desk.guardian)
        desk.mine_at(slash["vetoEndsAt"])
        without = vault.totalAssets()
        value_without = vault.convertToAssets(shares)
    desk.at(slash["vetoEndsAt"])
    assert vault.totalAssets() == without
    tx = agents.executeSlash(slash["slashId"], sender=desk.keeper)
    assert only_event(tx, vault.Donated)["assets"] == 1_000 * USDC
    assert vault.totalAssets() == without + 1_000 * USDC
    supply = vault.totalSupply()
    assert value_without == model_to_assets(shares, without, supply)
    assert vault.convertToAssets(shares) == model_to_assets(shares, without + 1_000 * USDC, supply)
    # The depositor holds every share but the virtual ones: all of the slash but dust.
    assert 1_000 * USDC - 1 <= vault.convertToAssets(shares) - value_without <= 1_000 * USDC
    assert not agents.isActive(allocator) and agents.isActive(rival)


# ------------------------------------------------------------------ property (last: its
# module fixture builds on the module's system)


@given(
    shocks=st.tuples(*[st.integers(-5_000, 3_000)] * 3),
    tolerance=st.integers(0, 500),
    max_slash=st.integers(0, BPS),
    unbond=st.integers(0, 50_000),
)
@settings(max_examples=25)
def test_a_slash_never_exceeds_the_cap(decided, chain, shocks, tolerance, max_slash, unbond):
    """Any price shocks, tolerance, cap and unbonding: the slash opened is the documented
    min(shortfall, cap) and executing it takes exactly that, stake first."""
    desk = decided
    agents, agent = desk.agents, desk.allocator
    with isolated(chain):
        desk.set_param("agent.toleranceBps", tolerance)  # the rules of the decision's day
        desk.set_param("agent.maxSlashBps", max_slash)
        decision = desk.rebalance([3_000, 2_000, 1_000])
        if unbond:
            agents.requestUnbond(unbond * USDC, sender=agent)
        desk.mine_at(decision.timestamp + EVAL_WINDOW)
        stake, unbonding = bond_of(desk, agent)
        ends = []
        for name, shock in zip(NAMES, shocks, strict=True):
            answer = START[name] * (BPS + shock) // BPS
            desk.set_price(name, answer)
            ends.append(wad_price(answer))
        d = desk.vault.decision(decision.return_value)
        excess = model_excess(d.oldBps, d.newBps, d.startIndex, ends)
        excess -= model_cost(d.navBefore, d.navAfter)  # its own trading cost
        cap = model_cap(stake, unbonding, max_slash)
        expected = model_slash(excess, tolerance, d.navBefore, stake, unbonding, max_slash)
        desk.system.confirm_moves()  # a shock beyond the band is judged once it is confirmed
        tx = agents.evaluate(decision.return_value, sender=desk.keeper)
        slash = only_event(tx, agents.Evaluated)["slashAmount"]
        assert slash == expected <= cap
        assert only_event(tx, agents.ReputationUpdated)["rewardPoints"] == model_points(
            excess, d.navBefore
        )
        if slash == 0:
            assert events(tx, agents.SlashOpened) == []
            return
        desk.at(opened(desk, tx)["vetoEndsAt"])
        total, price = desk.vault.totalAssets(), desk.share_price()
        assert agents.executeSlash(0, sender=desk.keeper).return_value == slash
        assert desk.share_price() >= price
        from_stake = min(slash, stake)
        assert bond_of(desk, agent) == (stake - from_stake, unbonding - (slash - from_stake))
        assert desk.vault.totalAssets() == total + slash


@pytest.fixture(scope="module")
def decided(desk):
    """The allocator bonds 50,000; each example then decides [3000, 2000, 1000] from idle."""
    desk.add_stake(desk.allocator, 40_000 * USDC)
    return desk
