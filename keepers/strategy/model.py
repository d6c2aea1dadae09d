"""The learned strategy's model (no import-time loading; the entry point is `learned.py`):
the statistical pipeline with each sleeve's expected return predicted by a
ridge regression trained on the TRAIN market families (`python -m benchmarks.backtest.train`).

Entry point for the kit: `rebalancer.strategy: "keepers.strategy.learned:decide"`.

- `features` turns a sleeve's statistical forecast (`keepers.strategy.forecast`, robust
  estimator) and history into `FEATURES`; the model predicts the sleeve's log return over the
  next `horizon_days` (annual rate) from them; `decide` puts `exp(prediction + σ²/2) - 1` in place
  of the statistical expected return and runs the same risk-off, optimiser, bounds repair and gas
  gate (`pipeline.decide`) with the model file's `settings`.
- The weights are `models/learned.json`; its sha256 is recorded in `models/learned.json.sha256`
  and checked by `load_model` (which `learned.py` calls when imported): a file that does not
  match is refused in one line (`ModelError`, which the kit reports as "does not import"), so a
  keeper never starts on weights nobody recorded. The sha256 is part of the strategy's identity
  in every receipt (`learned.strategy_identity_extra`, read by `kit.strategy_source_hash`).

numpy only; deterministic (no clock, no randomness): same inputs, same targets.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from keepers.math import YEAR
from keepers.strategy.forecast import ForecastParams, SleeveForecast
from keepers.strategy.gate import GateParams
from keepers.strategy.inputs import StrategyInputs, StrategyParams
from keepers.strategy.optimiser import OptimiserParams
from keepers.strategy.risk import RiskOffParams
from keepers.strategy.robust import RobustParams, lognormal_mean

FORMAT: Final = "ballast-learned-model/1"
MODEL: Final = Path(__file__).parent / "models" / "learned.json"
FEATURES: Final = (
    "expected_return",  # the statistical forecast (lending: net supply yield; others: robust)
    "trend_rate",  # robust log drift of the jump-free level
    "volatility",  # noise-corrected
    "spike",  # raw short / raw long volatility - 1
    "loss_rate",  # unreversed drops per year
    "displacement",  # recent unreversed drop
    "momentum_7d",  # last 7 days' log return, annualised
    "lending",  # 1 for the lending sleeve
)


class ModelError(ValueError):
    """The model file cannot be used (one-line message)."""


@dataclass(frozen=True)
class Model:
    """Ridge weights on standardised features:
    `predict(x) = intercept + ((x - mean) / scale) · coef`."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    settings: dict[str, Any]
    sha256: str

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return self.intercept + z @ np.asarray(self.coef)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_model(path: Path = MODEL, recorded: Path | None = None) -> Model:
    """The model at `path`, after checking its sha256 against the recorded one
    (`recorded`, default `<path>.sha256`); `ModelError` in one line otherwise."""
    recorded = recorded or path.with_name(path.name + ".sha256")
    try:
        data = path.read_bytes()
        expected = recorded.read_text().split()[0].strip().lower()
    except (OSError, IndexError) as err:
        what = f"model {path.name}: cannot read it or its recorded sha256"
        raise ModelError(f"{what} ({err})") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelError(
            f"model {path.name}: sha256 {actual} is not the recorded {expected}: refusing it"
        )
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT or tuple(doc["features"]) != FEATURES:
            raise ModelError(f"model {path.name}: not a {FORMAT} file for these features")
        n = len(FEATURES)
        mean, scale, coef = (tuple(float(v) for v in doc[k]) for k in ("mean", "scale", "coef"))
        if not len(mean) == len(scale) == len(coef) == n or min(scale) <= 0:
            raise ModelError(f"model {path.name}: weights of the wrong shape")
        return Model(mean, scale, coef, float(doc["intercept"]), dict(doc["settings"]), actual)
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, ModelError):
            raise
        raise ModelError(f"model {path.name}: malformed ({err})") from None


def _momentum(timestamps: tuple[int, ...], indices: tuple[int, ...], days: int = 7) -> float:
    if len(indices) < 2:
        return 0.0
    start = timestamps[-1] - days * 86_400
    i = next((j for j, t in enumerate(timestamps) if t >= start), len(timestamps) - 1)
    i = min(i, len(timestamps) - 2)
    span = (timestamps[-1] - timestamps[i]) / YEAR
    return math.log(indices[-1] / indices[i]) / span if span > 0 else 0.0


def features(inputs: StrategyInputs, forecasts: tuple[SleeveForecast, ...]) -> np.ndarray:
    """One row of `FEATURES` per sleeve (vault order)."""
    rows = []
    for s, f in zip(inputs.sleeves, forecasts, strict=True):
        est = f.robust
        ratio = est.raw_short_volatility / est.raw_volatility if est and est.raw_volatility else 1.0
        rows.append(
            [
                f.expected_return,
                est.rate if est else 0.0,
                est.volatility if est else f.volatility,
                ratio - 1.0,
                est.loss_rate if est else 0.0,
                est.displacement if est else 0.0,
                _momentum(s.history.timestamps, s.history.indices),
                1.0 if s.lending is not None else 0.0,
            ]
        )
    return np.asarray(rows, dtype=np.float64)


def params_for(settings: dict[str, Any]) -> StrategyParams:
    """The pipeline's parameters the model file's `settings` give (keeper defaults otherwise;
    a model file written before a setting existed keeps that setting's old behaviour)."""
    base = StrategyParams()
    return StrategyParams(
        exit_rebalances=int(settings.get("exit_rebalances", 0)),
        holding_seconds=int(settings.get("holding_seconds", base.horizon_seconds)),
        forecast=replace(
            ForecastParams(),
            estimator=settings.get("estimator", "robust"),
            displacement_hazard=float(settings.get("displacement_hazard", 0.0)),
            trend_shrink=float(settings.get("trend_shrink", 0.0)),
            robust=replace(
                RobustParams(),
                confirm_seconds=int(
                    settings.get("confirm_seconds", RobustParams().confirm_seconds)
                ),
            ),
        ),
        risk=replace(RiskOffParams(), deviation_check=settings.get("deviation_check", "any")),
        optimiser=OptimiserParams(risk_aversion=float(settings.get("risk_aversion", 300.0))),
        gate=replace(GateParams(), benefit=settings.get("gate_benefit", "return")),
    )


def adjust_with(model: Model, inputs: StrategyInputs,
                forecasts: tuple[SleeveForecast, ...]) -> tuple[SleeveForecast, ...]:  # fmt: skip
    """The forecasts with the model's expected returns (a log rate, made a simple mean)."""
    predicted = model.predict(features(inputs, forecasts))
    return tuple(
        replace(f, expected_return=lognormal_mean(float(p), f.volatility), source="learned")
        for f, p in zip(forecasts, predicted, strict=True)
    )
