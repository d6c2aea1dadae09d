"""Scenario generator and the JSON scenario format (documented in benchmarks/backtest/README.md).

A path is a seeded daily market for the local deployment's four sleeves (tbill, gold, invoices,
lending; deployments/config/local.yaml): `history_days` days the keeper watched before the run
(as the demo's 60), then `days` simulated days. Its ingredients:

- regimes: a two-state Markov chain (calm, stress); stress raises volatility, crash, freeze and
  default odds, borrower demand and gas prices;
- yield drift: the T-bill rate follows a mean-reverting walk around a per-path level that
  drifts linearly over the path; invoices pay the T-bill rate plus a mean-reverting spread;
- volatility clusters: gold's daily variance is GARCH(1,1), with a regime drift;
- price crashes: gold drops 8-30 % on a crash day (and the lending book may take a
  default then); invoices take 1-5 % mark-downs (credit events);
- issuer redemption freezes: tbill and invoices issuers pause redemptions for days at a time;
- borrower defaults: the lending book loses 0.3-2 % of its assets on a default day; its
  utilization (hence the supply rate, with the local rate model) and its borrowers' median
  health factor are series too;
- the base fee (gwei) of the day's blocks.

`generate(paths, seed)` is deterministic: path `i` draws from `numpy.random.default_rng([seed,
i])`, so a path does not depend on how many others are generated.

    python -m benchmarks.backtest.generate --paths 200 --seed 1 --out scenarios.json.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from keepers.math import RateModel

FORMAT: Final = "ballast-backtest-scenarios/1"
DAY_SECONDS: Final = 86_400
SLEEVES: Final = ("tbill", "gold", "invoices", "lending")
RWA: Final = ("tbill", "gold", "invoices")
FREEZABLE: Final = ("tbill", "invoices")
LENDING: Final = "lending"
# lend.rate.* of deployments/config/local.yaml: 0 % base, 4 % slope to the 80 % kink, then 60 %.
RATE_MODEL: Final = RateModel(base_bps=0, slope1_bps=400, slope2_bps=6_000, kink_bps=8_000)
WAD: Final = 10**18


class ScenarioError(ValueError):
    """A scenario file that does not follow the format (one-line message)."""


@dataclass(frozen=True)
class GeneratorParams:
    """Knobs of the market model (daily probabilities unless said otherwise)."""

    history_days: int = 60
    days: int = 365
    calm_to_stress: float = 1 / 150
    stress_to_calm: float = 1 / 30
    gold_vol: float = 0.15  # long-run annual volatility in calm
    gold_drift: tuple[float, float] = (0.10, -0.10)  # annual drift (calm, stress)
    stress_vol_factor: float = 1.8
    crash_odds: tuple[float, float] = (1 / 3_000, 1 / 250)
    freeze_odds: tuple[float, float] = (1 / 1_200, 1 / 120)
    markdown_odds: tuple[float, float] = (1 / 3_000, 1 / 200)
    default_odds: tuple[float, float] = (1 / 1_500, 1 / 120)
    utilization_mean: tuple[float, float] = (0.79, 0.87)
    base_fee_gwei: tuple[float, float] = (12.0, 25.0)

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class MarketPath:
    """One generated market. Day `k` runs over `0..history_days + days` (the run starts at
    `k = history_days`); every series has `history_days + days + 1` entries.

    `nav`: each sleeve's index (its `returnIndex`, 1.0 at `k = 0`; the lending index is the
    supply index net of default losses); `apy`: the stated annual yield of tbill and invoices
    and the lending supply rate, in force from day `k` to `k + 1`; `frozen`: `[start, end)` day
    intervals during which the issuer redeems nothing; `utilization`, `health`: the lending
    book's utilization and its borrowers' median health factor; `defaults`: `(day, fraction of
    the book lost)`; `crashes`: `(day, drop)` of gold (informational, already in `nav`);
    `stress`: `[start, end)` intervals of the stress regime; `base_fee_gwei`: the day's base
    fee."""

    id: int
    history_days: int
    days: int
    nav: Mapping[str, tuple[float, ...]]
    apy: Mapping[str, tuple[float, ...]]
    frozen: Mapping[str, tuple[tuple[int, int], ...]]
    utilization: tuple[float, ...]
    health: tuple[float, ...]
    defaults: tuple[tuple[int, float], ...]
    crashes: tuple[tuple[int, float], ...]
    stress: tuple[tuple[int, int], ...]
    base_fee_gwei: tuple[float, ...]

    @property
    def length(self) -> int:
        """Number of entries of every series: `history_days + days + 1`."""
        return self.history_days + self.days + 1

    def is_frozen(self, sleeve: str, day: int) -> bool:
        """The sleeve's issuer redeems nothing on `day`."""
        return any(a <= day < b for a, b in self.frozen.get(sleeve, ()))


@dataclass(frozen=True)
class Scenarios:
    seed: int | None
    params: Mapping[str, Any]
    paths: tuple[MarketPath, ...]


def supply_rate(utilization: float) -> float:
    """The book's annual supply rate at `utilization`: `borrowRate(u) · u` (no reserve)."""
    cash, debt = round((1 - utilization) * 10**12), round(utilization * 10**12)
    return RATE_MODEL.borrow_rate(cash, debt) / WAD * utilization


def _intervals(flags: np.ndarray) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    start = None
    for k, f in enumerate(flags):
        if f and start is None:
            start = k
        elif not f and start is not None:
            out.append((start, k))
            start = None
    if start is not None:
        out.append((start, len(flags)))
    return tuple(out)


def generate_path(index: int, seed: int, params: GeneratorParams) -> MarketPath:
    """Path `index` of the family `seed` (see the module docstring)."""
    rng = np.random.default_rng([seed, index])
    n = params.history_days + params.days + 1
    stress = np.zeros(n, dtype=bool)
    stress[0] = rng.random() < 0.15
    for k in range(1, n):
        flip = params.stress_to_calm if stress[k - 1] else params.calm_to_stress
        stress[k] = (not stress[k - 1]) if rng.random() < flip else stress[k - 1]
    s = stress.astype(int)

    # yields: T-bill rate around a drifting level; invoices: T-bill + spread; lending: u.
    level, slope = rng.uniform(0.025, 0.055), rng.uniform(-0.015, 0.015)
    tbill_apy, spread, util = np.empty(n), np.empty(n), np.empty(n)
    tbill_apy[0], spread[0] = level, 0.035
    util[0] = params.utilization_mean[s[0]]
    for k in range(1, n):
        target = level + slope * k / 365
        tbill_apy[k] = tbill_apy[k - 1] + 0.02 * (target - tbill_apy[k - 1])
        tbill_apy[k] += 0.0004 * rng.standard_normal()
        spread[k] = spread[k - 1] + 0.03 * (0.035 + 0.02 * s[k] - spread[k - 1])
        spread[k] += 0.0006 * rng.standard_normal()
        util[k] = util[k - 1] + 0.05 * (params.utilization_mean[s[k]] - util[k - 1])
        util[k] += 0.012 * rng.standard_normal()
    tbill_apy = np.clip(tbill_apy, 0.002, 0.09)
    inv_apy = np.clip(tbill_apy + spread, 0.005, 0.2)
    util = np.clip(util, 0.2, 0.97)
    lend_apy = np.array([supply_rate(float(u)) for u in util])

    # gold: GARCH(1,1) variance, regime drift, crashes.
    daily_var = (params.gold_vol / math.sqrt(365)) ** 2
    alpha, beta = 0.08, 0.90
    omega = daily_var * (1 - alpha - beta)
    gold = np.empty(n)
    gold[0] = 1.0
    h, crashes = daily_var, []
    for k in range(1, n):
        shock = math.sqrt(h) * rng.standard_normal()  # GARCH innovation
        scale = params.stress_vol_factor if s[k] else 1.0
        step = params.gold_drift[s[k]] / 365 + scale * shock - 0.5 * (scale**2) * h
        if rng.random() < params.crash_odds[s[k]]:
            drop = float(rng.uniform(0.08, 0.30))
            crashes.append((k, round(drop, 4)))
            step += math.log1p(-drop)
            h = 4 * daily_var
        else:
            h = omega + alpha * shock**2 + beta * h
        gold[k] = gold[k - 1] * math.exp(step)
    crashed = {k for k, _ in crashes}

    # freezes, mark-downs, defaults.
    frozen: dict[str, tuple[tuple[int, int], ...]] = {}
    for name, mean_days in (("tbill", 5), ("invoices", 10)):
        flags = np.zeros(n, dtype=bool)
        k = 0
        while k < n:
            if rng.random() < params.freeze_odds[s[k]]:
                length = 2 + int(rng.geometric(1 / mean_days))
                flags[k : k + length] = True
                k += length
            k += 1
        frozen[name] = _intervals(flags)
    tbill, inv, lend = np.empty(n), np.empty(n), np.empty(n)
    tbill[0] = inv[0] = lend[0] = 1.0
    defaults = []
    for k in range(1, n):
        tbill[k] = tbill[k - 1] * math.exp(
            math.log1p(tbill_apy[k - 1]) / 365 + 0.00005 * rng.standard_normal()
        )
        markdown = 0.0
        if rng.random() < params.markdown_odds[s[k]]:
            markdown = float(rng.uniform(0.01, 0.05))
        inv[k] = (
            inv[k - 1]
            * (1 - markdown)
            * math.exp(math.log1p(inv_apy[k - 1]) / 365 + 0.0002 * rng.standard_normal())
        )
        odds = 0.4 if k in crashed else params.default_odds[s[k]]
        loss = float(rng.uniform(0.003, 0.02)) if rng.random() < odds else 0.0
        if loss:
            defaults.append((k, round(loss, 5)))
            loss = round(loss, 5)
        lend[k] = lend[k - 1] * (1 + lend_apy[k - 1] / 365) * (1 - loss)

    # borrowers' median health: a stress-dependent base, moved by gold against its 30-day mean.
    health = np.empty(n)
    base, mean = 1.6, 1.0
    for k in range(n):
        base += 0.05 * ((1.35 if s[k] else 1.6) - base) + 0.01 * rng.standard_normal()
        mean += (gold[k] - mean) / 30 if k else 0.0
        health[k] = max(base * (1 + (gold[k] / mean - 1) / 3), 0.5)

    fee = np.empty(n)
    x = math.log(params.base_fee_gwei[s[0]])
    for k in range(n):
        x += 0.2 * (math.log(params.base_fee_gwei[s[k]]) - x) + 0.35 * rng.standard_normal()
        fee[k] = math.exp(x)

    def r(a: np.ndarray, digits: int) -> tuple[float, ...]:
        return tuple(round(float(v), digits) for v in a)

    return MarketPath(
        id=index,
        history_days=params.history_days,
        days=params.days,
        nav={
            "tbill": r(tbill, 7),
            "gold": r(gold, 6),
            "invoices": r(inv, 7),
            "lending": r(lend, 7),
        },
        apy={"tbill": r(tbill_apy, 5), "invoices": r(inv_apy, 5), "lending": r(lend_apy, 5)},
        frozen=frozen,
        utilization=r(util, 4),
        health=r(health, 3),
        defaults=tuple(defaults),
        crashes=tuple(crashes),
        stress=_intervals(stress),
        base_fee_gwei=r(fee, 2),
    )


def generate(paths: int, seed: int, params: GeneratorParams | None = None) -> Scenarios:
    """`paths` paths of the family `seed`."""
    if paths <= 0:
        raise ValueError("the number of paths must be positive")
    p = params or GeneratorParams()
    return Scenarios(seed, p.as_dict(), tuple(generate_path(i, seed, p) for i in range(paths)))


# ------------------------------------------------------------------------------ JSON format


def to_json(scenarios: Scenarios) -> dict[str, Any]:
    """The document (README: "Scenario format")."""
    return {
        "format": FORMAT,
        "seed": scenarios.seed,
        "generator": dict(scenarios.params),
        "day_seconds": DAY_SECONDS,
        "sleeves": list(SLEEVES),
        "paths": [
            {
                "id": p.id,
                "history_days": p.history_days,
                "days": p.days,
                "nav": {k: list(v) for k, v in p.nav.items()},
                "apy": {k: list(v) for k, v in p.apy.items()},
                "frozen": {k: [list(i) for i in v] for k, v in p.frozen.items()},
                "utilization": list(p.utilization),
                "health": list(p.health),
                "defaults": [list(d) for d in p.defaults],
                "crashes": [list(c) for c in p.crashes],
                "stress": [list(i) for i in p.stress],
                "base_fee_gwei": list(p.base_fee_gwei),
            }
            for p in scenarios.paths
        ],
    }


def _series(doc: Mapping[str, Any], key: str, n: int, where: str, positive: bool) -> tuple:
    values = doc.get(key)
    if not isinstance(values, list) or len(values) != n:
        raise ScenarioError(f"{where}.{key}: expected a list of {n} numbers")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ScenarioError(f"{where}.{key}: {v!r} is not a finite number")
        if positive and v <= 0:
            raise ScenarioError(f"{where}.{key}: {v!r} is not positive")
        out.append(float(v))
    return tuple(out)


def _pairs(values: Any, where: str, kind: type) -> tuple[tuple[int, Any], ...]:
    if not isinstance(values, list):
        raise ScenarioError(f"{where}: expected a list of pairs")
    out = []
    for v in values:
        ok = isinstance(v, list) and len(v) == 2 and type(v[0]) is int
        accepted = (int, float) if kind is float else (kind,)
        if not ok or isinstance(v[1], bool) or not isinstance(v[1], accepted):
            raise ScenarioError(f"{where}: {v!r} is not a [day, {kind.__name__}] pair")
        out.append((v[0], kind(v[1])))
    return tuple(out)


def _path(doc: Any, i: int) -> MarketPath:
    where = f"paths[{i}]"
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where}: expected an object")
    h, d = doc.get("history_days"), doc.get("days")
    if not isinstance(h, int) or not isinstance(d, int) or h < 2 or d < 1:
        raise ScenarioError(f"{where}: history_days (>= 2) and days (>= 1) must be integers")
    n = h + d + 1
    for key in ("nav", "apy", "frozen"):
        if not isinstance(doc.get(key), dict):
            raise ScenarioError(f"{where}.{key}: expected an object")
    missing = [s for s in SLEEVES if s not in doc["nav"]]
    if missing:
        raise ScenarioError(f"{where}.nav: missing sleeve {missing[0]}")
    nav = {s: _series(doc["nav"], s, n, f"{where}.nav", True) for s in SLEEVES}
    apy_names = ("tbill", "invoices", LENDING)
    missing = [s for s in apy_names if s not in doc["apy"]]
    if missing:
        raise ScenarioError(f"{where}.apy: missing sleeve {missing[0]}")
    apy = {s: _series(doc["apy"], s, n, f"{where}.apy", False) for s in apy_names}
    frozen = {}
    for s, spans in doc["frozen"].items():
        if s not in FREEZABLE:
            raise ScenarioError(f"{where}.frozen: {s!r} is not a freezable sleeve {FREEZABLE}")
        pairs = _pairs(spans, f"{where}.frozen.{s}", int)
        if any(not 0 <= a < b <= n for a, b in pairs):
            raise ScenarioError(f"{where}.frozen.{s}: intervals must lie within [0, {n}]")
        frozen[s] = pairs
    util = _series(doc, "utilization", n, where, False)
    if any(not 0 <= u < 1 for u in util):
        raise ScenarioError(f"{where}.utilization: values must lie within [0, 1)")
    defaults = _pairs(doc.get("defaults", []), f"{where}.defaults", float)
    if any(not 0 <= loss < 1 for _, loss in defaults):
        raise ScenarioError(f"{where}.defaults: losses must lie within [0, 1)")
    return MarketPath(
        id=int(doc.get("id", i)),
        history_days=h,
        days=d,
        nav=nav,
        apy=apy,
        frozen=frozen,
        utilization=util,
        health=_series(doc, "health", n, where, True),
        defaults=defaults,
        crashes=tuple((k, float(v)) for k, v in _pairs(doc.get("crashes", []), where, float)),
        stress=_pairs(doc.get("stress", []), f"{where}.stress", int),
        base_fee_gwei=_series(doc, "base_fee_gwei", n, where, False),
    )


def from_json(doc: Any) -> Scenarios:
    """Parse and validate a document; `ScenarioError` (one line) on anything malformed."""
    if not isinstance(doc, dict):
        raise ScenarioError("scenario file: expected a JSON object")
    if doc.get("format") != FORMAT:
        raise ScenarioError(f"scenario file: format must be {FORMAT!r}, got {doc.get('format')!r}")
    if doc.get("day_seconds", DAY_SECONDS) != DAY_SECONDS:
        raise ScenarioError(f"scenario file: day_seconds must be {DAY_SECONDS}")
    if list(doc.get("sleeves", [])) != list(SLEEVES):
        raise ScenarioError(f"scenario file: sleeves must be {list(SLEEVES)}")
    paths = doc.get("paths")
    if not isinstance(paths, list) or not paths:
        raise ScenarioError("scenario file: paths must be a non-empty list")
    seed = doc.get("seed")
    return Scenarios(
        seed if isinstance(seed, int) else None,
        dict(doc.get("generator") or {}),
        tuple(_path(p, i) for i, p in enumerate(paths)),
    )


def save(scenarios: Scenarios, path: Path) -> None:
    """Write compact JSON (gzip-compressed when the name ends in `.gz`), byte-reproducible."""
    data = json.dumps(to_json(scenarios), separators=(",", ":")).encode()
    if path.suffix == ".gz":  # no name, no time in the header: the same scenarios, same bytes
        with path.open("wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as f:
            f.write(data)
    else:
        path.write_bytes(data)


def load(path: Path) -> Scenarios:
    """Read a scenario file (`.json` or `.json.gz`); `ScenarioError` with a one-line message
    when it cannot be read or does not follow the format."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as f:
                text = f.read()
        else:
            text = path.read_text()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ScenarioError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from e
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScenarioError(f"{path}: not JSON: {e.msg} at line {e.lineno}") from e
    return from_json(doc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.backtest.generate", description="Generate backtest scenarios."
    )
    parser.add_argument("--paths", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=GeneratorParams.days)
    parser.add_argument("--out", type=Path, required=True, help=".json or .json.gz")
    args = parser.parse_args(argv)
    if args.paths <= 0 or args.days <= 0:
        parser.exit(2, "generate: error: --paths and --days must be positive\n")
    scenarios = generate(args.paths, args.seed, GeneratorParams(days=args.days))
    try:
        save(scenarios, args.out)
    except OSError as e:
        parser.exit(1, f"generate: error: cannot write {args.out}: {e.strerror or e}\n")
    print(f"{args.paths} paths (seed {args.seed}, {args.days} days) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
