"""The lending book under any sequence of user, keeper and market actions.

A hypothesis state machine drives one deployed system (vault + book, three collateral tokens,
three borrowers holding a stock of each, a quarter of it posted behind a loan at 90% of what
they may borrow) through random deposits and withdrawals of collateral, borrows, repayments,
price moves, oracle pokes and confirmations (a move beyond `oracle.maxDeviationBps` stays
pending until a poke `oracle.confirmDelay` after the first), time jumps, keeper liquidations
through `liquidationTrigger` and depositors leaving the vault. Every action is first tried as an
`eth_call` on the pending block (no trace rendering for the refusals): a refusal must be one a
user can explain, and an accepted call is then sent for real. Each block is mined in the same
second as the one before unless a rule moves time, so the call and the transaction agree.

After every step, on chain:
- Σ borrowers' scaled debt == the book's totalScaled, and Σ debts (rounded up) lies between
  the book's debt (rounded down) and that plus one wei per borrower;
- each token's cap usage == Σ the positions' shares of it (`capUsageOf`), each position's shares
  add up to its principal, and a token it does not hold carries none of it; the same for the
  split of its scaled debt (the high half of `_backing`, `scaledUsage`: a stale token's exposure);
- the book holds exactly the collateral its positions record, and at least its cash in
  stablecoin; totalAssets() == cash + totalDebt();
- the vault's totalAssets() == idle + Σ sleeves (DESIGN.md invariant 1);
- the supply index only falls in a step that realised bad debt;
- a position with health >= 1 cannot be liquidated (DESIGN.md invariant 6, first half), nor
  one whose health is >= 1 at the liquidation's prices (each token at its live price floored at
  the lower edge of its router band: a fall nobody confirmed counts only to that edge); those
  prices are never below the live ones, so the second health is never below the first;
- a keeper's liquidation never leaves debt behind dust (collateral worth less than lend.minDebt
  and the debt left, at the liquidation's prices: issue 18, M-4): it writes it off instead; and
  it lowers health only when it writes debt off or the position was below the seized token's
  threshold x (1 + bonus) (DESIGN.md invariant 6, second half, with the gap ILendingSleeve
  states); the liquidator
  pays exactly the repayment, gets exactly the seizure and any dust swept, and the seizure is
  worth at most the repayment plus the effective bonus at the price it was taken at (the high
  end of the seized token's band).
"""

from __future__ import annotations

import os
from types import SimpleNamespace

from ape import accounts, chain, project
from eth_abi import decode
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from keepers.math import (
    BPS,
    effective_bonus_bps,
    health_factor,
    is_dust,
    liquidation_prices,
)
from tests.invariants.agent_machine_support import Raw, Reads
from tests.lending_support import (
    BOOK_SLOT,
    COLLATERAL,
    DAY,
    MAX_UINT,
    RATES_SLOT,
    SUPPLY_INDEX_SLOT,
    USDC,
    WAD,
    LendingSystem,
    backing_slot,
    book_of,
    collateral_field_slot,
    deploy_lending_system,
    key,
    liquidation_rules,
    loan_of,
    loan_slot,
    position_of,
    scaled_backing_of,
    scaled_usage_of,
)
from tests.vault_support import confirm_moves, next_window, revert_of

NAMES = tuple(COLLATERAL)
STOCK = 400_000 * USDC  # each borrower's stock of each collateral, bought once
# Refusals a user meets in normal use; anything else (a panic, an unknown error) fails the run.
EXPLAINED = {
    "RedeemRequestQueued",  # the depositor's earlier request still waits for liquidity
    "NothingToStrike",
    "InsufficientCollateral",
    "InsufficientCollateralBalance",
    "InsufficientCash",
    "BorrowCapExceeded",
    "DebtBelowMinimum",
    "DustDebt",
    "NoDebt",
    "HealthyPosition",
    "ZeroAmount",
    "InsufficientLiquidity",
}

_SYSTEM: dict[str, object] = {}


def _system() -> tuple[LendingSystem, list, object]:
    """Deployed once per test process; every run starts from its snapshot."""
    if "lending" not in _SYSTEM:
        gov = accounts.test_accounts[0]
        lending = deploy_lending_system(
            project, gov, accounts.test_accounts[1], accounts.test_accounts[5]
        )
        lending.supply(accounts.test_accounts[6], 2_000_000 * USDC)
        borrowers = [
            accounts.test_accounts[7],
            accounts.test_accounts[8],
            accounts.test_accounts[3],
        ]
        for borrower in borrowers:
            for name in NAMES:
                got = lending.buy_collateral(borrower, name, STOCK)
                lending.book.depositCollateral(lending.token(name), got // 4, sender=borrower)
            lending.book.borrow(lending.book.maxBorrow(borrower) * 9 // 10, sender=borrower)
            lending.fund(borrower, 50_000 * USDC)  # to pay interest with
        keeper = accounts.test_accounts[9]
        lending.fund(keeper, 5_000_000 * USDC)
        _SYSTEM.update(lending=lending, borrowers=borrowers, keeper=keeper)
    return _SYSTEM["lending"], _SYSTEM["borrowers"], _SYSTEM["keeper"]


class LendingMachine(RuleBasedStateMachine):
    @initialize()
    def start(self):
        self.lending, self.borrowers, self.keeper = _system()
        if "snapshot" in _SYSTEM:
            chain.restore(_SYSTEM["snapshot"])
        _SYSTEM["snapshot"] = chain.snapshot()
        self.book = self.lending.book
        self.gov = accounts.test_accounts[0]
        self.index = self.book.returnIndex()
        self.bad_debt = False

    # ------------------------------------------------------------------ helpers

    def _try(self, contract, method: str, *args, sender) -> bool:
        """Send `method` if an eth_call on the pending block passes; else check the refusal."""
        chain.pending_timestamp = chain.blocks.head.timestamp
        outcome = revert_of(contract, method, *args, sender=sender)
        if outcome is not None:
            assert outcome[0] in EXPLAINED, f"{method}{args}: {outcome}"
            event(f"{method}: {outcome[0]}")
            return False
        tx = getattr(contract, method)(*args, sender=sender)
        if any(e.event_name == "BadDebtRealized" for e in tx.events):
            self.bad_debt = True
            event("bad debt")
        event(f"{method}: ok")
        return True

    def _republish(self) -> None:
        for name in NAMES:  # the daily NAV publications
            self.lending.set_nav(name, self.lending.feed(name).latestAnswer())

    # ------------------------------------------------------------------ borrowers

    @rule(who=st.integers(0, 2), name=st.sampled_from(NAMES), share=st.integers(1, 100))
    def deposit_collateral(self, who, name, share):
        b, token = self.borrowers[who], self.lending.token(name)
        amount = token.balanceOf(b) * share // 100
        if amount:
            self._try(self.book, "depositCollateral", token, amount, sender=b)

    @rule(who=st.integers(0, 2), name=st.sampled_from(NAMES), share=st.integers(1, 110))
    def withdraw_collateral(self, who, name, share):
        b, token = self.borrowers[who], self.lending.token(name)
        amount = max(self.book.collateralOf(b, token) * share // 100, 1)
        self._try(self.book, "withdrawCollateral", token, amount, sender=b)

    @rule(who=st.integers(0, 2), share=st.integers(1, 120), flat=st.integers(0, 300 * USDC))
    def borrow(self, who, share, flat):
        b = self.borrowers[who]
        amount = self.book.maxBorrow(b) * share // 100 + flat
        if amount:
            self._try(self.book, "borrow", amount, sender=b)

    @rule(who=st.integers(0, 2), share=st.integers(1, 100), everything=st.booleans())
    def repay(self, who, share, everything):
        b = self.borrowers[who]
        debt, cash = self.book.debtOf(b), self.lending.asset.balanceOf(b)
        amount = MAX_UINT if everything and cash >= debt + USDC else debt * share // 100
        amount = min(max(amount, 1), cash)  # what the borrower can pay
        if amount:
            self._try(self.book, "repay", amount, b, sender=b)

    # ------------------------------------------------------------------ market and keepers

    @rule(name=st.sampled_from(NAMES), move_bps=st.integers(-4_000, 2_000), holds=st.booleans())
    def price_moves(self, name, move_bps, holds):
        """A new round; with `holds`, a move beyond the band is then confirmed (it held)."""
        answer = self.lending.feed(name).latestAnswer()
        self.lending.set_nav(name, max(answer * (10_000 + move_bps) // 10_000, 1))
        if holds and self.lending.confirm(name):
            event("move confirmed")

    @rule(fall_bps=st.integers(1_000, 6_000), holds=st.booleans())
    def market_crash(self, fall_bps, holds):
        for name in NAMES:
            answer = self.lending.feed(name).latestAnswer()
            self.lending.set_nav(name, max(answer * (10_000 - fall_bps) // 10_000, 1))
        if holds and self.lending.confirm(*NAMES):
            event("crash confirmed")

    @rule()
    def sentinel_pokes(self):
        """Anyone pokes the router where `deviationTrigger` asks (records, confirms or drops a
        move beyond oracle.maxDeviationBps, or moves the reference within it)."""
        router = self.lending.vs.router
        for name in NAMES:
            token = self.lending.token(name)
            if router.deviationTrigger(token)[0]:
                router.poke(token, sender=self.keeper)
                event("oracle poked")

    @rule()
    def moves_confirmed(self):
        """The open moves held: a poke, oracle.confirmDelay, the NAVs published again, a poke."""
        router, registry = self.lending.vs.router, self.lending.vs.registry
        priced = [(self.lending.token(n), self.lending.feed(n)) for n in NAMES]
        if confirm_moves(router, registry, priced, self.gov):
            event("moves confirmed")

    @rule(seconds=st.one_of(st.integers(1, 3_600), st.integers(DAY, 90 * DAY)))
    def time_passes(self, seconds):
        chain.mine(timestamp=chain.blocks.head.timestamp + seconds)
        self._republish()

    @rule(who=st.integers(0, 2))
    def keeper_liquidates(self, who):
        b = self.borrowers[who]
        ok, data = self.book.liquidationTrigger(b)
        if not ok:
            event(f"trigger: {bytes(data).decode()}")
            return
        chain.pending_timestamp = chain.blocks.head.timestamp
        health = self.book.healthFactor(b)
        _, token, _ = decode(["address", "address", "uint256"], bytes(data)[4:])
        tokens = [self.lending.token(n) for n in NAMES]
        addresses = [t.address.lower() for t in tokens]
        name = NAMES[addresses.index(token.lower())]
        asset = self.lending.asset
        held = [asset.balanceOf(self.keeper), *(t.balanceOf(self.keeper) for t in tokens)]
        tx = self.book(sender=self.keeper, data=data)
        # The liquidator pays exactly the repayment and gets the seizure and any dust swept; the
        # seizure is worth at most the repayment plus the (effective) bonus at the price it was
        # taken at, to the wei (`_size` rounds it down).
        [liq] = [e for e in tx.events if e.event_name == "Liquidated"]
        swept = [0] * len(NAMES)
        for e in tx.events:
            if e.event_name == "CollateralSwept":
                swept[addresses.index(e.token.lower())] += e.amount
        now = [asset.balanceOf(self.keeper), *(t.balanceOf(self.keeper) for t in tokens)]
        assert held[0] - now[0] == liq.repaid
        for i, n in enumerate(NAMES):
            got = liq.seized * (n == name) + swept[i]
            assert now[1 + i] - held[1 + i] == got, n
        get = self.lending.vs.registry.get
        lt = get(key(f"lend.liqThresholdBps.{name}"))
        bonus = effective_bonus_bps(get(key(f"lend.liqBonusBps.{name}")), lt)
        seized_token = tokens[NAMES.index(name)]
        price = self.lending.vs.router.liquidationPrice(seized_token)  # floored at the edge
        unit = 10 ** seized_token.decimals()
        worth = liq.seized * price * USDC // (WAD * unit)
        assert worth <= liq.repaid * (BPS + bonus) // BPS, (worth, liq.repaid, bonus)
        bad = any(e.event_name == "BadDebtRealized" for e in tx.events)
        if bad:
            self.bad_debt = True
            event("bad debt")
        if any(e.event_name == "CollateralSwept" for e in tx.events):
            event("dust swept")
        event("liquidated")
        # No debt is left behind dust (a rounding wei of interest aside), at the prices the
        # liquidation valued the collateral at.
        debt = self.book.debtOf(b)
        position = liquidation_prices(position_of(self.lending, b, debt))
        if debt:
            rest = sum(h.value(position.asset_decimals) for h in position.held)
            margin = -(-self.book.borrowIndex() // WAD)
            assert not is_dust(rest, debt - margin, liquidation_rules(self.lending).min_debt)
        # Health falls only with a write-off or below the seized token's break-even.
        after = self.book.healthFactor(b)
        if not bad and after < health:
            assert health < WAD * lt * (BPS + bonus) // BPS**2, (health, after)
            event("liquidated: an under-water position's health fell (DESIGN 6 gap)")

    @rule(share=st.integers(1, 100))
    def depositor_leaves(self, share):
        """The depositor requests to redeem `share` % of its shares (refused while an earlier
        request of its is still queued), prices are published, anyone strikes (the book's cash
        and idle fill what they can; lent money is never recalled), the depositor claims."""
        depositor = accounts.test_accounts[6]
        vault = self.lending.vault
        shares = vault.balanceOf(depositor) * share // 100
        if shares:
            self._try(vault, "requestRedeem", shares, depositor, depositor, sender=depositor)
        next_window(chain)  # the request window's cut-off
        self._republish()
        self._try(vault, "strike", sender=self.keeper)
        claimable = vault.maxRedeem(depositor)
        if claimable:
            self._try(vault, "redeem", claimable, depositor, depositor, sender=depositor)

    # ------------------------------------------------------------------ invariants

    # Each invariant reads in one JSON-RPC batch per round of reads that depend on earlier ones
    # (`Reads`, tests/invariants/agent_machine_support.py): nothing is mined in between, so every
    # read sees what a call of its own would have; hundreds of views a step, a few HTTP round
    # trips instead of one each.

    def _raw(self, contract, abi=None) -> Raw:
        """`contract` (or an address with the ABI `abi`) over raw JSON-RPC, kept per address and
        ABI."""
        address = str(getattr(contract, "address", contract))
        abi = abi or contract.contract_type
        raw = _RAW.get((address.lower(), abi.name))
        if raw is None:
            typed = SimpleNamespace(address=address, contract_type=abi)
            raw = _RAW[address.lower(), abi.name] = Raw(typed)
        return raw

    @invariant()
    def books_balance(self):
        book, lending = self.book, self.lending
        rb, reads = self._raw(book), Reads()
        tokens = [lending.token(n) for n in NAMES]
        words = [reads.storage(book.address, s) for s in (BOOK_SLOT, RATES_SLOT, SUPPLY_INDEX_SLOT)]
        cash, rate = reads.call(rb, "cash"), reads.call(rb, "borrowRate")
        loan = {b: reads.storage(book.address, loan_slot(b)) for b in self.borrowers}
        debt = {b: reads.call(rb, "debtOf", b) for b in self.borrowers}
        total, assets = reads.call(rb, "totalDebt"), reads.call(rb, "totalAssets")
        held_cash = reads.call(self._raw(lending.asset), "balanceOf", book)
        pairs = [(b, t) for b in self.borrowers for t in tokens]
        share = {(b, t): reads.call(rb, "capUsageOf", b, t) for b, t in pairs}
        collateral = {(b, t): reads.call(rb, "collateralOf", b, t) for b, t in pairs}
        backing = {(b, t): reads.storage(book.address, backing_slot(b, t)) for b, t in pairs}
        principal = {b: reads.call(rb, "positionOf", b) for b in self.borrowers}
        listed = reads.call(rb, "collateralTokens")
        usage = [reads.call(rb, "capUsage", t) for t in tokens]
        usage_word = [reads.storage(book.address, collateral_field_slot(i, 5)) for i in range(3)]
        balance = [reads.call(self._raw(t), "balanceOf", book) for t in tokens]
        reads.fetch()
        # stored_scaled_usage(book, i) checks its word against capUsage of the i-th listed token
        listed_usage = [reads.call(rb, "capUsage", t) for t in listed.value]
        reads.fetch()

        stored = book_of(*(w.value for w in words), cash=cash.value, rate=rate.value)
        loans = [loan_of(loan[b].value).scaled for b in self.borrowers]
        assert sum(loans) == stored.total_scaled
        debts = [debt[b].value for b in self.borrowers]
        total = total.value
        assert total <= sum(debts) <= total + len(debts)
        assert assets.value == cash.value + total
        assert held_cash.value >= cash.value
        for b, scaled_debt in zip(self.borrowers, loans, strict=True):
            shares = [share[b, t].value for t in tokens]
            assert sum(shares) == principal[b].value.principal
            for name, t, s in zip(NAMES, tokens, shares, strict=True):
                assert s == 0 or collateral[b, t].value > 0, name
            # The same split of its scaled debt (what a stale token's exposure is read from).
            scaled = [scaled_backing_of(backing[b, t].value, share[b, t].value) for t in tokens]
            assert sum(scaled) == scaled_debt
            for name, t, s in zip(NAMES, tokens, scaled, strict=True):
                assert s == 0 or collateral[b, t].value > 0, name
        for index, (name, token) in enumerate(zip(NAMES, tokens, strict=True)):
            assert usage[index].value == sum(share[b, token].value for b in self.borrowers)
            assert scaled_usage_of(usage_word[index].value, listed_usage[index].value) == sum(
                scaled_backing_of(backing[b, token].value, share[b, token].value)
                for b in self.borrowers
            )
            held = sum(collateral[b, token].value for b in self.borrowers)
            assert balance[index].value == held, name

    @invariant()
    def vault_counts_every_sleeve(self):
        rv, reads = self._raw(self.lending.vault), Reads()
        count, total, idle = (reads.call(rv, m) for m in ("sleeveCount", "totalAssets", "idle"))
        reads.fetch()
        at = [reads.call(rv, "sleeveAt", i) for i in range(count.value)]
        reads.fetch()
        # Every sleeve answers ISleeve.totalAssets(); any sleeve ABI reads it.
        abi = project.TokenizedRWASleeve.contract_type
        parts = [reads.call(self._raw(a.value.sleeve, abi), "totalAssets") for a in at]
        reads.fetch()
        assert total.value == idle.value + sum(p.value for p in parts)

    @invariant()
    def supply_index_falls_only_with_bad_debt(self):
        index = self.book.returnIndex()
        if not self.bad_debt:
            assert index >= self.index
        self.index, self.bad_debt = index, False

    @invariant()
    def healthy_positions_cannot_be_liquidated(self):
        chain.pending_timestamp = chain.blocks.head.timestamp
        lending, book, rb = self.lending, self.book, self._raw(self.book)
        router, registry = lending.vs.router, lending.vs.registry
        tokens = [lending.token(n) for n in NAMES]
        # position_of's views, in rounds: the prices of the fresh tokens need tryPrice first
        views, reads = {}, Reads()

        def view(contract, method, *args):
            views[_view_key(contract, method, args)] = reads.call(
                self._raw(contract), method, *args
            )

        weights = [
            f"lend.{w}.{n}" for n in NAMES for w in ("ltvBps", "liqThresholdBps", "liqBonusBps")
        ]
        for name in ("oracle.maxDeviationBps", *weights):
            view(registry, "get", key(name))
        for b in self.borrowers:
            view(book, "debtOf", b)
            view(book, "healthFactor", b)
            view(book, "positionOf", b)
            for t in tokens:
                view(book, "collateralOf", b, t)
        for t in (*tokens, lending.asset):
            view(t, "decimals")
        for t in tokens:
            view(router, "tryPrice", t)
        reads.fetch()
        for t in tokens:
            if views[_view_key(router, "tryPrice", (t,))].value[1]:  # fresh
                view(router, "lastPrice", t)
                view(router, "liquidationPrice", t)
        reads.fetch()

        def read(contract, method, *args):
            return views[_view_key(contract, method, args)].value

        refusals = []
        for b in self.borrowers:
            debt = read(book, "debtOf", b)
            banded = health_factor(liquidation_prices(position_of(lending, b, debt, read=read)))
            live = read(book, "healthFactor", b)
            assert banded >= live, (banded, live)  # liquidation prices >= live prices
            if live < WAD and banded < WAD:
                continue
            if live < WAD:
                event("unhealthy only at a price nobody confirmed")
            for token in read(book, "positionOf", b).tokens:
                refusals.append(
                    reads.refusal(rb, "liquidate", b, token, MAX_UINT, sender=self.keeper)
                )
        reads.fetch()
        for refused in refusals:
            outcome = refused.value
            assert outcome is not None and outcome[0] in ("HealthyPosition", "NoDebt")


_RAW: dict[tuple[str, str], Raw] = {}


def _view_key(contract, method: str, args: tuple) -> tuple:
    """A view call's identity: the contract's address, the method, the arguments (an account or
    contract by its address)."""
    norm = tuple(
        str(getattr(a, "address", a)).lower() if hasattr(a, "address") else a for a in args
    )
    return str(contract.address).lower(), method, norm


LendingMachine.TestCase.settings = settings(
    # LENDING_MACHINE_EXAMPLES / _STEPS bound a run (a timed deep run, say); else ci 8, deep 400
    # examples of 20 steps.
    max_examples=int(
        os.environ.get("LENDING_MACHINE_EXAMPLES", max(8, settings.default.max_examples // 5))
    ),
    stateful_step_count=int(os.environ.get("LENDING_MACHINE_STEPS", 20)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestLendingStateMachine = LendingMachine.TestCase
