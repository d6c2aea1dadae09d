"""Drill: a depositor gets out with no keeper running, by calling the contracts themselves.

The promise (DESIGN.md, docs/security.md): a strike "may be called by anyone — the depositor
too — so exits never depend on keepers or agents being alive", and after a shutdown "anyone may
unwind sleeves to idle so everyone can leave". Here nobody runs a keeper: alice (the user)
requests, strikes and claims herself, under each adversity alone and several at once, and every
test checks from chain facts whether she gets out, how long she waits and what she receives
against the value of her shares (the rule the docs state: the NAV at the strike that fills her,
a stale sleeve at its last price less `vault.staleHaircutBps`).

The system: the vault with three RWA sleeves and the lending book (rates 0, so every number is
exact). Alice and carol hold 1,000,000 each; the allocator put 30 % in T-bills, 20 % in gold,
10 % in invoices and 30 % in the book (10 % idle); bob borrows 300,000 of the book's 600,000
against 500,000 of gold. The feeds publish on their own (the oracle is not a keeper): on anvil
the governance account pushes their rounds.

What holds is asserted as it holds. The part of an exit that the lending book has lent out
comes back when borrowers repay, fall below health 1 and are liquidated, or, after a shutdown,
once anyone has called the loans and `lend.callNoticePeriod` has passed: then anyone may
liquidate every loan in full
(`test_after_a_shutdown_the_loans_are_called_and_the_lent_part_comes_back`; this was a finding,
docs/security.md states the rule).
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from tests.lending_support import FEED_UNIT, MAX_UINT, USDC, deploy_lending_system
from tests.vault_support import DAY, WINDOW, isolated, next_window, settled

MILLION = 1_000_000 * USDC
OFFSET = 10**12  # the vault's decimals offset: virtual shares
LOAN = 300_000 * USDC
PULL_ROUNDING = 4  # a sleeve's redemption may cost the exit 1 wei (RebalanceModule._fill)


@pytest.fixture(scope="module")
def lending(project, accounts):
    system = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    for name in ("lend.rate.baseBps", "lend.rate.slope1Bps", "lend.rate.slope2Bps"):
        system.set_param(name, 0)
    system.vs.deposit(accounts[6], MILLION)
    system.vs.deposit(accounts[8], MILLION)
    system.vs.rebalance([3_000, 2_000, 1_000, 3_000])
    # bob: 250 gold (500,000 at 2,000) behind 300,000, health 1.25.
    system.open_position(accounts[7], "gold", 500_000 * USDC, LOAN)
    assert system.book.cash() == LOAN and system.vault.totalAssets() == 2 * MILLION
    return system


@pytest.fixture(scope="module")
def people(accounts):
    # alice (user), bob (borrower), carol (stays, or queues ahead), dave (dust), mallory (griefer)
    return {n: accounts[i] for n, i in
            (("alice", 6), ("bob", 7), ("carol", 8), ("dave", 4), ("mallory", 9))}  # fmt: skip


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def fair(vault, shares: int, nav: int) -> int:
    """What `shares` are worth at a strike valuing the vault `nav` (RebalanceModule._strike's
    redeem price `(nav + 1) / (supply + 10^offset)`, rounded down; no fee, no lock here)."""
    return shares * (nav + 1) // (vault.totalSupply() + OFFSET)


def publish(lending, *names: str) -> None:
    """The feeds of `names` publish a round at their current answer (all when none is named)."""
    for s in lending.vs.sleeves:
        if not names or s.name in names:
            s.feed.setAnswer(s.feed.latestAnswer(), sender=lending.vs.governance)


def claim_all(vault, asset, who) -> int:
    """`who` claims every filled redemption itself; returns the assets received."""
    before = asset.balanceOf(who)
    vault.redeem(vault.maxRedeem(who), who, who, sender=who)
    return asset.balanceOf(who) - before


def exit_alone(lending, who, shares: int):
    """`who` requests, waits for the cut-off and the next price round, strikes itself."""
    vault = lending.vault
    request = vault.requestRedeem(shares, who, who, sender=who)
    next_window(ape.chain)
    publish(lending)
    return request, vault.strike(sender=who)


def test_every_keeper_dead_the_user_strikes_and_claims_alone(lending, people):
    vault, asset = lending.vault, lending.asset
    alice = people["alice"]
    shares = vault.balanceOf(alice)
    value = fair(vault, shares, vault.totalAssets())
    request, strike = exit_alone(lending, alice, shares)
    s = settled(strike, vault)
    assert s["redeemShares"] == shares  # wholly filled at her own strike
    paid = claim_all(vault, asset, alice)
    assert value - PULL_ROUNDING <= paid <= value and paid > 999_999 * USDC
    # The wait: to the window's cut-off (at most WINDOW) and the first round after it.
    cutoff = (request.timestamp // WINDOW + 1) * WINDOW
    assert request.timestamp < cutoff <= strike.timestamp <= cutoff + 60
    assert vault.balanceOf(alice) == 0 and vault.pendingRedeemRequest(0, alice) == 0


def test_a_frozen_issuer_on_one_sleeve_queues_only_its_part(lending, people):
    vault, asset, vs = lending.vault, lending.asset, lending.vs
    alice, carol = people["alice"], people["carol"]
    vs.sleeve("gold").issuer.setFrozen(True, sender=vs.governance)
    shares = vault.balanceOf(alice)
    value = fair(vault, shares, vault.totalAssets())
    _, strike = exit_alone(lending, alice, shares)
    assert settled(strike, vault)["redeemShares"] == shares  # 1.3M liquid without gold
    paid = claim_all(vault, asset, alice)
    assert value - PULL_ROUNDING <= paid <= value
    # Carol, behind her: alice took idle, the T-bills and invoices; carol gets the book's cash,
    # gold's 400,000 waits for its issuer, the 300,000 lent for bob. A strike fills what is
    # liquid, no more (the issuer's gate lets the first leaver go whole: a documented limit).
    c_shares = vault.balanceOf(carol)
    c_value = fair(vault, c_shares, vault.totalAssets())
    _, strike = exit_alone(lending, carol, c_shares)
    first = claim_all(vault, asset, carol)
    assert 299_999 * USDC <= first <= 300_000 * USDC  # the book's cash
    assert bytes(vault.strikeTrigger()[1]) == b"no liquidity"
    vs.sleeve("gold").issuer.setFrozen(False, sender=vs.governance)  # the gate lifts
    ape.chain.pending_timestamp = strike.timestamp + DAY
    publish(lending)
    vault.strike(sender=carol)
    second = claim_all(vault, asset, carol)
    assert 399_999 * USDC <= second <= 400_000 * USDC  # gold, once its issuer pays
    assert c_value - LOAN - 2 * PULL_ROUNDING <= first + second <= c_value - LOAN
    assert vault.pendingRedeemRequest(0, carol) > 0  # the lent part waits: no shutdown, no call


def test_a_stopped_feed_holds_the_exit_until_the_wait_then_pays_its_last_price_less_the_haircut(
    lending, people, chain
):
    vault, asset, vs = lending.vault, lending.asset, lending.vs
    alice = people["alice"]
    invoices = vs.sleeve("invoices").sleeve
    shares = vault.balanceOf(alice)
    nav = vault.totalAssets()
    request = vault.requestRedeem(shares, alice, alice, sender=alice)
    cutoff = next_window(chain)
    publish(lending, "tbill", "gold")  # invoices' feed has stopped
    wait = vs.registry.get(keccak(text="vault.strikeMaxWait"))
    with ape.reverts(vault.StrikeNotReady, sleeve=invoices.address, staleReadyAt=cutoff + wait):
        vault.strike(sender=alice)
    # One second before the governed wait: still nothing settles.
    chain.pending_timestamp = cutoff + wait - 3_600
    publish(lending, "tbill", "gold")
    chain.pending_timestamp = cutoff + wait - 1
    with ape.reverts(vault.StrikeNotReady):
        vault.strike(sender=alice)
    chain.pending_timestamp = cutoff + wait
    haircut = -(-invoices.totalAssets() * 500 // 10_000)  # 5 % of 200,000, rounded up
    expected = fair(vault, shares, nav - haircut)
    strike = vault.strike(sender=alice)
    s = settled(strike, vault)
    assert s["redeemShares"] == shares and s["staleSleeves"] == 1 << 2  # invoices, stale
    paid = claim_all(vault, asset, alice)
    assert expected - PULL_ROUNDING <= paid <= expected
    assert 994_999 * USDC <= paid <= 995_000 * USDC  # 1,000,000 less half of the 10,000 haircut
    assert strike.timestamp - request.timestamp <= wait + WINDOW


def test_paused_and_shut_down_the_user_still_requests_strikes_unwinds_and_claims(lending, people):
    vault, asset, vs = lending.vault, lending.asset, lending.vs
    alice = people["alice"]
    vault.pauseAutomation(sender=vs.guardian)
    vault.shutdown(sender=vs.guardian)
    # alice moves the T-bills back to idle herself (anyone may after a shutdown).
    tbill = vs.sleeve("tbill").sleeve
    unwound = vault.unwind(tbill, MAX_UINT // 2, sender=alice)
    assert tbill.totalAssets() == 0 and vault.idle() == 800_000 * USDC
    assert unwound.events.filter(vault.Unwound)[0].withdrawn == 600_000 * USDC
    shares = vault.balanceOf(alice)
    value = fair(vault, shares, vault.totalAssets())
    _, strike = exit_alone(lending, alice, shares)
    assert settled(strike, vault)["redeemShares"] == shares
    paid = claim_all(vault, asset, alice)
    assert value - PULL_ROUNDING <= paid <= value


def test_after_a_shutdown_the_loans_are_called_and_the_lent_part_comes_back(lending, people, chain):
    """Was a finding (the book's lent cash came back only as borrowers repaid: after a shutdown
    nobody could call a healthy loan, and the last leavers' exit waited on bob alone). Now anyone
    calls the loans after the shutdown (`callLoans`); until `lend.callNoticePeriod` has passed
    bob's healthy position is still refused `HealthyPosition`, then anyone may liquidate all of
    it (no close factor): mallory, a third party with cash, brings the 300,000 back for the
    bonus, and carol strikes and claims her last 300,000 herself. No keeper, no repayment."""
    vault, asset, vs, book = lending.vault, lending.asset, lending.vs, lending.book
    alice, bob, carol, mallory = (people[n] for n in ("alice", "bob", "carol", "mallory"))
    gold = lending.token("gold")
    vault.shutdown(sender=vs.guardian)
    a_shares, c_shares = vault.balanceOf(alice), vault.balanceOf(carol)
    a_value = fair(vault, a_shares, vault.totalAssets())
    c_value = fair(vault, c_shares, vault.totalAssets())
    vault.requestRedeem(a_shares, alice, alice, sender=alice)
    next_window(chain)
    vault.requestRedeem(c_shares, carol, carol, sender=carol)  # the next window, behind her
    next_window(chain)
    publish(lending)
    strike = vault.strike(sender=carol)
    a_paid = claim_all(vault, asset, alice)
    c_first = claim_all(vault, asset, carol)
    assert a_value - PULL_ROUNDING <= a_paid <= a_value
    assert c_value - LOAN - PULL_ROUNDING <= c_first <= c_value - LOAN  # 1.7M was liquid
    assert book.cash() == 0 and book.totalDebt() == LOAN
    assert vault.pendingRedeemRequest(0, carol) > 0  # the lent part waits
    # carol calls the loans herself; once only.
    call = book.callLoans(sender=carol)
    notice = vs.registry.get(keccak(text="lend.callNoticePeriod"))
    assert notice == 7 * DAY
    due = call.timestamp + notice
    assert call.events.filter(book.LoansCalled)[0].calledAt == call.timestamp
    assert call.events.filter(book.LoansCalled)[0].dueAt == due == book.loansDueAt()
    assert call.return_value == due
    with ape.reverts(book.LoansAlreadyCalled, dueAt=due):
        book.callLoans(sender=mallory)
    # Until the notice ends nothing changes for bob: his healthy loan cannot be liquidated.
    lending.fund(mallory, LOAN)
    chain.pending_timestamp = due - 3_600
    publish(lending)
    health = book.healthFactor(bob)
    assert health == 125 * 10**16  # 500,000 * 0.75 / 300,000
    chain.pending_timestamp = due - 1
    with ape.reverts(book.HealthyPosition, borrower=bob.address, health=health):
        book.liquidate(bob, gold, MAX_UINT, sender=mallory)
    # Due: mallory liquidates all of it, at the usual 8 % bonus; bob keeps the rest of his gold.
    chain.pending_timestamp = due
    held = book.collateralOf(bob, gold)
    tx = book.liquidate(bob, gold, MAX_UINT, sender=mallory)
    event = tx.events.filter(book.Liquidated)[0]
    assert event.repaid == LOAN and event.seized == 162 * 10 ** gold.decimals()  # 324,000 / 2,000
    assert book.debtOf(bob) == 0 and book.collateralOf(bob, gold) == held - event.seized
    assert not list(tx.events.filter(book.BadDebtRealized))
    assert book.cash() == LOAN and gold.balanceOf(mallory) == event.seized
    # carol's rest: her own strike and claim, one window after the loan came back.
    next_window(chain)
    publish(lending)
    vault.strike(sender=carol)
    c_rest = claim_all(vault, asset, carol)
    assert c_value - 2 * PULL_ROUNDING <= c_first + c_rest <= c_value
    assert vault.pendingRedeemRequest(0, carol) == 0
    assert chain.blocks.head.timestamp - strike.timestamp <= notice + 2 * WINDOW


def test_an_underwater_loan_not_yet_written_off_pays_the_leaver_at_par(lending, people, chain):
    """The documented limit ("A strike between a crash round and its liquidation pays leavers at
    par"): without keepers it lasts until anyone liquidates. Alice leaves at the nominal book;
    carol, who stays, bears the whole write-off. She (or anyone) may close the window by
    liquidating bob herself: no keeper needed for that either."""
    vault, asset, book = lending.vault, lending.asset, lending.book
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    lending.set_nav("gold", 1_000 * FEED_UNIT)  # gold -50 %
    lending.confirm("gold")
    assert book.healthFactor(bob) < 10**18  # underwater: 250,000 of gold behind 300,000
    nav = vault.totalAssets()
    assert nav == 1_800_000 * USDC  # gold sleeve 200,000; the book still at 600,000
    shares = vault.balanceOf(alice)
    value = fair(vault, shares, nav)
    _, strike = exit_alone(lending, alice, shares)
    paid = claim_all(vault, asset, alice)
    assert value - PULL_ROUNDING <= paid <= value and paid > 899_999 * USDC  # par
    lending.fund(carol, LOAN)
    tx = book.liquidate(bob, lending.token("gold"), MAX_UINT, sender=carol)
    loss = sum(e.amount for e in tx.events if e.event_name == "BadDebtRealized")
    assert 68_518 * USDC < loss < 68_519 * USDC  # 300,000 - 250,000 / 1.08
    # carol's shares bear all of it: she is left 900,000 less the whole loss.
    assert abs(vault.convertToAssets(vault.balanceOf(carol)) - (900_000 * USDC - loss)) < 10


def test_a_sleeve_removed_while_the_exit_waits_changes_nothing_for_it(lending, people, chain):
    vault, asset, vs = lending.vault, lending.asset, lending.vs
    alice = people["alice"]
    shares = vault.balanceOf(alice)
    value = fair(vault, shares, vault.totalAssets())
    vault.requestRedeem(shares, alice, alice, sender=alice)
    vs.set_param("vault.rebalanceCooldown", 0)
    vs.rebalance([3_000, 2_000, 0, 3_000])  # invoices to idle
    invoices = vs.sleeve("invoices").sleeve
    vault.removeSleeve(invoices, sender=vs.governance)
    assert vault.sleeveCount() == 3 and list(vault.withdrawQueue()) == [0, 1, 2]
    next_window(chain)
    publish(lending, "tbill", "gold")  # the removed sleeve's feed no longer matters
    strike = vault.strike(sender=alice)
    assert settled(strike, vault)["redeemShares"] == shares
    paid = claim_all(vault, asset, alice)
    assert value - PULL_ROUNDING <= paid <= value


def test_a_queue_ahead_with_dust_at_its_head_is_filled_first_in_first_out(lending, people, chain):
    vault, asset = lending.vault, lending.asset
    alice, bob, carol, dave = (people[n] for n in ("alice", "bob", "carol", "dave"))
    vault.transfer(dave, 4 * 10**9, sender=carol)
    for _ in range(3):  # dust requests at the head, one a window
        vault.requestRedeem(10**9, dave, dave, sender=dave)
        next_window(chain)
        publish(lending)
        vault.strike(sender=dave)
        vault.redeem(vault.maxRedeem(dave), dave, dave, sender=dave)
    vault.requestRedeem(10**9 // 2, dave, dave, sender=dave)  # and one left at the head
    c_shares = vault.balanceOf(carol)
    vault.requestRedeem(c_shares, carol, carol, sender=carol)  # 1M ahead, same window
    next_window(chain)
    a_shares = vault.balanceOf(alice)
    a_value = fair(vault, a_shares, vault.totalAssets())
    vault.requestRedeem(a_shares, alice, alice, sender=alice)  # the next window
    next_window(chain)
    publish(lending)
    strike = vault.strike(sender=alice)
    s = settled(strike, vault)
    assert s["redeemShares"] < c_shares + a_shares  # 1.7M liquid: alice partly filled
    assert vault.pendingRedeemRequest(0, carol) == 0 and vault.pendingRedeemRequest(0, dave) == 0
    first = claim_all(vault, asset, alice)
    assert a_value - LOAN - PULL_ROUNDING <= first <= a_value - LOAN
    # Her rest keeps its place at the head and is filled once liquidity comes (bob repays).
    lending.fund(bob, LOAN)
    lending.book.repay(LOAN, bob, sender=bob)
    publish(lending)
    vault.strike(sender=alice)
    rest = claim_all(vault, asset, alice)
    assert a_value - 2 * PULL_ROUNDING <= first + rest <= a_value


def test_a_griefer_can_neither_take_nor_hold_up_the_exit(lending, people, project, chain):
    vault, asset, vs = lending.vault, lending.asset, lending.vs
    alice, carol, mallory = people["alice"], people["carol"], people["mallory"]
    relay = vs.governance.deploy(project.ClaimRelay, vault)
    vault.setOperator(relay, True, sender=alice)
    vault.transfer(mallory, 10**12, sender=carol)
    shares = vault.balanceOf(alice)
    value = fair(vault, shares, vault.totalAssets())
    vault.requestRedeem(shares, alice, alice, sender=alice)
    # A request gifted to alice's controller, a cancel of hers, a claim of hers: all refused.
    with ape.reverts(vault.NotOperator):
        vault.requestRedeem(10**12, alice, mallory, sender=mallory)
    with ape.reverts(vault.NotOperator):
        vault.cancelRedeemRequest(alice, sender=mallory)
    next_window(chain)
    publish(lending)
    vault.strike(sender=mallory)  # front-runs alice's strike: the same strike she would send
    with ape.reverts(vault.NothingToStrike):
        vault.strike(sender=alice)
    with ape.reverts(vault.NotOperator):
        vault.redeem(vault.maxRedeem(alice), mallory, alice, sender=mallory)
    before = asset.balanceOf(alice)
    relay.claim(alice, sender=mallory)  # front-runs her claim: pays her, to the wei
    paid = asset.balanceOf(alice) - before
    assert value - PULL_ROUNDING <= paid <= value
    with ape.reverts():
        vault.redeem(1, alice, alice, sender=alice)  # nothing left to claim: it is all hers
    assert asset.balanceOf(mallory) == 0


def test_a_hostile_operator_revoked_can_do_nothing_more(lending, people, chain):
    vault, asset = lending.vault, lending.asset
    alice, mallory = people["alice"], people["mallory"]
    vault.setOperator(mallory, True, sender=alice)  # set up earlier (a keeper key, since hostile)
    vault.setOperator(mallory, False, sender=alice)
    shares = vault.balanceOf(alice)
    value = fair(vault, shares, vault.totalAssets())
    with ape.reverts(vault.ERC20InsufficientAllowance):
        vault.requestRedeem(shares, mallory, alice, sender=mallory)
    vault.requestRedeem(shares, alice, alice, sender=alice)
    with ape.reverts(vault.NotOperator):
        vault.cancelRedeemRequest(alice, sender=mallory)
    next_window(chain)
    publish(lending)
    vault.strike(sender=alice)
    with ape.reverts(vault.NotOperator):
        vault.redeem(vault.maxRedeem(alice), mallory, alice, sender=mallory)
    paid = claim_all(vault, asset, alice)
    assert value - PULL_ROUNDING <= paid <= value


def test_everything_at_once_the_user_still_gets_out_at_the_stated_value(lending, people, chain):
    """No keeper, automation paused, the vault shut down, a sleeve removed, gold's issuer
    frozen, invoices' feed stopped, dust at the head of the queue, a griefer striking first:
    alice gets out `vault.strikeMaxWait` after her cut-off with invoices at its last price less
    the haircut, and nothing less."""
    vault, asset, vs = lending.vault, lending.asset, lending.vs
    alice, carol, dave, mallory = (people[n] for n in ("alice", "carol", "dave", "mallory"))
    vs.set_param("vault.rebalanceCooldown", 0)
    vs.rebalance([0, 2_000, 1_000, 3_000])  # T-bills to idle, then removed
    vault.removeSleeve(vs.sleeve("tbill").sleeve, sender=vs.governance)
    vault.pauseAutomation(sender=vs.guardian)
    vault.shutdown(sender=vs.guardian)
    vs.sleeve("gold").issuer.setFrozen(True, sender=vs.governance)
    vault.transfer(dave, 10**9, sender=carol)
    vault.requestRedeem(10**9, dave, dave, sender=dave)
    shares = vault.balanceOf(alice)
    nav = vault.totalAssets()
    invoices = vs.sleeve("invoices").sleeve
    haircut = -(-invoices.totalAssets() * 500 // 10_000)
    vault.requestRedeem(shares, alice, alice, sender=alice)
    cutoff = next_window(chain)
    wait = vs.registry.get(keccak(text="vault.strikeMaxWait"))
    chain.pending_timestamp = cutoff + wait - 3_600
    publish(lending, "gold")  # gold's feed lives (its issuer is frozen); invoices' stopped
    chain.pending_timestamp = cutoff + wait
    expected = fair(vault, shares, nav - haircut)
    strike = vault.strike(sender=mallory)
    s = settled(strike, vault)
    assert s["redeemShares"] == shares + 10**9 and s["staleSleeves"] == 1 << 1  # invoices
    paid = claim_all(vault, asset, alice)
    assert expected - PULL_ROUNDING <= paid <= expected
    assert 994_999 * USDC <= paid <= 995_000 * USDC
