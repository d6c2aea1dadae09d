"""Unseen markets: a scenario generator of its own (not benchmarks/backtest/generate.py's
families), for the outside review of the strategy agent and the backtest simulator.

Two kinds of scenario, both deterministic from a seed:

- `snapshot_scenarios(seed)`: `RebalancerSnapshot`s as the keeper's rebalancer pass builds them
  (`keepers.shell.rebalancer._snapshot`), fed to `keepers.jobs.plan_rebalance`, the keeper's own
  entry point (strategy, bounds check, receipt, replay). Any sleeve count, NAV, bounds.
- `path_scenarios(seed)`: `MarketPath`s for `benchmarks.backtest.simulate` (its four sleeves),
  with a `Vault` each (caps, buffer, deposit changed where the scenario says so).

Shapes: a price to near zero and back; a NAV flat for months then gapping; yields negative for a
while; every sleeve falling together; readings with missing days or duplicated timestamps (the
keeper's store keeps one reading per timestamp); a vault of 1 unit and of 1e12 units (and 1e12
whole tokens at 18 decimals); a 90 % depositor run in one day; bounds so tight that only one
allocation is legal; a cap of 0; one sleeve; eight sleeves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from benchmarks.backtest.scenario import RATE_MODEL, SLEEVES, MarketPath
from benchmarks.backtest.simulate import Vault
from keepers.jobs import LendingSnapshot, RebalancerSnapshot, SleeveSnapshot
from keepers.math import WAD
from keepers.strategy import GasMarket

DAY: Final = 86_400
T0: Final = 1_750_000_000  # not the project's test origin
GAS: Final = GasMarket(
    base_fee_wei=8 * 10**9, priority_fee_wei=2 * 10**9, native_price_wad=2_500 * WAD
)


# ------------------------------------------------------------------------- index shapes


def _walk(rng: np.random.Generator, days: int, drift: float, vol: float) -> np.ndarray:
    """A daily log-normal level path starting at 1 (annual `drift`, `vol`)."""
    steps = rng.normal(drift / 365, vol / math.sqrt(365), days)
    return np.exp(np.concatenate([[0.0], np.cumsum(steps)]))


def to_zero_and_back(rng: np.random.Generator, days: int) -> np.ndarray:
    """Falls to 1e-9 of its level over a week two thirds in, stays a few days, climbs back."""
    level = _walk(rng, days, 0.03, 0.15)
    a = 2 * days // 3
    for j in range(a, min(a + 7, days + 1)):
        level[j] = level[a - 1] * 10 ** (-9 * (j - a + 1) / 7)
    for j in range(a + 7, days + 1):
        level[j] = level[a - 1] * 10 ** (-9 + 9 * min(1.0, (j - a - 7) / 5))
    return level


def flat_then_gap(rng: np.random.Generator, days: int, gap: float = -0.35) -> np.ndarray:
    """Exactly constant for all but the last three days, then a one-day gap of `gap`."""
    level = np.ones(days + 1)
    level[days - 2 :] = 1.0 + gap
    return level


def negative_yield(rng: np.random.Generator, days: int) -> np.ndarray:
    """Accrues at -4 % a year (a negative-rate money fund) for the last 100 days."""
    level = _walk(rng, days, 0.04, 0.002)
    start = max(days - 100, 1)
    for j in range(start, days + 1):
        level[j] = level[start - 1] * math.exp(-0.04 * (j - start + 1) / 365)
    return level


def falling(rng: np.random.Generator, days: int, drift: float = -0.6) -> np.ndarray:
    """A steady fall (all sleeves of a scenario share it)."""
    return _walk(rng, days, drift, 0.25)


def wad(levels: np.ndarray) -> tuple[int, ...]:
    """Levels as `returnIndex()` readings (WAD, at least 1 wei)."""
    return tuple(max(int(round(float(v) * WAD)), 1) for v in levels)


# ------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class SnapshotScenario:
    name: str
    snapshot: RebalancerSnapshot


def _book(nav: int) -> LendingSnapshot:
    cash, debt = max(nav // 5, 1), max(nav // 10, 1)
    borrowers = ((debt // 2, int(1.02 * WAD), 8_200), (debt - debt // 2, 3 * WAD, 7_500))
    return LendingSnapshot(cash, debt, RATE_MODEL, borrowers)


def snapshot(
    levels: list[np.ndarray],
    held_bps: list[int],
    caps: list[int],
    *,
    nav: int = 5_000_000 * 10**6,
    decimals: int = 6,
    buffer: int = 300,
    turnover: int = 1_500,
    stamps: list[tuple[int, ...]] | None = None,
    deviation: list[int] | None = None,
    lending: int | None = None,
    gas: GasMarket = GAS,
) -> RebalancerSnapshot:
    """A snapshot of `len(levels)` sleeves, holding `held_bps` of `nav` (floor), each index
    sampled daily (or at `stamps`), decided at its last reading."""
    n = len(levels)
    stamps = stamps or [tuple(T0 + d * DAY for d in range(len(lv))) for lv in levels]
    now = max(s[-1] for s in stamps if s)
    sleeves = tuple(
        SleeveSnapshot(
            name=f"u{i}",
            held=nav * held_bps[i] // 10_000,
            cap_bps=caps[i],
            index_timestamps=stamps[i],
            index_values=wad(levels[i]),
            oracle_deviation_bps=(deviation or [0] * n)[i],
            lending=_book(nav) if lending == i else None,
        )
        for i in range(n)
    )
    return RebalancerSnapshot(now, nav, decimals, sleeves, buffer, turnover, gas, block=1234)


def missing_days(rng: np.random.Generator, days: int) -> tuple[tuple[int, ...], np.ndarray]:
    """Readings on about half the days (gaps up to two weeks): timestamps and levels."""
    keep = [0] + sorted(int(d) for d in rng.choice(np.arange(1, days), days // 2, replace=False))
    keep.append(days)
    full = _walk(rng, days, 0.05, 0.1)
    return tuple(T0 + d * DAY for d in keep), full[keep]


def snapshot_scenarios(seed: int) -> list[SnapshotScenario]:
    """Every snapshot scenario, drawn from `seed` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    d = 180
    out: list[SnapshotScenario] = []

    def add(name: str, snap: RebalancerSnapshot) -> None:
        out.append(SnapshotScenario(name, snap))

    calm = lambda: _walk(rng, d, 0.045, 0.01)  # noqa: E731 - a T-bill-like index

    add(
        "price to 1e-9 and back",
        snapshot(
            [to_zero_and_back(rng, d), calm(), calm()],
            [3000, 3000, 2000],
            [5000, 5000, 5000],
            deviation=[9000, 0, 0],
        ),
    )
    z = to_zero_and_back(rng, d)
    add(
        "price at 1e-9 now",
        snapshot(
            [z[: 2 * d // 3 + 7], calm()[: 2 * d // 3 + 7]],
            [4000, 4000],
            [6000, 6000],
            deviation=[9999, 0],
        ),
    )
    add(
        "NAV flat for months then gaps down",
        snapshot(
            [flat_then_gap(rng, d), calm(), calm()],
            [4000, 2500, 2500],
            [5000, 4000, 4000],
            deviation=[3500, 0, 0],
        ),
    )
    add(
        "NAV flat for months then gaps up",
        snapshot([flat_then_gap(rng, d, 0.4), calm()], [2000, 2000], [5000, 5000]),
    )
    add(
        "NAV flat for months, no gap",
        snapshot([np.ones(d + 1), np.ones(d + 1), calm()], [3000, 3000, 3000], [4000, 4000, 4000]),
    )
    add(
        "yields negative for 100 days",
        snapshot(
            [negative_yield(rng, d), negative_yield(rng, d), calm()],
            [3000, 3000, 3000],
            [4000, 4000, 4000],
        ),
    )
    common = _walk(rng, d, -0.8, 0.3)
    add(
        "all sleeves falling together",
        snapshot(
            [common * _walk(rng, d, 0.0, 0.05) for _ in range(4)],
            [2400, 2400, 2400, 2400],
            [3000, 3000, 3000, 3000],
            deviation=[600, 600, 600, 600],
            lending=3,
        ),
    )
    s1, l1 = missing_days(rng, d)
    s2, l2 = missing_days(rng, d)
    add(
        "missing days",
        snapshot(
            [l1, l2, calm()],
            [3000, 3000, 2000],
            [5000, 5000, 5000],
            stamps=[s1, s2, tuple(T0 + k * DAY for k in range(d + 1))],
        ),
    )
    add(
        "histories of different lengths (1, 2 and 181 readings)",
        snapshot(
            [np.ones(1), np.array([1.0, 1.001]), calm()],
            [2000, 2000, 2000],
            [5000, 5000, 5000],
            stamps=[
                (T0 + d * DAY,),
                (T0 + (d - 1) * DAY, T0 + d * DAY),
                tuple(T0 + k * DAY for k in range(d + 1)),
            ],
        ),
    )
    add(
        "no history at all for one sleeve",
        snapshot(
            [np.ones(0), calm()],
            [3000, 3000],
            [5000, 5000],
            stamps=[(), tuple(T0 + k * DAY for k in range(d + 1))],
        ),
    )
    for nav, dec, label in (
        (1, 6, "1 unit"),
        (7, 0, "7 units, 0 decimals"),
        (10**12, 6, "1e12 units"),
        (10**12 * 10**18, 18, "1e12 tokens"),
    ):
        add(
            f"vault of {label}",
            snapshot(
                [calm(), _walk(rng, d, 0.08, 0.05), _walk(rng, d, 0.02, 0.2)],
                [0, 5000, 0],
                [5000, 5000, 5000],
                nav=nav,
                decimals=dec,
                lending=1,
            ),
        )
    add(
        "after a 90 % run: idle drained, weights past caps",
        snapshot(
            [calm(), calm(), _walk(rng, d, 0.06, 0.05)],
            [4500, 3500, 2000],
            [5000, 4000, 4000],
            nav=500_000 * 10**6,
            turnover=1_000,
        ),
    )
    add(
        "after a 90 % run: fix needs more than the turnover limit",
        snapshot([calm(), calm()], [5000, 5000], [5000, 5000], buffer=2_000, turnover=1_000),
    )
    add(
        "only one allocation legal: turnover limit 0",
        snapshot([calm(), _walk(rng, d, 0.3, 0.05)], [2000, 1000], [9000, 9000], turnover=0),
    )
    add(
        "only one allocation legal: caps 0, turnover exactly the cut",
        snapshot([calm(), calm()], [2500, 1500], [0, 0], turnover=4000),
    )
    add(
        "only one allocation legal: caps = current, buffer = the rest, turnover = 0",
        snapshot(
            [calm(), _walk(rng, d, 0.3, 0.05), calm()],
            [3000, 3000, 3000],
            [3000, 3000, 3000],
            buffer=1000,
            turnover=0,
        ),
    )
    add(
        "a sleeve capped at 0 while holding 3,000 bps",
        snapshot(
            [calm(), _walk(rng, d, 0.2, 0.05), calm()],
            [3000, 3000, 3000],
            [0, 6000, 6000],
            turnover=3000,
        ),
    )
    add("every cap 0, nothing held", snapshot([calm(), calm()], [0, 0], [0, 0], turnover=1000))
    add("one sleeve only", snapshot([_walk(rng, d, 0.05, 0.02)], [5000], [10_000]))
    add(
        "one sleeve only, falling, with a lending book",
        snapshot([falling(rng, d)], [9000], [10_000], lending=0, deviation=[700]),
    )
    add(
        "eight sleeves",
        snapshot(
            [
                _walk(rng, d, float(rng.uniform(-0.1, 0.2)), float(rng.uniform(0.0, 0.4)))
                for _ in range(8)
            ],
            [1000] * 8,
            [2000] * 8,
            deviation=[0, 0, 0, 900, 0, 0, 0, 0],
            lending=5,
        ),
    )
    add(
        "eight sleeves, all but one capped at 0",
        snapshot(
            [_walk(rng, d, 0.05, 0.05) for _ in range(8)],
            [1200] * 8,
            [0] * 7 + [10_000],
            turnover=10_000,
        ),
    )
    add(
        "ten sleeves, 2,000 readings each (the most the keeper keeps)",
        snapshot(
            [
                _walk(rng, 1999, float(rng.uniform(-0.1, 0.2)), float(rng.uniform(0, 0.5)))
                for _ in range(10)
            ],
            [900] * 10,
            [1500] * 10,
            deviation=[0] * 9 + [1200],
            lending=2,
        ),
    )
    add(
        "gas free, base fee 0, native price 0",
        snapshot(
            [calm(), _walk(rng, d, 0.25, 0.05)], [5000, 0], [8000, 8000], gas=GasMarket(0, 0, 0)
        ),
    )
    add(
        "base fee 1e6 gwei",
        snapshot(
            [calm(), _walk(rng, d, 0.25, 0.05)],
            [5000, 0],
            [8000, 8000],
            gas=GasMarket(10**15, 10**9, 2_500 * WAD),
        ),
    )
    return out


# ------------------------------------------------------------------------- market paths


@dataclass(frozen=True)
class PathScenario:
    name: str
    path: MarketPath
    vault: Callable[[Vault], Vault]  # the local vault changed as the scenario says


def _path(
    levels: dict[str, np.ndarray],
    h: int,
    days: int,
    *,
    apy: dict | None = None,
    flows: tuple = (),
    frozen: dict | None = None,
    util: float = 0.6,
    health: float = 1.6,
    fee: float = 12.0,
) -> MarketPath:
    n = h + days + 1
    apy = apy or {}
    return MarketPath(
        id=0,
        history_days=h,
        days=days,
        nav={s: tuple(float(v) for v in levels[s]) for s in SLEEVES},
        apy={s: tuple(apy.get(s, (0.04,) * n)) for s in ("tbill", "invoices", "lending")},
        frozen=frozen or {},
        utilization=(util,) * n,
        health=(health,) * n,
        defaults=(),
        crashes=(),
        stress=(),
        base_fee_gwei=(fee,) * n,
        flows=flows,
    )


def path_scenarios(seed: int, h: int = 40, days: int = 24) -> list[PathScenario]:
    """Short paths (history `h` days, `days` simulated) with the local vault or a changed one."""
    rng = np.random.default_rng(seed)
    n = h + days

    def calm() -> np.ndarray:
        return _walk(rng, n, 0.045, 0.01)

    def base() -> dict[str, np.ndarray]:
        return {
            "tbill": calm(),
            "gold": _walk(rng, n, 0.05, 0.15),
            "invoices": _walk(rng, n, 0.09, 0.02),
            "lending": _walk(rng, n, 0.05, 0.005),
        }

    same = lambda v: v  # noqa: E731
    out: list[PathScenario] = []
    lv = base()
    z = np.ones(n + 1)
    z[: h + 8] = lv["gold"][: h + 8]
    for j in range(h + 8, n + 1):  # to 1e-9 over four days, back over six
        step = j - (h + 8)
        z[j] = lv["gold"][h + 7] * 10 ** (
            -9 * min(step + 1, 4) / 4 + 9 * max(0, min(step - 4, 6)) / 6
        )
    lv["gold"] = z
    out.append(PathScenario("gold to 1e-9 and back", _path(lv, h, days), same))
    lv = base()
    lv["invoices"] = np.concatenate([np.ones(n - 3), np.full(4, 0.6)])
    out.append(PathScenario("invoices flat for months then gap -40 %", _path(lv, h, days), same))
    lv = base()
    lv["tbill"] = np.exp(-0.03 * np.arange(n + 1) / 365)
    neg = (-0.03,) * (n + 1)
    out.append(
        PathScenario(
            "tbill yield -3 % throughout",
            _path(lv, h, days, apy={"tbill": neg, "invoices": neg}),
            same,
        )
    )
    common = _walk(rng, n, -0.9, 0.35)
    lv = {s: common * _walk(rng, n, 0.0, 0.05) for s in SLEEVES}
    out.append(PathScenario("all four falling together", _path(lv, h, days, health=1.02), same))
    wipe = np.exp(np.minimum(0.0, -(np.arange(n + 1) - h - 5) * math.log(10) * 3))
    lv = {s: _walk(rng, n, 0.04, 0.02) * wipe for s in SLEEVES}  # ÷1000 a day from day 6 to 1e-9
    lv = {s: np.maximum(v, 1e-9) for s, v in lv.items()}
    out.append(PathScenario("all four to 1e-9", _path(lv, h, days, health=0.5), same))
    lv = base()
    out.append(
        PathScenario(
            "a 90 % depositor run on day 6", _path(lv, h, days, flows=((h + 6, -0.9),)), same
        )
    )
    lv = base()
    out.append(
        PathScenario(
            "a 90 % run while tbill and invoices are frozen",
            _path(
                lv,
                h,
                days,
                flows=((h + 3, -0.9),),
                frozen={"tbill": ((h, n + 1),), "invoices": ((h, n + 1),)},
                util=0.95,
            ),
            same,
        )
    )
    lv = base()
    out.append(
        PathScenario(
            "deposit 900 % in a day, then a 90 % run",
            _path(lv, h, days, flows=((h + 2, 9.0), (h + 9, -0.9))),
            same,
        )
    )
    out.append(
        PathScenario("a vault of 1 unit", _path(base(), h, days), lambda v: replace(v, deposit=1))
    )
    out.append(
        PathScenario(
            "a vault of 1e12 units", _path(base(), h, days), lambda v: replace(v, deposit=10**12)
        )
    )
    out.append(
        PathScenario(
            "a vault of 1e12 tokens",
            _path(base(), h, days),
            lambda v: replace(v, deposit=10**12 * 10**6),
        )
    )
    out.append(
        PathScenario(
            "gold capped at 0",
            _path(base(), h, days),
            lambda v: replace(v, caps_bps=(v.caps_bps[0], 0, *v.caps_bps[2:])),
        )
    )
    out.append(
        PathScenario(
            "every cap 0", _path(base(), h, days), lambda v: replace(v, caps_bps=(0, 0, 0, 0))
        )
    )
    out.append(
        PathScenario(
            "caps leave one allocation: sum = 1e4 - buffer, turnover 1e4",
            _path(base(), h, days),
            lambda v: replace(
                v,
                caps_bps=(4000, 1000, 2000, 10_000 - 7000 - v.idle_buffer_bps),
                max_turnover_bps=10_000,
            ),
        )
    )
    out.append(
        PathScenario(
            "turnover limit 1 bps", _path(base(), h, days), lambda v: replace(v, max_turnover_bps=1)
        )
    )
    out.append(
        PathScenario(
            "buffer 100 %", _path(base(), h, days), lambda v: replace(v, idle_buffer_bps=10_000)
        )
    )
    out.append(PathScenario("base fee 0 then 50,000 gwei", _path(base(), h, days, fee=0.0), same))
    return out
