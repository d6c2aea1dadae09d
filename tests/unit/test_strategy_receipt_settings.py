"""Every setting the statistical strategy decides with is recorded in its receipt, as a real with
`rationale.DECIMALS` (12) places (`keepers.strategy.rationale.fixed`), and `verify-decision
--replay` — and the keeper itself, before it sends (`plan_rebalance`) — runs the strategy again
on what the receipt records. A setting the receipt cannot hold exactly is refused when the
settings load, in one line."""

from __future__ import annotations

import pytest

from keepers.config import ConfigError, load_settings
from keepers.job_config import RebalancerConfig
from keepers.jobs import RebalanceCall, RebalanceSkip, plan_rebalance
from keepers.strategy.replay import replay
from tests.unit.test_keeper_jobs import snapshot

# Each value has more places than a receipt records: it reads back as another number.
UNRECORDABLE = [
    ("gain_margin", 1.0000000000001),  # written "1.000000000000"; the gate's reason says 1.0
    ("policy_aversion", 1e-13),  # written "0.000000000000": the anchor off, the field omitted
    ("risk_aversion", 300.0000000000001),
    ("turnover_cost_bps", 5.0000000000001),
    ("trading_cost_bps", {"tbill": 2.0000000000001}),
    ("tail_volatility", {"invoices": 0.0200000000000001}),
]


@pytest.mark.parametrize(("name", "value"), UNRECORDABLE, ids=[n for n, _ in UNRECORDABLE])
def test_a_setting_a_receipt_cannot_record_is_refused_when_the_settings_load(tmp_path, name, value):
    """Found by fuzzing the receipts (fuzz8): such a setting loaded, and with `gain_margin:
    1.0000000000001` (or `policy_aversion: 1e-13` with a `policy_mix`) every decision the
    statistical strategy made was refused before sending, each pass, as `strategy
    'keepers.strategy:decide': its receipt does not replay: gate: differs from the replay`: the
    keeper never rebalanced, and nothing at start-up said why (the built-in strategy is not
    tried there). Now the settings do not load: one line naming the setting."""
    path = tmp_path / "keeper.yaml"
    path.write_text(f"rebalancer: {{{name}: {value!r}}}\n".replace("'", '"'))
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert f"rebalancer.{name}" in text and "12 decimal places" in text and "\n" not in text


def test_the_refused_settings_do_not_replay_and_recordable_ones_do():
    """Why they are refused (checked with the validation bypassed), and the control: the same
    settings to 12 places write receipts that replay exactly."""
    snap = snapshot(held=(3_000, 1_000, 2_000))
    bad = RebalancerConfig.model_construct(gain_margin=1.0000000000001)
    with pytest.raises(ValueError, match="its receipt does not replay: gate: differs"):
        plan_rebalance(snap, bad.strategy_params())
    for name, value in UNRECORDABLE:
        good = round(value, 12) if isinstance(value, float) else {
            k: round(v, 12) for k, v in value.items()
        }  # fmt: skip
        config = RebalancerConfig.model_validate({name: good, "policy_mix": {"tbill": 5_000}})
        call = plan_rebalance(snap, config.strategy_params())  # refused if it did not replay
        assert isinstance(call, RebalanceCall | RebalanceSkip) and call.rationale is not None
        result = replay(call.rationale)
        assert result.ok and result.exact, (name, result.differences)


def test_a_rebalance_gas_beyond_any_block_is_refused_when_the_settings_load(tmp_path):
    """`rebalance_gas: 10**400` loaded and then failed every rebalancer pass with an
    OverflowError (the gate prices it as a float); no block holds more than a billion gas."""
    path = tmp_path / "keeper.yaml"
    path.write_text(f"rebalancer: {{rebalance_gas: {10**400}}}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "rebalancer.rebalance_gas" in str(err.value) and "\n" not in str(err.value)
    path.write_text("rebalancer: {rebalance_gas: 1000000000}\n")
    assert load_settings(path).rebalancer.rebalance_gas == 10**9
