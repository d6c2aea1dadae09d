"""Per-path metrics, their aggregates over paths, and the issue's goals.

On a path's daily net NAV series `v_0..v_T` (gas deducted; `T` days):

- `total_return`: `v_T / v_0 - 1`; `annual_return`: `(v_T / v_0)^(365/T) - 1`;
- `sharpe`: annualised Sharpe ratio of the daily simple returns `r_t = v_t / v_{t-1} - 1` in
  excess of the risk-free rate `RISK_FREE` (0: the vault's idle cash earns nothing; every
  strategy's alternative to investing is idle), `mean(r - rf/365) / std(r) · √365` with the
  sample standard deviation; 0 for a flat series;
- `max_drawdown`: the largest fall from a running peak, `max_t (1 - v_t / max_{s<=t} v_s)`;
- `turnover`: executed turnover (`½ Σ |Δ holdings incl. idle| / NAV`), summed over the path and
  annualised; `rebalances`, `gas_units`, `gas_cost` (asset units), `trading_cost` (asset units
  the path's moves paid, benchmarks/backtest/costs.py; already in the NAV), `breaches`.

Goals (issue 10): over the paths, the strategy has the best mean Sharpe of the non-hindsight
strategies; its mean max drawdown is at most 50 % of the chaser's; its mean excess return is at
least 85 % of the hindsight-optimal's; it makes no breach. Each goal is also reported as the
share of paths on which it holds path by path.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from benchmarks.backtest.simulate import PathRun

RISK_FREE: Final = 0.0
DAYS_PER_YEAR: Final = 365
STRATEGY: Final = "strategy"
CHASER: Final = "max_apy_chaser"
HINDSIGHT: Final = "hindsight_optimal"
GOAL_DRAWDOWN_RATIO: Final = 0.5
GOAL_EXCESS_SHARE: Final = 0.85


def daily_returns(series: Sequence[float]) -> list[float]:
    return [b / a - 1.0 for a, b in zip(series, series[1:], strict=False)]


def sharpe(series: Sequence[float], risk_free: float = RISK_FREE) -> float:
    """Annualised Sharpe ratio of a daily value series (see the module docstring)."""
    r = daily_returns(series)
    if len(r) < 2:
        return 0.0
    sd = statistics.stdev(r)
    excess = statistics.fmean(r) - risk_free / DAYS_PER_YEAR
    if sd == 0.0:
        return 0.0 if excess == 0 else math.copysign(math.inf, excess)
    return excess / sd * math.sqrt(DAYS_PER_YEAR)


def max_drawdown(series: Sequence[float]) -> float:
    """The largest fall from a running peak, as a fraction of the peak (0 if never down)."""
    peak, worst = -math.inf, 0.0
    for v in series:
        peak = max(peak, v)
        if peak > 0:
            worst = max(worst, 1.0 - v / peak)
    return worst


@dataclass(frozen=True)
class PathMetrics:
    policy: str
    path_id: int
    total_return: float
    annual_return: float
    excess_return: float  # annual return over RISK_FREE
    sharpe: float
    max_drawdown: float
    turnover: float  # annualised, fractions of NAV
    rebalances: int
    gas_units: int
    gas_cost: float
    breaches: int
    trading_cost: float = 0.0


def _annualised(growth: float, days: int) -> float:
    """`growth^(365/days) - 1`: -1 when nothing is left (gas can take a tiny vault's net NAV
    below 0, where the power is not real), `inf` beyond a float (a rebound of orders of
    magnitude in a few days)."""
    if not days:
        return 0.0
    if growth <= 0:
        return -1.0
    try:
        return growth ** (DAYS_PER_YEAR / days) - 1.0
    except OverflowError:
        return math.inf


def path_metrics(run: PathRun) -> PathMetrics:
    v = run.net_nav
    days = len(v) - 1
    growth = v[-1] / v[0]
    annual = _annualised(growth, days)
    return PathMetrics(
        policy=run.policy,
        path_id=run.path_id,
        total_return=growth - 1.0,
        annual_return=annual,
        excess_return=annual - RISK_FREE,
        sharpe=sharpe(v),
        max_drawdown=max_drawdown(v),
        turnover=run.turnover * DAYS_PER_YEAR / days if days else 0.0,
        rebalances=run.rebalances,
        gas_units=run.gas_units,
        gas_cost=run.gas_cost,
        breaches=run.breaches,
        trading_cost=run.trading_cost,
    )


FIELDS: Final = (
    "total_return",
    "annual_return",
    "excess_return",
    "sharpe",
    "max_drawdown",
    "turnover",
    "rebalances",
    "gas_units",
    "gas_cost",
    "trading_cost",
    "breaches",
)


def aggregate(metrics: Sequence[PathMetrics]) -> dict[str, dict[str, float]]:
    """Mean, median, 5th and 95th percentile of each metric over paths (`breaches`: also the
    total)."""
    out: dict[str, dict[str, float]] = {}
    for name in FIELDS:
        xs = sorted(float(getattr(m, name)) for m in metrics)
        out[name] = {
            "mean": statistics.fmean(xs),
            "median": statistics.median(xs),
            "p05": _quantile(xs, 0.05),
            "p95": _quantile(xs, 0.95),
        }
    out["breaches"]["total"] = float(sum(m.breaches for m in metrics))
    return out


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    if len(sorted_xs) == 1:
        return sorted_xs[0]
    pos = q * (len(sorted_xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def goals(by_policy: Mapping[str, Sequence[PathMetrics]]) -> dict[str, Any]:
    """The issue's four goals on the aggregates, and the share of paths where each holds."""
    s, c, h = by_policy[STRATEGY], by_policy[CHASER], by_policy[HINDSIGHT]
    others = [p for p in by_policy if p not in (STRATEGY, HINDSIGHT)]
    n = len(s)

    def mean(ms: Sequence[PathMetrics], name: str) -> float:
        return statistics.fmean(getattr(m, name) for m in ms)

    best_other = max(mean(by_policy[p], "sharpe") for p in others)
    s_sharpe, s_dd, c_dd = mean(s, "sharpe"), mean(s, "max_drawdown"), mean(c, "max_drawdown")
    s_ex, h_ex = mean(s, "excess_return"), mean(h, "excess_return")
    per_path_sharpe = sum(
        all(s[i].sharpe > by_policy[p][i].sharpe for p in others) for i in range(n)
    )
    per_path_dd = sum(
        s[i].max_drawdown <= GOAL_DRAWDOWN_RATIO * c[i].max_drawdown for i in range(n)
    )
    per_path_ex = sum(
        s[i].excess_return >= GOAL_EXCESS_SHARE * h[i].excess_return for i in range(n)
    )
    breaches = sum(m.breaches for m in s)
    return {
        "best_sharpe": {
            "goal": "strategy has the best mean Sharpe of all non-hindsight strategies",
            "strategy": s_sharpe,
            "best_other": best_other,
            "met": s_sharpe > best_other,
            "share_of_paths": per_path_sharpe / n,
        },
        "drawdown_vs_chaser": {
            "goal": "strategy mean max drawdown <= 50% of the max-APY chaser's",
            "strategy": s_dd,
            "chaser": c_dd,
            "ratio": s_dd / c_dd if c_dd > 0 else None,
            "met": s_dd <= GOAL_DRAWDOWN_RATIO * c_dd,
            "share_of_paths": per_path_dd / n,
        },
        "excess_vs_hindsight": {
            "goal": "strategy mean excess return >= 85% of the hindsight-optimal's",
            "strategy": s_ex,
            "hindsight": h_ex,
            "ratio": s_ex / h_ex if h_ex > 0 else None,
            "met": s_ex >= GOAL_EXCESS_SHARE * h_ex,
            "share_of_paths": per_path_ex / n,
        },
        "no_breaches": {
            "goal": "strategy makes 0 bound breaches",
            "strategy": breaches,
            "met": breaches == 0,
            "share_of_paths": sum(m.breaches == 0 for m in s) / n,
        },
    }


def as_dict(m: PathMetrics) -> dict[str, Any]:
    return asdict(m)


__all__ = [
    "CHASER",
    "FIELDS",
    "HINDSIGHT",
    "RISK_FREE",
    "STRATEGY",
    "PathMetrics",
    "aggregate",
    "as_dict",
    "daily_returns",
    "goals",
    "max_drawdown",
    "path_metrics",
    "sharpe",
]
