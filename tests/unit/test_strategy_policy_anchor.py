"""The policy anchor (issue 19): the optimiser tilts around a policy mix (`rebalancer.policy_mix`)
and leaving it by `d` of the NAV costs `η·d²` a year (`rebalancer.policy_aversion`), so a tilt
is paid for by expected return (`2ηd` at the margin). η 0 is the objective without it, bit for
bit; a receipt records the mix and replays with it, and one written before it replays without."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from keepers.config import ConfigError, RebalancerConfig, load_settings
from keepers.strategy import Bounds, Decision, OptimiserParams, Problem, decide, optimise
from keepers.strategy.rationale import decode
from keepers.strategy.replay import from_document, replay
from tests.unit.test_strategy_sleeve_costs import OLD_RECEIPT
from tests.unit.test_strategy_tail_volatility import credit_vault

WIDE = Bounds((10_000, 10_000, 10_000), 0, 10_000)


def bare(eta: float, mix: tuple[tuple[str, int], ...] = ()) -> OptimiserParams:
    """No risk, no trading cost: the anchor alone against the expected returns."""
    return OptimiserParams(risk_aversion=0.0, turnover_cost_bps=0.0, policy_bps=mix,
                           policy_aversion=eta)  # fmt: skip


def test_a_tilt_away_from_the_mix_is_paid_by_expected_return_at_two_eta_per_unit():
    # One sleeve yielding 2 % above idle, the mix 20 %: the optimum is 20 % + 2 % / (2η).
    for eta, want in ((1.0, 2_100), (0.5, 2_200), (4.0, 2_025)):
        problem = Problem((0.02,), (0.0,), (0,), Bounds((10_000,), 0, 10_000), 1.0, (), (2_000,))
        solution = optimise(problem, bare(eta))
        assert abs(solution.continuous_bps[0] - want) < 1.0
        assert solution.target_bps == (want,)


def test_without_a_mix_or_at_eta_zero_the_objective_is_unchanged_bit_for_bit():
    mu, vol, cur = (0.04, 0.06, 0.05), (0.001, 0.15, 0.02), (3_000, 500, 1_000)
    plain = Problem(mu, vol, cur, WIDE, 7 / 365)
    params = OptimiserParams(risk_aversion=300.0)
    assert OptimiserParams(policy_aversion=0.0, policy_bps=(("a", 1),)).policy(("a",)) == ()
    assert OptimiserParams(policy_aversion=2.0, policy_bps=(("a", 1),)).policy(("b",)) == ()
    anchored = replace(params, policy_bps=(("x", 5_000),), policy_aversion=3.0)
    assert anchored.policy(("x", "y", "z")) == (5_000, None, None)
    assert optimise(plain, params) == optimise(plain, replace(params, policy_aversion=0.0))


@settings(max_examples=60, deadline=None)
@given(
    w=st.lists(st.integers(0, 4_000), min_size=3, max_size=3),
    p=st.lists(st.one_of(st.none(), st.integers(0, 3_000)), min_size=3, max_size=3),
    eta=st.floats(0.0, 50.0),
    mu=st.lists(st.floats(-0.2, 0.2), min_size=3, max_size=3),
)
def test_the_marginal_score_is_the_derivative_of_the_score(w, p, eta, mu):
    """The gradient `repair` reads (`marginal_bps`) matches the score it ranks by, anchor
    included: a central difference of `score_bps` at `w` (no move cost: current = `w`)."""
    params = OptimiserParams(risk_aversion=300.0, turnover_cost_bps=0.0, policy_aversion=eta)
    problem = Problem(tuple(mu), (0.01, 0.15, 0.02), tuple(w), WIDE, 7 / 365, (), tuple(p))
    grad = problem.marginal_bps(w, params)
    for i in range(3):
        up, down = list(map(float, w)), list(map(float, w))
        up[i] += 0.5
        down[i] -= 0.5
        # score in bps of NAV over 1 bps of weight: the derivative in fractions (κ 0: no cost)
        numeric = problem.score_bps(up, params) - problem.score_bps(down, params)
        assert numeric == pytest.approx(grad[i], rel=1e-6, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    mu=st.lists(st.floats(0.0, 0.1), min_size=3, max_size=3),
    p=st.lists(st.integers(0, 3_000), min_size=3, max_size=3),
)
def test_a_higher_eta_never_leaves_the_mix_further(mu, p):
    """The real optimum's distance from the mix does not grow with η (costs and risk aside)."""

    def distance(eta: float) -> float:
        problem = Problem(tuple(mu), (0.0, 0.0, 0.0), (0, 0, 0), WIDE, 1.0, (), tuple(p))
        solution = optimise(problem, bare(eta))
        # The property is the optimum's: a solve SLSQP gave up on (status 4 at η 32 for mu
        # [0.084, 0.090, 0], p [2037, 359, 144], found by a clean-clone run) proposes no optimum,
        # and the plan keeps its baseline unless the repaired proposal scores strictly better.
        assume(solution.status == 0)
        w = np.asarray(solution.continuous_bps)
        return float(np.abs(w - np.asarray(p)).sum())

    gaps = [distance(eta) for eta in (0.5, 2.0, 8.0, 32.0)]
    assert all(b <= a + 1.0 for a, b in itertools.pairwise(gaps))  # 1 bps: SLSQP's tolerance


def test_the_anchor_pulls_a_smooth_credit_pool_towards_its_policy_weight():
    floored = RebalancerConfig(policy_mix={}, policy_aversion=0.0)
    mix = {"tbill": 5_000, "gold": 500, "invoices": 2_000}
    anchored = RebalancerConfig(policy_mix=mix, policy_aversion=8.0)
    free = decide(credit_vault(), floored.strategy_params())
    held = decide(credit_vault(), anchored.strategy_params())
    assert isinstance(free, Decision) and isinstance(held, Decision)
    # the floor keeps invoices small without the anchor; the anchor pulls them to about 20 %
    assert abs(held.target_bps[2] - 2_000) < abs(free.target_bps[2] - 2_000)
    doc = decode(held.rationale)
    assert doc["params"]["optimiser"]["policy_bps"] == [
        ["gold", 500], ["invoices", 2_000], ["tbill", 5_000]]  # fmt: skip
    assert doc["params"]["optimiser"]["policy_aversion"] == "8.000000000000"
    assert replay(held.rationale).ok
    assert from_document(doc)[1] == anchored.strategy_params()
    # without an anchor the receipt has neither field (receipts from before it re-encode)
    assert not {"policy_bps", "policy_aversion"} & set(
        decode(free.rationale)["params"]["optimiser"]
    )


def test_a_receipt_written_before_the_anchor_replays_without_it():
    doc = decode(OLD_RECEIPT.read_bytes())
    assert "policy_bps" not in doc["params"]["optimiser"]
    _, params = from_document(doc)
    assert params.optimiser.policy_bps == () and params.optimiser.policy_aversion == 0.0
    result = replay(OLD_RECEIPT.read_bytes())
    assert result.recorded_target == result.replayed_target


def test_the_anchor_is_a_keeper_setting_and_bad_values_are_one_line(tmp_path):
    config = RebalancerConfig.model_validate(
        {"policy_mix": "tbill=5000, invoices=2000", "policy_aversion": 2}
    )
    assert config.strategy_params().optimiser.policy_bps == (("invoices", 2_000), ("tbill", 5_000))
    path = tmp_path / "keeper.yaml"
    for bad, message in (
        ("{policy_mix: {tbill: 12000}}", "tbill: 12000 bps is not within [0, 10000]"),
        ("{policy_mix: {tbill: 6000, gold: 5000}}", "the policy mix adds up to 11000 bps"),
        ("{policy_mix: {tbill: half}}", "rebalancer.policy_mix"),
        ("{policy_aversion: -1}", "rebalancer.policy_aversion"),
    ):
        path.write_text(f"rebalancer: {bad}\n")
        with pytest.raises(ConfigError) as err:
            load_settings(path)
        assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="'tbill' is not SLEEVE=BPS"):
        RebalancerConfig.model_validate({"policy_mix": "tbill"})
    with pytest.raises(ValueError, match="distinct"):
        OptimiserParams(policy_bps=(("tbill", 1), ("tbill", 2)))
    with pytest.raises(ValueError, match="at most 10000 in all"):
        OptimiserParams(policy_bps=(("tbill", 6_000), ("gold", 6_000)))
