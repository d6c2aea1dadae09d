"""Liquidations of the lending book in pure Python, to the wei: sizing, planning and settling
them as `LendingSleeve.liquidate` does (close factor, bonus, dust sweep, bad-debt write-off),
and the keeper trigger. The book's interest and health factors are in `keepers.math.lending`;
the same units and rounding rules apply (see that module's docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from keepers.math.lending import (
    BPS,
    BPS_TO_WAD,
    MAX_UINT256,
    WAD,
    Book,
    Loan,
    Position,
    RateModel,
    collateral_value,
    health_factor,
    mul_div_down,
    mul_div_up,
    scaled_repaid,
)

# ---------------------------------------------------------------------------------- liquidation


@dataclass(frozen=True)
class LiquidationRules:
    """The registry's `lend.closeFactorBps`, `lend.fullCloseHealthBps` and `lend.minDebt`, and
    whether the book's loans are `called` and due (`keepers.math.lending.loans_due`): then every
    position with debt is liquidatable as if at health 0, all of its debt at once."""

    close_factor_bps: int
    full_close_health_bps: int
    min_debt: int
    called: bool = False


@dataclass(frozen=True)
class Liquidation:
    """A liquidation the contract would accept: repay `repay` of `debt`, seize `seized` of the
    `held` units of `token`. `health` is the health before, at the liquidation's prices
    (`liquidation_prices`).

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
    numeric arguments (`HealthyPosition`: (health,), `DustDebt`: (remaining, minDebt),
    `DustCollateral`: (left, minDebt); the address arguments and `StalePrice`'s `updatedAt` are
    left out)."""

    error: str
    values: tuple[int, ...] = ()


def effective_bonus_bps(bonus_bps: int, threshold_bps: int) -> int:
    """The liquidation bonus capped so that `threshold * (1 + bonus) <= 100%`:
    `min(bonus, floor(1e8 / threshold) - 1e4)` (saturating at 0; uncapped for threshold 0)."""
    if threshold_bps == 0:
        return bonus_bps
    return min(bonus_bps, max(BPS * BPS // threshold_bps - BPS, 0))


def max_repay(debt: int, health: int, rules: LiquidationRules) -> int:
    """The most a liquidation may repay: all of the debt below `fullCloseHealth` or once the
    loans are due (`rules.called`: the contract sizes it at health 0); above it the close
    factor, `floor(debt * closeFactor / 1e4)`, unless that leaves less than `minDebt` or rounds
    to 0."""
    if not rules.called and health >= rules.full_close_health_bps * BPS_TO_WAD:
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
      (`is_dust`) makes it a write-off (`sweep`) when the liquidation took all it could (all of
      `token`, or `repay == max_repay`), and is refused `DustDebt` otherwise (a smaller repay
      chosen to leave dust would buy it for nothing); without dust, refused `DustDebt` when it
      neither clears the debt nor takes all of `token` and leaves `0 < debt - repay < minDebt`;
      and refused `DustCollateral` when a smaller repay than `max_repay` leaves less than
      `minDebt` (but not none) of `token` behind the other tokens (a later liquidation of those
      would sweep it as dust: the same dust made to order in two steps).
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
    left = collateral_value(held - seized, price, decimals, asset_decimals)
    rest = others + left
    if is_dust(rest, remaining, rules.min_debt):
        if seized != held and repay_ != cap:  # a smaller repay chosen to leave dust
            return Refusal("DustDebt", (remaining, rules.min_debt))
        return Liquidation(token, debt, held, health, cap, bonus, repay_, seized, rest, True)
    if seized != held and remaining < rules.min_debt:
        return Refusal("DustDebt", (remaining, rules.min_debt))
    if seized != held and repay_ != cap and left < rules.min_debt:  # dust of `token` made to order
        return Refusal("DustCollateral", (left, rules.min_debt))
    return Liquidation(token, debt, held, health, cap, bonus, repay_, seized, rest)


def plan_liquidation(
    position: Position, token: str, repay_amount: int, rules: LiquidationRules
) -> Liquidation | Refusal:
    """`LendingSleeve._plan` (what `previewLiquidation` returns or `liquidate` reverts with).

    Checked in the contract's order: `ZeroAmount` (repay_amount 0), `NoDebt`, `NoCollateral`
    (no `token` held), `StalePrice` (the price of `token` not fresh), `HealthyPosition`
    (health >= 1, unless the loans are due: `rules.called`), then `size_liquidation`. Health,
    the seizure and the value the borrower keeps count every token at its `liquidation_price`
    (`liquidation_prices`): the router's `liquidationPrice` (`band_clamp`), so a fall nobody
    confirmed counts no further than the band's lower edge and a rise counts at once (never
    above the live price, so health >= 1 at the best prices is never liquidated); a token without
    a band (not fresh) at the best price
    available, so no lapsed feed of another token shields a position.
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
    position = liquidation_prices(position)
    target = position.holding(token)
    assert target is not None
    health = health_factor(position)
    if health >= WAD and not rules.called:
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


def liquidation_prices(position: Position) -> Position:
    """The position as a liquidation values it (`LendingSleeve._freshHealth`): every holding
    at its `liquidation_price` (its band clamp, else its best available price)."""
    return replace(
        position,
        holdings=tuple(replace(h, price=h.liquidation_price) for h in position.holdings),
    )


def liquidation_gain(liquidation: Liquidation, position: Position) -> int:
    """What the liquidator earns: `value(seized) - repay` at the token's `liquidation_price`
    (the seizure's), floored at 0 (`liquidationTrigger`'s measure; a dust sweep adds
    `liquidation.rest`: see `swept`)."""
    target = position.holding(liquidation.token)
    if target is None:
        raise ValueError(f"{liquidation.token} is not held by the position")
    value = collateral_value(
        liquidation.seized, target.liquidation_price, target.decimals, position.asset_decimals
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
    "healthy" counts every token at the best price available (`healthFactor`: no liquidation
    price is below it, so that is the liquidation's health or lower); each plan is at the
    liquidation's prices (`liquidation_prices`), so a position unhealthy only beyond the band's
    edge of an unconfirmed fall has "nothing to seize". Once the loans are due (`rules.called`)
    no position with debt is "healthy"."""
    if position.debt == 0:
        return NoLiquidation("no debt")
    if not rules.called and health_factor(position) >= WAD:
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
    "Liquidation",
    "LiquidationCall",
    "LiquidationRules",
    "NoLiquidation",
    "Refusal",
    "Settlement",
    "effective_bonus_bps",
    "is_dust",
    "liquidation_gain",
    "liquidation_prices",
    "liquidation_trigger",
    "max_repay",
    "plan_liquidation",
    "position_after",
    "settle_liquidation",
    "size_liquidation",
    "swept",
    "write_off",
]
