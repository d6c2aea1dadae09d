"""The gas the lending-steward benchmark charges the DAO's slow path is at least what the
deployed governor uses: a drafted 4-key gold batch (one `setBatch`, as `params propose` sends
it) proposed, voted by each of local.yaml's three token holders, queued and executed on anvil.
The benchmark's `SlowPath` constants come from this flow (printed with -s)."""

from __future__ import annotations

from ballast.parameters import key_of
from benchmarks.lending_steward.sim import SlowPath
from tests.governance_support import Proposal, delegate

CHANGES = {  # a drafted cut of gold: LTV and threshold, the borrow cap and slope1
    "lend.ltvBps.gold": 6_000,
    "lend.liqThresholdBps.gold": 6_750,
    "lend.borrowCap.gold": 1_500_000_000_000,
    "lend.rate.slope1Bps": 500,
}
# the rationale document is the proposal's description (`params propose --from-recommendation`)
DESCRIPTION = "steward recommendation: gold LTV 6,000, threshold 6,750 bps; " + "x" * 1_900


def _gas(chain, receipt) -> int:
    return chain.provider.web3.eth.get_transaction_receipt(receipt.txn_hash)["gasUsed"]


def test_the_slow_paths_gas_covers_propose_three_votes_queue_and_execute(gov, chain, accounts):
    holders = [a for a in accounts if a.address in gov.config.governance.distribution]
    assert len(holders) == 3
    for holder in holders:
        delegate(gov.token, holder)
    chain.mine(1, deltatime=1)
    keys, values = [key_of(n) for n in CHANGES], list(CHANGES.values())
    call = (gov.registry, gov.registry.setBatch.encode_input(keys, values))
    proposal = Proposal(gov, [call], DESCRIPTION)
    propose = _gas(chain, proposal.propose(holders[0]))
    chain.mine(1, deltatime=gov.governor.votingDelay() + 1)
    votes = [_gas(chain, gov.governor.castVote(proposal.id, 1, sender=h)) for h in holders]
    chain.mine(1, deltatime=gov.governor.votingPeriod() + 1)
    queue = _gas(chain, proposal.queue(holders[0]))
    chain.mine(1, deltatime=gov.timelock.getMinDelay() + 1)
    execute = _gas(chain, proposal.execute(holders[0]))
    for name, value in CHANGES.items():
        assert gov.registry.getParam(key_of(name)).value == value
    print(f"propose {propose}, castVote {votes}, queue {queue}, execute {execute}")
    slow = SlowPath()
    assert propose + sum(votes) <= slow.vote_gas, (propose, votes)
    assert queue + execute <= slow.enact_gas, (queue, execute)
