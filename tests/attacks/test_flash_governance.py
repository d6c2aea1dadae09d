"""Attack: flash-borrowed governance tokens propose or pass a proposal.

A flash loan lends any amount of BLST for the length of one transaction. If the governor
counted the votes an account holds now, a borrower could delegate a pool's tokens to itself,
submit or carry a proposal (lower a cap, raise a fee, hand a role away) and repay, all in one
transaction, at no cost but gas. The defence: ERC20Votes checkpoints and OZ Governor reads
votes at a past timepoint: the proposal threshold at `clock() - 1`, a vote at the proposal's
snapshot (`votingDelay` after proposing). Tokens borrowed and delegated after that timepoint
carry no weight, however many there are.

`MockFlashLender` (ERC-3156, no fee) holds 900,000 BLST of the 1,300,000 supply, the liquidity
of a lending pool; `FlashVoter` borrows all of it, delegates it to itself, then proposes or
votes, and repays in the same transaction. Honest holders: accounts[3] (200,000) and
accounts[4] (100,000), both self-delegated before anything starts.
"""

from __future__ import annotations

import pytest
from eth_abi import decode
from eth_utils import keccak

from ballast.parameters import key_of
from tests.governance_support import TOKEN, Proposal, delegate

POOL = 900_000 * TOKEN
AGAINST, FOR = 0, 1


@pytest.fixture(scope="module")
def holders(gov, accounts, chain):
    """accounts[3] and accounts[4] self-delegated; the pool lent out by the lender."""
    for holder in (accounts[3], accounts[4]):
        delegate(gov.token, holder)
    chain.mine(1, deltatime=1)
    return accounts[3], accounts[4]


@pytest.fixture(scope="module")
def lender(project, gov, holders):
    contract = gov.deployer.deploy(project.MockFlashLender)
    gov.token.transfer(contract, POOL, sender=gov.deployer)
    return contract


@pytest.fixture(scope="module")
def mallory(accounts):
    return accounts[8]


@pytest.fixture(scope="module")
def flash_voter(project, gov, lender, mallory):
    return mallory.deploy(project.FlashVoter, gov.governor, lender, gov.token)


def malicious_call(gov) -> tuple[object, bytes]:
    """Turnover unlimited: an agent may then move the whole vault in one rebalance."""
    return (gov.registry, gov.registry.set.encode_input(key_of("vault.maxTurnoverBps"), 10_000))


def custom_error(raw: bytes, signature: str) -> tuple:
    """Decodes `raw` as the custom error `signature` (e.g. "E(address,uint256)")."""
    assert raw[:4] == keccak(text=signature)[:4], f"reverted {raw.hex()}, expected {signature}"
    types = signature[signature.index("(") + 1 : -1].split(",")
    return decode(types, raw[4:])


def test_flash_borrowed_tokens_cannot_submit_a_proposal(gov, lender, flash_voter, mallory):
    """The attacker holds nothing; for one transaction it holds 900,000 live votes, 90 times
    the proposal threshold. The governor reads the proposer's votes one second back: 0."""
    target, data = malicious_call(gov)
    threshold = gov.governor.proposalThreshold()
    flash_voter.flashPropose(
        [target.address], [0], [data], "Unlimited turnover", POOL, sender=mallory
    )
    assert flash_voter.votesDuringLoan() == POOL > 10 * threshold
    assert flash_voter.lastProposalId() == 0
    proposer, votes, needed = custom_error(
        bytes(flash_voter.lastError()),
        "GovernorInsufficientProposerVotes(address,uint256,uint256)",
    )
    assert (proposer, votes, needed) == (flash_voter.address.lower(), 0, threshold)
    assert gov.token.balanceOf(lender) == POOL  # repaid in the same transaction
    assert gov.token.getVotes(flash_voter) == 0


def test_flash_borrowed_votes_count_for_nothing_and_the_proposal_fails(
    gov, chain, holders, lender, flash_voter, mallory
):
    """Mallory bought 20,000 BLST long ago (enough to propose) and proposes the malicious
    change; 200,000 honest votes oppose it. During the vote she flash-borrows 900,000 and
    votes with them: counted, they would carry it 920,000 to 200,000. The governor counts
    them as 0 (the snapshot is before the loan) and the proposal is Defeated."""
    opponent, _ = holders
    gov.token.transfer(mallory, 20_000 * TOKEN, sender=gov.deployer)
    delegate(gov.token, mallory)
    chain.mine(1, deltatime=1)
    proposal = Proposal(gov, [malicious_call(gov)], "Unlimited turnover, again")
    proposal.propose(mallory)
    chain.mine(1, deltatime=gov.governor.votingDelay() + 1)
    assert proposal.state() == "Active"

    gov.governor.castVote(proposal.id, AGAINST, sender=opponent)
    tx = flash_voter.flashVote(proposal.id, FOR, POOL, sender=mallory)
    (cast,) = tx.events.filter(gov.governor.VoteCast)
    assert (cast.voter, cast.support, cast.weight) == (flash_voter.address, FOR, 0)
    assert flash_voter.votesDuringLoan() == POOL and flash_voter.lastWeight() == 0
    assert bytes(flash_voter.lastError()) == b""
    assert gov.token.balanceOf(lender) == POOL
    gov.governor.castVote(proposal.id, FOR, sender=mallory)

    against, for_, abstain = gov.governor.proposalVotes(proposal.id)
    assert (against, for_, abstain) == (200_000 * TOKEN, 20_000 * TOKEN, 0)
    chain.mine(1, deltatime=gov.governor.votingPeriod() + 1)
    assert proposal.state() == "Defeated"
