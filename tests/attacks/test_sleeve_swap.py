"""A sleeve swap under agents (review of sleeve changes, branch `sleeves5`).

`rebalance` takes one target per sleeve index. `removeSleeve` shifts the later sleeves down and
`addSleeve` appends, so a removal followed by an addition (a DAO replacing a sleeve, one
timelock batch) keeps the count: a weight vector signed over the old set passes the length check
and moves other sleeves than its agent chose, and the decision is judged on them. The timelock's
`execute` is anyone's once the delay is over, so anyone may order it in front of an agent's
pending rebalance. The change now starts the rebalance cooldown, as a decision does.
"""

from __future__ import annotations

import ape
import pytest

from tests.vault_support import DAY, USDC, SleeveSpec, add_sleeve, deploy_vault_system

NAV = 1_000_000 * USDC


@pytest.fixture(scope="module")
def system(project, accounts):
    return deploy_vault_system(project, accounts[0], accounts[1], accounts[5])


def test_a_rebalance_signed_before_a_sleeve_swap_does_not_land_on_the_new_sleeves(
    project, system, chain, accounts
):
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
