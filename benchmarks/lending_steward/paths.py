"""Hourly gold price paths by family, and the issuer's daily exit along each (pure, seeded).

Every path starts at 2,400 with 30 calm days (12 %/yr volatility), then its family's event:

- `crash`: a 35–55 % fall within 6 hours at a random day in [35, 90), calm around it (a stress
  test: tokenized gold never gapped like this — its worst day since 1980 is about −9 %, 15 April
  2013 —; a credit token's write-down on a default does);
- `selloff`: a 15–30 % fall over 2–5 days at 35 %/yr volatility (gold's sharpest selloffs,
  about −13 % over two sessions in April 2013, scaled up);
- `slow-decline`: a 40–60 % fall spread over 20–50 days, volatility 40 %/yr;
- `vol-spike`: volatility 80–150 %/yr for 10–25 days with a −1.5 %/day drift, then calm;
- `issuer-gate`: the issuer redeems nothing for 7–20 days while the price falls 25–45 %;
- `calm`: 12 %/yr throughout, a slight upward drift (what the steward costs in quiet times).

The issuer's exit is 500 tokens a day (local.yaml's gold issuer) at the path's price.
Train and test use disjoint seeds (`SEEDS`)."""

from __future__ import annotations

import math

import numpy as np

from benchmarks.lending_steward.sim import Path_

FAMILIES = ("crash", "slow-decline", "vol-spike", "issuer-gate", "calm", "selloff")
DAYS = 120
START = 2_400.0
EXIT_TOKENS = 500
SEEDS = {"train": 1_000, "test": 2_000}
_YEAR_HOURS = 365 * 24


def _walk(rng: np.random.Generator, vols: np.ndarray, drifts: np.ndarray) -> np.ndarray:
    steps = rng.standard_normal(len(vols)) * vols / math.sqrt(_YEAR_HOURS) + drifts
    return START * np.exp(np.cumsum(steps))


def make_path(family: str, seed: int) -> Path_:
    """Path `seed` of `family`."""
    rng = np.random.default_rng(seed)
    hours = DAYS * 24
    vols = np.full(hours, 0.12)
    drifts = np.zeros(hours)
    gated = np.zeros(hours, dtype=bool)
    if family == "crash":
        day = int(rng.integers(35, 90))
        fall = rng.uniform(0.35, 0.55)
        drifts[day * 24 : day * 24 + 6] = math.log(1 - fall) / 6
    elif family == "slow-decline":
        start, length = int(rng.integers(30, 45)), int(rng.integers(20, 50))
        fall = rng.uniform(0.40, 0.60)
        drifts[start * 24 : (start + length) * 24] = math.log(1 - fall) / (length * 24)
        vols[start * 24 : (start + length) * 24] = 0.40
    elif family == "vol-spike":
        start, length = int(rng.integers(30, 70)), int(rng.integers(10, 25))
        vols[start * 24 : (start + length) * 24] = rng.uniform(0.8, 1.5)
        drifts[start * 24 : (start + length) * 24] = math.log(0.985) / 24
    elif family == "issuer-gate":
        start, length = int(rng.integers(35, 80)), int(rng.integers(7, 20))
        fall = rng.uniform(0.25, 0.45)
        gated[start * 24 : (start + length) * 24] = True
        drifts[start * 24 : (start + length) * 24] = math.log(1 - fall) / (length * 24)
        vols[start * 24 : (start + length) * 24] = 0.3
    elif family == "calm":
        drifts[:] = 0.05 / _YEAR_HOURS
    elif family == "selloff":
        day, length = int(rng.integers(35, 90)), int(rng.integers(2, 6))
        fall = rng.uniform(0.15, 0.30)
        drifts[day * 24 : (day + length) * 24] = math.log(1 - fall) / (length * 24)
        vols[day * 24 : (day + length) * 24] = 0.35
    else:
        raise ValueError(f"unknown family {family!r}; families are {', '.join(FAMILIES)}")
    prices = _walk(rng, vols, drifts)
    daily_exit = np.where(gated, 0.0, EXIT_TOKENS * prices * 10**6)
    return Path_(family, prices, daily_exit, seed)


def paths(split: str, family: str, count: int) -> list[Path_]:
    """`count` paths of `family` on `split` (train or test: disjoint seeds)."""
    base = SEEDS[split] + 100 * FAMILIES.index(family)
    return [make_path(family, base + i) for i in range(count)]
