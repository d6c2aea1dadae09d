"""Who holds which role once `ape run deploy` is done: every AccessControl role on every contract
of the deployment, read from the chain's RoleGranted/RoleRevoked events (so a role granted to an
account nobody thought of shows up too), compared with the table DESIGN.md §Governance and
docs/deployer.md §What it deploys give. Also: a resumed or re-run deploy whose journal or
manifest does not describe this config's system is refused in one line before anything is sent
(it would otherwise leave two guardians, a veto answering to the old one, or another system's
contracts reported as this one)."""

from __future__ import annotations

import json
from collections import defaultdict
from types import SimpleNamespace

import click
import pytest
from eth_utils import keccak, to_checksum_address

from ballast.config import ConfigError, DeployConfig
from ballast.deploy import DeployError, deploy_system
from ballast.deployment import Deployment, ManifestError
from ballast.journal import Journal, config_digest, journal_path
from tests.conftest import REPO_ROOT
from tests.scripts.inprocess import script

LOCAL_CONFIG = REPO_ROOT / "deployments/config/local.yaml"
ZERO = "0x" + "00" * 20
GRANTED = "0x" + keccak(text="RoleGranted(bytes32,address,address)").hex()
REVOKED = "0x" + keccak(text="RoleRevoked(bytes32,address,address)").hex()
ROLE_NAMES = {
    bytes(32): "DEFAULT_ADMIN",
    **{
        keccak(text=f"{name}_ROLE"): name
        for name in ("GOVERNANCE", "GUARDIAN", "STEWARD", "ALLOWLIST", "PROPOSER", "EXECUTOR")
    },
    keccak(text="CANCELLER_ROLE"): "CANCELLER",
}


@pytest.fixture(scope="module")
def roles_local_config() -> DeployConfig:
    return DeployConfig.load(LOCAL_CONFIG)


def quiet(_: str) -> None:
    pass


def _topic_address(topic) -> str:
    return to_checksum_address(bytes(topic)[-20:])


def role_holders(chain, from_block: int) -> dict[str, dict[str, set[str]]]:
    """{contract: {role name: holders}} from every RoleGranted/RoleRevoked event since
    `from_block`, whatever contract emitted it."""
    logs = chain.provider.web3.eth.get_logs(
        {"fromBlock": from_block, "toBlock": "latest", "topics": [[GRANTED, REVOKED]]}
    )
    holders: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
        role = ROLE_NAMES.get(bytes(log["topics"][1]), bytes(log["topics"][1]).hex())
        account = _topic_address(log["topics"][2])
        signature = "0x" + bytes(log["topics"][0]).hex()
        members = holders[to_checksum_address(log["address"])][role]
        if signature == GRANTED:
            members.add(account)
        else:
            members.discard(account)
    return {c: {r: set(m) for r, m in roles.items() if m} for c, roles in holders.items()}


def documented_roles(deployment: Deployment) -> dict[str, dict[str, set[str]]]:
    """The table DESIGN.md §Governance and docs/deployer.md describe: the timelock holds
    GOVERNANCE and admin on the registry, the vault, the lending book and the router (and is its
    own admin); the governor proposes (and cancels its own proposals), anyone executes, the
    guardian cancels through GuardianVeto, freezes on the registry and pauses the vault; the
    steward holds STEWARD. No other contract has roles; no EOA other than the configured
    guardian and steward holds any."""
    c, roles = deployment.contracts, deployment.roles
    timelock = c["TimelockController"]
    table = {
        timelock: {
            "DEFAULT_ADMIN": {timelock},
            "PROPOSER": {c["BallastGovernor"]},
            "CANCELLER": {c["BallastGovernor"], c["GuardianVeto"]},
            "EXECUTOR": {ZERO},
        },
        c["ParameterRegistry"]: {
            "DEFAULT_ADMIN": {timelock},
            "GOVERNANCE": {timelock},
            "GUARDIAN": {roles["guardian"]},
            "STEWARD": {roles["steward"]},
        },
        c["RWAVault"]: {
            "DEFAULT_ADMIN": {timelock},
            "GOVERNANCE": {timelock},
            "GUARDIAN": {roles["guardian"]},
            **({"ALLOWLIST": {roles["allowlist_manager"]}} if "allowlist_manager" in roles else {}),
        },
        c["OracleRouter"]: {"DEFAULT_ADMIN": {timelock}},
    }
    if "LendingSleeve" in c:
        table[c["LendingSleeve"]] = {"DEFAULT_ADMIN": {timelock}, "GOVERNANCE": {timelock}}
    return table


def _check_with_has_role(project, deployment: Deployment, table) -> None:
    """The events agree with hasRole for every documented holder (and the deployer has none)."""
    kinds = {
        "TimelockController": project.BallastTimelock,
        "ParameterRegistry": project.ParameterRegistry,
        "RWAVault": project.RWAVault,
        "OracleRouter": project.OracleRouter,
        "LendingSleeve": project.LendingSleeve,
    }
    by_role = {name: role for role, name in ROLE_NAMES.items()}
    for name, container in kinds.items():
        contract = container.at(deployment.contracts[name])
        for role, members in table[contract.address].items():
            for member in members:
                assert contract.hasRole(by_role[role], member), (name, role, member)
            assert not contract.hasRole(by_role[role], deployment.deployer), (name, role)


def test_every_role_of_a_deployed_system_is_the_documented_one(
    roles_local_config, deployer, chain, project
):
    start = chain.blocks.head.number + 1
    deployment = deploy_system(roles_local_config, deployer, report=quiet)

    expected = documented_roles(deployment)
    assert role_holders(chain, start) == expected
    _check_with_has_role(project, deployment, expected)


class StopAt:
    """A report hook that presses Ctrl-C when the deploy reports `line`."""

    def __init__(self, line: str):
        self.line = line

    def __call__(self, message: str) -> None:
        if message.startswith(self.line):
            raise KeyboardInterrupt


def _with(config: DeployConfig, section: str, **changes) -> DeployConfig:
    return config.model_copy(update={section: getattr(config, section).model_copy(update=changes)})


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("roles", "guardian", "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"),  # TEST::5
        ("governance", "timelock_delay", 20 * 86_400),
    ],
)
def test_a_resume_under_a_changed_config_is_refused_before_sending(
    roles_local_config, deployer, chain, tmp_path, section, field, value
):
    """Found in the deployment review: a deploy interrupted after the old guardian got its roles
    and resumed with another `roles.guardian` ended "done" with two guardians on the vault and
    the registry and a GuardianVeto answering to the old one (its guardian is immutable), while
    the manifest named only the new one; a changed timelock delay kept the old timelock's (the
    config check had passed the new value). The journal now records the config it was made
    for, and a resume under another config stops in one line, nothing sent."""
    start = chain.blocks.head.number + 1
    path = journal_path(tmp_path / "ethereum-local.json")
    with pytest.raises(KeyboardInterrupt):
        deploy_system(
            roles_local_config,
            deployer,
            report=StopAt("granted vault GUARDIAN"),
            journal=Journal.open(path),
        )
    changed = _with(roles_local_config, section, **{field: value})
    nonce = deployer.nonce

    with pytest.raises(ManifestError) as refused:
        deploy_system(changed, deployer, report=quiet, journal=Journal.open(path))

    message = str(refused.value)
    assert "\n" not in message
    assert f"{path} is an interrupted deploy of another config" in message
    assert deployer.nonce == nonce
    # The same config resumes it to the documented roles.
    deployment = deploy_system(
        roles_local_config, deployer, report=quiet, journal=Journal.open(path)
    )
    assert role_holders(chain, start) == documented_roles(deployment)


def _another_nodes_manifest(roles_local_config, deployer, chain) -> Deployment:
    """The manifest of a deploy on another node with the same chain id (two anvils are both
    31337): this node is rolled back to before that deploy, and the deployer's same nonces
    then create other contracts at the addresses the manifest names."""
    snapshot = chain.snapshot()
    elsewhere = deploy_system(roles_local_config, deployer, report=quiet)
    chain.restore(snapshot)
    return elsewhere


def test_a_manifest_of_another_node_with_the_same_chain_id_is_refused(
    roles_local_config, deployer, chain, project
):
    """Found in the deployment review: every address the manifest names that has code was
    reused, whatever the code. Here the deployer's other contracts (mock stablecoins) sit at
    those addresses: the deploy took one for the BallastToken and the timelock and went on
    sending until a call failed deep in the wiring. Each reused contract is now checked to be
    this system's (its links and configured identity) before anything is sent."""
    elsewhere = _another_nodes_manifest(roles_local_config, deployer, chain)
    for i in range(8):  # the asset, then what sits where the token, timelock... were elsewhere
        deployer.deploy(project.MockStablecoin, f"Other {i}", f"O{i}")
    nonce = deployer.nonce

    with pytest.raises(DeployError) as refused:
        deploy_system(roles_local_config, deployer, previous=elsewhere, report=quiet)

    message = str(refused.value)
    assert "\n" not in message
    assert f"BallastToken: the manifest names {elsewhere.contracts['BallastToken']}" in message
    assert deployer.nonce == nonce


def test_a_manifest_whose_veto_answers_to_another_guardian_is_refused(
    roles_local_config, deployer, chain
):
    """GuardianVeto's guardian is immutable: a rerun with another `roles.guardian` cannot wire
    it, whatever governance does; it is refused before anything is sent, naming both."""
    first = deploy_system(roles_local_config, deployer, report=quiet)
    changed = _with(roles_local_config, "roles", guardian=deployer.address)
    nonce = deployer.nonce

    with pytest.raises(DeployError) as refused:
        deploy_system(changed, deployer, previous=first, report=quiet)

    assert f"GuardianVeto: the manifest names {first.contracts['GuardianVeto']}" in str(
        refused.value
    )
    assert deployer.nonce == nonce


def test_mocks_on_a_chain_that_is_not_local_are_refused_before_sending(
    roles_local_config, deployer, monkeypatch
):
    """Found in the deployment review: the local config (mock asset, mock feeds and issuers)
    deployed as well on any chain. On a real network that leaves an asset anyone mints from its
    faucet, and every sleeve's price feed and issuer owned by the deployer's EOA (it sets the
    NAV, freezes redemptions), outside governance and the guardian. This node (31337) stands
    for a real one by emptying the set of local chain ids."""
    monkeypatch.setattr("ballast.deploy.LOCAL_CHAIN_IDS", frozenset(), raising=False)
    nonce = deployer.nonce

    with pytest.raises(ConfigError) as refused:
        deploy_system(roles_local_config, deployer, report=quiet)

    message = str(refused.value)
    assert message.startswith(
        "config: asset, sleeve tbill, sleeve gold, sleeve invoices are mocks and chain 31337 "
        "is not a local node"
    )
    assert "\n" not in message
    assert deployer.nonce == nonce


def test_a_claim_relay_of_another_vault_is_not_reused(roles_local_config, deployer, project):
    """Found in the deployment review: a rerun whose manifest lacked the vault deployed a new
    vault but reused the manifest's ClaimRelay, which relays claims to the old one (its vault is
    immutable): the new manifest named, as the operator depositors approve, a relay of another
    vault. A recorded contract linked to one this run deployed anew is now deployed anew too."""
    first = deploy_system(roles_local_config, deployer, report=quiet)
    contracts = {k: v for k, v in first.contracts.items() if k != "RWAVault"}

    second = deploy_system(
        roles_local_config,
        deployer,
        previous=first.model_copy(update={"contracts": contracts}),
        report=quiet,
    )

    relay = project.ClaimRelay.at(second.contracts["ClaimRelay"])
    assert relay.vault() == second.contracts["RWAVault"] != first.contracts["RWAVault"]
    assert second.contracts["ParameterRegistry"] == first.contracts["ParameterRegistry"]


def test_a_journal_naming_other_code_says_to_delete_it_not_to_resume(
    roles_local_config, deployer, chain, project, tmp_path
):
    """Same review: `ape run deploy` ended every refusal with "run the same command again to
    resume" when a journal was left; for a journal that names other code (here a stablecoin
    where it records the BallastToken) that command only stops again. It now says which file
    names what, and to delete the journal."""
    other = deployer.deploy(project.MockStablecoin, "Other", "O")
    manifest = tmp_path / "ethereum-local.json"
    journal_path(manifest).write_text(
        json.dumps(
            {
                "chain_id": chain.chain_id,
                "deployer": deployer.address,
                "block": chain.blocks.head.number,
                "config": config_digest(roles_local_config),
                "deployed": {"contract:BallastToken": other.address},
            }
        )
    )

    with pytest.raises(click.ClickException) as refused:
        script("deploy").callback(
            ecosystem=SimpleNamespace(name="ethereum"),
            network=SimpleNamespace(name="local"),
            account=deployer,
            config_file=LOCAL_CONFIG,
            manifest_file=manifest,
        )

    message = refused.value.message
    assert message.startswith(f"BallastToken: the journal names {other.address}, which is not")
    assert message.endswith("delete the journal to deploy from scratch"), message
    assert not manifest.exists()


def test_a_rerun_says_which_governance_settings_differ_from_the_config(
    roles_local_config, deployer
):
    """Same review: rerunning the deploy is the documented way to check a deployment, and a
    config asking for a 20-day timelock and a 5 % quorum against a system with 15 days and 4 %
    was reported "nothing sent: everything was already deployed, defined and wired". The values
    are left as they are (governance changes them), but each difference is now said."""
    first = deploy_system(roles_local_config, deployer, report=quiet)
    changed = _with(roles_local_config, "governance", timelock_delay=20 * 86_400, quorum_percent=5)
    messages: list[str] = []
    nonce = deployer.nonce

    again = deploy_system(changed, deployer, previous=first, report=messages.append)

    assert (deployer.nonce, again.contracts) == (nonce, first.contracts)
    said = "differs from the config: the"
    left = "(left as it is: governance changes it by proposal)"
    assert [m for m in messages if m.startswith(said)] == [
        f"{said} timelock's minDelay is 15d on chain, the config says 20d {left}",
        f"{said} governor's quorum (%) is 4 on chain, the config says 5 {left}",
    ]
