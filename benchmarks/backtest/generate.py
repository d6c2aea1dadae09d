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

`--family NAME` generates one of the named families of families.py instead (`--list-families`);
without it the output is the base model above, unchanged (the committed file regenerates to
the same bytes). The format itself lives in scenario.py; its names are re-exported here.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.backtest.scenario import (  # noqa: F401  (re-exported: the format's names)
    DAY_SECONDS,
    FORMAT,
    FREEZABLE,
    LENDING,
    RATE_MODEL,
    RWA,
    SLEEVES,
    WAD,
    MarketPath,
    ScenarioError,
    Scenarios,
    from_json,
    load,
    save,
    to_json,
)
from benchmarks.cli import OneLineParser


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


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.backtest.families import FAMILIES, SPLITS, generate_family

    parser = OneLineParser(
        prog="python -m benchmarks.backtest.generate", description="Generate backtest scenarios."
    )
    parser.add_argument("--paths", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=GeneratorParams.days)
    parser.add_argument("--family", default=None, help="a named family (--list-families)")
    parser.add_argument("--list-families", action="store_true", help="list them and exit")
    parser.add_argument("--out", type=Path, help=".json or .json.gz")
    args = parser.parse_args(argv)
    if args.list_families:
        where = {f: s for s, names in SPLITS.items() for f in names}
        for name, f in FAMILIES.items():
            print(f"{name:<17} {where[name]:<5} {f.description}")
        return 0
    if args.out is None:
        parser.fail("--out is required")
    if args.paths <= 0 or args.days <= 0:
        parser.fail("--paths and --days must be positive")
    if args.family is not None and args.family not in FAMILIES:
        names = ", ".join(FAMILIES)
        parser.fail(f"unknown family {args.family!r} (one of {names})")
    if args.family is None:
        scenarios = generate(args.paths, args.seed, GeneratorParams(days=args.days))
    else:
        scenarios = generate_family(args.family, args.paths, args.seed, args.days)
    try:
        save(scenarios, args.out)
    except OSError as e:
        parser.fail(f"cannot write {args.out}: {e.strerror or e}", 1)
    what = f"family {args.family}, " if args.family else ""
    print(f"{args.paths} paths ({what}seed {args.seed}, {args.days} days) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
