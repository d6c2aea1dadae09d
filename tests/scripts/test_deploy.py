"""`ape run deploy` and the manifest and config behind it."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from ballast.config import ConfigError, DeployConfig, ParameterSpec, TokenSpec
from ballast.deploy import DeployError, deploy_system
from ballast.deployment import Deployment, ManifestError, config_path, manifest_path

LOCAL_CONFIG = "deployments/config/local.yaml"


@pytest.fixture
def local_config(repo_root) -> DeployConfig:
    return DeployConfig.load(repo_root / LOCAL_CONFIG)


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def local_yaml(repo_root) -> dict:
    return yaml.safe_load((repo_root / LOCAL_CONFIG).read_text())


def test_deploys_the_mock_asset_and_describes_it(local_config, deployer, chain, project):
    start = chain.blocks.head.number
    deployment = deploy_system(local_config, deployer, report=quiet)

    assert deployment.chain_id == chain.chain_id
    assert deployment.deployer == deployer.address
    assert deployment.block == start + 1
    asset = project.MockStablecoin.at(deployment.tokens["asset"])
    assert (asset.symbol(), asset.decimals()) == ("mUSDC", 6)


def test_second_run_reuses_what_the_manifest_names(local_config, deployer, chain):
    first = deploy_system(local_config, deployer, report=quiet)
    chain.mine(5)
    messages: list[str] = []
    nonce = deployer.nonce
    second = deploy_system(local_config, deployer, previous=first, report=messages.append)

    assert second == first
    assert deployer.nonce == nonce  # nothing sent: contracts, parameters and roles all in place
    assert any("reusing" in m for m in messages)
    assert "parameters: 0 defined, 25 already on chain" in messages


def test_a_new_parameter_after_handover_must_go_through_governance(local_config, deployer):
    first = deploy_system(local_config, deployer, report=quiet)
    extra = ParameterSpec(
        name="lend.ltvBps.gold", value=5_000, min=0, max=10_000, step_bps=0, cooldown=0
    )
    grown = local_config.model_copy(update={"parameters": [*local_config.parameters, extra]})
    with pytest.raises(DeployError, match="lend.ltvBps.gold is not defined on chain"):
        deploy_system(grown, deployer, previous=first, report=quiet)


def test_manifest_of_another_chain_is_not_reused(local_config, deployer):
    first = deploy_system(local_config, deployer, report=quiet)
    foreign = first.model_copy(update={"chain_id": 1})
    second = deploy_system(local_config, deployer, previous=foreign, report=quiet)
    assert second.tokens["asset"] != first.tokens["asset"]


def test_configured_address_without_code_is_refused(local_config, deployer):
    empty = "0x" + "11" * 20
    config = local_config.model_copy(update={"asset": TokenSpec(address=empty)})
    with pytest.raises(ConfigError, match=f"no contract at {to_checksum_address(empty)}"):
        deploy_system(config, deployer, report=quiet)


def test_vault_is_wired_and_handed_to_the_timelock(local_config, deployer, project):
    deployment = deploy_system(local_config, deployer, report=quiet)
    c = deployment.contracts
    vault = project.RWAVault.at(c["RWAVault"])
    router = project.OracleRouter.at(c["OracleRouter"])
    timelock, roles = c["TimelockController"], local_config.roles

    assert vault.asset() == deployment.tokens["asset"]
    assert (vault.symbol(), vault.decimals()) == ("bUSD", 18)
    assert vault.registry() == c["ParameterRegistry"] == router.registry()
    assert vault.rebalanceModule() == c["RebalanceModule"]
    assert [e.name for e in deployment.sleeves] == ["tbill", "gold", "invoices"]
    for index, entry in enumerate(deployment.sleeves):
        on_chain = vault.sleeveAt(index)
        assert (on_chain.sleeve, on_chain.name) == (entry.address, entry.name)
        assert deployment.tokens[entry.name] == entry.token
        assert router.feedOf(entry.token) == entry.feed
        assert project.TokenizedRWASleeve.at(entry.address).issuer() == entry.issuer
    gold = project.OracleRouter.at(c["OracleRouter"]).price(deployment.tokens["gold"])
    assert gold == 2_400 * 10**18

    assert vault.hasRole(vault.GOVERNANCE_ROLE(), timelock)
    assert vault.hasRole(vault.DEFAULT_ADMIN_ROLE(), timelock)
    assert vault.hasRole(vault.GUARDIAN_ROLE(), roles.guardian)
    assert vault.hasRole(vault.ALLOCATOR_ROLE(), roles.allocator)
    assert router.hasRole(router.DEFAULT_ADMIN_ROLE(), timelock)
    for contract, role in [
        (vault, vault.GOVERNANCE_ROLE()),
        (vault, vault.DEFAULT_ADMIN_ROLE()),
        (router, router.DEFAULT_ADMIN_ROLE()),
    ]:
        assert not contract.hasRole(role, deployer)
    assert deployment.roles["allocator"] == roles.allocator
    assert not vault.allowlistEnabled()


def test_a_new_sleeve_after_handover_must_go_through_governance(local_config, local_yaml, deployer):
    first = deploy_system(local_config, deployer, report=quiet)
    grown = copy.deepcopy(local_yaml)
    grown["sleeves"].append({"name": "estate", "mock": {"name": "E", "symbol": "E", "nav": 100}})
    grown["parameters"].append(
        {"name": "vault.maxSleeveBps.estate", "value": 0, "min": 0, "max": 1000, "step_bps": 0,
         "cooldown": 0}
    )  # fmt: skip
    config = DeployConfig.model_validate(grown)
    with pytest.raises(DeployError, match="vault.maxSleeveBps.estate is not defined on chain"):
        deploy_system(config, deployer, previous=first, report=quiet)


def _param(config: dict, name: str) -> dict:
    return next(p for p in config["parameters"] if p["name"] == name)


MUTATIONS = {
    "extra section": (lambda c: c.update(assets={}), "assets: Extra inputs are not permitted"),
    "bad address": (
        lambda c: c.update(asset={"address": "0x12"}),
        "asset.address: not an address: '0x12'",
    ),
    "no token": (lambda c: c.update(asset={}), "asset: give exactly one of 'address' or 'mock'"),
    "unknown parameter": (
        lambda c: _param(c, "vault.idleBufferBps").update(name="vault.idleBuffer"),
        "unknown parameter 'vault.idleBuffer'",
    ),
    "value outside bounds": (
        lambda c: _param(c, "vault.idleBufferBps").update(value=9_000),
        "vault.idleBufferBps: value 9000 is outside its bounds [100, 5000]",
    ),
    "steward looser": (
        lambda c: _param(c, "vault.idleBufferBps").update(steward_cooldown="1h"),
        "vault.idleBufferBps: the steward's limits must be tighter than governance's",
    ),
    "steward cooldown only equal": (
        lambda c: _param(c, "vault.idleBufferBps").update(steward_cooldown="1d"),
        "steward_cooldown > cooldown",
    ),
    "listed twice": (
        lambda c: c["parameters"].append(dict(_param(c, "lend.minDebt"))),
        "parameter 'lend.minDebt' is listed twice",
    ),
    "short timelock": (
        lambda c: c["governance"].update(timelock_delay="14d"),
        "governance.timelock_delay 1209600s must exceed the maximum agent.unbondingPeriod",
    ),
    "bad duration": (
        lambda c: c["governance"].update(voting_period="3x"),
        "governance.voting_period: not a duration: '3x'",
    ),
    "missing section": (lambda c: c.pop("roles"), "roles: Field required"),
    "sleeve without cap": (
        lambda c: c["parameters"].remove(_param(c, "vault.maxSleeveBps.gold")),
        "sleeve 'gold' needs the parameter vault.maxSleeveBps.gold",
    ),
    "cap without sleeve": (
        lambda c: c["sleeves"].pop(),
        "parameter vault.maxSleeveBps.invoices names no sleeve",
    ),
    "sleeve named twice": (
        lambda c: c["sleeves"].append(dict(c["sleeves"][0])),
        "sleeves: every sleeve needs a unique name",
    ),
    "sleeve mock and address": (
        lambda c: c["sleeves"][0].update(token="0x" + "22" * 20),
        "sleeve tbill: give either 'mock' or token/feed/issuer",
    ),
    "real sleeve without issuer": (
        lambda c: c["sleeves"][0].update(mock=None, token="0x" + "22" * 20, feed="0x" + "33" * 20),
        "sleeve tbill: give 'mock' or all of token, feed and issuer",
    ),
    "required parameter missing": (
        lambda c: c["parameters"].remove(_param(c, "oracle.maxStaleness")),
        "parameter 'oracle.maxStaleness' is required",
    ),
    "negative nav": (
        lambda c: c["sleeves"][1]["mock"].update(nav=-5),
        "sleeves.1.mock.nav: Input should be greater than 0",
    ),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_bad_config_is_one_clear_line(tmp_path, local_yaml, case):
    mutate, message = MUTATIONS[case]
    config = copy.deepcopy(local_yaml)
    mutate(config)
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as err:
        DeployConfig.load(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("asset: [unclosed\n", "not valid YAML"), ("- a\n- list\n", "expected a mapping")],
)
def test_unparseable_config_is_one_clear_line(tmp_path, text, message):
    path = tmp_path / "net.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        DeployConfig.load(path)


addresses = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))


@given(
    chain_id=st.integers(min_value=1, max_value=2**63),
    block=st.integers(min_value=0, max_value=2**63),
    deployer=addresses,
    contracts=st.dictionaries(st.text(min_size=1, max_size=20), addresses, max_size=5),
)
def test_manifest_round_trips(tmp_path_factory, chain_id, block, deployer, contracts):
    path = tmp_path_factory.mktemp("m") / "ethereum-local.json"
    original = Deployment(chain_id=chain_id, block=block, deployer=deployer, contracts=contracts)
    original.save(path)
    assert Deployment.load(path) == original
    assert json.loads(path.read_text())["chain_id"] == chain_id


def test_manifest_errors_are_one_line(tmp_path):
    with pytest.raises(ManifestError, match="run `ape run deploy` on this network first"):
        Deployment.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"chain_id": 1, "block": 0, "deployer": "nope"}')
    with pytest.raises(ManifestError, match="deployer: Value error, not an address"):
        Deployment.load(bad)


def test_default_paths_follow_the_design():
    assert str(manifest_path("ethereum", "local")) == "deployments/ethereum-local.json"
    assert str(manifest_path("ethereum", "mainnet-fork")) == "deployments/ethereum-mainnet.json"
    assert str(config_path("sepolia")) == "deployments/config/sepolia.yaml"


DEPLOY = ["run", "deploy", "--network", "ethereum:local:foundry", "--account", "TEST::0"]


def test_ape_run_deploy_as_a_user(run_ape, tmp_path, project):
    manifest = tmp_path / "ethereum-local.json"
    args = [*DEPLOY, "--manifest", str(manifest)]

    first = run_ape(args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"manifest written to {manifest}" in first.stdout
    deployment = Deployment.load(manifest)
    assert project.MockStablecoin.at(deployment.tokens["asset"]).decimals() == 6

    again = run_ape(args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "asset: reusing" in again.stdout
    assert Deployment.load(manifest) == deployment


def test_ape_run_deploy_refuses_a_bad_config_in_one_line(run_ape, tmp_path, local_yaml):
    config = tmp_path / "broken.yaml"
    config.write_text(yaml.safe_dump({**local_yaml, "asset": {}}))
    result = run_ape([*DEPLOY, "--config", str(config), "--manifest", str(tmp_path / "m.json")])
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"Error: {config}: asset: give exactly one of 'address' or 'mock'" in result.stderr
    assert not (tmp_path / "m.json").exists()
