"""Attack: one agent holding every other out of the vault's shared cooldown, and its defence, the
guardian's suspension of that one agent (IAgentRegistry, "Suspension").

`vault.rebalanceCooldown` serves the whole vault, so an agent that makes a no-op decision (its
targets the weights now) as each cooldown ends keeps the other agents out, their risk-off sales
included, at no risk to its stake: a no-op is evaluated at 0 and never slashed (found in an agent
review: gold falling 3 % a day for a week, a 40 % position held above 30 % while the honest
agent's daily sale reverted `RebalanceCooldown`). Since a later review the vault refuses a
decision that moves no weight (`NothingMoved`, nothing recorded, no cooldown restarted), so the
griefer now moves a few bps of T-bills in and out (a near no-op, evaluated at about 0): the
suspension is still the answer. Before this the guardian's only answer was
`pauseAutomation`, which stops the honest agent too. Now the guardian (or governance) suspends
the griefer: it is not active whatever its bond, the honest agent's sale goes through at the
next cooldown's end, and the griefer's open decisions are still evaluated. Lifting the
suspension makes it active again at once.
"""

from __future__ import annotations

import pytest

from tests.agent_support import build_desk, events
from tests.vault_support import assert_reverts

TBILL, GOLD = 0, 1  # sleeve indices (tbill, gold, invoices)


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    desk = build_desk(project, accounts, chain)
    desk.rebalance_after_cooldown([0, 4_000, 0])  # the honest agent's gold, decision 0
    return desk


def near_no_op(desk, agent):
    """`agent`'s decision to move 10 bps of the NAV into T-bills or back out, as the cooldown
    ends (a decision to keep the weights as they are is refused `NothingMoved`, nothing
    recorded, the cooldown not restarted)."""
    targets = list(desk.vault.currentBps())
    desk.at(max(desk.vault.nextRebalanceAt(), desk.now()))
    desk.refresh()
    assert_reverts(desk.vault, "rebalance", targets, b"\x11" * 32, "ipfs://r", sender=agent,
                   error="NothingMoved")  # fmt: skip
    targets[TBILL] = 10 if targets[TBILL] == 0 else 0
    return desk.rebalance_after_cooldown(targets, agent)


def test_a_griefers_near_no_op_keeps_the_honest_sale_out_until_the_guardian_suspends_it(desk):
    vault, agents, griefer, honest = desk.vault, desk.agents, desk.rival, desk.allocator
    sale = [0, 2_000, 0]
    for _ in range(2):  # each cooldown's end: the griefer first, the honest sale refused
        near_no_op(desk, griefer)
        assert_reverts(vault, "rebalance", sale, b"\x11" * 32, "ipfs://r", sender=honest,
                       error="RebalanceCooldown")  # fmt: skip
    assert vault.currentBps()[GOLD] >= 3_900  # still held (the honest agent wanted 2,000)

    tx = agents.setSuspended(griefer, True, sender=desk.guardian)
    assert events(tx, agents.AgentSuspended) == [
        {"agent": griefer.address, "suspended": True, "by": desk.guardian.address}
    ]
    assert agents.isSuspended(griefer) and not agents.isActive(griefer)
    assert agents.activeFrom(griefer) == 0

    desk.at(vault.nextRebalanceAt())
    desk.refresh()
    assert_reverts(vault, "rebalance", list(vault.currentBps()), b"\x11" * 32, "ipfs://r",
                   sender=griefer, error="NotActiveAgent", caller=griefer)  # fmt: skip
    desk.rebalance(sale, honest)
    assert vault.currentBps()[GOLD] == 2_000

    # Suspended, it is judged as before: its open decisions are evaluated (near no-ops: no slash).
    griefs = [i for i in agents.openDecisions() if agents.decisionRecord(i).agent == griefer]
    assert len(griefs) == 2
    for decision_id in griefs:
        desk.evaluate(decision_id)
        assert agents.decisionRecord(decision_id).evaluated


def test_lifting_a_suspension_makes_the_agent_active_again_at_once(desk):
    agents, griefer = desk.agents, desk.rival
    agents.setSuspended(griefer, True, sender=desk.guardian)
    assert not agents.isActive(griefer)
    tx = agents.setSuspended(griefer, False, sender=desk.governance)  # governance may lift too
    assert events(tx, agents.AgentSuspended) == [
        {"agent": griefer.address, "suspended": False, "by": desk.governance.address}
    ]
    assert agents.isActive(griefer)  # its activation clock was kept
    near_no_op(desk, griefer)


def test_only_the_guardian_or_governance_suspends_a_registered_agent_and_says_so(desk, accounts):
    agents, griefer, stranger = desk.agents, desk.rival, desk.keeper
    for who in (stranger, griefer):  # nobody else, the agent itself included
        assert_reverts(agents, "setSuspended", desk.allocator, True, sender=who,
                       error="NotGuardian", caller=who)  # fmt: skip
    assert_reverts(agents, "setSuspended", stranger, True, sender=desk.guardian,
                   error="NotRegistered", agent=stranger)  # fmt: skip
    assert_reverts(agents, "setSuspended", griefer, False, sender=desk.guardian,
                   error="SuspensionUnchanged", agent=griefer, suspended=False)  # fmt: skip
    agents.setSuspended(griefer, True, sender=desk.governance)
    assert_reverts(agents, "setSuspended", griefer, True, sender=desk.guardian,
                   error="SuspensionUnchanged", agent=griefer, suspended=True)  # fmt: skip
    assert not agents.isActive(griefer) and agents.isActive(desk.allocator)
