"""Per-sleeve forecasts: EWMA return and volatility from `returnIndex` history, lending yield.

Two sources, one output (`SleeveForecast`: annual expected return and annual volatility):

- Every sleeve has a `returnIndex()` history (`ISleeve`: WAD value of one unit invested at
  inception). `ewma_estimate` turns it into per-period returns and weights them by age with a
  half-life, so that recent periods count more. Observations may be irregular: a period's return
  is scaled by its own length, so a constant-growth index gives exactly its growth rate, with
  zero volatility, whatever the sampling.
- The lending sleeve's yield is forward-looking rather than historical: the supply rate the
  book pays now (`InterestRateModel` borrow rate × utilization; the book keeps no reserve: its
  supply index grows by `interest / (cash + debt)`, see `keepers.math.lending.Book.accrued`),
  less the expected loss from the borrowers' health distribution (`expected_shortfall`).

Pure functions: no chain reads, no clocks. Rates are annual fractions (0.05 = 5% a year).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Final, Literal

import numpy as np

from keepers.math import BPS, MAX_RATE, MAX_UINT256, WAD, YEAR, RateModel, utilization
from keepers.strategy.rationale import OMIT_AT_DEFAULT
from keepers.strategy.robust import RobustEstimate, RobustParams, lognormal_mean, robust_estimate

ReturnKind = Literal["log", "simple"]
Estimator = Literal["ewma", "robust"]
DAY: Final = 86_400
MAX_TAIL_VOLATILITY: Final = 5.0  # annual: 500 %, beyond any sleeve's


@dataclass(frozen=True)
class ReturnHistory:
    """A sleeve's `returnIndex()` readings (WAD) at strictly increasing timestamps (seconds)."""

    timestamps: tuple[int, ...]
    indices: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.timestamps) != len(self.indices):
            raise ValueError(f"{len(self.timestamps)} timestamps for {len(self.indices)} indices")
        if any(b <= a for a, b in zip(self.timestamps, self.timestamps[1:], strict=False)):
            raise ValueError("timestamps must be strictly increasing")
        if any(i <= 0 for i in self.indices):
            raise ValueError("return indices must be positive")

    @property
    def periods(self) -> int:
        """Number of periods (one fewer than readings)."""
        return max(len(self.indices) - 1, 0)

    def returns(self, kind: ReturnKind = "log") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`(returns, lengths, ends)` per period: the return (log `ln(I1/I0)` or simple
        `I1/I0 - 1`), the period's length in years and its end timestamp."""
        idx = np.array([i / WAD for i in self.indices], dtype=np.float64)
        ts = np.array(self.timestamps, dtype=np.float64)
        ratio = idx[1:] / idx[:-1]
        r = np.log(ratio) if kind == "log" else ratio - 1.0
        return r, np.diff(ts) / YEAR, ts[1:]


@dataclass(frozen=True)
class EwmaEstimate:
    """An EWMA estimate of a return process, annualised.

    `rate`: mean return per year (a log rate for `kind="log"`, a simple non-compounded rate for
    `kind="simple"`); `volatility`: standard deviation per √year; `periods`: periods used.
    """

    rate: float
    volatility: float
    periods: int
    kind: ReturnKind

    @property
    def expected_return(self) -> float:
        """Expected simple return over one year: `exp(rate + vol²/2) - 1` for a log rate (the
        lognormal mean), `rate` itself for a simple one."""
        if self.kind == "log":
            return lognormal_mean(self.rate, self.volatility)
        return self.rate


def ewma_estimate(
    history: ReturnHistory,
    half_life_seconds: int,
    kind: ReturnKind = "log",
    centre: float | None = None,
) -> EwmaEstimate | None:
    """EWMA mean and volatility of `history`'s returns; None with fewer than two readings.

    A period ending `age` seconds before the last reading weighs `w = 2^(-age / half_life)`.
    With period returns `r_i` over lengths `dt_i` (years), modelled as `r_i ~ N(m·dt_i, s²·dt_i)`:
    `m = Σ w r / Σ w dt` and `s² = Σ w (r - c·dt)² / Σ w dt` with the centre `c = m` unless
    `centre` is given (no small-sample correction: the weights already make the effective sample
    short, and the risk rule compares like with like). A short window should be centred on the
    long mean: centred on its own mean, it would absorb much of a spike into the mean.
    """
    if half_life_seconds <= 0:
        raise ValueError("half-life must be positive")
    if history.periods == 0:
        return None
    r, dt, ends = history.returns(kind)
    w = np.exp2(-(ends[-1] - ends) / half_life_seconds)
    exposure = float(np.dot(w, dt))
    rate = float(np.dot(w, r)) / exposure
    c = rate if centre is None else centre
    variance = float(np.dot(w, (r - c * dt) ** 2)) / exposure
    return EwmaEstimate(rate, math.sqrt(variance), history.periods, kind)


# ---------------------------------------------------------------------------------- lending


@dataclass(frozen=True)
class BorrowerExposure:
    """One borrower as the book sees it: debt (asset units), WAD health factor
    (`ILendingSleeve.healthFactor`) and the value-weighted liquidation threshold of its
    collateral (bps), so that its collateral value is `health · debt / threshold`."""

    debt: int
    health: int
    threshold_bps: int

    @property
    def collateral_value(self) -> float:
        """Collateral value in asset units implied by health and threshold (0 if unknown)."""
        if self.threshold_bps == 0:
            return 0.0
        return self.health / WAD * self.debt * BPS / self.threshold_bps


@dataclass(frozen=True)
class LendingBookState:
    """The lending book now: `cash` and `debt` (asset units, interest accrued), its rate model
    (`lend.rate.*`) and its borrowers (those with debt)."""

    cash: int
    debt: int
    rate_model: RateModel
    borrowers: tuple[BorrowerExposure, ...] = ()


@dataclass(frozen=True)
class LendingForecast:
    """The lending sleeve's yield: rates are annual fractions, `expected_loss` in asset units over
    the loss horizon, `loss_rate` that loss per year over the book's assets."""

    utilization: float
    borrow_rate: float
    supply_rate: float
    expected_loss: float
    loss_rate: float

    @property
    def net_yield(self) -> float:
        """`supply_rate - loss_rate`: the yield the vault expects to keep."""
        return self.supply_rate - self.loss_rate


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def expected_shortfall(debt: float, collateral: float, shock: float) -> float:
    """`E[max(debt - collateral·e^Z, 0)]` for `Z ~ N(-shock²/2, shock²)` (a driftless lognormal
    move of the collateral price): the collateral's expected shortfall against the debt, i.e.
    a put struck at the debt (Black–Scholes with no rates). `shock` is the move's standard
    deviation over the horizon (`σ·√h`)."""
    if debt <= 0:
        return 0.0
    if collateral <= 0:
        return debt
    if shock <= 0:
        return max(debt - collateral, 0.0)
    d1 = (math.log(collateral / debt) + 0.5 * shock**2) / shock
    d2 = d1 - shock
    return max(debt * _normal_cdf(-d2) - collateral * _normal_cdf(-d1), 0.0)


def lending_forecast(
    book: LendingBookState,
    *,
    collateral_volatility: float,
    unliquidated_share: float,
    horizon_seconds: int,
    supply_cap: float | None = None,
) -> LendingForecast:
    """The book's supply rate and expected loss.

    - Supply rate: `borrowRate(cash, debt) × utilization` (the rate model's answer, capped as the
      contract stores it at MAX_RATE; no reserve factor: every wei of interest goes to the book),
      at most `supply_cap` when given (`lending_rate_cap`: what the book has paid lately).
    - Expected loss: for each borrower, the shortfall of its collateral against its debt after a
      lognormal price shock of `collateral_volatility·√horizon` (`expected_shortfall`), assuming
      no liquidation in between, times `unliquidated_share` (the part of that shortfall
      liquidators are assumed not to prevent: 1 is the worst case). Positions far above health 1
      contribute nothing; positions near or below it dominate.
    """
    if horizon_seconds <= 0:
        raise ValueError("horizon must be positive")
    total = book.cash + book.debt
    u = utilization(book.cash, book.debt) / WAD
    borrow_rate = min(book.rate_model.borrow_rate(book.cash, book.debt), MAX_RATE) / WAD
    years = horizon_seconds / YEAR
    shock = collateral_volatility * math.sqrt(years)
    loss = unliquidated_share * sum(
        expected_shortfall(float(b.debt), b.collateral_value, shock)
        for b in book.borrowers
        if b.debt > 0 and b.health != MAX_UINT256
    )
    loss_rate = loss / total / years if total > 0 else 0.0
    supply_rate = borrow_rate * u if supply_cap is None else min(borrow_rate * u, supply_cap)
    return LendingForecast(
        utilization=u,
        borrow_rate=borrow_rate,
        supply_rate=supply_rate,
        expected_loss=loss,
        loss_rate=loss_rate,
    )


# ---------------------------------------------------------------------------------- sleeves


@dataclass(frozen=True)
class ForecastParams:
    """How forecasts are made.

    `half_life_seconds` drives the return and the long volatility, `short_half_life_seconds` the
    short volatility the risk-off rule compares with it. A sleeve with no history gets a zero
    expected return and `prior_volatility`. The lending loss model uses `collateral_volatility`
    (annual, stressed), `unliquidated_share` and `loss_horizon_seconds`.

    `estimator`: "ewma" (EWMA of returns, `max(short, long)` volatility: reads noise and
    reversing jumps as risk) or "robust" (`keepers.strategy.robust`, with `robust`). Under the
    robust estimator a non-lending sleeve's expected return is net of its expected credit loss:
    `credit_weight · loss_rate + displacement_hazard · displacement` (unreversed drops per year
    over the history, and the recent unreversed drop, since defaults come in waves).
    `supply_response`: the lending yield is the book's rate after the vault's own move (the
    pipeline re-prices it at the optimiser's answer and optimises once more).
    `trend_shrink` (`c`, robust estimator): the trend's log rate is weighed by its precision,
    `rate · t² / (t² + c)` with `t = rate / rate_se` (`shrunk_rate`): a drift read to within a
    fraction of itself (an accruing sleeve) is kept, one inside its own noise (a 90-day trend
    of gold) is pulled towards 0, idle's return; 0 turns it off.
    `tail_volatility`: (sleeve name, annual volatility) pairs, the least volatility the optimiser
    assumes for that sleeve: the tail risk a smoothly accruing mark does not show (a credit
    pool's defaults and its issuer's gate arrive as one jump, after years of near-zero measured
    volatility). A wave losing a fifth of the pool once a century is a volatility of
    √(0.01 × 0.2²) = 2 %. The risk-off rule still reads the measured volatilities; empty: no
    floor, as before the setting existed.
    `lending_rate_cap`: the book's supply rate is taken at most at what its supply index paid
    over the short half-life (`lending_rate_cap`). The spot rate is one block's utilization, and
    anyone with collateral moves it: a borrow held across the block the keeper reads (repaid the
    next) made the book look like a 58 % yield and the vault move 15 % of its NAV into it
    (tests/attacks/test_permissionless_review.py). Off: the spot rate, as receipts written
    before the setting decided; the keeper's settings turn it on.
    """

    half_life_seconds: int = 30 * DAY
    short_half_life_seconds: int = 2 * DAY
    kind: ReturnKind = "log"
    prior_volatility: float = 0.20
    collateral_volatility: float = 0.50
    unliquidated_share: float = 0.5
    loss_horizon_seconds: int = 7 * DAY
    estimator: Estimator = "robust"
    robust: RobustParams = RobustParams()
    credit_weight: float = 1.0
    # 0.0: chosen on the train families with the 10-day persistence (benchmarks/backtest/
    # select.py, selection-train.json: 5 of 6 families either way, a higher share of hindsight)
    displacement_hazard: float = 0.0
    supply_response: bool = False
    trend_shrink: float = 0.0
    tail_volatility: tuple[tuple[str, float], ...] = field(
        default=(), metadata={OMIT_AT_DEFAULT: True}
    )
    lending_rate_cap: bool = field(default=False, metadata={OMIT_AT_DEFAULT: True})

    def __post_init__(self) -> None:
        if self.credit_weight < 0 or self.displacement_hazard < 0:
            raise ValueError("credit weights must be non-negative")
        names = [name for name, _ in self.tail_volatility]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError("tail volatilities need distinct, non-empty sleeve names")
        if not all(0.0 <= v <= MAX_TAIL_VOLATILITY for _, v in self.tail_volatility):
            raise ValueError(f"tail volatilities must be within [0, {MAX_TAIL_VOLATILITY:g}]")
        if self.trend_shrink < 0:
            raise ValueError("the trend shrinkage must be non-negative")
        if not 0 < self.short_half_life_seconds <= self.half_life_seconds:
            raise ValueError("need 0 < short half-life <= half-life")
        if self.prior_volatility < 0 or self.collateral_volatility < 0:
            raise ValueError("volatilities must be non-negative")
        if not 0.0 <= self.unliquidated_share <= 1.0:
            raise ValueError("unliquidated share must be within [0, 1]")
        if self.loss_horizon_seconds <= 0:
            raise ValueError("loss horizon must be positive")


@dataclass(frozen=True)
class SleeveForecast:
    """What the optimiser and the risk rule use for one sleeve.

    `expected_return`: annual simple return (lending: net yield; others: EWMA); `volatility`:
    the optimiser's annual volatility, `max(short, long)` (a spike raises risk at once, calm
    never lowers it below the long view); `source`: "ewma", "lending" or "prior".
    """

    name: str
    expected_return: float
    volatility: float
    short_volatility: float
    long_volatility: float
    source: str
    lending: LendingForecast | None = None
    credit_loss: float = 0.0
    robust: RobustEstimate | None = None


def forecast_sleeve(
    name: str,
    history: ReturnHistory,
    book: LendingBookState | None,
    params: ForecastParams,
) -> SleeveForecast:
    """The sleeve's forecast from its history and, for the lending sleeve, its book; its
    volatility at least the sleeve's `tail_volatility`."""
    if params.estimator == "robust":
        made = _robust_forecast(name, history, book, params)
    else:
        made = _ewma_forecast(name, history, book, params)
    floor = dict(params.tail_volatility).get(name, 0.0)
    return made if made.volatility >= floor else replace(made, volatility=floor)


def lending_rate_cap(history: ReturnHistory, params: ForecastParams) -> float | None:
    """The most the lending forecast takes the book's supply rate at: the simple annual rate its
    `returnIndex` (the supply index, which grows by exactly the supply rate) paid over
    `short_half_life_seconds`, never below 0 (a write-off is the loss model's, not a rate);
    None (the spot rate) when the setting is off or the history has fewer than two readings.
    A borrow held across one read moves the spot rate, not what the book paid over days."""
    if not params.lending_rate_cap:
        return None
    paid = ewma_estimate(history, params.short_half_life_seconds, "simple")
    return None if paid is None else max(paid.rate, 0.0)


def _ewma_forecast(
    name: str, history: ReturnHistory, book: LendingBookState | None, params: ForecastParams
) -> SleeveForecast:
    long = ewma_estimate(history, params.half_life_seconds, params.kind)
    centre = long.rate if long is not None else None
    short = ewma_estimate(history, params.short_half_life_seconds, params.kind, centre)
    long_vol = long.volatility if long is not None else params.prior_volatility
    short_vol = short.volatility if short is not None else params.prior_volatility
    lending = None
    if book is not None:
        lending = lending_forecast(
            book,
            collateral_volatility=params.collateral_volatility,
            unliquidated_share=params.unliquidated_share,
            horizon_seconds=params.loss_horizon_seconds,
            supply_cap=lending_rate_cap(history, params),
        )
        expected, source = lending.net_yield, "lending"
    elif long is not None:
        expected, source = long.expected_return, "ewma"
    else:
        expected, source = 0.0, "prior"
    return SleeveForecast(
        name=name,
        expected_return=expected,
        volatility=max(short_vol, long_vol),
        short_volatility=short_vol,
        long_volatility=long_vol,
        source=source,
        lending=lending,
    )


def shrunk_rate(rate: float, rate_se: float, shrink: float) -> float:
    """`rate · t² / (t² + shrink)` with `t = rate / rate_se`: the trend weighed by its precision
    (James–Stein-like, towards 0); `rate` itself when `shrink` or `rate_se` is 0. Its magnitude
    never exceeds `|rate|`, it keeps `rate`'s sign, and it grows with `|t|`."""
    if shrink <= 0 or rate_se <= 0 or rate == 0:
        return rate
    # t² / (t² + c) = rate² / (rate² + c·se²): no overflow for a tiny standard error
    num = rate * rate
    den = num + shrink * rate_se * rate_se
    return rate * num / den if den > 0 else rate


def _robust_forecast(
    name: str, history: ReturnHistory, book: LendingBookState | None, params: ForecastParams
) -> SleeveForecast:
    """`forecast_sleeve` under the robust estimator (see `ForecastParams`).

    The optimiser's volatility is the noise-corrected one, raised by the short/long ratio of the
    raw ones when the short is higher (a real spike still raises risk at once; noise does not,
    being in both); the risk rule compares the raw short and long volatilities."""
    est = robust_estimate(history.timestamps, history.indices, params.robust)
    prior = params.prior_volatility
    if est is None and book is None:
        return SleeveForecast(name, 0.0, prior, prior, prior, "prior")
    if est is None:
        volatility = short_vol = long_vol = prior
    else:
        spike = est.raw_short_volatility / est.raw_volatility if est.raw_volatility > 0 else 1.0
        volatility = est.volatility * max(spike, 1.0)
        short_vol, long_vol = est.raw_short_volatility, est.raw_volatility
    lending = None
    credit = 0.0
    if book is not None:
        lending = lending_forecast(
            book,
            collateral_volatility=params.collateral_volatility,
            unliquidated_share=params.unliquidated_share,
            horizon_seconds=params.loss_horizon_seconds,
            supply_cap=lending_rate_cap(history, params),
        )
        expected, source = lending.net_yield, "lending"
    else:
        assert est is not None
        credit = params.credit_weight * est.loss_rate
        credit += params.displacement_hazard * est.displacement
        rate = shrunk_rate(est.rate, est.rate_se, params.trend_shrink)
        mean = lognormal_mean(rate, est.volatility)
        expected, source = mean - credit, "robust"
    return SleeveForecast(
        name=name,
        expected_return=expected,
        volatility=volatility,
        short_volatility=short_vol,
        long_volatility=long_vol,
        source=source,
        lending=lending,
        credit_loss=credit,
        robust=est,
    )
