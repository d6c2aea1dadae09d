"""Depositor flows in the simulated vault (`MarketPath.flows`; README: "Depositor flows"), and
what each sleeve can pay in a day.

Paths without flows never reach `Depositors` (`simulate` runs them exactly as before flows
existed), so results on old scenario files are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks.backtest.scenario import LENDING, MarketPath

if TYPE_CHECKING:
    from benchmarks.backtest.simulate import Vault


def liquidity(
    path: MarketPath, vault: Vault, i: int, k: int, held: float, used: float = 0.0
) -> float:
    """What sleeve `i` can pay on day `k` (`used`: already paid that day)."""
    name = vault.sleeves[i]
    if name == LENDING:
        return max(held * (1.0 - path.utilization[k]) - used, 0.0)
    if path.is_frozen(name, k):
        return 0.0
    limit = vault.redeem_limit_assets[i]
    return held if limit is None else max(min(held, limit * path.nav[name][k] - used), 0.0)


@dataclass
class Depositors:
    """The vault's shares and its depositors' flows (`MarketPath.flows`), as the vault treats
    them: entries mint shares at NAV and wait idle to be invested; a redemption request
    escrows shares, paid at each day's NAV from idle, then pulled from the sleeves in the
    withdraw-queue order (the sleeve order, the vault's default) as far as each can pay that day
    (frozen: nothing; issuer daily limits; the book's cash), each sale paying the sleeve's
    trading cost (`Vault.cost`, borne by the vault); what cannot be paid waits."""

    shares: float
    pending: float = 0.0  # escrowed shares not yet paid
    deposited: float = 0.0
    redeemed: float = 0.0
    forced: float = 0.0
    gas_per_share: float = 0.0
    trading_cost: float = 0.0  # paid on forced sales (each sleeve's `vault.cost(i)`)

    def day(
        self, path: MarketPath, vault: Vault, k: int, flow: float, held: list[float], idle: float
    ) -> tuple[float, list[float]]:
        """Apply day `k`'s flow and pay what can be paid; returns idle and the day's pulls."""
        used = [0.0] * len(held)
        nav = idle + sum(held)
        if nav <= 0:  # emptied by a run (its forced sales' costs took what was left): nothing
            return idle, used  # to deposit a fraction of, nothing left to pay
        if flow > 0:
            self.shares += flow * nav * self.shares / nav
            idle += flow * nav
            self.deposited += flow * nav
        elif flow < 0:
            self.pending += -flow * (self.shares - self.pending)
        if self.pending <= 0:
            return idle, used
        nav = idle + sum(held)
        owed = self.pending * nav / self.shares
        for i in range(len(held)):
            if idle >= owed:
                break
            c = vault.cost(i)
            out = min((owed - idle) / (1.0 - c), liquidity(path, vault, i, k, held[i]))
            held[i] -= out
            used[i] += out
            idle += out * (1.0 - c)
            self.trading_cost += out * c
            self.forced += out
        pay = min(owed, idle)
        burn = self.pending * pay / owed
        self.shares -= burn
        self.pending -= burn
        self.redeemed += pay
        return idle - pay, used
