"""Lending test support: the vault system of `vault_support` plus the lending book.

`deploy_lending_system` adds an InterestRateModel and a LendingSleeve as the vault's fourth
sleeve ("lending"), defines the `lend.*` parameters (no step limits, no cooldowns: a test may
set any of them at once) and lists the three RWA sleeves' tokens as collateral. Borrowers buy
their collateral from the mock issuers, as a real holder of a tokenized RWA would have.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak

from tests.vault_support import (
    DAY,
    FEED_UNIT,
    USDC,
    WAD,
    VaultSystem,
    define,
    deploy_vault_system,
)

BPS = 10_000
YEAR = 365 * DAY
MAX_UINT = 2**256 - 1

LEND_PARAMETERS: dict[str, tuple[int, int, int]] = {
    "lend.closeFactorBps": (5_000, 0, 10_000),
    "lend.fullCloseHealthBps": (9_500, 0, 10_000),
    "lend.minDebt": (100 * USDC, 0, 10**12 * USDC),
    "lend.rate.baseBps": (100, 0, 10_000),
    "lend.rate.slope1Bps": (400, 0, 10_000),
    "lend.rate.slope2Bps": (6_000, 0, 100_000),
    "lend.rate.kinkBps": (8_000, 0, 10_000),
}

# collateral name -> (ltvBps, liqThresholdBps, liqBonusBps, borrowCap)
COLLATERAL: dict[str, tuple[int, int, int, int]] = {
    "tbill": (8_000, 8_500, 500, 10**9 * USDC),
    "gold": (7_000, 7_500, 800, 10**9 * USDC),
    "invoices": (6_000, 7_000, 1_000, 10**9 * USDC),
}

LENDING_CAP_BPS = 9_000


@dataclass
class LendingSystem:
    vs: VaultSystem
    book: object
    irm: object

    @property
    def vault(self):
        return self.vs.vault

    @property
    def asset(self):
        return self.vs.asset

    def token(self, name: str):
        return self.vs.sleeve(name).token

    def feed(self, name: str):
        return self.vs.sleeve(name).feed

    def set_param(self, name: str, value: int) -> None:
        self.vs.set_param(name, value)

    def set_nav(self, name: str, answer: int) -> None:
        """Publish a new feed answer (8 decimals) for collateral `name`, fresh now."""
        self.feed(name).setAnswer(answer, sender=self.vs.governance)

    def supply(self, depositor, amount: int) -> None:
        """`depositor` deposits `amount` and the allocator moves 90% of the vault to the book."""
        self.vs.deposit(depositor, amount)
        self.vs.rebalance([0, 0, 0, LENDING_CAP_BPS])

    def fund(self, account, amount: int, spender=None) -> None:
        """Give `account` `amount` of the stablecoin, approved to `spender` (the book)."""
        limit = self.asset.FAUCET_LIMIT()
        left = amount
        while left > 0:
            chunk = min(left, limit)
            self.asset.faucet(account, chunk, sender=account)
            left -= chunk
        self.asset.approve(spender or self.book, MAX_UINT, sender=account)

    def buy_collateral(self, borrower, name: str, assets: int) -> int:
        """`borrower` subscribes `assets` of stablecoin at the issuer; returns the tokens got."""
        issuer = self.vs.sleeve(name).issuer
        self.fund(borrower, assets, spender=issuer)
        before = self.token(name).balanceOf(borrower)
        issuer.subscribe(assets, sender=borrower)
        got = self.token(name).balanceOf(borrower) - before
        self.token(name).approve(self.book, MAX_UINT, sender=borrower)
        return got

    def open_position(self, borrower, name: str, collateral_assets: int, debt: int) -> int:
        """Buy `collateral_assets` worth of `name`, post all of it, borrow `debt`."""
        tokens = self.buy_collateral(borrower, name, collateral_assets)
        self.book.depositCollateral(self.token(name), tokens, sender=borrower)
        if debt:
            self.book.borrow(debt, sender=borrower)
        return tokens


def deploy_lending_system(project, governance, guardian, allocator) -> LendingSystem:
    vs = deploy_vault_system(project, governance, guardian, allocator)
    for name, (value, lo, hi) in LEND_PARAMETERS.items():
        define(vs.registry, governance, name, value, lo, hi)
    for name, (ltv, lt, bonus, cap) in COLLATERAL.items():
        define(vs.registry, governance, f"lend.ltvBps.{name}", ltv, 0, BPS)
        define(vs.registry, governance, f"lend.liqThresholdBps.{name}", lt, 0, BPS)
        define(vs.registry, governance, f"lend.liqBonusBps.{name}", bonus, 0, 5_000)
        define(vs.registry, governance, f"lend.borrowCap.{name}", cap, 0, 10**15 * USDC)
    irm = governance.deploy(project.InterestRateModel, vs.registry)
    book = governance.deploy(
        project.LendingSleeve, vs.vault, vs.registry, vs.router, irm, governance
    )
    define(vs.registry, governance, "vault.maxSleeveBps.lending", LENDING_CAP_BPS, 0, BPS)
    vs.vault.addSleeve(book, "lending", sender=governance)
    for name in COLLATERAL:
        book.listCollateral(vs.sleeve(name).token, name, sender=governance)
    return LendingSystem(vs, book, irm)


def key(name: str) -> bytes:
    return keccak(text=name)


__all__ = [
    "BPS",
    "COLLATERAL",
    "DAY",
    "FEED_UNIT",
    "LEND_PARAMETERS",
    "MAX_UINT",
    "USDC",
    "WAD",
    "YEAR",
    "LendingSystem",
    "deploy_lending_system",
    "key",
]
