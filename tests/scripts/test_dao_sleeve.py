"""A DAO adds a sleeve: `ape run deploy` with the grown config deploys what the deployer still
may (the sleeve, its mock token, feed and issuer), writes the steps only the DAO may take as one
proposal batch and stops; `ape run params propose-batch` proposes it; once it executed, the same
deploy writes the manifest with the new sleeve. In-process (tests/scripts/inprocess.py)."""

from __future__ import annotations

import json

import pytest
import yaml

from ballast.deployment import Deployment

NETWORK = ["--network", "ethereum:local:foundry"]
ESTATE = {"name": "estate", "mock": {"name": "Estate", "symbol": "EST", "nav": 100}}
ESTATE_CAP = {"name": "vault.maxSleeveBps.estate", "value": 500, "min": 0, "max": 1000,
              "step_bps": 0, "cooldown": 0}  # fmt: skip


@pytest.fixture
def deployed(ape_script, repo_root, tmp_path):
    """The local config deployed through `ape run deploy` (handed over to the timelock); its
    manifest, and a grown config with one more sleeve."""
    manifest = tmp_path / "ethereum-local.json"
    first = ape_script("deploy", [*NETWORK, "--account", "TEST::0", "--manifest", str(manifest)])
    assert first.returncode == 0, first.stdout + first.stderr
    config = yaml.safe_load((repo_root / "deployments/config/local.yaml").read_text())
    config["sleeves"].insert(3, ESTATE)
    config["parameters"].append(ESTATE_CAP)
    grown = tmp_path / "grown.yaml"
    grown.write_text(yaml.safe_dump(config))
    return manifest, grown


def test_a_dao_member_adds_a_sleeve_with_one_proposal(ape_script, deployed, project):
    manifest, grown = deployed
    before = Deployment.load(manifest)
    deploy = [*NETWORK, "--account", "TEST::0", "--manifest", str(manifest), "--config", str(grown)]

    def params(*args: str):
        who = [] if args[0] == "advance" else ["--manifest", str(manifest), "--account", "TEST::0"]
        result = ape_script("params", [*args, *NETWORK, *who])
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    left = ape_script("deploy", deploy)
    assert left.returncode == 1, left.stdout + left.stderr
    (error,) = [line for line in left.stderr.splitlines() if line.startswith("Error:")]
    batch_file = manifest.with_name("ethereum-local.dao.json")
    assert error.startswith("Error: 5 steps of the config need the DAO"), error
    assert f"propose it with `ape run params propose-batch {batch_file}`" in error
    assert Deployment.load(manifest) == before  # the manifest lists what the vault holds
    batch = json.loads(batch_file.read_text())
    assert [c["what"] for c in batch["calls"]] == [
        "define vault.maxSleeveBps.estate",
        "link vault.idleBufferBps and vault.maxSleeveBps.tbill and vault.maxSleeveBps.gold and "
        "vault.maxSleeveBps.invoices and vault.maxSleeveBps.estate and "
        "vault.maxSleeveBps.lending",
        "remove link 9, the buffer and 4 of the 5 caps",  # the 10th link the deploy declared
        "set the feed of sleeve estate",
        "add sleeve estate to the vault",
    ]
    assert left.stdout.count("for the DAO: ") == 5

    proposed = params("propose-batch", str(batch_file), "--self-delegate")
    assert "5. RWAVault.addSleeve(" in proposed, proposed
    proposal = proposed.split("proposal ")[-1].split()[0]
    params("advance", "25h")
    params("vote", proposal, "for", "--despite-warnings")  # its calls are no value changes
    params("advance", "3d")
    params("queue", proposal)
    params("advance", "15d")
    params("execute", proposal)

    done = ape_script("deploy", deploy)
    assert done.returncode == 0, done.stdout + done.stderr
    grown_deployment = Deployment.load(manifest)
    names = [s.name for s in grown_deployment.sleeves]
    assert names == ["tbill", "gold", "invoices", "estate", "lending"]
    estate = next(s for s in grown_deployment.sleeves if s.name == "estate")
    vault = project.RWAVault.at(grown_deployment.contracts["RWAVault"])
    held = [vault.sleeveAt(i).sleeve for i in range(vault.sleeveCount())]
    assert estate.address in held
    assert not batch_file.exists()  # its steps are done


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "is not a batch `ape run deploy` wrote"),
        ('{"chain_id": 31337, "config": "x", "calls": []}', "calls: List should have at least 1"),
        (
            '{"chain_id": 1, "config": "x", "calls": [{"what": "w", "call": "c", "target": "0x'
            + "11" * 20
            + '", "data": "0x12345678"}]}',
            "was written for chain 1",
        ),
        (
            '{"chain_id": 31337, "config": "x", "calls": [{"what": "w", "call": "c", "target": "0x'
            + "11" * 20
            + '", "data": "0x12345678"}]}',
            "with data no contract of this deployment decodes",
        ),
    ],
)
def test_a_batch_that_cannot_be_proposed_is_one_line(ape_script, deployed, text, says):
    manifest, _ = deployed
    batch_file = manifest.with_name("bad.dao.json")
    batch_file.write_text(text)
    result = ape_script("params", ["propose-batch", str(batch_file), *NETWORK, "--manifest",
                                   str(manifest), "--account", "TEST::0"])  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert says in error and error.endswith("No proposal was sent."), error
    assert "Traceback" not in result.stdout + result.stderr
