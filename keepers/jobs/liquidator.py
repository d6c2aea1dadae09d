"""Liquidator job, decision part: which `liquidate(borrower, token, repayAmount)` calls to send.

For every borrower read (`Borrower`: address and `keepers.math.Position`, debt accrued to now):

- a healthy position (health >= 1 WAD) or one without debt is never planned (counted only),
  except that once the book's loans are due (`LiquidationRules.called`, after the vault's
  shutdown and the call's notice) every position with debt is planned, in full;
- otherwise the collateral is chosen as `liquidationTrigger` chooses it
  (`keepers.math.liquidation_trigger`: the largest `liquidation_gain`, first listed on a tie);
- the gain is the trigger's (`liquidation_gain`: value seized - repay) plus, when the liquidation
  leaves only dust behind the debt (`Liquidation.sweep`: it writes the rest off), the dust swept to
  the liquidator with it (`Liquidation.rest`): such a liquidation is planned like any other, so
  no phantom debt waits behind a wei of collateral for a liquidation nobody would pay gas for;
- the profit is `gain - gas cost`, the gas cost being `liquidation_gas · (baseFee +
  priorityFee)` converted to asset units with the ETH/asset price (`GasMarket`), rounded up,
  where `liquidation_gas` is `gas_per_liquidation` plus `gas_per_extra_collateral` for each
  collateral token held beyond the first (the book prices every held token: measured 202,274
  gas with one, 221,635 with two, 290,130 with three);
- unprofitable plans (`profit <= min_profit`) are skipped with a reason;
- with a finite keeper `inventory` (asset units it can repay with), plans are funded greedily in
  profit order; one the rest of the inventory cannot fund in full is re-sized to it
  (`plan_liquidation` with that repay amount, every held token tried) and kept if still
  profitable, else skipped ("insufficient inventory").

Plans come ordered by profit (highest first), then borrower address: deterministic.

A liquidation values every token at its router `liquidationPrice`: the live price, never below
the lower edge of `oracle.maxDeviationBps` around the reference, so a rise counts at once and a
fall beyond the band counts at once up to the band's edge, the rest only once the router
confirmed it (a poke, `oracle.confirmDelay`, a poke). `plan_liquidation_pokes` keeps that wait
finite without the sentinel: for the tokens of the unhealthy positions read whose live price is
below the band's edge (confirming would move their liquidation price down to the live one), it
pokes to record the fall and,
once it has held, to confirm it; a rise is never confirmed here (it would hold liquidations off
longer), nor is a fall within the band (it counts already). A position unhealthy at the live
price but sound at that edge is skipped as waiting on the fall (`WAITS_ON_A_FALL`, its tokens in
`LiquidationSkip.falling`), not as "nothing to seize".

Batches (`LiquidationExecutor.liquidateBatch`, one transaction for many liquidations): the plans,
in that order, are packed into batches whose gas fits the block: `batch_gas_cap` (the latest
block's gas limit less `BatchSettings.headroom_bps`), first by a per-item guess
(`pack_batches`/`first_batch`), then re-sized to the node's estimate of the batch
(`fitted_count`); `batch_budget` is the asset a batch may pull from the keeper.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from keepers.jobs.sentinel import OracleState, PokePlan, confirmation_pokes
from keepers.math import (
    MAX_UINT256,
    WAD,
    GasMarket,
    Liquidation,
    LiquidationRules,
    NoLiquidation,
    Position,
    Refusal,
    gas_cost_assets,
    health_factor,
    liquidation_gain,
    liquidation_trigger,
    plan_liquidation,
)


@dataclass(frozen=True)
class Borrower:
    """One borrower as read: `address` and its `Position` (debt accrued to now, fresh flags)."""

    address: str
    position: Position


@dataclass(frozen=True)
class LiquidatorSettings:
    """`gas_per_liquidation`: the gas estimate of one `liquidate` of a position holding one
    collateral token (units), `gas_per_extra_collateral` each further token held adds (a batch
    item's estimate from the node covers both: 0 there); `min_profit`: the least profit after
    gas (asset units) worth sending; a plan needs `profit > min_profit`."""

    gas_per_liquidation: int = 250_000
    min_profit: int = 0
    gas_per_extra_collateral: int = 50_000

    def __post_init__(self) -> None:
        if min(self.gas_per_liquidation, self.min_profit, self.gas_per_extra_collateral) < 0:
            raise ValueError("gas estimates and minimum profit must be non-negative")

    def liquidation_gas(self, position: Position) -> int:
        """The gas one `liquidate` of `position` is weighed at (see the module docstring)."""
        extra = max(len(position.held) - 1, 0)
        return self.gas_per_liquidation + self.gas_per_extra_collateral * extra


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
    "unprofitable: ...", "insufficient inventory: ..."). `falling`: the tokens (addresses) of
    a position the book calls sound at the band's edge ("nothing to seize") whose live price is
    below it: it waits on their fall's confirmation, not on nothing (`reason` says so)."""

    borrower: str
    health: int
    reason: str
    falling: tuple[str, ...] = ()


WAITS_ON_A_FALL = "sound at the band's edge until the fall is confirmed (oracle.confirmDelay)"


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
        if pos.debt == 0 or (health >= WAD and not rules.called):
            healthy.append(b.address)
            continue
        decimals = pos.asset_decimals
        gas_cost = gas_cost_assets(gas, settings.liquidation_gas(pos), decimals)
        call = liquidation_trigger(pos, rules)
        if isinstance(call, NoLiquidation):
            # unhealthy at the live price, sound where the book counts an unconfirmed fall (the
            # band's edge): it waits on the confirmation, which this pass's pokes move along
            falling = tuple(h.token for h in pos.held if h.fresh and h.liquidation_price > h.price)
            reason = WAITS_ON_A_FALL if call.reason == "nothing to seize" and falling else None
            skipped.append(LiquidationSkip(b.address, health, reason or call.reason,
                                           falling if reason else ()))  # fmt: skip
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


def plan_liquidation_pokes(
    borrowers: Iterable[Borrower],
    oracles: Iterable[OracleState],
    tokens: Mapping[str, str],
    now: int,
) -> tuple[PokePlan, ...]:
    """The `poke`s that confirm the falls beyond the band the unhealthy `borrowers`
    (health < 1 at the best prices) wait on (module docstring): `confirmation_pokes` over the
    `oracles` (named as in `tokens`, name -> token address) of the tokens those positions hold at a
    liquidation price above the live one (the live price below the band's lower edge: only
    there does confirming move the liquidation price); record a fall not yet recorded, confirm
    one that has held."""
    falling: set[str] = set()
    for b in borrowers:
        pos = b.position
        if pos.debt == 0 or health_factor(pos) >= WAD:
            continue
        falling |= {h.token.lower() for h in pos.held if h.liquidation_price > h.price}
    waiting = [o for o in oracles if tokens.get(o.name, "").lower() in falling]
    return confirmation_pokes(waiting, now, "a liquidation")


# ---------------------------------------------------------------------- batches

BATCH_BASE_GAS = 80_000
"""Gas of a batch beyond its items (the transaction, the budget's pull and refund, the approval
and the collateral hand-back): used only for the first packing, before the node's estimate."""


@dataclass(frozen=True)
class BatchSettings:
    """How liquidations are packed into `liquidateBatch` transactions.

    `item_gas`: first guess of one item's gas, to pack a batch before the node estimates it;
    `headroom_bps`: share of the block gas limit a batch leaves unused (0: a batch may fill the
    block); `gas_margin_bps`: a batch's gas limit is its estimate × (1 + margin);
    `max_items`: most items in one batch; `budget_slack_bps`: a batch may pull its planned
    repayments × (1 + slack) (interest accrued until it is mined), never more than the keeper
    holds."""

    item_gas: int = 250_000
    headroom_bps: int = 0
    gas_margin_bps: int = 300
    max_items: int = 500
    budget_slack_bps: int = 100

    def __post_init__(self) -> None:
        if self.item_gas <= 0 or self.max_items <= 0:
            raise ValueError("item gas and batch size must be positive")
        if not 0 <= self.headroom_bps < 10_000:
            raise ValueError("headroom must be in [0, 10000) bps")
        if self.gas_margin_bps < 0 or self.budget_slack_bps < 0:
            raise ValueError("gas margin and budget slack must be non-negative")


def batch_gas_cap(block_gas_limit: int, settings: BatchSettings) -> int:
    """The most gas one batch transaction may declare: the block's limit less the headroom."""
    return block_gas_limit * (10_000 - settings.headroom_bps) // 10_000


def gas_limit_of(estimate: int, settings: BatchSettings) -> int:
    """A batch's gas limit from the node's estimate (rounded up)."""
    return -(-estimate * (10_000 + settings.gas_margin_bps) // 10_000)


def first_batch(available: int, cap: int, settings: BatchSettings) -> int:
    """How many of `available` items the first batch takes by the per-item guess (at least one
    when any is available: a single liquidation is never refused for its size)."""
    room = (cap - BATCH_BASE_GAS) // settings.item_gas if cap > BATCH_BASE_GAS else 0
    return min(available, settings.max_items, max(1, room))


def pack_batches(
    plans: tuple[LiquidationPlan, ...] | list[LiquidationPlan], cap: int, settings: BatchSettings
) -> tuple[tuple[LiquidationPlan, ...], ...]:
    """`plans` (in order) cut into batches of `first_batch` size each."""
    batches: list[tuple[LiquidationPlan, ...]] = []
    rest = list(plans)
    while rest:
        n = first_batch(len(rest), cap, settings)
        batches.append(tuple(rest[:n]))
        rest = rest[n:]
    return tuple(batches)


def fitted_count(count: int, gas_limit: int, cap: int, available: int, max_items: int) -> int:
    """The item count a batch of `count` items whose gas limit came out at `gas_limit` should
    have so that its limit just fits `cap`, assuming gas grows in proportion to the items:
    fewer when over the cap, more (up to `available` and `max_items`) when well under; at
    least one."""
    if count <= 0 or gas_limit <= 0:
        raise ValueError("a batch has items and gas")
    target = count * cap // gas_limit
    return max(1, min(target, available, max_items))


def batch_budget(
    plans: tuple[LiquidationPlan, ...] | list[LiquidationPlan],
    inventory: int | None,
    settings: BatchSettings,
) -> int:
    """The asset a batch may pull: its planned repayments plus the slack, at most `inventory`
    (None: unlimited)."""
    need = sum(p.liquidation.repay for p in plans)
    budget = -(-need * (10_000 + settings.budget_slack_bps) // 10_000)
    return budget if inventory is None else min(budget, inventory)


__all__ = [
    "BATCH_BASE_GAS",
    "BatchSettings",
    "batch_budget",
    "batch_gas_cap",
    "first_batch",
    "fitted_count",
    "gas_limit_of",
    "pack_batches",
    "Borrower",
    "LiquidationPlan",
    "LiquidationSkip",
    "LiquidatorReport",
    "LiquidatorSettings",
    "plan_liquidation_pokes",
    "plan_liquidations",
]
