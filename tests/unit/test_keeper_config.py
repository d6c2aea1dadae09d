"""keepers.config: YAML < environment < CLI, every mistake one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from keepers.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keeper.yaml"
    path.write_text(text)
    return path


def test_defaults_are_safe(monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("BALLAST_KEEPER_")]:
        monkeypatch.delenv(key)
    s = load_settings()
    assert s.account is None and s.dry_run is False and s.metrics_port is None
    assert s.jobs == ("liquidator", "evaluator", "settler", "sentinel", "rebalancer")
    assert s.settler.strike and s.settler.claim and s.settler.controllers == ()
    assert s.tx.fee_bump_bps >= 1_250
    assert s.state_path(31337, "0xAbC") == Path(".keeper/31337-0xabc.sqlite")
    assert s.state_path(1, None) == Path(".keeper/1-readonly.sqlite")


def test_file_then_environment_then_options(tmp_path, monkeypatch):
    path = write(tmp_path, "account: from-file\nliquidator: {min_profit: 5}\nnative_price: 2000\n")
    assert load_settings(path).account == "from-file"
    monkeypatch.setenv("BALLAST_KEEPER_ACCOUNT", "from-env")
    monkeypatch.setenv("BALLAST_KEEPER_LIQUIDATOR__GAS_PER_LIQUIDATION", "123")
    s = load_settings(path)
    assert s.account == "from-env"  # the environment overrides the file
    assert s.liquidator.min_profit == 5 and s.native_price == 2000  # the file's other keys stay
    assert s.liquidator.gas_per_liquidation == 123
    assert load_settings(path, account="from-cli", dry_run=None).account == "from-cli"
    assert load_settings(path, dry_run=True).dry_run is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("liquidator: {min_profit: -1}", "liquidator.min_profit: Input should be greater"),
        ("jobz: [liquidator]", "jobz: Extra inputs are not permitted"),
        ("jobs: [liquidator, lottery]", "unknown job 'lottery'"),
        ("settler: {max_claims: 0}", "settler.max_claims: Input should be greater"),
        ("redeemer: {min_batch: 3}", "redeemer: Extra inputs are not permitted"),
        ("tx: {fee_bump_bps: 500}", "tx.fee_bump_bps: Input should be greater than or equal"),
        (
            "tx: {reorg_depth: 1000000000000000000000000000000}",
            "tx.reorg_depth: Input should be less",
        ),
        ("tx: {reorg_depth: 10001}", "tx.reorg_depth: Input should be less than or equal"),
        ("- a list", "must be a mapping"),
        ("a: [unclosed", "is not valid YAML"),
        ("native_price: .inf", "native_price: Input should be a finite number"),
        ("tx: {base_fee_multiplier: .inf}", "tx.base_fee_multiplier: Input should be a finite"),
        ("rebalancer: {gain_margin: .nan}", "rebalancer.gain_margin: Input should be a finite"),
        ("steward: {z: .inf}", "steward.z: Input should be a finite number"),
        (
            'settler: {controllers: ["0xnotanaddress"]}',
            "settler.controllers: Value error, '0xnotanaddress' is not an address",
        ),
    ],
)
def test_mistakes_are_one_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_the_settler_replaces_the_redeemer_whose_name_stays_an_alias(tmp_path):
    """`redeemer` in `jobs` (a config written before the settler) runs the settler; its old
    section's settings (batch sizes of a queue that no longer exists) are refused above."""
    controller = "0x00000000000000000000000000000000000000ab"
    path = write(
        tmp_path, f"jobs: [redeemer, evaluator]\nsettler: {{controllers: ['{controller}']}}\n"
    )
    s = load_settings(path)
    assert s.jobs == ("settler", "evaluator")
    assert s.settler.controllers == (to_checksum_address(controller),)
    assert s.settler.planner().max_claims == 20


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


def test_a_settings_path_that_is_a_folder_or_not_utf8_is_one_line(tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    binary = tmp_path / "keeper.yaml"
    binary.write_bytes(b"\xff\xfe account: k\n")
    for path, says in ((folder, f"config file {folder} cannot be read"),
                       (binary, f"config file {binary} is not UTF-8 text")):  # fmt: skip
        with pytest.raises(ConfigError) as err:
            load_settings(path)
        assert str(err.value).startswith(says) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("BALLAST_KEEPER_LIQUIDATR__MIN_PROFIT", "the keeper has no setting 'liquidatr'"),
        ("BALLAST_KEEPER_LIQUIDATOR__MIN_PROFT", "liquidator has no setting 'min_proft'"),
        ("BALLAST_KEEPER_ACCOUNT__ALIAS", "account has no sub-settings"),
        ("BALLAST_KEEPER_DRYRUN", "the keeper has no setting 'dryrun'"),
        ("BALLAST_KEEPER_CONFIGG", "the keeper has no setting 'configg'"),
    ],
)
def test_an_environment_variable_naming_no_setting_is_refused(monkeypatch, variable, message):
    """pydantic-settings ignores unknown variables: a typo would silently change nothing."""
    monkeypatch.setenv(variable, "1")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(f"unknown setting {variable}: {message}")
    assert "\n" not in str(err.value)
    monkeypatch.delenv(variable)
    monkeypatch.setenv("BALLAST_KEEPER_LIQUIDATOR__MIN_PROFIT", "7")  # the right spelling
    assert load_settings().liquidator.min_profit == 7


def test_the_bots_config_file_variable_is_not_a_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("BALLAST_KEEPER_CONFIG", str(write(tmp_path, "native_price: 2000\n")))
    assert load_settings().native_price == 3_000.0  # read by the Silverback bot, not here


def test_the_shipped_example_config_loads_as_the_readme_says(monkeypatch):
    """keeper.example.yaml is what operators copy: it must stay a valid settings file."""
    for key in [k for k in __import__("os").environ if k.startswith("BALLAST_KEEPER_")]:
        monkeypatch.delenv(key)
    example = Path(__file__).resolve().parents[2] / "keeper.example.yaml"
    s = load_settings(example)
    assert s.account == "keeper" and s.metrics_port == 9464
    assert s.liquidator.min_profit == 5_000_000 and s.shard.count == 1
    assert s.jobs == ("liquidator", "evaluator", "settler", "sentinel", "rebalancer")


SLEEVES = ["tbill", "gold", "invoices", "lending"]


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("rebalancer: {trading_cost_bps: {Gold: 20}}",
         "rebalancer.trading_cost_bps: no sleeve 'Gold' in the manifest"),
        ("rebalancer: {tail_volatility: {realestate: 0.02}}",
         "rebalancer.tail_volatility: no sleeve 'realestate' in the manifest"),
        ('env:BALLAST_KEEPER_REBALANCER__POLICY_MIX={"tbill": 5000, "goId": 500}',
         "rebalancer.policy_mix: no sleeve 'goId' in the manifest"),
    ],
    ids=["case-variant", "removed-sleeve", "typo-in-environment"],
)  # fmt: skip
def test_a_per_sleeve_setting_naming_no_sleeve_of_the_manifest_is_named(
    tmp_path, monkeypatch, source, says
):
    """A per-sleeve table the operator set (costs, volatility floors, the policy mix) keyed by a
    name the manifest's sleeves do not have was ignored without a word (the sleeve got the flat
    cost, no floor). The keeper's start-up (`keepers.runtime.check_strategy`) stops on it with
    this one line; the defaults (the local deployment's names) and tables naming only manifest
    sleeves pass."""
    if source.startswith("env:"):
        key, _, value = source[4:].partition("=")
        monkeypatch.setenv(key, value)
        settings = load_settings()
    else:
        settings = load_settings(write(tmp_path, source))
    assert (
        settings.rebalancer.unknown_sleeve(SLEEVES)
        == f"{says} (its sleeves: " + ", ".join(SLEEVES) + ")"
    )


def test_the_default_sleeve_tables_and_ones_naming_manifest_sleeves_pass(tmp_path, monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("BALLAST_KEEPER_")]:
        monkeypatch.delenv(key)
    assert load_settings().rebalancer.trading_cost_bps  # the defaults name the local sleeves
    assert load_settings().rebalancer.unknown_sleeve(["senior", "junior"]) is None
    named = load_settings(write(tmp_path, "rebalancer: {trading_cost_bps: {gold: 20}}"))
    assert named.rebalancer.unknown_sleeve(SLEEVES) is None
