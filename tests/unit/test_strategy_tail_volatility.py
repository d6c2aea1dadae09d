"""The credit sleeve's tail-volatility floor (issue 19): a smoothly accruing mark measures almost
no volatility until defaults and a gate arrive together, so the optimiser assumes at least the
sleeve's `rebalancer.tail_volatility` (invoices 2 % by default, chosen on the train families).
It sizes the sleeve, not the risk-off rule; a receipt records it, replays with it, and one
written before the setting existed replays without it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from keepers.config import ConfigError, RebalancerConfig, load_settings
from keepers.strategy import Decision, SleeveState, StrategyInputs, StrategyParams, decide
from keepers.strategy.forecast import ForecastParams, forecast_sleeve
from keepers.strategy.rationale import decode
from keepers.strategy.replay import from_document, replay
from tests.unit.test_strategy_costs import CHEAP, DAY, NAV, T0
from tests.unit.test_strategy_sleeve_costs import OLD_RECEIPT, level

NO_FLOOR = RebalancerConfig(tail_volatility={}).strategy_params()  # the keeper without it
FLOORED = RebalancerConfig().strategy_params()  # the keeper's default: invoices 2 %


def credit_vault() -> StrategyInputs:
    """All idle: T-bills at 4 % (cap 60 %), an invoice pool accruing a smooth 5 % (cap 30 %),
    gold at 15 % volatility (cap 30 %), four months of daily marks each."""
    sleeves = (
        SleeveState("tbill", 0, 6_000, level(0.04, 0.0005, 120, 1)),
        SleeveState("gold", 0, 3_000, level(0.02, 0.15, 120, 2)),
        SleeveState("invoices", 0, 3_000, level(0.05, 0.001, 120, 3)),
    )
    return StrategyInputs(T0 + 120 * DAY, NAV, 6, sleeves, 500, 10_000, CHEAP)


def test_the_keeper_default_floors_invoices_at_two_percent_and_nothing_else():
    assert FLOORED.forecast.tail_volatility == (("invoices", 0.02),)
    assert NO_FLOOR.forecast.tail_volatility == StrategyParams().forecast.tail_volatility == ()
    assert replace(NO_FLOOR, forecast=replace(NO_FLOOR.forecast,
                              tail_volatility=(("invoices", 0.02),))) == FLOORED  # fmt: skip


def test_the_floor_raises_the_optimisers_volatility_of_the_named_sleeve_only():
    vault = credit_vault()
    floor = ForecastParams(tail_volatility=(("invoices", 0.02), ("gold", 0.05)))
    for sleeve in vault.sleeves:
        bare = forecast_sleeve(sleeve.name, sleeve.history, None, ForecastParams())
        floored = forecast_sleeve(sleeve.name, sleeve.history, None, floor)
        wanted = dict(floor.tail_volatility).get(sleeve.name, 0.0)
        assert floored.volatility == max(bare.volatility, wanted)
        # the risk-off rule's readings are the measured ones
        assert (floored.short_volatility, floored.long_volatility) == (
            bare.short_volatility, bare.long_volatility)  # fmt: skip
        assert floored.expected_return == bare.expected_return
    smooth = forecast_sleeve("invoices", vault.sleeves[2].history, None, ForecastParams())
    assert smooth.volatility < 0.005  # what the mark shows
    rough = forecast_sleeve("gold", vault.sleeves[1].history, None, floor)
    assert rough.volatility > 0.05  # gold's measured volatility is above its floor: unchanged


def test_a_smooth_credit_pool_is_no_longer_filled_to_its_cap():
    bare = decide(credit_vault(), NO_FLOOR)
    floored = decide(credit_vault(), FLOORED)
    assert isinstance(bare, Decision) and isinstance(floored, Decision)
    assert bare.target_bps[2] == 3_000  # at its cap: its mark shows no risk
    assert 0 < floored.target_bps[2] < 2_500
    assert floored.target_bps[0] == bare.target_bps[0] == 6_000  # T-bills at their cap either way
    # the receipt shows the volatility the optimiser used and the setting; it replays
    doc = decode(floored.rationale)
    (invoices,) = [f for f in doc["forecasts"] if f["name"] == "invoices"]
    assert invoices["volatility"] == "0.020000000000"
    assert doc["params"]["forecast"]["tail_volatility"] == [["invoices", "0.020000000000"]]
    assert replay(floored.rationale).ok
    assert from_document(doc)[1] == FLOORED
    # without the floor the receipt has no such field (receipts from before it re-encode)
    assert "tail_volatility" not in decode(bare.rationale)["params"]["forecast"]


def test_a_receipt_written_before_the_floor_replays_without_it():
    body = OLD_RECEIPT.read_bytes()
    doc = decode(body)
    assert "tail_volatility" not in doc["params"]["forecast"]
    _, params = from_document(doc)
    assert params.forecast.tail_volatility == ()
    result = replay(body)
    assert result.recorded_target == result.replayed_target
    assert [d.split(":")[0] for d in result.differences] == ["strategy code"]


def test_the_floor_is_a_keeper_setting_and_bad_values_are_one_line(tmp_path):
    config = RebalancerConfig.model_validate({"tail_volatility": "invoices=0.03, tbill=0"})
    assert config.tail_volatility == {"invoices": 0.03, "tbill": 0.0}
    assert RebalancerConfig.model_validate({"tail_volatility": ""}).strategy_params() == NO_FLOOR
    path = tmp_path / "keeper.yaml"
    path.write_text("rebalancer: {tail_volatility: {invoices: 0.04}}\n")
    params = load_settings(path).rebalancer.strategy_params()
    assert params.forecast.tail_volatility == (("invoices", 0.04),)
    for bad, message in (
        ("{invoices: 7}", "invoices: 7 is not an annual volatility within [0, 5]"),
        ("{invoices: -0.1}", "invoices: -0.1 is not an annual volatility within [0, 5]"),
        ("{invoices: lots}", "rebalancer.tail_volatility"),
    ):
        path.write_text(f"rebalancer: {{tail_volatility: {bad}}}\n")
        with pytest.raises(ConfigError) as err:
            load_settings(path)
        assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="distinct"):
        ForecastParams(tail_volatility=(("invoices", 0.02), ("invoices", 0.03)))


def test_a_malformed_floor_string_names_its_form():
    with pytest.raises(ValueError, match="'invoices' is not SLEEVE=VOLATILITY"):
        RebalancerConfig.model_validate({"tail_volatility": "invoices"})
