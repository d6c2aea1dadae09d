"""A second read of today's contract changes (reread2): each test mounts one attack against a
change and asserts the defence from chain facts (receipts, revert reasons, balances).

- `LendingSleeve.depositCollateral` behind debt now attributes the principal again
  (`_rebase(..., true)`), and every token whose share rises is checked against its cap. A
  share rises not only for the token posted: the attribution is pro rata to borrow power at
  today's prices, so when the position's other token has gained weight since the last
  attribution (here: invoices fell 40 %, so gold weighs more), a top-up raises that other
  token's share too. Bob, liquidatable after the fall, tops up with the invoices he has: the
  deposit was refused `BorrowCapExceeded(gold)`, because mallory had borrowed gold's cap room
  (cheap: she keeps her loan), and mallory could liquidate him for the bonus. A deposit adds
  collateral and moves no debt in: only the token posted is now checked (the posting-behind-
  debt rule of the lending review's finding 3); a rise that prices made is recorded, unchecked,
  as a liquidation's re-attribution is.
"""

from __future__ import annotations

import pytest

from tests.lending_support import FEED_UNIT, USDC, WAD, deploy_zero_rate_book
from tests.vault_support import confirm_moves, isolated, revert_of


@pytest.fixture(scope="module")
def lending(project, accounts):
    return deploy_zero_rate_book(project, accounts)


def test_a_top_up_is_never_refused_for_another_tokens_cap(lending, accounts, chain):
    """Bob posts 500 gold (1,000,000) and 1,000,000 of invoices and borrows 1,200,000 (health
    1.21; gold carries 646,153 of it by borrow power). Governance caps gold's borrowing at
    1,500,000 and mallory borrows the room against her own gold. Invoices fall 40 %
    (confirmed): bob is at health 0.975, liquidatable. He posts the 200,000 of invoices he kept
    (120,000 now): health 1.045. The re-attribution at today's prices moves debt from invoices
    to gold (gold weighs 700 of 1,132 now): that rise, made by prices, refused the top-up."""
    book, router, registry = lending.book, lending.vs.router, lending.vs.registry
    gov, bob, mallory = lending.vs.governance, accounts[7], accounts[3]
    gold_t, inv_t = lending.token("gold"), lending.token("invoices")
    priced = [(s.token, s.feed) for s in lending.vs.sleeves]
    with isolated(chain):
        lending.open_position(bob, "gold", 1_000_000 * USDC, 0)
        inv = lending.buy_collateral(bob, "invoices", 1_200_000 * USDC)
        kept = inv // 6  # 200,000 at 1.00
        book.depositCollateral(inv_t, inv - kept, sender=bob)
        book.borrow(1_200_000 * USDC, sender=bob)
        on_gold = book.capUsage(gold_t)
        assert 646_000 * USDC < on_gold < 646_200 * USDC
        # Gold's cap room taken by mallory's own loan (she posts real gold and borrows it).
        cap = 1_500_000 * USDC
        lending.set_param("lend.borrowCap.gold", cap)
        lending.open_position(mallory, "gold", 1_500_000 * USDC, cap - on_gold)
        assert book.capUsage(gold_t) == cap
        # Invoices fall 40 %, confirmed after oracle.confirmDelay.
        lending.set_nav("invoices", 60 * FEED_UNIT // 100)
        assert confirm_moves(router, registry, priced, sender=gov)
        assert router.priceBand(inv_t) == (6 * WAD // 10, 6 * WAD // 10)
        assert book.healthFactor(bob) < WAD  # (750,000 + 600,000 x 0.70) / 1,200,000
        assert book.liquidationTrigger(bob)[0]
        refused = revert_of(book, "depositCollateral", inv_t, kept, sender=bob)
        assert refused is None, (
            f"bob's top-up with the invoices he holds (health 0.975 -> 1.045) was refused "
            f"{refused}: gold's share of his debt rose by prices and mallory had filled its cap; "
            f"he stays liquidatable"
        )
        book.depositCollateral(inv_t, kept, sender=bob)
        assert book.healthFactor(bob) > WAD
        ok, reason = book.liquidationTrigger(bob)
        assert not ok and reason == b"healthy"
        # The invoices he posted carry less than before (they fell): only gold's share rose,
        # by prices; the shares still add up to his principal.
        assert book.capUsageOf(bob, gold_t) > on_gold
        assert book.capUsageOf(bob, gold_t) + book.capUsageOf(bob, inv_t) == 1_200_000 * USDC
        # A new borrow against gold is still refused past its cap (the cap still binds).
        assert revert_of(book, "borrow", 10_000 * USDC, sender=mallory)[0] == "BorrowCapExceeded"
