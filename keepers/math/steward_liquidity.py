"""Exit liquidity in the risk steward's model (pure).

A liquidation sells the seized collateral through the issuer's daily exit (its redemption limit
read on chain, `maxRedeem()`), so the time a liquidation takes grows with the book's collateral
over that exit: `exit_days`. While the issuer is gated (`daily_exit` 0) nothing seized can be
sold, so:

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

from typing import Final

MAX_LIQUIDITY_DAYS: Final = 30.0  # a gated issuer counts as this many days to exit

__all__ = ["MAX_LIQUIDITY_DAYS", "exit_days", "gate_targets", "is_gated"]


def exit_days(collateral_value: int, daily_exit: int) -> float:
    """Days the issuer's exit takes to absorb `collateral_value` (asset units) at `daily_exit`
    a day, at most `MAX_LIQUIDITY_DAYS` (also when gated); 0 without collateral."""
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
