"""An outsider's strike that settles nothing used to crystallize the performance fee at a passing
peak (found in an audit of the permissionless paths after stop 39); the fee is now charged only
on gains that stood.

`strike()` is anyone's, and it goes ahead whenever a redemption window past its cut-off is not
wholly filled, even when no liquidity can fill any of it (`strikeTrigger` says "no liquidity" and
the settler keeper skips it). The fee was crystallized at every strike, against the high-water
mark, so while an exit waited on an issuer gate anyone could strike at whichever price round it
liked and fix the fee on a gain that did not last: the PoC (1M vault, 40 % gold, both issuers
frozen, half the shares queued for exit) struck at a +5 % gold round that reversed an hour
later. The strike filled nothing and took a 2,000 fee (10 % of a 20,000 gain that vanished); the
leaver was paid 499,072.16 instead of 500,000 and the stayer held 498,969.07 instead of 500,000.

The defence (IRWAVault.setAgentRegistry): a strike charges the fee only up to the lower of the
price now and the price a strike saw at least `FEE_HOLD` (a day) before, the fee sample. A peak
one strike sees is charged only once a strike a day later sees it still. The tests below run the
PoC against it (the sample young or a day old when the peak passes), check that a gain that
stands a day is charged once, to the wei (`keepers.math.fee`), and that neither two strikes a
block apart at a peak nor the first strike ever take a fee.
"""

from __future__ import annotations

import pytest

from keepers.math.fee import FeeSample, VaultSnapshot, performance_fee
from tests.vault_support import (
    DAY,
    FEE_HOLD,
    USDC,
    deploy_vault_system,
    fee_sample,
    high_water_mark,
    isolated,
    stand_fee_sample,
)

HALF = 500_000 * USDC
FEE_BPS = 1_000


@pytest.fixture(scope="module")
def people(accounts):
    """`leaver` and `stayer` hold half each; `outsider` holds nothing."""
    return accounts[6], accounts[7], accounts[9]


@pytest.fixture(scope="module")
def system(project, accounts, people):
    leaver, stayer, _ = people
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    s.set_param("vault.performanceFeeBps", FEE_BPS)
    s.deposit(leaver, HALF)
    s.deposit(stayer, HALF)
    s.rebalance([5_500, 4_000, 0])  # 55 % T-bills, 40 % gold, 5 % idle
    return s


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def fees(tx, vault) -> list[int]:
    return [e.feeAssets for e in tx.events.filter(vault.PerformanceFeeTaken)]


def _passing_peak(system, people, chain, outsider_strikes: bool, waited: int):
    """Issuers frozen, the leaver's exit queued past idle; `waited` later gold +5 % for one
    round, then back; issuers reopen and the keeper strikes; a day later another strike. Returns
    (fees taken, leaver's pay, stayer's value)."""
    leaver, stayer, outsider = people
    vault, gov = system.vault, system.governance
    gold = system.sleeve("gold")
    for name in ("tbill", "gold"):
        system.sleeve(name).issuer.setFrozen(True, sender=gov)
    vault.requestRedeem(vault.balanceOf(leaver), leaver, leaver, sender=leaver)
    taken = fees(system.strike(), vault)  # idle pays its part; the rest waits for the issuers
    assert vault.pendingRedemptions() > 0
    if waited:  # the exit waits on the issuers; the NAVs go on publishing
        chain.pending_timestamp += waited
        system.publish_prices()
    gold.feed.setAnswer(2_100 * 10**8, sender=gov)  # +5 % (inside the band: fresh, no move)
    if outsider_strikes:
        ok, why = vault.strikeTrigger()
        assert (ok, bytes(why)) == (False, b"no liquidity")  # the keeper would not strike
        _, at = fee_sample(vault)
        tx = vault.strike(sender=outsider)
        # The peak's strike finds the sample as the test's id says: young, or a day old.
        assert (tx.timestamp >= at + FEE_HOLD) == bool(waited)
        assert tx.events.filter(vault.Withdraw) == []
        taken += fees(tx, vault)
    chain.pending_timestamp += 3_600
    gold.feed.setAnswer(2_000 * 10**8, sender=gov)  # the gain does not last
    for name in ("tbill", "gold"):
        system.sleeve(name).issuer.setFrozen(False, sender=gov)
    taken += fees(system.strike(), vault)
    vault.redeem(vault.maxRedeem(leaver), leaver, leaver, sender=leaver)
    taken += fees(stand_fee_sample(system), vault)  # a day later, and a day after that
    taken += fees(stand_fee_sample(system), vault)
    return taken, system.asset.balanceOf(leaver), vault.convertToAssets(vault.balanceOf(stayer))


@pytest.mark.parametrize("waited", [0, DAY], ids=["young-sample", "day-old-sample"])
def test_a_fee_is_charged_only_on_a_gain_that_stood(system, people, chain, waited):
    with isolated(chain):
        quiet = _passing_peak(system, people, chain, outsider_strikes=False, waited=waited)
    struck = _passing_peak(system, people, chain, outsider_strikes=True, waited=waited)
    # No fee on the passing peak, with or without the outsider's strike: both holders are paid
    # as if it had never struck (the PoC's numbers were a 2,000 fee, 499,072.16 and 498,969.07).
    assert quiet == ([], HALF, HALF)
    assert struck == quiet


def test_a_gain_that_stands_a_day_is_charged_once(system, chain):
    vault, gov = system.vault, system.governance
    system.sleeve("gold").feed.setAnswer(2_100 * 10**8, sender=gov)  # +5 % on 400,000: it stays
    seen = stand_fee_sample(system)  # a strike sees it: nothing charged yet
    assert fees(seen, vault) == []
    for _ in range(2):  # a day later it is charged; a day after that, never again
        system.fund(gov, 1)
        vault.requestDeposit(1, gov, gov, sender=gov)
        system.publish_prices()
        mark, sample = high_water_mark(vault), fee_sample(vault)
        nav = vault.idle() + sum(s.sleeve.strikeValuation()[0] for s in system.sleeves)
        supply = vault.totalSupply()
        tx = vault.strike(sender=gov)
        expected = performance_fee(
            VaultSnapshot(nav, supply, 12, mark), FEE_BPS, FeeSample(*sample), tx.timestamp
        )
        taken = [
            (e.gain, e.feeAssets, e.feeShares, e.highWaterMark)
            for e in tx.events.filter(vault.PerformanceFeeTaken)
        ]
        event = (expected.gain, expected.fee, expected.fee_shares, expected.high_water_mark)
        assert taken == ([event] if expected.taken else [])
        assert (high_water_mark(vault), FeeSample(*fee_sample(vault))) == (
            expected.high_water_mark, expected.sample,
        )  # fmt: skip
        if _ == 0:
            assert 20_000 * USDC - 2 <= expected.gain <= 20_000 * USDC
            assert expected.fee == expected.gain * FEE_BPS // 10_000
        else:
            assert not expected.taken and expected.gain == 0
        chain.pending_timestamp = tx.timestamp + FEE_HOLD


def test_two_strikes_a_block_apart_at_a_peak_do_not_charge_it(system, people, chain):
    leaver, _, outsider = people
    vault, gov = system.vault, system.governance
    for name in ("tbill", "gold"):
        system.sleeve(name).issuer.setFrozen(True, sender=gov)
    vault.requestRedeem(vault.balanceOf(leaver), leaver, leaver, sender=leaver)
    system.strike()  # idle pays; the rest waits: anyone may strike at any time
    _, at = fee_sample(vault)
    # The peak's strikes straddle the end of the sample's day: one just before, one just after.
    chain.pending_timestamp = at + FEE_HOLD - 2
    system.sleeve("gold").feed.setAnswer(2_100 * 10**8, sender=gov)
    chain.pending_timestamp = at + FEE_HOLD - 1
    first = vault.strike(sender=outsider)
    assert first.timestamp == at + FEE_HOLD - 1 and fee_sample(vault)[1] == at  # it ages
    chain.pending_timestamp = at + FEE_HOLD
    second = vault.strike(sender=outsider)
    assert second.timestamp == at + FEE_HOLD
    assert fees(first, vault) == fees(second, vault) == []
    assert fee_sample(vault)[1] == second.timestamp  # the peak is sampled, not charged
    chain.pending_timestamp = at + FEE_HOLD + 1
    third = vault.strike(sender=outsider)  # and a block later, nothing either
    assert fees(third, vault) == []


def test_the_first_strike_takes_no_fee(project, accounts, chain):
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    s.set_param("vault.performanceFeeBps", FEE_BPS)
    assert fee_sample(s.vault) == (0, 0)
    mark = high_water_mark(s.vault)
    # Someone gives the empty vault a gain before its first strike: nothing is charged on it.
    s.fund(accounts[8], 1_000 * USDC)
    s.asset.transfer(s.vault, 1_000 * USDC, sender=accounts[8])
    s.fund(accounts[6], HALF)
    s.vault.requestDeposit(HALF, accounts[6], accounts[6], sender=accounts[6])
    tx = s.strike()
    assert fees(tx, s.vault) == []
    price, at = fee_sample(s.vault)
    assert at == tx.timestamp and price > mark  # the price it saw, the gift in it
    # The deposit lifted the mark by what it paid above it: the gift is never charged to it.
    assert mark < high_water_mark(s.vault) <= price
