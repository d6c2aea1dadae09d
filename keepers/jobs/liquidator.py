"""Liquidator job, decision part: which `liquidate(borrower, token, repayAmount)` calls to send.

For every borrower read (`Borrower`: address and `keepers.math.Position`, debt accrued to now):

- a healthy position (health >= 1 WAD) or one without debt is never planned (counted only);
- otherwise the collateral is chosen as `liquidationTrigger` chooses it
  (`keepers.math.liquidation_trigger`: the largest `liquidation_gain`, first listed on a tie);
- the gain is the trigger's (`liquidation_gain`: value seized - repay) plus, when the liquidation
  leaves only dust behind the debt (`Liquidation.sweep`: it writes the rest off), the dust swept to
  the liquidator with it (`Liquidation.rest`): such a liquidation is planned like any other, so
  no phantom debt waits behind a wei of collateral for a liquidation nobody would pay gas for;
- the profit is `gain - gas cost`, the gas cost being `gas_per_liquidation · (baseFee +
  priorityFee)` converted to asset units with the ETH/asset price (`GasMarket`), rounded up;
- unprofitable plans (`profit <= min_profit`) are skipped with a reason;
- with a finite keeper `inventory` (asset units it can repay with), plans are funded greedily in
  profit order; one the rest of the inventory cannot fund in full is re-sized to it
  (`plan_liquidation` with that repay amount, every held token tried) and kept if still
  profitable, else skipped ("insufficient inventory").

Plans come ordered by profit (highest first), then borrower address: deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from keepers.math import (
    MAX_UINT256,
    WAD,
    Liquidation,
    LiquidationRules,
    NoLiquidation,
    Position,
    Refusal,
    health_factor,
    liquidation_gain,
    liquidation_trigger,
    plan_liquidation,
)
from keepers.strategy.gate import GasMarket, gas_cost_assets


@dataclass(frozen=True)
class Borrower:
    """One borrower as read: `address` and its `Position` (debt accrued to now, fresh flags)."""

    address: str
    position: Position


@dataclass(frozen=True)
class LiquidatorSettings:
    """`gas_per_liquidation`: the gas estimate of one `liquidate` (units); `min_profit`: the
    least profit after gas (asset units) worth sending; a plan needs `profit > min_profit`."""

    gas_per_liquidation: int = 400_000
    min_profit: int = 0

    def __post_init__(self) -> None:
        if self.gas_per_liquidation < 0 or self.min_profit < 0:
            raise ValueError("gas estimate and minimum profit must be non-negative")


@dataclass(frozen=True)
class LiquidationPlan:
    """A call to send: `liquidate(borrower, token, repay_amount)`. `repay_amount` is MAX_UINT256
    (the most allowed when mined, as `liquidationTrigger` proposes) unless the keeper's inventory
    limited it; `liquidation` is what it does on the state read (the keeper must hold and approve
    `liquidation.repay`); `gain` includes a dust write-off's sweep; `profit = gain - gas_cost`
    (asset units)."""

    borrower: str
    token: str
    repay_amount: int
    liquidation: Liquidation
    health: int
    gain: int
    gas_cost: int
    profit: int


@dataclass(frozen=True)
class LiquidationSkip:
    """An unhealthy borrower not planned, and why ("stale price", "nothing to seize",
    "unprofitable: ...", "insufficient inventory: ...")."""

    borrower: str
    health: int
    reason: str


@dataclass(frozen=True)
class LiquidatorReport:
    """The plans (profit order), the unhealthy borrowers skipped (address order) and the
    healthy or debt-free borrowers left alone (address order). `inventory_short`: the repay
    amount (asset units) of the profitable liquidations skipped for lack of inventory (0: none
    was; the keeper could act on all it found worth acting on)."""

    plans: tuple[LiquidationPlan, ...]
    skipped: tuple[LiquidationSkip, ...]
    healthy: tuple[str, ...]
    inventory_short: int = 0

    @property
    def total_profit(self) -> int:
        return sum(p.profit for p in self.plans)


def _gain(liquidation: Liquidation, position: Position) -> int:
    """What the liquidator gets beyond its repay: the bonus, and a dust write-off's sweep."""
    dust = liquidation.rest if liquidation.sweep else 0
    return liquidation_gain(liquidation, position) + dust


def _best_for_amount(
    position: Position, rules: LiquidationRules, amount: int
) -> tuple[Liquidation, int] | None:
    """The held collateral whose liquidation repaying at most `amount` gains the most."""
    best: tuple[Liquidation, int] | None = None
    for h in position.held:
        plan = plan_liquidation(position, h.token, amount, rules)
        if isinstance(plan, Refusal):
            continue
        gain = _gain(plan, position)
        if best is None or gain > best[1]:
            best = (plan, gain)
    return best


def plan_liquidations(
    borrowers: Iterable[Borrower],
    rules: LiquidationRules,
    gas: GasMarket,
    settings: LiquidatorSettings | None = None,
    inventory: int | None = None,
) -> LiquidatorReport:
    """The liquidations worth sending now (see the module docstring); `inventory` None means
    unlimited (e.g. flash-funded)."""
    settings = settings or LiquidatorSettings()
    by_address: dict[str, Borrower] = {}
    for b in borrowers:
        by_address.setdefault(b.address.lower(), b)
    candidates: list[LiquidationPlan] = []
    skipped: list[LiquidationSkip] = []
    healthy: list[str] = []
    for key in sorted(by_address):
        b = by_address[key]
        pos = b.position
        health = health_factor(pos)
        if pos.debt == 0 or health >= WAD:
            healthy.append(b.address)
            continue
        decimals = pos.asset_decimals
        gas_cost = gas_cost_assets(gas, settings.gas_per_liquidation, decimals)
        call = liquidation_trigger(pos, rules)
        if isinstance(call, NoLiquidation):
            skipped.append(LiquidationSkip(b.address, health, call.reason))
            continue
        gain = _gain(call.liquidation, pos)
        profit = gain - gas_cost
        if profit <= settings.min_profit:
            reason = (
                f"unprofitable: gain {gain} - gas {gas_cost} = {profit} "
                f"<= min profit {settings.min_profit}"
            )
            skipped.append(LiquidationSkip(b.address, health, reason))
            continue
        candidates.append(
            LiquidationPlan(
                b.address, call.token, MAX_UINT256, call.liquidation, health,
                gain, gas_cost, profit,
            )
        )  # fmt: skip
    candidates.sort(key=lambda p: (-p.profit, p.borrower.lower()))
    if inventory is None:
        return LiquidatorReport(tuple(candidates), tuple(skipped), tuple(healthy))

    plans: list[LiquidationPlan] = []
    left = inventory
    short = 0
    for p in candidates:
        if p.liquidation.repay <= left:
            plans.append(p)
            left -= p.liquidation.repay
            continue
        pos = by_address[p.borrower.lower()].position
        resized = _best_for_amount(pos, rules, left) if left > 0 else None
        if resized is not None and resized[1] - p.gas_cost > settings.min_profit:
            liq, gain = resized
            plans.append(
                LiquidationPlan(
                    p.borrower, liq.token, liq.repay, liq, p.health, gain, p.gas_cost,
                    gain - p.gas_cost,
                )
            )  # fmt: skip
            left -= liq.repay
            continue
        reason = f"insufficient inventory: needs {p.liquidation.repay}, {left} left"
        skipped.append(LiquidationSkip(p.borrower, p.health, reason))
        short += p.liquidation.repay
    plans.sort(key=lambda p: (-p.profit, p.borrower.lower()))
    skipped.sort(key=lambda s: s.borrower.lower())
    return LiquidatorReport(tuple(plans), tuple(skipped), tuple(healthy), short)


__all__ = [
    "Borrower",
    "LiquidationPlan",
    "LiquidationSkip",
    "LiquidatorReport",
    "LiquidatorSettings",
    "plan_liquidations",
]
