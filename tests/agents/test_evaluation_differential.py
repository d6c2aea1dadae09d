"""keepers/math/evaluation.py against the contracts on anvil: same inputs, same numbers, to the wei.

One module-scoped system (`deploy_vault_system`: three sleeves, the AgentRegistry, `allocator`
bonded and active, plus a second agent, `rival`; 1,000,000 deposited and spread over the
sleeves), and for each hypothesis example, in its own chain snapshot, a story with random
parameters (tolerance, maximum slash, performance fee, agents' share, evaluation window), stake,
targets and price moves:

1. two decisions a cooldown apart, prices moving before each (`start`, by the rival or the
   allocator, then `targets`, by the allocator), each after a NAV strike (the keeper requests a
   small deposit, the moved prices are published after it, anyone strikes): each strike's
   performance fee is predicted (`performance_fee`, from the strike's NAV — idle plus each
   sleeve's low `strikeValuation` —, the supply, the stored high-water mark and fee sample, and
   the strike's time: the fee is charged only on gains that stood a day) and compared with
   `PerformanceFeeTaken`, the stored mark and sample, and the registry's `FeeReceived` and reward
   rounds (`split_fee`, capped at `convert_to_shares` of the round's points on the supply and
   `totalAssets()` in the strike's block); each rebalance takes no fee, and the recorded
   decision is checked against what was read before;
2. someone may donate (the donation lifts the stored mark at once, `lifted_mark`), prices move,
   time jumps past both decisions' `agent.evalWindow` (feeds republished so no price is
   stale), the allocator may start unbonding part of its stake;
3. both decisions are evaluated: `assess` vs `previewEvaluation` (the second decision, when
   made inside the first one's window, ends the part of the first's moves it reversed), then
   `evaluate`'s `Evaluated`, `ReputationUpdated`, `ValueNetted` and `SlashOpened` events,
   `reputation()`, `roundPointsOf` and `rewardDebt` (`net_value`: when the allocator made both,
   the second evaluation updates a reputation the first one moved and nets against its points);
   the slashes may be executed after their veto window (donations: they lift the mark too, and
   the next fee must ignore them);
4. prices move again, a strike sees them and, a day later, another takes the fee on all of that
   (the first of the two that takes a fee closes the reward round the evaluations earned points
   in): each agent's `claimableRewards` is its `reward_due`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import ape
import pytest
from eth_utils import keccak
from hypothesis import event, given, reject, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from keepers.math import (
    BPS,
    Bond,
    Evaluation,
    EvaluationRules,
    FeeAccrual,
    FeeSample,
    Netting,
    RewardAccount,
    RewardRounds,
    RewardSplit,
    VaultSnapshot,
    assess,
    convert_to_shares,
    entered_mark,
    initial_high_water_mark,
    lifted_mark,
    net_value,
    performance_fee,
    reputation_after,
    reward_due,
    split_fee,
)
from tests.agent_support import evidence_of
from tests.vault_support import (
    DAY,
    FEE_HOLD,
    FEED_DECIMALS,
    HIGH_WATER_MARK_SLOT,
    USDC,
    VaultSystem,
    bond_agent,
    deploy_vault_system,
    faucet,
    fee_sample,
    isolated,
    next_window,
    revert_of,
    settled,
)

# Chain examples are slow: 20 by default (the file runs in a couple of minutes), ten times as
# many under HYPOTHESIS_PROFILE=deep.
SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else 1
DEPOSIT = 1_000_000 * USDC
DONATIONS = 100_000 * USDC  # alice's budget for donations
INITIAL = (3_000, 2_000, 1_500)  # the weights every example starts from
CAPS = (6_000, 4_000, 3_000)  # DEFAULT_SLEEVES' caps
IDLE_BUFFER = 500
FEED_TO_WAD = 10 ** (18 - FEED_DECIMALS)  # returnIndex() is the feed's answer in WAD

TICKET = 1 * USDC  # the deposit the keeper requests before each strike (a strike needs one)

# RWAVault's ERC-7201 namespace (VaultStorage.SLOT): `highWaterMark` is its 9th slot (no view
# returns it).


@dataclass
class World:
    system: VaultSystem
    rival: object  # a second agent, bonded at agent.minStake
    alice: object  # the depositor, and the donor
    keeper: object  # calls evaluate and executeSlash
    offset: int  # the vault's decimals offset

    def agent(self, address: str):
        return next(a for a in (self.system.allocator, self.rival) if a.address == address)


@pytest.fixture(scope="module")
def world(project, accounts) -> World:
    system = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    vault = system.vault
    offset = vault.decimals() - system.asset.decimals()
    # The storage slots read below are the right ones: a fresh vault's mark is documented.
    assert stored(vault, HIGH_WATER_MARK_SLOT) == initial_high_water_mark(offset) == 10**24
    alice = accounts[6]
    system.deposit(alice, DEPOSIT)
    system.fund(alice, DONATIONS + 1)  # one wei more: a donation lifts the mark it reads
    mark = stored(vault, HIGH_WATER_MARK_SLOT)
    vault.donate(1, sender=alice)
    supply = vault.totalSupply() + 10**offset
    assert stored(vault, HIGH_WATER_MARK_SLOT) == lifted_mark(mark, 1, supply) > mark
    system.rebalance(list(INITIAL))
    rival = accounts[4]
    bond_agent(system, rival)
    return World(system, rival, alice, accounts[2], offset)


def label(text: str) -> None:
    """A hypothesis event (coverage statistics), when inside a hypothesis test."""
    if currently_in_test_context():
        event(text)


def stored(contract, slot: int) -> int:
    return int.from_bytes(ape.chain.provider.get_storage(contract.address, slot), "big")


def param(system: VaultSystem, name: str) -> int:
    return system.registry.get(keccak(text=name))


def answers(system: VaultSystem) -> list[int]:
    return [s.feed.latestAnswer() for s in system.sleeves]


def publish(system: VaultSystem, moves: tuple[int, ...] = (BPS, BPS, BPS)) -> None:
    """Republish each feed's answer moved by `moves` (bps of the current answer), fresh now (at
    or after the cut-off of the last block's request window: newer than any request in it)."""
    next_window(ape.chain)
    for s, move in zip(system.sleeves, moves, strict=True):
        answer = max(s.feed.latestAnswer() * move // BPS, 1)
        s.feed.setAnswer(answer, sender=system.governance)


def wait_until(chain, timestamp: int) -> None:
    """Mine a block at `timestamp` (or now, if that is past)."""
    chain.mine(timestamp=max(timestamp, chain.pending_timestamp))


# ---------------------------------------------------------------------------------- the chain
# as keepers.math sees it


def vault_snapshot(world: World) -> VaultSnapshot:
    """The vault as a strike's fee reads it: idle plus each sleeve's low value (donations still
    locked included: the mark already rose by them), the shares, the stored mark (donations
    lift it when made: none left to add)."""
    system = world.system
    vault = system.vault
    return VaultSnapshot(
        nav=vault.idle() + sum(s.sleeve.strikeValuation()[0] for s in system.sleeves),
        total_supply=vault.totalSupply(),
        decimals_offset=world.offset,
        high_water_mark=stored(vault, HIGH_WATER_MARK_SLOT),
    )


def reward_rounds(system: VaultSystem) -> RewardRounds:
    agents = system.agents
    return RewardRounds(agents.rewardRound(), agents.roundPoints(), agents.undistributedRewards())


def evaluation_rules(system: VaultSystem, decision_id: int) -> EvaluationRules:
    """The rules a decision is judged by: those of its day, as its record keeps them (the
    registry's values then; tests/attacks/test_slash_griefing.py shows a later vote changes
    nothing)."""
    record = system.agents.decisionRecord(decision_id)
    return EvaluationRules(record.toleranceBps, record.maxSlashBps)


def bond_of(system: VaultSystem, agent) -> Bond:
    info = system.agents.agentInfo(agent)
    return Bond(info.stake, info.unbonding)


# ---------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Strike:
    fee: FeeAccrual
    split: RewardSplit | None  # None when no fee shares were minted (onFee not called)


def strike_and_check(world: World, moves: tuple[int, int, int]) -> Strike:
    """The keeper requests a small deposit, the feeds publish `moves` after it, and the keeper
    strikes: its fee and reward split equal the Python ones."""
    system = world.system
    vault, agents = system.vault, system.agents
    system.fund(world.keeper, TICKET)
    vault.requestDeposit(TICKET, world.keeper, world.keeper, sender=world.keeper)
    publish(system, moves)
    # A move beyond oracle.maxDeviationBps settles nothing until confirmed (IRWAVault): the
    # keeper confirms it first, as the settler does, and the strike prices at one NAV.
    if system.confirm_moves():
        label("a move confirmed before the strike")
    bands = [s.sleeve.strikeValuation() for s in system.sleeves]
    assert all(b[0] == b[1] and b[3] for b in bands)
    before = vault_snapshot(world)
    rounds = reward_rounds(system)
    sample = FeeSample(*fee_sample(vault))

    tx = vault.strike(sender=world.keeper)
    fee = performance_fee(before, param(system, "vault.performanceFeeBps"), sample, tx.timestamp)
    if not sample.stood(tx.timestamp):
        label("the fee sample had not stood a day")
    # The keeper's deposit lifts the mark by what it paid above it (never charged the fee on a
    # gain made before it).
    minted = settled(tx, vault)["depositShares"]
    mark = entered_mark(
        fee.high_water_mark, TICKET, minted, before.virtual_supply + fee.fee_shares + minted
    )
    taken = [
        (e.gain, e.feeAssets, e.feeShares, e.highWaterMark)
        for e in tx.events.filter(vault.PerformanceFeeTaken)
    ]
    received = [
        (e.shares, e.toAgents, e.toTreasury, e.round) for e in tx.events.filter(agents.FeeReceived)
    ]
    assert stored(vault, HIGH_WATER_MARK_SLOT) == mark
    assert FeeSample(*fee_sample(vault)) == fee.sample
    assert settled(tx, vault)["depositAssets"] == TICKET
    split = None
    if fee.taken:
        label("fee taken")
        assert taken == [(fee.gain, fee.fee, fee.fee_shares, fee.high_water_mark)]
        # A round pays at most what its points are worth at the price after the strike's mint
        # and burn: `convertToShares(roundPoints)` in the strike's own block (nothing after).
        after = tx.block_number
        points_worth = convert_to_shares(
            rounds.round_points,
            vault.totalSupply(block_id=after),
            vault.totalAssets(block_id=after),
            world.offset,
        )
        assert points_worth == vault.convertToShares(rounds.round_points, block_id=after)
        split = split_fee(
            fee.fee_shares, param(system, "agent.rewardShareBps"), rounds, points_worth
        )
        assert received == [(split.shares, split.to_agents, split.to_treasury, split.round)]
        assert reward_rounds(system) == split.rounds, (rounds, split)
        if split.closes_round:
            label("reward round closed")
            if split.carry:
                label("reward round capped at its points' worth")
            assert agents.sharesPerPoint(split.round) == split.closed.shares_per_point
    else:
        label("no fee" if fee.gain == 0 else "no fee shares on a gain")
        assert taken == [] and received == []
        assert reward_rounds(system) == rounds
    return Strike(fee, split)


def rebalance_and_check(world: World, targets, agent=None) -> int:
    """`agent` (default: the allocator) rebalances to `targets`: no fee (fees are taken at
    strikes), and the decision records what was read before it. Returns its id."""
    system = world.system
    vault, agents = system.vault, system.agents
    nav, supply = vault.totalAssets(), vault.totalSupply()
    mark = stored(vault, HIGH_WATER_MARK_SLOT)
    rounds = reward_rounds(system)
    old_bps = list(vault.currentBps())
    indices = [s.sleeve.returnIndex() for s in system.sleeves]

    agent = agent or system.allocator
    args = (list(targets), b"\x11" * 32, "ipfs://r")
    if revert_of(vault, "rebalance", *args, sender=agent) == ("NothingMoved", {}):
        # A decision moving no weight is refused (nothing recorded, the cooldown not restarted):
        # only targets at, or a bps from, the weights now reach them (the issuers here pay).
        assert max(abs(t - o) for t, o in zip(targets, old_bps, strict=True)) <= 1
        label("a decision moving nothing: refused")
        reject()
    tx = vault.rebalance(*args, sender=agent)
    assert list(tx.events.filter(vault.PerformanceFeeTaken)) == []
    assert list(tx.events.filter(agents.FeeReceived)) == []
    assert (vault.totalSupply(), stored(vault, HIGH_WATER_MARK_SLOT)) == (supply, mark)
    assert reward_rounds(system) == rounds

    # The decision records what was read before it: the evaluation's inputs.
    decision_id = vault.decisionCount() - 1
    d = vault.decision(decision_id)
    assert d.agent == agent.address
    assert d.navBefore == nav
    assert list(d.oldBps) == old_bps
    assert list(d.startIndex) == indices
    assert list(d.sleeves) == [s.sleeve.address for s in system.sleeves]
    return decision_id


def reward_account(system: VaultSystem, agent) -> RewardAccount:
    agents = system.agents
    return RewardAccount(agents.roundPointsOf(agent), agents.rewardDebt(agent))


def evaluate_and_check(world: World, decision_id: int) -> tuple[Evaluation, int | None, Netting]:
    """Evaluate `decision_id`: preview, events, its agent's reputation and reward account equal
    the Python ones. Returns the evaluation, the slash opened (or None) and the netting."""
    system = world.system
    agents = system.agents
    d = system.vault.decision(decision_id)
    agent = world.agent(d.agent)
    ends = [s.sleeve.returnIndex() for s in system.sleeves]
    assert ends == [a * FEED_TO_WAD for a in answers(system)]
    evidence = evidence_of(system.vault, agents, decision_id, ends)
    if any(m.kept_bps != m.moved_bps for m in evidence.sleeves):
        label("part of a move reversed by a later decision")
    if evidence.cost:
        label("a decision whose own trades cost the vault (navAfter < navBefore)")
    account = reward_account(system, agent)
    rules = evaluation_rules(system, decision_id)
    expected = assess(evidence, rules, bond_of(system, agent), account.debt)
    assert tuple(agents.previewEvaluation(decision_id)) == (
        expected.excess, expected.slash_amount, expected.reward_points,
    )  # fmt: skip
    netting = net_value(expected.value, account)
    assert netting.points_added == expected.reward_points

    reputation = reputation_after(agents.reputation(agent), expected.excess)
    tx = agents.evaluate(decision_id, sender=world.keeper)
    evaluated = [
        (e.decisionId, e.excessBps, e.slashAmount) for e in tx.events.filter(agents.Evaluated)
    ]
    assert evaluated == [(decision_id, expected.excess_bps, expected.slash_amount)]
    updated = [
        (e.agent, e.excess, e.reputation, e.rewardPoints)
        for e in tx.events.filter(agents.ReputationUpdated)
    ]
    assert updated == [(agent.address, expected.excess, reputation, expected.reward_points)]
    assert agents.reputation(agent) == reputation
    netted = [
        (e.agent, e.decisionId, e.value, e.pointsAdded, e.pointsWithdrawn, e.debt)
        for e in tx.events.filter(agents.ValueNetted)
    ]
    if expected.value == 0:
        assert netted == []
    else:
        assert netted == [(
            agent.address, decision_id, expected.value, netting.points_added,
            netting.points_withdrawn, netting.account.debt,
        )]  # fmt: skip
        if netting.points_withdrawn:
            label("a loss withdrew points")
        if netting.account.debt:
            label("debt carried")
    assert reward_account(system, agent) == netting.account
    opened = list(tx.events.filter(agents.SlashOpened))
    if not expected.opens_slash:
        label("points" if expected.reward_points else "no slash, no points")
        assert opened == []
        return expected, None, netting
    cap = bond_of(system, agent).slashable * rules.max_slash_bps // BPS
    label("slash capped" if expected.slash_amount == cap else "slash")
    (slash,) = opened
    assert (slash.agent, slash.decisionId, slash.amount) == (
        agent.address, decision_id, expected.slash_amount,
    )  # fmt: skip
    return expected, slash.slashId, netting


# ---------------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    tolerance_bps: int
    max_slash_bps: int
    fee_bps: int
    reward_share_bps: int
    eval_window: int
    extra_stake: int
    start: tuple[int, int, int]  # targets of the first decision
    start_by_rival: bool  # the first decision is the rival's (both agents may earn points)
    targets: tuple[int, int, int]  # targets of the second (and of the last rebalance)
    pre_move: tuple[int, int, int]  # price moves before each rebalance / evaluation, bps
    mid_move: tuple[int, int, int]
    end_move: tuple[int, int, int]
    final_move: tuple[int, int, int]  # before the last rebalance (mostly up: a fee to take)
    late: int  # seconds past the second decision's due time
    donation: int
    unbond_bps: int  # of the stake, requested after the decisions
    execute_slashes: bool


targets = st.tuples(*(st.integers(0, cap) for cap in CAPS)).filter(
    lambda t: sum(t) <= BPS - IDLE_BUFFER
)
move = st.one_of(
    st.just(BPS), st.integers(9_900, 10_100), st.integers(5_000, 15_000), st.integers(BPS, 13_000)
)
moves = st.tuples(move, move, move)
scenarios = st.builds(
    Scenario,
    tolerance_bps=st.one_of(st.integers(0, 300), st.integers(0, 10_000)),
    max_slash_bps=st.one_of(st.integers(0, 10_000), st.just(10_000)),
    fee_bps=st.one_of(st.integers(0, 5_000), st.just(2_000)),
    reward_share_bps=st.integers(0, 10_000),
    eval_window=st.one_of(st.just(7 * DAY), st.integers(0, 30 * DAY)),
    extra_stake=st.one_of(
        st.just(0), st.integers(1, 500_000 * USDC), st.integers(10**6 * USDC, 5 * 10**6 * USDC)
    ),
    start=targets,
    start_by_rival=st.booleans(),
    targets=targets,
    pre_move=moves,
    mid_move=moves,
    end_move=moves,
    final_move=st.one_of(moves, st.tuples(*[st.integers(BPS, 12_000)] * 3)),
    late=st.integers(0, 3 * DAY),
    donation=st.one_of(st.just(0), st.integers(1, DONATIONS)),
    unbond_bps=st.one_of(st.just(0), st.integers(1, BPS)),
    execute_slashes=st.booleans(),
)


@settings(max_examples=20 * SCALE)
@given(sc=scenarios)
def test_evaluation_and_fee_match_python(world, chain, sc):
    system = world.system
    vault, agents, allocator = system.vault, system.agents, system.allocator
    with isolated(chain):
        for name, value in (
            ("agent.toleranceBps", sc.tolerance_bps),
            ("agent.maxSlashBps", sc.max_slash_bps),
            ("agent.rewardShareBps", sc.reward_share_bps),
            ("agent.evalWindow", sc.eval_window),
            ("vault.performanceFeeBps", sc.fee_bps),
        ):
            system.set_param(name, value)
        if sc.extra_stake:
            faucet(system.asset, allocator, sc.extra_stake)
            system.asset.approve(agents, sc.extra_stake, sender=allocator)
            agents.stake(sc.extra_stake, sender=allocator)

        # 1. Two decisions, prices moving (and a strike taking the fee) before each.
        wait_until(chain, vault.nextRebalanceAt())
        strike_and_check(world, sc.pre_move)
        first = rebalance_and_check(world, sc.start, world.rival if sc.start_by_rival else None)
        wait_until(chain, vault.nextRebalanceAt())
        strike_and_check(world, sc.mid_move)
        second = rebalance_and_check(world, sc.targets)

        # 2. A donation, the window passes, prices move, part of the stake starts unbonding.
        # Donations lift the stored mark at once, by as much as they lift the price.
        mark = stored(vault, HIGH_WATER_MARK_SLOT)
        supply = vault.totalSupply() + 10**world.offset  # no strike before step 4: it stays
        if sc.donation:
            vault.donate(sc.donation, sender=world.alice)
            mark = lifted_mark(mark, sc.donation, supply)
        due = agents.decisionRecord(second).dueAt
        assert due == vault.decision(second).timestamp + sc.eval_window
        wait_until(chain, due + sc.late)
        publish(system, sc.end_move)
        system.confirm_moves()  # evaluations wait for a move beyond the band to be confirmed
        unbond = agents.agentInfo(allocator).stake * sc.unbond_bps // BPS
        if unbond:
            agents.requestUnbond(unbond, sender=allocator)

        # 3. Both evaluations; the slashes they open may be executed (donated to the vault).
        rounds = reward_rounds(system)
        assert rounds.round_points == 0  # nobody was evaluated in this example before
        for agent in (allocator, world.rival):
            assert reward_account(system, agent).points == 0
        slashes = []
        for decision_id in (first, second):
            before = reward_rounds(system)
            _, slash_id, netting = evaluate_and_check(world, decision_id)
            assert reward_rounds(system) == before.netted(netting)
            if slash_id is not None:
                slashes.append(slash_id)
        points = {a.address: reward_account(system, a).points for a in (allocator, world.rival)}
        assert reward_rounds(system) == rounds.earned(sum(points.values()))
        if all(points.values()):
            label("two agents earned points")
        if slashes and sc.execute_slashes:
            label("slashes executed")
            wait_until(chain, max(agents.slashInfo(i).vetoEndsAt for i in slashes))
            publish(system)
            for slash_id in slashes:
                left = bond_of(system, world.agent(agents.slashInfo(slash_id).agent)).slashable
                tx = agents.executeSlash(slash_id, sender=world.keeper)
                (executed,) = tx.events.filter(agents.SlashExecuted)
                assert executed.amount == min(agents.slashInfo(slash_id).amount, left)
                mark = lifted_mark(mark, executed.amount, supply)
        assert stored(vault, HIGH_WATER_MARK_SLOT) == mark
        if sc.donation or (slashes and sc.execute_slashes):
            label("donations lifted the mark")

        # 4. The next strike sees the move, and once it has stood a day a strike takes the fee
        # on all of it, paying the round's points (the first of the two that takes a fee does).
        seen = strike_and_check(world, sc.final_move)
        wait_until(chain, fee_sample(vault)[1] + FEE_HOLD)
        last = strike_and_check(world, (BPS, BPS, BPS))
        splits = [s.split for s in (seen, last) if s.split is not None]
        closed = next((s.closed for s in splits if s.closed is not None), None)
        if closed is not None:
            assert closed.points == sum(points.values())
        for agent in (allocator, world.rival):
            due = reward_due(points[agent.address], closed) if closed is not None else 0
            assert agents.claimableRewards(agent) == due
