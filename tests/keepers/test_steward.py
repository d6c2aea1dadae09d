"""The risk steward on anvil, as an operator runs it (`ballast-keeper`, `ape run params`), on a
system deployed from deployments/config/local.yaml (steward limits: gold's LTV moves at most
70 bps of its value per 3 days).

What users rely on: after a volatility shock on gold one pass tightens gold's LTV by exactly the
steward's step in one `stewardSetBatch` whose `StewardUpdate` hash is the keccak256 of the
stored rationale document; the rest of the cut, beyond the steward's bounds, is written as a
recommendation file that `params propose --from-recommendation` turns into a DAO proposal; the
document replays (exit 0), a tampered one is named (exit 4); a key without STEWARD_ROLE gets one
line and sends nothing; a bad recommendation file is refused in one line, no proposal sent."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_abi import decode as abi_decode
from eth_utils import keccak

from ballast.deployment import Deployment
from ballast.params import bound_to_proposer
from benchmarks.lending_steward.sim import Costs
from keepers.strategy.rationale import decode, encode
from tests.cli_forkserver import forked
from tests.keeper_support import deployed_manifest
from tests.scripts import inprocess

# The in-process CLI runners and what they need (tests/scripts/conftest.py's fixtures).
_process_state_restored = inprocess._process_state_restored
keeper_main = inprocess.keeper_main
ape_script = inprocess.ape_script
session_provider = inprocess.session_provider

KEEPER = Path(sys.executable).with_name("ballast-keeper")
DAY = 86_400
GOLD_LTV = keccak(text="lend.ltvBps.gold")
STEWARD_UPDATE = "0x" + keccak(text="StewardUpdate(bytes32,string,bytes32[],uint256[])").hex()


@pytest.fixture(scope="module")
def steward_manifest(repo_root, accounts, tmp_path_factory):
    return deployed_manifest(repo_root, accounts[0], tmp_path_factory.mktemp("deployments"))


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    return tmp_path_factory.mktemp("steward")


@pytest.fixture(scope="module")
def steward_keeper_cli(chain, repo_root, steward_manifest, state):
    def run(*args: str, account: str = "TEST::2", env: dict[str, str] | None = None):
        env = {**os.environ, "APE_FOUNDRY_HOST": chain.provider.uri, "NO_COLOR": "1",
               "COLUMNS": "200", "PYTHONPATH": str(repo_root),
               "BALLAST_KEEPER_STEWARD__RECOMMENDATION_DIR": str(state / "rec"),
               "BALLAST_KEEPER_STEWARD__RATIONALE_DIR": str(state / "docs"),
               **(env or {})}  # fmt: skip
        cmd = [str(KEEPER), "--state-dir", str(state / "keeper"),
               "--manifest", str(steward_manifest), "--account", account, *args]  # fmt: skip
        cmd, env = forked(cmd, env)
        result = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True,
                                timeout=300, check=False)  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


@pytest.fixture(scope="module")
def steward_keeper(keeper_main, steward_manifest, state):
    """`steward_keeper_cli` in-process (tests/scripts/inprocess.py): the same arguments, state
    folders and settings, a "Traceback" in stderr failing the same way; about four seconds of
    start-up less a call. Each module keeps real `ballast-keeper` processes too."""

    def run(*args: str, account: str = "TEST::2", env: dict[str, str] | None = None):
        env = {"BALLAST_KEEPER_STEWARD__RECOMMENDATION_DIR": str(state / "rec"),
               "BALLAST_KEEPER_STEWARD__RATIONALE_DIR": str(state / "docs"),
               **(env or {})}  # fmt: skip
        where = ["--state-dir", str(state / "keeper"), "--manifest", str(steward_manifest)]
        result = keeper_main([*where, "--account", account, *args], env=env)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


@pytest.fixture(scope="module")
def run_checkout_ape(chain, repo_root):
    """`ape ARGS` from this checkout (its packages first on the path), against this anvil."""

    def run(args: list[str]):
        env = {**os.environ, "APE_FOUNDRY_HOST": chain.provider.uri, "NO_COLOR": "1",
               "COLUMNS": "200", "PYTHONPATH": str(repo_root)}  # fmt: skip
        command, env = forked(["ape", *args], env)
        return subprocess.run(command, cwd=repo_root, env=env, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip

    return run


@pytest.fixture(scope="module")
def system(project, steward_manifest):
    d = Deployment.load(steward_manifest)
    gold = next(s for s in d.sleeves if s.name == "gold")
    return {
        "registry": project.ParameterRegistry.at(d.contracts["ParameterRegistry"]),
        "governor": project.BallastGovernor.at(d.contracts["BallastGovernor"]),
        "gold_feed": project.MockAggregator.at(gold.feed),
    }


def shock_gold(system, chain, accounts) -> None:
    """Past the steward's 3-day cooldown, 48 hourly gold rounds swinging ±4 %."""
    chain.pending_timestamp = chain.blocks.head.timestamp + 4 * DAY
    chain.mine(1)
    feed, now = system["gold_feed"], chain.blocks.head.timestamp
    price = feed.latestAnswer()
    for i in range(48):
        price = int(price * math.exp(0.04 if i % 2 else -0.04))
        feed.setRound(price, now - (48 - i) * 3_600, sender=accounts[0])


def steward_updates(chain, registry) -> list[dict]:
    return chain.provider.web3.eth.get_logs(
        {
            "address": registry.address,
            "topics": [STEWARD_UPDATE],
            "fromBlock": 0,
            "toBlock": "latest",
        }  # fmt: skip
    )


def test_the_steward_tightens_gold_within_its_bounds_and_drafts_the_rest(
    steward_keeper_cli,
    steward_keeper,
    ape_script,
    system,
    chain,
    accounts,
    state,
    run_checkout_ape,
    steward_manifest,
):
    """Real `ballast-keeper` processes: the refused key and the pass that sends; a real `ape run`:
    the proposal drafted. The other calls run in-process (tests/scripts/inprocess.py)."""
    registry = system["registry"]
    assert registry.get(GOLD_LTV) == 7_000

    # a key without STEWARD_ROLE: one line, nothing sent
    outsider = accounts[7]
    nonce = outsider.nonce
    refused = steward_keeper_cli("once", "--job", "steward", account="TEST::7")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == [f"Error: steward: {outsider.address} does not hold STEWARD_ROLE on the "
                      "registry: nothing sent"], refused.stderr  # fmt: skip
    assert outsider.nonce == nonce

    # a rate-premium anchor on a collateral the book does not have: one line, nothing sent
    anchor = {"BALLAST_KEEPER_STEWARD__RATE_REFERENCE_LTV_BPS": '{"glod": 7000}',
              "BALLAST_KEEPER_STEWARD__RATE_REFERENCE_SLOPE1_BPS": "400"}  # fmt: skip
    steward = accounts[2]
    nonce = steward.nonce
    typo = steward_keeper("once", "--job", "steward", env=anchor)
    assert typo.returncode == 1, typo.stdout + typo.stderr
    errors = [line for line in typo.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and errors[0].startswith(
        "Error: steward: steward.rate_reference_ltv_bps names glod: not a collateral of this book ("
    ), typo.stderr
    assert steward.nonce == nonce and not steward_updates(chain, registry)

    shock_gold(system, chain, accounts)
    result = steward_keeper_cli("once", "--job", "steward")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mined" in result.stdout, result.stdout

    # one step of 70 bps of the value, no more: 7000 -> 6951
    assert registry.get(GOLD_LTV) == 7_000 - 7_000 * 70 // 10_000
    (log,) = steward_updates(chain, registry)
    digest = "0x" + bytes(log["topics"][1]).hex()
    body = (state / "docs" / f"{digest}.json").read_bytes()
    assert "0x" + keccak(body).hex() == digest  # the event's hash is the document's keccak256
    document = decode(body)
    assert document["version"] == "ballast.steward/1"
    assert ["lend.ltvBps.gold", 6_951] in document["outcome"]["batch"]
    # the benchmark charges each batch Costs().batch_gas: at least what this one used
    gas = chain.provider.web3.eth.get_transaction_receipt(log["transactionHash"])["gasUsed"]
    assert gas <= Costs().batch_gas, (gas, len(document["outcome"]["batch"]))
    # only gold has the price history to judge (the others have one round each): left alone
    assert not [n for n in document["outcome"]["batch"] if not n[0].endswith("gold")]

    # the cut beyond the steward's bounds: a recommendation file
    (rec_file,) = (state / "rec").glob("steward-*.json")
    rec = json.loads(rec_file.read_text())
    proposed = dict(rec["values"])
    assert proposed["lend.ltvBps.gold"] < 6_951
    assert rec["rationale_hash"] == digest and "lend.ltvBps.gold" in rec["rationale"]

    # a second pass inside the cooldown moves nothing
    again = steward_keeper("once", "--job", "steward")
    assert again.returncode == 0 and len(steward_updates(chain, registry)) == 1

    # the document replays; a tampered one is named
    replayed = steward_keeper("verify-steward", digest, "--replay")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "keccak256 matches" in replayed.stdout and "replay: same document" in replayed.stdout
    assert "chain inputs: the node agrees at the receipt's block" in replayed.stdout
    forged = decode(body)
    forged["inputs"]["collaterals"][1]["rounds"][-1][1] += 1  # gold's last round
    assert forged["inputs"]["collaterals"][1]["name"] == "gold"
    forged_path = state / "forged.json"
    forged_path.write_bytes(encode(forged))
    tampered = steward_keeper("verify-steward", digest, "--replay", "--document", str(forged_path))
    assert tampered.returncode == 4, tampered.stdout + tampered.stderr
    assert "MISMATCH: document: its keccak256 is not the on-chain rationale hash" in tampered.stdout
    assert "MISMATCH: chain inputs: inputs.collaterals.gold: rounds differ" in tampered.stdout

    unknown = "0x" + "ab" * 32
    for bad, message in (
        ("0x12", "Error: '0x12' is not a rationale hash (0x and 64 hex digits)"),
        (unknown, f"Error: no StewardUpdate with rationale hash {unknown} on this registry"),
    ):
        out = steward_keeper("verify-steward", bad)
        assert out.returncode == 1, out.stdout + out.stderr
        assert out.stderr.strip() == message, out.stderr

    # the DAO's slow path: the recommendation becomes a proposal with its rationale
    before = len(list(system["governor"].ProposalCreated.range(0, chain.blocks.head.number + 1)))
    drafted = run_checkout_ape(["run", "params", "propose", "--from-recommendation",
                                str(rec_file), "--self-delegate", "--network",
                                "ethereum:local:foundry", "--manifest", str(steward_manifest),
                                "--account", "TEST::0"])  # fmt: skip
    assert drafted.returncode == 0, drafted.stdout + drafted.stderr
    created = list(system["governor"].ProposalCreated.range(0, chain.blocks.head.number + 1))
    assert len(created) == before + 1
    # the rationale, bound to its proposer (TEST::0) so nobody can front-run and cancel it
    assert created[-1].description == bound_to_proposer(rec["rationale"], created[-1].proposer)
    assert created[-1].proposer == accounts[0].address
    (calldata,) = created[-1].calldatas  # one setBatch: the links are checked after all of it
    calldata = bytes(calldata)
    assert calldata[:4] == keccak(text="setBatch(bytes32[],uint256[])")[:4]
    keys, values = abi_decode(["bytes32[]", "uint256[]"], calldata[4:])
    assert [bytes(k) for k in keys] == [keccak(text=n) for n, _ in rec["values"]]
    assert list(values) == [v for _, v in rec["values"]]

    # bad recommendation files: one line each, no proposal
    bad = {
        "malformed": ("{not json", "is not JSON"),
        "unknown": (
            json.dumps({**rec, "values": [["lend.ltvBps.silver", 1]]}),
            "unknown parameter 'lend.ltvBps.silver'",
        ),
        "stale": (json.dumps({**rec, "created": {"block": 1, "timestamp": 1}}), "stale: made"),
    }
    for name, (text, message) in bad.items():
        path = state / f"{name}.json"
        path.write_text(text)
        out = ape_script("params", ["propose", "--from-recommendation", str(path),
                                    "--network", "ethereum:local:foundry",
                                    "--manifest", str(steward_manifest),
                                    "--account", "TEST::0"])  # fmt: skip
        assert out.returncode == 1, out.stdout + out.stderr
        assert message in out.stderr and "No proposal was sent." in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    after = list(system["governor"].ProposalCreated.range(0, chain.blocks.head.number + 1))
    assert len(after) == before + 1
