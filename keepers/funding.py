"""A keeper key's funds (pure): its gas coin and its stablecoin inventory, and what a pass could
not do for lack of either.

- `Funding`: the key's balances as read (`keepers.reads.read_funding`): native coin (wei) for
  gas, the vault asset (the stablecoin a liquidator repays with) in its units;
- `Shortfall`: a job could not act for lack of funds — gas (`asset == NATIVE`: a transaction's
  gas limit × max fee above the key's balance; nothing was sent) or inventory (the liquidator's
  profitable liquidations the key cannot repay). `ballast-keeper once` warns once per job and
  asset and exits with `UNFUNDED_EXIT`; `ballast-keeper status` and the metrics
  (`ballast_keeper_balance{asset}`) show the balances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["NATIVE", "UNFUNDED_EXIT", "Funding", "Shortfall", "whole"]

NATIVE: Final = "ETH"  # the label of the chain's coin (gas)
NATIVE_DECIMALS: Final = 18
UNFUNDED_EXIT: Final = 6  # `ballast-keeper once`: a job could not act for lack of funds


def whole(amount: int, decimals: int) -> str:
    """`amount` base units as a decimal number of whole units (at most 6 decimals, trailing
    zeros dropped; rounded down)."""
    shown = min(decimals, 6)
    units = amount // 10 ** (decimals - shown)
    integer, fraction = divmod(units, 10**shown)
    text = f"{integer:,}"
    if fraction:
        text += "." + f"{fraction:0{shown}d}".rstrip("0")
    return text


@dataclass(frozen=True)
class Funding:
    """A key's balances: `native` wei of gas coin, `asset` units of the vault's stablecoin."""

    native: int
    asset: int
    asset_symbol: str
    asset_decimals: int

    def balances(self) -> dict[str, float]:
        """Whole units by asset label, for metrics: {"ETH": …, "<symbol>": …}."""
        return {
            NATIVE: self.native / 10**NATIVE_DECIMALS,
            self.asset_symbol: self.asset / 10**self.asset_decimals,
        }

    def describe(self) -> str:
        return (
            f"{whole(self.native, NATIVE_DECIMALS)} {NATIVE} for gas, "
            f"{whole(self.asset, self.asset_decimals)} {self.asset_symbol} inventory"
        )


@dataclass(frozen=True)
class Shortfall:
    """`job` could not act: it needed `need` of `asset` (base units) and the key holds `have`.
    `what`: what the funds were for."""

    job: str
    asset: str
    need: int
    have: int
    decimals: int
    what: str

    def message(self, key: str | None) -> str:
        """One line for the operator."""
        who = f"key {key}" if key else "the key"
        need = (
            f"{whole(self.need, self.decimals)} {self.asset}" if self.need > self.have
            else f"more {self.asset}"  # the node refused for funds: the need is unknown
        )  # fmt: skip
        return (
            f"{self.job} could not act for lack of funds: {who} holds "
            f"{whole(self.have, self.decimals)} {self.asset}, needs {need} {self.what}"
        )
