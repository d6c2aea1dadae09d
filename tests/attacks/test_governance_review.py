"""An outside review of governance and parameter control (branch `gov`): the attacks that worked.

The system is `ballast.deploy.deploy_system` of deployments/config/local.yaml (the `gov`
fixture): voting delay 1 day, voting period 3 days, timelock 15 days (grace 90 days), quorum
4 % of 1,300,000 BLST; the deployer holds 1,000,000 BLST (the `voter` fixture delegates them);
vault.idleBufferBps = 500 in [100, 5,000], governance step 50 % / cooldown 1 day.

1. A passed proposal nobody queued is an option for anyone, forever. `BallastTimelock`'s grace
   period ends a *queued* operation 90 days after its eta (the catalogue's "A change left queued
   is an option for anyone, forever"), but OpenZeppelin's Governor keeps a proposal that passed
   and was never queued `Succeeded` for good, and `queue` is anyone's. A copy of an action the
   guardian already vetoed once, passed again and then left aside by the DAO (it settled on
   another value), was queued by a stranger 200 days later and executed 15 days after that,
   over the DAO's later decision: the guardian's one veto of the action was spent
   (`AlreadyVetoed`), the DAO's own cancel works only while a proposal is Pending, so nobody
   could stop it. The defence: `BallastGovernor.state` reports a proposal that passed but was
   not queued within `QUEUE_PERIOD` (the timelock's grace, 90 days) of its vote's end
   `Expired`, and `queue` refuses it (`GovernorUnexpectedProposalState`).

2. What a voter is shown is the proposer's text, not what executes. `ape run params status ID`
   printed the description and `params vote` printed nothing of the proposal: a threshold
   holder proposing through the governor directly could describe a `setBatch` that also cuts
   gold's liquidation threshold, and a `grantRole` of the registry's STEWARD to itself, as
   "Set vault.idleBufferBps = 600". The defence: both commands decode every call against the
   deployment's contracts (parameter keys by name, roles by name), say in one line each what
   the description leaves out or contradicts, and `vote ... for` on such a proposal needs
   `--despite-warnings`; `params propose` writes its changes into every description.
"""

from __future__ import annotations

import re

import ape
import pytest

from ballast.parameters import key_of
from tests.governance_support import Proposal, save_governance_manifest
from tests.scripts.inprocess import (  # noqa: F401 - fixtures
    _process_state_restored,
    ape_script,
    session_provider,
)

IDLE = key_of("vault.idleBufferBps")
GOLD_THRESHOLD = key_of("lend.liqThresholdBps.gold")
GOLD_LTV = key_of("lend.ltvBps.gold")
DAY = 86_400
QUEUE_PERIOD = 90 * DAY  # BallastGovernor.QUEUE_PERIOD: the timelock's grace
NETWORK = ["--network", "ethereum:local:foundry"]


def set_idle(gov, value: int) -> tuple[object, bytes]:
    return (gov.registry, gov.registry.set.encode_input(IDLE, value))


def vote_through(gov, chain, proposal: Proposal, voter) -> None:
    """Propose and vote it through: Succeeded, not queued."""
    proposal.propose(voter)
    chain.mine(1, deltatime=gov.governor.votingDelay() + 1)
    gov.governor.castVote(proposal.id, 1, sender=voter)
    chain.mine(1, deltatime=gov.governor.votingPeriod() + 1)
    assert proposal.state() == "Succeeded"


def test_a_passed_proposal_left_unqueued_cannot_be_fired_by_anyone_months_later(
    gov, chain, voter, accounts
):
    """The DAO's raise of the idle buffer to 600 is vetoed once by the guardian and passed again
    (copy B); before anyone queues B the DAO settles on 450 instead and executes that. B stays
    Succeeded. 200 days later a stranger queues B: before the fix it executed 15 days later
    (idle 450 -> 600, over the DAO's later decision; the guardian's cancel refused as
    `AlreadyVetoed`). Now B is `Expired` once the queue period is over and `queue` reverts."""
    registry, guardian, stranger = gov.registry, gov.guardian, accounts[9]
    a = Proposal(gov, [set_idle(gov, 600)], "Raise the idle buffer to 600")
    vote_through(gov, chain, a, voter)
    a.queue(voter)
    a.veto(guardian)  # the guardian's one veto of this action
    assert a.state() == "Canceled"

    b = Proposal(gov, [set_idle(gov, 600)], "Raise the idle buffer to 600, again")
    vote_through(gov, chain, b, voter)  # the DAO passes it again ... and leaves it
    c = Proposal(gov, [set_idle(gov, 450)], "Idle buffer 450 after all")
    vote_through(gov, chain, c, voter)
    c.queue(voter)
    chain.mine(1, deltatime=gov.timelock.getMinDelay() + 1)
    c.execute(voter)
    assert registry.get(IDLE) == 450

    chain.mine(1, deltatime=200 * DAY)  # months later
    deadline = gov.governor.proposalDeadline(b.id)
    assert chain.pending_timestamp > deadline + QUEUE_PERIOD
    assert b.state() == "Expired", f"a passed proposal {b.state()} 200 days after its vote"
    with ape.reverts(gov.governor.GovernorUnexpectedProposalState):
        b.queue(stranger)
    assert registry.get(IDLE) == 450


def test_a_passed_proposal_queued_within_the_queue_period_executes(gov, chain, voter, accounts):
    """The control: queued on the last second of its queue period, a proposal executes at its
    eta as before (the period bounds when it may be queued, not the timelock)."""
    registry, stranger = gov.registry, accounts[9]
    before = registry.get(IDLE)
    target = before + before // 5
    p = Proposal(gov, [set_idle(gov, target)], f"Idle buffer {target}, queued late")
    vote_through(gov, chain, p, voter)
    assert gov.governor.QUEUE_PERIOD() == QUEUE_PERIOD
    last = gov.governor.proposalDeadline(p.id) + QUEUE_PERIOD
    chain.mine(1, timestamp=last - 10)
    receipt = p.queue(stranger)
    assert last - 10 <= receipt.timestamp <= last  # in the queue period's last seconds
    assert p.state() == "Queued"
    chain.mine(1, deltatime=gov.timelock.getMinDelay() + 1)
    p.execute(stranger)
    assert registry.get(IDLE) == target


# ----------------------------------------------------------------------------- 2. the voter's view


@pytest.fixture(scope="module")
def params_manifest(gov, chain, tmp_path_factory):
    path = tmp_path_factory.mktemp("deploy") / "ethereum-local.json"
    return save_governance_manifest(gov, chain, path)


@pytest.fixture
def params(ape_script, params_manifest):  # noqa: F811 - the imported fixture
    def run(*args: str, account: str | None = "TEST::0"):
        extra = ["--account", account] if account else []
        if args[0] != "advance":
            extra += ["--manifest", str(params_manifest)]
        result = ape_script("params", [*args, *NETWORK, *extra])
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    return run


def test_a_voter_sees_every_call_a_proposal_makes_not_only_its_description(
    gov, chain, voter, accounts, params
):
    """A threshold holder (here the deployer's votes) proposes through the governor directly:
    the description reads as `params propose` would write it for the idle buffer alone, the calls
    also cut gold's liquidation threshold 7,500 -> 6,750 (open loans near their limit become
    liquidatable) and give the registry's STEWARD role to the proposer's friend. `params status
    ID` and `params vote` now show all three, say what the description leaves out, and a vote
    for it is refused unless the voter insists."""
    registry, friend = gov.registry, accounts[8]
    ltv = registry.get(GOLD_LTV)
    threshold = registry.get(GOLD_THRESHOLD)
    assert (ltv, threshold) == (7_000, 7_500)
    calls = [
        (
            registry,
            registry.setBatch.encode_input([IDLE, GOLD_THRESHOLD, GOLD_LTV], [600, 6_750, 6_700]),
        ),
        (registry, registry.grantRole.encode_input(registry.STEWARD_ROLE(), friend.address)),
    ]
    text = f"Set vault.idleBufferBps = 600 #proposer={voter.address}"
    p = Proposal(gov, calls, text)
    p.propose(voter)
    chain.mine(1, deltatime=gov.governor.votingDelay() + 1)

    status = params("status", str(p.id), account=None)
    assert status.returncode == 0, status.stderr
    out = re.sub(r"\s+", " ", status.stdout)
    # what executes, in words
    assert (
        "ParameterRegistry.setBatch(vault.idleBufferBps = 600, lend.liqThresholdBps.gold = 6,750, "
        "lend.ltvBps.gold = 6,700)"
    ) in out
    assert f"ParameterRegistry.grantRole(STEWARD_ROLE, {friend.address})" in out
    # and what the description does not say
    assert "sets lend.liqThresholdBps.gold to 6,750, which the description does not mention" in out
    assert "sets lend.ltvBps.gold to 6,700, which the description does not mention" in out
    assert "ParameterRegistry.grantRole is not a parameter change" in out

    refused = params("vote", str(p.id), "for")
    assert refused.returncode == 1
    assert "--despite-warnings" in refused.stderr
    assert not gov.governor.hasVoted(p.id, voter.address)
    assert "lend.liqThresholdBps.gold = 6,750" in re.sub(r"\s+", " ", refused.stdout)

    against = params("vote", str(p.id), "against")  # voting it down needs no insisting
    assert against.returncode == 0, against.stderr
    assert gov.governor.hasVoted(p.id, voter.address)


def test_a_proposal_made_by_params_propose_describes_its_calls_and_draws_no_warning(
    gov, chain, voter, params
):
    """The control: `params propose` with a free-text description writes the changes into it, so
    `status` shows the calls with no warning and a vote for it needs nothing more."""
    proposed = params(
        "propose", "vault.idleBufferBps", "650", "agent.vetoWindow", "4d",
        "--description", "More idle liquidity; longer veto window",
    )  # fmt: skip
    assert proposed.returncode == 0, proposed.stderr
    pid = re.search(r"^proposal (\d+)$", proposed.stdout, re.M).group(1)
    chain.mine(1, deltatime=gov.governor.votingDelay() + 1)
    status = params("status", pid, account=None)
    out = re.sub(r"\s+", " ", status.stdout)
    assert "ParameterRegistry.setBatch(vault.idleBufferBps = 650, agent.vetoWindow = 4d)" in out
    assert "warning" not in out.lower()
    voted = params("vote", pid, "for")
    assert voted.returncode == 0, voted.stderr
