"""The linked-pair incident (March 2026 style): one parameter of a linked pair keeps moving
while the other cannot follow, until the pair is inconsistent and users pay for it.

Here: gold's liquidation threshold is cut by the steward, step by step, while gold's LTV cannot
follow (the guardian froze it). Were the threshold to reach the LTV, loans opened at the LTV would
be liquidatable at once. The registry refuses the cut that would break the link, naming both
parameters, and the pair moves on only together (one steward batch, each entry within its step
from the values before the batch)."""

from __future__ import annotations

import ape

from ballast.parameters import key_of
from tests.governance_support import Proposal

LTV, THR = key_of("lend.ltvBps.gold"), key_of("lend.liqThresholdBps.gold")
LESS_THAN = 1
DAY = 86_400


def test_a_linked_pair_never_becomes_inconsistent_when_one_side_cannot_follow(gov, chain):
    reg, steward = gov.registry, gov.steward
    reg.freeze(LTV, sender=gov.guardian)  # the LTV cannot follow for 30 days
    assert (reg.get(LTV), reg.get(THR)) == (7_000, 7_500)
    rules = reg.getParam(THR)

    cuts = []
    while True:
        chain.pending_timestamp = reg.getParam(THR).lastUpdate + rules.stewardCooldown
        current = reg.get(THR)
        target = current - current * rules.stewardStepBps // 10_000  # the steward's full step
        if target <= reg.get(LTV):
            break
        reg.stewardSet(THR, target, sender=steward)
        cuts.append(target)
    assert reg.freezeStatus(LTV)[0]  # the LTV is still frozen
    assert cuts[-1] == reg.get(THR) > reg.get(LTV) and len(cuts) >= 9

    # the cut that would put the threshold at or under the LTV is refused, naming both
    assert reg.check(THR, target, True, block_id="pending")[0] is False
    with ape.reverts(reg.LinkViolated, a=LTV, b=THR, rule=LESS_THAN):
        reg.stewardSet(THR, target, sender=steward)
    with ape.reverts(reg.LinkViolated, a=LTV, b=THR, rule=LESS_THAN):
        reg.stewardSetBatch([THR], [target], b"\x01" * 32, "ipfs://cut", sender=steward)
    assert reg.get(THR) > reg.get(LTV)

    # once the LTV may move again, one steward batch moves both, each within its own step
    chain.pending_timestamp = max(reg.freezeStatus(LTV)[1], chain.pending_timestamp)
    ltv_target = 7_000 - 7_000 * reg.getParam(LTV).stewardStepBps // 10_000
    reg.stewardSetBatch([THR, LTV], [target, ltv_target], b"\x02" * 32, "ipfs://both",
                        sender=steward)  # fmt: skip
    assert (reg.get(LTV), reg.get(THR)) == (ltv_target, target) and ltv_target < target


def test_a_dao_change_to_one_side_cannot_break_the_pair_either(gov, chain, voter):
    """The DAO votes gold's LTV up to 7,500 (within its 25 % step) but forgets the threshold:
    the proposal passes the vote and the timelock and reverts at execution, naming both."""
    proposal = Proposal(gov, [(gov.registry, gov.registry.set.encode_input(LTV, 7_500))], "LTV")
    proposal.propose(voter)
    chain.mine(1, deltatime=gov.governor.votingDelay() + 1)
    gov.governor.castVote(proposal.id, 1, sender=voter)
    chain.mine(1, deltatime=gov.governor.votingPeriod() + 1)
    proposal.queue(voter)
    chain.mine(1, deltatime=gov.timelock.getMinDelay() + 1)
    with ape.reverts(gov.registry.LinkViolated, a=LTV, b=THR, rule=LESS_THAN):
        proposal.execute(voter)
    assert gov.registry.get(LTV) == 7_000
