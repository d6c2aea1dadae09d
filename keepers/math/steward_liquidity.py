"""Exit liquidity in the risk steward's model (pure).

A liquidation sells the seized collateral through the issuer's daily exit (its redemption limit
read on chain, `maxRedeem()`), so the time a liquidation takes grows with the book's seizable
collateral over that exit: `exit_days`. The collateral counted is what liquidations could seize
and sell (`seizable_value`, summed over positions by `seizable_exposure`): of each position at
most its debt × (1 + the token's liquidation bonus), the most a liquidation repaying all of that
debt seizes; the collateral above that is never sold by the book. So collateral parked behind a
minimum loan moves nothing (counting every token the book held, 2,000,000 of gold posted
behind a 100 loan cut gold's threshold target from 7,500 to 6,094: anyone could make the
steward cut thresholds under other borrowers).

While the issuer is gated (`daily_exit` 0) nothing seized can be sold, so:

- new borrowing against the collateral stops (its borrow cap at the debt) and its LTV falls
  toward the model's target for a 30-day exit (`MAX_LIQUIDITY_DAYS`), both at once within the
  steward's steps;
- its LTV never rises during the gate, whatever the model's other inputs say;
- its liquidation threshold is *held* at its live value (`gate_targets`): lowering it while
  liquidators cannot sell protects no one during the gate and only queues liquidations — paid
  with the bonus by borrowers the DAO's threshold calls healthy — for the gate's end, at the
  bottom of the fall (the steward-made liquidation of the Aave incident).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

MAX_LIQUIDITY_DAYS: Final = 30.0  # a gated issuer counts as this many days to exit
BPS: Final = 10_000

__all__ = [
    "MAX_LIQUIDITY_DAYS",
    "exit_days",
    "gate_targets",
    "is_gated",
    "seizable_exposure",
    "seizable_value",
]


def seizable_value(held_value: int, debt: int, bonus_bps: int) -> int:
    """What liquidations could seize of one position's holding worth `held_value` (asset units)
    behind `debt`: at most `debt × (1 + bonus_bps)` (rounded up), never more than it holds;
    0 without debt. `bonus_bps`: the bonus the book pays on the token (its effective one)."""
    if debt <= 0 or held_value <= 0:
        return 0
    most = -(-debt * (BPS + max(bonus_bps, 0)) // BPS)
    return min(held_value, most)


def seizable_exposure(
    positions: Iterable[tuple[int, Iterable[tuple[str, int, int]]]],
) -> dict[str, int]:
    """Per collateral key, the sum over `positions` — each (debt, its holdings as (key, value in
    asset units, bonus bps)) — of `seizable_value`: the collateral liquidations could bring to
    the issuer's exit. A key held only behind no debt is absent."""
    out: dict[str, int] = {}
    for debt, held in positions:
        for key, value, bonus_bps in held:
            counted = seizable_value(value, debt, bonus_bps)
            if counted > 0:
                out[key] = out.get(key, 0) + counted
    return out


def exit_days(collateral_value: int, daily_exit: int) -> float:
    """Days the issuer's exit takes to absorb `collateral_value` (asset units: the seizable
    collateral, `seizable_exposure`) at `daily_exit` a day, at most `MAX_LIQUIDITY_DAYS` (also
    when gated); 0 without collateral."""
    if collateral_value <= 0:
        return 0.0
    if daily_exit <= 0:
        return MAX_LIQUIDITY_DAYS
    return min(MAX_LIQUIDITY_DAYS, collateral_value / daily_exit)


def is_gated(collateral_value: int, daily_exit: int) -> bool:
    """The book holds the collateral and its issuer redeems nothing today."""
    return collateral_value > 0 and daily_exit <= 0


def gate_targets(
    live_threshold: int, live_ltv: int, ltv_target: int, min_gap_bps: int
) -> tuple[int, int]:
    """(threshold, LTV) targets while the issuer is gated: the threshold held at its live value;
    the LTV at the model's target but never above its live value (a gate never loosens) and at
    least `min_gap_bps` below the held threshold."""
    return live_threshold, min(ltv_target, live_ltv, live_threshold - min_gap_bps)
