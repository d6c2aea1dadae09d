"""The DAO changes the registry only through propose → vote → queue → execute, within bounds."""

from __future__ import annotations

import ape

from ballast.parameters import key_of
from tests.governance_support import TOKEN, Proposal, delegate

IDLE = key_of("vault.idleBufferBps")


def set_call(gov, name: str, value: int):
    return (gov.registry, gov.registry.set.encode_input(key_of(name), value))


def advance(chain, seconds: int) -> None:
    chain.mine(1, deltatime=seconds)


def pass_vote(gov, chain, proposal: Proposal, voter) -> None:
    advance(chain, gov.governor.votingDelay() + 1)
    assert proposal.state() == "Active"
    gov.governor.castVote(proposal.id, 1, sender=voter)
    advance(chain, gov.governor.votingPeriod() + 1)
    assert proposal.state() == "Succeeded"


def test_deploy_wires_roles_and_hands_everything_to_governance(gov):
    reg, tl = gov.registry, gov.timelock
    assert reg.hasRole(reg.GOVERNANCE_ROLE(), tl) and reg.hasRole(reg.DEFAULT_ADMIN_ROLE(), tl)
    assert reg.hasRole(reg.GUARDIAN_ROLE(), gov.guardian)
    assert reg.hasRole(reg.STEWARD_ROLE(), gov.steward)
    assert tl.hasRole(tl.PROPOSER_ROLE(), gov.governor)
    # The guardian cancels only through GuardianVeto (once per action), never with the raw role.
    assert tl.hasRole(tl.CANCELLER_ROLE(), gov.veto) and not tl.hasRole(
        tl.CANCELLER_ROLE(), gov.guardian
    )
    assert (gov.veto.timelock(), gov.veto.guardian()) == (tl.address, gov.guardian.address)
    assert tl.hasRole(tl.EXECUTOR_ROLE(), "0x" + "00" * 20)  # anyone executes
    for contract, role in ((reg, reg.GOVERNANCE_ROLE()), (reg, reg.DEFAULT_ADMIN_ROLE()),
                           (tl, tl.DEFAULT_ADMIN_ROLE())):  # fmt: skip
        assert not contract.hasRole(role, gov.deployer)
    assert tl.getMinDelay() == gov.config.governance.timelock_delay


def test_deploy_defines_the_configured_table(gov):
    on_chain = {gov.registry.nameOf(k): gov.registry.getParam(k) for k in gov.registry.keys()}
    assert set(on_chain) == {spec.name for spec in gov.config.parameters}
    for spec in gov.config.parameters:
        p = on_chain[spec.name]
        assert (p.value, p.min, p.max, p.maxStepBps, p.cooldown) == (
            spec.value, spec.min, spec.max, spec.step_bps, spec.cooldown
        )  # fmt: skip
        assert (p.stewardStepBps, p.stewardCooldown) == (
            spec.steward_step_bps, spec.steward_cooldown
        )  # fmt: skip


def test_proposal_changes_the_registry_after_vote_and_timelock(gov, chain, voter):
    proposal = Proposal(gov, [set_call(gov, "vault.idleBufferBps", 600)], "Raise idle buffer")
    proposal.propose(voter)
    pass_vote(gov, chain, proposal, voter)
    proposal.queue(voter)
    assert proposal.state() == "Queued"

    with ape.reverts():  # the timelock delay has not passed
        proposal.execute(voter)
    advance(chain, gov.timelock.getMinDelay() + 1)
    receipt = proposal.execute(voter)

    assert gov.registry.get(IDLE) == 600
    (event,) = receipt.events.filter(gov.registry.ParameterSet)
    assert (event.oldValue, event.newValue, event.by) == (500, 600, gov.timelock.address)
    assert proposal.state() == "Executed"


def test_nobody_but_the_timelock_sets_parameters(gov, voter):
    with ape.reverts(gov.registry.AccessControlUnauthorizedAccount):
        gov.registry.set(IDLE, 600, sender=voter)


def test_out_of_bounds_proposal_passes_the_vote_but_fails_at_execution(gov, chain, voter):
    proposal = Proposal(gov, [set_call(gov, "vault.idleBufferBps", 12_000)], "Reckless")
    proposal.propose(voter)
    pass_vote(gov, chain, proposal, voter)
    proposal.queue(voter)
    advance(chain, gov.timelock.getMinDelay() + 1)
    with ape.reverts(gov.registry.OutOfBounds):
        proposal.execute(voter)
    assert gov.registry.get(IDLE) == 500
    assert proposal.state() == "Queued"


def test_guardian_cancels_a_queued_operation(gov, chain, voter):
    proposal = Proposal(gov, [set_call(gov, "vault.idleBufferBps", 600)], "To be cancelled")
    proposal.propose(voter)
    pass_vote(gov, chain, proposal, voter)
    receipt = proposal.queue(voter)
    (scheduled, *_) = receipt.events.filter(gov.timelock.CallScheduled)

    for who in (voter, gov.guardian):  # the raw role is GuardianVeto's alone
        with ape.reverts(gov.timelock.AccessControlUnauthorizedAccount):
            gov.timelock.cancel(scheduled.id, sender=who)
    with ape.reverts(gov.veto.NotGuardian):
        proposal.veto(voter)
    (vetoed,) = proposal.veto(gov.guardian).events.filter(gov.veto.Vetoed)
    assert vetoed.operationId == scheduled.id

    assert proposal.state() == "Canceled"
    advance(chain, gov.timelock.getMinDelay() + 1)
    with ape.reverts():
        proposal.execute(voter)
    assert gov.registry.get(IDLE) == 500


def test_tokens_acquired_after_the_snapshot_cannot_vote(gov, chain, voter, accounts):
    latecomer = accounts[7]
    proposal = Proposal(gov, [set_call(gov, "vault.idleBufferBps", 600)], "Snapshot test")
    proposal.propose(voter)
    advance(chain, gov.governor.votingDelay() + 1)  # the snapshot is now in the past

    # A "flash" acquisition: tokens arrive and are delegated after the snapshot.
    gov.token.transfer(latecomer, 500_000 * TOKEN, sender=voter)
    delegate(gov.token, latecomer)
    receipt = gov.governor.castVote(proposal.id, 0, sender=latecomer)
    (cast,) = receipt.events.filter(gov.governor.VoteCast)
    assert cast.weight == 0

    # The original holder still votes with its full snapshot weight, counted once.
    gov.governor.castVote(proposal.id, 1, sender=voter)
    against, for_, _ = gov.governor.proposalVotes(proposal.id)
    assert (against, for_) == (0, 1_000_000 * TOKEN)


def test_undelegated_tokens_count_for_nothing(gov, chain, accounts):
    holder = accounts[3]  # 200,000 BLST, never delegated
    assert gov.token.balanceOf(holder) == 200_000 * TOKEN
    assert gov.token.getVotes(holder) == 0
    with ape.reverts(gov.governor.GovernorInsufficientProposerVotes):
        Proposal(gov, [set_call(gov, "vault.idleBufferBps", 600)], "No votes").propose(holder)


def test_votes_are_checkpointed_by_timestamp(gov):
    assert gov.token.CLOCK_MODE() == "mode=timestamp"
    assert gov.governor.CLOCK_MODE() == "mode=timestamp"
    assert gov.governor.votingDelay() == gov.config.governance.voting_delay
    assert gov.governor.votingPeriod() == gov.config.governance.voting_period
