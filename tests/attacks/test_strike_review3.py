"""Third outside review of the vault's settlement core (branch `strike3`): NAV strikes, the
hourly request windows, the FIFO redemption queue, donations unlocking, the stale-sleeve path,
shutdown, and the settler keeper that strikes as a service.

Each test mounts the attack or the check on a private anvil and classifies what happened from
chain facts (events, the vault's views, storage) and the keeper's report.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.keeper_support import relayed_book, struck_with_a_queued_leaver
from tests.vault_support import (
    DAY,
    USDC,
    SleeveSpec,
    deploy_vault_system,
    isolated,
    next_window,
    settled,
)


@pytest.fixture(scope="module")
def review3_book(project, accounts, chain):
    """1M supplied (decision 0: 90 % lent), one borrower owing 200k, the vault's claim relay.
    (Named apart from every other module's fixtures: Ape's isolation tracks them by name.)"""
    return relayed_book(project, accounts)


@pytest.fixture
def review3_fresh(review3_book, chain):
    with isolated(chain):
        yield review3_book


def test_a_deposit_waiting_in_the_open_window_does_not_reopen_the_wei_griefing_of_the_settler(
    review3_fresh, accounts, tmp_path
):
    """While redemptions wait for liquidity, a wei sent to the vault makes `strikeTrigger` true;
    the settler's gas gate (`plan_strike`) stops a redemptions-only strike worth less than its
    gas, but it let any strike through while `pendingDeposits()` was not 0, taking every pending
    deposit for one this strike settles. A deposit requested in the open window settles at no
    strike before the window's cut-off, so a griefer's 1-wei deposit request (once an hour, or
    any depositor's request in the hour) plus a wei sent to the vault (34,409 gas) made the
    settler send a strike (about 210,000 gas) that paid the leaver 2 wei and settled nothing
    else. The gate now counts only deposits of a closed window (`requestWindows()`: the deposit
    queue's head before the open window); a settleable deposit is struck for at once."""
    lending, protocol = review3_fresh
    vault, asset = lending.vault, lending.asset
    leaver, griefer, depositor = accounts[6], accounts[9], accounts[8]
    k = struck_with_a_queued_leaver(lending, protocol, leaver, accounts[7], tmp_path)

    lending.fund(griefer, 2, spender=vault)
    vault.requestDeposit(
        1, griefer, griefer, sender=griefer
    )  # the open window: no strike settles it
    asset.transfer(vault, 1, sender=griefer)
    assert vault.strikeTrigger()[0] is True and vault.pendingDeposits() == 1
    opened, deposit_head, _ = vault.requestWindows()
    assert deposit_head == opened  # the only deposit waits in the open window
    count = vault.strikeCount()
    griefed = k.run("settler")
    assert griefed.actions == [], griefed.summary()
    assert vault.strikeCount() == count
    assert any(s.startswith("strike: liquidity 2 below the strike's gas") for s in griefed.skipped)

    # control: a deposit whose window has closed is worth a strike, liquidity or not
    lending.fund(depositor, 10_000 * USDC, spender=vault)
    vault.requestDeposit(10_000 * USDC, depositor, depositor, sender=depositor)
    lending.vs.publish_prices()
    struck = k.run("settler")
    assert [(a.call, a.outcome) for a in struck.actions][:1] == [("strike()", "mined")]
    assert vault.strikeCount() == count + 1
    assert vault.pendingDepositRequest(0, depositor) == 0
    assert vault.claimableDepositRequest(0, depositor) == 10_000 * USDC


# ------------------------------------------------------------------ rounding across partial fills

HOLDERS = 6
TBILL_NAV = 10**8  # the feed's 1.00 (8 decimals)


@pytest.fixture(scope="module")
def review3_queue(project, accounts, chain):
    """Six holders (accounts 2, 3, 6, 7, 8, 9) with deposits of different sizes, the whole NAV
    in one tbill sleeve whose issuer is frozen (no idle buffer): every wei a strike pays comes
    from what a test sends the vault, so each strike fills a budget of its choosing at a price
    that moves with it."""
    s = deploy_vault_system(
        project,
        accounts[0],
        accounts[1],
        accounts[5],
        sleeves=(SleeveSpec("tbill", cap_bps=10_000),),
    )
    s.set_param("vault.idleBufferBps", 0)
    holders = [accounts[i] for i in (2, 3, 6, 7, 8, 9)]
    for n, who in enumerate(holders):
        s.fund(who, (37_000 + 11_111 * n) * USDC + n)
        s.vault.requestDeposit((37_000 + 11_111 * n) * USDC + n, who, who, sender=who)
    s.strike()
    for who in holders:
        s.vault.deposit(s.vault.maxDeposit(who), who, sender=who)
    s.rebalance([10_000])
    s.sleeve("tbill").issuer.setFrozen(True, sender=s.governance)
    s.fund(accounts[4], 10**6 * USDC)  # the gifts' source
    return s, holders, accounts[4]


fills = st.lists(
    st.tuples(
        st.integers(1, 40_000 * USDC) | st.integers(1, 50),  # what the vault is sent (budget)
        st.integers(9_900, 10_100),  # the tbill NAV, bps of 1.00 (inside the band)
        st.lists(  # claims after the strike: (holder, by assets?, bps of its max)
            st.tuples(st.integers(0, HOLDERS - 1), st.booleans(), st.integers(1, 10_000)),
            min_size=1,
            max_size=4,
        ),
    ),
    min_size=2,
    max_size=5,
)


@settings(
    max_examples=max(8, settings.default.max_examples // 5),  # "deep" profile: 400
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    windows=st.lists(st.integers(0, 2), min_size=HOLDERS, max_size=HOLDERS),
    sizes=st.lists(st.integers(1, 10_000), min_size=HOLDERS, max_size=HOLDERS),
    steps=fills,
)
def test_partial_fills_across_strikes_pay_each_window_pro_rata_and_never_more_than_set_aside(
    review3_queue, chain, windows, sizes, steps
):
    """Redemptions of six holders in up to three request windows, filled over several strikes
    a little at a time (budgets of a wei to 40,000, the tbill NAV moving between them), claimed
    in random parts (`withdraw` and `redeem`, the 3-argument claims) between strikes, then the
    issuer reopens and everything is filled and claimed. What every holder received plus what
    the vault still holds aside is exactly what the strikes set aside (no claim is ever paid
    from anyone else's part); what is left stranded is at most a wei per holder and per part
    claimed; and two holders of one window are paid at one rate whatever the strikes' prices
    (their shares' fill is pro rata), up to that rounding."""
    system, holders, gifter = review3_queue
    vault, asset, feed = system.vault, system.asset, system.sleeve("tbill").feed
    with isolated(chain):
        requested = {}
        for w in range(3):
            next_window_of(chain, w)
            for i, who in enumerate(holders):
                if windows[i] == w:
                    shares = vault.balanceOf(who) * sizes[i] // 10_000
                    if shares:
                        vault.requestRedeem(shares, who, who, sender=who)
                        requested[i] = (shares, w)
        if not requested:
            return
        start = {i: asset.balanceOf(holders[i]) for i in requested}
        parts = dict.fromkeys(requested, 0)
        set_aside = 0

        def claim(i, by_assets, bps):
            who = holders[i]
            if by_assets:
                owed = vault.maxWithdraw(who)
                amount = owed * bps // 10_000
                if amount:
                    vault.withdraw(amount, who, who, sender=who)
                    parts[i] += 1
            else:
                held = vault.maxRedeem(who)
                amount = held * bps // 10_000
                if amount and (amount == held or vault.maxWithdraw(who) * amount // held):
                    vault.redeem(amount, who, who, sender=who)
                    parts[i] += 1

        for budget, nav_bps, claims in steps:
            feed.setAnswer(TBILL_NAV * nav_bps // 10_000, sender=system.governance)
            asset.transfer(vault, budget, sender=gifter)
            set_aside += settled(system.strike(), vault)["redeemAssets"]
            for i, by_assets, bps in claims:
                if i in requested:
                    claim(i, by_assets, bps)
        system.sleeve("tbill").issuer.setFrozen(False, sender=system.governance)
        for _ in range(3):
            if vault.pendingRedemptions():
                set_aside += settled(system.strike(), vault)["redeemAssets"]
        assert vault.pendingRedemptions() == 0
        for i in requested:
            if vault.maxRedeem(holders[i]):
                vault.redeem(vault.maxRedeem(holders[i]), holders[i], holders[i], sender=holders[i])
                parts[i] += 1
            assert vault.maxWithdraw(holders[i]) == 0 and vault.maxRedeem(holders[i]) == 0
        event(f"windows with requests: {len(set(w for _, w in requested.values()))}")
        event(f"parts claimed in all: {min(sum(parts.values()), 4)}+")
        got = {i: asset.balanceOf(holders[i]) - start[i] for i in requested}
        stranded = vault.claimableRedemptions()
        assert sum(got.values()) + stranded == set_aside
        assert stranded <= len(requested) + sum(parts.values())
        by_window: dict[int, list] = {}
        for i, (shares, w) in requested.items():
            by_window.setdefault(w, []).append((shares, got[i], parts[i] + 1))
        for group in by_window.values():
            for (s1, g1, p1), (s2, g2, p2) in zip(group, group[1:], strict=False):
                # g / s equal up to each one's rounding (a wei a part), cross-multiplied
                assert abs(g1 * s2 - g2 * s1) <= p1 * s2 + p2 * s1, (s1, g1, s2, g2)


def next_window_of(chain, w: int) -> None:
    """Move to the start of the next request window when `w` > 0 (a new window per index)."""
    if w:
        next_window(chain)


# ------------------------------------------------------------------ a locked donation's forfeits

UNLOCK = 7 * DAY
DONATED = 70_000 * USDC


@pytest.fixture(scope="module")
def review3_lock(project, accounts, chain):
    """alice 900,000 and carol 100,000, the whole NAV in tbill behind a frozen issuer (no idle
    buffer), `vault.unlockPeriod` 7 days."""
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    s.set_param("vault.unlockPeriod", UNLOCK)
    s.set_param("vault.idleBufferBps", 0)
    s.set_param("vault.maxSleeveBps.tbill", 10_000)
    s.deposit(accounts[6], 900_000 * USDC)
    s.deposit(accounts[8], 100_000 * USDC)
    s.rebalance([10_000, 0, 0])
    s.sleeve("tbill").issuer.setFrozen(True, sender=s.governance)
    return s


def _lock_then_queued_exit(s, accounts, chain, entrant_deposit: int) -> dict[str, int]:
    """70,000 donated (locked 7 days); alice asks to leave with all her shares and the first
    strike pays her the 70,000 of cash there is, the rest queued for liquidity; the next strike
    settles `entrant_deposit` of bob's (his cash pays alice that much more); two days later the
    issuer reopens and alice is filled; after the unlock carol and bob leave. Returns what each
    got."""
    vault = s.vault
    alice, bob, carol, donor = accounts[6], accounts[7], accounts[8], accounts[2]
    s.fund(donor, DONATED)
    vault.donate(DONATED, sender=donor)
    vault.requestRedeem(vault.balanceOf(alice), alice, alice, sender=alice)
    s.strike()
    assert vault.pendingRedemptions() > 0  # alice's rest waits for liquidity (public)
    if entrant_deposit:
        s.fund(bob, entrant_deposit)
        vault.requestDeposit(entrant_deposit, bob, bob, sender=bob)
    s.strike()
    if entrant_deposit:
        vault.deposit(vault.maxDeposit(bob), bob, sender=bob)
    assert vault.pendingRedemptions() > 0 and vault.lockedDonations()[0] > 0
    chain.pending_timestamp = chain.blocks.head.timestamp + 2 * DAY
    s.sleeve("tbill").issuer.setFrozen(False, sender=s.governance)
    s.strike()
    assert vault.pendingRedemptions() == 0
    chain.pending_timestamp = chain.blocks.head.timestamp + UNLOCK
    stayers = (carol, bob) if entrant_deposit else (carol,)
    for who in stayers:
        vault.requestRedeem(vault.balanceOf(who), who, who, sender=who)
    s.strike()
    return {
        "alice": vault.maxWithdraw(alice),
        "carol": vault.maxWithdraw(carol),
        "bob": vault.maxWithdraw(bob) if entrant_deposit else 0,
    }


def test_an_entrant_during_a_lock_takes_part_of_what_a_queued_leaver_forfeits(
    review3_lock, accounts, chain
):
    """Known limit (docs/security.md), recorded with its cost. A leaver is paid without the
    donations still locked: its part of the lock stays with those who hold when it is filled.
    `tests/attacks/test_donation_forfeit.py` keeps a deposit settled in the leaver's own strike
    out of it (deposits are priced after the fills), but a deposit settled at an earlier strike,
    while the leaver waits in the queue for liquidity (public: `pendingRedemptions()`), is among
    "those who stay" when the leaver is filled: it paid for the lock only as it stood, shares the
    leaver's forfeit, and its payment, the lock in it, also lifts what the leaver is paid. Here
    bob's 50,000 one strike after alice's request takes about 13,000 of carol's, who alone held
    through the donation (DESIGN.md invariants 3 and 9); alice gets about 2,000 more. Were bob
    alice's second address, the queued leaver would take back about 15,000 of the part of the
    donation she forfeits (about 34,000 of it in all instead of 19,000)."""
    with isolated(chain):
        alone = _lock_then_queued_exit(review3_lock, accounts, chain, 0)
    with isolated(chain):
        joined = _lock_then_queued_exit(review3_lock, accounts, chain, 50_000 * USDC)
    bob_gain = joined["bob"] - 50_000 * USDC
    carol_loss = alone["carol"] - joined["carol"]
    alice_gain = joined["alice"] - alone["alice"]
    assert alone["carol"] > 150_000 * USDC  # her 100,000 and most of the 70,000 donated
    assert bob_gain > 12_000 * USDC  # 26 % on 50,000 in about nine days
    assert carol_loss > 14_000 * USDC
    assert alice_gain > 1_500 * USDC
    assert abs(carol_loss - bob_gain - alice_gain) <= 10  # what bob and alice take is carol's
    assert alone["alice"] - 900_000 * USDC < 19_500 * USDC  # her part of the donation, alone
