"""Robust estimates of a sleeve's return process: a noisy reading or a jump that reverses is not a
regime change; a markdown that stays is a credit loss.

From a sleeve's `returnIndex` history (log levels `y`, per-period returns `r` over lengths `dt`):

1. Jumps. A period whose rate departs from the median rate by more than `jump_mads` robust
   standard deviations (1.4826 · MAD of the standardised returns `r/√dt`; at least `min_jump`)
   is a jump: the period keeps the median return and the rest (`jump`) is kept apart. A one-day
   bad print is a jump down then one up; a mark that recovers within days is a jump down, later
   one up.
2. Trend (the sleeve's accrual as its own path states it): the least-squares slope of the
   jump-free level (`y` less the running sum of jumps) over the last `trend_window_seconds`,
   weighted by age with `half_life_seconds`. Measurement noise on the level averages out in a
   slope; it does not in the endpoint-to-endpoint mean an EWMA of returns is. Its standard
   error `rate_se` is that of a drift read from the same weighted window of returns,
   `σ / √T` with `T = (Σ w·dt)² / Σ w²·dt` the window's effective length in years: an
   accruing sleeve's drift is known to a fraction of a point, a volatile one's (gold) only to
   tens of points a year (`forecast.shrunk_rate` weighs the trend by it).
3. Volatility, noise-corrected: with iid measurement noise `ν` on the level, clipped returns have
   `γ0 = σ²·dt + 2ν²` and lag-one autocovariance `γ1 = -ν²`, so `σ² = (γ0 + 2γ1) / dt` (EWMA
   weights with the longer `vol_half_life_seconds`: the correction needs many periods to
   average; floored at 0). `raw_volatility` is `√(γ0/dt)` (noise included), what the risk rule
   compares short against long: the noise is in both and cancels in their ratio.
4. Credit. Jumps net of their reversals: a drop is a loss only once it has persisted, i.e.
   stood for `confirm_seconds` (several days: a stale or wrong mark, a flash drop, is taken back
   within days, and selling the low print would realise it) without the jumps after it taking
   it back, or once it is confirmed by a wave, `wave_drops` unreversed drops within
   `recent_seconds` (defaults come in waves; a reversing mark is one drop); and it is not itself
   taking back an upward jump of the `recent_seconds` before it (`unreversed_losses`).
   `loss_rate` is those losses per year over the history, weighted by age with
   `credit_half_life_seconds`; `displacement` is the confirmed unreversed drop of the last
   `recent_seconds`; `pending` the unreversed drop still waiting for confirmation (reported,
   never priced).

Pure numpy, no clocks, no randomness: same history, same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from keepers.math import WAD, YEAR

MAD_TO_SD: Final = 1.4826
DAY: Final = 86_400
# The most log growth a year a forecast's mean is taken from (a factor of e^100 ≈ 2.7e43 a
# year, beyond any sleeve's): a rate annualised from a move over seconds, or the variance of a
# crash read from three readings, can exceed what `exp` represents (709); the optimiser and the
# gas gate multiply the mean by NAV (up to 2^256) and 1e4, which stays finite from this bound.
MAX_LOG_GROWTH: Final = 100.0


def lognormal_mean(rate: float, volatility: float) -> float:
    """`exp(rate + σ²/2) - 1`, the expected simple return of a year at log drift `rate` and
    volatility `σ`, its exponent at most `MAX_LOG_GROWTH` (the same number below it)."""
    return math.expm1(min(rate + 0.5 * volatility**2, MAX_LOG_GROWTH))


@dataclass(frozen=True)
class RobustParams:
    """See the module docstring. `jump_mads` the jump threshold in robust standard deviations,
    `min_jump` the smallest move (fraction) that may count as a jump whatever the scale."""

    half_life_seconds: int = 30 * DAY
    short_half_life_seconds: int = 2 * DAY
    vol_half_life_seconds: int = 90 * DAY
    trend_window_seconds: int = 90 * DAY
    jump_mads: float = 5.0
    min_jump: float = 0.004
    # 10 days: chosen on the train families (benchmarks/backtest/select.py, selection-train.json)
    confirm_seconds: int = 10 * DAY
    wave_drops: int = 2
    recent_seconds: int = 30 * DAY
    credit_half_life_seconds: int = 180 * DAY

    def __post_init__(self) -> None:
        if not 0 < self.short_half_life_seconds <= self.half_life_seconds:
            raise ValueError("need 0 < short half-life <= half-life")
        if min(self.trend_window_seconds, self.credit_half_life_seconds,
               self.vol_half_life_seconds) <= 0:  # fmt: skip
            raise ValueError("windows and half-lives must be positive")
        if self.jump_mads <= 0 or self.min_jump < 0:
            raise ValueError("the jump threshold must be positive")
        if self.confirm_seconds < 0 or self.recent_seconds <= 0:
            raise ValueError("confirmation must be non-negative and the recent window positive")
        if self.wave_drops < 1:
            raise ValueError("a wave needs at least one drop")


@dataclass(frozen=True)
class RobustEstimate:
    """Annual figures: `rate` (log drift of the jump-free trend), `volatility` (noise-corrected,
    long half-life), `raw_volatility` / `raw_short_volatility` (clipped returns, noise included,
    long and short half-life), `noise` (the level's measurement noise, a fraction), `loss_rate`
    (unreversed drops per year), `displacement` (unreversed drop of the recent window, a
    fraction >= 0), `pending` (drop not yet confirmed), `jumps` (periods flagged), `rate_se`
    (the standard error of `rate`; 0 when the window has no period)."""

    rate: float
    volatility: float
    raw_volatility: float
    raw_short_volatility: float
    noise: float
    loss_rate: float
    displacement: float
    pending: float
    jumps: int
    periods: int
    rate_se: float = 0.0

    @property
    def expected_return(self) -> float:
        """Expected simple return over a year before credit losses: `exp(rate + σ²/2) - 1`."""
        return lognormal_mean(self.rate, self.volatility)


def split_jumps(
    r: np.ndarray, dt: np.ndarray, params: RobustParams
) -> tuple[np.ndarray, np.ndarray]:
    """`(clipped, jump)` with `r = clipped + jump`: a return beyond the robust band is a jump; its
    period keeps the median return (`clipped`), the rest of it is the `jump`."""
    z = r / np.sqrt(dt)
    centre = float(np.median(z))
    scale = MAD_TO_SD * float(np.median(np.abs(z - centre)))
    band = np.maximum(params.jump_mads * scale, params.min_jump / np.sqrt(dt))
    beyond = np.abs(z - centre) > band
    jump = np.where(beyond, r - centre * np.sqrt(dt), 0.0)
    # One bad reading is two returns: a jump and, the next period, its reversal (opposite sign,
    # the pair together inside the band). Its excess over both neighbours is a jump up and the
    # same jump back, so the jump-free level skips the bad reading alone instead of shifting by
    # it for the rest of the history.
    dev = r - centre * np.sqrt(dt)
    for i in np.flatnonzero(beyond[:-1]):
        j = i + 1
        pair = (dev[i] + dev[j]) / np.sqrt(dt[i] + dt[j])
        if not beyond[j] and dev[j] * dev[i] < 0 and abs(pair) <= band[j]:
            # the bad reading's excess over both neighbours; the rest of each leg is a move
            excess = min(abs(dev[i]), abs(dev[j])) * np.sign(dev[i])
            jump[i], jump[j] = excess, -excess
    return r - jump, jump


def unreversed_losses(
    jump: np.ndarray,
    ends: np.ndarray,
    now: float,
    confirm: float,
    window: float,
    floor: float = 0.0,
    wave: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """`(confirmed, pending)` per period: the part of its downward jump that is neither taken
    back by the later jumps nor itself taking back an upward jump of the `window` before it (a
    mark up, then back), and more than `floor` (a reversal matched to within `floor` is one).
    Such a drop is `confirmed` once it has persisted `confirm` seconds, or when `wave` (>= 1) or
    more of them end within the last `window` seconds (a wave of defaults); until then it is
    `pending`. Upward jumps give 0. What a drop takes back is the highest the later jumps'
    running sum reached (a recovery stays one though a new drop follows it)."""
    drop = np.zeros_like(jump)
    for i in np.flatnonzero(jump < 0):
        # Taken back: the most the level regained above the drop's low at any later time (a
        # later, separate drop does not undo a recovery that happened).
        later = max(float(np.max(np.cumsum(jump[i + 1 :]), initial=0.0)), 0.0)
        before = max(float(np.sum(jump[:i][ends[:i] > ends[i] - window])), 0.0)
        loss = -jump[i] - later - before
        drop[i] = loss if loss > floor else 0.0
    in_wave = wave > 0 and int(np.count_nonzero(drop[ends > now - window])) >= wave
    confirmed = (now - ends >= confirm) | in_wave
    return np.where(confirmed, drop, 0.0), np.where(confirmed, 0.0, drop)


def _weights(ends: np.ndarray, half_life: float) -> np.ndarray:
    return np.exp2(-(ends[-1] - ends) / half_life)


def _variances(c: np.ndarray, dt: np.ndarray, rate: float, w: np.ndarray) -> tuple[float, float]:
    """EWMA `(γ0, γ0 + 2γ1)` per year of the centred clipped returns."""
    e = c - rate * dt
    exposure = float(np.dot(w, dt))
    g0 = float(np.dot(w, e * e)) / exposure
    if e.size < 3:
        return g0, g0
    w1 = w[1:]
    g1 = float(np.dot(w1, e[1:] * e[:-1])) / float(np.dot(w1, dt[1:]))
    return g0, g0 + 2.0 * g1


def robust_estimate(
    timestamps: tuple[int, ...], indices: tuple[int, ...], params: RobustParams
) -> RobustEstimate | None:
    """The estimate of a `returnIndex` history (WAD readings at increasing timestamps); None
    with fewer than two readings."""
    if len(indices) < 2:
        return None
    y = np.log(np.array([i / WAD for i in indices], dtype=np.float64))
    ts = np.array(timestamps, dtype=np.float64)
    r, dt, ends = np.diff(y), np.diff(ts) / YEAR, ts[1:]
    clipped, jump = split_jumps(r, dt, params)
    now = float(ts[-1])
    # Trend: weighted least squares of the jump-free level on time, over the window.
    level = y - np.concatenate([[0.0], np.cumsum(jump)])
    inside = ts >= now - params.trend_window_seconds
    t, lv = (ts[inside] - now) / YEAR, level[inside]
    tw = np.exp2(t * YEAR / params.half_life_seconds)
    tm = float(np.dot(tw, t) / tw.sum())
    lm = float(np.dot(tw, lv) / tw.sum())
    denom = float(np.dot(tw, (t - tm) ** 2))
    rate = float(np.dot(tw, (t - tm) * (lv - lm)) / denom) if denom > 0 else 0.0
    # Volatility: long (noise-corrected and raw) and short (raw).
    raw_long, _ = _variances(clipped, dt, rate, _weights(ends, params.half_life_seconds))
    slow = _weights(ends, params.vol_half_life_seconds)
    raw_slow, corrected = _variances(clipped, dt, rate, slow)
    raw_short, _ = _variances(clipped, dt, rate, _weights(ends, params.short_half_life_seconds))
    noise2 = max((raw_slow - max(corrected, 0.0)) * float(np.median(dt)) / 2.0, 0.0)
    # The trend's standard error: a drift over the window's effective length.
    window = ends > now - params.trend_window_seconds
    rw, rdt = _weights(ends, params.half_life_seconds)[window], dt[window]
    span = float(np.dot(rw, rdt)) ** 2 / float(np.dot(rw * rw, rdt)) if rw.size else 0.0
    rate_se = math.sqrt(max(corrected, 0.0) / span) if span > 0 else 0.0
    # Credit: unreversed drops, their rate over the history, and the recent ones.
    losses, waiting = unreversed_losses(
        jump, ends, now, params.confirm_seconds, params.recent_seconds, params.min_jump,
        params.wave_drops,
    )  # fmt: skip
    cw = _weights(ends, params.credit_half_life_seconds)
    loss_rate = float(np.dot(cw, losses) / np.dot(cw, dt))
    recent = ends >= now - params.recent_seconds
    pending = float(np.sum(waiting))
    return RobustEstimate(
        rate=rate,
        volatility=math.sqrt(max(corrected, 0.0)),
        raw_volatility=math.sqrt(raw_long),
        raw_short_volatility=math.sqrt(raw_short),
        noise=math.sqrt(noise2),
        loss_rate=loss_rate,
        displacement=float(np.sum(losses[recent])),
        pending=pending,
        jumps=int(np.count_nonzero(jump)),
        periods=int(r.size),
        rate_se=rate_se,
    )
