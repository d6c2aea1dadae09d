"""A third review of the agents' economics: bonds, slashes, evaluations and the reward pot, as an
economic attacker and as an honest agent operator.

1. Rewards stuck after a shutdown (fixed). Each performance fee closes the open reward round;
   nothing else did. After the vault's `shutdown` its capital goes back to idle (anyone may
   `unwind`), its price stops rising and no fee is taken again, while the decisions made before
   the shutdown are still evaluated over the next `agent.evalWindow`: their points sat in an
   open round no fee would close. An honest agent whose week of gold (+5,050 of value added) was
   evaluated after the last fee was paid nothing, and the 100.6 shares the registry had carried
   for the agents stayed in it, nobody's, for good. The defence (IAgentRegistry, "Rewards"):
   after a shutdown anyone may `closeRound()`, which closes the open round as a fee would, with
   the carried pot alone (`min(pot, convertToShares(roundPoints))`, the rest still carried);
   `NotShutdown` before, `NoRoundPoints` with nothing to pay, and nothing moves then.

2. A slash executed after a shutdown left locked in the vault, nobody's (fixed). The guardian
   shuts the vault down while a rogue agent's slash waits out its veto window; the slash then
   executes and, like any donation, unlocked over `vault.unlockPeriod`, redemptions being paid
   without what is still locked. The only holder, leaving at once, got 940,059.51 of 950,000;
   its shares burned, 9,940.49 stayed in the vault with no share to own it, and no deposit can
   come after a shutdown to ever claim it. The defence (IRWAVault.shutdown): after a shutdown
   nothing is locked (nobody can enter to snipe a donation then), so the leavers are paid it.

3. Bad input (checked, sound): zero amounts, unknown agents, decisions and slashes, double
   evaluations, executions, vetoes and claims each revert with the registry's custom error (no
   panic, no bare revert) and leave every balance and total as it was.

4. Conservation under any sequence (checked, sound): two agents rebalancing, prices moving, fee
   strikes, evaluations, vetoes, slash executions, unbonds, withdrawals and claims, as hypothesis
   draws them, a day at a time. After every day, from the transactions' own events: the
   registry's vault shares are exactly the agents' part of every fee less every claim; what it
   owes (every agent's `claimableRewards` and the carried pot) is at most what it holds and at
   least that less one share unit per agent per closed round (the documented rounding dust,
   nothing leaks); the bonds balance (Σ staked == bonded + unbonding + slashed + withdrawn, the
   asset held == bonded + unbonding); and every slashed unit reached the vault as a donation.
"""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.agent_support import build_desk, events, only_event
from tests.vault_support import DAY, USDC, assert_reverts, isolated, revert_of

FEE_BPS = 1_000
TICKET = 1 * USDC  # the deposit each fee strike settles
GOLD_DAILY = 50  # bps a day: gold rises while the honest agent holds it


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    desk = build_desk(project, accounts, chain)
    desk.set_param("vault.performanceFeeBps", FEE_BPS)
    return desk


def fee_strike(desk):
    """The day's NAV strike (a small deposit settled at prices published after it), a day after
    the fee's sample so it may charge the day's gain."""
    desk.ready_fee_strike(TICKET)
    return desk.vault.strike(sender=desk.keeper)


def exit_strike(desk, fraction: int = 4):
    """After a shutdown deposits are refused: the depositor asks to leave with 1/`fraction` of
    its shares, prices are published after the request, and the keeper strikes."""
    vault, depositor = desk.vault, desk.depositor
    shares = vault.balanceOf(depositor) // fraction
    vault.requestRedeem(shares, depositor, depositor, sender=depositor)
    desk.system.publish_prices()
    return vault.strike(sender=desk.keeper)


# ------------------------------------------------------------- 1. rewards stuck after a shutdown


def test_after_a_shutdown_the_points_no_fee_will_close_are_paid(desk, chain):
    """An honest agent buys gold, gold rises 0.5 % a day, a fee every day carries the agents'
    part (no points yet). The guardian shuts the vault down on day 5, anyone unwinds gold to
    idle, the exits' strikes take one last fee (the gain that stood) and then none; the gold
    decision is evaluated (day 7) between them: its value added waits in a round no fee closes.
    `closeRound` pays it from the carried pot, capped at what the points are worth."""
    vault, agents, honest, anyone = desk.vault, desk.agents, desk.allocator, desk.rival
    with isolated(chain):
        start = desk.now() + 60
        desk.at(start)
        desk.refresh()
        decision = desk.rebalance([0, 2_000, 0], honest).return_value
        for d in range(1, 6):
            desk.at(max(start + d * DAY, desk.now() + 1))
            desk.move("gold", GOLD_DAILY)
            desk.refresh()
            fee_strike(desk)
        carried = agents.undistributedRewards()
        assert carried > 0 and agents.roundPoints() == 0  # fees carried, nobody earned yet

        vault.shutdown(sender=desk.guardian)
        gold = desk.system.sleeve("gold").sleeve
        desk.refresh()
        vault.unwind(gold, gold.totalAssets(), sender=anyone)
        assert list(vault.currentBps()) == [0, 0, 0]
        fees_after = []
        for d in range(4):
            desk.at(desk.now() + DAY)
            if d == 2:
                netted = only_event(desk.evaluate(decision), agents.ValueNetted)
            fees_after.append(events(exit_strike(desk), agents.FeeReceived))
        # The last gain that stood was charged at the first exit's strike (no points then:
        # carried); no fee after the evaluation, so its points would wait forever.
        assert fees_after[0] and not any(fees_after[2:])
        points, pot = agents.roundPoints(), agents.undistributedRewards()
        assert points == netted["value"] == netted["pointsAdded"] > 5_000 * USDC
        assert pot > carried and agents.claimableRewards(honest) == 0
        assert vault.balanceOf(agents) == pot

        # The defence: anyone closes the open round once the vault is shut down.
        round_ = agents.rewardRound()
        tx = agents.closeRound(sender=anyone)
        closed = only_event(tx, agents.RoundClosed)
        paid = min(pot, vault.convertToShares(points, block_id=tx.block_number))
        assert closed == {"round": round_, "paid": paid, "points": points}
        assert agents.rewardRound() == round_ + 1 and agents.roundPoints() == 0
        assert agents.undistributedRewards() == pot - paid
        assert agents.claimableRewards(honest) == paid  # the one agent of the round: all of it
        # Nothing more to close: refused, nothing moves.
        assert_reverts(agents, "closeRound", sender=anyone, error="NoRoundPoints")
        assert agents.claimRewards(sender=honest).return_value == paid
        assert vault.balanceOf(honest) == paid
        assert vault.balanceOf(agents) == pot - paid == agents.undistributedRewards()


# ---------------------------------------------------------- 2. a slash left locked after a shutdown


def test_a_slash_executed_after_a_shutdown_reaches_the_holders_who_leave(desk, chain):
    """The guardian shuts the vault down while a rogue agent's slash waits out its veto window;
    the slash executes after the shutdown and is donated. Deposits are refused from the
    shutdown on, so nobody can enter to snipe it: the holders' exits pay it to them at once.
    Under a week's unlock the only holder, leaving at once, got all but the 9,940.49 still
    locked; its shares burned, that part stayed in the vault with nobody to own it."""
    vault, agents, agent, holder = desk.vault, desk.agents, desk.allocator, desk.depositor
    with isolated(chain):
        desk.set_param("vault.unlockPeriod", 7 * DAY)
        desk.add_stake(agent, 90_000 * USDC)  # 100,000 bonded: a 10,000 cap
        decision = desk.rebalance_after_cooldown([6_000, 0, 0], agent).return_value
        desk.at(agents.decisionRecord(decision).dueAt)
        desk.move("tbill", -1_000)  # tbill -10 %: a slash at the cap
        slash = only_event(desk.evaluate(decision), agents.SlashOpened)
        assert slash["amount"] == 10_000 * USDC

        vault.shutdown(sender=desk.guardian)
        tbill = desk.system.sleeve("tbill").sleeve
        vault.unwind(tbill, tbill.totalAssets(), sender=desk.keeper)
        desk.at(slash["vetoEndsAt"])
        nav = vault.totalAssets()
        agents.executeSlash(slash["slashId"], sender=desk.keeper)
        assert vault.lockedDonations()[0] == 0  # nothing held back after a shutdown
        assert vault.totalAssets() == nav + slash["amount"]

        before = desk.system.asset.balanceOf(holder)
        desk.system.redeem(holder, vault.balanceOf(holder))
        got = desk.system.asset.balanceOf(holder) - before
        assert vault.totalSupply() == 0
        # The holder that bore the loss gets the slash; the vault keeps the rounding only.
        assert got >= nav + slash["amount"] - USDC
        assert desk.system.asset.balanceOf(vault) < USDC


# ------------------------------------------------------------------ 3. bad input


def test_bad_input_is_a_custom_error_and_moves_nothing(desk, accounts, chain):
    vault, agents, agent = desk.vault, desk.agents, desk.allocator
    stranger, guardian = accounts[9], desk.guardian
    with isolated(chain):
        decision = desk.rebalance_after_cooldown([3_000, 0, 0]).return_value
        desk.at(agents.decisionRecord(decision).dueAt)
        desk.move("tbill", -500)  # a slash to execute and to veto twice
        tx = desk.evaluate(decision)
        slash_id = only_event(tx, agents.SlashOpened)["slashId"]

        def snapshot() -> tuple:
            return (
                desk.system.asset.balanceOf(agents), vault.balanceOf(agents), agents.totals(),
                agents.totalSlashed(), agents.undistributedRewards(), agents.rewardRound(),
                tuple(agents.agentInfo(agent)), tuple(agents.slashInfo(slash_id)),
                agents.slashCount(), list(agents.pendingSlashes()), vault.totalAssets(),
            )  # fmt: skip

        before = snapshot()
        refusals = [
            ("stake", (0,), agent, "ZeroAmount"),
            ("requestUnbond", (0,), agent, "ZeroAmount"),
            ("requestUnbond", (10**12 * USDC,), agent, "InsufficientStake"),
            ("stake", (1,), stranger, "NotRegistered"),
            ("requestUnbond", (1,), stranger, "NotRegistered"),
            ("withdrawUnbonded", (), stranger, "NotRegistered"),
            ("withdrawUnbonded", (), agent, "NothingToWithdraw"),
            ("updateMetadata", ("ipfs://x",), stranger, "NotRegistered"),
            ("register", ("",), stranger, "EmptyMetadataURI"),
            ("register", ("ipfs://again",), agent, "AlreadyRegistered"),
            ("claimRewards", (), stranger, "NoRewards"),
            ("evaluate", (decision,), stranger, "AlreadyEvaluated"),
            ("evaluate", (10**9,), stranger, "UnknownDecision"),
            ("executeSlash", (10**9,), stranger, "UnknownSlash"),
            ("executeSlash", (slash_id,), stranger, "VetoWindowOpen"),
            ("vetoSlash", (slash_id,), stranger, "NotGuardian"),
            ("vetoSlash", (10**9,), guardian, "UnknownSlash"),
            ("onDecision", (stranger, 7), stranger, "NotVault"),
            ("onFee", (1,), stranger, "NotVault"),
            ("closeRound", (), stranger, "NotShutdown"),
        ]
        for method, args, sender, error in refusals:
            assert_reverts(agents, method, *args, sender=sender, error=error)
        for view, args, error in (
            ("previewEvaluation", (10**9,), "UnknownDecision"),
            ("slashInfo", (10**9,), "UnknownSlash"),
        ):
            assert_reverts(agents, view, *args, sender=stranger, error=error)
        assert snapshot() == before
        # Done once, refused the second time: an execution, then a veto of it and another one.
        desk.at(agents.slashInfo(slash_id).vetoEndsAt)
        agents.executeSlash(slash_id, sender=stranger)
        after = snapshot()
        assert after[3] == before[3] + agents.slashInfo(slash_id).amount
        for method, sender in (("executeSlash", stranger), ("vetoSlash", guardian)):
            assert_reverts(agents, method, slash_id, sender=sender, error="SlashNotPending")
        assert snapshot() == after


# ------------------------------------------------------------------ 4. conservation (last: its
# module fixture bonds more and shortens the windows)

TARGETS = (
    [0, 0, 0],
    [3_000, 0, 0],
    [0, 2_000, 0],
    [2_000, 2_000, 1_000],
    [4_000, 1_000, 0],
    [1_000, 3_000, 2_000],
)
# One day: gold's move (bps), who decides (0 allocator, 1 rival, 2 nobody) and to which
# targets, whether the guardian vetoes the slashes it can, who claims, who unbonds how much
# (% of its stake; 0: nobody) and who tries to withdraw.
DAY_STEP = st.tuples(
    st.integers(-300, 300),
    st.integers(0, 2),
    st.integers(0, len(TARGETS) - 1),
    st.booleans(),
    st.integers(0, 2),
    st.integers(0, 1),
    st.sampled_from((0, 0, 10, 60)),
    st.integers(0, 2),
)


class Ledger:
    """What the transactions' events say moved: fee shares in, claims out, stake in and out,
    slashes executed and the registry's donations."""

    def __init__(self, desk):
        self.desk = desk
        self.to_agents = self.claimed = self.rounds = 0
        self.staked = self.withdrawn = self.slashed = self.donated = 0
        agents, vault = desk.agents, desk.vault
        self.shares0 = vault.balanceOf(agents)
        self.undistributed0 = agents.undistributedRewards()
        staked, unbonding = agents.totals()
        self.bonds0 = staked + unbonding
        self.slashed0 = agents.totalSlashed()

    def record(self, tx) -> None:
        agents, vault = self.desk.agents, self.desk.vault
        for fee in events(tx, agents.FeeReceived):
            self.to_agents += fee["toAgents"]
        self.claimed += sum(e["shares"] for e in events(tx, agents.RewardsClaimed))
        self.staked += sum(e["amount"] for e in events(tx, agents.Staked))
        self.withdrawn += sum(e["amount"] for e in events(tx, agents.UnbondedWithdrawn))
        self.slashed += sum(e["amount"] for e in events(tx, agents.SlashExecuted))
        self.donated += sum(
            e["assets"] for e in events(tx, vault.Donated) if e["from"] == agents.address
        )
        self.rounds = agents.rewardRound()

    def check(self) -> None:
        desk = self.desk
        agents, vault, asset = desk.agents, desk.vault, desk.system.asset
        held = vault.balanceOf(agents)
        assert held == self.shares0 + self.to_agents - self.claimed
        owed = agents.undistributedRewards() + sum(
            agents.claimableRewards(a) for a in (desk.allocator, desk.rival)
        )
        # Owed never above what is held; what is held but owed to nobody is the rounding dust
        # of the rounds closed here (under one share unit per agent each) and nothing else.
        assert owed <= held <= owed + 2 * self.rounds + (self.shares0 - self.undistributed0)
        staked, unbonding = agents.totals()
        slashed = agents.totalSlashed() - self.slashed0
        assert asset.balanceOf(agents) == staked + unbonding
        assert staked + unbonding + slashed + self.withdrawn == self.bonds0 + self.staked
        assert slashed == self.slashed == self.donated


def run_day(desk, ledger: Ledger, step) -> None:
    """A day: prices move and publish, an agent may decide, the day's fee strike, the keeper
    evaluates what is due and executes (or the guardian vetoes) the slashes it can, agents claim,
    unbond and withdraw. The ledger is checked at the end of the day."""
    gold, decider, target, veto, claimer, unbonder, percent, withdrawer = step
    vault, agents = desk.vault, desk.agents
    agents_ = (desk.allocator, desk.rival)

    done = ledger.record

    desk.at(max(desk.now() + DAY, vault.nextRebalanceAt()))
    desk.move("gold", gold)
    desk.move("tbill", 3)
    if decider < 2 and agents.isActive(agents_[decider]):
        who = agents_[decider]
        if (
            revert_of(vault, "rebalance", TARGETS[target], b"\x11" * 32, "ipfs://r", sender=who)
            is None
        ):
            done(desk.rebalance(TARGETS[target], who))
    done(fee_strike(desk))  # it confirms a move beyond the band first, as the settler does
    for decision_id in agents.decisionsDue(20):
        done(agents.evaluate(decision_id, sender=desk.keeper))
    for slash_id in agents.pendingSlashes():
        ends = agents.slashInfo(slash_id).vetoEndsAt
        if veto and desk.now() + 1 < ends:
            done(agents.vetoSlash(slash_id, sender=desk.guardian))
        elif desk.now() + 1 >= ends:
            done(agents.executeSlash(slash_id, sender=desk.keeper))
    for who in agents_[:claimer]:
        if agents.claimableRewards(who):
            done(agents.claimRewards(sender=who))
        else:
            assert_reverts(agents, "claimRewards", sender=who, error="NoRewards")
    amount = agents.agentInfo(agents_[unbonder]).stake * percent // 100
    if amount:
        done(agents.requestUnbond(amount, sender=agents_[unbonder]))
    for who in agents_[:withdrawer]:
        if revert_of(agents, "withdrawUnbonded", sender=who) is None:
            done(agents.withdrawUnbonded(sender=who))
    ledger.check()


@pytest.fixture(scope="module")
def bonded(desk):
    """Both agents bonded above the minimum (a slash need not deactivate them at once); windows
    short enough for a few steps of days to reach evaluations, slashes and withdrawals."""
    for agent in (desk.allocator, desk.rival):
        desk.add_stake(agent, 40_000 * USDC)
    windows = {
        "agent.evalWindow": 2 * DAY,
        "agent.vetoWindow": DAY,
        "agent.unbondingPeriod": 2 * DAY,
    }
    for name, value in windows.items():
        desk.set_param(name, value)
    return desk


@given(days=st.lists(DAY_STEP, min_size=4, max_size=7))
@settings(max_examples=max(6, settings.default.max_examples // 6), deadline=None)
def test_bonds_and_the_reward_pot_are_conserved_under_any_sequence(bonded, chain, days):
    desk = bonded
    with isolated(chain):
        desk.at(desk.now() + 60)
        desk.refresh()
        ledger = Ledger(desk)
        # A first decision, so evaluations, slashes and rewards have something to act on.
        ledger.record(desk.rebalance_after_cooldown([0, 4_000, 0], desk.allocator))
        for step in days:
            run_day(desk, ledger, step)
        event(
            f"slashed {ledger.slashed > 0}, rounds {ledger.rounds > 0}, "
            f"claimed {ledger.claimed > 0}, withdrawn {ledger.withdrawn > 0}"
        )
