"""A sleeve swap under agents (review of sleeve changes, branch `sleeves5`).

`rebalance` takes one target per sleeve index. `removeSleeve` shifts the later sleeves down and
`addSleeve` appends, so a removal followed by an addition (a DAO replacing a sleeve, one
timelock batch) keeps the count: a weight vector signed over the old set passes the length check
and moves other sleeves than its agent chose, and the decision is judged on them. The timelock's
`execute` is anyone's once the delay is over, so anyone may order it in front of an agent's
pending rebalance. The change now starts the rebalance cooldown, as a decision does.
"""

from __future__ import annotations

from dataclasses import replace

import ape
import pytest

from keepers.math.evaluation import charged_excess
from tests.agent_support import evidence_of
from tests.vault_support import (
    DAY,
    FEED_UNIT,
    USDC,
    SleeveSpec,
    add_sleeve,
    deploy_vault_system,
    isolated,
)

NAV = 1_000_000 * USDC


@pytest.fixture(scope="module")
def swap_deployed(project, accounts):
    return deploy_vault_system(project, accounts[0], accounts[1], accounts[5])


@pytest.fixture
def swappable(swap_deployed, chain):
    """The module's system, each test on its own chain snapshot and sleeve list."""
    with isolated(chain):
        yield replace(swap_deployed, sleeves=list(swap_deployed.sleeves))


def test_a_rebalance_signed_before_a_sleeve_swap_does_not_land_on_the_new_sleeves(
    project, swappable, chain, accounts
):
    system = swappable
    vault, gov = system.vault, system.governance
    tbill, gold, invoices = (system.sleeve(n).sleeve for n in ("tbill", "gold", "invoices"))
    system.deposit(accounts[6], NAV)
    system.rebalance([3_000, 0, 1_000])  # tbill 300,000, invoices 100,000, gold nothing
    chain.pending_timestamp = vault.nextRebalanceAt()
    system.publish_prices()

    # The agent means one more 1,000 bps of invoices over [tbill, gold, invoices]; before its
    # transaction is mined, the DAO's batch removes the empty gold sleeve and adds realestate.
    meant = [3_000, 0, 2_000]
    vault.removeSleeve(gold, sender=gov)
    swap = add_sleeve(project, system, SleeveSpec("realestate", cap_bps=3_000))
    changed = chain.blocks[-1].timestamp
    assert [vault.sleeveAt(i).sleeve for i in range(3)] == [
        tbill.address, invoices.address, swap.sleeve.address
    ]  # fmt: skip
    count = vault.decisionCount()

    # Without the cooldown it went through: invoices sold to 0 (100,000) and 200,000 bought of a
    # sleeve the agent never chose, both judged as its decision.
    with ape.reverts(vault.RebalanceCooldown, readyAt=changed + DAY):
        system.rebalance(meant)
    assert vault.decisionCount() == count
    assert invoices.totalAssets() == 100_000 * USDC and swap.sleeve.totalAssets() == 0

    # Once the cooldown has run, a vector over the new set is taken as usual.
    chain.pending_timestamp = changed + DAY
    system.publish_prices()
    system.rebalance([3_000, 2_000, 0])
    assert invoices.totalAssets() == 200_000 * USDC
    d = vault.decision(count)
    assert list(d.sleeves) == [tbill.address, invoices.address, swap.sleeve.address]
    assert list(d.newBps) == [3_000, 2_000, 0]


def test_a_decision_across_a_sleeve_removal_is_judged_on_its_own_sleeves(
    swappable, chain, accounts
):
    """Sound, checked: d0 buys 2,000 bps of gold (index 1); T-bills are removed, so gold moves to
    index 0; d1, the same agent, cuts gold to 1,000 there. The registry matches d1's move to
    d0's gold by address, not index (part of d0's move reversed, at d1's recorded gold index),
    as the Python model aligned by address does, and never reads invoices' return for it."""
    system = swappable
    vault, agents, gov = system.vault, system.agents, system.governance
    tbill, gold = system.sleeve("tbill"), system.sleeve("gold")
    system.deposit(accounts[6], NAV)
    system.rebalance([0, 2_000, 1_000])  # d0
    chain.pending_timestamp = vault.nextRebalanceAt()
    gold.feed.setAnswer(2_100 * FEED_UNIT, sender=gov)  # +5 %, inside the band
    system.publish_prices()
    vault.removeSleeve(tbill.sleeve, sender=gov)
    chain.pending_timestamp = max(vault.nextRebalanceAt(), chain.blocks.head.timestamp + 1)
    system.publish_prices()
    system.rebalance([1_000, 1_000])  # d1: gold, now index 0, 2,000 -> 1,000
    assert list(vault.decision(1).sleeves) == [
        gold.sleeve.address,
        system.sleeve("invoices").sleeve.address,
    ]

    chain.pending_timestamp = agents.decisionRecord(0).dueAt
    gold.feed.setAnswer(2_200 * FEED_UNIT, sender=gov)
    system.publish_prices()
    ends = [s.sleeve.returnIndex() for s in (tbill, gold, system.sleeve("invoices"))]
    evidence = evidence_of(vault, agents, 0, ends)
    d1 = vault.decision(1)
    sold = d1.oldBps[0] - d1.newBps[0]  # gold's 2,000 grew 5 % before d1 cut it to 1,000
    assert sold > 1_000
    assert [m.kept_bps for m in evidence.sleeves] == [0, 2_000 - sold, 1_000]  # by address
    assert agents.previewEvaluation(0)[0] == charged_excess(evidence)
