"""`python -m benchmarks.backtest --split train|test|reference [--family NAME ...]
[--paths-per-family N] [--seed S] [--jobs N]`: every policy on the families of a split, reported
per family (README: "Families and the train/test split").

`train` and `test` generate `N` paths of each family in memory (`families.generate_family`,
seed `S`); `reference` is the committed `scenarios-200.json.gz` (its first `N` paths), kept apart
from both. Settings are chosen on `train`; `test` and `reference` are reported, never tuned on.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Final

from benchmarks.backtest.families import SPLITS, family, generate_family, split
from benchmarks.backtest.generate import load
from benchmarks.backtest.metrics import HINDSIGHT, STRATEGY, PathMetrics, aggregate, goals
from benchmarks.backtest.scenario import MarketPath, Scenarios, to_json
from keepers.config import RebalancerConfig

REFERENCE: Final = "reference"
SPLIT_NAMES: Final = (*SPLITS, REFERENCE)
HERE: Final = Path(__file__).resolve().parent


def split_families(name: str, only: Sequence[str] = ()) -> tuple[str, ...]:
    """The families of split `name` (or `only`, each of which must belong to it); ValueError
    (one line) on an unknown split or family, or a family of another split."""
    if name == REFERENCE:
        if only:
            raise ValueError("--family: the reference split is the committed file, no families")
        return (REFERENCE,)
    names = split(name)
    for f in only:
        family(f)
        if f not in names:
            raise ValueError(f"--family {f}: not in the {name} split ({', '.join(names)})")
    return tuple(only) or names


def family_paths(name: str, paths: int, seed: int, days: int = 365) -> tuple[MarketPath, ...]:
    if name == REFERENCE:
        return load(HERE / "scenarios-200.json.gz").paths[:paths]
    return generate_family(name, paths, seed, days).paths


def paths_sha256(paths: Sequence[MarketPath]) -> str:
    """A fingerprint of the paths run (their scenario JSON), to show a rerun saw the same."""
    doc = to_json(Scenarios(None, {}, tuple(paths)))["paths"]
    return hashlib.sha256(json.dumps(doc, separators=(",", ":")).encode()).hexdigest()


def report(by_policy: dict[str, list[PathMetrics]]) -> dict[str, Any]:
    """Per policy (`policy_rows`), and the issue's goals."""
    return {"policies": policy_rows(by_policy), "goals": goals(by_policy)}


def policy_rows(by_policy: Mapping[str, Sequence[PathMetrics]]) -> dict[str, dict[str, Any]]:
    """Per policy: mean annual return, Sharpe, max drawdown, share of the hindsight mix's
    excess return, turnover, gas (asset units a year), trading cost, rebalances, breaches."""
    h = statistics.fmean(m.excess_return for m in by_policy[HINDSIGHT])
    rows = {}
    for policy, ms in by_policy.items():
        agg = aggregate(ms)
        ex = agg["excess_return"]["mean"]
        rows[policy] = {
            "annual_return": agg["annual_return"]["mean"],
            "sharpe": agg["sharpe"]["mean"],
            "max_drawdown": agg["max_drawdown"]["mean"],
            "share_of_hindsight": ex / h if h > 0 else None,
            "turnover": agg["turnover"]["mean"],
            "gas_cost": agg["gas_cost"]["mean"],
            "trading_cost": agg["trading_cost"]["mean"],
            "rebalances": agg["rebalances"]["mean"],
            "breaches": int(agg["breaches"]["total"]),
        }
    return rows


def run_split(
    name: str,
    only: Sequence[str],
    paths: int,
    seed: int,
    jobs: int,
    config: RebalancerConfig,
    out: Path,
    days: int = 365,
    costs: tuple[float, ...] | None = None,
) -> dict[str, Any]:
    from benchmarks.backtest.__main__ import POLICIES, TUNABLE, run_path
    from benchmarks.backtest.simulate import local_vault

    started = time.perf_counter()
    names = split_families(name, only)
    tasks = [(f, p) for f in names for p in family_paths(f, paths, seed, days)]
    one = partial(run_path, config=config, costs=costs)
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, [p for _, p in tasks], chunksize=2))
    else:
        results = [one(p) for _, p in tasks]
    per: dict[str, dict[str, list[PathMetrics]]] = {f: {p: [] for p in POLICIES} for f in names}
    overall: dict[str, list[PathMetrics]] = {p: [] for p in POLICIES}
    for (f, _), r in zip(tasks, results, strict=True):
        for m in r.metrics:
            per[f][m.policy].append(m)
            overall[m.policy].append(m)
    doc = {
        "format": "ballast-backtest-split/1",
        "split": name,
        "families": list(names),
        "paths_per_family": paths,
        "seed": None if name == REFERENCE else seed,
        "days": days,
        "strategy_settings": {k: getattr(config, k) for k in TUNABLE},
        "trading_cost_bps": dict(
            zip(local_vault().sleeves, costs or local_vault().trading_cost_bps, strict=True)
        ),
        "runtime_seconds": round(time.perf_counter() - started, 1),
        "paths_sha256": {f: paths_sha256([p for g, p in tasks if g == f]) for f in names},
        "per_family": {f: report(per[f]) for f in names},
        "overall": report(overall),
    }
    out.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def table(doc: dict[str, Any]) -> str:
    """A Markdown table: one row per family and policy."""
    lines = [
        "| family | policy | annual return | Sharpe | max drawdown | share of hindsight "
        "| turnover / yr | gas / yr (mUSDC) | trading cost / yr (mUSDC) | breaches |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = list(doc["per_family"].items()) + [("**all**", doc["overall"])]
    for f, rep in rows:
        for policy, r in rep["policies"].items():
            share = r["share_of_hindsight"]
            lines.append(
                f"| {f} | `{policy}` | {100 * r['annual_return']:.2f} % | {r['sharpe']:.2f} "
                f"| {100 * r['max_drawdown']:.2f} % "
                f"| {'—' if share is None else f'{100 * share:.0f} %'} "
                f"| {r['turnover']:.2f}× | {r['gas_cost'] / 1e6:,.0f} "
                f"| {r.get('trading_cost', 0.0) / 1e6:,.0f} | {r['breaches']} |"
            )
    return "\n".join(lines)


def goal_lines(doc: dict[str, Any]) -> list[str]:
    out = []
    for f, rep in [*doc["per_family"].items(), ("all", doc["overall"])]:
        p = rep["policies"]
        s, st = p[STRATEGY], p["static_target"]
        met = [g for g, v in rep["goals"].items() if v["met"]]
        out.append(
            f"{f}: strategy vs static target: return {100 * s['annual_return']:.2f} % vs "
            f"{100 * st['annual_return']:.2f} %, Sharpe {s['sharpe']:.2f} vs {st['sharpe']:.2f}; "
            f"goals met: {', '.join(met) or 'none'}"
        )
    return out
