"""An agent steering the vault with its bond already claimed by pending slashes (found in an agent
review).

A slash waits `agent.vetoWindow` (3 days locally) before it executes, and only an execution
took stake: until then the agent counted as bonded at the minimum and kept rebalancing. An agent
bonded at `agent.minStake` (10,000) whose bad decision opened a 1,000 slash (its 10 % cap) made
its next decision with 9,000 left to answer for it, and a string of bad decisions could open
slashes summing past its whole stake while it still steered the vault: the minimum bond, the
depositors' guarantee that a decision has something at stake, held only on paper.

The defence (IAgentRegistry, "Activation"): what pending slashes would take counts as gone, an
agent is active only while `stake >= agent.minStake + slashPending` (`Agent.slashPending`, the
sum of its pending slashes). It is paused (`NotActiveAgent`) until it stakes the difference, or
the guardian vetoes the slash, or the slash executes (its clock restarting only if that leaves
the stake below the minimum).
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.agent_support import MIN_STAKE, build_desk, only_event
from tests.vault_support import USDC, assert_reverts, isolated

CRASH = 80_000_000  # tbill at 0.80: -20 %


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    return build_desk(project, accounts, chain)


def slashed_agent(desk) -> tuple[int, int]:
    """The allocator (bonded at the minimum) puts 6,000 bps in T-bills, which then fall 20 %
    inside the window; the evaluation opens a slash. Returns (slash id, amount)."""
    tx = desk.rebalance_after_cooldown([6_000, 0, 0])
    due = desk.agents.decisionRecord(tx.return_value).dueAt
    desk.at(due - 60)
    desk.set_price("tbill", CRASH)
    opened = only_event(desk.evaluate(tx.return_value), desk.agents.SlashOpened)
    return opened["slashId"], opened["amount"]


def can_rebalance(desk) -> bool:
    """Whether the allocator's next rebalance (after the cooldown) goes through; a refusal must
    be `NotActiveAgent`."""
    ready = desk.vault.nextRebalanceAt()
    if ready > desk.now():
        desk.at(ready)
    desk.refresh()
    if not desk.agents.isActive(desk.allocator):
        args = ([0, 0, 0], b"\x11" * 32, "ipfs://r")
        assert_reverts(desk.vault, "rebalance", *args, sender=desk.allocator,
                       error="NotActiveAgent", caller=desk.allocator)  # fmt: skip
        return False
    # all idle, or 10 bps of T-bills when it already is (a decision moving no weight is
    # refused NothingMoved)
    desk.rebalance([0, 0, 0] if any(desk.vault.currentBps()) else [10, 0, 0])
    return True


def test_an_agent_whose_bond_a_pending_slash_claims_is_paused_until_it_is_made_good(desk, chain):
    agents, agent = desk.agents, desk.allocator
    with isolated(chain):
        slash_id, amount = slashed_agent(desk)
        info = agents.agentInfo(agent)
        assert amount == 1_000 * USDC  # the cap: 10 % of the 10,000 bond
        assert (info.stake, info.slashPending, info.pendingSlashes) == (MIN_STAKE, amount, 1)
        # The attack: deciding again with 9,000 left to answer for it. Now refused.
        assert agents.activeFrom(agent) == 0
        assert not can_rebalance(desk)
        # Staking what the slash will take ends the pause at once (no new activation clock).
        desk.add_stake(agent, amount - 1)
        assert not agents.isActive(agent)
        desk.add_stake(agent, 1)
        assert agents.isActive(agent)
        assert can_rebalance(desk)
        # The slash executes: the stake is back at the minimum, the agent still active.
        desk.at(agents.slashInfo(slash_id).vetoEndsAt)
        agents.executeSlash(slash_id, sender=desk.keeper)
        info = agents.agentInfo(agent)
        assert (info.stake, info.slashPending, info.pendingSlashes) == (MIN_STAKE, 0, 0)
        assert can_rebalance(desk)


def test_a_veto_ends_the_pause_and_an_execution_below_the_minimum_restarts_the_clock(desk, chain):
    agents, agent = desk.agents, desk.allocator
    with isolated(chain):
        slash_id, _ = slashed_agent(desk)
        assert not can_rebalance(desk)
        since = agents.agentInfo(agent).bondedSince
        agents.vetoSlash(slash_id, sender=desk.guardian)
        assert agents.agentInfo(agent).slashPending == 0
        assert agents.activeFrom(agent) == since  # the clock it had: no new delay
        assert can_rebalance(desk)
    with isolated(chain):
        slash_id, amount = slashed_agent(desk)
        desk.at(agents.slashInfo(slash_id).vetoEndsAt)
        agents.executeSlash(slash_id, sender=desk.keeper)
        info = agents.agentInfo(agent)
        assert (info.stake, info.slashPending, info.bondedSince) == (MIN_STAKE - amount, 0, 0)
        assert not can_rebalance(desk)


def test_a_minimum_past_any_stake_deactivates_without_reverting(desk, chain):
    """The DAO widened `agent.minStake`'s bounds and set it near 2^256 while a slash is
    pending: `isActive` / `activeFrom` answer false / 0 (the sum `minStake + slashPending` would
    overflow: a view that reverts would make the rebalance a panic, not `NotActiveAgent`)."""
    agents, agent, gov = desk.agents, desk.allocator, desk.system.governance
    with isolated(chain):
        slashed_agent(desk)
        key = keccak(text="agent.minStake")
        desk.system.registry.setBounds(key, 0, 2**256 - 2, 0, 0, sender=gov)
        desk.set_param("agent.minStake", 2**256 - 2)
        assert agents.activeFrom(agent) == 0 and not agents.isActive(agent)
        assert not can_rebalance(desk)
