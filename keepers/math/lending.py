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


@dataclass(frozen=True)
class Holding:
    """One collateral token a borrower holds, with its oracle price and `lend.*.<name>` weights.

    `fresh` is the router's verdict on `price` (`tryPrice`): liquidations need fresh prices.
    """

    token: str
    amount: int
    decimals: int
    price: int
    ltv_bps: int
    threshold_bps: int
    bonus_bps: int
    fresh: bool = True

    def value(self, asset_decimals: int) -> int:
        """`collateral_value` of the holding, rounded down."""
        return collateral_value(self.amount, self.price, self.decimals, asset_decimals)


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


def borrow_power(position: Position) -> int:
    """`floor(Σ value_t * min(ltv_t, threshold_t) / 10_000)`: the debt the collateral supports."""
    weighted = sum(
        h.value(position.asset_decimals) * min(h.ltv_bps, h.threshold_bps) for h in position.held
    )
    return weighted // BPS


# ---------------------------------------------------------------------------------- liquidation


@dataclass(frozen=True)
class LiquidationRules:
    """The registry's `lend.closeFactorBps`, `lend.fullCloseHealthBps` and `lend.minDebt`."""

    close_factor_bps: int
    full_close_health_bps: int
    min_debt: int


@dataclass(frozen=True)
class Liquidation:
    """A liquidation the contract would accept: repay `repay` of `debt`, seize `seized` of the
    `held` units of `token`. `health` is the health before (fresh prices).

    `rest` is the value of the collateral the borrower keeps (0 when the debt closes: not
    needed); `sweep` says it is dust (`is_dust`): swept to the liquidator with the seizure, the
    debt left written off."""

    token: str
    debt: int
    held: int
    health: int
    max_repay: int
    bonus_bps: int
    repay: int
    seized: int
    rest: int = 0
    sweep: bool = False

    @property
    def takes_all(self) -> bool:
        """It seizes every unit of `token` the borrower holds."""
        return self.seized == self.held

    @property
    def closes(self) -> bool:
        """It repays the whole debt."""
        return self.repay == self.debt

    @property
    def writes_off(self) -> bool:
        """It realises bad debt: debt is left and only dust (or nothing) is behind it."""
        return self.sweep

    @property
    def remaining(self) -> int:
        """`debt - repay`: the debt the dust rule checks (the actual debt left, in scaled units
        rounded up, may be a wei or so above it; see `settle_liquidation`)."""
        return self.debt - self.repay


@dataclass(frozen=True)
class Refusal:
    """Why the contract would revert: `error` is its custom error's name, `values` the error's
    numeric arguments (`HealthyPosition`: (health,), `DustDebt`: (remaining, minDebt); the
    address arguments and `StalePrice`'s `updatedAt` are left out)."""

    error: str
    values: tuple[int, ...] = ()


def effective_bonus_bps(bonus_bps: int, threshold_bps: int) -> int:
    """The liquidation bonus capped so that `threshold * (1 + bonus) <= 100%`:
    `min(bonus, floor(1e8 / threshold) - 1e4)` (saturating at 0; uncapped for threshold 0)."""
    if threshold_bps == 0:
        return bonus_bps
    return min(bonus_bps, max(BPS * BPS // threshold_bps - BPS, 0))


def max_repay(debt: int, health: int, rules: LiquidationRules) -> int:
    """The most a liquidation may repay: all of the debt below `fullCloseHealth`; above it the
    close factor, `floor(debt * closeFactor / 1e4)`, unless that leaves less than `minDebt` or
    rounds to 0."""
    if health >= rules.full_close_health_bps * BPS_TO_WAD:
        part = mul_div_down(debt, rules.close_factor_bps, BPS)
        if part != 0 and debt - part >= rules.min_debt:
            return part
    return debt


def is_dust(rest: int, remaining: int, min_debt: int) -> bool:
    """The dust rule: collateral left worth `rest` behind `remaining > 0` of debt is dust when
    `rest < max(minDebt, 1)` (no liquidation of it could repay lend.minDebt, or it is worth
    nothing) and `rest < remaining` (the borrower owns nothing in it)."""
    return remaining > 0 and rest < max(min_debt, 1) and rest < remaining


def size_liquidation(
    *,
    token: str,
    debt: int,
    held: int,
    health: int,
    price: int,
    decimals: int,
    threshold_bps: int,
    bonus_bps: int,
    repay_amount: int,
    asset_decimals: int,
    rules: LiquidationRules,
    others: int = 0,
) -> Liquidation | Refusal:
    """`LendingSleeve._size`: the repay and seizure of an unhealthy position.

    - `repay = min(repay_amount, max_repay(debt, health))`;
    - `seized = floor(repay * (1e4 + bonus) * WAD * tokenUnit / (1e4 * price * assetUnit))`
      (rounded down: never a wei more than the bonus), with the capped `effective_bonus_bps`;
    - when that reaches `held`: `seized = held` and
      `repay = min(repay, ceil(held * price * assetUnit * 1e4 / (WAD * tokenUnit * (1e4 + bonus))))`
      (rounded up: the liquidator pays the rounding);
    - refused `ZeroAmount` when nothing is seized;
    - when debt is left, `rest = others + collateral_value(held - seized)` (`others`: the value
      of the borrower's other tokens at the same prices) is what the borrower keeps: dust
      (`is_dust`) makes it a write-off (`sweep`); otherwise refused `DustDebt` when it neither
      clears the debt nor takes all of `token` and leaves `0 < debt - repay < minDebt`.
    """
    cap = max_repay(debt, health, rules)
    repay_ = min(repay_amount, cap)
    bonus = effective_bonus_bps(bonus_bps, threshold_bps)
    token_unit = 10**decimals
    asset_unit = 10**asset_decimals
    seized = mul_div_down(repay_, (BPS + bonus) * WAD * token_unit, BPS * price * asset_unit)
    if seized >= held:
        seized = held
        buys_all = mul_div_up(held, price * asset_unit * BPS, WAD * token_unit * (BPS + bonus))
        repay_ = min(repay_, buys_all)
    if seized == 0:
        return Refusal("ZeroAmount")
    remaining = debt - repay_
    if remaining == 0:
        return Liquidation(token, debt, held, health, cap, bonus, repay_, seized)
    rest = others + collateral_value(held - seized, price, decimals, asset_decimals)
    if is_dust(rest, remaining, rules.min_debt):
        return Liquidation(token, debt, held, health, cap, bonus, repay_, seized, rest, True)
    if seized != held and remaining < rules.min_debt:
        return Refusal("DustDebt", (remaining, rules.min_debt))
    return Liquidation(token, debt, held, health, cap, bonus, repay_, seized, rest)


def plan_liquidation(
    position: Position, token: str, repay_amount: int, rules: LiquidationRules
) -> Liquidation | Refusal:
    """`LendingSleeve._plan` (what `previewLiquidation` returns or `liquidate` reverts with).

    Checked in the contract's order: `ZeroAmount` (repay_amount 0), `NoDebt`, `NoCollateral`
    (no `token` held), `StalePrice` (the price of `token` not fresh: the other tokens count at
    the best price available), `HealthyPosition` (health >= 1, health from these prices), then
    `size_liquidation`.
    """
    if repay_amount == 0:
        return Refusal("ZeroAmount")
    if position.debt == 0:
        return Refusal("NoDebt")
    target = position.holding(token)
    if target is None:
        return Refusal("NoCollateral")
    if not target.fresh:
        return Refusal("StalePrice")
    health = health_factor(position)
    if health >= WAD:
        return Refusal("HealthyPosition", (health,))
    return size_liquidation(
        token=target.token,
        debt=position.debt,
        held=target.amount,
        health=health,
        price=target.price,
        decimals=target.decimals,
        threshold_bps=target.threshold_bps,
        bonus_bps=target.bonus_bps,
        repay_amount=repay_amount,
        asset_decimals=position.asset_decimals,
        rules=rules,
        others=sum(h.value(position.asset_decimals) for h in position.held if h is not target),
    )


def liquidation_gain(liquidation: Liquidation, position: Position) -> int:
    """What the liquidator earns: `value(seized) - repay` at the token's price, floored at 0
    (`liquidationTrigger`'s measure; a dust sweep adds `liquidation.rest`: see `swept`)."""
    target = position.holding(liquidation.token)
    if target is None:
        raise ValueError(f"{liquidation.token} is not held by the position")
    value = collateral_value(
        liquidation.seized, target.price, target.decimals, position.asset_decimals
    )
    return max(value - liquidation.repay, 0)


@dataclass(frozen=True)
class LiquidationCall:
    """The call `liquidationTrigger` proposes: `liquidate(borrower, token, repay_amount)`;
    `repay_amount` is always MAX_UINT256 (the most allowed when mined); `liquidation` is what
    it does in the state it was planned on."""

    token: str
    repay_amount: int
    liquidation: Liquidation
    gain: int


@dataclass(frozen=True)
class NoLiquidation:
    """`liquidationTrigger`'s `(false, reason)`: "no debt", "stale price", "healthy" or
    "nothing to seize"."""

    reason: str


def liquidation_trigger(
    position: Position, rules: LiquidationRules
) -> LiquidationCall | NoLiquidation:
    """`LendingSleeve.liquidationTrigger`: the held collateral whose `plan_liquidation(..., MAX)`
    pays the largest `liquidation_gain` (the first in listing order on a tie; refused plans,
    stale-priced tokens among them, skipped), to be sent with `type(uint256).max` as the repay.
    Health counts every token at the best price available."""
    if position.debt == 0:
        return NoLiquidation("no debt")
    if health_factor(position) >= WAD:
        return NoLiquidation("healthy")
    best: LiquidationCall | None = None
    for h in position.held:
        plan = plan_liquidation(position, h.token, MAX_UINT256, rules)
        if isinstance(plan, Refusal):
            continue
        gain = liquidation_gain(plan, position)
        if best is None or gain > best.gain:
            best = LiquidationCall(h.token, MAX_UINT256, plan, gain)
    if best is not None:
        return best
    stale = any(not h.fresh for h in position.held)
    return NoLiquidation("stale price" if stale else "nothing to seize")


@dataclass(frozen=True)
class Settlement:
    """A liquidation applied to the book (`LendingSleeve.liquidate`).

    `bad_debt` is None when no write-off happens, else the amount of `BadDebtRealized` (which
    the contract emits even when it is 0); the book's `totalAssets()` falls by exactly it.
    """

    book: Book
    loan: Loan
    bad_debt: int | None

    def debt_left(self) -> int:
        return self.loan.debt(self.book)


def swept(liquidation: Liquidation, position: Position) -> tuple[tuple[str, int], ...]:
    """What a dust write-off sends the liquidator besides the seizure (`CollateralSwept`), in
    listing order: every token the borrower still holds, all of it. Empty without `sweep`."""
    if not liquidation.sweep:
        return ()
    out = []
    for h in position.held:
        left = (
            h.amount - liquidation.seized
            if h.token.lower() == liquidation.token.lower()
            else h.amount
        )
        if left > 0:
            out.append((h.token, left))
    return tuple(out)


def write_off(book: Book, loan: Loan, book_debt_before: int, repaid: int) -> tuple[Book, int]:
    """Writes off `loan` (no collateral left behind it) from `book`, in which the repayment is
    already counted. The loss is what the book's counted debt fell by beyond the repayment,
    `max(book_debt_before - total_debt(after) - repaid, 0)`; the supply index falls by it over
    the supply before the loss, rounded up (depositors bear the rounding):
    `supplyIndex -= ceil(supplyIndex * loss / (cash + total_debt(after) + loss))`.
    Returns the book (not committed) and the loss."""
    s = replace(book, total_scaled=book.total_scaled - loan.scaled)
    loss = max(book_debt_before - s.total_debt - repaid, 0)
    if loss:
        fall = mul_div_up(s.supply_index, loss, s.cash + s.total_debt + loss)
        s = replace(s, supply_index=s.supply_index - fall)
    return s, loss


def settle_liquidation(
    book: Book,
    model: RateModel,
    loan: Loan,
    position: Position,
    liquidation: Liquidation,
    now: int,
) -> Settlement:
    """The book and loan after `liquidation` of `position` (whose debt is `loan` accrued to
    `now`) is mined at `now`: the debt falls by `scaled_repaid`, the cash rises by the repay,
    and when what the borrower keeps is dust (`liquidation.sweep`: nothing, or worth less than
    lend.minDebt and the debt left) the rest of the debt is written off (`write_off`). The stored
    state is committed (rate re-read).
    """
    s = book.accrued(now)
    debt = loan.debt(s)
    if debt != liquidation.debt:
        raise ValueError(
            f"liquidation sized for debt {liquidation.debt}, loan owes {debt} at {now}"
        )
    before = s.total_debt
    out = scaled_repaid(liquidation.repay, debt, loan.scaled, s.borrow_index)
    s = replace(s, total_scaled=s.total_scaled - out, cash=s.cash + liquidation.repay)
    left = Loan(loan.scaled - out)
    bad_debt: int | None = None
    if liquidation.sweep and left.scaled != 0:
        s, bad_debt = write_off(s, left, before, liquidation.repay)
        left = Loan(0)
    return Settlement(s.committed(model), left, bad_debt)


def position_after(
    position: Position, settlement: Settlement, liquidation: Liquidation
) -> Position:
    """The borrower's position after `liquidation` settled as `settlement` (debt now); a dust
    write-off leaves it no collateral."""
    holdings = tuple(
        replace(h, amount=0)
        if liquidation.sweep
        else replace(h, amount=h.amount - liquidation.seized)
        if h.token.lower() == liquidation.token.lower()
        else h
        for h in position.holdings
    )
    return replace(position, debt=settlement.debt_left(), holdings=holdings)


__all__ = [
    "BPS",
    "BPS_TO_WAD",
    "MAX_RATE",
    "MAX_UINT256",
    "WAD",
    "YEAR",
    "Book",
    "Holding",
    "Liquidation",
    "LiquidationCall",
    "LiquidationRules",
    "Loan",
    "NoLiquidation",
    "Position",
    "RateModel",
    "Refusal",
    "Settlement",
    "adjusted_collateral",
    "book_debt",
    "borrow",
    "borrow_power",
    "collateral_value",
    "debt_of",
    "effective_bonus_bps",
    "health_factor",
    "is_dust",
    "liquidation_gain",
    "liquidation_trigger",
    "max_repay",
    "mul_div_down",
    "mul_div_up",
    "plan_liquidation",
    "position_after",
    "recall",
    "repay",
    "scaled_borrowed",
    "scaled_repaid",
    "settle_liquidation",
    "supply",
    "swept",
    "utilization",
    "write_off",
]
