"""An interrupted deploy resumes: every contract is journaled as it is deployed
(``<manifest>.partial.json``), so a rerun on the same chain deploys nothing twice and ends with
the manifest an uninterrupted deploy writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
from ape.exceptions import AccountsError
from eth_account import Account

from ballast import deploy_run
from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from ballast.deployment import Deployment, ManifestError
from ballast.journal import Journal, create_address, journal_path
from tests.conftest import REPO_ROOT
from tests.rpc_fault_proxy import FaultProxy

LOCAL_CONFIG = REPO_ROOT / "deployments/config/local.yaml"


@pytest.fixture(scope="module")
def resume_local_config() -> DeployConfig:
    return DeployConfig.load(LOCAL_CONFIG)


def quiet(_: str) -> None:
    pass


def creations(chain, deployer: str, start: int) -> list[str]:
    """Addresses of the contracts `deployer`'s transactions created from block `start` on."""
    web3 = chain.provider.web3
    created = []
    for number in range(start, chain.blocks.head.number + 1):
        for tx in web3.eth.get_block(number, full_transactions=True).transactions:
            if tx["from"] == deployer and tx["to"] is None:
                created.append(web3.eth.get_transaction_receipt(tx["hash"]).contractAddress)
    return created


def deployed_by_the_run(deployment: Deployment) -> set[str]:
    """Every address of the manifest a local deploy creates (the rest are configured roles)."""
    mocks = {a for s in deployment.sleeves for a in (s.feed, s.issuer) if a}
    return {
        *deployment.contracts.values(),
        deployment.tokens["asset"],
        *(s.address for s in deployment.sleeves),
        *mocks,
    }


def _shape(deployment: Deployment) -> dict:
    return {
        "contracts": sorted(deployment.contracts),
        "sleeves": [(s.name, s.kind) for s in deployment.sleeves],
        "collateral": [c.name for c in deployment.collateral],
        "tokens": sorted(deployment.tokens),
        "roles": sorted(deployment.roles),
    }


class Interrupt:
    """A report hook that presses Ctrl-C after the k-th contract is reported deployed."""

    def __init__(self, k: int):
        self.k = k
        self.seen = 0

    def __call__(self, message: str) -> None:
        if ": deployed " in message:
            self.seen += 1
            if self.seen == self.k:
                raise KeyboardInterrupt


@pytest.mark.parametrize("k", [1, 9])
def test_a_rerun_after_ctrl_c_deploys_only_what_is_missing(
    resume_local_config, deployer, chain, tmp_path, k
):
    start = chain.blocks.head.number + 1
    path = journal_path(tmp_path / "ethereum-local.json")
    with pytest.raises(KeyboardInterrupt):
        deploy_system(
            resume_local_config, deployer, report=Interrupt(k), journal=Journal.open(path)
        )
    recorded = json.loads(path.read_text())
    assert len(recorded["deployed"]) == k
    assert recorded["chain_id"] == chain.chain_id

    messages: list[str] = []
    journal = Journal.open(path)
    deployment = deploy_system(
        resume_local_config, deployer, report=messages.append, journal=journal
    )
    journal.finish()

    created = creations(chain, deployer.address, start)
    assert len(created) == len(set(created))  # nothing deployed twice
    assert set(created) == deployed_by_the_run(deployment)
    assert f"resuming the interrupted deploy: {k} contracts recorded" in messages
    assert len([m for m in messages if "from the interrupted deploy" in m]) == k
    assert deployment.block == start  # the system starts where the interrupted deploy began
    assert not path.exists()
    reference = deploy_system(resume_local_config, deployer, report=quiet)
    assert _shape(deployment) == _shape(reference)


def test_a_deploy_resumed_after_the_allowlist_step_leaves_the_deployer_no_role(
    resume_local_config, deployer, accounts, project, tmp_path, monkeypatch
):
    """Found in a governance review after stop 39: with the allowlist on, the deployer held
    ALLOWLIST to allow the fee's receivers and renounced it only when it had not held it at the
    start of that run, so a run interrupted after the grant and resumed kept the role for good
    (it could allow anyone, or de-list holders)."""
    config = resume_local_config.model_copy(
        update={"vault": resume_local_config.vault.model_copy(update={"allowlist": True})}
    )
    path = journal_path(tmp_path / "ethereum-local.json")
    original = deploy_run.DeployRun.renounce

    def connection_lost(self, target, label, role):
        if label == "vault ALLOWLIST":
            raise ConnectionError("the node went away")
        return original(self, target, label, role)

    monkeypatch.setattr(deploy_run.DeployRun, "renounce", connection_lost)
    with pytest.raises(ConnectionError):
        deploy_system(config, deployer, report=quiet, journal=Journal.open(path))
    monkeypatch.setattr(deploy_run.DeployRun, "renounce", original)
    deployment = deploy_system(config, deployer, report=quiet, journal=Journal.open(path))

    vault = project.RWAVault.at(deployment.contracts["RWAVault"])
    agents = deployment.contracts["AgentRegistry"]
    assert vault.isAllowed(agents) and vault.isAllowed(deployment.roles["treasury"])
    for role in ("ALLOWLIST_ROLE", "GOVERNANCE_ROLE", "DEFAULT_ADMIN_ROLE"):
        assert not vault.hasRole(getattr(vault, role)(), deployer), role


def test_a_creation_mined_but_not_yet_journaled_is_found_by_its_address(
    resume_local_config, deployer, chain, tmp_path
):
    """Ctrl-C between a creation being mined and the journal saying so: the journal wrote the
    address the creation would have before sending it, and the rerun finds code there."""
    start = chain.blocks.head.number + 1
    path = tmp_path / "ethereum-local.partial.json"
    journal = Journal.open(path)
    calls = {"n": 0}
    record = journal.deployed

    def interrupted_after_three(key: str, address: str) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # the 4th creation is mined, not recorded
        record(key, address)

    journal.deployed = interrupted_after_three
    with pytest.raises(KeyboardInterrupt):
        deploy_system(resume_local_config, deployer, report=quiet, journal=journal)
    left = json.loads(path.read_text())
    assert len(left["deployed"]) == 3 and len(left["sending"]) == 1

    deployment = deploy_system(
        resume_local_config, deployer, report=quiet, journal=Journal.open(path)
    )
    created = creations(chain, deployer.address, start)
    assert len(created) == len(set(created)) == len(deployed_by_the_run(deployment))


def test_a_journal_of_another_chain_is_ignored(resume_local_config, deployer, chain, tmp_path):
    path = tmp_path / "ethereum-local.partial.json"
    path.write_text(
        json.dumps(
            {
                "chain_id": chain.chain_id + 1,
                "deployer": deployer.address,
                "block": 1,
                "deployed": {"contract:RWAVault": "0x" + "11" * 20},
                "sending": {},
            }
        )  # fmt: skip
    )
    journal = Journal.open(path)
    deployment = deploy_system(resume_local_config, deployer, report=quiet, journal=journal)
    assert deployment.contracts["RWAVault"] != "0x" + "11" * 20
    assert journal.resumed is None


def test_a_journal_of_another_deployer_is_refused_before_sending(
    resume_local_config, deployer, accounts, chain, tmp_path
):
    path = tmp_path / "ethereum-local.partial.json"
    other = accounts[1].address
    path.write_text(
        json.dumps({"chain_id": chain.chain_id, "deployer": other, "block": 1, "deployed": {}})
    )
    nonce = deployer.nonce
    with pytest.raises(ManifestError, match=f"interrupted deploy by {other} on this chain"):
        deploy_system(resume_local_config, deployer, report=quiet, journal=Journal.open(path))
    assert deployer.nonce == nonce


def set_eth(chain, address: str, wei: int) -> None:
    chain.provider.web3.provider.make_request("anvil_setBalance", [address, hex(wei)])


def test_a_deploy_that_cannot_pay_its_first_creation_leaves_no_journal(
    resume_local_config, deployer, accounts, chain, tmp_path
):
    """A deployer with no ETH is refused its first creation before anything is sent: no journal
    is left (it left one naming that creation, so the next run "resumed" an empty deploy, and
    one from another, funded account was refused as "an interrupted deploy by" the broke one)."""
    broke = accounts[9]
    set_eth(chain, broke.address, 0)
    path = journal_path(tmp_path / "ethereum-local.json")
    nonce = broke.nonce
    with pytest.raises(AccountsError, match="Transfer value meets or exceeds account balance"):
        deploy_system(resume_local_config, broke, report=quiet, journal=Journal.open(path))
    assert broke.nonce == nonce  # nothing was sent
    assert not path.exists()

    messages: list[str] = []
    journal = Journal.open(path)
    deploy_system(resume_local_config, deployer, report=messages.append, journal=journal)
    assert journal.resumed is None
    assert not [m for m in messages if "resuming" in m]


def test_a_deploy_interrupted_before_its_first_broadcast_leaves_no_journal(
    resume_local_config, deployer, tmp_path, monkeypatch
):
    """Ctrl-C while the first creation is being signed (before the node has it): nothing was
    sent, so no journal is left (it named that creation: the next run "resumed" an empty
    deploy, and another deployer was refused as "an interrupted deploy by" this one)."""
    path = journal_path(tmp_path / "ethereum-local.json")
    nonce = deployer.nonce

    def interrupted(self, container, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(deployer), "deploy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        deploy_system(resume_local_config, deployer, report=quiet, journal=Journal.open(path))
    assert deployer.nonce == nonce  # nothing was sent
    assert not path.exists()


def test_a_failed_creation_that_was_broadcast_stays_in_the_journal(
    resume_local_config, deployer, chain, tmp_path, monkeypatch
):
    """The other side: a creation the node received (the deployer's pending nonce moved) that
    then failed — here the receipt wait — stays journaled for the next run to find."""
    path = journal_path(tmp_path / "ethereum-local.json")
    send = type(deployer).deploy

    def broadcast_then_fail(self, container, *args, **kwargs):
        send(self, container, *args, **kwargs)
        raise ConnectionError("lost the node while waiting for the receipt")

    monkeypatch.setattr(type(deployer), "deploy", broadcast_then_fail)
    with pytest.raises(ConnectionError):
        deploy_system(resume_local_config, deployer, report=quiet, journal=Journal.open(path))
    left = json.loads(path.read_text())
    assert left["deployed"] == {} and list(left["sending"]) == ["token:asset"]


def test_an_unreadable_journal_is_one_line(tmp_path):
    path = tmp_path / "ethereum-local.partial.json"
    path.write_text("{not json")
    with pytest.raises(ManifestError, match="cannot read the deploy journal .* delete it"):
        Journal.open(path)


def test_create_addresses_follow_the_deployer_and_nonce(deployer, project):
    expected = create_address(deployer.address, deployer.nonce)
    assert deployer.deploy(project.MockStablecoin, "X", "X").address == expected


def test_the_journal_sits_next_to_the_manifest(tmp_path):
    assert journal_path(tmp_path / "ethereum-local.json") == (
        tmp_path / "ethereum-local.partial.json"
    )


DEPLOY = ["run", "deploy", "--network", "ethereum:local:foundry", "--account", "TEST::0"]


def test_ape_run_deploy_interrupted_by_sigint_resumes(chain, deployer, tmp_path):
    """A user's Ctrl-C (SIGINT) after the 5th contract; the same command again finishes the
    deploy without deploying any contract twice and removes the journal."""
    manifest = tmp_path / "ethereum-local.json"
    env = {**os.environ, "APE_FOUNDRY_HOST": chain.provider.uri, "NO_COLOR": "1",
           "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    args = ["ape", *DEPLOY, "--manifest", str(manifest)]
    start = chain.blocks.head.number + 1
    proc = subprocess.Popen(
        args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deployed = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        deployed += ": deployed " in line
        if deployed == 5:
            proc.send_signal(signal.SIGINT)
            break
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr  # interrupted, as a shell reports Ctrl-C
    assert "Traceback" not in stderr
    partial = journal_path(manifest)
    assert "Error: interrupted (" in stderr and f"recorded in {partial}" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not manifest.exists()
    assert len(json.loads(partial.read_text())["deployed"]) >= 5

    again = subprocess.run(
        args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming the interrupted deploy" in again.stdout
    assert "INFO:" not in again.stdout + again.stderr  # labelled steps, not Ape's lines
    deployment = Deployment.load(manifest)
    created = creations(chain, deployer.address, start)
    assert len(created) == len(set(created))
    assert set(created) == deployed_by_the_run(deployment)
    assert not partial.exists()


def test_ape_run_deploy_that_loses_its_node_stops_in_one_line_and_resumes(
    chain, deployer, tmp_path
):
    """The node goes away after the 5th contract: one line naming the journal, exit 1; the
    same command against the node again finishes without deploying anything twice."""
    manifest = tmp_path / "ethereum-local.json"
    args = ["ape", *DEPLOY, "--manifest", str(manifest)]
    start = chain.blocks.head.number + 1
    with FaultProxy(chain.provider.uri) as proxy:
        env = {**os.environ, "APE_FOUNDRY_HOST": proxy.url, "NO_COLOR": "1", "COLUMNS": "200",
               "PYTHONUNBUFFERED": "1"}  # fmt: skip
        proc = subprocess.Popen(
            args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        deployed = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            deployed += ": deployed " in line
            if deployed == 5:
                proxy.down()
                break
        _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    # how the connection failed (refused, reset, ...) depends on where the next request was
    # when the node went: the line names it, the test does not choose it
    assert stderr.startswith("Error: deploy stopped: lost the node ("), stderr
    assert f"recorded in {journal_path(manifest)}: run the same command again" in stderr

    env["APE_FOUNDRY_HOST"] = chain.provider.uri
    again = subprocess.run(
        args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stdout + again.stderr
    created = creations(chain, deployer.address, start)
    assert len(created) == len(set(created))
    assert set(created) == deployed_by_the_run(Deployment.load(manifest))


def test_ape_run_deploy_with_an_unfunded_keystore_leaves_no_journal(chain, tmp_path):
    """`ape run deploy` from a keystore holding no ETH: one line, exit 1, nothing sent, and no
    journal; the same command again starts afresh (it said "resuming the interrupted deploy: 0
    contracts recorded")."""
    key = Account.create()
    data = tmp_path / "ape-data"
    (data / "accounts").mkdir(parents=True)
    (data / "accounts" / "broke.json").write_text(json.dumps(Account.encrypt(key.key, "pw")))
    manifest = tmp_path / "ethereum-local.json"
    env = {**os.environ, "APE_FOUNDRY_HOST": chain.provider.uri, "NO_COLOR": "1",
           "COLUMNS": "200", "APE_DATA_FOLDER": str(data), "BALLAST_UNATTENDED": "1",
           "APE_ACCOUNTS_broke_PASSPHRASE": "pw"}  # fmt: skip
    # this checkout's code (the venv may hold an editable install of another checkout)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    args = ["ape", "run", "deploy", "--network", "ethereum:local:foundry", "--account", "broke",
            "--manifest", str(manifest)]  # fmt: skip
    said = (
        f"Error: deploy stopped: Transfer value meets or exceeds account balance for account "
        f"'{key.address}' on chain '{chain.chain_id}' using provider 'foundry'."
    )
    for _ in range(2):
        done = subprocess.run(
            args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert "Traceback" not in output
        assert [line for line in output.splitlines() if line.startswith("Error")] == [said]
        assert "resuming" not in output
        assert not journal_path(manifest).exists() and not manifest.exists()
    assert chain.provider.web3.eth.get_transaction_count(key.address) == 0
