"""`python -m benchmarks.backtest [--scenarios FILE] [--out results.json] [--chart PNG]
[--paths N] [--jobs N] [--set KEY=VALUE]`, or per family on a split: `--split train|test|
reference [--family NAME ...] [--paths-per-family N] [--seed S]` (benchmarks/backtest/
splits.py): see benchmarks/backtest/__init__.py and README.md."""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from benchmarks.backtest.baselines import BASELINES, STATIC_TARGET
from benchmarks.backtest.costs import parse_costs
from benchmarks.backtest.generate import MarketPath, ScenarioError, load
from benchmarks.backtest.keeper import KeeperStrategy
from benchmarks.backtest.metrics import (
    RISK_FREE,
    STRATEGY,
    PathMetrics,
    aggregate,
    as_dict,
    goals,
    path_metrics,
)
from benchmarks.backtest.simulate import (
    PathRun,
    default_gas,
    local_vault,
    simulate,
)
from benchmarks.cli import OneLineParser
from keepers.config import RebalancerConfig
from keepers.strategy import StrategyParams

HERE = Path(__file__).resolve().parent
POLICIES = (STRATEGY, *BASELINES)
# The keeper settings (`rebalancer.*`, keepers/config.py) the decision depends on; `--set`
# may change these only.
TUNABLE = (
    "horizon_seconds",
    "gain_margin",
    "min_turnover_bps",
    "risk_aversion",
    "turnover_cost_bps",
    "trading_cost_bps",
    "tail_volatility",
    "policy_mix",
    "policy_aversion",
    "history",
    "rebalance_gas",
    "drift_tolerance_bps",
    "lending_rate_cap",
)
# The backtest's departures from the keeper's defaults (README: "Strategy settings"): none;
# `--set key=value` tries others (the keeper takes them as BALLAST_KEEPER_REBALANCER__<KEY>).
BACKTEST_SETTINGS: dict[str, Any] = {}


@dataclass(frozen=True)
class PathResult:
    metrics: tuple[PathMetrics, ...]
    curves: dict[str, tuple[float, ...]]  # net NAV / start, per policy
    skipped: dict[str, int]  # the strategy's NoAction codes
    acted: dict[str, int]  # the strategy's proposals by kind
    breach_reasons: dict[str, list[str]]


def strategy_config(overrides: Mapping[str, str]) -> RebalancerConfig:
    """The keeper's `rebalancer` settings for the backtest: the keeper's defaults, then
    `BACKTEST_SETTINGS`, then `overrides` (`--set key=value`); ValueError (one line) on an
    unknown key or a value the keeper would refuse."""
    values: dict[str, Any] = dict(BACKTEST_SETTINGS)
    for key, value in overrides.items():
        if key not in TUNABLE:
            raise ValueError(f"--set {key}: not a strategy setting (one of {', '.join(TUNABLE)})")
        values[key] = value
    try:
        return RebalancerConfig.model_validate(values)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ValueError(f"--set {where}: {first['msg']}") from None


def run_path(
    path: MarketPath,
    config: RebalancerConfig | None = None,
    params: StrategyParams | None = None,
    baselines: bool = True,
    costs: tuple[float, ...] | None = None,
) -> PathResult:
    """Every policy on one path (the strategy with `config`, default `strategy_config({})`;
    `params` replaces the strategy parameters the settings give, for model selection;
    `baselines=False` runs the strategy alone; `costs`: each sleeve's trading cost in bps,
    default benchmarks/backtest/costs.py's table)."""
    vault = local_vault()
    if costs is not None:
        vault = replace(vault, trading_cost_bps=costs)
    gas = default_gas(vault)
    keeper = KeeperStrategy(path, vault, config or strategy_config({}), override=params)
    policies = [keeper] + ([make(path, vault) for make in BASELINES.values()] if baselines else [])
    runs: list[PathRun] = [simulate(path, vault, p, gas) for p in policies]
    return PathResult(
        metrics=tuple(path_metrics(r) for r in runs),
        curves={r.policy: tuple(v / r.net_nav[0] for v in r.net_nav) for r in runs},
        skipped=dict(keeper.skipped),
        acted=dict(keeper.acted),
        breach_reasons={r.policy: list(r.breach_reasons) for r in runs if r.breach_reasons},
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    head = (
        f"{'strategy':<18} {'ann.ret':>8} {'Sharpe':>7} {'maxDD':>7} {'turnover':>9} "
        f"{'rebal.':>7} {'gas $':>8} {'trade $':>8} {'breaches':>8}"
    )
    lines = [head, "-" * len(head)]
    for name, agg in summary.items():
        lines.append(
            f"{name:<18} {100 * agg['annual_return']['mean']:>7.2f}% "
            f"{agg['sharpe']['mean']:>7.2f} {100 * agg['max_drawdown']['mean']:>6.2f}% "
            f"{agg['turnover']['mean']:>8.2f}x {agg['rebalances']['mean']:>7.1f} "
            f"{agg['gas_cost']['mean'] / 1e6:>8.0f} {agg['trading_cost']['mean'] / 1e6:>8.0f} "
            f"{int(agg['breaches']['total']):>8}"
        )
    return "\n".join(lines)


def run(
    scenarios: Path,
    out: Path,
    chart: Path | None,
    limit: int | None,
    jobs: int,
    config: RebalancerConfig | None = None,
    costs: tuple[float, ...] | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    config = config or strategy_config({})
    data = load(scenarios)
    paths = data.paths[:limit] if limit else data.paths
    one = partial(run_path, config=config, costs=costs)
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, paths, chunksize=4))
    else:
        results = [one(p) for p in paths]
    by_policy: dict[str, list[PathMetrics]] = {p: [] for p in POLICIES}
    for r in results:
        for m in r.metrics:
            by_policy[m.policy].append(m)
    days = min(len(c) for r in results for c in r.curves.values())
    mean_nav = {
        p: [statistics.fmean(r.curves[p][d] for r in results) for d in range(days)]
        for p in POLICIES
    }
    skipped: Counter[str] = Counter()
    acted: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {}
    for r in results:
        skipped.update(r.skipped)
        acted.update(r.acted)
        for policy, rs in r.breach_reasons.items():
            reasons.setdefault(policy, Counter()).update(x.split(":")[0] for x in rs)
    vault = local_vault()
    if costs is not None:
        vault = replace(vault, trading_cost_bps=costs)
    gas = default_gas(vault)
    keeper = KeeperStrategy(paths[0], vault, config)
    summary = {p: aggregate(ms) for p, ms in by_policy.items()}
    elapsed = time.perf_counter() - started
    doc: dict[str, Any] = {
        "format": "ballast-backtest-results/1",
        "scenarios": {
            "file": scenarios.name,
            "sha256": _sha256(scenarios),
            "seed": data.seed,
            "paths": len(paths),
            "days": paths[0].days,
            "history_days": paths[0].history_days,
        },
        "vault": {
            "source": "deployments/config/local.yaml",
            "sleeves": list(vault.sleeves),
            "caps_bps": list(vault.caps_bps),
            "idle_buffer_bps": vault.idle_buffer_bps,
            "max_turnover_bps": vault.max_turnover_bps,
            "cooldown_seconds": vault.cooldown_seconds,
            "deposit": vault.deposit,
            "asset_decimals": vault.asset_decimals,
            "trading_cost_bps": dict(zip(vault.sleeves, vault.trading_cost_bps, strict=True)),
            "trading_cost_source": "benchmarks/backtest/costs.py (--trading-cost-bps)",
        },
        "gas": {
            "rebalance_gas": gas.gas,
            "source": "benchmarks/gas/snapshot.json (RWAVault, N sleeves: rebalance)",
            "priority_fee_wei": gas.priority_fee_wei,
            "native_price": gas.native_price,
        },
        "strategy_settings": {
            "rebalancer": {k: getattr(config, k) for k in TUNABLE},
            "changed_from_keeper_defaults": {
                k: getattr(config, k)
                for k in TUNABLE
                if getattr(config, k) != getattr(RebalancerConfig(), k)
            },
        },
        "strategy_gate_rebalance_gas": keeper.params.gate.rebalance_gas,
        "static_target_bps": STATIC_TARGET,
        "risk_free": RISK_FREE,
        "runtime_seconds": round(elapsed, 1),
        "summary": summary,
        "goals": goals(by_policy),
        "strategy_proposals": dict(sorted(acted.items())),
        "strategy_skips": dict(sorted(skipped.items())),
        "breach_reasons": {p: dict(c) for p, c in reasons.items()},
        "strategy_refusals": _refusals(results),
        "mean_net_nav": {p: [round(v, 6) for v in c] for p, c in mean_nav.items()},
        "paths": [as_dict(m) for r in results for m in r.metrics],
    }
    out.write_text(json.dumps(doc, indent=1) + "\n")
    if chart is not None:
        from benchmarks.backtest.chart import render

        title = f"Ballast backtest: {len(paths)} paths x {paths[0].days} days ({scenarios.name})"
        render(chart, mean_nav, by_policy, title)
    return doc


def _refusals(results: Sequence[PathResult]) -> dict[str, Any]:
    """The strategy's proposals the kit refused (each a breach): how many, and the first reason."""
    refused = [
        x.removeprefix("refused: ")
        for r in results
        for x in r.breach_reasons.get("strategy", ())
        if x.startswith("refused: ")
    ]
    return {"count": len(refused), "first": refused[0]} if refused else {"count": 0}


def unwritable(path: Path | None) -> str | None:
    """Why the results (or chart) could not be written at `path`, or None when they could."""
    if path is None:
        return None
    if path.is_dir():
        return "is a folder"
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m benchmarks.backtest",
        description="Backtest the keepers' strategy against baselines on generated scenarios.",
    )
    parser.add_argument("--scenarios", type=Path, default=HERE / "scenarios-200.json.gz")
    parser.add_argument("--out", type=Path, default=None, help="default: results[-SPLIT].json")
    parser.add_argument("--chart", type=Path, default=None, help="default: <out>.png")
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument("--paths", type=int, default=None, help="only the first N paths")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"a keeper rebalancer setting for the strategy ({', '.join(TUNABLE)})",
    )
    parser.add_argument(
        "--strategy",
        default=None,
        metavar="MODULE:FUNCTION",
        help="an agent operator's strategy (keepers.strategy.kit) instead of the built-in one",
    )
    parser.add_argument(
        "--trading-cost-bps",
        action="append",
        default=[],
        metavar="[SLEEVE=]BPS",
        help="trading cost charged to every policy (default: benchmarks/backtest/costs.py)",
    )
    parser.add_argument("--split", default=None, help="train, test or reference: per family")
    parser.add_argument("--family", action="append", default=[], help="only these (--split)")
    parser.add_argument("--paths-per-family", type=int, default=10, help="with --split")
    parser.add_argument("--seed", type=int, default=1, help="the families' seed (--split)")
    parser.add_argument("--days", type=int, default=365, help="the families' days (--split)")
    args = parser.parse_args(argv)
    if (args.paths is not None and args.paths <= 0) or args.jobs <= 0:
        parser.fail("--paths and --jobs must be positive")
    if args.paths_per_family <= 0 or args.days <= 0:
        parser.fail("--paths-per-family and --days must be positive")
    if args.family and args.split is None:
        parser.fail("--family needs --split")
    if args.split is not None:
        from benchmarks.backtest import splits

        try:
            names = splits.split_families(args.split, args.family)
        except ValueError as e:
            parser.fail(f"{e}")
    default_out = "results.json" if args.split is None else f"results-{args.split}.json"
    out = args.out or HERE / default_out
    chart = None if args.no_chart else (args.chart or out.with_suffix(".png"))
    for option, path in (("--out", out), ("--chart", chart)):
        problem = unwritable(path)
        if problem:  # before the run, which takes minutes on the committed paths
            parser.fail(f"{option} {path}: {problem}", 1)
    try:
        pairs = [item.split("=", 1) for item in args.set]
        if any(len(p) != 2 for p in pairs):
            raise ValueError("--set takes KEY=VALUE")
        config = strategy_config(dict(pairs))
        costs = parse_costs(args.trading_cost_bps, local_vault().sleeves)
        if args.strategy is not None:
            from keepers.strategy.kit import load_strategy

            load_strategy(args.strategy)  # one line when it does not import
            config = config.model_copy(update={"strategy": args.strategy})
    except ValueError as e:
        parser.fail(f"{e}")
    if args.split is not None:
        doc = splits.run_split(
            args.split,
            args.family,
            args.paths_per_family,
            args.seed,
            args.jobs,
            config,
            out,
            args.days,
            costs,
        )
        print(splits.table(doc))
        print("\n".join(splits.goal_lines(doc)))
        n = len(names) * args.paths_per_family
        print(f"{args.split}: {n} paths in {doc['runtime_seconds']} s -> {out}")
        return 0
    try:
        doc = run(args.scenarios, out, chart, args.paths, args.jobs, config, costs)
    except ScenarioError as e:
        parser.fail(f"{e}", 1)
    except OSError as e:
        parser.fail(f"{e.filename or ''}: {e.strerror or e}", 1)
    print(_table(doc["summary"]))
    refusals = doc["strategy_refusals"]
    if refusals["count"]:
        print(
            f"strategy: {refusals['count']} proposals refused, each a breach (the keeper would "
            f"send none of them); the first: {refusals['first']}"
        )
    for name, g in doc["goals"].items():
        status = "met" if g["met"] else "MISSED"
        print(f"goal {name}: {status} (holds on {100 * g['share_of_paths']:.0f}% of paths)")
    where = f", chart {chart}" if chart else ""
    print(f"{doc['scenarios']['paths']} paths in {doc['runtime_seconds']} s -> {out}{where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
