"""Attack: the guardian or the steward keeps the DAO from changing a parameter (issue 18).

1. The guardian's veto by freeze. The guardian holds the registry's GUARDIAN role (it freezes a
   parameter) and the timelock's CANCELLER role. Before the fix a freeze lasted until governance
   unfroze it, and the only way to unfreeze is a proposal through the timelock, which the
   guardian cancels: freeze once, cancel every unfreeze proposal, and the parameter is the
   guardian's forever. The defence: a freeze ends by itself after `registry.maxFreezePeriod`
   (a governed parameter, 30 days in deployments/config/local.yaml), cannot be extended, and the
   same key can be frozen again only one period after the freeze ended
   (`FreezeTooSoon(key, freezableAt)`), so the DAO's queued change always gets a window.

2. The steward's veto by timing. Before the fix every steward move restarted governance's
   cooldown and moved the value governance's step was measured from, so a steward who moved
   the parameter during the timelock delay (once, or one second before the proposal's eta)
   made a passed, queued and valid `set` revert. The defence: governance's cooldown runs from
   its own last update and its step from the value of its own last update
   (`governanceValue`); the steward still waits its own cooldown after any update. The same
   steward moves could take the value out of new bounds the DAO had queued, and `setBounds`
   refused to strand a value (`OutOfBounds`): the value now moves to the nearest new bound.

The system is `ballast.deploy.deploy_system` of deployments/config/local.yaml (the `gov`
fixture): voting delay 1 day, voting period 3 days, timelock 15 days; vault.idleBufferBps = 500
in [100, 5,000], governance step 50 % / cooldown 1 day, steward step 20 % / cooldown 3 days.
"""

from __future__ import annotations

import ape
from eth_utils import keccak

from ballast import params as P
from ballast.parameters import key_of
from tests.governance_support import Proposal

IDLE = key_of("vault.idleBufferBps")
MAX_FREEZE = key_of("registry.maxFreezePeriod")
BPS = 10_000
OK = (True, b"\x00" * 4)


def set_idle(gov, value: int) -> tuple[object, bytes]:
    return (gov.registry, gov.registry.set.encode_input(IDLE, value))


def passed_and_queued(gov, chain, proposal: Proposal, voter) -> bytes:
    """Propose, vote it through, queue it; returns its timelock operation id."""
    proposal.propose(voter)
    chain.mine(1, deltatime=gov.governor.votingDelay() + 1)
    gov.governor.castVote(proposal.id, 1, sender=voter)
    chain.mine(1, deltatime=gov.governor.votingPeriod() + 1)
    receipt = proposal.queue(voter)
    assert proposal.state() == "Queued"
    (scheduled, *_) = receipt.events.filter(gov.timelock.CallScheduled)
    return scheduled.id


def test_a_guardian_freeze_expires_and_cannot_be_renewed_at_once(gov, chain, voter):
    """The guardian freezes the idle buffer and cancels the DAO's unfreeze proposal. The DAO's
    change, queued behind the freeze, reverts while the freeze lasts, and the guardian cannot
    extend it; at the expiry the change executes without any unfreeze, and the guardian's next
    freeze of that key is refused for one more period."""
    registry, timelock, guardian = gov.registry, gov.timelock, gov.guardian
    period = registry.get(MAX_FREEZE)
    (spec,) = [p for p in gov.config.parameters if p.name == "registry.maxFreezePeriod"]
    assert period == spec.value

    # 1. The freeze.
    receipt = registry.freeze(IDLE, sender=guardian)
    until = receipt.timestamp + period
    (frozen,) = receipt.events.filter(registry.Frozen)
    assert (frozen.key, frozen.frozenUntil) == (IDLE, until)

    # 2. The DAO votes to unfreeze; the guardian cancels it in the timelock (GuardianVeto).
    unfreeze = Proposal(
        gov, [(registry, registry.unfreeze.encode_input(IDLE))], "Unfreeze the idle buffer"
    )
    operation = passed_and_queued(gov, chain, unfreeze, voter)
    (vetoed,) = unfreeze.veto(guardian).events.filter(gov.veto.Vetoed)
    assert vetoed.operationId == operation
    assert unfreeze.state() == "Canceled"

    # 3. The DAO's change, voted and queued meanwhile: the timelock ends inside the freeze.
    change = Proposal(gov, [set_idle(gov, 600)], "Idle buffer to 6%")
    passed_and_queued(gov, chain, change, voter)
    eta = gov.governor.proposalEta(change.id)
    assert eta < until
    chain.pending_timestamp = eta
    with ape.reverts(registry.ParameterFrozen, key=IDLE):
        change.execute(voter)
    assert change.state() == "Queued" and registry.get(IDLE) == 500

    # 4. The guardian tries to renew the freeze before it ends: refused, naming the key and
    #    the first moment it may freeze it again (one period after this freeze ends).
    chain.pending_timestamp = until - 1
    with ape.reverts(registry.FreezeTooSoon, key=IDLE, freezableAt=until + period):
        registry.freeze(IDLE, sender=guardian)
    assert registry.freezeStatus(IDLE) == (True, until, until + period)

    # 5. The freeze expires: the queued change executes, with no unfreeze.
    chain.pending_timestamp = until
    receipt = change.execute(voter)
    (update,) = receipt.events.filter(registry.ParameterSet)
    assert (update.key, update.oldValue, update.newValue) == (IDLE, 500, 600)
    assert update.by == timelock.address
    assert change.state() == "Executed" and registry.get(IDLE) == 600

    # 6. The window: no new freeze of this key for one period after the expiry; afterwards
    #    the guardian's power is intact (for another bounded period).
    chain.pending_timestamp = until + period - 1
    with ape.reverts(registry.FreezeTooSoon, key=IDLE, freezableAt=until + period):
        registry.freeze(IDLE, sender=guardian)
    chain.pending_timestamp = until + period
    receipt = registry.freeze(IDLE, sender=guardian)
    (frozen,) = receipt.events.filter(registry.Frozen)
    assert frozen.frozenUntil == until + 2 * period


def test_a_steward_move_cannot_block_a_queued_governance_set(gov, chain, voter):
    """The DAO queues idle 500 → 750, exactly its 50 % step. During the 15-day timelock the
    steward moves 500 → 400 and, one second before the eta, 400 → 320 (20 % each, 3 days
    apart). Measured the old way the set would be 134 % of the live value and one second into a
    restarted 1-day cooldown; it executes at the eta all the same, and `check` says so first."""
    registry, steward = gov.registry, gov.steward
    rules = registry.getParam(IDLE)
    assert (rules.value, rules.maxStepBps, rules.stewardStepBps) == (500, 5_000, 2_000)
    target = 750

    change = Proposal(gov, [set_idle(gov, target)], "Idle buffer to 7.5%")
    passed_and_queued(gov, chain, change, voter)
    queued_at, eta = chain.blocks.head.timestamp, gov.governor.proposalEta(change.id)
    assert registry.check(IDLE, target, False) == OK  # valid when queued

    chain.pending_timestamp = queued_at + 1
    registry.stewardSet(IDLE, 400, sender=steward)
    chain.pending_timestamp = eta - 1
    last = registry.stewardSet(IDLE, 320, sender=steward)
    # What the steward's moves would have broken under the old rules (step from the live value,
    # cooldown from any update):
    assert abs(target - 320) * BPS > rules.maxStepBps * 320
    assert last.timestamp + rules.cooldown > eta

    chain.pending_timestamp = eta
    assert registry.check(IDLE, target, False, block_id="pending") == OK
    receipt = change.execute(voter)
    (update,) = receipt.events.filter(registry.ParameterSet)
    assert (update.oldValue, update.newValue, update.by) == (320, target, gov.timelock.address)
    assert change.state() == "Executed" and registry.get(IDLE) == target

    # The steward, in turn, waits its own cooldown after governance's update.
    chain.pending_timestamp = receipt.timestamp + 1
    ready = receipt.timestamp + rules.stewardCooldown
    with ape.reverts(registry.Cooldown, key=IDLE, readyAt=ready):
        registry.stewardSet(IDLE, 740, sender=steward)


def test_a_steward_move_cannot_block_a_queued_change_of_bounds(gov, chain, voter):
    """Found in a review after issue 18. The DAO queues new idle-buffer bounds [100, 1,000]
    around the live 500. During the 15-day timelock the steward walks the buffer to 1,036 in
    four 20 % steps, each inside the old bounds and its own limits. `setBounds` used to refuse
    to strand the value (`OutOfBounds`), so the queued change reverted at its eta; it executes,
    the value moved to the nearest new bound (the DAO's range wins)."""
    registry, steward = gov.registry, gov.steward
    rules = registry.getParam(IDLE)
    call = registry.setBounds.encode_input(IDLE, 100, 1_000, rules.maxStepBps, rules.cooldown)
    change = Proposal(gov, [(registry, call)], "Idle buffer at most 10%")
    passed_and_queued(gov, chain, change, voter)
    queued_at, eta = chain.blocks.head.timestamp, gov.governor.proposalEta(change.id)

    at = queued_at + 1
    for value in (600, 720, 864, 1_036):  # 20 % each, a steward cooldown apart
        chain.pending_timestamp = at
        registry.stewardSet(IDLE, value, sender=steward)
        at += rules.stewardCooldown
    assert at < eta and registry.get(IDLE) == 1_036 > 1_000

    chain.pending_timestamp = eta
    receipt = change.execute(voter)
    (moved,) = receipt.events.filter(registry.ParameterSet)
    assert (moved.oldValue, moved.newValue, moved.by) == (1_036, 1_000, gov.timelock.address)
    after = registry.getParam(IDLE)
    assert (after.value, after.min, after.max) == (1_000, 100, 1_000)
    assert change.state() == "Executed"


def test_the_guardian_vetoes_an_action_once_and_the_dao_passes_it_the_second_time(
    gov, chain, voter
):
    """Found in a review after issue 18: the guardian held the timelock's CANCELLER role itself,
    so it could cancel every queued proposal, its own removal included, round after round: a
    veto of governance forever that needed no freeze. The defence: the guardian cancels only
    through GuardianVeto, which holds the role and cancels each action (the operation's calls,
    whatever its salt) once. The DAO removes the guardian; the guardian vetoes it; the DAO
    passes the same calls again, which the guardian cannot cancel, and they execute."""
    registry, timelock, guardian, veto = gov.registry, gov.timelock, gov.guardian, gov.veto
    canceller = timelock.CANCELLER_ROLE()
    assert not timelock.hasRole(canceller, guardian)  # the raw role is not the guardian's
    remove = [
        (timelock, timelock.revokeRole.encode_input(canceller, veto.address)),
        (registry, registry.revokeRole.encode_input(registry.GUARDIAN_ROLE(), guardian.address)),
    ]
    first = Proposal(gov, remove, "Remove the guardian")
    operation = passed_and_queued(gov, chain, first, voter)
    with ape.reverts(veto.NotGuardian, caller=voter.address):  # nobody else vetoes
        first.veto(voter)
    with ape.reverts(timelock.AccessControlUnauthorizedAccount, account=guardian.address):
        timelock.cancel(operation, sender=guardian)
    first.veto(guardian)
    assert first.state() == "Canceled"

    second = Proposal(gov, remove, "Remove the guardian (passed again)")
    operation = passed_and_queued(gov, chain, second, voter)
    action = veto.actionHash(second.targets, second.values, second.calldatas)
    assert veto.vetoed(action)
    with ape.reverts(veto.AlreadyVetoed, action=action):
        second.veto(guardian)
    assert timelock.isOperationPending(operation)
    chain.pending_timestamp = gov.governor.proposalEta(second.id)
    second.execute(voter)
    assert second.state() == "Executed"
    assert not timelock.hasRole(canceller, veto) and not registry.hasRole(
        registry.GUARDIAN_ROLE(), guardian
    )


def _remove_the_guardian(gov) -> list:
    timelock, registry = gov.timelock, gov.registry
    return [
        (timelock, timelock.revokeRole.encode_input(timelock.CANCELLER_ROLE(), gov.veto.address)),
        (
            registry,
            registry.revokeRole.encode_input(registry.GUARDIAN_ROLE(), gov.guardian.address),
        ),
    ]


def _vote_through(gov, chain, voter, *proposals: Proposal) -> None:
    for p in proposals:
        p.propose(voter)
    chain.mine(1, deltatime=gov.governor.votingDelay() + 1)
    for p in proposals:
        gov.governor.castVote(p.id, 1, sender=voter)
    chain.mine(1, deltatime=gov.governor.votingPeriod() + 1)


def _guardian_stays(gov) -> bool:
    timelock, registry = gov.timelock, gov.registry
    return timelock.hasRole(timelock.CANCELLER_ROLE(), gov.veto) and registry.hasRole(
        registry.GUARDIAN_ROLE(), gov.guardian
    )


def test_one_veto_cancels_every_copy_of_an_action_voted_before_it(gov, chain, voter):
    """Found in a review after the once-per-action veto: a majority proposes the same calls twice
    (two descriptions: two proposals, two timelock salts), votes both through and queues them a
    minute apart. Before, the veto of one copy marked the action vetoed and the other copy could
    not be cancelled (`AlreadyVetoed`): it executed at its own eta, and the veto delayed the
    change by nothing. Now a veto covers every copy whose vote had ended by then: the guardian
    cancels both, in either order, and only a copy voted after the veto is immune."""
    guardian, veto, governor = gov.guardian, gov.veto, gov.governor
    a, b = (Proposal(gov, _remove_the_guardian(gov), f"Remove the guardian ({c})") for c in "AB")
    _vote_through(gov, chain, voter, a, b)
    for copy in (a, b):
        copy.queue(voter)
        chain.mine(1, deltatime=60)
    assert governor.proposalEta(b.id) > governor.proposalEta(a.id)
    action = veto.actionHash(a.targets, a.values, a.calldatas)

    (cast,) = a.veto(guardian).events.filter(veto.Vetoed)  # the copy ready first, first
    assert cast.action == action and veto.vetoedAt(action) == chain.blocks.head.timestamp
    assert veto.covered(b.targets, b.values, b.calldatas, b.salt())
    (second,) = b.veto(guardian).events.filter(veto.Vetoed)
    assert second.action == action
    assert a.state() == b.state() == "Canceled"
    chain.pending_timestamp = governor.proposalEta(b.id) + 1
    for copy in (a, b):
        with ape.reverts(governor.GovernorUnexpectedProposalState):  # nothing left to execute
            copy.execute(voter)
    assert _guardian_stays(gov)

    again = Proposal(gov, _remove_the_guardian(gov), "Remove the guardian (passed again)")
    passed_and_queued(gov, chain, again, voter)
    assert not veto.covered(again.targets, again.values, again.calldatas, again.salt())
    with ape.reverts(veto.AlreadyVetoed, action=action):  # voted after the veto: immune
        again.veto(guardian)
    chain.pending_timestamp = governor.proposalEta(again.id)
    again.execute(voter)
    assert not _guardian_stays(gov)


def test_a_cut_of_the_timelock_delay_neither_hides_nor_exposes_a_copy(gov, chain, voter):
    """Found in a second read of the fix above, which judged a copy by its timelock ready time:
    a copy queued under the long delay before a cut of the delay is ready later than one queued
    after the cut, so it looked "queued after the veto" and executed; and a re-proposal queued
    after the veto under the cut delay looked covered, a second veto. The rule reads the
    governor's vote deadline instead: the early copy is cancelled, the re-proposal is immune."""
    timelock, governor, guardian, veto = gov.timelock, gov.governor, gov.guardian, gov.veto
    day = 86_400
    # The delay is first raised to 30 days, so that a cut to its floor (14 days and a second,
    # BallastTimelock.DELAY_FLOOR: never below the depositors' exit time) is one of 16 days.
    longer = Proposal(gov, [(timelock, timelock.updateDelay.encode_input(30 * day))], "Raise it")
    passed_and_queued(gov, chain, longer, voter)
    chain.pending_timestamp = governor.proposalEta(longer.id)
    longer.execute(voter)
    floor = timelock.DELAY_FLOOR()
    cut = Proposal(gov, [(timelock, timelock.updateDelay.encode_input(floor))], "Cut the delay")
    early = Proposal(gov, _remove_the_guardian(gov), "Remove the guardian (under the long delay)")
    _vote_through(gov, chain, voter, cut, early)
    cut.queue(voter)
    chain.mine(1, deltatime=20 * day)
    early.queue(voter)  # ready 20 days after the cut's proposal would be
    chain.pending_timestamp = governor.proposalEta(cut.id)
    cut.execute(voter)
    assert timelock.getMinDelay() == floor
    late = Proposal(gov, _remove_the_guardian(gov), "Remove the guardian (under the cut delay)")
    passed_and_queued(gov, chain, late, voter)
    assert governor.proposalEta(late.id) < governor.proposalEta(early.id)

    late.veto(guardian)  # the copy ready first: both were voted before this veto
    early.veto(guardian)
    assert early.state() == late.state() == "Canceled" and _guardian_stays(gov)

    again = Proposal(gov, _remove_the_guardian(gov), "Remove the guardian (passed again)")
    passed_and_queued(gov, chain, again, voter)  # under the cut delay: ready soon
    action = veto.actionHash(again.targets, again.values, again.calldatas)
    with ape.reverts(veto.AlreadyVetoed, action=action):
        again.veto(guardian)
    chain.pending_timestamp = governor.proposalEta(again.id)
    again.execute(voter)
    assert not _guardian_stays(gov)


def test_a_copy_still_voting_at_the_veto_is_not_covered_by_it(gov, chain, voter):
    """Found in a review of the rule above: the Governor takes votes in its deadline's second,
    so a copy whose deadline was the veto's own second could win votes after the veto and was
    still covered, a second veto. A copy is covered only when its vote ended before the veto."""
    governor, guardian, veto = gov.governor, gov.guardian, gov.veto
    first = Proposal(gov, _remove_the_guardian(gov), "Remove the guardian (1)")
    passed_and_queued(gov, chain, first, voter)
    later = Proposal(gov, _remove_the_guardian(gov), "Remove the guardian (2)")
    later.propose(voter)
    deadline = governor.proposalDeadline(later.id)
    chain.pending_timestamp = deadline
    first.veto(guardian)  # in the last second of the later copy's vote
    action = veto.actionHash(first.targets, first.values, first.calldatas)
    assert veto.vetoedAt(action) == deadline
    chain.pending_timestamp = deadline  # the same second, the next block: votes still count
    governor.castVote(later.id, 1, sender=voter)
    chain.mine(1, deltatime=2)
    later.queue(voter)
    assert not veto.covered(later.targets, later.values, later.calldatas, later.salt())
    with ape.reverts(veto.AlreadyVetoed, action=action):
        later.veto(guardian)


def test_a_change_left_queued_expires_instead_of_waiting_for_anyone_to_fire_it(
    gov, chain, voter, accounts
):
    """Found in a governance review after stop 39: timelock operations never expired, so a
    change left queued because it reverted when it became ready stayed an option for anyone to
    execute whenever it turned valid, over the DAO's later decisions; once the guardian had
    vetoed its action, neither the veto nor the governor could cancel it. The PoC: a vetoed
    raise passed again, frozen at its eta, was fired by a stranger 200 days later. Now an
    operation executes only within BallastTimelock.GRACE_PERIOD (90 days) of its ready time, 30
    days longer than the longest freeze, and the governor reports the proposal Expired."""
    registry, guardian, timelock = gov.registry, gov.guardian, gov.timelock
    grace = timelock.GRACE_PERIOD()
    assert grace >= registry.get(MAX_FREEZE) + 30 * 86_400
    first = Proposal(gov, [set_idle(gov, 700)], "Idle buffer to 7%")
    passed_and_queued(gov, chain, first, voter)
    first.veto(guardian)  # the guardian's one veto of this action
    again = Proposal(gov, [set_idle(gov, 700)], "Idle buffer to 7%, second vote")
    operation = passed_and_queued(gov, chain, again, voter)
    eta = gov.governor.proposalEta(again.id)
    chain.pending_timestamp = eta - 10
    registry.freeze(IDLE, sender=guardian)
    chain.pending_timestamp = eta
    with ape.reverts(registry.ParameterFrozen, key=IDLE):
        again.execute(voter)
    with ape.reverts(gov.veto.AlreadyVetoed):  # nobody can retire it...
        again.veto(guardian)

    # The DAO settles on another value meanwhile.
    later = Proposal(
        gov,
        [(registry, registry.unfreeze.encode_input(IDLE)), set_idle(gov, 550)],
        "Idle buffer to 5.5%",
    )  # fmt: skip
    passed_and_queued(gov, chain, later, voter)
    chain.pending_timestamp = gov.governor.proposalEta(later.id)
    later.execute(voter)
    assert registry.get(IDLE) == 550

    # ... but it cannot be fired once the grace period is over: the DAO's decision stands.
    assert again.state() == "Queued"  # still executable within the grace period
    chain.pending_timestamp = eta + grace + 1
    chain.mine(1)
    assert again.state() == "Expired"
    stranger = accounts[9]
    with ape.reverts(timelock.OperationExpired, id=operation, readyAt=eta):
        timelock.executeBatch(*again.args()[:3], b"\x00" * 32, again.salt(), sender=stranger)
    with ape.reverts(gov.governor.GovernorUnexpectedProposalState):
        again.execute(stranger)
    assert registry.get(IDLE) == 550


def test_a_threshold_holder_cannot_front_run_and_cancel_the_daos_proposal(
    gov, chain, voter, accounts
):
    """Found in a review after issue 18: OpenZeppelin's Governor names a proposal by its
    contents and lets its proposer cancel it while Pending. `params propose` sent descriptions
    anyone could copy: a holder of the proposal threshold (10,000 BLST) copied the DAO's
    `propose` from the mempool, landed it first (the DAO's reverted) and cancelled it in the
    voting delay, so that exact proposal could never be made again; its votes unspent, it could
    do so every time. The defence: the tooling ends every description with `#proposer=<the
    sender>` (`ballast.params.bound_to_proposer`), and the Governor refuses it from anyone else."""
    governor, token, registry = gov.governor, gov.token, gov.registry
    griefer = accounts[4]  # 100,000 BLST of 1,300,000
    token.invoke_transaction("delegate", griefer, sender=griefer)
    chain.mine(1, deltatime=1)
    assert token.getVotes(griefer) >= governor.proposalThreshold()
    text = P.bound_to_proposer("Set vault.idleBufferBps = 600", voter.address)
    assert text == f"Set vault.idleBufferBps = 600 #proposer={voter.address}"
    args = ([registry.address], [0], [registry.set.encode_input(IDLE, 600)], text)
    with ape.reverts(governor.GovernorRestrictedProposer, proposer=griefer.address):
        governor.propose(*args, sender=griefer)  # the copy, sent first
    receipt = governor.propose(*args, sender=voter)
    (created,) = receipt.events.filter(governor.ProposalCreated)
    assert created.proposer == voter.address
    with ape.reverts(governor.GovernorUnableToCancel):
        governor.cancel(*args[:3], keccak(text=text), sender=griefer)
    assert P.PROPOSAL_STATES[governor.state(created.proposalId)] == "Pending"
