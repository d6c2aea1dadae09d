"""The robust estimator (keepers.strategy.robust), the credit and settlement terms, and the learned
model's integrity: noise and jumps that reverse are not regime changes; losses that stay are."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keepers.math import WAD
from keepers.strategy import (
    Decision,
    ForecastParams,
    ReturnHistory,
    SleeveState,
    StrategyInputs,
    StrategyParams,
    decide,
    forecast_sleeve,
)
from keepers.strategy.bounds import Bounds, min_turnover_bps
from keepers.strategy.pipeline import settlement_bounds
from keepers.strategy.robust import RobustParams, robust_estimate

DAY = 86_400
T0 = 1_700_000_000
ROBUST = RobustParams()


def path(rate: float, vol: float, days: int, seed: int) -> np.ndarray:
    """A true log level: drift `rate`, volatility `vol` (annual), daily."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(rate / 365, vol / math.sqrt(365), days)
    return np.concatenate([[0.0], np.cumsum(steps)])


def readings(log_level: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    ts = tuple(T0 + i * DAY for i in range(log_level.size))
    return ts, tuple(round(WAD * math.exp(x)) for x in log_level)


def estimate(log_level: np.ndarray, params: RobustParams = ROBUST):
    est = robust_estimate(*readings(log_level), params)
    assert est is not None
    return est


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0.0, 0.12),
    st.floats(0.01, 0.08),
    st.integers(20, 100),
    st.integers(2, 6),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_a_jump_that_reverses_changes_neither_trend_nor_volatility(
    rate, size, day, back, down, seed
):
    # An accruing sleeve (vol 0.5 %) marked by 1-8 % for 2-6 days, then back.
    base = path(rate, 0.005, 150, seed)
    marked = base.copy()
    sign = -1.0 if down else 1.0
    marked[day : day + back] += sign * math.log1p(size)
    clean, hit = estimate(base), estimate(marked)
    assert hit.rate == pytest.approx(clean.rate, abs=0.01)
    assert hit.volatility <= clean.volatility + 0.01
    assert hit.raw_short_volatility <= clean.raw_short_volatility + 0.01
    assert hit.loss_rate == 0.0 and hit.displacement == 0.0
    assert hit.jumps >= 2


# A statistical property of 150 jittered readings: the lag-one noise estimate has a sampling
# error of about ±25 %, so about one random draw in 400 keeps more than 60 % of the EWMA's
# volatility (e.g. rate 0.032, noise 0.0025, seed 741222435: 0.042 against 0.056, the noise
# read as 0.0016). The draws are a fixed sample (derandomized), not a search for that tail.
@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.floats(0.02, 0.10), st.floats(0.0015, 0.004), st.integers(0, 2**32 - 1))
def test_measurement_noise_is_not_read_as_volatility(rate, noise, seed):
    # A near-constant accrual read through a jittered feed (10-40 bps per reading): the EWMA
    # estimator sees several points of volatility, the robust one removes the noise.
    true = path(rate, 0.002, 150, seed)
    jitter = np.random.default_rng(seed + 1).normal(0.0, noise, true.size)
    jitter[0] = 0.0
    observed = true + jitter
    est = estimate(observed)
    ewma = forecast_sleeve("x", ReturnHistory(*readings(observed)), None,
                           ForecastParams(estimator="ewma"))  # fmt: skip
    assert est.volatility < 0.6 * ewma.volatility
    assert est.rate == pytest.approx(rate, abs=0.04)
    assert est.noise == pytest.approx(noise, rel=0.5)


def test_one_bad_reading_does_not_move_the_trend():
    # A single reading 2.3 % off (rate 0.0625, noise 0.0039, seed 149406: reading 144 of 150)
    # is a jump up and, the next day, its reversal; its excess is a jump both ways, so the level
    # stays continuous and the trend is the one of the same readings with that one mended (5.2 %
    # against 5.1 %; it read -1.2 % when the reversal leg moved the level for good).
    rate, noise, seed = 0.0625, 0.00390625, 149406
    true = path(rate, 0.002, 150, seed)
    jitter = np.random.default_rng(seed + 1).normal(0.0, noise, true.size)
    jitter[0] = 0.0
    observed = true + jitter
    without = observed.copy()
    without[144] = (observed[143] + observed[145]) / 2  # the same readings, that one mended
    est = estimate(observed)
    assert est.jumps == 2
    assert est.rate == pytest.approx(estimate(without).rate, abs=0.005)
    spike = path(0.05, 0.002, 150, 3)
    spike[100] += 0.03  # one print 3 % high
    clean, hit = estimate(path(0.05, 0.002, 150, 3)), estimate(spike)
    assert hit.rate == pytest.approx(clean.rate, abs=0.002)
    assert hit.loss_rate == 0.0


def test_gold_volatility_is_kept():
    # No noise, no jumps: the noise correction must not erase real volatility.
    est = estimate(path(0.05, 0.20, 200, 7))
    assert est.volatility == pytest.approx(0.20, rel=0.25)
    assert est.jumps == 0


@given(st.floats(0.01, 0.06), st.integers(1, 4), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_the_credit_term_rises_with_markdowns_that_stay(loss, defaults, seed):
    base = path(0.07, 0.003, 150, seed)
    prev = None
    for n in range(defaults + 1):
        hit = base.copy()
        for j in range(n):
            hit[120 + 6 * j :] += math.log1p(-loss)
        est = estimate(hit)
        if prev is not None:
            assert est.loss_rate > prev.loss_rate
            assert est.displacement > prev.displacement
        prev = est
    assert prev.displacement == pytest.approx(defaults * loss, rel=0.2)
    with_credit = ForecastParams(displacement_hazard=2.0)
    clean = forecast_sleeve("inv", ReturnHistory(*readings(base)), None, with_credit)
    hit_fc = forecast_sleeve("inv", ReturnHistory(*readings(hit)), None, with_credit)
    assert hit_fc.credit_loss > clean.credit_loss == 0.0
    assert hit_fc.expected_return < clean.expected_return


def test_a_drop_counts_only_once_confirmed():
    base = path(0.07, 0.003, 100, 3)
    base[-1] += math.log(0.95)  # today: a bad print or a default, nobody knows yet
    est = estimate(base)
    assert est.loss_rate == 0.0 and est.displacement == 0.0
    assert est.pending == pytest.approx(0.05, rel=0.2)
    later = estimate(base, replace(ROBUST, confirm_seconds=0))
    assert later.displacement == pytest.approx(0.05, rel=0.2) and later.pending == 0.0


# -- a markdown that reverses within days is not a credit loss; one that stays, or a wave, is --

CONFIRM_DAYS = ROBUST.confirm_seconds // DAY
HAZARD = replace(StrategyParams(), forecast=ForecastParams(displacement_hazard=2.0))


def two_sleeves(inv: np.ndarray, current_inv: int = 2_500) -> StrategyInputs:
    """T-bills (4.5 %, cap 80 %) and invoices (`inv`, cap 30 %), the invoices at `current_inv`
    bps, T-bills holding the rest of 95 %; cheap gas."""
    from keepers.strategy import GasMarket

    tbill = path(0.045, 0.001, inv.size - 1, 99)
    gas = GasMarket(base_fee_wei=10**9, priority_fee_wei=10**8, native_price_wad=3_000 * WAD)
    sleeves = (
        SleeveState("tbill", 9_500 - current_inv, 8_000, ReturnHistory(*readings(tbill))),
        SleeveState("invoices", current_inv, 3_000, ReturnHistory(*readings(inv))),
    )
    return StrategyInputs(T0 + (inv.size - 1) * DAY, 10**13, 6, sleeves, 500, 2_000, gas)


def invoices_target(inputs: StrategyInputs, params: StrategyParams) -> int:
    out = decide(inputs, params)
    return out.target_bps[1] if isinstance(out, Decision) else inputs.sleeves[1].current_bps


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0.01, 0.12),
    st.integers(0, CONFIRM_DAYS - 1),
    st.integers(0, 2**32 - 1),
)
def test_a_standing_markdown_younger_than_the_confirmation_is_not_sold(size, age, seed):
    # An invoice sleeve at 25 % (cap 30 %) marked down by 1-12 % `age` days ago, not (yet)
    # reversed: a stale mark or a flash drop until it has persisted. The estimate holds it as
    # pending, prices no loss, and the target does not cut the sleeve (the old one-day rule did).
    inv = path(0.07, 0.003, 150, seed)
    inv[inv.size - 1 - age :] += math.log1p(-size)
    est = estimate(inv)
    assert est.loss_rate == 0.0 and est.displacement == 0.0
    assert est.pending == pytest.approx(size, rel=0.1)
    held = round(2_500 * (1 - size))  # the markdown lowered the sleeve's weight too
    inputs = two_sleeves(inv, held)
    for params in (StrategyParams(), HAZARD):  # the default, and with the displacement hazard
        clean = invoices_target(two_sleeves(path(0.07, 0.003, 150, seed), held), params)
        assert invoices_target(inputs, params) >= min(clean, held) - 10
    one_day = replace(HAZARD, forecast=replace(
        HAZARD.forecast, robust=replace(ROBUST, confirm_seconds=DAY)))  # fmt: skip
    if age >= 1 and size >= 0.03:  # the rule this replaces read such a low print as a loss
        assert invoices_target(inputs, one_day) < held - 500


@settings(max_examples=30, deadline=None)
@given(st.floats(0.03, 0.10), st.integers(0, 2**32 - 1))
def test_a_markdown_that_persists_is_still_cut(size, seed):
    # 3-10 %, standing past the confirmation: priced as a loss, and the sleeve is cut (a 2 %
    # loss on its own leaves a yield gap to T-bills that a week's horizon does not pay the
    # turnover cost of, under the default settings).
    inv = path(0.07, 0.003, 150, seed)
    inv[150 - CONFIRM_DAYS - 5 :] += math.log1p(-size)
    est = estimate(inv)
    assert est.displacement == pytest.approx(size, rel=0.1) and est.pending == 0.0
    held = round(2_500 * (1 - size))
    for params in (StrategyParams(), HAZARD):
        assert invoices_target(two_sleeves(inv, held), params) < held - 500


@settings(max_examples=30, deadline=None)
@given(st.floats(0.02, 0.06), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_a_wave_of_drops_confirms_them_at_once(size, gap, seed):
    # Defaults come in waves: a second unreversed drop within the recent window confirms both
    # without waiting, and the sleeve is cut.
    inv = path(0.07, 0.003, 150, seed)
    inv[150 - gap - 1 :] += math.log1p(-size)
    inv[150:] += math.log1p(-size)
    est = estimate(inv)
    assert est.pending == 0.0
    assert est.displacement == pytest.approx(2 * size, rel=0.1)
    held = round(2_500 * (1 - size) ** 2)
    for params in (StrategyParams(), HAZARD):
        assert invoices_target(two_sleeves(inv, held), params) < held - 500


def test_a_recovery_stays_one_when_a_new_drop_follows():
    # Marked down 5 % for 4 days and back; 30 days later a new 3 % drop: the first is not
    # revived as a loss (it was taken back), the second waits for confirmation.
    inv = path(0.07, 0.003, 150, 5)
    inv[110:114] += math.log(0.95)
    inv[146:] += math.log(0.97)
    est = estimate(inv)
    assert est.displacement == 0.0 and est.loss_rate == 0.0
    assert est.pending == pytest.approx(0.03, rel=0.1)


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_settlement_bounds_hold_a_credit_sleeve_to_its_exit_and_stay_feasible(data):
    n = 3
    current = tuple(data.draw(st.integers(0, 3000)) for _ in range(n))
    caps = tuple(data.draw(st.integers(0, 6000)) for _ in range(n))
    buffer = data.draw(st.integers(0, 10_000 - sum(current)))
    need = min_turnover_bps(current, Bounds(caps, buffer, 0))
    limit = need + data.draw(st.integers(0, 3000))
    bounds = Bounds(caps, buffer, limit)
    base = path(0.07, 0.003, 100, 1)
    hit = base.copy()
    hit[80:] += math.log(0.95)
    histories = [base, hit, base]
    forecasts = tuple(
        forecast_sleeve(f"s{i}", ReturnHistory(*readings(h)), None, ForecastParams())
        for i, h in enumerate(histories)
    )
    out = settlement_bounds(forecasts, current, bounds, 1)
    assert min_turnover_bps(current, out) <= limit
    assert out.ceilings_bps[0] == caps[0] and out.ceilings_bps[2] == caps[2]
    assert out.ceilings_bps[1] <= caps[1]
    reachable = max(limit, 0)
    assert out.ceilings_bps[1] <= max(reachable, min(current[1], caps[1]) - (limit - need))
    assert settlement_bounds(forecasts, current, bounds, 0) == bounds


def test_robust_params_refuse_nonsense():
    with pytest.raises(ValueError):
        RobustParams(jump_mads=0)
    with pytest.raises(ValueError):
        ForecastParams(displacement_hazard=-1)
    assert replace(ROBUST, confirm_seconds=0).confirm_seconds == 0


def test_the_lending_yield_responds_to_the_vaults_own_supply():
    # Supplying more to the book lowers its utilization, hence the supply rate the vault earns.
    from keepers.strategy.pipeline import supply_response
    from tests.unit.test_strategy import PARAMS, vault

    inputs = vault(current=(3000, 1000, 1000))
    params = replace(PARAMS, forecast=replace(PARAMS.forecast, supply_response=True))
    fc = tuple(
        forecast_sleeve(s.name, s.history, s.lending, params.forecast) for s in inputs.sleeves
    )
    more = supply_response(inputs, params, fc, (3000, 1000, 4000))
    less = supply_response(inputs, params, fc, (3000, 1000, 500))
    same = supply_response(inputs, params, fc, inputs.current_bps)
    assert same == fc
    assert more[2].lending.utilization < fc[2].lending.utilization
    assert more[2].expected_return < fc[2].expected_return < less[2].expected_return
    assert more[:2] == fc[:2]


@pytest.mark.parametrize("family", ["noisy_nav", "default_wave"])
@pytest.mark.parametrize("entry", ["keepers.strategy:decide", "keepers.strategy.learned:decide"])
def test_decisions_on_family_paths_replay_to_identical_targets(family, entry):
    # The backtest's own snapshots (noise, bad prints, defaults behind a gate): every decision
    # document, acted on or not, replays byte for byte under either shipped strategy.
    from benchmarks.backtest.families import generate_family
    from benchmarks.backtest.keeper import KeeperStrategy
    from benchmarks.backtest.simulate import View, default_gas, local_vault
    from keepers.jobs.rebalancer import strategy_inputs
    from keepers.strategy import StrategyParams
    from keepers.strategy.kit import decide_with
    from keepers.strategy.replay import replay

    path = generate_family(family, 1, 3, 120).paths[0]
    vault = local_vault()
    keeper = KeeperStrategy(path, vault)
    held = tuple(vault.deposit * w // 10_000 for w in (4000, 500, 3000, 2000))
    market = default_gas(vault).market(20.0)
    for k in range(path.history_days + 5, path.length, 23):
        view = View(path, k, vault, held, vault.deposit, market, None)
        result = decide_with(entry, strategy_inputs(keeper.snapshot(view)), StrategyParams())
        assert result.rationale is not None
        outcome = replay(result.rationale)
        assert outcome.ok, (k, outcome.differences)
