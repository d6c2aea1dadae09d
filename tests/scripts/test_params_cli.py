"""`ape run params`, run as a DAO member would, against this test run's anvil: in-process
(tests/scripts/inprocess.py), two tests through the real `ape run params` in a subprocess."""

from __future__ import annotations

import json
import re

import pytest

from ballast.parameters import key_of
from ballast.params import show_time
from tests.governance_support import save_governance_manifest

NETWORK = ["--network", "ethereum:local:foundry"]
IDLE = key_of("vault.idleBufferBps")


@pytest.fixture(scope="module")
def params_manifest(gov, chain, tmp_path_factory):
    """The module's governance deployment, written where the script reads it."""
    path = tmp_path_factory.mktemp("deploy") / "ethereum-local.json"
    return save_governance_manifest(gov, chain, path)


def params_runner(run, params_manifest):
    """`ape run params ARGS` as TEST::0 unless told otherwise, on the module's manifest; `run`
    takes the arguments after `ape run params` and returns the command's end."""

    def params(*args: str, account: str | None = "TEST::0"):
        extra = ["--account", account] if account else []
        if args[0] != "advance":  # advance only moves the node's clock
            extra += ["--manifest", str(params_manifest)]
        result = run([*args, *NETWORK, *extra])
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    return params


@pytest.fixture
def params(ape_script, params_manifest):
    """In-process (tests/scripts/inprocess.py): the script's own click command."""
    return params_runner(lambda args: ape_script("params", args), params_manifest)


@pytest.fixture
def params_real(ape_real, params_manifest):
    """The real wrapper: `ape run params` in a subprocess."""
    return params_runner(lambda args: ape_real(["run", "params", *args]), params_manifest)


def proposals_made(gov) -> int:
    head = gov.governor.chain_manager.blocks.head.number
    return len(list(gov.governor.ProposalCreated.range(0, head + 1)))


def test_show_lists_every_parameter_with_its_rules(params, gov):
    result = params("show", account=None)
    assert result.returncode == 0, result.stderr
    for spec in gov.config.parameters:
        assert spec.name in result.stdout
    row = next(line for line in result.stdout.splitlines() if "vault.idleBufferBps" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells[:7] == [
        "vault.idleBufferBps",
        "500",
        "100",
        "5,000",
        "5000 bps",
        "1d",
        "2000 bps / 3d",
    ]
    row = next(line for line in result.stdout.splitlines() if "agent.unbondingPeriod" in line)
    assert "7d" in row and "14d" in row


def test_show_and_status_as_json(params, gov):
    """--json: one document a script can read, values as on chain."""
    shown = json.loads(params("show", "--json", account=None).stdout)
    assert shown["version"] == "ballast.parameters/1"
    by_name = {p["name"]: p for p in shown["parameters"]}
    assert set(by_name) == {spec.name for spec in gov.config.parameters}
    idle = by_name["vault.idleBufferBps"]
    assert idle["value"] == gov.registry.get(key_of("vault.idleBufferBps"))
    assert idle["cooldown"] == gov.registry.getParam(key_of("vault.idleBufferBps")).cooldown
    proposals = json.loads(params("status", "--json", account=None).stdout)
    assert proposals["version"] == "ballast.proposals/1"
    assert isinstance(proposals["proposals"], list)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["vault.idleBufferBps", "12000"],
            "vault.idleBufferBps: 12,000 is above its maximum 5,000",
        ),
        (["vault.idleBufferBps", "50"], "vault.idleBufferBps: 50 is below its minimum 100"),
        (["lend.fullCloseHealthBps", "8000"], "is a larger step than 500 bps allows in one change"),
        (["vault.nope", "1"], "unknown parameter 'vault.nope'"),
        (["vault.idleBufferBps", "lots"], "vault.idleBufferBps: not a non-negative whole number"),
        (["agent.vetoWindow", "3x"], "agent.vetoWindow: not a duration: '3x'"),
        (["vault.idleBufferBps"], "give NAME VALUE pairs"),
        (["vault.idleBufferBps", "600", "vault.idleBufferBps", "700"], "appears twice"),
    ],
)
def test_propose_refuses_bad_changes_in_one_line_and_sends_nothing(params, gov, args, message):
    before = proposals_made(gov)
    result = params("propose", *args, "--self-delegate")
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert proposals_made(gov) == before
    assert gov.token.delegates(gov.deployer) == "0x" + "00" * 20  # refused before delegating


def test_propose_warns_about_undelegated_tokens(params_real, gov):
    """A real `ape run params` (subprocess), like test_missing_manifest_is_one_clear_line."""
    result = params_real("propose", "vault.idleBufferBps", "600")
    assert "are not delegated, so they count for nothing" in result.stdout
    assert "--self-delegate" in result.stdout
    assert result.returncode == 1
    assert "proposing needs 10,000 votes" in result.stderr


def test_show_and_propose_give_the_end_of_a_freeze(params, gov):
    """The guardian freezes the idle buffer for registry.maxFreezePeriod (30 days): `show` says
    until when, and a proposal that would execute before then is refused in those words."""
    receipt = gov.registry.freeze(IDLE, sender=gov.guardian)
    (frozen,) = receipt.events.filter(gov.registry.Frozen)
    until = frozen.frozenUntil
    assert until == receipt.timestamp + 30 * 86_400

    shown = params("show", account=None)
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "vault.idleBufferBps" in line)
    assert f"FROZEN until {show_time(until)}" in row

    before = proposals_made(gov)
    refused = params("propose", "vault.idleBufferBps", "600", "--self-delegate")
    assert refused.returncode == 1
    assert (
        f"vault.idleBufferBps: frozen by the guardian until {show_time(until)}, after this "
        "proposal could execute" in refused.stderr
    )
    assert proposals_made(gov) == before


def test_unfreeze_lifts_the_freezes_a_batch_would_meet(params, gov):
    """Staggered freezes: the guardian freezes the idle buffer for 30 days, past the execution of
    a batch proposed now, and the veto window once the proposal is queued. Without --unfreeze the
    batch is refused up front (and would meet a freeze at every moment if the guardian went on
    in turn); with it, the proposal unfreezes both first and executes at its eta."""
    gov.registry.freeze(IDLE, sender=gov.guardian)
    changes = ("vault.idleBufferBps", "600", "agent.vetoWindow", "4d")
    refused = params("propose", *changes, "--self-delegate")
    assert refused.returncode == 1 and "--unfreeze" in refused.stderr

    before = proposals_made(gov)
    proposed = params("propose", *changes, "--unfreeze", "--self-delegate")
    assert proposed.returncode == 0, proposed.stderr
    assert proposals_made(gov) == before + 1
    proposal_id = re.search(r"^proposal (\d+)$", proposed.stdout, re.M).group(1)
    head = gov.governor.chain_manager.blocks.head.number
    (created,) = [e for e in gov.governor.ProposalCreated.range(0, head + 1)
                  if str(e.proposalId) == proposal_id]  # fmt: skip
    reg = gov.registry
    veto = key_of("agent.vetoWindow")
    assert [bytes(c) for c in created.calldatas[:2]] == [
        bytes(reg.unfreeze.encode_input(IDLE)), bytes(reg.unfreeze.encode_input(veto))
    ]  # fmt: skip
    assert len(created.calldatas) == 3  # then the one setBatch

    assert params("advance", "25h", account=None).returncode == 0
    assert params("vote", proposal_id, "for").returncode == 0
    assert params("advance", "3d", account=None).returncode == 0
    assert params("queue", proposal_id).returncode == 0
    reg.freeze(veto, sender=gov.guardian)  # the second key, frozen while the first still is
    assert params("advance", "15d", account=None).returncode == 0
    executed = params("execute", proposal_id)
    assert executed.returncode == 0, executed.stderr
    assert (reg.get(IDLE), reg.get(veto)) == (600, 4 * 86_400)
    assert not reg.freezeStatus(IDLE)[0] and not reg.freezeStatus(veto)[0]


def test_a_dao_change_from_proposal_to_execution(params, gov):
    proposed = params(
        "propose", "vault.idleBufferBps", "600", "agent.vetoWindow", "4d", "--self-delegate"
    )
    assert proposed.returncode == 0, proposed.stderr
    assert "delegated 1,000,000 BLST of votes to yourself" in proposed.stdout
    proposal_id = re.search(r"^proposal (\d+)$", proposed.stdout, re.M).group(1)

    early = params("vote", proposal_id, "for")
    assert early.returncode == 1 and "is Pending, not open for votes" in early.stderr

    # Votes open strictly after the 1d voting delay (the governor's clock is the block time): an
    # hour more, so the vote never lands on the snapshot's own second (which, run in a
    # subprocess, only Ape's few seconds of start-up used to step past).
    assert params("advance", "25h", account=None).returncode == 0
    voted = params("vote", proposal_id, "for")
    assert voted.returncode == 0, voted.stderr
    assert f"voted for on {proposal_id} with 1,000,000 votes" in voted.stdout

    assert params("advance", "3d", account=None).returncode == 0
    queued = params("queue", proposal_id)
    assert queued.returncode == 0, queued.stderr
    assert "Queued, executable from" in queued.stdout

    early = params("execute", proposal_id)
    assert early.returncode == 1 and "is in the timelock until" in early.stderr

    assert params("advance", "15d", account=None).returncode == 0
    executed = params("execute", proposal_id)
    assert executed.returncode == 0, executed.stderr
    assert f"proposal {proposal_id}: Executed" in executed.stdout

    assert gov.registry.get(IDLE) == 600
    assert gov.registry.get(key_of("agent.vetoWindow")) == 4 * 86_400
    status = params("status", proposal_id, account=None)
    assert "Executed" in status.stdout and "1,000,000" in status.stdout


def test_the_same_proposal_and_the_same_vote_twice_are_refused_before_sending(params, gov):
    """The governor refuses a proposal it already has (same calls, same text) and a second vote
    from one account: both are refused up front in words, with nothing sent (on a local node a
    reverting transaction would be mined: a nonce, gas and a call trace for nothing)."""
    dao = gov.deployer
    changes = ("vault.idleBufferBps", "700", "--description", "the same, twice", "--self-delegate")
    first = params("propose", *changes)
    assert first.returncode == 0, first.stderr
    proposal_id = re.search(r"^proposal (\d+)$", first.stdout, re.M).group(1)

    before, nonce = proposals_made(gov), dao.nonce
    again = params("propose", *changes)
    assert again.returncode == 1, again.stdout + again.stderr
    assert again.stderr == (
        f"Error: proposal {proposal_id} makes these changes with this description already "
        "(Pending); vote on it, or give another --description. No proposal was sent.\n"
    )
    assert "Call trace" not in again.stdout
    assert (proposals_made(gov), dao.nonce) == (before, nonce)

    assert params("advance", "25h", account=None).returncode == 0
    assert params("vote", proposal_id, "for").returncode == 0
    nonce = dao.nonce
    twice = params("vote", proposal_id, "against")
    assert twice.returncode == 1, twice.stdout + twice.stderr
    assert twice.stderr == (
        f"Error: {dao.address} has already voted on proposal {proposal_id} (a vote is final)\n"
    )
    assert dao.nonce == nonce
    assert gov.governor.proposalVotes(int(proposal_id))[0] == 0  # no vote against counted


def test_a_vote_with_no_weight_is_refused_before_sending(params, gov, accounts):
    """An account with no votes at the proposal's snapshot (TEST::1: no BLST delegated to it)
    would cast a vote that counts 0, final, for gas: it used to be sent and warned about
    afterwards; it is refused in one line with nothing sent."""
    changes = ("vault.idleBufferBps", "650", "--description", "a vote of nothing")
    proposed = params("propose", *changes, "--self-delegate")
    assert proposed.returncode == 0, proposed.stderr
    proposal_id = re.search(r"^proposal (\d+)$", proposed.stdout, re.M).group(1)
    assert params("advance", "25h", account=None).returncode == 0

    nobody = accounts[1]
    nonce = nobody.nonce
    result = params("vote", proposal_id, "for", account="TEST::1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(
        f"Error: {nobody.address} has no votes on proposal {proposal_id}: "
    ), result.stderr
    assert result.stderr.count("\n") == 1 and "nothing was sent" in result.stderr
    assert nobody.nonce == nonce
    assert not gov.governor.hasVoted(int(proposal_id), nobody.address)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["vote", "xyz", "for"], "not a proposal ID: 'xyz'"),
        (["vote", "123", "for"], "no proposal 123 on this deployment"),
        (["queue", "0x7b"], "no proposal 123 on this deployment"),
        (["status", "42"], "no proposal 42 on this deployment"),
    ],
)
def test_bad_proposal_ids_are_one_clear_line(params, args, message):
    result = params(*args, account=None if args[0] == "status" else "TEST::0")
    assert result.returncode == 1
    assert message in result.stderr


def test_missing_manifest_is_one_clear_line(ape_real, tmp_path):
    result = ape_real(
        ["run", "params", "show", *NETWORK, "--manifest", str(tmp_path / "none.json")]
    )
    assert result.returncode == 1
    assert "no deployment manifest at" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("duration", ["1000000w", "0", "99999999999999999999999999999d"])
def test_advance_moves_time_by_at_most_a_year_and_refuses_more(params, chain, duration):
    before = chain.blocks.head.timestamp
    result = params("advance", duration, account=None)
    assert result.returncode == 1
    assert f"advance moves time by 1s to 365d (a year) at a time, not {duration}" in result.stderr
    assert chain.blocks.head.timestamp - before < 60  # the clock was not moved


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["propose", "vault.idleBufferBps", "-5"],
            "vault.idleBufferBps: not a non-negative whole number: '-5'",
        ),
        (["status", "-3"], "not a proposal ID: '-3'"),
        (["advance", "-1d"], "not a duration: '-1d'"),
    ],
    ids=["value", "proposal-id", "duration"],
)
def test_a_negative_number_is_explained_not_read_as_an_option(params, args, message):
    result = params(*args, account="TEST::0" if args[0] == "propose" else None)
    assert result.returncode == 1
    assert message in result.stderr
    assert "No such option" not in result.stderr
