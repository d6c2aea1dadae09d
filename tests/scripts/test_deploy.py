"""`ape run deploy` and the manifest and config behind it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from fractions import Fraction
from types import SimpleNamespace

import pytest
import yaml
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from ballast.config import ConfigError, DeployConfig, ParameterSpec, TokenSpec
from ballast.deploy import NeedsTheDao, deploy_system
from ballast.deployment import (
    CollateralEntry,
    Deployment,
    ManifestError,
    config_path,
    manifest_path,
    manifest_to_read,
)
from ballast.journal import Journal
from ballast.parameters import SUM_AT_LEAST
from tests.scripts.inprocess import script

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
    assert f"parameters: 0 defined, {len(local_config.parameters)} already on chain" in messages
    book = first.contracts["LendingSleeve"]
    assert f"sleeve lending: reusing {book} from the manifest" in messages


def test_second_run_says_it_reused_every_contract(local_config, deployer):
    first = deploy_system(local_config, deployer, report=quiet)
    messages: list[str] = []
    deploy_system(local_config, deployer, previous=first, report=messages.append)

    assert not [m for m in messages if "deployed" in m or "granted" in m or "renounced" in m]
    reused = " ".join(m for m in messages if "reusing" in m)
    mocks = [a for e in first.sleeves for a in (e.feed, e.issuer) if a]
    everything = [*first.contracts.values(), *(e.address for e in first.sleeves), *mocks]
    assert [a for a in [first.tokens["asset"], *everything] if a not in reused] == []
    assert f"RWAVault: reusing {first.contracts['RWAVault']} from the manifest" in messages
    assert f"sleeve tbill: reusing {first.sleeves[0].address} from the manifest" in messages


def test_a_rerun_keeps_the_agent_registry_governance_pointed_the_vault_at(
    local_config, deployer, project, accounts
):
    """Governance pointed the vault at another AgentRegistry after the deploy: a rerun reuses
    that one and records it in the manifest. It used to reuse the manifest's and leave the DAO
    a call pointing the vault back at it (`NeedsTheDao`), undoing governance's choice."""
    first = deploy_system(local_config, deployer, report=quiet)
    vault = project.RWAVault.at(first.contracts["RWAVault"])
    old = project.AgentRegistry.at(first.contracts["AgentRegistry"])
    new = project.AgentRegistry.deploy(vault, old.registry(), old.treasury(), sender=deployer)
    timelock = accounts[first.contracts["TimelockController"]]
    timelock.balance += 10**18
    vault.setAgentRegistry(new, sender=timelock)
    messages: list[str] = []
    nonce = deployer.nonce

    second = deploy_system(local_config, deployer, previous=first, report=messages.append)

    assert second.contracts["AgentRegistry"] == new.address
    assert vault.agentRegistry() == new.address and deployer.nonce == nonce
    named = first.contracts["AgentRegistry"]
    said = f"AgentRegistry: reusing {new.address}, the vault's now (the manifest named {named})"
    assert said in messages, messages
    assert second.model_copy(update={"contracts": first.contracts}) == first


def test_configured_contracts_are_checked_before_anything_is_sent(local_yaml, deployer):
    real = copy.deepcopy(local_yaml)
    real["sleeves"][0] = {
        "name": "tbill", "token": "0x" + "44" * 20, "feed": "0x" + "55" * 20,
        "issuer": "0x" + "66" * 20, "exit_days": 1,
    }  # fmt: skip
    config = DeployConfig.model_validate(real)
    nonce = deployer.nonce
    token = to_checksum_address("0x" + "44" * 20)
    with pytest.raises(ConfigError, match=f"sleeve tbill token: no contract at {token}"):
        deploy_system(config, deployer, report=quiet)
    assert deployer.nonce == nonce


def test_a_new_parameter_after_handover_must_go_through_governance(local_config, deployer):
    first = deploy_system(local_config, deployer, report=quiet)
    extra = ParameterSpec(
        name="lend.ltvBps.silver", value=5_000, min=0, max=10_000, step_bps=0, cooldown=0
    )
    grown = local_config.model_copy(update={"parameters": [*local_config.parameters, extra]})
    nonce = deployer.nonce
    with pytest.raises(NeedsTheDao, match="1 step of the config needs the DAO") as left:
        deploy_system(grown, deployer, previous=first, report=quiet)
    (call,) = left.value.calls
    assert call.what == "define lend.ltvBps.silver"
    assert (
        call.call == "ParameterRegistry.defineParameter('lend.ltvBps.silver', 5000, 0, 10000, 0, 0)"
    )
    assert call.target == first.contracts["ParameterRegistry"] and deployer.nonce == nonce


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
    agents = project.AgentRegistry.at(c["AgentRegistry"])
    assert (agents.asset(), agents.registry()) == (vault.asset(), c["ParameterRegistry"])
    assert (agents.vault(), agents.treasury()) == (vault.address, timelock)
    assert vault.agentRegistry() == agents.address
    assert vault.registry() == c["ParameterRegistry"] == router.registry()
    assert vault.rebalanceModule() == c["RebalanceModule"]
    assert project.ClaimRelay.at(c["ClaimRelay"]).vault() == vault.address  # depositors' operator
    assert [e.name for e in deployment.sleeves] == ["tbill", "gold", "invoices", "lending"]
    assert vault.sleeveCount() == len(deployment.sleeves)
    for index, entry in enumerate(deployment.sleeves):
        on_chain = vault.sleeveAt(index)
        assert (on_chain.sleeve, on_chain.name) == (entry.address, entry.name)
        if entry.kind == "TokenizedRWASleeve":
            assert deployment.tokens[entry.name] == entry.token
            assert router.feedOf(entry.token) == entry.feed
            assert project.TokenizedRWASleeve.at(entry.address).issuer() == entry.issuer
    gold = project.OracleRouter.at(c["OracleRouter"]).price(deployment.tokens["gold"])
    assert gold == 2_400 * 10**18

    assert vault.hasRole(vault.GOVERNANCE_ROLE(), timelock)
    assert vault.hasRole(vault.DEFAULT_ADMIN_ROLE(), timelock)
    assert vault.hasRole(vault.GUARDIAN_ROLE(), roles.guardian)
    assert router.hasRole(router.DEFAULT_ADMIN_ROLE(), timelock)
    for contract, role in [
        (vault, vault.GOVERNANCE_ROLE()),
        (vault, vault.DEFAULT_ADMIN_ROLE()),
        (router, router.DEFAULT_ADMIN_ROLE()),
    ]:
        assert not contract.hasRole(role, deployer)
    assert deployment.roles["treasury"] == timelock
    assert not vault.allowlistEnabled()


def test_lending_book_is_wired_and_handed_to_the_timelock(local_config, deployer, project):
    deployment = deploy_system(local_config, deployer, report=quiet)
    c = deployment.contracts
    book = project.LendingSleeve.at(c["LendingSleeve"])
    timelock = c["TimelockController"]

    lending = deployment.sleeves[-1]
    assert (lending.name, lending.kind, lending.address) == ("lending", "LendingSleeve", book)
    assert (lending.token, lending.feed, lending.issuer) == (None, None, None)
    assert "lending" not in deployment.tokens
    assert (book.vault(), book.asset()) == (c["RWAVault"], deployment.tokens["asset"])
    assert (book.registry(), book.router()) == (c["ParameterRegistry"], c["OracleRouter"])
    assert book.interestRateModel() == c["InterestRateModel"]
    assert project.InterestRateModel.at(c["InterestRateModel"]).registry() == book.registry()

    rwa = {e.name: e for e in deployment.sleeves if e.kind == "TokenizedRWASleeve"}
    assert deployment.collateral == [
        CollateralEntry(name=name, token=rwa[name].token, feed=rwa[name].feed)
        for name in ("tbill", "gold", "invoices")
    ]
    assert book.collateralTokens() == [entry.token for entry in deployment.collateral]
    for entry in deployment.collateral:
        assert book.collateralName(entry.token) == entry.name
        assert book.capUsage(entry.token) == 0

    assert book.hasRole(book.GOVERNANCE_ROLE(), timelock)
    assert book.hasRole(book.DEFAULT_ADMIN_ROLE(), timelock)
    assert not book.hasRole(book.GOVERNANCE_ROLE(), deployer)
    assert not book.hasRole(book.DEFAULT_ADMIN_ROLE(), deployer)


def test_a_book_of_another_vault_is_not_reused(local_config, deployer, project):
    first = deploy_system(local_config, deployer, report=quiet)
    contracts = {k: v for k, v in first.contracts.items() if k != "RWAVault"}
    second = deploy_system(
        local_config, deployer, previous=first.model_copy(update={"contracts": contracts}),
        report=quiet,
    )  # fmt: skip

    vault = second.contracts["RWAVault"]
    assert vault != first.contracts["RWAVault"]
    book = project.LendingSleeve.at(second.contracts["LendingSleeve"])
    assert book.address != first.contracts["LendingSleeve"]
    assert book.vault() == vault
    assert project.RWAVault.at(vault).sleeveAt(3).sleeve == book.address
    assert len(book.collateralTokens()) == 3
    # The rate model reads the same registry: it is kept.
    assert second.contracts["InterestRateModel"] == first.contracts["InterestRateModel"]


def _collateral_params(name: str) -> list[dict]:
    return [
        {"name": f"lend.{key}.{name}", "value": value, "min": 0, "max": top, "step_bps": 0,
         "cooldown": 0}
        for key, value, top in (
            ("ltvBps", 7_000, 10_000), ("liqThresholdBps", 7_500, 10_000),
            ("liqBonusBps", 500, 5_000), ("borrowCap", 10**12, 10**15),
        )
    ]  # fmt: skip


def test_collateral_given_by_address_gets_its_feed_and_name(local_yaml, deployer, project):
    token = deployer.deploy(project.MockRWAToken, "Wrapped BTC", "mWBTC", 8, deployer)
    feed = deployer.deploy(project.MockAggregator, 8, "WBTC / USD", 60_000 * 10**8, deployer)
    grown = copy.deepcopy(local_yaml)
    grown["sleeves"][-1]["collateral"].append(
        {"name": "wbtc", "token": token.address, "feed": feed.address}
    )
    grown["parameters"].extend(_collateral_params("wbtc"))
    config = DeployConfig.model_validate(grown)

    deployment = deploy_system(config, deployer, report=quiet)
    router = project.OracleRouter.at(deployment.contracts["OracleRouter"])
    book = project.LendingSleeve.at(deployment.contracts["LendingSleeve"])
    assert router.feedOf(token) == feed.address
    assert router.price(token) == 60_000 * 10**18
    assert book.collateralTokens()[-1] == token.address
    assert book.collateralName(token) == "wbtc"
    wbtc = CollateralEntry(name="wbtc", token=token.address, feed=feed.address)
    assert deployment.collateral[-1] == wbtc
    assert deployment.tokens["wbtc"] == token.address

    nonce = deployer.nonce
    assert deploy_system(config, deployer, previous=deployment, report=quiet) == deployment
    assert deployer.nonce == nonce


def test_a_manifest_without_collateral_still_loads(tmp_path):
    path = tmp_path / "ethereum-local.json"
    path.write_text(
        '{"chain_id": 1, "block": 0, "deployer": "0x' + "11" * 20 + '", "contracts": {}, '
        '"sleeves": [], "tokens": {}, "roles": {}}'
    )
    assert Deployment.load(path).collateral == []


def test_the_steps_a_grown_config_needs_from_the_dao_are_left_as_calls_that_take_them(
    local_config, local_yaml, deployer, accounts, chain, tmp_path, project
):
    """After the handover a config with a new sleeve deploys what the deployer may still deploy
    (the sleeve, its mock token, feed and issuer) and leaves the rest to the DAO: the calls
    that take each step, in the order they must execute (`NeedsTheDao`). Made by the timelock
    in that order (as one executed proposal would), the next run finds every step taken and
    lists the sleeve. (The CLI's batch file and `params propose-batch`:
    tests/scripts/test_dao_sleeve.py.)"""
    first = deploy_system(local_config, deployer, report=quiet)
    grown = copy.deepcopy(local_yaml)
    grown["sleeves"].insert(3, {"name": "estate", "mock": {"name": "E", "symbol": "E", "nav": 100}})
    grown["parameters"].append(
        {"name": "vault.maxSleeveBps.estate", "value": 0, "min": 0, "max": 1000, "step_bps": 0,
         "cooldown": 0}
    )  # fmt: skip
    config = DeployConfig.model_validate(grown)
    journal = tmp_path / "deploy-journal.json"  # as `ape run deploy` keeps one
    with pytest.raises(NeedsTheDao) as left:
        deploy_system(config, deployer, previous=first, report=quiet, journal=Journal.open(journal))
    calls = left.value.calls
    assert [c.call.split("(")[0] for c in calls] == [
        "ParameterRegistry.defineParameter", "ParameterRegistry.addLink",
        "ParameterRegistry.removeLink", "OracleRouter.setFeed", "RWAVault.addSleeve",
    ]  # fmt: skip
    message = str(left.value)
    assert "\n" not in message and message.startswith("5 steps of the config need the DAO")
    assert (
        calls[0].call
        == "ParameterRegistry.defineParameter('vault.maxSleeveBps.estate', 0, 0, 1000, 0, 0)"
    )
    timelock = accounts.impersonate_account(first.contracts["TimelockController"])
    deployer.transfer(timelock, 10**18)
    web3 = chain.provider.web3
    for call in calls:
        sent = web3.eth.send_transaction({"from": timelock.address, "to": call.target,
                                          "data": "0x" + call.data.hex()})  # fmt: skip
        assert web3.eth.wait_for_transaction_receipt(sent)["status"] == 1, call
    grown_deployment = deploy_system(
        config, deployer, previous=first, report=quiet, journal=Journal.open(journal)
    )
    assert [s.name for s in grown_deployment.sleeves] == [s["name"] for s in grown["sleeves"]]
    estate = next(s for s in grown_deployment.sleeves if s.name == "estate")
    assert estate.address == calls[-1].call.split("'")[1]  # the sleeve the first run deployed
    registry = project.ParameterRegistry.at(first.contracts["ParameterRegistry"])
    sums = [registry.getLink(i) for i in range(registry.linkCount())]
    sums = [len(link.keys) for link in sums if link.rule == SUM_AT_LEAST]
    assert sums == [1 + len(grown["sleeves"])]  # the buffer and every cap, the old link removed


def _param(config: dict, name: str) -> dict:
    return next(p for p in config["parameters"] if p["name"] == name)


def _lending(config: dict) -> dict:
    return next(s for s in config["sleeves"] if s.get("kind") == "LendingSleeve")


def _second_book(config: dict) -> None:
    config["sleeves"].append({**_lending(config), "name": "lending2"})
    config["parameters"].append({**_param(config, "vault.maxSleeveBps.lending"),
                                 "name": "vault.maxSleeveBps.lending2"})  # fmt: skip


def _unsafe_bonus(config: dict) -> None:
    _param(config, "lend.liqThresholdBps.gold").update(value=8_500)
    _param(config, "lend.liqBonusBps.gold").update(value=1_800, max=2_000)  # 85% x 118% > 100%


def _no_book(config: dict) -> None:
    config["sleeves"].remove(_lending(config))
    config["parameters"].remove(_param(config, "vault.maxSleeveBps.lending"))


def _invoices_by_address(config: dict) -> None:
    collateral = _lending(config)["collateral"]
    collateral[-1] = {"name": "invoices", "token": "0x" + "22" * 20, "feed": "0x" + "33" * 20}


def _asset_as_collateral(config: dict) -> None:
    usd = "0x" + "22" * 20
    config["asset"] = {"address": usd}
    _lending(config)["collateral"].append({"name": "usd", "token": usd, "feed": "0x" + "33" * 20})


def _real_tbill(exit_days: int | None) -> Callable[[dict], None]:
    def mutate(config: dict) -> None:
        config["sleeves"][0] = {
            "name": "tbill", "token": "0x" + "44" * 20, "feed": "0x" + "55" * 20,
            "issuer": "0x" + "66" * 20, "exit_days": exit_days,
        }  # fmt: skip

    return mutate


ZERO = "0x" + "00" * 20

MUTATIONS = {
    "extra section": (lambda c: c.update(assets={}), "assets: Extra inputs are not permitted"),
    # Found in the deployment review: accepted, then a treasury or a holder at the zero address
    # reverted the AgentRegistry's or the token's creation halfway through the deploy, and a
    # guardian or steward there was no one, the deploy reporting the roles wired.
    **{
        f"zero {role}": (
            lambda c, role=role: c["roles"].update({role: ZERO}),
            f"roles.{role}: the zero address holds no key",
        )
        for role in ("guardian", "steward", "treasury", "allowlist_manager")
    },
    "zero token holder": (
        lambda c: c["governance"]["distribution"].update({ZERO: 1}),
        "distribution: the zero address cannot hold tokens",
    ),
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
    "freeze outlasting the timelock's grace": (
        lambda c: _param(c, "registry.maxFreezePeriod").update(max="61d"),
        "registry.maxFreezePeriod max 61d must not exceed 60d, the timelock's grace period (90d) "
        "less 30d: a freeze must end while the change queued behind it can still execute",
    ),
    "more decisions in an evaluation window than an evaluation walks": (
        lambda c: _param(c, "vault.rebalanceCooldown").update(min="5h"),
        "agent.evalWindow max 30d over vault.rebalanceCooldown min 5h lets more than 120 "
        "decisions into one evaluation window: an evaluation walks them all, and could grow too "
        "long for a block",
    ),
    "short timelock": (
        lambda c: c["governance"].update(timelock_delay="14d"),
        "governance.timelock_delay 1209600s must exceed the maximum agent.unbondingPeriod",
    ),
    "exit time too long (mock)": (
        lambda c: c["sleeves"][2]["mock"].update(daily_redeem_limit=500_000),
        "governance.timelock_delay 15d (1296000s) must exceed the depositors' exit time: sleeve "
        "invoices needs 20 days (vault.depositCap max 20,000,000 x vault.maxSleeveBps.invoices "
        "max 5000 bps / nav 1 = 10,000,000 tokens at 500,000 a day) + up to 4 days for a strike "
        "(vault.strikeMaxWait max) = 24 days",
    ),
    "issuer time equal to the timelock": (
        lambda c: c["sleeves"][0]["mock"].update(daily_redeem_limit=1_200_000),
        "exceed the depositors' exit time: sleeve tbill needs 15 days (vault.depositCap max "
        "20,000,000 x vault.maxSleeveBps.tbill max 9000 bps / nav 1 = 18,000,000 tokens at "
        "1,200,000 a day)",
    ),
    "exit time equal to the timelock": (
        lambda c: _param(c, "vault.strikeMaxWait").update(max="5d"),
        "exceed the depositors' exit time: sleeve invoices needs 10 days (vault.depositCap max "
        "20,000,000 x vault.maxSleeveBps.invoices max 5000 bps / nav 1 = 10,000,000 tokens at "
        "1,000,000 a day) + up to 5 days for a strike (vault.strikeMaxWait max) = 15 days",
    ),
    "exit time counts the strike wait's max bound": (
        lambda c: _param(c, "vault.strikeMaxWait").update(max="6d"),
        "sleeve invoices needs 10 days (vault.depositCap max 20,000,000 x "
        "vault.maxSleeveBps.invoices max 5000 bps / nav 1 = 10,000,000 tokens at 1,000,000 a "
        "day) + up to 6 days for a strike (vault.strikeMaxWait max) = 16 days",
    ),
    "exit time counts the deposit cap's max bound": (
        lambda c: _param(c, "vault.depositCap").update(max=40_000_000_000_000),
        "sleeve invoices needs 20 days (vault.depositCap max 40,000,000 x",
    ),
    "exit time counts the sleeve cap's max bound": (
        lambda c: _param(c, "vault.maxSleeveBps.gold").update(max=10_000),
        "sleeve gold needs 16.67 days (vault.depositCap max 20,000,000 x vault.maxSleeveBps.gold "
        "max 10000 bps / nav 2,400 = 8,333.33 tokens at 500 a day)",
    ),
    "exit time counts the loan call's notice (max bound)": (
        lambda c: _param(c, "lend.callNoticePeriod").update(max="12d"),
        "must exceed the depositors' exit time: sleeve lending needs 12 days (after a shutdown, "
        "loans called: lend.callNoticePeriod max 12 days) + up to 4 days for a strike "
        "(vault.strikeMaxWait max) = 16 days",
    ),
    "exit time of a real sleeve": (
        _real_tbill(16),
        "must exceed the depositors' exit time: sleeve tbill needs 16 days (its exit_days 16) + "
        "up to 4 days for a strike (vault.strikeMaxWait max) = 20 days",
    ),
    "mock sleeve with a real asset": (
        lambda c: c.update(asset={"address": "0x" + "22" * 20}),
        "sleeve tbill: a mock RWA needs the mock asset",
    ),
    "exit_days on a mock": (
        lambda c: c["sleeves"][0].update(exit_days=1),
        "sleeve tbill: a mock's exit time follows from its daily_redeem_limit",
    ),
    "exit_days on the lending sleeve": (
        lambda c: _lending(c).update(exit_days=1),
        "sleeve lending: 'exit_days' is for real RWA sleeves",
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
        "parameter vault.maxSleeveBps.lending names no sleeve",
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
    "missing strike parameter": (
        lambda c: c["parameters"].remove(_param(c, "vault.strikeMaxWait")),
        "parameter 'vault.strikeMaxWait' is required",
    ),
    "missing agent parameter": (
        lambda c: c["parameters"].remove(_param(c, "agent.evalWindow")),
        "parameter 'agent.evalWindow' is required (the deployed contracts read it)",
    ),
    "negative nav": (
        lambda c: c["sleeves"][1]["mock"].update(nav=-5),
        "sleeves.1.mock.nav: Input should be greater than 0",
    ),
    "lending sleeve without cap": (
        lambda c: c["parameters"].remove(_param(c, "vault.maxSleeveBps.lending")),
        "sleeve 'lending' needs the parameter vault.maxSleeveBps.lending",
    ),
    "two lending sleeves": (_second_book, "sleeves: at most one LendingSleeve, found lending"),
    "collateral without a parameter": (
        lambda c: c["parameters"].remove(_param(c, "lend.borrowCap.gold")),
        "collateral 'gold' needs the parameter lend.borrowCap.gold",
    ),
    "lend parameter naming no collateral": (
        lambda c: _lending(c)["collateral"].pop(),
        "parameter lend.borrowCap.invoices names no collateral",
    ),
    "lend parameter without a lending sleeve": (
        _no_book,
        "parameter lend.borrowCap.gold names no collateral",
    ),
    "lending global missing": (
        lambda c: c["parameters"].remove(_param(c, "lend.rate.kinkBps")),
        "parameter 'lend.rate.kinkBps' is required (the LendingSleeve reads it)",
    ),
    "ltv above threshold": (
        lambda c: _param(c, "lend.ltvBps.gold").update(value=8_000),
        "collateral 'gold': lend.ltvBps.gold 8000 is above lend.liqThresholdBps.gold 7500",
    ),
    "threshold x bonus above 100%": (
        _unsafe_bonus,
        "collateral 'gold': lend.liqThresholdBps.gold 8500 x (1 + lend.liqBonusBps.gold 1800) "
        "is above 100%",
    ),
    "collateral named twice": (
        lambda c: _lending(c)["collateral"].append({"sleeve": "gold"}),
        "sleeve lending: collateral 'gold' is listed twice",
    ),
    "collateral naming no rwa sleeve": (
        lambda c: _lending(c)["collateral"].append({"sleeve": "lending"}),
        "collateral sleeve 'lending' is not a TokenizedRWASleeve of this config",
    ),
    "collateral sleeve and token": (
        lambda c: _lending(c)["collateral"][0].update(token="0x" + "22" * 20),
        "sleeves.3.collateral.0: give either 'sleeve' or name/token/feed",
    ),
    "collateral without feed": (
        lambda c: _lending(c)["collateral"].append({"name": "wbtc", "token": "0x" + "22" * 20}),
        "sleeves.3.collateral.3: give 'sleeve' or all of name, token and feed",
    ),
    "collateral by address named like a sleeve": (
        _invoices_by_address,
        "collateral 'invoices' is a sleeve's name: write 'sleeve: invoices'",
    ),
    "collateral token twice": (
        lambda c: _lending(c)["collateral"].extend(
            {"name": n, "token": "0x" + "22" * 20, "feed": "0x" + "33" * 20} for n in ("a", "b")
        ),
        f"collateral 'b': {to_checksum_address('0x' + '22' * 20)} is already collateral 'a'",
    ),
    "collateral is the asset": (_asset_as_collateral, "is already the vault's asset"),
    "lending sleeve with a mock": (
        lambda c: _lending(c).update(mock={"name": "L", "symbol": "L", "nav": 1}),
        "sleeve lending: a LendingSleeve takes 'collateral', not mock/token/feed/issuer",
    ),
    "lending sleeve without collateral": (
        lambda c: _lending(c).update(collateral=[]),
        "sleeve lending: a LendingSleeve needs at least one collateral",
    ),
    "rwa sleeve with collateral": (
        lambda c: c["sleeves"][0].update(collateral=[{"sleeve": "gold"}]),
        "sleeve tbill: only a LendingSleeve takes 'collateral'",
    ),
    "unknown sleeve kind": (
        lambda c: _lending(c).update(kind="StakingSleeve"),
        "sleeves.3.kind: Input should be 'TokenizedRWASleeve' or 'LendingSleeve'",
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


def test_exit_time_of_the_local_config(local_config):
    """Documented in local.yaml: 20M x cap / nav / daily limit, the longest counts; the lending
    book's after a shutdown: lend.callNoticePeriod's max bound (its loans called, then due)."""
    times = {t.sleeve: t.days for t in local_config.exit_times()}
    assert times == {"tbill": 9, "gold": Fraction(25, 3), "invoices": 10, "lending": 10}
    exit_time = local_config.exit_time()
    assert (exit_time.sleeve, exit_time.days, exit_time.strike_wait) == ("invoices", 10, 4)
    assert exit_time.total == 14  # + vault.strikeMaxWait's max bound: 14 days, documented too
    assert local_config.governance.timelock_delay > 14 * 86_400


def test_the_timelock_floor_is_one_second_past_the_exit_time_or_the_unbonding(local_yaml):
    """`BallastTimelock.DELAY_FLOOR`: the least delay the config's rules accept, whichever of
    the depositors' exit time and the longest unbonding period is longer."""
    config = DeployConfig.model_validate(copy.deepcopy(local_yaml))
    assert config.timelock_delay_floor() == 14 * 86_400 + 1  # the exit time: 14 days
    longer = copy.deepcopy(local_yaml)
    for spec in longer["parameters"]:
        if spec["name"] == "agent.unbondingPeriod":
            spec["max"] = 14 * 86_400 + 7
    assert DeployConfig.model_validate(longer).timelock_delay_floor() == 14 * 86_400 + 8


def test_unlimited_mock_and_undeclared_real_sleeve_do_not_delay_exit(local_yaml):
    config = copy.deepcopy(local_yaml)
    _real_tbill(None)(config)
    for sleeve in config["sleeves"][1:3]:
        sleeve["mock"]["daily_redeem_limit"] = 0
    times = DeployConfig.model_validate(config).exit_times()
    assert [(t.sleeve, t.days) for t in times] == [("gold", 0), ("invoices", 0), ("lending", 10)]


def test_the_real_network_example_is_a_valid_config(repo_root):
    config = DeployConfig.load(repo_root / "deployments/config/mainnet.example.yaml")
    assert config.asset.mock is None
    rwa = [s for s in config.sleeves if s.kind == "TokenizedRWASleeve"]
    assert rwa and all(s.mock is None and s.exit_days is not None for s in rwa)
    exit_time = config.exit_time()
    assert (exit_time.sleeve, exit_time.days, exit_time.total) == ("invoices", 10, 14)
    assert config.governance.timelock_delay > exit_time.total * 86_400
    text = (repo_root / "deployments/config/mainnet.example.yaml").read_text()
    assert "EVERY ADDRESS BELOW IS A PLACEHOLDER" in text


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


def test_default_paths_follow_the_design(tmp_path):
    assert str(manifest_path("ethereum", "local")) == "deployments/ethereum-local.json"
    # a fork writes its own manifest, and deploys the forked network's config
    assert str(manifest_path("ethereum", "mainnet-fork")) == (
        "deployments/ethereum-mainnet-fork.json"
    )
    assert str(config_path("sepolia")) == "deployments/config/sepolia.yaml"
    assert str(config_path("mainnet-fork")) == "deployments/config/mainnet.yaml"
    # read on a fork: its own manifest, else the forked network's, else its own (to be made)
    fork, real = tmp_path / "ethereum-mainnet-fork.json", tmp_path / "ethereum-mainnet.json"
    assert manifest_to_read("ethereum", "mainnet-fork", tmp_path) == fork
    real.write_text("{}")
    assert manifest_to_read("ethereum", "mainnet-fork", tmp_path) == real
    fork.write_text("{}")
    assert manifest_to_read("ethereum", "mainnet-fork", tmp_path) == fork
    assert manifest_to_read("ethereum", "mainnet", tmp_path) == real
    assert manifest_to_read("ethereum", "local", tmp_path) == tmp_path / "ethereum-local.json"


def test_a_deploy_on_a_fork_never_writes_the_forked_networks_manifest(
    local_config, deployer, chain, repo_root, tmp_path, monkeypatch
):
    """A fork keeps the chain id of the network it forks, so the manifest's chain check cannot
    tell them apart: `ape run deploy --network ethereum:mainnet-fork:foundry` once wrote
    deployments/ethereum-mainnet.json. Here this node stands for both (the "real" deployment is
    on it, as the forked state is on a fork): the fork's deploy reuses what the real manifest
    names and writes its own manifest, leaving the real one's bytes and time as they were."""
    real_deployment = deploy_system(local_config, deployer, report=quiet)
    (tmp_path / "deployments" / "config").mkdir(parents=True)
    (tmp_path / "deployments" / "config" / "mainnet.yaml").write_bytes(
        (repo_root / LOCAL_CONFIG).read_bytes()
    )
    real = tmp_path / "deployments" / "ethereum-mainnet.json"
    real_deployment.save(real)
    before = (real.read_bytes(), real.stat().st_mtime_ns)
    monkeypatch.chdir(tmp_path)  # the default paths are under ./deployments
    nonce = deployer.nonce

    script("deploy").callback(
        ecosystem=SimpleNamespace(name="ethereum"),
        network=SimpleNamespace(name="mainnet-fork"),
        account=deployer,
        config_file=None,
        manifest_file=None,
    )

    assert (real.read_bytes(), real.stat().st_mtime_ns) == before
    fork = Deployment.load(tmp_path / "deployments" / "ethereum-mainnet-fork.json")
    assert fork == real_deployment  # reused: everything the real manifest names
    assert deployer.nonce == nonce
    assert fork.chain_id == chain.chain_id


DEPLOY = ["run", "deploy", "--network", "ethereum:local:foundry", "--account", "TEST::0"]


def test_ape_run_deploy_as_a_user(run_ape, tmp_path, project):
    manifest = tmp_path / "ethereum-local.json"
    args = [*DEPLOY, "--manifest", str(manifest)]

    first = run_ape(args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"manifest written to {manifest}" in first.stdout
    deployment = Deployment.load(manifest)
    assert project.MockStablecoin.at(deployment.tokens["asset"]).decimals() == 6
    assert " transactions sent" in first.stdout
    assert "reused" not in _statuses(first.stdout, deployment)
    assert (
        "timelock delay 15d: longer than the longest agent.unbondingPeriod (14d) and the "
        "depositors' exit time (14 days: sleeve invoices 10 + a strike up to 4)\nno proposal can "
        "set the timelock delay to 14d or less (BallastTimelock.DELAY_FLOOR 1209601s)\n"
    ) in first.stdout

    again = run_ape(args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "asset: reusing" in again.stdout
    assert Deployment.load(manifest) == deployment
    assert "nothing sent: everything was already deployed, defined and wired" in again.stdout
    assert "deployed" not in _statuses(again.stdout, deployment)
    for name, address in deployment.contracts.items():
        assert f"{name}: reusing {address}" in again.stdout or (
            f"sleeve lending: reusing {address}" in again.stdout
        )


def _statuses(stdout: str, deployment: Deployment) -> set[str]:
    """The status column of the summary table's contract and sleeve rows."""
    addresses = {*deployment.contracts.values(), *(s.address for s in deployment.sleeves)}
    rows = [line.split("│") for line in stdout.splitlines() if line.count("│") == 5]
    found = {cells[3].strip(): cells[4].strip() for cells in rows}
    assert addresses <= found.keys(), stdout
    return {found[a] for a in addresses}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no token", "asset: give exactly one of 'address' or 'mock'"),
        ("ltv above threshold", "config: collateral 'gold': lend.ltvBps.gold 8000 is above"),
        (
            "exit time too long (mock)",
            "config: governance.timelock_delay 15d (1296000s) must exceed the depositors' exit "
            "time: sleeve invoices needs 20 days",
        ),
    ],
)
def test_ape_run_deploy_refuses_a_bad_config_in_one_line(
    run_ape, tmp_path, local_yaml, case, message
):
    config = tmp_path / "broken.yaml"
    broken = copy.deepcopy(local_yaml)
    MUTATIONS[case][0](broken)
    config.write_text(yaml.safe_dump(broken))
    result = run_ape([*DEPLOY, "--config", str(config), "--manifest", str(tmp_path / "m.json")])
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"Error: {config}: {message}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.json").exists()
