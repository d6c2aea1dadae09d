"""Attacks on the lending book from a third outside review (branch `lending3`): its math and
economics (interest, rounding, the stale book's value at a strike).

1. A borrow in the strike's transaction dilutes a stale collateral's exposure. While a listed
   token has no fresh price, a stale strike pays leavers without the debt that token backs,
   "interest included" (ILendingSleeve). The book measured that debt as the token's principal
   (`capUsage`) times the whole book's debt per unit of principal: every position's interest
   averaged. A fresh borrow has no interest yet, so a borrower taking the book's cash in the
   strike's transaction (and repaying in the same transaction, at no interest) lowered that
   average and with it the debt left out: bob's 700,000 behind gold, grown to 1,050,000 at 50 %
   for a year, counted as 766,216 beside a 3,000,000 borrow, so alice's exit of half the vault
   left with 141,892 of carol's value. Fixed: each token's share of the positions' scaled debt
   is kept beside its principal (the high half of `_backing`, `Collateral.scaledUsage`), so the
   stale debt left out is exactly what the positions' shares of that token owe now, which no
   other position's borrow or repayment moves.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.lending_support import (
    MAX_UINT,
    USDC,
    YEAR,
    zero_rate_book_with_a_gold_loan,
)
from tests.vault_support import faucet, isolated, next_window, settled


@pytest.fixture(scope="module")
def lending(project, accounts):
    return zero_rate_book_with_a_gold_loan(project, accounts)


def call(contract, method: str, *args) -> tuple[str, bytes]:
    """One FlashSearcher.Call: `contract.method(*args)` encoded."""
    return (contract.address, bytes(getattr(contract, method).as_transaction(*args).data))


def a_year_of_interest_on_bobs_loan(lending, accounts, chain) -> None:
    """50 % a year for a year on bob's 700,000 (1,050,000 owed), then rates back to 0 (stored by
    an accrual), so every later amount is exact."""
    book = lending.book
    lending.set_param("lend.rate.baseBps", 5_000)
    start = chain.blocks[book.accrueInterest(sender=accounts[0]).block_number].timestamp
    lending.set_param("lend.rate.baseBps", 0)  # stored at the next accrual, after the year
    chain.pending_timestamp = start + YEAR
    book.accrueInterest(sender=accounts[0])
    assert book.debtOf(accounts[7]) == 1_050_000 * USDC
    assert book.capUsage(lending.token("gold")) == 700_000 * USDC  # principal, no interest


def stale_exit(project, lending, accounts, chain, borrow: int) -> int:
    """Gold's feed stops behind alice's request to redeem all her shares; `vault.strikeMaxWait`
    after its last round she strikes, with `borrow` taken from the book and repaid by mallory's
    contract in the same transaction (tbill behind it: a fresh price). Returns alice's pay."""
    book, vault, vs = lending.book, lending.vault, lending.vs
    alice, mallory = accounts[6], accounts[4]
    tbill_t = lending.token("tbill")
    a_year_of_interest_on_bobs_loan(lending, accounts, chain)
    searcher = mallory.deploy(project.FlashSearcher)
    lending.set_nav("tbill", lending.feed("tbill").latestAnswer())
    tbill = lending.buy_collateral(mallory, "tbill", 4_000_000 * USDC)
    tbill_t.transfer(searcher, tbill, sender=mallory)
    faucet(lending.asset, mallory, USDC)  # the borrow's rounding, at an index of 1.5
    lending.asset.transfer(searcher, USDC, sender=mallory)
    searcher.execute(
        [call(tbill_t, "approve", book, tbill), call(book, "depositCollateral", tbill_t, tbill),
         call(lending.asset, "approve", book, MAX_UINT)],
        sender=mallory,
    )  # fmt: skip
    vault.requestRedeem(vault.balanceOf(alice), alice, alice, sender=alice)
    cutoff = next_window(chain)
    chain.pending_timestamp = cutoff + 60
    for name in ("gold", "tbill", "invoices"):  # a round after the cut-off; gold's last
        lending.set_nav(name, lending.feed(name).latestAnswer())
    last = lending.feed("gold").latestRoundData()[3]
    chain.pending_timestamp = last + vs.registry.get(keccak(text="vault.strikeMaxWait"))
    for name in ("tbill", "invoices"):  # gold stays silent
        lending.set_nav(name, lending.feed(name).latestAnswer())
    assert not vs.router.tryPrice(lending.token("gold"))[1]
    low, high, _, fresh = book.strikeValuation()
    assert not fresh and high == book.totalAssets()
    calls = [call(vault, "strike")]
    if borrow:
        calls = [call(book, "borrow", borrow), *calls, call(book, "repay", MAX_UINT, searcher)]
    strike = settled(searcher.execute(calls, sender=mallory), vault)
    assert strike["staleSleeves"] == 1 << 3
    assert book.debtOf(searcher) == 0
    before = lending.asset.balanceOf(alice)
    vault.redeem(vault.maxRedeem(alice), alice, alice, sender=alice)
    return lending.asset.balanceOf(alice) - before


def test_a_borrow_in_the_strikes_transaction_does_not_dilute_a_stale_exposure(
    project, lending, accounts, chain
):
    """Alice is paid without bob's whole 1,050,000 (gold's feed is silent), the 3,000,000 borrow
    and repayment in the strike's transaction or not: the same pay, to the wei."""
    with isolated(chain):
        honest = stale_exit(project, lending, accounts, chain, borrow=0)
    with isolated(chain):
        diluted = stale_exit(project, lending, accounts, chain, borrow=3_000_000 * USDC)
    print(f"alice paid {honest} honest, {diluted} beside the borrow")
    assert diluted == honest
