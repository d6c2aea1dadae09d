"""The constrained optimiser: target weights maximising return − λ·risk − trading cost.

With sleeve weights `w` (fractions of NAV; idle is `1 - Σw`, earns 0 and carries no risk),
current weights `o`, annual expected returns `μ`, annual volatilities `σ`, a constant
correlation `ρ` (`Σ_ij = ρ^(i≠j) σ_i σ_j`, positive semi-definite for `0 <= ρ < 1`), the horizon
`h` (years), risk aversion `λ` and the trading cost `C(w)`:

    maximise   h·(μᵀw − λ·wᵀΣw − A(w)) − C(w)
    subject to 0 <= w_i <= ceiling_i,  Σw <= 1 − buffer,  τ(w) <= max turnover
               τ(w) = ½ (Σ|w_i − o_i| + |Σ(w_i − o_i)|)   (the vault's turnover)

The trading cost is per sleeve (`Problem.sleeve_cost_bps`, from the setting
`OptimiserParams.sleeve_cost_bps`): buying or selling `d` of sleeve `i` costs `c_i·d` (idle is
cash, free). The sleeves `U` the setting does not price keep the flat cost `κ` per unit of their
turnover (`OptimiserParams.turnover_cost_bps`), as before it existed:

    C(w) = Σ_{i∉U} c_i |w_i − o_i| + κ·½ (Σ_{i∈U} |w_i − o_i| + |Σ_{i∈U} (w_i − o_i)|)

so with no sleeve priced (`U` every sleeve) `C = κ·τ`, the flat cost exactly.

The policy anchor `A(w) = η·Σ_{i∈P} (w_i − p_i)²` (`OptimiserParams.policy_bps` `p`, the mix the
operator would hold knowing nothing, and `policy_aversion` `η`, per unit of weight squared a
year; `P` the sleeves the mix names) makes leaving the policy mix cost what the evidence must
pay for: a tilt of `d` away from `p_i` needs an expected return `2ηd` above what the rest of the
objective asks. It is the Black-Litterman idea of blending a prior allocation with views,
written as a penalty on the active weights; `η = 0` (the default) is the objective without it.

The absolute values are not smooth, so it is solved in split variables `w = o + p − q` with
`p, q >= 0`, `s >= |Σ(p − q)|` (`τ = ½ (Σp + Σq + s)`) and, when only some sleeves are priced,
`u >= |Σ_{i∈U}(p_i − q_i)|`: a convex quadratic programme with linear constraints (`p_i, q_i`
cost `c_i`, or `½κ` in `U`; `u`, or `s` when `U` is every sleeve, costs `½κ`), solved by SLSQP
from the feasible `anchor`. The real solution is then rounded and
`repair`ed into integer bps meeting every bound, and kept only if it scores better than staying
put (or, when the current weights break a bound, than the cheapest fix, the `anchor`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

import numpy as np

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
from keepers.strategy.rationale import OMIT_AT_DEFAULT

# The market's trading cost of each sleeve kind for tokenized RWAs, in bps of the value moved
# through the sleeve, each side (a buy of `d` costs `c·d`, a sale of `d` costs `c·d`; idle is
# cash, free): what `rebalancer.trading_cost_bps` prices sleeves at when turned on. These are
# the market's prices, stated before any backtest ran and never tuned on one
# (benchmarks/backtest/costs.py charges every policy this same table, which it imports):
# - tbill 2: tokenized T-bill funds (BUIDL, BENJI, USTB, OUSG) subscribe and redeem at NAV
#   without an issuer fee; 2 bps stand for the stablecoin leg and the NAV strike's slippage.
# - gold 20: PAXG / XAUT carry creation-redemption fees of ~0.02-1 % (tiered) / 0.25 %, and
#   their DEX or exchange spread is ~0.1-0.3 %; 20 bps a side is a mid estimate.
# - invoices 10: invoice/credit pools issue and redeem at NAV per epoch, often without a fee,
#   but secondary exits and some pools' fees cost more than a T-bill fund.
# - lending 0: supplying to or withdrawing from the vault's own lending book is an accounting
#   move on chain (its gas is the gas gate's).
MARKET_TRADING_COST_BPS: Final[Mapping[str, float]] = MappingProxyType(
    {"tbill": 2.0, "gold": 20.0, "invoices": 10.0, "lending": 0.0}
)
MAX_TRADING_COST_BPS: Final = 10_000.0


@dataclass(frozen=True)
class OptimiserParams:
    """`risk_aversion` λ (per unit of annual variance), `correlation` ρ between sleeves,
    `turnover_cost_bps` κ (cost of turning over the whole NAV once, in bps: slippage, issuer
    fees; the cost of every sleeve `sleeve_cost_bps` does not name), `max_iterations` of SLSQP,
    `sleeve_cost_bps` (sleeve name, bps of the value moved each side) pairs: the per-sleeve
    trading cost (see the module docstring; empty: the flat `κ` for every sleeve, as before
    the setting existed)."""

    risk_aversion: float = 2.0
    correlation: float = 0.3
    turnover_cost_bps: float = 5.0
    max_iterations: int = 200
    sleeve_cost_bps: tuple[tuple[str, float], ...] = field(
        default=(), metadata={OMIT_AT_DEFAULT: True}
    )
    policy_bps: tuple[tuple[str, int], ...] = field(default=(), metadata={OMIT_AT_DEFAULT: True})
    policy_aversion: float = field(default=0.0, metadata={OMIT_AT_DEFAULT: True})

    def __post_init__(self) -> None:
        if self.risk_aversion < 0 or self.turnover_cost_bps < 0:
            raise ValueError("risk aversion and turnover cost must be non-negative")
        if not 0.0 <= self.correlation < 1.0:
            raise ValueError("correlation must be within [0, 1)")
        if self.max_iterations <= 0:
            raise ValueError("max iterations must be positive")
        names = [name for name, _ in self.sleeve_cost_bps]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError("sleeve costs need distinct, non-empty sleeve names")
        if not all(0.0 <= c < MAX_TRADING_COST_BPS for _, c in self.sleeve_cost_bps):
            raise ValueError(f"sleeve costs must be within [0, {MAX_TRADING_COST_BPS:g}) bps")
        names = [name for name, _ in self.policy_bps]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError("the policy mix needs distinct, non-empty sleeve names")
        weights = [w for _, w in self.policy_bps]
        if not all(isinstance(w, int) and 0 <= w <= BPS for w in weights) or sum(weights) > BPS:
            raise ValueError(
                f"the policy mix must be integer bps in [0, {BPS}], at most {BPS} in all"
            )
        if not 0.0 <= self.policy_aversion < float("inf"):
            raise ValueError("the policy aversion must be a non-negative number")

    def sleeve_costs(self, names: Sequence[str], share: float = 1.0) -> tuple[float | None, ...]:
        """Each sleeve's cost per side in bps (× `share`, `inputs.one_off_share`), None for a
        sleeve the setting does not price (it pays the flat κ); () when none is priced."""
        table = dict(self.sleeve_cost_bps)
        if not any(n in table for n in names):
            return ()
        return tuple(table[n] * share if n in table else None for n in names)

    def policy(self, names: Sequence[str]) -> tuple[int | None, ...]:
        """Each sleeve's policy weight in bps (None for a sleeve the mix does not name); () when
        the anchor is off (`policy_aversion` 0) or the mix names none of `names`."""
        table = dict(self.policy_bps)
        if self.policy_aversion == 0.0 or not any(n in table for n in names):
            return ()
        return tuple(table.get(n) for n in names)


def trading_cost_bps(
    current_bps: Sequence[float],
    target_bps: Sequence[float],
    turnover_cost_bps: float,
    sleeve_cost_bps: Sequence[float | None] = (),
) -> float:
    """`C(w)` of the module docstring in bps of NAV: the per-sleeve costs `sleeve_cost_bps`
    (None or (): the flat `turnover_cost_bps` per unit of those sleeves' turnover)."""
    d = (np.asarray(target_bps, dtype=np.float64) - np.asarray(current_bps)) / BPS
    if not len(sleeve_cost_bps):
        tau = 0.5 * (np.abs(d).sum() + abs(d.sum()))
        return float(turnover_cost_bps * tau)
    flat = np.asarray([c is None for c in sleeve_cost_bps])
    priced = np.asarray([0.0 if c is None else c for c in sleeve_cost_bps])
    tau_flat = 0.5 * (np.abs(d[flat]).sum() + abs(d[flat].sum()))
    return float(priced @ np.abs(d) + turnover_cost_bps * tau_flat)


def covariance(volatilities: Sequence[float], correlation: float) -> np.ndarray:
    """`Σ_ij = σ_i σ_j` on the diagonal-scaled constant-correlation matrix."""
    sigma = np.asarray(volatilities, dtype=np.float64)
    n = sigma.size
    corr = np.full((n, n), correlation) + (1.0 - correlation) * np.eye(n)
    return corr * np.outer(sigma, sigma)


@dataclass(frozen=True)
class Problem:
    """One optimisation: forecasts per sleeve (annual), current integer weights, bounds,
    horizon in years, and each sleeve's trading cost per side in bps (None: the flat
    `OptimiserParams.turnover_cost_bps`; (): every sleeve flat; `OptimiserParams.sleeve_costs`
    gives them)."""

    expected_returns: tuple[float, ...]
    volatilities: tuple[float, ...]
    current_bps: tuple[int, ...]
    bounds: Bounds
    horizon_years: float
    sleeve_cost_bps: tuple[float | None, ...] = ()
    policy_bps: tuple[int | None, ...] = ()

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
        if self.sleeve_cost_bps and len(self.sleeve_cost_bps) != n:
            raise ValueError("sleeve costs and current weights differ in length")
        if any(c is not None and not 0.0 <= c < MAX_TRADING_COST_BPS
               for c in self.sleeve_cost_bps):  # fmt: skip
            raise ValueError("sleeve costs must be non-negative bps")
        if self.policy_bps and len(self.policy_bps) != n:
            raise ValueError("the policy mix and current weights differ in length")

    def anchor_terms(self, params: OptimiserParams) -> tuple[np.ndarray, np.ndarray, float]:
        """`(mask, p, η)` of the policy anchor `A(w) = η·Σ mask_i (w_i − p_i)²` (fractions of
        NAV; all zero when the problem has no policy mix)."""
        n = len(self.current_bps)
        if not self.policy_bps:
            return np.zeros(n), np.zeros(n), 0.0
        mask = np.asarray([p is not None for p in self.policy_bps], dtype=np.float64)
        p = np.asarray([0 if p is None else p for p in self.policy_bps], dtype=np.float64) / BPS
        return mask, p, params.policy_aversion

    def score_bps(self, target_bps: Sequence[float], params: OptimiserParams) -> float:
        """The objective in bps of NAV over the horizon: `1e4 · h(μᵀw − λwᵀΣw − A(w)) − C(w)`
        (`C` in bps: `trading_cost_bps`; the flat `κτ` when no sleeve is priced)."""
        w = np.asarray(target_bps, dtype=np.float64) / BPS
        cov = covariance(self.volatilities, params.correlation)
        mu = np.asarray(self.expected_returns, dtype=np.float64)
        value = self.horizon_years * (mu @ w - params.risk_aversion * (w @ cov @ w))
        if self.policy_bps:  # computed only with a mix: scores without one stay bit for bit
            mask, p, eta = self.anchor_terms(params)
            value -= self.horizon_years * eta * float(mask @ (w - p) ** 2)
        if not self.sleeve_cost_bps:  # the flat cost, computed as it always was
            moved = np.abs(w - np.asarray(self.current_bps) / BPS)
            tau = 0.5 * (moved.sum() + abs(w.sum() - sum(self.current_bps) / BPS))
            return float(BPS * value - params.turnover_cost_bps * tau)
        cost = trading_cost_bps(
            self.current_bps, target_bps, params.turnover_cost_bps, self.sleeve_cost_bps
        )
        return float(BPS * value - cost)

    def marginal_bps(self, target_bps: Sequence[float], params: OptimiserParams) -> np.ndarray:
        """Gradient of the score (turnover aside) per bps of each sleeve:
        `h(μ − 2λΣw − 2η·mask·(w − p))`."""
        w = np.asarray(target_bps, dtype=np.float64) / BPS
        cov = covariance(self.volatilities, params.correlation)
        mu = np.asarray(self.expected_returns, dtype=np.float64)
        gradient = mu - 2.0 * params.risk_aversion * (cov @ w)
        if self.policy_bps:
            mask, p, eta = self.anchor_terms(params)
            gradient = gradient - 2.0 * eta * mask * (w - p)
        return self.horizon_years * gradient


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
    h, lam, kappa = problem.horizon_years, params.risk_aversion, params.turnover_cost_bps / BPS
    costs = problem.sleeve_cost_bps or (None,) * n
    flat = np.asarray([c is None for c in costs])  # U: the sleeves paying the flat κ
    side = np.asarray([0.5 * kappa if c is None else c / BPS for c in costs])
    # `u >= |Σ_U (p − q)|` only when U is some sleeves; U every sleeve: `s` is that leg.
    extra = int(flat.any() and not flat.all())
    m = 2 * n + 1 + extra
    eye, ones, zero = np.eye(n), np.ones((1, n)), np.zeros((n, 1 + extra))
    pad = [[0.0] * extra]
    rows = [
        np.hstack([eye, -eye, zero]),  # w >= 0
        np.hstack([-eye, eye, zero]),  # w <= ceiling
        np.hstack([-ones, ones, [[0.0]], pad]),  # Σw <= 1 - buffer
        np.hstack([-ones, ones, [[1.0]], pad]),  # s >= Σ(p - q)
        np.hstack([ones, -ones, [[1.0]], pad]),  # s >= -Σ(p - q)
        np.hstack([-0.5 * np.ones((1, 2 * n + 1)), pad]),  # ½(Σp + Σq + s) <= max turnover
    ]
    bs = [o, ceil - o, [problem.bounds.max_invested_bps / BPS - o.sum(), 0.0, 0.0],
          [problem.bounds.max_turnover_bps / BPS]]  # fmt: skip
    if extra:
        in_u = flat.astype(np.float64)[None, :]
        rows += [np.hstack([-in_u, in_u, [[0.0, 1.0]]]),  # u >= Σ_U(p - q)
                 np.hstack([in_u, -in_u, [[0.0, 1.0]]])]  # u >= -Σ_U(p - q)  # fmt: skip
        bs.append([0.0, 0.0])
    a = np.vstack(rows)
    b = np.concatenate(bs)
    # The linear cost of each variable: p_i, q_i their sleeve's side cost, the idle leg of U ½κ.
    leg = [0.5 * kappa if flat.all() else 0.0] + [0.5 * kappa] * extra
    linear = np.concatenate([side, side, leg])
    cov = covariance(problem.volatilities, params.correlation)
    mu = np.asarray(problem.expected_returns, dtype=np.float64)
    mask, policy, eta = problem.anchor_terms(params)

    def weights(z: np.ndarray) -> np.ndarray:
        return o + z[:n] - z[n : 2 * n]

    def value_gradient(z: np.ndarray) -> np.ndarray:
        w = weights(z)
        gw = -h * (mu - 2.0 * lam * (cov @ w) - 2.0 * eta * mask * (w - policy))
        return np.concatenate([gw, -gw, np.zeros(1 + extra)]) + linear

    start = np.asarray(anchor(problem.current_bps, problem.bounds), dtype=np.float64) / BPS
    cut = o - start
    z0 = np.concatenate([np.zeros(n), cut, [cut.sum()], [cut[flat].sum()] * extra])
    # SLSQP stalls on badly scaled objectives: scale so that the gradient at the start is ~1.
    scale = 1.0 / max(float(np.max(np.abs(value_gradient(z0)))), 1e-12)

    def objective(z: np.ndarray) -> float:
        w = weights(z)
        # the flat cost is summed as it always was (old receipts replay bit for bit)
        cost = float(linear @ z) if problem.sleeve_cost_bps else kappa * 0.5 * z.sum()
        value = h * (mu @ w - lam * (w @ cov @ w) - eta * (mask @ (w - policy) ** 2)) - cost
        return float(-value * scale)

    def gradient(z: np.ndarray) -> np.ndarray:
        return value_gradient(z) * scale

    # imported here: scipy takes half a second to import, and every keeper command (status,
    # verify-decision) loads the strategy's settings, but only a rebalance plan solves
    from scipy.optimize import minimize

    result = minimize(
        objective,
        z0,
        jac=gradient,
        method="SLSQP",
        bounds=[(0.0, None)] * m,
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
