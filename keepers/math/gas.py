"""Gas in the vault's asset, pure: what a keeper's transaction costs, shared by every job that
weighs a gain against its gas (the liquidator, the settler, the rebalancer's gate).

`GasMarket`: the pending block's base fee, the tip the sender pays, and the native token's value
in the base asset (WAD); `gas_cost_assets(market, gas, asset_decimals)`: `gas · (baseFee +
priorityFee)` wei in base-asset units, rounded up (a cost is never understated).
"""

from __future__ import annotations

from dataclasses import dataclass

from keepers.math.lending import WAD


@dataclass(frozen=True)
class GasMarket:
    """Gas now: `base_fee_wei` of the pending block, the `priority_fee_wei` the sender will
    pay, and `native_price_wad`, the base-asset value of one native token (ETH) in WAD."""

    base_fee_wei: int
    priority_fee_wei: int
    native_price_wad: int

    def __post_init__(self) -> None:
        if min(self.base_fee_wei, self.priority_fee_wei, self.native_price_wad) < 0:
            raise ValueError("gas market values must be non-negative")


def gas_cost_assets(market: GasMarket, gas: int, asset_decimals: int) -> int:
    """`gas · (baseFee + priorityFee)` wei in base-asset units, rounded up:
    `ceil(gas · price_wei · native_price_wad · 10^decimals / 1e36)`."""
    wei = gas * (market.base_fee_wei + market.priority_fee_wei)
    return -(-(wei * market.native_price_wad * 10**asset_decimals) // (WAD * WAD))
