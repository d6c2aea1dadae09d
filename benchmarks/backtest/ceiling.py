"""`python -m benchmarks.backtest.ceiling [--split test|train|reference] [--paths-per-family N]
[--model-paths M] [--seed S] [--jobs N] [--out FILE]`: how much of the hindsight mix's excess
return a policy that knows the market model, but not the path, can keep.

The issue's goal measures the strategy against `hindsight_optimal`, the best constant mix of
each path *after* the path is known (baselines.py). This asks what that goal is worth: the
`model_optimal` policy knows each family's market model exactly, as no forecaster can. Its
ideal is the constant mix with the highest *expected* return under the model: the same greedy
fill as the hindsight mix (exact for the linear programme `max Σ w_i E[R_i]`, under the same
caps and buffer), by each sleeve's mean return over the run (`E[R_i]`, simple, as the report's
mean annual return) over `M` paths of the family drawn with another seed
(`S + MODEL_SEED_OFFSET`, never the reported paths; the base model's for `reference`). On one
path the order by return is the hindsight mix's order by log growth; over many it is not: a
volatile sleeve's mean return exceeds its mean log growth by about half its variance. It is
then run, as every baseline is, on the reported paths (the split's seed `S`, as `python -m
benchmarks.backtest --split`), beside the hindsight mix and the static target.

Its share of the hindsight mix's excess return is the ceiling of constant mixes, however they
were chosen, up to what the linear programme leaves out (the simulator rebalances a drifting
mix, charges trading costs and gas): a policy passes it by foreseeing which sleeve ends *this*
year best, or by reacting within the year better than a constant mix.
Beside it run the constant mixes a selection on the train families alone would pick, from all
train families' model paths pooled: `train_mix` by their mean return (as `model_optimal`) and
`train_growth_mix` by their mean log growth (the growth-optimal, Kelly, criterion): what a
fixed allocation chosen honestly, without the reported family's model, keeps out of sample (on
the train split itself they are in sample).
The reported figures are in benchmarks/backtest/README.md ("What the hindsight goal is worth").
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Final

from benchmarks.backtest.baselines import (
    FixedMix,
    fill,
    hindsight_optimal,
    realised_growth,
    static_target,
)
from benchmarks.backtest.generate import generate
from benchmarks.backtest.metrics import HINDSIGHT, PathMetrics, path_metrics
from benchmarks.backtest.scenario import MarketPath
from benchmarks.backtest.simulate import Vault, default_gas, local_vault, simulate
from benchmarks.backtest.splits import (
    REFERENCE,
    SPLIT_NAMES,
    family_paths,
    policy_rows,
    split_families,
)
from benchmarks.cli import OneLineParser
from keepers.math import BPS

MODEL: Final = "model_optimal"
TRAIN_MIX: Final = "train_mix"
TRAIN_GROWTH_MIX: Final = "train_growth_mix"
STATIC: Final = "static_target"
MODEL_SEED_OFFSET: Final = 1_000  # the model's paths: another seed than every reported run's


def _mean_over(paths: Sequence[MarketPath], of: Callable[[float], float]) -> dict[str, float]:
    """Each sleeve's mean of `of(g)` over `paths`, `g` its realised log growth over the run."""
    if not paths:
        raise ValueError("the model needs at least one path")
    per = [realised_growth(p) for p in paths]
    return {n: statistics.fmean(of(g[n]) for g in per) for n in per[0]}


def model_return(paths: Sequence[MarketPath]) -> dict[str, float]:
    """Each sleeve's mean return over the run on `paths` (`e^g - 1`): its expected return under
    their model."""
    return _mean_over(paths, math.expm1)


def model_growth(paths: Sequence[MarketPath]) -> dict[str, float]:
    """Each sleeve's mean log growth over the run on `paths`."""
    return _mean_over(paths, lambda g: g)


def model_mix(growth: Mapping[str, float], vault: Vault) -> tuple[int, ...]:
    """The constant mix with the highest expected return: sleeves that gain filled to their caps
    in order of `growth` (expected returns), until the investable share (`1e4 - idle buffer`)
    is used."""
    names = vault.sleeves
    order = sorted(
        (i for i, n in enumerate(names) if growth[n] > 0), key=lambda i: -growth[names[i]]
    )
    return fill(order, vault.caps_bps, BPS - vault.idle_buffer_bps)


def model_paths(group: str, count: int, seed: int, days: int) -> tuple[MarketPath, ...]:
    """`count` paths of `group`'s market model drawn with the model's own seed."""
    model_seed = seed + MODEL_SEED_OFFSET
    if group == REFERENCE:
        return generate(count, model_seed).paths
    return family_paths(group, count, model_seed, days)


def _run(
    task: tuple[MarketPath, tuple[int, ...], tuple[int, ...], tuple[int, ...]],
) -> list[PathMetrics]:
    path, mix, train, train_growth = task
    vault = local_vault()
    gas = default_gas(vault)
    policies = [
        FixedMix(MODEL, mix),
        FixedMix(TRAIN_MIX, train),
        FixedMix(TRAIN_GROWTH_MIX, train_growth),
        hindsight_optimal(path, vault),
        static_target(path, vault),
    ]
    return [path_metrics(simulate(path, vault, p, gas)) for p in policies]


def ceiling(
    split_name: str, paths: int, model_count: int, seed: int, jobs: int, days: int = 365
) -> dict[str, Any]:
    """The model-optimal mix of every group (family, or the committed file) of `split_name`
    and its share of the hindsight mix's excess return on the reported paths."""
    started = time.perf_counter()
    vault = local_vault()
    groups = split_families(split_name)
    mixes: dict[str, tuple[int, ...]] = {}
    expected: dict[str, dict[str, float]] = {}
    tasks: list[tuple[str, MarketPath]] = []
    pooled = [p for g in split_families("train") for p in model_paths(g, model_count, seed, days)]
    train_mix = model_mix(model_return(pooled), vault)
    train_growth_mix = model_mix(model_growth(pooled), vault)
    for g in groups:
        expected[g] = model_return(model_paths(g, model_count, seed, days))
        mixes[g] = model_mix(expected[g], vault)
        tasks += [(g, p) for p in family_paths(g, paths, seed, days)]
    work = [(p, mixes[g], train_mix, train_growth_mix) for g, p in tasks]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_run, work, chunksize=4))
    else:
        results = [_run(w) for w in work]
    names = (MODEL, TRAIN_MIX, TRAIN_GROWTH_MIX, HINDSIGHT, STATIC)
    per: dict[str, dict[str, list[PathMetrics]]] = {g: {n: [] for n in names} for g in groups}
    overall: dict[str, list[PathMetrics]] = {n: [] for n in names}
    for (g, _), ms in zip(tasks, results, strict=True):
        for m in ms:
            per[g][m.policy].append(m)
            overall[m.policy].append(m)
    return {
        "format": "ballast-backtest-ceiling/1",
        "split": split_name,
        "paths_per_family": paths,
        "model_paths": model_count,
        "seed": seed,
        "model_seed": seed + MODEL_SEED_OFFSET,
        "days": days,
        "train_mix_bps": dict(zip(vault.sleeves, train_mix, strict=True)),
        "train_growth_mix_bps": dict(zip(vault.sleeves, train_growth_mix, strict=True)),
        "runtime_seconds": round(time.perf_counter() - started, 1),
        "per_family": {
            g: {
                "model_return": {n: round(v, 6) for n, v in expected[g].items()},
                "model_mix_bps": dict(zip(vault.sleeves, mixes[g], strict=True)),
                "policies": policy_rows(per[g]),
            }
            for g in groups
        },
        "overall": {"policies": policy_rows(overall)},
    }


def _cell(row: Mapping[str, Any]) -> str:
    """`return % (share of hindsight %)`."""
    share = row["share_of_hindsight"]
    pct = "-" if share is None or math.isnan(share) else f"{100 * share:.0f} %"
    return f"{100 * row['annual_return']:.2f} % ({pct})"


def table(doc: Mapping[str, Any]) -> str:
    head = (
        f"{'family':<18} {'model mix (bps)':<20} {'model':>14} {'train mix':>15} "
        f"{'train growth mix':>17} {'hindsight':>10} {'static':>14}"
    )
    lines = [head, "-" * len(head)]
    rows = [*doc["per_family"].items(), ("all", doc["overall"])]
    for g, rep in rows:
        p = rep["policies"]
        mix = "/".join(str(v) for v in rep.get("model_mix_bps", {}).values())
        lines.append(
            f"{g:<18} {mix:<20} {_cell(p[MODEL]):>14} {_cell(p[TRAIN_MIX]):>15} "
            f"{_cell(p[TRAIN_GROWTH_MIX]):>17} {100 * p[HINDSIGHT]['annual_return']:>8.2f} % "
            f"{_cell(p[STATIC]):>14}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m benchmarks.backtest.ceiling",
        description="The share of the hindsight mix a policy knowing the market model keeps.",
    )
    parser.add_argument("--split", choices=SPLIT_NAMES, default="test")
    parser.add_argument("--paths-per-family", type=int, default=8)
    parser.add_argument("--model-paths", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    for flag, value in (("--paths-per-family", args.paths_per_family),
                        ("--model-paths", args.model_paths), ("--jobs", args.jobs)):  # fmt: skip
        if value < 1:
            parser.error(f"{flag} must be at least 1, got {value}")
    try:
        doc = ceiling(args.split, args.paths_per_family, args.model_paths, args.seed, args.jobs)
    except ValueError as e:
        parser.fail(str(e))
    print(table(doc))
    train = "/".join(str(v) for v in doc["train_mix_bps"].values())
    growth = "/".join(str(v) for v in doc["train_growth_mix_bps"].values())
    print(
        f"({doc['runtime_seconds']} s; model: {doc['model_paths']} paths per family, seed "
        f"{doc['model_seed']}; train mix {train}, train growth mix {growth}; reported: "
        f"{doc['paths_per_family']} per family, seed {doc['seed']}; cells: mean annual return "
        "(share of hindsight))"
    )
    if args.out is not None:
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
