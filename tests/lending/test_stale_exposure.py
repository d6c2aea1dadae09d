"""The debt a silent collateral backs, as the stale strike leaves it out (`strikeValuation`).

Hypothesis drives two borrowers holding gold and T-bills through borrows, repayments and
waits at the default interest rates; then gold's feed goes silent. The book must leave out
exactly what the positions' gold shares owe now (each position's scaled debt split over its
tokens as its principal is: read from storage, checked to add up and to follow the principal's
split), and a third party's borrow and repayment against fresh T-bills, the way a searcher would
wrap a strike, must not move the stale valuation by more than the rounding of its own debt.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, event, given, settings
from hypothesis import strategies as st

from keepers.math import WAD, mul_div_up
from tests.lending_support import (
    DAY,
    MAX_UINT,
    USDC,
    deploy_lending_system,
    key,
    stored_loan,
    stored_scaled_backing,
    stored_scaled_usage,
)
from tests.vault_support import isolated

BPS = 10_000
GOLD = 1  # listing order: tbill, gold, invoices


@pytest.fixture(scope="module")
def stale_book(project, accounts):
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 2_000_000 * USDC)
    borrowers = [accounts[7], accounts[8]]
    for who, (gold, tbill) in zip(borrowers, ((200_000, 50_000), (60_000, 300_000)), strict=True):
        for name, assets in (("gold", gold), ("tbill", tbill)):
            got = lending.buy_collateral(who, name, assets * USDC)
            lending.book.depositCollateral(lending.token(name), got, sender=who)
        lending.fund(who, 200_000 * USDC)
    searcher = accounts[3]
    got = lending.buy_collateral(searcher, "tbill", 1_000_000 * USDC)
    lending.book.depositCollateral(lending.token("tbill"), got, sender=searcher)
    lending.fund(searcher, 10 * USDC)  # the rounding of its borrow's debt
    return lending, borrowers, searcher


def publish(lending, *names: str) -> None:
    for name in names:
        lending.set_nav(name, lending.feed(name).latestAnswer())


steps = st.lists(
    st.one_of(
        st.tuples(st.just("borrow"), st.integers(0, 1), st.integers(1, BPS)),
        st.tuples(st.just("repay"), st.integers(0, 1), st.integers(1, BPS)),  # BPS: all
        st.tuples(st.just("wait"), st.integers(1, 400 * DAY)),
    ),
    min_size=1,
    max_size=8,
)


def act(lending, borrowers, step) -> None:
    book = lending.book
    publish(lending, "gold", "tbill", "invoices")  # fresh prices for the borrow
    who = borrowers[step[1]]
    debt = book.debtOf(who)
    min_debt = lending.vs.registry.get(key("lend.minDebt"))
    if step[0] == "borrow":
        amount = book.maxBorrow(who) * step[2] // BPS
        if amount > 0 and debt + amount >= min_debt:
            book.borrow(amount, sender=who)
    elif debt:
        amount = MAX_UINT if step[2] == BPS else debt * step[2] // BPS
        if amount == MAX_UINT or debt - amount >= min_debt + USDC:  # a minute's interest
            book.repay(amount, who, sender=who)


def expected_low(lending, borrowers) -> tuple[int, int, bool]:
    """(what the positions' gold shares owe, the book's `low`, fresh) from storage: each gold
    share follows the principal's split to a unit and the shares add up to the position."""
    book = lending.book
    gold, tbill = lending.token("gold"), lending.token("tbill")
    owed = 0
    for who in borrowers:
        scaled = stored_loan(book, who).scaled
        on_gold = stored_scaled_backing(book, who, gold)
        assert on_gold + stored_scaled_backing(book, who, tbill) == scaled
        principal = book.positionOf(who).principal
        if principal:
            pro_rata = scaled * book.capUsageOf(who, gold) // principal
            assert abs(on_gold - pro_rata) <= 1, (on_gold, pro_rata)
        owed += on_gold
    assert stored_scaled_usage(book, GOLD) == owed
    exposed = mul_div_up(owed, book.borrowIndex(), WAD)
    value = book.totalAssets()
    haircut = lending.vs.registry.get(key("vault.staleHaircutBps"))
    if exposed * BPS <= value:  # at most 1 bps of the book: fresh, at its value
        return exposed, value, True
    rest = max(value - exposed, book.cash())
    return exposed, rest * BPS // (BPS - haircut), False


@settings(max_examples=10, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(actions=steps, borrow_bps=st.integers(1, BPS))
def test_a_stale_collateral_is_left_out_at_what_its_shares_owe(
    stale_book, chain, actions, borrow_bps
):
    lending, borrowers, searcher = stale_book
    book = lending.book
    with isolated(chain):
        for step in actions:
            if step[0] == "wait":
                chain.pending_timestamp = chain.blocks.head.timestamp + step[1]
                book.accrueInterest(sender=searcher)
                continue
            act(lending, borrowers, step)
        # Gold's feed goes silent past oracle.maxStaleness; the others answer.
        chain.pending_timestamp = chain.blocks.head.timestamp + 2 * DAY
        publish(lending, "tbill", "invoices")
        assert not lending.vs.router.tryPrice(lending.token("gold"))[1]
        chain.pending_timestamp = chain.blocks.head.timestamp  # one second: no interest between
        exposed, low, fresh = expected_low(lending, borrowers)
        got = book.strikeValuation()
        assert (got[0], got[3]) == (low, fresh)
        event("stale" if not fresh else "fresh")
        # A searcher's borrow and repayment around a strike move it by its own rounding only.
        amount = book.maxBorrow(searcher) * borrow_bps // BPS
        if amount < lending.vs.registry.get(key("lend.minDebt")):
            return
        chain.pending_timestamp = chain.blocks.head.timestamp
        event("searcher borrowed")
        book.borrow(amount, sender=searcher)
        during = book.strikeValuation()
        assert during[3] == got[3] and 0 <= during[0] - got[0] <= 4
        chain.pending_timestamp = chain.blocks.head.timestamp
        book.repay(MAX_UINT, searcher, sender=searcher)
        after = book.strikeValuation()
        assert after[3] == got[3] and 0 <= after[0] - got[0] <= 8
