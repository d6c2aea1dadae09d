"""The constrained optimiser: target weights maximising return − λ·risk − turnover cost.

With sleeve weights `w` (fractions of NAV; idle is `1 - Σw`, earns 0 and carries no risk),
current weights `o`, annual expected returns `μ`, annual volatilities `σ`, a constant
correlation `ρ` (`Σ_ij = ρ^(i≠j) σ_i σ_j`, positive semi-definite for `0 <= ρ < 1`), the horizon
`h` (years), risk aversion `λ` and a cost `κ` per unit of NAV turned over:

    maximise   h·(μᵀw − λ·wᵀΣw) − κ·τ(w)         τ(w) = ½ (Σ|w_i − o_i| + |Σ(w_i − o_i)|)
    subject to 0 <= w_i <= ceiling_i,  Σw <= 1 − buffer,  τ(w) <= max turnover

The turnover is not smooth, so it is solved in split variables `w = o + p − q` with `p, q >= 0`
and `s >= |Σ(p − q)|`, `τ = ½ (Σp + Σq + s)`: a convex quadratic programme with linear
constraints, solved by SLSQP from the feasible `anchor`. The real solution is then rounded and
`repair`ed into integer bps meeting every bound, and kept only if it scores better than staying
put (or, when the current weights break a bound, than the cheapest fix, the `anchor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from keepers.math import BPS
from keepers.strategy.bounds import (
    Bounds,
    InfeasibleBounds,
    anchor,
    min_turnover_bps,
    repair,
    turnover_bps,
    violations,
)


@dataclass(frozen=True)
class OptimiserParams:
    """`risk_aversion` λ (per unit of annual variance), `correlation` ρ between sleeves,
    `turnover_cost_bps` κ (cost of turning over the whole NAV once, in bps: slippage, issuer
    fees), `max_iterations` of SLSQP."""

    risk_aversion: float = 2.0
    correlation: float = 0.3
    turnover_cost_bps: float = 5.0
    max_iterations: int = 200

    def __post_init__(self) -> None:
        if self.risk_aversion < 0 or self.turnover_cost_bps < 0:
            raise ValueError("risk aversion and turnover cost must be non-negative")
        if not 0.0 <= self.correlation < 1.0:
            raise ValueError("correlation must be within [0, 1)")
        if self.max_iterations <= 0:
            raise ValueError("max iterations must be positive")


def covariance(volatilities: Sequence[float], correlation: float) -> np.ndarray:
    """`Σ_ij = σ_i σ_j` on the diagonal-scaled constant-correlation matrix."""
    sigma = np.asarray(volatilities, dtype=np.float64)
    n = sigma.size
    corr = np.full((n, n), correlation) + (1.0 - correlation) * np.eye(n)
    return corr * np.outer(sigma, sigma)


@dataclass(frozen=True)
class Problem:
    """One optimisation: forecasts per sleeve (annual), current integer weights, bounds,
    horizon in years."""

    expected_returns: tuple[float, ...]
    volatilities: tuple[float, ...]
    current_bps: tuple[int, ...]
    bounds: Bounds
    horizon_years: float

    def __post_init__(self) -> None:
        n = len(self.current_bps)
        if not len(self.expected_returns) == len(self.volatilities) == n:
            raise ValueError("forecasts and current weights differ in length")
        if len(self.bounds.ceilings_bps) != n:
            raise ValueError("ceilings and current weights differ in length")
        if not np.all(np.isfinite(self.expected_returns + self.volatilities)):
            raise ValueError("forecasts must be finite")
        if any(v < 0 for v in self.volatilities) or self.horizon_years <= 0:
            raise ValueError("volatilities must be non-negative and the horizon positive")

    def score_bps(self, target_bps: Sequence[float], params: OptimiserParams) -> float:
        """The objective in bps of NAV over the horizon: `1e4 · (h(μᵀw − λwᵀΣw) − κτ)`."""
        w = np.asarray(target_bps, dtype=np.float64) / BPS
        cov = covariance(self.volatilities, params.correlation)
        mu = np.asarray(self.expected_returns, dtype=np.float64)
        value = self.horizon_years * (mu @ w - params.risk_aversion * (w @ cov @ w))
        moved = np.abs(w - np.asarray(self.current_bps) / BPS)
        tau = 0.5 * (moved.sum() + abs(w.sum() - sum(self.current_bps) / BPS))
        return float(BPS * value - params.turnover_cost_bps * tau)

    def marginal_bps(self, target_bps: Sequence[float], params: OptimiserParams) -> np.ndarray:
        """Gradient of the score (turnover aside) per bps of each sleeve: `h(μ − 2λΣw)`."""
        w = np.asarray(target_bps, dtype=np.float64) / BPS
        cov = covariance(self.volatilities, params.correlation)
        mu = np.asarray(self.expected_returns, dtype=np.float64)
        return self.horizon_years * (mu - 2.0 * params.risk_aversion * (cov @ w))


@dataclass(frozen=True)
class Solution:
    """The optimiser's answer: integer `target_bps` meeting every bound; `continuous_bps` the
    real optimum before rounding; `score_bps` the target's objective and `baseline_score_bps`
    that of the fallback (`baseline`: "current" or "anchor"); `choice` which one won
    ("optimised" or the baseline's name); SLSQP's `status` and `iterations`."""

    target_bps: tuple[int, ...]
    continuous_bps: tuple[float, ...]
    score_bps: float
    baseline_score_bps: float
    baseline: str
    choice: str
    status: int
    iterations: int


def _continuous(problem: Problem, params: OptimiserParams) -> tuple[np.ndarray, int, int]:
    """SLSQP on the split-variable QP: `(w in bps, status, iterations)`."""
    n = len(problem.current_bps)
    o = np.asarray(problem.current_bps, dtype=np.float64) / BPS
    ceil = np.asarray(problem.bounds.ceilings_bps, dtype=np.float64) / BPS
    eye, ones, zero = np.eye(n), np.ones((1, n)), np.zeros((n, 1))
    rows = [
        np.hstack([eye, -eye, zero]),  # w >= 0
        np.hstack([-eye, eye, zero]),  # w <= ceiling
        np.hstack([-ones, ones, [[0.0]]]),  # Σw <= 1 - buffer
        np.hstack([-ones, ones, [[1.0]]]),  # s >= Σ(p - q)
        np.hstack([ones, -ones, [[1.0]]]),  # s >= -Σ(p - q)
        -0.5 * np.ones((1, 2 * n + 1)),  # ½(Σp + Σq + s) <= max turnover
    ]
    a = np.vstack(rows)
    b = np.concatenate(
        [
            o,
            ceil - o,
            [problem.bounds.max_invested_bps / BPS - o.sum(), 0.0, 0.0],
            [problem.bounds.max_turnover_bps / BPS],
        ]
    )
    cov = covariance(problem.volatilities, params.correlation)
    mu = np.asarray(problem.expected_returns, dtype=np.float64)
    h, lam, kappa = problem.horizon_years, params.risk_aversion, params.turnover_cost_bps / BPS

    def weights(z: np.ndarray) -> np.ndarray:
        return o + z[:n] - z[n : 2 * n]

    def value_gradient(z: np.ndarray) -> np.ndarray:
        gw = -h * (mu - 2.0 * lam * (cov @ weights(z)))
        return np.concatenate([gw + 0.5 * kappa, -gw + 0.5 * kappa, [0.5 * kappa]])

    start = np.asarray(anchor(problem.current_bps, problem.bounds), dtype=np.float64) / BPS
    cut = o - start
    z0 = np.concatenate([np.zeros(n), cut, [cut.sum()]])
    # SLSQP stalls on badly scaled objectives: scale so that the gradient at the start is ~1.
    scale = 1.0 / max(float(np.max(np.abs(value_gradient(z0)))), 1e-12)

    def objective(z: np.ndarray) -> float:
        w = weights(z)
        value = h * (mu @ w - lam * (w @ cov @ w)) - kappa * 0.5 * z.sum()
        return float(-value * scale)

    def gradient(z: np.ndarray) -> np.ndarray:
        return value_gradient(z) * scale

    result = minimize(
        objective,
        z0,
        jac=gradient,
        method="SLSQP",
        bounds=[(0.0, None)] * (2 * n + 1),
        constraints=[{"type": "ineq", "fun": lambda z: a @ z + b, "jac": lambda z: a}],
        options={"maxiter": params.max_iterations, "ftol": 1e-12},
    )
    return weights(np.asarray(result.x)) * BPS, int(result.status), int(result.nit)


def optimise(problem: Problem, params: OptimiserParams) -> Solution:
    """Integer target weights for `problem` meeting every bound (see the module docstring).

    Raises `InfeasibleBounds` when no target meets the bounds from the current weights.
    """
    current = problem.current_bps
    bounds = problem.bounds
    need = min_turnover_bps(current, bounds)
    if need > bounds.max_turnover_bps:
        raise InfeasibleBounds(
            f"meeting the ceilings and the idle buffer needs turnover {need} bps, "
            f"above the limit {bounds.max_turnover_bps}"
        )
    if violations(current, current, bounds):
        baseline, base = "anchor", anchor(current, bounds)
    else:
        baseline, base = "current", current
    if not current:
        return Solution((), (), 0.0, 0.0, baseline, baseline, 0, 0)
    proposal, status, iterations = _continuous(problem, params)
    target = repair(proposal, current, bounds, problem.marginal_bps(proposal, params))
    score = problem.score_bps(target, params)
    base_score = problem.score_bps(base, params)
    # Move only for a strictly better score; on a tie, the smaller turnover.
    better = score > base_score or (
        score == base_score and turnover_bps(current, target) < turnover_bps(current, base)
    )
    return Solution(
        target_bps=target if better else base,
        continuous_bps=tuple(float(x) for x in proposal),
        score_bps=score if better else base_score,
        baseline_score_bps=base_score,
        baseline=baseline,
        choice="optimised" if better else baseline,
        status=status,
        iterations=iterations,
    )
