"""The demo's market scenario as a plan: pure, seeded, scaled by the number of weeks.

`plan(seed, weeks)` fixes every price path and every scripted act before anything runs, so a
seed reproduces a run. The acts, as fractions of the run (8 weeks: the days in brackets):

- every day opens with a new round of every feed, then the settler keeper's pass strikes (the
  requests made before it settle: forward pricing) and claims what it settled for the depositors
  that made the claim relay their operator; the other depositors claim themselves;
- day 0: depositors request their deposits (four make the claim relay their operator), agents bond;
  day 1: the strike settles them, the strategist's opening allocation, borrowers open positions
  against tbill, gold and invoices;
- calm (days 2-9): T-bills and invoices accrue (+5 %, +8 % a year), gold slides slowly;
- the T-bill issuer pauses redemptions [10] while large redemption requests arrive [11]: the
  strikes fill what idle and the open issuers allow and the rest waits in the queue; the
  settler keeper is down the next day [12]: a depositor strikes itself (anyone may) and every
  depositor claims itself; the issuer resumes [16] and the next strikes drain the queue;
- the gambler agent buys the gold dip [20]; gold crashes 35 % [22]: liquidations, sentinel alerts,
  the strategist's risk-off rebalance; the gambler's decision is evaluated a window later and
  slashed, the slash executed after the veto window;
- the risk steward (its keeper runs daily after the liquidators) tightens `lend.ltvBps.gold` by
  its step within hours of the crash [22]; the DAO proposes the larger cut [24] (vote, queue,
  timelock, execute);
- the guardian pauses automation [35] and resumes it [37];
- the run ends after `7 · weeks` days.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

DAY = 86_400
# The strategist's opening allocation (bps of NAV; idle keeps the rest).
OPENING = {"tbill": 2_800, "gold": 200, "invoices": 1_500, "lending": 1_450}  # 59.5 % turnover
MIN_WEEKS = 6  # the DAO proposal needs 4 days of voting and the 15-day timelock after the crash
MAX_WEEKS = 52  # a year of simulated days; each day is a keeper pass of every job on the node
HISTORY_DAYS = 60  # the market before the run: what the strategist has watched


@dataclass(frozen=True)
class Plan:
    seed: int
    weeks: int
    days: int
    tbill: tuple[float, ...]  # NAV per day, index 0..days
    gold: tuple[float, ...]
    invoices: tuple[float, ...]
    freeze_day: int
    redeem_days: tuple[int, ...]  # days depositors queue big redemptions
    settler_down_day: int  # the settler keeper is down: a depositor strikes, everyone claims
    unfreeze_day: int
    gamble_day: int
    crash_day: int
    crash_drop: float
    proposal_day: int
    pause_day: int
    resume_day: int
    deposits: dict[int, tuple[tuple[int, float], ...]]  # day -> (depositor, whole assets)
    history: dict[str, tuple[float, ...]]  # each RWA's NAV on the HISTORY_DAYS before day 0

    def navs(self, day: int) -> dict[str, float]:
        return {"tbill": self.tbill[day], "gold": self.gold[day], "invoices": self.invoices[day]}


def _accrual(days: int, rate: float, noise: float, rng: random.Random) -> tuple[float, ...]:
    """A NAV accruing `rate` a year with a little day-to-day noise (never below the trend)."""
    return tuple(
        round((1 + rate) ** (d / 365) * (1 + abs(rng.gauss(0, noise)) if d else 1.0), 6)
        for d in range(days + 1)
    )


def _gold(days: int, crash_day: int, drop: float, rng: random.Random) -> tuple[float, ...]:
    """Gold: from 2,400, a slow slide before the crash (-0.25 % a day, 0.4 % daily noise: a
    trend-follower stays out, a dip-buyer goes in), the `drop` on the crash day, then a calm
    walk (15 % annual vol)."""
    calm = 0.15 / math.sqrt(365)
    path = [2_400.0]
    for d in range(1, days + 1):
        drift, sigma = (-0.0025, 0.004) if d < crash_day else (0.0, calm)
        step = math.exp(drift + rng.gauss(0, sigma) - sigma**2 / 2)
        price = path[-1] * step * ((1 - drop) if d == crash_day else 1.0)
        path.append(round(price, 2))
    return tuple(path)


def _before(day0: float, days: int, daily_drift: float, noise: float, rng: random.Random):
    """The `days` NAVs leading to `day0` (oldest first), walking backwards."""
    path = [day0]
    for _ in range(days):
        path.append(path[-1] / math.exp(daily_drift + rng.gauss(0, noise)))
    return tuple(round(p, 6) for p in reversed(path[1:]))


def plan(seed: int = 7, weeks: int = 8) -> Plan:
    """The scenario for `seed` over `weeks` (MIN_WEEKS to MAX_WEEKS)."""
    if not MIN_WEEKS <= weeks <= MAX_WEEKS:
        raise ValueError(f"the scenario runs {MIN_WEEKS} to {MAX_WEEKS} weeks, got {weeks}")
    rng = random.Random(seed)
    days = 7 * weeks

    def at(fraction: float) -> int:
        return max(2, round(days * fraction))

    crash_day = at(22 / 56)
    drop = 0.35
    deposits: dict[int, tuple[tuple[int, float], ...]] = {
        0: tuple((i, float(rng.choice([250_000, 500_000, 1_000_000]))) for i in range(6)),
    }
    for d in range(3, days, 7):  # a weekly trickle of new money
        deposits[d] = ((rng.randrange(6), float(rng.choice([25_000, 50_000, 100_000]))),)
    return Plan(
        seed=seed,
        weeks=weeks,
        days=days,
        tbill=_accrual(days, 0.05, 0.0002, rng),
        gold=_gold(days, crash_day, drop, rng),
        invoices=_accrual(days, 0.08, 0.0005, rng),
        freeze_day=at(10 / 56),
        redeem_days=(at(11 / 56),),
        settler_down_day=at(11 / 56) + 1,
        unfreeze_day=at(16 / 56),
        gamble_day=crash_day - 2,
        crash_day=crash_day,
        crash_drop=drop,
        proposal_day=crash_day + 2,
        pause_day=at(35 / 56),
        resume_day=at(37 / 56),
        deposits=deposits,
        history={
            "tbill": _before(1.0, HISTORY_DAYS, math.log(1.05) / 365, 0.0002, rng),
            "gold": _before(2_400.0, HISTORY_DAYS, -0.0025, 0.004, rng),
            "invoices": _before(1.0, HISTORY_DAYS, math.log(1.08) / 365, 0.0005, rng),
        },
    )
