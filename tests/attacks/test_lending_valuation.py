"""The lending book's value while a collateral cannot be priced (found in a review after stop 38).

The book used to report cash plus its nominal debt, published "now" and always fresh, whatever
its collateral's oracle said. While a collateral's feed is stale nobody can liquidate
(`StalePrice`), so debt the collateral no longer covers stayed counted at par and every strike
went on at that value: a holder who knew (the feed stopped because the collateral collapsed)
left at par, and the write-off, realised when the feed came back, fell on those who stayed and
on those who entered meanwhile (72,222 of a 144,444 loss moved); an agent's decision into the
book was evaluated on the same par value and escaped its slash. Now a listed token backing debt
without a fresh price makes the book not fresh (a move beyond the band does not: a liquidation
realises the loss once the move is confirmed, `oracle.confirmDelay` after the round; meanwhile
the book is at par, docs/security.md's strike-before-liquidation limit): strikes and evaluations
wait for the
price (or, for exits only, `vault.strikeMaxWait` after its last round, with that token's
principal left out of the book's value), and the loss lands before anyone leaves or is judged.
Rates are 0, so every number is exact.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from tests.lending_support import DAY, FEED_UNIT, MAX_UINT, USDC, zero_rate_book_with_a_gold_loan
from tests.vault_support import (
    assert_reverts,
    confirm_moves,
    define,
    isolated,
    next_window,
    settled,
)


@pytest.fixture(scope="module")
def lending(project, accounts):
    return zero_rate_book_with_a_gold_loan(project, accounts)


def bad_debt(tx) -> int:
    return sum(e.amount for e in tx.events if e.event_name == "BadDebtRealized")


def haircut_bps(lending) -> int:
    return lending.vs.registry.get(keccak(text="vault.staleHaircutBps"))


def paid_without(rest: int, lending) -> int:
    """The book's `low` when leavers are to be paid `rest`: grossed up by the stale haircut the
    strike takes off it, so the doubt is charged once."""
    return rest * 10_000 // (10_000 - haircut_bps(lending))


def after_haircut(low: int, lending) -> int:
    """What a strike's stale path counts of a sleeve valued `low` (RebalanceModule._valueStale)."""
    return low - -(-low * haircut_bps(lending) // 10_000)


def gold_crashes_to(lending, answer: int) -> None:
    """Gold publishes `answer` and the move holds: poked, `oracle.confirmDelay`, published again
    and poked (a liquidation values gold at its live price floored at the band's edge: a fall beyond
    oracle.maxDeviationBps counts in full once the router confirmed it)."""
    vs, gold = lending.vs, lending.token("gold")
    lending.set_nav("gold", answer)
    confirm_moves(vs.router, vs.registry, [(gold, lending.feed("gold"))], vs.governance)
    assert vs.router.priceBand(gold) == (answer * 10**10, answer * 10**10)  # 8-decimal feed


def silence_gold(lending, chain) -> None:
    """Gold's feed publishes nothing past oracle.maxStaleness (1 day): nobody can liquidate."""
    chain.pending_timestamp = chain.blocks.head.timestamp + DAY + 2 * 3_600
    chain.mine()
    assert not lending.vs.router.tryPrice(lending.token("gold"))[1]


def exit_enter_and_write_off(lending, accounts, chain, liquidate_first: bool):
    """Gold's feed stops; alice redeems everything and dave deposits 1,000,000; the feed comes
    back at 1,200 (-40 %) and the keeper liquidates, before the requests (`liquidate_first`) or
    after them. Returns (alice's payout, carol's value, dave's value, loss written off)."""
    book, vault, vs = lending.book, lending.vault, lending.vs
    gold = lending.token("gold")
    alice, borrower, carol, keeper, dave = (accounts[i] for i in (6, 7, 8, 9, 4))
    silence_gold(lending, chain)
    assert_reverts(book, "liquidate", borrower, gold, MAX_UINT, sender=keeper, error="StalePrice")
    low, high, at, fresh = book.strikeValuation()
    assert not fresh and high == book.cash() + 700_000 * USDC
    assert low == paid_without(book.cash(), lending)  # leavers: the cash, not the 700,000
    assert at == lending.feed("gold").latestRoundData()[3]  # the clock: gold's last round
    loss = 0
    if liquidate_first:  # the loss realised before anyone moves
        gold_crashes_to(lending, 1_200 * FEED_UNIT)
        loss = bad_debt(book.liquidate(borrower, gold, MAX_UINT, sender=keeper))
    vault.requestRedeem(vault.balanceOf(alice), alice, alice, sender=alice)
    vs.fund(dave, 1_000_000 * USDC)
    vault.requestDeposit(1_000_000 * USDC, dave, dave, sender=dave)
    next_window(chain)
    if not liquidate_first:
        with ape.reverts(vault.StrikeNotReady, sleeve=book.address):
            vault.strike(sender=alice)  # the book is not fresh: nothing settles at par
        gold_crashes_to(lending, 1_200 * FEED_UNIT)
        loss = bad_debt(book.liquidate(borrower, gold, MAX_UINT, sender=keeper))
    vault.strike(sender=alice)
    before = lending.asset.balanceOf(alice)
    vault.redeem(vault.maxRedeem(alice), alice, alice, sender=alice)
    paid = lending.asset.balanceOf(alice) - before
    vault.deposit(vault.maxDeposit(dave), dave, dave, sender=dave)
    assert book.totalDebt() == 0
    return (paid, vault.convertToAssets(vault.balanceOf(carol)),
            vault.convertToAssets(vault.balanceOf(dave)), loss)  # fmt: skip


def test_an_exit_while_a_collateral_feed_is_stale_leaves_no_write_off_to_those_who_stay(
    lending, accounts, chain
):
    with isolated(chain):
        fair = exit_enter_and_write_off(lending, accounts, chain, liquidate_first=True)
    with isolated(chain):
        raced = exit_enter_and_write_off(lending, accounts, chain, liquidate_first=False)
    # The same write-off either way (700,000 - 600,000 / 1.08), and now the same split of it:
    # alice leaves bearing her half, carol and dave pay nothing of hers.
    assert 144_444 * USDC < fair[3] == raced[3] < 144_445 * USDC
    assert raced[0] == fair[0] < 4_927_778 * USDC
    assert raced[1] == fair[1] and raced[2] == fair[2]


def test_an_exit_the_collateral_feed_never_answers_leaves_without_the_debt_it_backs(
    lending, accounts, chain
):
    """Exits never wait on a dead collateral feed for good: gold's feed stops after the cut-off
    of alice's exit, the strike waits vault.strikeMaxWait from gold's last round (not from the
    cut-off), then pays alice without the debt gold backs, the doubt charged once (the stale
    haircut is not taken again from the book's cash)."""
    book, vault, vs = lending.book, lending.vault, lending.vs
    alice = accounts[6]
    wait = vs.registry.get(keccak(text="vault.strikeMaxWait"))
    with isolated(chain):
        shares = vault.balanceOf(alice) // 10
        vault.requestRedeem(shares, alice, alice, sender=alice)
        cutoff = next_window(chain)
        chain.pending_timestamp = cutoff + 3_600
        lending.set_nav("gold", lending.feed("gold").latestAnswer())  # its last round
        last = lending.feed("gold").latestRoundData()[3]
        chain.pending_timestamp = last + wait - 60
        chain.mine()
        assert not vs.router.tryPrice(lending.token("gold"))[1]  # stale by now
        with ape.reverts(vault.StrikeNotReady, sleeve=book.address, staleReadyAt=last + wait):
            vault.strike(sender=alice)
        chain.pending_timestamp = last + wait
        chain.mine()
        low, high, at, fresh = book.strikeValuation()
        assert not fresh and at == last and low == paid_without(book.cash(), lending)
        idle, supply = vault.idle(), vault.totalSupply() + 10**12
        strike = settled(vault.strike(sender=alice), vault)
        assert strike["staleSleeves"] == 1 << 3 and strike["redeemShares"] == shares
        counted = after_haircut(low, lending)  # the cash, to a unit: the 700,000 left out once
        assert book.cash() - 1 <= counted <= book.cash()
        assert strike["redeemPrice"] == (idle + counted + 1) * 10**36 // supply


def test_dust_of_a_stale_collateral_holds_nothing_up(lending, accounts, chain):
    """A borrower puts 10 USDC of invoices next to its gold, so a few dollars of its debt rest on
    invoices; invoices' feed goes stale while gold's stays fresh. Debt of at most 1 bps of the
    book neither holds strikes, evaluations and rebalances up nor is taken from leavers (a
    second read's PoC: it froze deposits and cost a 500,000 exit 22,500)."""
    book, vault, vs = lending.book, lending.vault, lending.vs
    alice, dan = accounts[6], accounts[3]
    with isolated(chain):
        gold = lending.buy_collateral(dan, "gold", 100_000 * USDC)
        dust = lending.buy_collateral(dan, "invoices", 10 * USDC)
        book.depositCollateral(lending.token("gold"), gold, sender=dan)
        book.depositCollateral(lending.token("invoices"), dust, sender=dan)
        book.borrow(50_000 * USDC, sender=dan)
        usage = book.capUsage(lending.token("invoices"))
        assert 0 < usage < 10 * USDC
        chain.pending_timestamp = chain.blocks.head.timestamp + DAY + 2 * 3_600
        chain.mine()
        lending.set_nav("gold", lending.feed("gold").latestAnswer())  # gold fresh, invoices not
        assert not vs.router.tryPrice(lending.token("invoices"))[1]
        low, high, _, fresh = book.strikeValuation()
        assert fresh and low == high == book.totalAssets()
        assert book.returnIndexStatus()[1] is True
        shares = vault.balanceOf(alice) // 10
        vault.requestRedeem(shares, alice, alice, sender=alice)
        next_window(chain)
        lending.set_nav("gold", lending.feed("gold").latestAnswer())
        strike = settled(vault.strike(sender=alice), vault)
        assert strike["staleSleeves"] == 0 and strike["redeemShares"] == shares


def test_the_debt_left_out_carries_its_interest(lending, accounts, chain):
    """Leavers are paid without the debt a stale collateral backs, interest included: at 50 %
    a year for a year the 700,000 has grown to about 1,050,000, and all of it is left out."""
    book = lending.book
    with isolated(chain):
        lending.set_param("lend.rate.baseBps", 5_000)
        book.accrueInterest(sender=accounts[0])
        chain.pending_timestamp = chain.blocks.head.timestamp + 365 * DAY
        chain.mine()
        low, high, _, fresh = book.strikeValuation()
        assert not fresh and book.totalDebt() > 1_000_000 * USDC
        assert high == book.totalAssets()
        assert low == paid_without(book.totalAssets() - book.totalDebt(), lending)


def test_a_decision_into_the_book_waits_for_its_collateral_to_be_priced(lending, accounts, chain):
    """The allocator's decision (idle -> 90 % lending) falls due while gold's feed is silent:
    its evaluation waits (the book's evidence is not fresh) and, once the feed is back and the
    loss written off, judges it on the loss: slashed, as it is when the loss came first."""
    book, agents = lending.book, lending.vs.agents
    gold = lending.token("gold")
    borrower, keeper, anyone = accounts[7], accounts[9], accounts[3]
    with isolated(chain):
        (decision,) = agents.openDecisions()
        due = agents.decisionRecord(decision).dueAt
        chain.pending_timestamp = max(due, chain.blocks.head.timestamp + DAY + 3_600)
        chain.mine()
        assert not lending.vs.router.tryPrice(gold)[1]
        assert book.returnIndexStatus()[1] is False
        assert agents.evaluateTrigger(decision)[0] is False
        with ape.reverts(agents.StaleReturnIndex):
            agents.evaluate(decision, sender=anyone)
        gold_crashes_to(lending, 1_200 * FEED_UNIT)
        assert bad_debt(book.liquidate(borrower, gold, MAX_UINT, sender=keeper)) > 0
        tx = agents.evaluate(decision, sender=anyone)
        (ev,) = [e for e in tx.events if e.event_name == "Evaluated"]
        assert ev.excessBps < -100 and ev.slashAmount > 0


def invoices_go_quiet(lending, chain) -> None:
    """The invoices' feed publishes nothing past oracle.maxStaleness (its issuer defaulted); gold
    and T-bills keep publishing."""
    chain.pending_timestamp = chain.blocks.head.timestamp + DAY + 2 * 3_600
    chain.mine()
    lending.set_nav("gold", lending.feed("gold").latestAnswer())
    lending.set_nav("tbill", lending.feed("tbill").latestAnswer())
    assert not lending.vs.router.tryPrice(lending.token("invoices"))[1]


def test_collateral_posted_at_a_stale_price_cannot_shield_an_insolvent_position(
    lending, accounts, chain
):
    """Found in a review of the lending book after stop 39 (High for depositors): collateral was
    posted without reading a price and counted in the liquidation health at the stale answer. A
    borrower a fresh crash round made insolvent (gold -40 %: health 0.643) posted 700,000 of
    invoices whose feed had gone quiet (bought for cents after a default) at their stale 1.00:
    health 1.343, every liquidation refused, the book fresh at par while gold fell on to 800, and
    the write-off when the feed came back at 1 cent was 323,266 instead of 144,444. Now a post
    needs a fresh price (the router's poke), so the crash round is liquidated as it should be."""
    book, vault = lending.book, lending.vault
    gold, invoices = lending.token("gold"), lending.token("invoices")
    borrower, keeper = accounts[7], accounts[9]
    with isolated(chain):
        held = lending.buy_collateral(borrower, "invoices", 700_000 * USDC)
        invoices_go_quiet(lending, chain)
        lending.set_nav("gold", 1_200 * FEED_UNIT)  # a fresh crash round: insolvent
        assert book.healthFactor(borrower) < 10**18
        assert_reverts(book, "depositCollateral", invoices, held, sender=borrower,
                       error="StalePrice", token=invoices)  # fmt: skip
        assert book.collateralOf(borrower, invoices) == 0
        gold_crashes_to(lending, 1_200 * FEED_UNIT)  # the crash holds; invoices stay quiet
        assert_reverts(book, "depositCollateral", invoices, held, sender=borrower,
                       error="StalePrice", token=invoices)  # fmt: skip
        assert book.liquidationTrigger(borrower)[0]
        loss = bad_debt(book.liquidate(borrower, gold, MAX_UINT, sender=keeper))
        assert 144_444 * USDC < loss < 144_445 * USDC and book.debtOf(borrower) == 0
        assert vault.totalAssets() < 10_000_000 * USDC


def test_a_held_collateral_always_has_a_price_to_fall_back_on(project, lending, accounts, chain):
    """Found in the same review (liveness): a token listed while its feed was stale had no router
    reference until someone poked it, and the book never poked; when its feed then broke
    (answer 0), `tryPrice` had nothing to fall back on, so liquidating any position holding a wei
    of it reverted `InvalidPrice`, as did `healthFactor`. Posting it now pokes the router: the
    reference exists from the first wei on, and the position is liquidated on its gold."""
    book, vs = lending.book, lending.vs
    gov, borrower, keeper = accounts[0], accounts[7], accounts[9]
    gold = lending.token("gold")
    with isolated(chain):
        token = gov.deploy(project.MockRWAToken, "X", "X", 18, gov)
        feed = gov.deploy(project.MockAggregator, 8, "X / USD", FEED_UNIT, gov)
        feed.setRound(FEED_UNIT, chain.pending_timestamp - DAY - 1, sender=gov)  # stale when set
        vs.router.setFeed(token, feed, sender=gov)
        for rule, value in (("ltvBps", 5_000), ("liqThresholdBps", 6_000), ("liqBonusBps", 500)):
            define(vs.registry, gov, f"lend.{rule}.x", value, 0, 10_000)
        define(vs.registry, gov, "lend.borrowCap.x", 10**9 * USDC, 0, 10**15 * USDC)
        book.listCollateral(token, "x", sender=gov)
        feed.setAnswer(FEED_UNIT, sender=gov)  # publishes again; nobody pokes
        assert vs.router.lastPrice(token)[0] == 0
        token.mint(borrower, 1, sender=gov)
        token.approve(book, 1, sender=borrower)
        book.depositCollateral(token, 1, sender=borrower)  # one wei next to 500 gold
        assert vs.router.lastPrice(token)[0] == FEED_UNIT * 10**10  # the post set it
        feed.setAnswer(0, sender=gov)  # X's feed breaks
        gold_crashes_to(lending, 1_200 * FEED_UNIT)  # insolvent: 600,000 behind 700,000
        assert not vs.router.tryPrice(token)[1]  # X's band unreadable: its last price counts
        assert book.healthFactor(borrower) < 10**18
        assert bad_debt(book.liquidate(borrower, gold, MAX_UINT, sender=keeper)) > 0


def test_a_collateral_round_stamped_in_the_future_gives_the_book_no_clock(lending, chain):
    """A collateral feed's round stamped after the block (a publisher writing milliseconds) is
    unusable (IOracleRouter: `FutureRound`): the book is not fresh while that token backs its
    debt, and the round gives its stale clock no time, where a clock 54,000 years ahead would
    have held every exit until then (found in a review of the sleeves after stop 41)."""
    book, vs = lending.book, lending.vs
    gold = lending.feed("gold")
    with isolated(chain):
        now = chain.blocks.head.timestamp
        gold.setRound(gold.latestAnswer(), now * 1_000, sender=vs.governance)
        chain.mine()
        assert not vs.router.tryPrice(lending.token("gold"))[1]
        _, _, at, fresh = book.strikeValuation()
        assert not fresh and at <= now, f"the book's stale clock reads {at}"
