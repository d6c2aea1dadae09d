"""keepers.strategy bounds, repair and optimiser: every output meets every rebalance bound."""

from __future__ import annotations

import math

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from keepers.math import BPS
from keepers.strategy import (
    Bounds,
    InfeasibleBounds,
    OptimiserParams,
    Problem,
    anchor,
    covariance,
    drifted_past,
    min_turnover_bps,
    optimise,
    repair,
    turnover_bps,
    violations,
    weights_bps,
)

WEEK = 7 / 365

# ---------------------------------------------------------------------------------- strategies


@st.composite
def weights(draw, n: int) -> tuple[int, ...]:
    """n sleeve weights (bps) leaving a non-negative idle remainder, edge cases included."""
    raw = draw(st.lists(st.integers(0, BPS), min_size=n + 1, max_size=n + 1))
    total = sum(raw)
    if total == 0:
        return tuple([0] * n)
    return tuple(r * BPS // total for r in raw[:n])


@st.composite
def situations(draw, min_sleeves: int = 1, max_sleeves: int = 5):
    """(current, bounds), feasible or not: caps, buffer and turnover limit drawn around the
    current weights so that tight, broken and slack cases all appear."""
    n = draw(st.integers(min_sleeves, max_sleeves))
    current = draw(weights(n))
    caps = tuple(
        draw(st.one_of(st.integers(0, BPS), st.integers(max(o - 300, 0), min(o + 300, BPS))))
        for o in current
    )
    buffer = draw(st.one_of(st.integers(0, 2_000), st.integers(0, BPS)))
    base = Bounds(caps, buffer, 0)
    need = min_turnover_bps(current, base)
    limit = max(need + draw(st.integers(-300, BPS)), 0)
    return current, Bounds(caps, buffer, limit)


reals = st.floats(allow_nan=True, allow_infinity=True, width=64)
proposals = st.one_of(st.floats(-2_000, 12_000), reals)


def feasible(current, bounds) -> bool:
    return min_turnover_bps(current, bounds) <= bounds.max_turnover_bps


# ---------------------------------------------------------------------------------- known values


def test_turnover_counts_sleeves_and_idle():
    # 1000 bps from sleeve 0 to sleeve 1: idle unchanged, turnover 1000.
    assert turnover_bps((3000, 1000), (2000, 2000)) == 1000
    # 1000 bps from idle into sleeve 0: ½(1000 + 1000).
    assert turnover_bps((3000, 1000), (4000, 1000)) == 1000
    assert turnover_bps((3000, 1000), (3000, 1000)) == 0


def test_weights_mirror_the_contract():
    assert weights_bps((333, 333, 333), 1_000) == (3330, 3330, 3330)
    assert weights_bps((1, 2), 0) == (0, 0)


def test_min_turnover_and_anchor_on_a_cap_breach_and_a_thin_buffer():
    # Sleeve 0 is 1000 over its cap; after that cut idle is 3000 and the buffer wants 4000.
    bounds = Bounds((5000, 5000), 4000, 5000)
    current = (6000, 2000)
    assert min_turnover_bps(current, bounds) == 2000
    target = anchor(current, bounds)
    assert target == (4000, 2000)
    assert not violations(target, current, bounds)
    assert turnover_bps(current, target) == 2000


def test_drifted_past_relaxes_caps_and_buffer_by_the_tolerance():
    bounds = Bounds((3000, 2000), 500, 1000)
    assert drifted_past((3100, 2000), bounds, 100) == ()
    assert drifted_past((3101, 2000), bounds, 100) == ("sleeve 0: target 3101 above ceiling 3100",)
    assert drifted_past((3000, 2000), bounds, 0) == ()
    assert drifted_past((3000, 2000), Bounds((3000, 2000), 5_100, 1000), 100) == ()
    assert drifted_past((3000, 2001), Bounds((3000, 2000), 5_100, 1000), 100) != ()


def test_repair_refuses_unreachable_bounds():
    with pytest.raises(InfeasibleBounds):
        repair((0.0, 0.0), (6000, 2000), Bounds((5000, 5000), 4000, 1999))


def test_repair_keeps_a_valid_rounding():
    bounds = Bounds((5000, 5000), 500, 1000)
    assert repair((3000.4, 1999.6), (3000, 1500), bounds) == (3000, 2000)


def test_repair_undoes_the_cheapest_moves_first():
    # Proposal raises both sleeves by 1000 from idle (turnover 2000, limit 1000): the less
    # valuable sleeve (preference) gives its raise back.
    bounds = Bounds((9000, 9000), 0, 1000)
    out = repair((3000.0, 3000.0), (2000, 2000), bounds, preference=(1.0, 2.0))
    assert out == (2000, 3000)


def test_covariance_is_positive_semidefinite():
    import numpy as np

    cov = covariance((0.1, 0.2, 0.0, 0.5), 0.9)
    assert np.all(np.linalg.eigvalsh(cov) >= -1e-12)
    assert cov[1, 1] == pytest.approx(0.04)


def test_optimiser_fills_the_best_sleeve_up_to_its_cap():
    bounds = Bounds((4000, 3000, 5000), 500, 1500)
    problem = Problem((0.05, 0.08, 0.03), (0.01, 0.05, 0.002), (3000, 1000, 2000), bounds, WEEK)
    solution = optimise(problem, OptimiserParams())
    assert solution.target_bps == (3000, 2500, 2000)
    assert solution.choice == "optimised"
    assert solution.score_bps > solution.baseline_score_bps


def test_optimiser_stays_put_when_nothing_beats_the_turnover_cost():
    bounds = Bounds((5000, 5000), 500, 1500)
    problem = Problem((0.05, 0.0501), (0.01, 0.01), (4000, 4000), bounds, WEEK)
    solution = optimise(problem, OptimiserParams(turnover_cost_bps=50.0))
    assert solution.target_bps == (4000, 4000)
    assert solution.choice == "current"


def test_optimiser_fixes_a_broken_cap_even_at_a_loss():
    # Governance lowered the cap of the best sleeve below its weight.
    bounds = Bounds((2000, 5000), 500, 3000)
    problem = Problem((0.10, 0.01), (0.01, 0.01), (4000, 1000), bounds, WEEK)
    solution = optimise(problem, OptimiserParams())
    assert solution.target_bps[0] == 2000
    assert solution.baseline == "anchor"
    assert not violations(solution.target_bps, (4000, 1000), bounds)


def test_optimiser_refuses_unreachable_bounds():
    bounds = Bounds((2000, 5000), 500, 1000)
    problem = Problem((0.10, 0.01), (0.01, 0.01), (4000, 1000), bounds, WEEK)
    with pytest.raises(InfeasibleBounds):
        optimise(problem, OptimiserParams())


# ---------------------------------------------------------------------------------- properties


@given(situations(), st.data())
def test_min_turnover_is_a_lower_bound_that_the_anchor_reaches(situation, data):
    current, bounds = situation
    target = anchor(current, bounds)
    assert all(0 <= t <= c for t, c in zip(target, bounds.ceilings_bps, strict=True))
    assert sum(target) <= bounds.max_invested_bps
    assert turnover_bps(current, target) == min_turnover_bps(current, bounds)
    # Any target meeting the ceilings and the buffer turns over at least that much.
    other = [data.draw(st.integers(0, c)) for c in bounds.ceilings_bps]
    excess = sum(other) - bounds.max_invested_bps
    for i in range(len(other)):
        cut = min(other[i], max(excess, 0))
        other[i] -= cut
        excess -= cut
    assert turnover_bps(current, other) >= min_turnover_bps(current, bounds)


@given(situations(), st.data())
def test_repair_always_meets_every_bound(situation, data):
    current, bounds = situation
    n = len(current)
    proposal = data.draw(st.lists(proposals, min_size=n, max_size=n))
    preference = data.draw(st.one_of(st.none(), st.lists(reals, min_size=n, max_size=n)))
    if not feasible(current, bounds):
        event("infeasible")
        with pytest.raises(InfeasibleBounds):
            repair(proposal, current, bounds, preference)
        return
    event("feasible")
    target = repair(proposal, current, bounds, preference)
    assert all(isinstance(t, int) for t in target)
    assert violations(target, current, bounds) == ()


@given(situations(), st.data())
def test_repair_leaves_a_valid_target_alone(situation, data):
    current, bounds = situation
    if not feasible(current, bounds):
        return
    target = repair([float(x) for x in anchor(current, bounds)], current, bounds)
    # Nudge a valid target by less than half a bps: rounding gives it back untouched.
    jitter = data.draw(st.lists(st.floats(-0.49, 0.49), min_size=len(target), max_size=len(target)))
    assert repair([t + j for t, j in zip(target, jitter, strict=True)], current, bounds) == target


@given(
    situations(),
    st.data(),
    st.floats(0.0, 20.0),
    st.floats(0.0, 0.95),
    st.floats(0.0, 100.0),
)
def test_optimiser_output_always_within_every_bound(situation, data, lam, rho, kappa):
    current, bounds = situation
    n = len(current)
    mu = tuple(data.draw(st.lists(st.floats(-0.5, 0.5), min_size=n, max_size=n)))
    sigma = tuple(data.draw(st.lists(st.floats(0.0, 1.5), min_size=n, max_size=n)))
    horizon = data.draw(st.sampled_from([1 / 365, WEEK, 30 / 365, 1.0]))
    params = OptimiserParams(risk_aversion=lam, correlation=rho, turnover_cost_bps=kappa)
    problem = Problem(mu, sigma, current, bounds, horizon)
    if not feasible(current, bounds):
        with pytest.raises(InfeasibleBounds):
            optimise(problem, params)
        return
    solution = optimise(problem, params)
    event(f"choice: {solution.choice}")
    target = solution.target_bps
    assert violations(target, current, bounds) == ()
    # Never worse than staying put (or than the cheapest fix when staying breaks a bound).
    assert solution.score_bps >= solution.baseline_score_bps
    assert math.isfinite(solution.score_bps)
