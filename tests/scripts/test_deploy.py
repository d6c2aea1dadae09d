"""`ape run deploy` and the manifest and config behind it."""

from __future__ import annotations

import json

import pytest
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from ballast.config import ConfigError, DeployConfig
from ballast.deploy import deploy_system
from ballast.deployment import Deployment, ManifestError, config_path, manifest_path

LOCAL_CONFIG = "deployments/config/local.yaml"


@pytest.fixture
def local_config(repo_root) -> DeployConfig:
    return DeployConfig.load(repo_root / LOCAL_CONFIG)


def quiet(_: str) -> None:
    pass


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
    assert deployer.nonce == nonce  # nothing sent
    assert any("reusing" in m for m in messages)


def test_manifest_of_another_chain_is_not_reused(local_config, deployer):
    first = deploy_system(local_config, deployer, report=quiet)
    foreign = first.model_copy(update={"chain_id": 1})
    second = deploy_system(local_config, deployer, previous=foreign, report=quiet)
    assert second.tokens["asset"] != first.tokens["asset"]


def test_configured_address_without_code_is_refused(deployer):
    empty = "0x" + "11" * 20
    config = DeployConfig.model_validate({"asset": {"address": empty}})
    with pytest.raises(ConfigError, match=f"no contract at {to_checksum_address(empty)}"):
        deploy_system(config, deployer, report=quiet)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "asset: {mock: {name: A, symbol: A}}\nassets: {}\n",
            "assets: Extra inputs are not permitted",
        ),
        ("asset: {address: '0x12'}\n", "asset.address: not an address: '0x12'"),
        ("asset: {}\n", "asset: give exactly one of 'address' or 'mock'"),
        ("asset: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping of sections"),
        ("{}\n", "asset: Field required"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path, text, message):
    path = tmp_path / "net.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        DeployConfig.load(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


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


def test_ape_run_deploy_as_a_user(run_ape, tmp_path, project):
    manifest = tmp_path / "ethereum-local.json"
    args = [
        "run",
        "deploy",
        "--network",
        "ethereum:local:foundry",
        "--account",
        "TEST::0",
        "--manifest",
        str(manifest),
    ]

    first = run_ape(args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"manifest written to {manifest}" in first.stdout
    deployment = Deployment.load(manifest)
    assert project.MockStablecoin.at(deployment.tokens["asset"]).decimals() == 6

    again = run_ape(args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "asset: reusing" in again.stdout
    assert Deployment.load(manifest) == deployment


def test_ape_run_deploy_refuses_a_bad_config_in_one_line(run_ape, tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("asset: {}\n")
    result = run_ape(
        [
            "run",
            "deploy",
            "--network",
            "ethereum:local:foundry",
            "--account",
            "TEST::0",
            "--config",
            str(config),
            "--manifest",
            str(tmp_path / "m.json"),
        ]
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"Error: {config}: asset: give exactly one of 'address' or 'mock'" in result.stderr
    assert not (tmp_path / "m.json").exists()
