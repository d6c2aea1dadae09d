"""The timelock's delay cannot be voted below the depositors' exit time.

The promise: nobody is trapped by a change they can see coming. The deploy config refuses a
timelock delay that does not exceed the depositors' exit time (14 days locally: the slowest
issuer's redemption of the largest holding the bounds allow, plus `vault.strikeMaxWait`) and the
longest `agent.unbondingPeriod`. But OpenZeppelin's `updateDelay` lets governance set any delay
later, in one proposal: once it executed (the depositors could see it coming, but nothing
refused it), every later change arrived faster than an exit, a sleeve's removal or a
parameter's move included. `BallastTimelock.DELAY_FLOOR` (the least delay the deploy rules
allow, 14 days + 1 s locally) is now the floor of `updateDelay`.
"""

from __future__ import annotations

import ape

from tests.governance_support import Proposal

DAY = 86_400


def advance(chain, seconds: int) -> None:
    chain.mine(1, deltatime=seconds)


def delay_proposal(gov, chain, voter, delay: int, description: str) -> Proposal:
    """A proposal setting the timelock's delay to `delay`, voted, queued and ready."""
    data = gov.timelock.updateDelay.encode_input(delay)
    proposal = Proposal(gov, [(gov.timelock, data)], description)
    proposal.propose(voter)
    advance(chain, gov.governor.votingDelay() + 1)
    gov.governor.castVote(proposal.id, 1, sender=voter)
    advance(chain, gov.governor.votingPeriod() + 1)
    proposal.queue(voter)
    advance(chain, gov.timelock.getMinDelay() + 1)
    return proposal


def test_the_deployed_floor_is_the_least_delay_the_deploy_rules_allow(gov):
    floor = gov.timelock.DELAY_FLOOR()
    assert floor == gov.config.timelock_delay_floor() == 14 * DAY + 1
    assert gov.timelock.getMinDelay() == gov.config.governance.timelock_delay > floor


def test_a_proposal_lowering_the_delay_under_the_exit_time_fails_at_execution(gov, chain, voter):
    before = gov.timelock.getMinDelay()
    floor = gov.timelock.DELAY_FLOOR()
    proposal = delay_proposal(gov, chain, voter, DAY, "Faster governance: one day")
    # before: it executed, and the delay was 1 day
    with ape.reverts(gov.timelock.DelayBelowFloor, delay=DAY, floor=floor):
        proposal.execute(voter)
    assert gov.timelock.getMinDelay() == before and proposal.state() == "Queued"


def test_a_delay_at_the_floor_or_above_is_the_daos_to_set(gov, chain, voter):
    floor = gov.timelock.DELAY_FLOOR()
    proposal = delay_proposal(gov, chain, voter, floor, "Governance at the floor")
    receipt = proposal.execute(voter)
    (event,) = receipt.events.filter(gov.timelock.MinDelayChange)
    assert (event.oldDuration, event.newDuration) == (gov.config.governance.timelock_delay, floor)
    assert gov.timelock.getMinDelay() == floor
    proposal = delay_proposal(gov, chain, voter, 20 * DAY, "Slower governance: twenty days")
    assert gov.timelock.getMinDelay() == floor
    proposal.execute(voter)
    assert gov.timelock.getMinDelay() == 20 * DAY


def test_nobody_but_the_timelock_updates_the_delay(gov, voter):
    with ape.reverts(gov.timelock.TimelockUnauthorizedCaller, caller=voter.address):
        gov.timelock.updateDelay(30 * DAY, sender=voter)
