"""RWAVault's strike queue while the RWA sleeves cannot pay out at once.

1,000,000 mUSDC: 5% idle, the rest in the tbill, gold and invoices sleeves; tests freeze issuers
or cap their daily redemptions (governance owns them) and check what strikes fill: requests
escrow shares, a strike fills redemptions up to the liquidity there is (idle, then the sleeves in
withdraw-queue order), partly when it must; what it cannot pay stays queued and is filled by later
strikes at their prices, first in first out by epoch and pro rata within an epoch; the keeper
trigger; and (hypothesis) that random sequences of all of these keep the books.

Pricing is exact: a strike is priced at the book (T, S) before it; a pull from the sleeves may
lower the valuation by `loss` (at most 1 wei per sleeve), which the epochs it fills bear pro rata
to what each is paid (rounded up: a wei falls on the first epoch filled), so the exact value of
a share that stays, (totalAssets + 1) / (totalSupply + 10**12), never falls. Until the tests
move a price, one share is worth exactly 10**-12 mUSDC.
"""

from __future__ import annotations

from fractions import Fraction

import ape
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.vault_support import (
    DAY,
    FEED_UNIT,
    NO_EPOCH,
    USDC,
    WINDOW,
    assert_reverts,
    deploy_vault_system,
    isolated,
    revert_of,
    settled,
)

TBILL_TOKEN = 10**18  # one whole tbill token, worth 1 mUSDC
INVOICE_TOKEN = 10**6  # one whole invoices token (6 decimals)
OFFSET = 10**12  # virtual shares: 10 ** (18 - 6)


@pytest.fixture(scope="module")
def people(accounts):
    """alice, bob, carol deposit; dave is a controller or receiver only (alice and bob are its
    operators: a request for another controller needs its consent); keeper only strikes."""
    return accounts[6], accounts[7], accounts[8], accounts[9], accounts[3]


@pytest.fixture(scope="module")
def system(project, accounts, people):
    alice, bob, carol, dave, _ = people
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    for operator in (alice, bob):
        s.vault.setOperator(operator, True, sender=dave)
    s.deposit(alice, 500_000 * USDC)
    s.deposit(bob, 400_000 * USDC)
    s.deposit(carol, 100_000 * USDC)
    s.rebalance([5_000, 3_000, 1_500])  # 50,000 mUSDC stay idle
    return s


def freeze(system, *names):
    for name in names:
        system.sleeve(name).issuer.setFrozen(True, sender=system.governance)


def limit_tbill(system, whole_tokens, fresh_day=True):
    """Cap tbill's daily redemptions; by default first move to 01:00 of the next UTC day.

    The chain's clock follows the wall clock, so a test that counts on several strikes sharing
    one day's limit must not start minutes before midnight (CI once crossed it mid-test).
    """
    if fresh_day:
        next_utc_day(system, ape.chain)
    system.sleeve("tbill").issuer.setDailyRedeemLimit(
        whole_tokens * TBILL_TOKEN, sender=system.governance
    )


def next_utc_day(system, chain):
    """Move to the next UTC day (issuers' daily limits reset) and keep every feed fresh."""
    chain.pending_timestamp = (chain.pending_timestamp // DAY + 1) * DAY + 3_600
    for s in system.sleeves:
        s.feed.setAnswer(s.feed.latestAnswer(), sender=system.governance)


def worth(system, usdc):
    """Shares worth `usdc` now (rounded down)."""
    return system.vault.convertToShares(usdc)


def share_price(vault) -> Fraction:
    """Exact assets per share unit: (totalAssets + 1) / (totalSupply + 10**12)."""
    return Fraction(vault.totalAssets() + 1, vault.totalSupply() + OFFSET)


def rounding_invoices(system):
    """Invoices at a NAV of 1.0001: with its 150,000,000,000 units, a pull of r units (r not a
    multiple of 10,000) lowers the sleeve's valuation 1 wei more than it pays."""
    feed = system.sleeve("invoices").feed
    feed.setAnswer(feed.latestAnswer() * 10_001 // 10_000, sender=system.governance)


def strike_book(system) -> tuple[int, int]:
    """(low NAV, S) a strike now prices redemptions at: idle + Σ low, supply + virtual shares."""
    vault = system.vault
    low = sum(s.sleeve.strikeValuation()[0] for s in system.sleeves)
    return vault.idle() + low, vault.totalSupply() + OFFSET


def value_at(shares, book) -> int:
    nav, supply = book
    return shares * (nav + 1) // supply


# ------------------------------------------------------------------ fills up to liquidity


@pytest.mark.parametrize("claim_by", ["withdraw", "redeem"])
def test_a_strike_fills_up_to_the_reachable_liquidity_and_queues_the_rest(system, people, claim_by):
    alice, bob, _, dave, keeper = people
    vault = system.vault
    freeze(system, "gold", "invoices")
    limit_tbill(system, 100_000)
    reachable = 150_000 * USDC  # idle + one day of tbill redemptions
    assert vault.liquidity() == reachable
    shares = vault.balanceOf(alice)
    vault.requestRedeem(shares, alice, alice, sender=alice)  # 500,000: beyond liquidity
    book, price = strike_book(system), share_price(vault)
    k = settled(system.strike(sender=keeper), vault)

    # The strike filled what it could reach, priced at the book before it, and queued the rest.
    filled = k["redeemShares"]
    assert 0 < filled < shares
    assert filled == reachable * book[1] // (book[0] + 1)  # the most the liquidity pays
    assert k["redeemAssets"] == value_at(filled, book) == reachable  # a share: 1e-12 exactly
    assert vault.claimableRedeemRequest(0, alice) == vault.maxRedeem(alice) == filled
    assert vault.maxWithdraw(alice) == vault.claimableRedemptions() == reachable
    assert vault.pendingRedeemRequest(0, alice) == vault.pendingRedemptions() == shares - filled
    assert vault.balanceOf(vault) == shares - filled  # the rest stays escrowed
    assert vault.liquidity() == 0  # nothing (but rounding dust) left reachable
    assert share_price(vault) >= price
    assert vault.maxWithdraw(bob) == vault.maxRedeem(bob) == 0  # bob asked nothing

    # The controller claims to any receiver, by assets or by shares.
    if claim_by == "withdraw":
        assert vault.withdraw(reachable, dave, alice, sender=alice).return_value == filled
    else:
        assert vault.redeem(filled, dave, alice, sender=alice).return_value == reachable
    assert system.asset.balanceOf(dave) == reachable
    assert vault.claimableRedemptions() == 0
    assert vault.pendingRedeemRequest(0, alice) == shares - filled


def test_claims_beyond_the_fill_and_requests_beyond_the_balance_name_the_problem(system, people):
    alice, _, _, _, keeper = people
    vault = system.vault
    freeze(system, "gold", "invoices")
    limit_tbill(system, 100_000)
    held = vault.balanceOf(alice)
    assert_reverts(
        vault, "requestRedeem", held + 1, alice, alice, sender=alice,
        error="ERC20InsufficientBalance", balance=held, needed=held + 1,
    )  # fmt: skip
    vault.requestRedeem(held, alice, alice, sender=alice)
    system.strike(sender=keeper)
    can, filled = vault.maxWithdraw(alice), vault.maxRedeem(alice)
    assert can == 150_000 * USDC
    with ape.reverts(vault.ClaimExceeded, controller=alice.address, requested=can + 1,
                     claimable=can):  # fmt: skip
        vault.withdraw(can + 1, alice, alice, sender=alice)
    assert_reverts(
        vault, "redeem", filled + 1, alice, alice, sender=alice,
        error="ClaimExceeded", controller=alice, requested=filled + 1, claimable=filled,
    )  # fmt: skip
    # Fully frozen, the next strike reaches idle only: the rest of the rounding dust, nothing more.
    freeze(system, "tbill")
    assert vault.liquidity() == vault.idle() == 0
    k = settled(system.strike(sender=keeper), vault)
    assert (k["redeemShares"], k["redeemAssets"]) == (0, 0)
    assert vault.maxRedeem(alice) == filled


# ------------------------------------------------------------------ requestRedeem


def test_request_redeem_escrows_the_shares(system, people):
    alice, bob, _, dave, _ = people
    vault = system.vault
    freeze(system, "tbill", "gold", "invoices")
    before, supply = vault.balanceOf(alice), vault.totalSupply()
    shares = worth(system, 200_000 * USDC)
    receipt = vault.requestRedeem(shares, dave, alice, sender=alice)
    assert receipt.return_value == 0
    assert vault.balanceOf(alice) == before - shares
    assert vault.balanceOf(vault) == shares
    assert vault.totalSupply() == supply  # burned only when a strike fills them
    assert vault.pendingRedemptions() == vault.pendingRedeemRequest(0, dave) == shares
    assert vault.pendingRedeemRequest(0, alice) == 0  # dave is the controller
    requested = vault.RedeemRequest(
        controller=dave, owner=alice, requestId=0, sender=alice, shares=shares
    )
    assert receipt.events.filter(vault.RedeemRequest) == [requested]
    assert vault.requestRedeem(1_000, bob, bob, sender=bob).return_value == 0
    assert vault.pendingRedemptions() == vault.balanceOf(vault) == shares + 1_000


def test_request_redeem_rejects_zero_shares_zero_controller_and_overdraft(system, people):
    alice, _, _, dave, _ = people
    vault = system.vault
    with ape.reverts(vault.ZeroAmount):
        vault.requestRedeem(0, dave, alice, sender=alice)
    with ape.reverts(vault.ZeroAddress):
        vault.requestRedeem(1_000, ape.utils.ZERO_ADDRESS, alice, sender=alice)
    held = vault.balanceOf(alice)
    with ape.reverts(vault.ERC20InsufficientBalance, sender=alice, balance=held, needed=held + 1):
        vault.requestRedeem(held + 1, dave, alice, sender=alice)
    assert vault.pendingRedemptions() == vault.balanceOf(vault) == 0


def test_escrowed_shares_cannot_be_moved_by_anyone(system, people):
    alice, bob, _, _, _ = people
    vault = system.vault
    shares = vault.balanceOf(alice)
    vault.requestRedeem(shares, alice, alice, sender=alice)
    with ape.reverts(vault.ERC20InsufficientBalance):
        vault.transfer(bob, 1, sender=alice)
    with ape.reverts(vault.ERC20InsufficientAllowance):
        vault.transferFrom(vault, bob, 1, sender=bob)
    # nor through the vault's own request and claim functions with the vault as owner
    assert_reverts(
        vault, "requestRedeem", shares, bob, vault, sender=bob,
        error="ERC20InsufficientAllowance", spender=bob, allowance=0, needed=shares,
    )  # fmt: skip
    for method in ("redeem", "withdraw"):
        assert_reverts(
            vault, method, 1, bob, vault, sender=bob,
            error="NotOperator", owner=vault, caller=bob,
        )  # fmt: skip
    assert_reverts(
        vault, "cancelRedeemRequest", alice, sender=bob,
        error="NotOperator", owner=alice, caller=bob,
    )  # fmt: skip
    assert vault.balanceOf(vault) == vault.pendingRedemptions() == shares


# ------------------------------------------------------------------ FIFO, pro rata, prices


def test_the_queue_is_filled_first_in_first_out_across_epochs_as_daily_limits_reset(
    system, people, chain
):
    alice, bob, _, dave, keeper = people
    vault, asset = system.vault, system.asset
    freeze(system, "gold", "invoices")
    limit_tbill(system, 100_000)
    first = worth(system, 200_000 * USDC)
    vault.requestRedeem(first, alice, alice, sender=alice)

    # day 1: 150,000 reachable, all of it to alice's epoch
    k1 = settled(system.strike(sender=keeper), vault)
    assert k1["redeemAssets"] == 150_000 * USDC
    assert vault.pendingRedeemRequest(0, alice) == first - k1["redeemShares"] > 0
    # bob's request (controller dave) opens the next epoch, behind alice's queued rest
    second = worth(system, 100_000 * USDC)
    vault.requestRedeem(second, dave, bob, sender=bob)
    k2 = settled(system.strike(sender=keeper), vault)  # nothing reachable until the reset
    assert (k2["redeemShares"], k2["redeemAssets"], k2["redeemEpoch"]) == (0, 0, NO_EPOCH)
    assert vault.maxRedeem(dave) == 0

    # day 2: alice's rest first, then dave's partly
    next_utc_day(system, chain)
    k3 = settled(system.strike(sender=keeper), vault)
    assert k3["redeemAssets"] == 100_000 * USDC
    assert vault.pendingRedeemRequest(0, alice) == 0
    assert vault.claimableRedeemRequest(0, alice) == first
    assert 0 < vault.claimableRedeemRequest(0, dave) < second
    assert vault.maxWithdraw(alice) == 200_000 * USDC
    assert vault.maxWithdraw(dave) == 50_000 * USDC

    # day 3: dave's request completes and the queue is empty
    next_utc_day(system, chain)
    system.strike(sender=keeper)
    assert vault.pendingRedeemRequest(0, dave) == vault.pendingRedemptions() == 0
    assert vault.claimableRedeemRequest(0, dave) == second
    vault.redeem(second, dave, dave, sender=dave)
    assert asset.balanceOf(dave) == 100_000 * USDC
    assert vault.balanceOf(vault) == 0  # filled shares were burned at their strikes


def test_an_epoch_is_filled_pro_rata_and_before_any_later_epoch(system, people):
    alice, bob, carol, _, keeper = people
    vault = system.vault
    freeze(system, "tbill", "gold", "invoices")  # 50,000 idle for 100,000 asked
    a, b = worth(system, 60_000 * USDC), worth(system, 40_000 * USDC)
    vault.requestRedeem(a, alice, alice, sender=alice)
    vault.requestRedeem(b, bob, bob, sender=bob)
    k = settled(system.strike(sender=keeper), vault)
    assert k["redeemAssets"] == 50_000 * USDC
    # One epoch, one fill ratio: half of each request.
    fa, fb = vault.claimableRedeemRequest(0, alice), vault.claimableRedeemRequest(0, bob)
    assert fa == a * k["redeemShares"] // (a + b) and fb == b * k["redeemShares"] // (a + b)
    assert vault.maxWithdraw(alice) == 30_000 * USDC and vault.maxWithdraw(bob) == 20_000 * USDC
    assert fa + fb <= k["redeemShares"]

    c = worth(system, 10_000 * USDC)
    vault.requestRedeem(c, carol, carol, sender=carol)  # the next epoch
    limit_tbill(system, 40_000)
    system.sleeve("tbill").issuer.setFrozen(False, sender=system.governance)
    system.strike(sender=keeper)  # 40,000: the first epoch's 50,000 rest comes first
    assert vault.claimableRedeemRequest(0, carol) == 0
    assert vault.maxWithdraw(alice) == 30_000 * USDC + 24_000 * USDC
    assert vault.maxWithdraw(bob) == 20_000 * USDC + 16_000 * USDC
    assert vault.pendingRedeemRequest(0, carol) == c


@pytest.mark.parametrize("gold_nav", [2_200, 1_800], ids=["nav-up", "nav-down"])
def test_requests_are_filled_at_the_share_price_of_the_strike(system, people, gold_nav):
    alice, bob, _, dave, keeper = people
    vault = system.vault
    freeze(system, "tbill", "gold", "invoices")
    shares = worth(system, 40_000 * USDC)
    vault.requestRedeem(shares, dave, alice, sender=alice)
    at_request = vault.convertToAssets(shares)
    # the new price is published after the request: the strike uses it (forward pricing)
    system.sleeve("gold").feed.setAnswer(gold_nav * FEED_UNIT, sender=system.governance)
    at_strike = vault.convertToAssets(shares)
    bob_before = vault.convertToAssets(vault.balanceOf(bob))

    k = settled(system.strike(sender=keeper), vault)
    assert k["redeemShares"] == shares
    assert k["redeemAssets"] == at_strike == vault.maxWithdraw(dave)
    # gold is 30% of the vault: a ±10% NAV move is ±3% on every share
    expected = at_request * (1_000_000 + 150 * (gold_nav - 2_000)) // 1_000_000
    assert abs(k["redeemAssets"] - expected) <= 1
    # the requester took no more than the shares were worth: bob's position is not diluted
    assert vault.convertToAssets(vault.balanceOf(bob)) >= bob_before


# ------------------------------------------------------------------ pull rounding


def test_the_pull_rounding_is_borne_by_the_first_epoch_it_fills(system, people):
    alice, bob, _, dave, keeper = people
    vault = system.vault
    freeze(system, "tbill", "gold", "invoices")
    rounding_invoices(system)
    # alice's epoch takes all of idle and stays queued; bob's (controller dave) comes next
    a = worth(system, 60_000 * USDC)
    vault.requestRedeem(a, alice, alice, sender=alice)
    k1 = settled(system.strike(sender=keeper), vault)
    assert vault.idle() <= 1 and vault.pendingRedeemRequest(0, alice) > 0
    b = worth(system, 30_000 * USDC + 7)
    vault.requestRedeem(b, dave, bob, sender=bob)
    # invoices reopens: the next strike pulls what both epochs need from it, at a rounding loss
    system.sleeve("invoices").issuer.setFrozen(False, sender=system.governance)
    system.publish_prices()
    book, price = strike_book(system), share_price(vault)
    total = vault.totalAssets()
    k2 = settled(vault.strike(sender=keeper), vault)
    rest = a - k1["redeemShares"]
    assert k2["redeemShares"] == rest + b
    gross_a, gross_b = value_at(rest, book), value_at(b, book)
    loss = total - vault.totalAssets() - k2["redeemAssets"]
    assert loss == 1  # the pull lost 1 wei of valuation ...
    assert k2["redeemAssets"] == gross_a + gross_b - loss
    # ... and alice's epoch, the first the strike filled, bore it (its pro rata part of 1 wei,
    # rounded up: all of it); dave got his shares' value
    assert vault.maxWithdraw(alice) == k1["redeemAssets"] + gross_a - loss
    assert vault.maxWithdraw(dave) == gross_b
    assert share_price(vault) >= price  # those who stay never lose


def one_rounding_wei_of_liquidity(system, carol, keeper):
    """Idle emptied (carol's exit, from idle: nothing pulled) and 1 wei reachable: the invoices
    issuer redeems one unit a day, whose pull lowers the valuation 2 wei and pays 1."""
    vault = system.vault
    freeze(system, "tbill", "gold")
    carol_shares = worth(system, vault.idle())
    vault.requestRedeem(carol_shares, carol, carol, sender=carol)
    system.strike(sender=keeper)
    assert vault.pendingRedemptions() == 0
    system.sleeve("invoices").issuer.setDailyRedeemLimit(1, sender=system.governance)
    rounding_invoices(system)
    assert (vault.idle(), vault.liquidity()) == (0, 1)


@pytest.mark.parametrize(
    "asked",
    [
        "10k",
        "dust",
    ],
)
def test_a_strike_whose_pull_pays_nobody_costs_those_who_stay_nothing(system, people, asked):
    """The strike pulls 1 wei at a rounding loss of 1 wei: a fill of 10,000's worth, or of the
    fewest shares worth 1 wei, is paid at most what is left after that loss, and the lost wei
    never comes out of the shares that stay; nothing is promised that a claim cannot pay."""
    alice, _, carol, dave, keeper = people
    vault = system.vault
    one_rounding_wei_of_liquidity(system, carol, keeper)
    if asked == "dust":
        total, supply = vault.totalAssets(), vault.totalSupply()
        shares = -(-(supply + OFFSET) // (total + 1))  # the fewest shares worth 1 wei
        assert vault.convertToAssets(shares) == 1
        vault.transfer(dave, shares, sender=alice)
        leaver = dave
    else:
        shares, leaver = worth(system, 10_000 * USDC), alice
    vault.requestRedeem(shares, leaver, leaver, sender=leaver)
    system.publish_prices()
    total, price, reserved = vault.totalAssets(), share_price(vault), vault.claimableRedemptions()
    k = settled(vault.strike(sender=keeper), vault)
    loss = total - vault.totalAssets() - k["redeemAssets"]
    assert (loss, k["redeemAssets"]) == (1, 0)  # the pull lost 1 wei; nothing left to pay
    assert vault.maxWithdraw(leaver) == 0 and vault.claimableRedemptions() == reserved
    assert share_price(vault) >= price, "a strike's pull loss nobody paid for fell on the stayers"


# ------------------------------------------------------------------ cancelRedeemRequest


def test_a_request_a_strike_touched_cannot_be_cancelled_one_untouched_can(system, people):
    alice, bob, _, _, keeper = people
    vault = system.vault
    freeze(system, "tbill", "gold", "invoices")
    shares = worth(system, 200_000 * USDC)
    held = vault.balanceOf(alice)
    vault.requestRedeem(shares, alice, alice, sender=alice)
    system.strike(sender=keeper)  # idle only: partly filled
    left = vault.pendingRedeemRequest(0, alice)
    assert 0 < left < shares

    assert_reverts(
        vault, "cancelRedeemRequest", alice, sender=bob,
        error="NotOperator", owner=alice, caller=bob,
    )  # fmt: skip
    assert_reverts(
        vault, "cancelRedeemRequest", alice, sender=alice, error="RequestWindowClosed",
        controller=alice,
    )  # fmt: skip
    assert vault.pendingRedeemRequest(0, alice) == left  # still queued

    vault.requestRedeem(1_000, bob, bob, sender=bob)  # open epoch: no strike touched it
    receipt = vault.cancelRedeemRequest(bob, sender=bob)
    cancelled = vault.RedeemRequestCancelled(controller=bob, shares=1_000)
    assert receipt.events.filter(vault.RedeemRequestCancelled) == [cancelled]
    assert vault.pendingRedemptions() == vault.balanceOf(vault) == left
    assert vault.balanceOf(alice) == held - shares
    assert_reverts(
        vault, "cancelRedeemRequest", bob, sender=bob, error="NoPendingRequest", controller=bob
    )


def test_a_wholly_filled_request_has_nothing_pending_to_cancel(system, people):
    """Filled is claimable, not pending: a cancel names NoPendingRequest (as for a settled
    deposit), before a claim and after a part of it was taken in place; the rest stays."""
    alice, _, _, _, keeper = people
    vault = system.vault
    shares = worth(system, 10_000 * USDC)  # idle (50,000 mUSDC) fills it at once
    vault.requestRedeem(shares, alice, alice, sender=alice)
    system.strike(sender=keeper)
    assert (vault.pendingRedeemRequest(0, alice), vault.claimableRedeemRequest(0, alice)) == (
        0, shares)  # fmt: skip
    for _ in range(2):
        assert_reverts(
            vault, "cancelRedeemRequest", alice, sender=alice, error="NoPendingRequest",
            controller=alice,
        )  # fmt: skip
        vault.redeem(shares // 4, alice, alice, sender=alice)  # a part, taken in place
    left = shares - 2 * (shares // 4)
    assert vault.claimableRedeemRequest(0, alice) == left
    assert vault.redeem(left, alice, alice, sender=alice).return_value > 0


# ------------------------------------------------------------------ keeper trigger


def test_trigger_reports_no_request_and_prices_not_newer(system, people):
    alice, _, _, _, keeper = people
    vault = system.vault
    assert tuple(vault.strikeTrigger()) == (False, b"no request")
    shares = worth(system, 10_000 * USDC)
    vault.requestRedeem(shares, alice, alice, sender=alice)
    assert tuple(vault.strikeTrigger()) == (False, b"no request window past a published price")
    system.publish_prices()
    should_act, data = vault.strikeTrigger()
    assert should_act and bytes(data) == bytes(vault.strike.encode_input())
    k = settled(vault(sender=keeper, data=data), vault)  # the keeper sends the calldata as-is
    assert k["redeemShares"] == shares
    assert tuple(vault.strikeTrigger()) == (False, b"no request")


def test_trigger_calldata_fills_up_to_the_liquidity_then_the_queue_waits(system, people):
    alice, bob, carol, _, keeper = people
    vault = system.vault
    freeze(system, "tbill", "gold", "invoices")  # 50,000 idle for 90,000 asked
    for owner in (alice, bob, carol):
        vault.requestRedeem(worth(system, 30_000 * USDC), owner, owner, sender=owner)
    system.publish_prices()
    should_act, data = vault.strikeTrigger()
    assert should_act
    k = settled(vault(sender=keeper, data=data), vault)
    assert k["redeemAssets"] == 50_000 * USDC
    for owner in (alice, bob, carol):  # one epoch: each filled 5/9
        assert vault.maxWithdraw(owner) == 50_000 * USDC // 3

    system.sleeve("tbill").issuer.setFrozen(False, sender=system.governance)
    system.publish_prices()
    should_act, data = vault.strikeTrigger()
    assert should_act and bytes(data) == bytes(vault.strike.encode_input())
    vault(sender=keeper, data=data)
    assert vault.pendingRedemptions() == 0
    assert tuple(vault.strikeTrigger()) == (False, b"no request")


def test_trigger_stays_quiet_when_the_liquidity_left_pays_nothing(system, people):
    """With every issuer frozen and idle spent, a strike fills nothing: a keeper told to act
    would send a transaction that pays nothing, block after block."""
    alice, _, _, _, keeper = people
    vault = system.vault
    freeze(system, "tbill", "gold", "invoices")
    vault.requestRedeem(worth(system, 60_000 * USDC), alice, alice, sender=alice)
    system.strike(sender=keeper)  # takes idle; the rest is queued
    assert vault.liquidity() == 0 and vault.pendingRedemptions() > 0
    system.publish_prices()
    k = settled(vault.strike(sender=keeper), vault)
    assert (k["redeemShares"], k["redeemAssets"]) == (0, 0)  # a strike now fills nothing
    system.publish_prices()
    assert vault.strikeTrigger()[0] is False


# ------------------------------------------------------------------ random sequences

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("deposit"), st.integers(0, 2), st.integers(1, 80_000)),  # whole USDC
        st.tuples(st.just("redeem"), st.integers(0, 2), st.integers(1, 30) | st.just(100)),
        st.tuples(st.just("redeem"), st.integers(0, 2), st.integers(1, 30)),
        st.tuples(st.just("strike")),
        st.tuples(st.just("strike")),
        st.tuples(st.just("claim"), st.integers(0, 2), st.booleans()),  # by assets?
        st.tuples(st.just("cancel"), st.integers(0, 2), st.booleans()),  # deposit or redeem
        st.tuples(st.just("tbill"), st.sampled_from([None, True, False]), st.integers(1, 300)),
        st.tuples(st.just("next_day")),
        st.tuples(st.just("gold_nav"), st.integers(1_500, 2_500)),
    ),
    min_size=6,
    max_size=12,
).map(lambda ops: [*ops, ("strike",)])


class QueueModel:
    """The books as the vault must keep them: each controller's pending deposit, its redeem
    request (shares, the epoch it joined), and the redeem epochs' order."""

    def __init__(self, system, people, chain):
        self.system, self.vault, self.chain = system, system.vault, chain
        alice, bob, carol, self.dave, self.keeper = people
        self.owners = (alice, bob, carol)
        self.receivers = {alice: alice, bob: self.dave, carol: carol}
        self.deposits = dict.fromkeys(self.owners, 0)  # pending, not yet struck
        self.deposit_windows: dict = {}  # owner -> the request window of its pending deposit
        self.redeems: dict = {}  # controller -> [shares requested, epoch]
        self.open_epoch = 0  # relative to the start of the example
        self.open_has_requests = False
        self.requests = 0  # redeem requests so far: a bound on the pro rata dust
        self.settlements = 0  # deposit settlements so far: a bound on the mint dust

    def _window(self) -> int:
        """The request window of the last block (where the last transaction landed)."""
        return self.chain.blocks.head.timestamp // WINDOW

    def deposit(self, who, usdc):
        owner = self.owners[who]
        self.system.fund(owner, usdc * USDC)
        if self.deposits[owner]:
            outcome = revert_of(
                self.vault, "requestDeposit", usdc * USDC, owner, owner, sender=owner
            )
            if outcome:  # a request of an earlier window waits for its strike
                assert outcome[0] == "DepositRequestPending"
                return
        self.vault.requestDeposit(usdc * USDC, owner, owner, sender=owner)
        assert not self.deposits[owner] or self.deposit_windows[owner] == self._window()
        self.deposits[owner] += usdc * USDC
        self.deposit_windows[owner] = self._window()

    def redeem(self, who, percent):
        owner = self.owners[who]
        shares = self.vault.balanceOf(owner) * percent // 100
        if not shares:
            return
        mine = self.redeems.get(owner)
        if mine and mine[1] != self.open_epoch and self.vault.pendingRedeemRequest(0, owner):
            # a queued request must be filled before its controller asks again
            outcome = revert_of(self.vault, "requestRedeem", shares, owner, owner, sender=owner)
            assert outcome and outcome[0] == "RedeemRequestQueued"
            return
        if mine and mine[1] == self.open_epoch:
            outcome = revert_of(self.vault, "requestRedeem", shares, owner, owner, sender=owner)
            if outcome:  # its window closed (a day passed) before any strike: it must wait
                assert outcome[0] == "RedeemRequestQueued"
                return
        self.vault.requestRedeem(shares, owner, owner, sender=owner)
        if mine and mine[1] == self.open_epoch:
            assert mine[2] == self._window()
            mine[0] += shares
        else:
            self.redeems[owner] = [shares, self.open_epoch, self._window()]
        self.open_has_requests = True
        self.requests += 1

    def cancel(self, who, deposit):
        owner = self.owners[who]
        if deposit:
            if self.deposits[owner]:
                outcome = revert_of(self.vault, "cancelDepositRequest", owner, sender=owner)
                if outcome:
                    assert outcome[0] == "RequestWindowClosed"
                    return
                back = self.vault.cancelDepositRequest(owner, sender=owner).return_value
                assert self._window() == self.deposit_windows[owner]
                assert back == self.deposits[owner]
                self.deposits[owner] = 0
            return
        mine = self.redeems.get(owner)
        if mine and self.vault.pendingRedeemRequest(0, owner):
            # Cancellable until the request window's cut-off; a struck window is always closed.
            outcome = revert_of(self.vault, "cancelRedeemRequest", owner, sender=owner)
            if outcome:
                assert outcome[0] == "RequestWindowClosed"
                return
            assert mine[1] == self.open_epoch  # no strike has touched it
            held = self.vault.balanceOf(owner)
            self.vault.cancelRedeemRequest(owner, sender=owner)
            assert self._window() == mine[2]  # sent within the request's own window
            assert self.vault.balanceOf(owner) == held + mine[0]
            del self.redeems[owner]
            self.open_has_requests = any(r[1] == self.open_epoch for r in self.redeems.values())

    def claim(self, who, by_assets):
        owner = self.owners[who]
        vault = self.vault
        if vault.maxMint(owner):
            vault.mint(vault.maxMint(owner), owner, sender=owner)
        if vault.maxWithdraw(owner):
            receiver, asset = self.receivers[owner], self.system.asset
            cash, owed = asset.balanceOf(receiver), vault.maxWithdraw(owner)
            if by_assets:
                vault.withdraw(owed, receiver, owner, sender=owner)
            else:
                vault.redeem(vault.maxRedeem(owner), receiver, owner, sender=owner)
            assert asset.balanceOf(receiver) - cash == owed

    def tbill(self, frozen, thousands):
        """Freeze or unfreeze the tbill issuer, or (None) set its daily limit."""
        if frozen is None:
            limit_tbill(self.system, thousands * 1_000, fresh_day=False)
        else:
            self.system.sleeve("tbill").issuer.setFrozen(frozen, sender=self.system.governance)

    def next_day(self):
        next_utc_day(self.system, self.chain)

    def gold_nav(self, nav):
        self.system.sleeve("gold").feed.setAnswer(nav * FEED_UNIT, sender=self.system.governance)

    def strike(self):
        vault = self.vault
        queued = any(vault.pendingRedeemRequest(0, c) for c in self.redeems)
        if not any(self.deposits.values()) and not queued:
            assert_reverts(vault, "strike", sender=self.keeper, error="NothingToStrike")
            return
        self.system.publish_prices()
        self.system.confirm_moves()  # a move beyond the band is confirmed first (the settler)
        pending = {c: vault.pendingRedeemRequest(0, c) for c in self.redeems}
        price = share_price(vault)
        k = settled(vault.strike(sender=self.keeper), vault)
        assert k["depositAssets"] == sum(self.deposits.values())
        if k["depositAssets"]:
            self.settlements += 1
        for owner, amount in self.deposits.items():
            assert vault.pendingDepositRequest(0, owner) == 0
            if amount:
                assert vault.maxDeposit(owner) >= amount
        self.deposits = dict.fromkeys(self.owners, 0)
        if self.open_has_requests:
            self.open_epoch += 1
            self.open_has_requests = False
        fills = {c: pending[c] - vault.pendingRedeemRequest(0, c) for c in pending}
        # Pro rata dust: each controller's cumulative fill of its window rounds down, so over a
        # window filled by several strikes one strike's per-controller steps may sum to up to a
        # share a controller more or less than the strike's fill (the window's total is exact).
        assert abs(k["redeemShares"] - sum(fills.values())) <= len(fills)
        event(f"strike: fills {sum(1 for f in fills.values() if f)} of {len(fills)} requests")
        # First in, first out: while a request window still waits, no later window got anything.
        waiting = [self.redeems[c][2] for c in pending if vault.pendingRedeemRequest(0, c)]
        for c, filled in fills.items():
            if filled and waiting:
                assert self.redeems[c][2] <= min(waiting)
        # Pro rata within a request window: one fill ratio (cumulative), up to rounding.
        by_epoch: dict[int, list] = {}
        for c, (shares, _, window) in self.redeems.items():
            done = shares - vault.pendingRedeemRequest(0, c)
            by_epoch.setdefault(window, []).append((shares, done))
        for group in by_epoch.values():
            for (s1, d1), (s2, d2) in zip(group, group[1:], strict=False):
                assert abs(d1 * s2 - d2 * s1) <= s1 + s2
        assert share_price(vault) >= price  # those who stay never lose
        for c in [c for c in self.redeems if not vault.pendingRedeemRequest(0, c)]:
            del self.redeems[c]  # filled: its controller may ask again

    def check(self):
        vault, asset = self.vault, self.system.asset
        holders = (*self.owners, self.dave, vault, self.system.agents)
        assert sum(vault.balanceOf(h) for h in holders) == vault.totalSupply()
        # pending deposits are held apart: in the vault's cash, never in idle or the NAV
        assert vault.pendingDeposits() == sum(self.deposits.values())
        cash = asset.balanceOf(vault)
        reserved = vault.claimableRedemptions()
        assert vault.idle() == cash - vault.pendingDeposits() - reserved
        # reserved assets are the claimable redemptions, give or take the pro rata dust
        claimable = sum(vault.maxWithdraw(c) for c in (*self.owners, self.dave))
        assert 0 <= reserved - claimable <= self.requests
        # escrowed shares: redemptions not yet filled (each controller's pending share of a
        # partly filled epoch rounds up: at most one share more each), and settled deposits not
        # yet claimed
        pending = vault.pendingRedemptions()
        mine = sum(vault.pendingRedeemRequest(0, c) for c in self.owners)
        assert 0 <= mine - pending < len(self.owners)
        unclaimed = sum(vault.maxMint(c) for c in self.owners)
        escrow = vault.balanceOf(vault) - pending - unclaimed
        assert 0 <= escrow <= 3 * self.settlements  # pro rata dust: < 1 share a depositor


@settings(max_examples=max(8, settings.default.max_examples // 5), deadline=None)
@given(ops=OPS)
def test_random_strike_sequences_keep_the_books(system, people, chain, ops):
    with isolated(chain):
        freeze(system, "gold")
        limit_tbill(system, 50_000)
        # invoices pays once tbill's limit is used up, at a NAV whose redemptions round
        rounding_invoices(system)
        system.sleeve("invoices").issuer.setDailyRedeemLimit(
            20_000 * INVOICE_TOKEN, sender=system.governance
        )
        model = QueueModel(system, people, chain)
        for op, *args in ops:
            getattr(model, op)(*args)
            model.check()
