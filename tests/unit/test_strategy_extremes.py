"""Market paths at the edge of what a chain or the simulator produces (moves over seconds, a
price gone to ~0 on a short history, jumps of orders of magnitude, a flat index, buffer 100 %,
turnover 0, caps at 0 or exactly the room): the strategy answers with targets inside every
bound or an explicit no action, never an exception, with a canonical receipt that replays."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keepers.job_config import RebalancerConfig
from keepers.jobs import (
    RebalanceCall,
    RebalancerSnapshot,
    RebalanceSkip,
    SleeveSnapshot,
    plan_rebalance,
)
from keepers.math import WAD
from keepers.strategy import (
    Bounds,
    Decision,
    ForecastParams,
    NoAction,
    ReturnHistory,
    SleeveState,
    StrategyInputs,
    StrategyParams,
    decide,
    forecast_sleeve,
    is_canonical,
    min_turnover_bps,
    turnover_bps,
    violations,
)
from keepers.strategy.kit import Proposal, decide_with
from keepers.strategy.replay import replay
from keepers.strategy.robust import MAX_LOG_GROWTH, lognormal_mean
from tests.unit.test_strategy import GAS, NAV, T0, book

DAY = 86_400
KEEPER = RebalancerConfig().strategy_params()
EWMA = replace(KEEPER, forecast=replace(KEEPER.forecast, estimator="ewma"))
LEARNED = "keepers.strategy.learned:decide"
CODES = {"empty", "infeasible", "no-change", "base-fee", "min-change", "gas"}


def readings(*pairs: tuple[int, float]) -> ReturnHistory:
    """A history from (seconds after T0, index level) pairs."""
    return ReturnHistory(
        tuple(T0 + t for t, _ in pairs), tuple(max(round(v * WAD), 1) for _, v in pairs)
    )


FLAT = readings(*((d * DAY, 1.0) for d in range(61)))
EDGES = {
    # a keeper's first passes: readings seconds apart, a 1 % move annualised over one second
    "up 1 % in a second": readings((0, 1.0), (1, 1.01)),
    "up 1 % in 12 s, then 12 s flat": readings((0, 1.0), (12, 1.01), (24, 1.01)),
    # a price gone to ~0 on three readings: the variance of the crash outgrows its drift
    "to one wei on three readings": readings((0, 1.0), (DAY, 1.0), (2 * DAY, 1e-18)),
    "twentyfold in a day": readings((0, 1.0), (DAY, 20.0)),
}


def vault(history: ReturnHistory, *, current=(3000, 3000), caps=(6000, 6000), buffer=500,
          turnover=2000) -> StrategyInputs:  # fmt: skip
    sleeves = (
        SleeveState("edge", current[0], caps[0], history, oracle_deviation_bps=800),
        SleeveState("flat", current[1], caps[1], FLAT),
    )
    return StrategyInputs(T0 + 60 * DAY, NAV, 6, sleeves, buffer, turnover, GAS)


def assert_sound(inputs: StrategyInputs, outcome: Decision | NoAction, limit: int | None) -> None:
    """Targets inside every bound (and `limit`), or a known no-action code; a canonical
    receipt that replays; nothing non-finite."""
    if isinstance(outcome, NoAction):
        assert outcome.code in CODES, outcome
    else:
        bounds = Bounds(inputs.caps_bps, inputs.idle_buffer_bps, inputs.max_turnover_bps)
        assert violations(outcome.target_bps, inputs.current_bps, bounds) == ()
        assert all(isinstance(t, int) and t >= 0 for t in outcome.target_bps)
        if limit is not None:
            assert turnover_bps(inputs.current_bps, outcome.target_bps) <= limit
        assert math.isfinite(outcome.expected_gain)
    if outcome.rationale is not None:
        assert is_canonical(outcome.rationale)
        result = replay(outcome.rationale)
        assert result.ok and result.exact, result.differences


def test_the_lognormal_mean_is_bounded_and_unchanged_below_the_bound():
    assert lognormal_mean(0.05, 0.2) == math.expm1(0.05 + 0.5 * 0.2**2)
    assert lognormal_mean(-1e9, 0.0) == -1.0
    assert lognormal_mean(1e9, 1e6) == math.expm1(MAX_LOG_GROWTH)


@pytest.mark.parametrize("name", sorted(EDGES))
@pytest.mark.parametrize("estimator", ["robust", "ewma"])
def test_a_forecast_from_seconds_or_a_crash_is_finite(name, estimator):
    params = ForecastParams(estimator=estimator)
    forecast = forecast_sleeve("edge", EDGES[name], None, params)
    assert math.isfinite(forecast.expected_return) and math.isfinite(forecast.volatility)


@pytest.mark.parametrize("name", sorted(EDGES))
@pytest.mark.parametrize(
    "params", [StrategyParams(), KEEPER, EWMA], ids=["default", "keeper", "ewma"]
)
def test_extreme_short_histories_decide_within_bounds(name, params):
    inputs = vault(EDGES[name])
    outcome = decide(inputs, params)
    assert_sound(inputs, outcome, inputs.max_turnover_bps)
    assert decide(inputs, params) == outcome  # the same bytes again


@pytest.mark.parametrize("name", sorted(EDGES))
def test_the_learned_strategy_decides_on_extreme_short_histories(name):
    inputs = vault(EDGES[name])
    outcome = decide_with(LEARNED, inputs, KEEPER)
    assert_sound(inputs, outcome, None)


def stay(inputs: StrategyInputs) -> Proposal:
    """A strategy that keeps what it holds."""
    return Proposal(inputs.current_bps, "stay")


@pytest.mark.parametrize(
    ("entry", "current", "turnover"),
    [
        (f"{__name__}:stay", (6001, 3000), 2000),  # drifted one bps over its cap
        (f"{__name__}:stay", (3000, 3000), 2000),
    ],
)
def test_staying_put_is_no_action_even_on_weights_past_a_bound(entry, current, turnover):
    inputs = vault(FLAT, current=current, turnover=turnover)
    outcome = decide_with(entry, inputs, KEEPER)
    assert isinstance(outcome, NoAction) and outcome.code == "min-change", outcome
    assert outcome.rationale is not None and replay(outcome.rationale, trusted={entry}).ok


def test_weights_further_from_the_caps_than_one_turnover_are_brought_back():
    """The caps need 3,000 bps of turnover, the limit is 100: the vault lets a decision turn
    over what meeting them needs (RebalanceModule._checkBounds), and the strategy takes it."""
    inputs = vault(FLAT, current=(9000, 1000), turnover=100)
    outcome = decide_with(LEARNED, inputs, KEEPER)
    assert isinstance(outcome, Decision), outcome
    assert outcome.target_bps[0] <= 6000 and outcome.turnover_bps == 3000
    assert outcome.rationale is not None and replay(outcome.rationale, trusted={LEARNED}).ok


def test_a_book_that_lost_everything_still_decides():
    """LendingSleeve writes its supply index down to 0 when bad debt takes the whole book: the
    keeper records that reading, and every later pass must still decide (cut, or hold)."""
    days = range(61)
    stamps = tuple(T0 + d * DAY for d in days)
    lost = tuple(WAD + d * 10**14 if d < 50 else 0 for d in days)
    tbill = tuple(WAD + d * 10**14 for d in days)
    snapshot = RebalancerSnapshot(
        timestamp=stamps[-1], nav=NAV, asset_decimals=6, idle_buffer_bps=500,
        max_turnover_bps=2000, gas=GAS,
        sleeves=(SleeveSnapshot("tbill", NAV // 2, 6000, stamps, tbill),
                 SleeveSnapshot("lending", 0, 3000, stamps, lost)),
    )  # fmt: skip
    call = plan_rebalance(snapshot, KEEPER)
    assert isinstance(call, RebalanceCall | RebalanceSkip)
    if isinstance(call, RebalanceCall):
        assert call.target_bps[1] == 0  # never back into the written-off book
        assert replay(call.rationale).ok


# ---------------------------------------------------------------------------------- properties

GAPS = (1, 12, 600, DAY, DAY, DAY, 30 * DAY, 400 * DAY)
MOVES = (1.0, 1.0, 1.0001, 0.9999, 1.01, 0.97, 1.5, 0.5, 20.0, 1e-6, 1e-18, 1e6)


@st.composite
def wild_histories(draw) -> ReturnHistory:
    """0-40 readings; gaps of a second to a year; moves from none to ×1e-18 or ×1e6."""
    n = draw(st.integers(0, 40))
    t, level = 0, draw(st.sampled_from([1.0, 1e-12, 1e12]))
    pairs = []
    for _ in range(n):
        pairs.append((t, level))
        t += draw(st.sampled_from(GAPS))
        level *= draw(st.sampled_from(MOVES)) if draw(st.integers(0, 4)) == 0 else 1.0001
    return readings(*pairs)


@st.composite
def wild_vaults(draw) -> StrategyInputs:
    n = draw(st.integers(1, 4))
    raw = draw(st.lists(st.integers(0, 10_000), min_size=n + 1, max_size=n + 1))
    total = sum(raw) or 1
    current = [r * 10_000 // total for r in raw[:n]]
    caps = [draw(st.sampled_from([0, 1, 3000, 4750, 10_000, current[i]])) for i in range(n)]
    sleeves = tuple(
        SleeveState(
            f"s{i}",
            current[i],
            caps[i],
            draw(wild_histories()),
            book() if i == n - 1 and draw(st.booleans()) else None,
            draw(st.sampled_from([0, 100, 800])),
        )  # fmt: skip
        for i in range(n)
    )
    buffer = draw(
        st.sampled_from([0, 500, 10_000, 10_000 - sum(caps) if sum(caps) < 10_000 else 0])
    )
    need = min_turnover_bps(current, Bounds(tuple(caps), buffer, 0))
    turnover = draw(st.sampled_from([0, need, need + 1, need + 2000, 10_000]))
    return StrategyInputs(T0 + 500 * DAY, NAV, 6, sleeves, buffer, turnover, GAS)


@settings(max_examples=40, deadline=None)
@given(wild_vaults(), st.sampled_from(["keeper", "ewma"]))
@example(vault(EDGES["up 1 % in a second"]), "keeper")
@example(vault(EDGES["to one wei on three readings"]), "ewma")
def test_any_path_decides_within_bounds_or_not_at_all_and_replays(inputs, which):
    params = KEEPER if which == "keeper" else EWMA
    outcome = decide(inputs, params)
    bounds = Bounds(inputs.caps_bps, inputs.idle_buffer_bps, inputs.max_turnover_bps)
    limit = max(inputs.max_turnover_bps - params.turnover_headroom_bps,
                min_turnover_bps(inputs.current_bps, bounds))  # fmt: skip
    assert_sound(inputs, outcome, limit)
    assert decide(inputs, params) == outcome
