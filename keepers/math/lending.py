"""The lending book's numbers in pure Python, to the wei: the keepers' functional core.

Every function here mirrors an exact integer rule of `ILendingSleeve` / `LendingSleeve` and
`InterestRateModel`, rounding in the same direction, so that a keeper can predict what the
contracts will compute (health factors, interest, liquidation sizes, bad debt) without a call.
Nothing here reads the chain or validates what the contracts would refuse unless said so:
callers pass what they read (book state, positions, prices, registry parameters).

Units follow the contracts: amounts in token units, prices/indices/rates in WAD (1e18),
risk weights in bps (1e4). `floor` rounds toward zero, `ceil` away from it (all values are
non-negative). The direction of each rounding is always the one that favours the protocol:
borrowers owe the rounding, the book never counts a wei nobody owes, liquidators never get a
wei more than their bonus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

WAD: Final = 10**18
BPS: Final = 10_000
BPS_TO_WAD: Final = 10**14
YEAR: Final = 365 * 86_400
MAX_UINT256: Final = 2**256 - 1
MAX_RATE: Final = 2**64 - 1  # the stored rate's slot (uint64): ~18.4e18, 1,844% a year


# ---------------------------------------------------------------------------------- rounding


def mul_div_down(x: int, y: int, denominator: int) -> int:
    """`floor(x * y / denominator)` (OpenZeppelin `Math.mulDiv`, Rounding.Floor)."""
    return x * y // denominator


def mul_div_up(x: int, y: int, denominator: int) -> int:
    """`ceil(x * y / denominator)` (OpenZeppelin `Math.mulDiv`, Rounding.Ceil)."""
    return -(-(x * y) // denominator)


# ---------------------------------------------------------------------------------- interest


def utilization(cash: int, debt: int) -> int:
    """`debt / (cash + debt)` in WAD, rounded down; 0 when nothing is lent."""
    if debt == 0:
        return 0
    return mul_div_down(debt, WAD, cash + debt)


@dataclass(frozen=True)
class RateModel:
    """The kinked borrow rate of `InterestRateModel`: `lend.rate.{base,slope1,slope2,kink}Bps`."""

    base_bps: int
    slope1_bps: int
    slope2_bps: int
    kink_bps: int

    def borrow_rate(self, cash: int, debt: int) -> int:
        """Annual borrow rate (WAD) for a book holding `cash` and owed `debt`.

        With `u = utilization(cash, debt)` and the parameters in WAD:
        `u <= kink`: `base + floor(slope1 * u / kink)` (`base` when kink is 0);
        `u > kink`: `base + slope1 + floor(slope2 * (u - kink) / (WAD - kink))`.
        """
        base = self.base_bps * BPS_TO_WAD
        slope1 = self.slope1_bps * BPS_TO_WAD
        kink = self.kink_bps * BPS_TO_WAD
        u = utilization(cash, debt)
        if u <= kink:
            return base if kink == 0 else base + mul_div_down(slope1, u, kink)
        slope2 = self.slope2_bps * BPS_TO_WAD
        return base + slope1 + mul_div_down(slope2, u - kink, WAD - kink)


def debt_of(scaled: int, borrow_index: int) -> int:
    """A borrower's debt: `ceil(scaled * borrowIndex / WAD)` (the borrower owes the rounding)."""
    return mul_div_up(scaled, borrow_index, WAD)


def book_debt(total_scaled: int, borrow_index: int) -> int:
    """The book's debt: `floor(totalScaled * borrowIndex / WAD)` (never a wei nobody owes)."""
    return mul_div_down(total_scaled, borrow_index, WAD)


def scaled_borrowed(amount: int, borrow_index: int) -> int:
    """Scaled units a borrow of `amount` adds: `ceil(amount * WAD / borrowIndex)`."""
    return mul_div_up(amount, WAD, borrow_index)


def scaled_repaid(amount: int, debt: int, scaled: int, borrow_index: int) -> int:
    """Scaled units a repayment of `amount` (<= `debt`) removes from a position of `scaled`.

    All of them when the whole debt is repaid; otherwise `floor(amount * WAD / borrowIndex)`
    (the borrower is credited at most what was paid).
    """
    return scaled if amount == debt else mul_div_down(amount, WAD, borrow_index)


@dataclass(frozen=True)
class Book:
    """The lending book's interest state (`LendingSleeve.State`): what `_accrued` works on."""

    cash: int
    total_scaled: int
    borrow_index: int
    rate: int
    last_accrual: int
    supply_index: int

    @classmethod
    def genesis(cls, timestamp: int) -> Book:
        """The state a freshly deployed book starts from (index 1, rate 0)."""
        return cls(0, 0, WAD, 0, timestamp, WAD)

    @property
    def total_debt(self) -> int:
        """`book_debt(totalScaled, borrowIndex)`, rounded down (no accrual: see `accrued`)."""
        return book_debt(self.total_scaled, self.borrow_index)

    @property
    def total_assets(self) -> int:
        """`cash + total_debt` (the book's `totalAssets()` when called on the accrued state)."""
        return self.cash + self.total_debt

    @property
    def utilization(self) -> int:
        """`total_debt / (cash + total_debt)` in WAD, rounded down (the book's `utilization()`)."""
        return utilization(self.cash, self.total_debt)

    def accrued(self, now: int) -> Book:
        """The state with interest accrued to `now` (`LendingSleeve._accrued`).

        Linear at the stored rate over `dt = now - lastAccrual`:
        `borrowIndex += ceil(borrowIndex * rate * dt / (WAD * YEAR))` (borrowers owe the
        rounding); the supply index grows by the interest the book counts over what was
        supplied, rounded down: `supplyIndex += floor(supplyIndex * interest / (cash + debt))`
        with `interest = total_debt(after) - total_debt(before)`. `lastAccrual` becomes `now`
        even when nothing accrues (no time, no rate or no debt).
        """
        if now < self.last_accrual:
            raise ValueError(f"accrual to {now}, before the last one at {self.last_accrual}")
        dt = now - self.last_accrual
        if dt == 0 or self.rate == 0 or self.total_scaled == 0:
            return replace(self, last_accrual=now)
        debt_before = self.total_debt
        index = self.borrow_index + mul_div_up(self.borrow_index, self.rate * dt, WAD * YEAR)
        interest = book_debt(self.total_scaled, index) - debt_before
        supply = self.supply_index + mul_div_down(
            self.supply_index, interest, self.cash + debt_before
        )
        return replace(self, borrow_index=index, last_accrual=now, supply_index=supply)

    def committed(self, model: RateModel) -> Book:
        """The state as `_commit` stores it: the rate re-read for its cash and debt, capped at
        what its uint64 slot holds (MAX_RATE, 1,844% a year) rather than reverting."""
        return replace(self, rate=min(model.borrow_rate(self.cash, self.total_debt), MAX_RATE))


@dataclass(frozen=True)
class Loan:
    """One borrower's debt, in scaled units (`positionOf` gives the debt; storage the scale)."""

    scaled: int

    def debt(self, book: Book) -> int:
        """`debt_of(scaled, book.borrow_index)`, rounded up: pass an accrued book."""
        return debt_of(self.scaled, book.borrow_index)


# The book's own actions, exactly as the contract applies them to an accrued state (no checks:
# the caller knows the call succeeds). Each returns the committed state, as stored after the call.


def supply(book: Book, model: RateModel, assets: int, now: int) -> Book:
    """The vault deposits `assets` into the book at `now` (`LendingSleeve.deposit`)."""
    s = book.accrued(now)
    return replace(s, cash=s.cash + assets).committed(model)


def recall(book: Book, model: RateModel, assets: int, now: int) -> tuple[Book, int]:
    """The vault withdraws up to `assets` at `now`: `(book, min(assets, cash))`. Withdrawing
    nothing stores nothing (the contract returns first): the book is returned unchanged."""
    s = book.accrued(now)
    out = min(assets, s.cash)
    if out == 0:
        return book, 0
    return replace(s, cash=s.cash - out).committed(model), out


def borrow(book: Book, model: RateModel, loan: Loan, amount: int, now: int) -> tuple[Book, Loan]:
    """A borrow of `amount` at `now`: `scaled_borrowed` more scaled units, `amount` less cash."""
    s = book.accrued(now)
    added = scaled_borrowed(amount, s.borrow_index)
    s = replace(s, cash=s.cash - amount, total_scaled=s.total_scaled + added)
    return s.committed(model), Loan(loan.scaled + added)


def repay(
    book: Book, model: RateModel, loan: Loan, amount: int, now: int
) -> tuple[Book, Loan, int]:
    """A repayment of up to `amount` (MAX_UINT256: all) at `now`: `(book, loan, repaid)`,
    `repaid = min(amount, debt)` and `scaled_repaid` units removed."""
    s = book.accrued(now)
    debt = loan.debt(s)
    paid = min(amount, debt)
    out = scaled_repaid(paid, debt, loan.scaled, s.borrow_index)
    s = replace(s, cash=s.cash + paid, total_scaled=s.total_scaled - out)
    return s.committed(model), Loan(loan.scaled - out), paid


# ---------------------------------------------------------------------------------- collateral


def collateral_value(amount: int, price: int, token_decimals: int, asset_decimals: int) -> int:
    """Base-asset value of `amount` collateral at WAD `price`:
    `floor(amount * price * assetUnit / (WAD * tokenUnit))` (rounded down)."""
    return mul_div_down(amount, price * 10**asset_decimals, WAD * 10**token_decimals)


def band_clamp(live: int, reference: int, band_bps: int) -> int:
    """`OracleRouter.liquidationPrice`: the fresh `live` price, never below the lower edge of the
    `band_bps` (`oracle.maxDeviationBps`) band around the router's `reference`,
    `max(live, floor(ref * (1e4 - b) / 1e4))` (the edge rounded down: a lower collateral price
    never favours the borrower): an unconfirmed fall counts at once to the edge, a rise at once
    in full (never above `live`: DESIGN invariant 6); `live` without a reference (0)."""
    if reference == 0:
        return live
    return max(live, reference * (BPS - band_bps) // BPS)


@dataclass(frozen=True)
class Holding:
    """One collateral token a borrower holds, with its oracle price and `lend.*.<name>` weights.

    `fresh` is the router's verdict on `price` (`tryPrice`): liquidations need fresh prices.
    `high` is the router's `liquidationPrice` (`band_clamp`: the live price, never below the
    lower edge of `oracle.maxDeviationBps` around the reference), None when it cannot be read
    (the price is not fresh) or was not read (then `price` stands for it).
    """

    token: str
    amount: int
    decimals: int
    price: int
    ltv_bps: int
    threshold_bps: int
    bonus_bps: int
    fresh: bool = True
    high: int | None = None

    def value(self, asset_decimals: int) -> int:
        """`collateral_value` of the holding, rounded down."""
        return collateral_value(self.amount, self.price, self.decimals, asset_decimals)

    @property
    def liquidation_price(self) -> int:
        """What a liquidation values the holding at (`LendingSleeve._liquidationPrice`): the
        router's `liquidationPrice`, or `price` (the best available) when it has none."""
        return self.price if self.high is None else self.high


@dataclass(frozen=True)
class Position:
    """A borrower's debt now (interest accrued, rounded up) and collateral, in listing order
    (the contract walks its collateral bitmask from the first listed token; `positionOf` keeps
    that order). Holdings of amount 0 are ignored, as the contract's mask ignores them."""

    debt: int
    holdings: tuple[Holding, ...]
    asset_decimals: int

    @property
    def held(self) -> tuple[Holding, ...]:
        """The holdings the contract's mask counts (amount > 0), in listing order."""
        return tuple(h for h in self.holdings if h.amount > 0)

    def holding(self, token: str) -> Holding | None:
        """The held collateral `token` (amount > 0), or None."""
        return next((h for h in self.held if h.token.lower() == token.lower()), None)

    def with_debt(self, debt: int) -> Position:
        return replace(self, debt=debt)

    def with_prices(self, prices: dict[str, int]) -> Position:
        """The position with some tokens repriced (keys: token addresses)."""
        lowered = {t.lower(): p for t, p in prices.items()}
        return replace(
            self,
            holdings=tuple(
                replace(h, price=lowered.get(h.token.lower(), h.price)) for h in self.holdings
            ),
        )


def adjusted_collateral(holdings: Sequence[Holding], asset_decimals: int) -> int:
    """`Σ value_t * threshold_t` (value rounded down per token), in asset units × bps."""
    return sum(h.value(asset_decimals) * h.threshold_bps for h in holdings if h.amount > 0)


def health_factor(position: Position) -> int:
    """`floor(Σ value_t * threshold_t * WAD / (debt * 10_000))` (WAD); MAX_UINT256 for no debt."""
    if position.debt == 0:
        return MAX_UINT256
    adjusted = adjusted_collateral(position.holdings, position.asset_decimals)
    return mul_div_down(adjusted, WAD, position.debt * BPS)


def loans_due(due_at: int, now: int) -> bool:
    """`LendingSleeve._due`: the book's loans were called (`loansDueAt` set, after the vault's
    shutdown) and the notice is over at `now`: every position with debt is then liquidatable,
    all of its debt at once (`keepers.math.liquidation.LiquidationRules.called`)."""
    return due_at != 0 and now >= due_at


def borrow_power(position: Position) -> int:
    """`floor(Σ value_t * min(ltv_t, threshold_t) / 10_000)`: the debt the collateral supports."""
    weighted = sum(
        h.value(position.asset_decimals) * min(h.ltv_bps, h.threshold_bps) for h in position.held
    )
    return weighted // BPS


__all__ = [
    "BPS",
    "BPS_TO_WAD",
    "MAX_RATE",
    "MAX_UINT256",
    "WAD",
    "YEAR",
    "Book",
    "Holding",
    "Loan",
    "Position",
    "RateModel",
    "adjusted_collateral",
    "book_debt",
    "borrow",
    "borrow_power",
    "band_clamp",
    "collateral_value",
    "debt_of",
    "health_factor",
    "loans_due",
    "mul_div_down",
    "mul_div_up",
    "recall",
    "repay",
    "scaled_borrowed",
    "scaled_repaid",
    "supply",
    "utilization",
]
