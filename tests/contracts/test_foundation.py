"""The toolchain end to end: every contract compiles, the node is anvil, an OZ token works."""

from __future__ import annotations

import json
import re
import subprocess

import ape
import pytest
import yaml

from tests.conftest import REPO_ROOT

USDC = 10**6  # one whole mock stablecoin (6 decimals)
DEFINITION = re.compile(r"^\s*(?:abstract\s+)?(?:contract|library|interface)\s+(\w+)", re.M)


def declared_contracts() -> set[str]:
    names: set[str] = set()
    for path in (REPO_ROOT / "contracts").rglob("*.sol"):
        if ".cache" in path.parts:  # Ape's unpacked dependencies (OpenZeppelin)
            continue
        names.update(DEFINITION.findall(path.read_text()))
    return names


def test_every_contract_compiles(project):
    declared = declared_contracts()
    assert {"MockStablecoin", "ParameterRegistry", "BallastGovernor"} <= declared
    compiled = set(project.contracts.keys())
    assert declared - compiled == set(), "declared but not compiled"


def test_every_interface_compiles():
    """interfaces/ holds no Ape contract types (they compile as imports): check them directly."""
    sources = {
        str(path.relative_to(REPO_ROOT)): {"content": path.read_text()}
        for path in (REPO_ROOT / "interfaces").rglob("*.sol")
    }
    assert "interfaces/IParameterRegistry.sol" in sources
    request = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "remappings": ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"],
            "outputSelection": {"*": {"*": ["abi"]}},
        },
    }
    solc = REPO_ROOT / "tools" / "bin" / "solc-v0.8.28"
    result = subprocess.run(
        [str(solc), "--standard-json", "--base-path", str(REPO_ROOT)],
        input=json.dumps(request), capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    output = json.loads(result.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    assert errors == []
    for source in sources:
        assert output["contracts"][source], f"{source} declares nothing"


def test_tests_run_on_a_private_anvil(chain):
    assert chain.provider.name == "foundry"
    assert chain.provider.web3.client_version.startswith("anvil/")
    assert chain.chain_id == 31337
    # foundry.host: auto → a free port, never a node someone left on 8545
    assert not chain.provider.uri.endswith(":8545")


def test_toolchain_versions_agree():
    """package-lock.json, ape-config.yaml and tools/bin name the same compiler and OZ."""
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())["packages"]
    config = yaml.safe_load((REPO_ROOT / "ape-config.yaml").read_text())
    solc_version = lock["node_modules/solc"]["version"]
    assert config["solidity"]["version"] == solc_version
    assert (REPO_ROOT / "tools" / "bin" / f"solc-v{solc_version}").exists()
    oz_version = lock["node_modules/@openzeppelin/contracts"]["version"]
    (oz,) = [d for d in config["dependencies"] if d["name"] == "openzeppelin"]
    assert oz["version"] == oz_version
    assert config["solidity"]["import_remapping"] == [
        f"@openzeppelin/contracts=openzeppelin/{oz_version}"
    ]


@pytest.fixture
def stablecoin(project, deployer):
    return deployer.deploy(project.MockStablecoin, "Mock USD Coin", "mUSDC")


def test_openzeppelin_token_deploys_and_transfers(stablecoin, accounts):
    alice, bob = accounts[1], accounts[2]
    assert stablecoin.decimals() == 6
    assert stablecoin.symbol() == "mUSDC"

    stablecoin.faucet(alice, 1_000 * USDC, sender=alice)
    receipt = stablecoin.transfer(bob, 250 * USDC, sender=alice)

    assert stablecoin.balanceOf(alice) == 750 * USDC
    assert stablecoin.balanceOf(bob) == 250 * USDC
    assert stablecoin.totalSupply() == 1_000 * USDC
    (event,) = receipt.events.filter(stablecoin.Transfer)
    assert (event["from"], event.to, event.value) == (alice.address, bob.address, 250 * USDC)


def test_transfer_beyond_balance_reverts_with_openzeppelin_error(stablecoin, accounts):
    alice, bob = accounts[1], accounts[2]
    stablecoin.faucet(alice, 10 * USDC, sender=alice)
    with ape.reverts(stablecoin.ERC20InsufficientBalance):
        stablecoin.transfer(bob, 10 * USDC + 1, sender=alice)
    assert stablecoin.balanceOf(alice) == 10 * USDC


def test_faucet_refuses_more_than_its_limit(stablecoin, accounts):
    limit = stablecoin.FAUCET_LIMIT()
    stablecoin.faucet(accounts[1], limit, sender=accounts[1])
    with ape.reverts(stablecoin.FaucetLimitExceeded, requested=limit + 1, limit=limit):
        stablecoin.faucet(accounts[1], limit + 1, sender=accounts[1])


def test_compiler_is_the_offline_standin(compilers):
    """py-solc-x resolves 0.8.28 to tools/bin: nothing would ever be downloaded."""
    from solcx.install import get_executable

    executable = get_executable("0.8.28")
    assert executable.resolve() == (REPO_ROOT / "tools" / "bin" / "solc-v0.8.28").resolve()
    assert "0.8.28" in {str(v) for v in compilers.solidity.installed_versions}
