"""Links on the deployed system: deploy declares them, the `params` pre-check explains a broken
one naming both parameters and sends nothing, and a proposal that breaks one anyway passes the
vote and the timelock but reverts at execution with `LinkViolated(a, b, rule)`. A proposal of
several changes is one `setBatch`, checked on the values after all of them."""

from __future__ import annotations

import ape
import pytest

from ballast.deploy import parameter_links
from ballast.deployment import Deployment
from ballast.parameters import key_of
from tests.governance_support import Proposal

NETWORK = ["--network", "ethereum:local:foundry"]
LESS_THAN, PRODUCT, SUM, RATIO = 1, 2, 3, 4
LTV, THR, BONUS = "lend.ltvBps.gold", "lend.liqThresholdBps.gold", "lend.liqBonusBps.gold"
IDLE = "vault.idleBufferBps"
CAPS = [f"vault.maxSleeveBps.{s}" for s in ("tbill", "gold", "invoices", "lending")]


def set_call(gov, name: str, value: int):
    return (gov.registry, gov.registry.set.encode_input(key_of(name), value))


def batch_call(gov, changes: dict[str, int]):
    keys, values = [key_of(n) for n in changes], list(changes.values())
    return (gov.registry, gov.registry.setBatch.encode_input(keys, values))


def queued(gov, chain, proposal: Proposal, voter) -> None:
    """Propose, vote and queue."""
    proposal.propose(voter)
    chain.mine(1, deltatime=gov.governor.votingDelay() + 1)
    gov.governor.castVote(proposal.id, 1, sender=voter)
    chain.mine(1, deltatime=gov.governor.votingPeriod() + 1)
    proposal.queue(voter)


def through_the_timelock(gov, chain, proposal: Proposal, voter) -> None:
    """Propose, vote, queue and wait out the timelock: the next call may execute it."""
    queued(gov, chain, proposal, voter)
    chain.mine(1, deltatime=gov.timelock.getMinDelay() + 1)


def test_deploy_declares_a_link_per_collateral_pair_the_caps_the_strike_wait_and_the_window(gov):
    reg = gov.registry
    declared = []
    for i in range(reg.linkCount()):
        link = reg.getLink(i)
        declared.append((link.rule, [reg.nameOf(k) for k in link.keys], link.bound))
    assert declared == parameter_links(gov.config)
    assert (LESS_THAN, [LTV, THR], 0) in declared
    assert (PRODUCT, [THR, BONUS], 10_000) in declared
    assert (SUM, [IDLE, *CAPS], 10_000) in declared
    assert (LESS_THAN, ["oracle.maxStaleness", "vault.strikeMaxWait"], 0) in declared
    assert (LESS_THAN, ["oracle.confirmDelay", "vault.strikeMaxWait"], 0) in declared
    assert (RATIO, ["agent.evalWindow", "vault.rebalanceCooldown"], 120) in declared
    # three collateral, the caps, staleness and confirmation, the evaluation window
    assert len(declared) == 2 * 3 + 1 + 2 + 1


# Each proposal breaks one link with values inside every bound and step, so only the link
# refuses it. The product link cannot be reached within gold's configured bounds (8 500 x 1.15 <
# 100 %): the DAO first widens the bonus bounds in the same proposal.
BREAKING = {
    "ltv up to the threshold": (
        lambda gov: [set_call(gov, LTV, 7_600)], (LTV, THR, LESS_THAN)),
    "threshold times bonus above 100 %": (
        lambda gov: [(gov.registry, gov.registry.setBounds.encode_input(
            key_of(BONUS), 100, 5_000, 0, 86_400)), set_call(gov, BONUS, 4_000)],
        (THR, BONUS, PRODUCT)),
    "sleeve caps cut below a feasible allocation": (
        lambda gov: [batch_call(gov, {CAPS[0]: 3_000, CAPS[1]: 1_500, CAPS[2]: 1_500,
                                      CAPS[3]: 1_500})],
        (IDLE, CAPS[0], SUM)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BREAKING))
def test_a_proposal_breaking_a_link_reverts_at_execution(gov, chain, voter, case):
    calls, (a, b, rule) = BREAKING[case]
    before = {n: gov.registry.get(key_of(n)) for n in (LTV, THR, BONUS, IDLE, *CAPS)}
    proposal = Proposal(gov, calls(gov), case)
    through_the_timelock(gov, chain, proposal, voter)
    with ape.reverts(gov.registry.LinkViolated, a=key_of(a), b=key_of(b), rule=rule):
        proposal.execute(voter)
    assert proposal.state() == "Queued"
    assert {n: gov.registry.get(key_of(n)) for n in before} == before


def test_a_proposal_moving_both_parameters_of_a_pair_executes(gov, chain, voter):
    # LTV 7000 -> 7600 alone crosses the threshold; with the threshold 7500 -> 8000 it does not
    proposal = Proposal(gov, [batch_call(gov, {LTV: 7_600, THR: 8_000})], "gold LTV and threshold")
    through_the_timelock(gov, chain, proposal, voter)
    proposal.execute(voter)
    assert [gov.registry.get(key_of(n)) for n in (LTV, THR)] == [7_600, 8_000]


def test_a_steward_move_cannot_block_a_proposal_naming_both_parameters(gov, chain, voter):
    """The DAO raises gold's LTV to 7400 and names the threshold at 7500 in the same batch.
    During the timelock the steward cuts the threshold by its step every 3 days (7500 -> 7452
    -> 7404 -> 7356 -> 7309): alone, the LTV change would now cross it. The batch sets both, its
    steps count from governance's own last values, so it executes all the same."""
    reg, steward = gov.registry, gov.steward
    proposal = Proposal(gov, [batch_call(gov, {LTV: 7_400, THR: 7_500})], "gold LTV to 74 %")
    queued(gov, chain, proposal, voter)
    eta = gov.governor.proposalEta(proposal.id)
    value = 7_500
    for _ in range(4):
        ready = reg.getParam(key_of(THR)).lastUpdate + 3 * 86_400
        chain.pending_timestamp = max(ready, chain.blocks.head.timestamp + 1)
        value -= value * 65 // 10_000
        reg.stewardSet(key_of(THR), value, sender=steward)
    assert chain.blocks.head.timestamp < eta
    assert reg.get(key_of(THR)) == 7_309 < 7_400
    chain.pending_timestamp = eta
    assert reg.check(key_of(LTV), 7_400, False, block_id="pending")[0] is False  # alone: refused
    proposal.execute(voter)
    assert [reg.get(key_of(n)) for n in (LTV, THR)] == [7_400, 7_500]


# ------------------------------------------------------------------ the `params` pre-check


@pytest.fixture(scope="module")
def linked_manifest(gov, chain, tmp_path_factory):
    path = tmp_path_factory.mktemp("deploy") / "ethereum-local.json"
    c = {
        "BallastToken": gov.token.address,
        "BallastGovernor": gov.governor.address,
        "TimelockController": gov.timelock.address,
        "ParameterRegistry": gov.registry.address,
    }
    Deployment(chain_id=chain.chain_id, block=0, deployer=gov.deployer.address, contracts=c).save(
        path
    )
    return path


@pytest.fixture
def params(run_ape, linked_manifest):
    def run(*args: str, account: str | None = None):
        extra = ["--manifest", str(linked_manifest)] + (["--account", account] if account else [])
        result = run_ape(["run", "params", *args, *NETWORK, *extra])
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    return run


def proposals_made(gov) -> int:
    head = gov.governor.chain_manager.blocks.head.number
    return len(list(gov.governor.ProposalCreated.range(0, head + 1)))


def test_params_show_lists_the_links(params):
    shown = params("show")
    assert shown.returncode == 0, shown.stderr
    assert "links (every change must keep them):" in shown.stdout
    assert "  lend.ltvBps.gold < lend.liqThresholdBps.gold" in shown.stdout
    assert "  lend.liqThresholdBps.gold x (1 + lend.liqBonusBps.gold / 10,000) <= 10,000" in (
        shown.stdout
    )
    assert (
        "  vault.idleBufferBps + vault.maxSleeveBps.tbill + vault.maxSleeveBps.gold + "
        "vault.maxSleeveBps.invoices + vault.maxSleeveBps.lending >= 10,000"
    ) in shown.stdout


def test_params_explains_a_broken_link_naming_both_and_sends_nothing(params, gov):
    checked = params("check", LTV, "7600")
    assert checked.returncode == 1
    assert (
        "lend.ltvBps.gold 7,600 must stay below lend.liqThresholdBps.gold 7,500: change both in "
        "one proposal." in checked.stderr
    )
    assert len(checked.stderr.strip().splitlines()) == 1

    before = proposals_made(gov)
    refused = params("propose", *CAPS[0:1], "3000", CAPS[1], "1500", CAPS[2], "1500", CAPS[3],
                     "1500", "--self-delegate", account="TEST::0")  # fmt: skip
    assert refused.returncode == 1
    assert (
        "vault.idleBufferBps + vault.maxSleeveBps.tbill + vault.maxSleeveBps.gold + "
        "vault.maxSleeveBps.invoices + vault.maxSleeveBps.lending = 8,000 would fall below "
        "10,000: raise another of them in the same proposal. No proposal was sent."
    ) in refused.stderr
    assert proposals_made(gov) == before

    together = params("check", LTV, "7600", THR, "8000")
    assert together.returncode == 0, together.stderr
    assert "ok: a proposal setting lend.ltvBps.gold = 7,600, lend.liqThresholdBps.gold = 8,000" in (
        together.stdout
    )
