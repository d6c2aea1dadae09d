"""Donations to RWAVault (`donate`; the AgentRegistry pays executed slashes this way) with
`vault.unlockPeriod` set to 7 days, as the deploy config has it.

A donation is given to the shares that exist when it is made: it unlocks into `totalAssets()`
linearly over the period (`lockedDonations()`, rounded up, so the share price never counts a wei
early) and lifts the performance fee's high-water mark at once, so the fee never counts it. A
deposit request settled while it is locked pays the NAV with the locked part included, and a
redemption gets the NAV without it: nobody who enters after a donation earns any of it, and a
holder who leaves before the unlock leaves the still-locked part to those who stay. A second
donation unlocks with what is still locked, their unlock rates added (what was locked keeps its
pace: tests/attacks/test_mev_review.py).

Everything stays idle here (no rebalance) unless a test invests, so the strike's NAV is exactly
the vault's cash less what is locked, and the expected payouts are computed exactly.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.vault_support import (
    DAY,
    FEED_UNIT,
    USDC,
    deploy_vault_system,
    isolated,
    settled,
    stand_fee_sample,
)

OFFSET = 10**12  # virtual shares: 10 ** (18 - 6)
PERIOD = 7 * DAY


@pytest.fixture(scope="module")
def people(accounts):
    """alice and carol hold before the donation; bob comes after it; donor donates."""
    return accounts[6], accounts[7], accounts[8], accounts[2]


@pytest.fixture(scope="module")
def system(project, accounts, people):
    alice, _, carol, donor = people
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    s.set_param("vault.unlockPeriod", PERIOD)
    s.deposit(alice, 600_000 * USDC)
    s.deposit(carol, 400_000 * USDC)
    s.fund(donor, 1_000_000 * USDC)
    return s


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def donate(system, donor, assets: int):
    """A first donation (nothing locked before it), its Donated event checked; the receipt."""
    vault = system.vault
    assert vault.lockedDonations()[0] == 0
    receipt = vault.donate(assets, sender=donor)
    (event,) = receipt.events.filter(vault.Donated)
    assert (event.event_arguments["from"], event.assets) == (donor.address, assets)
    assert (event.locked, event.lockedUntil) == (assets, receipt.timestamp + PERIOD)
    return receipt


def locked_at(amount: int, start: int, end: int, now: int) -> int:
    return 0 if now >= end else ceil_div(amount * (end - now), end - start)


def test_a_donation_unlocks_linearly_into_total_assets(system, people, chain):
    _, _, _, donor = people
    vault = system.vault
    nav = vault.totalAssets()
    assert nav == 1_000_000 * USDC
    receipt = donate(system, donor, 70_000 * USDC + 1)
    t0 = receipt.timestamp
    assert tuple(vault.lockedDonations()) == (70_000 * USDC + 1, t0 + PERIOD)
    assert vault.totalAssets() == nav  # none of it counts yet
    for elapsed in (1, DAY, 3 * DAY + 12_345, PERIOD - 1, PERIOD, PERIOD + DAY):
        chain.mine(1, timestamp=t0 + elapsed)
        locked = locked_at(70_000 * USDC + 1, t0, t0 + PERIOD, t0 + elapsed)
        assert tuple(vault.lockedDonations()) == (locked, t0 + PERIOD)
        assert vault.totalAssets() == nav + 70_000 * USDC + 1 - locked
    assert locked == 0


def test_a_donation_lifts_the_high_water_mark_at_once(system, people, chain):
    alice, bob, _, donor = people
    vault = system.vault
    system.set_param("vault.performanceFeeBps", 2_000)
    system.rebalance([5_000, 0, 0])  # 500,000 in tbill, to make a real gain below
    t0 = donate(system, donor, 100_000 * USDC).timestamp
    system.fund(bob, 3 * USDC)
    # Half unlocked, then all of it: the share price rose 10%, yet no strike takes a fee.
    for at in (t0 + PERIOD // 2, t0 + PERIOD):
        chain.pending_timestamp = at
        vault.requestDeposit(USDC, bob, bob, sender=bob)
        receipt = system.strike()
        assert not receipt.events.filter(vault.PerformanceFeeTaken)
    assert vault.lockedDonations()[0] == 0
    # A real gain, tbill +1% (5,000 of the vault's assets): the fee is on that alone.
    tbill = system.sleeve("tbill")
    tbill.feed.setAnswer(FEED_UNIT * 101 // 100, sender=system.governance)
    stand_fee_sample(system, bob)  # the fee is charged on a gain that stood a day
    vault.requestDeposit(USDC, bob, bob, sender=bob)
    (fee,) = system.strike().events.filter(vault.PerformanceFeeTaken)
    assert 5_000 * USDC - 2 <= fee.gain <= 5_000 * USDC
    assert fee.feeAssets == fee.gain * 2_000 // 10_000


def test_a_depositor_after_a_donation_gets_back_what_it_put_in(system, people, chain):
    alice, bob, _, donor = people
    vault = system.vault
    t0 = donate(system, donor, 100_000 * USDC).timestamp
    system.fund(bob, 250_000 * USDC)
    vault.requestDeposit(250_000 * USDC, bob, bob, sender=bob)
    # The deposit pays the NAV with the locked donation in it: it buys none of it cheap.
    cash, supply = system.asset.balanceOf(vault) - 250_000 * USDC, vault.totalSupply() + OFFSET
    assert cash == 1_100_000 * USDC
    k = settled(system.strike(), vault)
    assert k["lockedDonations"] > 0
    assert k["depositShares"] == 250_000 * USDC * supply // (cash + 1)
    shares = vault.maxMint(bob)
    vault.mint(shares, bob, sender=bob)

    with isolated(chain):  # leaving before the unlock: the locked part is not bob's to take
        chain.pending_timestamp = t0 + PERIOD // 2
        early = system.redeem(bob, shares).return_value
        assert early < 250_000 * USDC - 5_000 * USDC

    chain.pending_timestamp = t0 + PERIOD  # all unlocked
    back = system.redeem(bob, shares).return_value
    assert 250_000 * USDC - 2 <= back <= 250_000 * USDC


def test_holders_from_before_the_donation_get_their_share_and_leavers_leave_the_locked_part(
    system, people, chain
):
    alice, _, carol, donor = people
    vault = system.vault
    a, c = vault.balanceOf(alice), vault.balanceOf(carol)
    t0 = donate(system, donor, 100_000 * USDC).timestamp
    # Alice leaves half way: she gets her part of what has unlocked, not of what is locked.
    chain.pending_timestamp = t0 + PERIOD // 2
    supply, cash = vault.totalSupply() + OFFSET, system.asset.balanceOf(vault)
    vault.requestRedeem(a, alice, alice, sender=alice)
    receipt = system.strike()
    locked = settled(receipt, vault)["lockedDonations"]
    assert locked == locked_at(100_000 * USDC, t0, t0 + PERIOD, receipt.timestamp) > 0
    paid = vault.redeem(a, alice, alice, sender=alice).return_value
    assert paid == a * (cash - locked + 1) // supply
    assert abs(paid - (600_000 * USDC + Fraction(6, 10) * (100_000 * USDC - locked))) <= 2
    # Carol stays to the end: her part of the first half, and all that was locked at alice's exit.
    chain.pending_timestamp = t0 + PERIOD
    back = system.redeem(carol, c).return_value
    expected = 400_000 * USDC + Fraction(4, 10) * (100_000 * USDC - locked) + locked
    assert abs(back - expected) <= 2
    assert paid + back <= 1_100_000 * USDC


def merged_end(still: int, left: int, assets: int, now: int) -> int:
    """RWAVault.donate: the end where the lock's rate and the donation's, added, run it out."""
    locked = still + assets
    return now + ceil_div(locked * PERIOD * left, still * PERIOD + assets * left)


def test_a_second_donation_unlocks_with_what_is_locked_at_their_added_rates(system, people, chain):
    _, _, _, donor = people
    vault = system.vault
    first = donate(system, donor, 70_000 * USDC)
    t0 = first.timestamp
    chain.pending_timestamp = t0 + 3 * DAY
    second = vault.donate(10_000 * USDC, sender=donor)
    t1 = second.timestamp
    (event,) = second.events.filter(vault.Donated)
    still = locked_at(70_000 * USDC, t0, t0 + PERIOD, t1)
    assert still > 0
    end = merged_end(still, t0 + PERIOD - t1, 10_000 * USDC, t1)
    assert t0 + PERIOD < end < t1 + PERIOD  # later than the first's end, sooner than a restart
    assert (event.locked, event.lockedUntil) == (still + 10_000 * USDC, end)
    assert tuple(vault.lockedDonations()) == (still + 10_000 * USDC, end)
    # The whole lock unlocks linearly to that end: past the first one's end, what is locked is
    # the second's own part (3/7 of it, within a second's unlocking of the rounded-up end), none
    # of the first's.
    chain.mine(1, timestamp=t0 + PERIOD)
    locked = vault.lockedDonations()[0]
    assert locked == locked_at(still + 10_000 * USDC, t1, end, t0 + PERIOD)
    own = ceil_div(10_000 * USDC * (t1 + PERIOD - (t0 + PERIOD)), PERIOD)
    assert 0 < locked <= own + (still + 10_000 * USDC) // (end - t1) + 1
    chain.mine(1, timestamp=end)
    assert vault.lockedDonations()[0] == 0
    assert vault.totalAssets() == 1_080_000 * USDC


def test_wei_donations_cannot_hold_a_slash_locked_past_its_period(system, people, chain):
    """The attack (found in a review after issue 18): a slash of 100,000 is donated; a griefer
    donates 1 wei every 7 hours. Had each donation restarted the period for what is locked, a
    third of the slash would still be locked a week on (holders leaving then would leave it to
    those who stay, for 24 wei). With the rates added, each wei moves the end by a second of
    rounding at most: the slash is all unlocked one period after it was paid."""
    _, _, _, donor = people
    griefer = people[1]
    vault = system.vault
    system.fund(griefer, 1 * USDC)
    t0 = donate(system, donor, 100_000 * USDC).timestamp
    for k in range(1, 25):
        chain.pending_timestamp = t0 + k * 7 * 3_600
        vault.donate(1, sender=griefer)
    locked, until = vault.lockedDonations()
    assert t0 + PERIOD <= until <= t0 + PERIOD + 24
    chain.mine(1, timestamp=until)
    assert vault.lockedDonations()[0] == 0
    assert vault.totalAssets() == 1_100_000 * USDC + 24
