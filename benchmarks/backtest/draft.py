"""`Draft`: a generated path as numpy arrays, reshaped by a market family (families.py), and
turned back into a `MarketPath` with the base generator's rounding."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from benchmarks.backtest.generate import _intervals, supply_rate
from benchmarks.backtest.scenario import MarketPath


@dataclass
class Draft:
    """A path being reshaped: `h` history days, `n` entries; arrays are copies."""

    base: MarketPath
    nav: dict[str, np.ndarray]
    apy: dict[str, np.ndarray]
    frozen: dict[str, np.ndarray]
    util: np.ndarray
    defaults: list[tuple[int, float]]
    stress: np.ndarray
    flows: list[tuple[int, float]] = field(default_factory=list)
    events: list[tuple[int, str, str, float]] = field(default_factory=list)

    @property
    def h(self) -> int:
        return self.base.history_days

    @property
    def n(self) -> int:
        return self.base.length

    @classmethod
    def of(cls, p: MarketPath) -> Draft:
        flags = {}
        for s, spans in p.frozen.items():
            flags[s] = np.zeros(p.length, dtype=bool)
            for a, b in spans:
                flags[s][a:b] = True
        stress = np.zeros(p.length, dtype=bool)
        for a, b in p.stress:
            stress[a:b] = True
        return cls(
            base=p,
            nav={k: np.array(v) for k, v in p.nav.items()},
            apy={k: np.array(v) for k, v in p.apy.items()},
            frozen=flags,
            util=np.array(p.utilization),
            defaults=list(p.defaults),
            stress=stress,
        )

    def reprice(self, sleeve: str, apy: np.ndarray) -> None:
        """Change the stated yield; the index accrues the new yield instead of the old one."""
        old = self.apy[sleeve]
        if sleeve == "lending":
            step = np.log1p(apy / 365) - np.log1p(old / 365)
        else:
            step = (np.log1p(apy) - np.log1p(old)) / 365
        self.nav[sleeve] = self.nav[sleeve] * np.exp(np.concatenate(([0.0], np.cumsum(step[:-1]))))
        self.apy[sleeve] = apy

    def lend_at(self, util: np.ndarray) -> None:
        """New utilization; the supply rate (and so the lending index) follows it."""
        self.util = np.clip(util, 0.2, 0.97)
        self.reprice("lending", np.array([supply_rate(float(u)) for u in self.util]))

    def mark(self, sleeve: str, a: int, b: int, drop: float) -> None:
        """Multiply the index by `1 - drop` on days `[a, b)` (b = n: a permanent mark-down)."""
        self.nav[sleeve][a:b] *= 1 - drop

    def gate(self, sleeve: str, a: int, b: int) -> None:
        if a >= min(b, self.n):
            return
        self.frozen[sleeve][a : min(b, self.n)] = True
        self.events.append((a, sleeve, "gate", float(min(b, self.n) - a)))

    def path(self) -> MarketPath:
        def r(a: np.ndarray, digits: int) -> tuple[float, ...]:
            return tuple(round(float(v), digits) for v in a)

        p = self.base
        return replace(
            p,
            nav={s: r(v, 6 if s == "gold" else 7) for s, v in self.nav.items()},
            apy={s: r(v, 5) for s, v in self.apy.items()},
            frozen={s: _intervals(f) for s, f in self.frozen.items()},
            utilization=r(self.util, 4),
            defaults=tuple(sorted(self.defaults)),
            stress=_intervals(self.stress),
            flows=tuple(sorted((k, round(f, 5)) for k, f in self.flows)),
            events=tuple(sorted((k, s, e, round(x, 5)) for k, s, e, x in self.events)),
        )
