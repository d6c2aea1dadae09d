"""Lending test support: the vault system of `vault_support` plus the lending book.

`deploy_lending_system` adds an InterestRateModel and a LendingSleeve as the vault's fourth
sleeve ("lending"), defines the `lend.*` parameters (no step limits, no cooldowns: a test may
set any of them at once) and lists the three RWA sleeves' tokens as collateral. Borrowers buy
their collateral from the mock issuers, as a real holder of a tokenized RWA would have.
"""

from __future__ import annotations

from dataclasses import dataclass

import ape
from eth_abi import encode
from eth_utils import keccak

from keepers.math import Book, Holding, LiquidationRules, Loan, Position, RateModel, band_clamp
from tests.vault_support import (
    DAY,
    FEED_UNIT,
    USDC,
    WAD,
    VaultSystem,
    confirm_moves,
    define,
    deploy_vault_system,
    faucet,
)

BPS = 10_000
YEAR = 365 * DAY
MAX_UINT = 2**256 - 1

LEND_PARAMETERS: dict[str, tuple[int, int, int]] = {
    "lend.closeFactorBps": (5_000, 0, 10_000),
    "lend.fullCloseHealthBps": (9_500, 0, 10_000),
    "lend.minDebt": (100 * USDC, 0, 10**12 * USDC),
    "lend.callNoticePeriod": (7 * DAY, 0, 30 * DAY),
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

    def confirm(self, *names: str) -> bool:
        """The router confirms the moves of collateral `names` beyond oracle.maxDeviationBps, as
        the sentinel keeper does (`confirm_moves`: a poke, oracle.confirmDelay, the feeds
        published again, a poke): a liquidation counts such a fall only then. Returns whether
        a move was open."""
        priced = [(self.token(n), self.feed(n)) for n in names]
        return confirm_moves(self.vs.router, self.vs.registry, priced, self.vs.governance)

    def supply(self, depositor, amount: int) -> None:
        """`depositor` deposits `amount` and the allocator moves 90% of the vault to the book."""
        self.vs.deposit(depositor, amount)
        self.vs.rebalance([0, 0, 0, LENDING_CAP_BPS])

    def fund(self, account, amount: int, spender=None) -> None:
        """Give `account` `amount` of the stablecoin, approved to `spender` (the book)."""
        faucet(self.asset, account, amount)
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


# ------------------------------------------------- the book as keepers.math (lending) sees it

# LendingSleeve's storage: `_book` (cash | totalScaled << 128), `_rates` (borrowIndex | rate <<
# 128 | lastAccrual << 192), `_supplyIndex`, the `_positions` mapping (scaled | ...), the
# `_collaterals` array (6 slots a token: usage | scaledUsage << 128 at 5) and the `_backing`
# mapping (share | scaledShare << 128).
BOOK_SLOT, RATES_SLOT, SUPPLY_INDEX_SLOT, POSITIONS_SLOT = 1, 2, 3, 7
COLLATERALS_SLOT, COLLATERAL_SLOTS, BACKING_SLOT = 4, 6, 9
_U128, _U64, _U40 = 2**128 - 1, 2**64 - 1, 2**40 - 1


def _slot(contract, slot: int) -> int:
    return int.from_bytes(ape.chain.provider.get_storage(contract.address, slot), "big")


def stored_book(book) -> Book:
    """The book's stored interest state (not accrued), read from storage and checked against
    its views (a changed storage layout fails here, not in a differential test)."""
    return book_of(
        _slot(book, BOOK_SLOT), _slot(book, RATES_SLOT), _slot(book, SUPPLY_INDEX_SLOT),
        cash=book.cash(), rate=book.borrowRate(),
    )  # fmt: skip


def book_of(packed: int, rates: int, supply_index: int, *, cash: int, rate: int) -> Book:
    """The Book from the words at BOOK_SLOT, RATES_SLOT and SUPPLY_INDEX_SLOT, checked against
    the views `cash()` and `borrowRate()`."""
    state = Book(
        cash=packed & _U128,
        total_scaled=packed >> 128,
        borrow_index=rates & _U128,
        rate=(rates >> 128) & _U64,
        last_accrual=(rates >> 192) & _U40,
        supply_index=supply_index,
    )
    assert (state.cash, state.rate) == (cash, rate), (
        "LendingSleeve's storage layout changed: update the slots in lending_support"
    )
    return state


def loan_slot(borrower) -> int:
    """The slot of `_positions[borrower]` (its low half: the scaled debt)."""
    slot = keccak(encode(["address", "uint256"], [str(borrower.address), POSITIONS_SLOT]))
    return int.from_bytes(slot, "big")


def collateral_field_slot(index: int, offset: int) -> int:
    """The slot of word `offset` of `_collaterals[index]`."""
    base = int.from_bytes(keccak(COLLATERALS_SLOT.to_bytes(32, "big")), "big")
    return base + index * COLLATERAL_SLOTS + offset


def backing_slot(borrower, token) -> int:
    """The slot of `_backing[borrower][token]` (share | scaledShare << 128)."""
    inner = keccak(encode(["address", "uint256"], [str(borrower.address), BACKING_SLOT]))
    slot = keccak(encode(["address", "bytes32"], [str(token.address), inner]))
    return int.from_bytes(slot, "big")


def stored_loan(book, borrower) -> Loan:
    """The borrower's scaled debt, from `_positions`."""
    return loan_of(_slot(book, loan_slot(borrower)))


def loan_of(word: int) -> Loan:
    """The Loan in a `_positions` word."""
    return Loan(word & _U128)


def _collateral_field(book, index: int, offset: int) -> int:
    return _slot(book, collateral_field_slot(index, offset))


def scaled_usage_of(packed: int, usage: int) -> int:
    """`_collaterals[index].scaledUsage` from the packed word at offset 5, its low half checked
    against `capUsage` (`usage`)."""
    assert packed & _U128 == usage, (
        "LendingSleeve's storage layout changed: update the slots in lending_support"
    )
    return packed >> 128


def stored_scaled_usage(book, index: int) -> int:
    """`_collaterals[index].scaledUsage`: the positions' scaled debt resting on that token (the
    layout checked against `capUsage`, its `usage`)."""
    token = book.collateralTokens()[index]
    return scaled_usage_of(_collateral_field(book, index, 5), book.capUsage(token))


def scaled_backing_of(packed: int, share: int) -> int:
    """The scaled half of a `_backing` word, its low half checked against `capUsageOf`
    (`share`)."""
    assert packed & _U128 == share, (
        "LendingSleeve's storage layout changed: update the slots in lending_support"
    )
    return packed >> 128


def stored_scaled_backing(book, borrower, token) -> int:
    """The borrower's scaled debt resting on `token` (`_backing[borrower][token] >> 128`; the
    layout checked against `capUsageOf`, the low half)."""
    packed = _slot(book, backing_slot(borrower, token))
    return scaled_backing_of(packed, book.capUsageOf(borrower, token))


def rate_model(lending: LendingSystem) -> RateModel:
    """The registry's `lend.rate.*` as a keepers.math RateModel."""
    get = lending.vs.registry.get
    return RateModel(
        base_bps=get(key("lend.rate.baseBps")),
        slope1_bps=get(key("lend.rate.slope1Bps")),
        slope2_bps=get(key("lend.rate.slope2Bps")),
        kink_bps=get(key("lend.rate.kinkBps")),
    )


def liquidation_rules(lending: LendingSystem) -> LiquidationRules:
    get = lending.vs.registry.get
    return LiquidationRules(
        close_factor_bps=get(key("lend.closeFactorBps")),
        full_close_health_bps=get(key("lend.fullCloseHealthBps")),
        min_debt=get(key("lend.minDebt")),
    )


def lendable_price(lending: LendingSystem, token) -> int:
    """The price the book lends against (`LendingSleeve._lendablePrice`): the low end of the
    router's `priceBand`, and no more than the reference while it is younger than
    `oracle.confirmDelay`."""
    router = lending.vs.router
    low = router.priceBand(token)[0]
    ref, accepted_at = router.lastPrice(token)
    delay = lending.vs.registry.get(key("oracle.confirmDelay"))
    young = ape.chain.blocks.head.timestamp < accepted_at + delay  # as a view call sees it
    return ref if ref and ref < low and young else low


def _ape_read(contract, method: str, *args):
    return getattr(contract, method)(*args)


def position_of(
    lending: LendingSystem, borrower, debt: int, lendable: bool = False, read=_ape_read
) -> Position:
    """`borrower`'s collateral in listing order, priced as the router's `tryPrice` says now
    (with `lendable`, as the book lends against it: `lendable_price`), each fresh one with its
    liquidation price (`band_clamp`: the live price floored at the band's lower edge, checked
    against the router's `liquidationPrice`), with the registry's weights, owing `debt`.
    `read(contract, method, *args)` makes each view call (Ape's by default; a state machine
    hands in reads it fetched in one batch)."""
    registry, router = lending.vs.registry, lending.vs.router
    band = read(registry, "get", key("oracle.maxDeviationBps"))
    holdings = []
    for name in COLLATERAL:
        token = lending.token(name)
        price, fresh = read(router, "tryPrice", token)
        high = None
        if fresh:
            high = band_clamp(price, read(router, "lastPrice", token)[0], band)
            assert high == read(router, "liquidationPrice", token), (name, high)
        if lendable and fresh:
            price = lendable_price(lending, token)
        holdings.append(
            Holding(
                token=str(token.address),
                amount=read(lending.book, "collateralOf", borrower, token),
                decimals=read(token, "decimals"),
                price=price,
                ltv_bps=read(registry, "get", key(f"lend.ltvBps.{name}")),
                threshold_bps=read(registry, "get", key(f"lend.liqThresholdBps.{name}")),
                bonus_bps=read(registry, "get", key(f"lend.liqBonusBps.{name}")),
                fresh=fresh,
                high=high,
            )
        )
    decimals = read(lending.asset, "decimals")
    return Position(debt=debt, holdings=tuple(holdings), asset_decimals=decimals)


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
    "liquidation_rules",
    "position_of",
    "rate_model",
    "stored_book",
    "stored_loan",
]


def deploy_zero_rate_supplied_book(project, accounts) -> LendingSystem:
    """The lending system at zero interest (every amount exact), 10,000,000 supplied by account
    6 (90 % of it in the book), interest accrued once so the rate model reads 0."""
    system = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    for name in ("lend.rate.baseBps", "lend.rate.slope1Bps", "lend.rate.slope2Bps"):
        system.set_param(name, 0)
    system.supply(accounts[6], 10_000_000 * USDC)
    system.book.accrueInterest(sender=accounts[0])
    return system


def deploy_zero_rate_book(project, accounts) -> LendingSystem:
    """The lending system at zero interest (every amount exact): alice (account 6) and carol (8)
    5,000,000 each, 90 % of the vault in the book (the RWA sleeves hold nothing), and the
    keeper (9) funded with 5,000,000 of inventory."""
    system = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    for name in ("lend.rate.baseBps", "lend.rate.slope1Bps", "lend.rate.slope2Bps"):
        system.set_param(name, 0)
    system.vs.deposit(accounts[6], 5_000_000 * USDC)
    system.vs.deposit(accounts[8], 5_000_000 * USDC)
    system.vs.rebalance([0, 0, 0, 9_000])
    system.book.accrueInterest(sender=accounts[0])
    system.fund(accounts[9], 5_000_000 * USDC)
    return system


def zero_rate_book_with_a_gold_loan(project, accounts) -> LendingSystem:
    """`deploy_zero_rate_book` with bob (account 7) borrowing 700,000 against 500 gold
    (1,000,000 at 2,000): health 1.07, a sound loan."""
    system = deploy_zero_rate_book(project, accounts)
    system.open_position(accounts[7], "gold", 1_000_000 * USDC, 700_000 * USDC)
    return system
