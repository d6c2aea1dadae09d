"""`python -m benchmarks.backtest.train`: train the learned strategy's model
(`keepers.strategy.model`, run by `keepers.strategy.learned`) on the TRAIN families only,
reproducibly.

For each train family, `--paths-per-family` paths (seed `--seed`), every `--every` simulated days
`k` (while `k + horizon` is on the path), each sleeve gives one sample: the features
`learned.features` computes from what the keeper would read on day `k` (the same snapshot the
backtest builds, `keeper.KeeperStrategy.snapshot`, its statistical forecasts with the
selected settings) and the target, the sleeve's realised log return over the next
`--horizon-days` as an annual rate (clipped to ±`CLIP`). A ridge regression on standardised
features is fitted; its penalty is chosen among `ALPHAS` by K-fold cross-validation grouped by
path (folds by path index, no shuffling). The settings the model runs with are the statistical
winner of the train selection (`selection-train.json`, `select.py`).

Writes `keepers/strategy/models/learned.json` (numbers rounded to 12 significant digits, keys
sorted) and its sha256 to `learned.json.sha256`; prints the hash. Same arguments, same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from benchmarks.backtest.families import generate_family, split
from benchmarks.backtest.generate import SLEEVES
from benchmarks.backtest.keeper import KeeperStrategy
from benchmarks.backtest.simulate import View, default_gas, local_vault
from benchmarks.cli import OneLineParser
from keepers.jobs.rebalancer import strategy_inputs
from keepers.strategy.forecast import forecast_sleeve
from keepers.strategy.model import FEATURES, FORMAT, MODEL, params_for
from keepers.strategy.model import features as feature_rows

HERE: Final = Path(__file__).resolve().parent
ALPHAS: Final = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)
CLIP: Final = 2.0
FOLDS: Final = 4


def winner_settings(selection: Path) -> dict[str, Any]:
    """The settings of the statistical winner on train (`select.py`), as the model file keeps
    them; the keeper's defaults when there is no selection file."""
    if not selection.exists():
        return {"risk_aversion": 300.0, "displacement_hazard": 0.0, "exit_rebalances": 0}
    from benchmarks.backtest.select import CANDIDATES

    p = CANDIDATES[json.loads(selection.read_text())["winner"]]
    return {
        "estimator": p.forecast.estimator,
        "risk_aversion": p.optimiser.risk_aversion,
        "displacement_hazard": p.forecast.displacement_hazard,
        "exit_rebalances": p.exit_rebalances,
        "confirm_seconds": p.forecast.robust.confirm_seconds,
        "holding_seconds": p.holding_seconds,
        "trend_shrink": p.forecast.trend_shrink,
        "deviation_check": p.risk.deviation_check,
        "gate_benefit": p.gate.benefit,
    }


def samples(
    paths: int,
    seed: int,
    days: int,
    horizon: int,
    every: int,
    settings: dict[str, Any],
    families: Sequence[str],
) -> tuple[np.ndarray, ...]:
    """`(X, y, group)`: feature rows, targets, and the path each row came from."""
    vault = local_vault()
    gas = default_gas(vault)
    params = params_for(settings)
    xs, ys, groups = [], [], []
    for f in families:
        for i, path in enumerate(generate_family(f, paths, seed, days).paths):
            keeper = KeeperStrategy(path, vault, override=params)
            zero = tuple(0 for _ in vault.sleeves)
            for k in range(path.history_days + 1, path.length - horizon, every):
                market = gas.market(path.base_fee_gwei[k])
                view = View(path, k, vault, zero, vault.deposit, market, None)
                inputs = strategy_inputs(keeper.snapshot(view))
                fp = params.forecast
                fc = tuple(
                    forecast_sleeve(s.name, s.history, s.lending, fp) for s in inputs.sleeves
                )
                xs.append(feature_rows(inputs, fc))
                for name in SLEEVES:
                    r = math.log(path.nav[name][k + horizon] / path.nav[name][k]) * 365 / horizon
                    ys.append(max(-CLIP, min(CLIP, r)))
                    groups.append(i)
    return np.vstack(xs), np.asarray(ys), np.asarray(groups)


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, ...]:
    """`(mean, scale, coef, intercept)` of ridge regression on standardised `x`."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    z = (x - mean) / scale
    intercept = float(y.mean())
    coef = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - intercept))
    return mean, scale, coef, np.asarray(intercept)


def cross_validate(x: np.ndarray, y: np.ndarray, group: np.ndarray) -> dict[float, float]:
    """Mean squared error of each `ALPHAS` penalty, folds by path index (`group % FOLDS`)."""
    out = {}
    for alpha in ALPHAS:
        errors = []
        for fold in range(FOLDS):
            test = group % FOLDS == fold
            if test.all() or not test.any():
                continue
            mean, scale, coef, b = ridge(x[~test], y[~test], alpha)
            pred = float(b) + ((x[test] - mean) / scale) @ coef
            errors.append(float(np.mean((pred - y[test]) ** 2)))
        out[alpha] = float(np.mean(errors)) if errors else math.inf
    return out


def _round(v: float) -> float:
    return float(f"{v:.12g}")


def train(paths: int, seed: int, days: int, horizon: int, every: int, settings: dict[str, Any],
          families: Sequence[str] | None = None) -> bytes:  # fmt: skip
    """The model file's bytes."""
    fams = tuple(families or split("train"))
    x, y, group = samples(paths, seed, days, horizon, every, settings, fams)
    cv = cross_validate(x, y, group)
    alpha = min(ALPHAS, key=lambda a: (cv[a], a))
    mean, scale, coef, b = ridge(x, y, alpha)
    doc = {
        "format": FORMAT,
        "features": list(FEATURES),
        "mean": [_round(v) for v in mean],
        "scale": [_round(v) for v in scale],
        "coef": [_round(v) for v in coef],
        "intercept": _round(float(b)),
        "alpha": alpha,
        "cv_mse": {str(a): _round(v) for a, v in cv.items()},
        "settings": settings,
        "train": {
            "split": "train",
            "families": list(fams),
            "paths_per_family": paths,
            "seed": seed,
            "days": days,
            "horizon_days": horizon,
            "every_days": every,
            "samples": int(y.size),
            "target": f"next {horizon} days' log return, annual rate, clipped to ±{CLIP}",
        },
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m benchmarks.backtest.train")
    parser.add_argument("--paths-per-family", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--horizon-days", type=int, default=30)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--family", action="append", default=[], help="train families only")
    parser.add_argument("--selection", type=Path, default=HERE / "selection-train.json")
    parser.add_argument("--out", type=Path, default=MODEL)
    args = parser.parse_args(argv)
    if min(args.paths_per_family, args.days, args.horizon_days, args.every) <= 0:
        parser.fail("counts must be positive")
    wrong = [f for f in args.family if f not in split("train")]
    if wrong:
        parser.fail(f"--family {wrong[0]}: not a train family")
    if args.horizon_days >= args.days:
        parser.fail("--horizon-days must be shorter than --days")
    data = train(args.paths_per_family, args.seed, args.days, args.horizon_days, args.every,
                 winner_settings(args.selection), args.family or None)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    args.out.with_name(args.out.name + ".sha256").write_text(f"{digest}  {args.out.name}\n")
    print(f"{args.out}: sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
