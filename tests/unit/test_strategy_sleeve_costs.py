"""Per-sleeve trading costs (issue 19): the optimiser, its score and the gas gate charge each
sleeve its own cost per side (idle is cash, free); a sleeve the setting does not price keeps
the flat `turnover_cost_bps`; a receipt written before the setting existed replays with the
flat cost to the targets it recorded."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keepers.config import ConfigError, RebalancerConfig, load_settings
from keepers.math import WAD
from keepers.strategy import (
    Bounds,
    Decision,
    GateParams,
    NoAction,
    OptimiserParams,
    Problem,
    ReturnHistory,
    SleeveState,
    StrategyInputs,
    StrategyParams,
    check_gate,
    decide,
    optimise,
)
from keepers.strategy.optimiser import MARKET_TRADING_COST_BPS, trading_cost_bps
from keepers.strategy.rationale import decode
from keepers.strategy.replay import from_document, replay
from tests.unit.test_strategy_costs import CHEAP, DAY, NAV, T0  # the same market and vault

OLD_RECEIPT = Path(__file__).parent / "data" / "receipt-flat-cost-d3898b0.json"


def flat(kappa: float = 5.0, risk_aversion: float = 2.0) -> OptimiserParams:
    return OptimiserParams(risk_aversion=risk_aversion, turnover_cost_bps=kappa)


@st.composite
def moves(draw, n_max: int = 5):
    """`(current, target)` integer weights (sum at most 10,000 each)."""
    n = draw(st.integers(1, n_max))

    def weights() -> list[int]:
        w = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n))
        total = sum(w)
        return [x * 10_000 // total for x in w] if total > 10_000 else w

    return weights(), weights()


# ---------------------------------------------------------------------- the cost itself


@given(moves(), st.floats(0.0, 100.0))
def test_every_sleeve_at_one_cost_is_the_flat_cost_on_moves_to_or_from_idle(move, c):
    current, target = move
    n = len(current)
    per_sleeve = trading_cost_bps(current, target, 5.0, (c,) * n)
    flat_c = trading_cost_bps(current, target, c)
    # Any move: idle is free, so a sleeve-to-sleeve switch pays both sides, the flat cost one.
    assert flat_c - 1e-9 <= per_sleeve <= 2 * flat_c + 1e-9
    buys = [max(t, o) for t, o in zip(target, current, strict=True)]
    if sum(buys) <= 10_000:  # buying only, from idle
        assert trading_cost_bps(current, buys, 5.0, (c,) * n) == pytest.approx(
            trading_cost_bps(current, buys, c), rel=1e-12, abs=1e-12
        )
    sells = [min(t, o) for t, o in zip(target, current, strict=True)]  # selling only, to idle
    assert trading_cost_bps(current, sells, 5.0, (c,) * n) == pytest.approx(
        trading_cost_bps(current, sells, c), rel=1e-12, abs=1e-12
    )


@given(moves(), st.floats(0.0, 100.0))
def test_sleeves_the_setting_does_not_price_keep_the_flat_cost(move, kappa):
    current, target = move
    n = len(current)
    assert trading_cost_bps(current, target, kappa, (None,) * n) == pytest.approx(
        trading_cost_bps(current, target, kappa), rel=1e-12, abs=1e-12
    )
    # One priced sleeve: its own cost per side on its move, the rest flat among themselves.
    costs = (7.0,) + (None,) * (n - 1)
    d0 = abs(target[0] - current[0]) / 10_000
    rest = trading_cost_bps(current[1:], target[1:], kappa) if n > 1 else 0.0
    assert trading_cost_bps(current, target, kappa, costs) == pytest.approx(
        7.0 * d0 + rest, rel=1e-12, abs=1e-12
    )


def test_the_market_table_and_the_setting():
    assert dict(MARKET_TRADING_COST_BPS) == {
        "tbill": 2.0, "gold": 20.0, "invoices": 10.0, "lending": 0.0
    }  # fmt: skip
    # The default (it won the train selection): the market's table; {} is the flat cost.
    flat = RebalancerConfig(trading_cost_bps={}).strategy_params().optimiser
    assert flat.sleeve_cost_bps == () and flat == OptimiserParams(risk_aversion=300.0)
    params = RebalancerConfig().strategy_params().optimiser
    assert params.sleeve_cost_bps == tuple(sorted(MARKET_TRADING_COST_BPS.items()))
    assert params.turnover_cost_bps == 5.0  # still the cost of a sleeve not in the table
    assert params == replace(flat, sleeve_cost_bps=params.sleeve_cost_bps)
    assert params.sleeve_costs(("gold", "other")) == (20.0, None)
    assert params.sleeve_costs(("other",)) == ()  # nothing priced: the flat cost
    assert params.sleeve_costs(("gold",), share=0.5) == (10.0,)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("gold=-1", "gold: -1 bps is not within [0, 10000)"),
        ("gold", "'gold' is not SLEEVE=BPS"),
        ("gold=x", "rebalancer.trading_cost_bps.gold: Input should be a valid number"),
        ("gold=1e6", "gold: 1e+06 bps is not within [0, 10000)"),
        ("{gold", "rebalancer.trading_cost_bps: Value error, Expecting property name"),
    ],
)
def test_a_bad_setting_is_one_line(tmp_path, value, message):
    path = tmp_path / "keeper.yaml"
    path.write_text(f"rebalancer:\n  trading_cost_bps: {value!r}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_setting_from_a_file_the_environment_and_a_string(tmp_path, monkeypatch):
    path = tmp_path / "keeper.yaml"
    path.write_text("rebalancer:\n  trading_cost_bps: {gold: 30, tbill: 1}\n")
    assert load_settings(path).rebalancer.trading_cost_bps == {"gold": 30.0, "tbill": 1.0}
    monkeypatch.setenv("BALLAST_KEEPER_REBALANCER__TRADING_COST_BPS", '{"gold": 7}')
    # the environment's sleeves over the file's (settings sources merge mappings)
    assert load_settings(path).rebalancer.trading_cost_bps == {"gold": 7.0, "tbill": 1.0}
    monkeypatch.setenv("BALLAST_KEEPER_REBALANCER__TRADING_COST_BPS", "gold=7")
    with pytest.raises(ConfigError, match="mappings and lists as JSON"):
        load_settings(path)
    config = RebalancerConfig.model_validate({"trading_cost_bps": "gold=3, invoices=4"})
    assert config.trading_cost_bps == {"gold": 3.0, "invoices": 4.0}
    assert RebalancerConfig.model_validate({"trading_cost_bps": ""}).trading_cost_bps == {}


def test_optimiser_params_refuse_bad_sleeve_costs():
    with pytest.raises(ValueError, match="distinct"):
        OptimiserParams(sleeve_cost_bps=(("gold", 1.0), ("gold", 2.0)))
    with pytest.raises(ValueError, match="within"):
        OptimiserParams(sleeve_cost_bps=(("gold", -1.0),))


# ---------------------------------------------------------------------------- optimiser


def problem(mu, sigma, current, ceilings, costs=(), horizon=7 / 365, turnover=10_000, buffer=0):
    bounds = Bounds(tuple(ceilings), buffer, turnover)
    return Problem(tuple(mu), tuple(sigma), tuple(current), bounds, horizon, tuple(costs))


@st.composite
def forecasts(draw, n_max: int = 4):
    n = draw(st.integers(1, n_max))
    mu = draw(st.lists(st.floats(-0.05, 0.3), min_size=n, max_size=n))
    sigma = draw(st.lists(st.floats(0.0, 0.3), min_size=n, max_size=n))
    ceilings = draw(st.lists(st.integers(500, 10_000), min_size=n, max_size=n))
    return mu, sigma, ceilings


@settings(max_examples=60, deadline=None)
@given(forecasts(), st.floats(0.0, 50.0))
def test_from_idle_every_sleeve_at_one_cost_decides_as_the_flat_cost(f, c):
    # From all idle every feasible move only buys: the two costs are the same function there,
    # so the optimiser finds the same optimum.
    mu, sigma, ceilings = f
    n = len(mu)
    params = flat(c)
    a = optimise(problem(mu, sigma, [0] * n, ceilings), params)
    b = optimise(problem(mu, sigma, [0] * n, ceilings, (c,) * n), params)
    pa, pb = problem(mu, sigma, [0] * n, ceilings), problem(mu, sigma, [0] * n, ceilings, (c,) * n)
    for t in (a.target_bps, b.target_bps):
        assert pa.score_bps(t, params) == pytest.approx(pb.score_bps(t, params), abs=1e-9)
    assert a.score_bps == pytest.approx(b.score_bps, abs=0.05)  # both optimal, to rounding
    np.testing.assert_allclose(a.continuous_bps, b.continuous_bps, atol=2.0)


def test_a_costlier_sleeve_is_traded_less_all_else_equal():
    # Two identical sleeves bought from idle, room for only one: the cheaper one gets it.
    p = problem([0.10, 0.10], [0.02, 0.02], [0, 0], [10_000, 10_000], (20.0, 2.0), 90 / 365)
    target = optimise(p, flat(5.0, risk_aversion=0.0)).target_bps
    assert target[1] == 10_000 and target[0] == 0
    swapped = replace(p, sleeve_cost_bps=(2.0, 20.0))
    assert optimise(swapped, flat(5.0, risk_aversion=0.0)).target_bps == (10_000, 0)


@settings(max_examples=60, deadline=None)
@given(forecasts(3), st.lists(st.integers(0, 3_000), min_size=3, max_size=3),
       st.floats(0.0, 30.0), st.floats(1.0, 100.0), st.booleans())  # fmt: skip
def test_raising_a_sleeves_cost_never_makes_it_trade_more(f, current, c, more, partial):
    mu, sigma, ceilings = f
    n = len(mu)
    current = current[:n]
    ceilings = [max(c_, o) for c_, o in zip(ceilings, current, strict=True)]
    rest = (None if partial else 3.0,) * (n - 1)  # the others flat or priced
    low = problem(mu, sigma, current, ceilings, (c, *rest))
    high = replace(low, sleeve_cost_bps=(c + more, *rest))
    params = flat(5.0)
    moved_low = abs(optimise(low, params).continuous_bps[0] - current[0])
    moved_high = abs(optimise(high, params).continuous_bps[0] - current[0])
    assert moved_high <= moved_low + 1.0  # (c' − c)(|d'| − |d|) <= 0 at the exact optima


@settings(max_examples=25, deadline=None)
@given(forecasts(2), st.lists(st.integers(0, 5_000), min_size=2, max_size=2),
       st.sampled_from(["flat", "priced", "partial"]), st.integers(1_000, 10_000))  # fmt: skip
def test_the_optimiser_beats_every_point_of_a_grid_under_each_cost_model(f, current, how, limit):
    mu, sigma, ceilings = f
    n = len(mu)
    current = current[:n]
    ceilings = [max(c_, o) for c_, o in zip(ceilings, current, strict=True)]
    costs = {"flat": (), "priced": (20.0, 2.0)[:n], "partial": (30.0, None)[:n]}[how]
    p = problem(mu, sigma, current, ceilings, costs, horizon=30 / 365, turnover=limit)
    params = flat(5.0)
    best = optimise(p, params)
    bounds = p.bounds
    from keepers.strategy import violations

    for point in itertools.product(*(range(0, c_ + 1, 250) for c_ in ceilings)):
        if not violations(point, current, bounds):
            assert best.score_bps >= p.score_bps(point, params) - 0.05


# --------------------------------------------------------------------------------- gate


def test_the_gate_charges_each_sleeve_its_cost_on_what_moves_through_it():
    kw = dict(
        current=(5_000, 2_000),
        target=(4_000, 3_000),  # 10 % of NAV from the first sleeve into the second
        expected_returns=(0.03, 0.08),
        nav=NAV,
        asset_decimals=6,
        horizon_years=7 / 365,
        turnover_cost_bps=5.0,
        market=CHEAP,
        params=GateParams(),
    )
    flat_verdict = check_gate(**kw)
    assert flat_verdict.trading_cost == pytest.approx(5e-4 * 0.1 * NAV)
    priced = check_gate(**kw, sleeve_cost_bps=(2.0, 20.0))
    assert priced.trading_cost == pytest.approx((2e-4 + 20e-4) * 0.1 * NAV)
    assert priced.net == pytest.approx(priced.gain - priced.trading_cost)


# --------------------------------------------------------------------- pipeline, receipts


def level(rate: float, vol: float, days: int, seed: int) -> ReturnHistory:
    rng = np.random.default_rng(seed)
    steps = rng.normal(rate / 365, vol / math.sqrt(365), days)
    x = np.concatenate([[0.0], np.cumsum(steps)])
    return ReturnHistory(tuple(T0 + i * DAY for i in range(days + 1)),
                         tuple(round(WAD * math.exp(v)) for v in x))  # fmt: skip


def switch_vault() -> StrategyInputs:
    # Fully invested in a T-bill fund at 3 % (the idle buffer is 5 %) and gold trending ~+12 %:
    # a switch into gold pays 5 bps of flat cost over a week, not the 22 bps both sides cost
    # (2 + 20).
    sleeves = (
        SleeveState("tbill", 9_500, 9_500, level(0.03, 0.0005, 120, 1)),
        SleeveState("gold", 0, 3_000, level(0.12, 0.01, 120, 2)),
    )
    return StrategyInputs(T0 + 120 * DAY, NAV, 6, sleeves, 500, 2_000, CHEAP)


WEEK = StrategyParams(holding_seconds=7 * DAY)  # the whole cost against a week's gain


def test_the_per_sleeve_cost_keeps_gold_where_the_flat_cost_buys_it():
    flat_decision = decide(switch_vault(), WEEK)
    assert isinstance(flat_decision, Decision) and flat_decision.target_bps[1] > 0
    priced = replace(WEEK, optimiser=replace(
        WEEK.optimiser, sleeve_cost_bps=tuple(MARKET_TRADING_COST_BPS.items())))  # fmt: skip
    outcome = decide(switch_vault(), priced)
    target = outcome.target_bps if isinstance(outcome, Decision) else (9_500, 0)
    assert target[1] < flat_decision.target_bps[1]
    # The receipt records the setting and the costs it used; it replays to itself.
    assert outcome.rationale is not None
    doc = decode(outcome.rationale)
    assert doc["constraints"]["sleeve_cost_bps"] == ["2.000000000000", "20.000000000000"]
    assert len(doc["params"]["optimiser"]["sleeve_cost_bps"]) == 4
    assert replay(outcome.rationale).ok
    assert from_document(doc)[1] == priced


def test_a_flat_cost_receipt_has_no_sleeve_cost_field():
    outcome = decide(switch_vault(), WEEK)
    doc = decode(outcome.rationale)
    assert "sleeve_cost_bps" not in doc["params"]["optimiser"]
    assert "sleeve_cost_bps" not in doc["constraints"]
    assert replay(outcome.rationale).ok


def test_a_receipt_written_before_per_sleeve_costs_replays_to_its_targets():
    # Written by the strategy at commit d3898b0 (flat cost only) with the keeper's default
    # settings of that commit; its document has no `sleeve_cost_bps`.
    body = OLD_RECEIPT.read_bytes()
    doc = decode(body)
    assert "sleeve_cost_bps" not in doc["params"]["optimiser"]
    _, params = from_document(doc)
    assert params.optimiser.sleeve_cost_bps == ()  # the missing field: the flat cost
    result = replay(body)
    assert result.recorded_target == result.replayed_target == (1_000, 2_495, 1_000)
    # Only the strategy's code identity differs: the same document otherwise (its reals to within
    # REAL_TOLERANCE: replayed on another CPU, the optimiser's continuous answer moves by 1e-12).
    assert not result.code_matches
    assert [d.split(":")[0] for d in result.differences] == ["strategy code"]


def test_noaction_receipts_record_the_costs_too():
    priced = replace(WEEK, optimiser=replace(
        WEEK.optimiser, sleeve_cost_bps=(("gold", 9_000.0),)))  # fmt: skip
    outcome = decide(switch_vault(), priced)
    assert isinstance(outcome, NoAction) and outcome.code == "no-change"
    assert decode(outcome.rationale)["constraints"]["sleeve_cost_bps"] == [
        None, "9000.000000000000"
    ]  # fmt: skip
    assert replay(outcome.rationale).ok


def test_the_holding_period_and_the_deviation_rule_are_settings(tmp_path):
    """`rebalancer.holding_seconds` and `rebalancer.deviation_check` (chosen on train: 90 days,
    "nav") reach the strategy's parameters, so `--set` and a keeper file can change them; their
    defaults are the strategy's own; a bad value is one line."""
    default = RebalancerConfig().strategy_params()
    assert default.holding_seconds == StrategyParams().holding_seconds == 90 * DAY
    assert default.risk.deviation_check == StrategyParams().risk.deviation_check == "nav"
    path = tmp_path / "keeper.yaml"
    path.write_text("rebalancer: {holding_seconds: 604800, deviation_check: any}\n")
    params = load_settings(path).rebalancer.strategy_params()
    assert params.holding_seconds == 7 * DAY and params.risk.deviation_check == "any"
    assert params.risk == replace(default.risk, deviation_check="any")
    for bad, message in (("holding_seconds: 0", "rebalancer.holding_seconds"),
                         ("deviation_check: some", "rebalancer.deviation_check")):  # fmt: skip
        path.write_text(f"rebalancer: {{{bad}}}\n")
        with pytest.raises(ConfigError) as err:
            load_settings(path)
        assert message in str(err.value) and "\n" not in str(err.value)
