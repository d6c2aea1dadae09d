"""TokenizedRWASleeve through the vault, and the local mocks behind it (MockIssuer,
MockRWAToken, MockAggregator).

The vault is the sleeves' only caller: funds move in by `rebalance` and out when a strike fills
redemptions. The sleeve values its RWA units at the OracleRouter's price, rounded down, and falls
back to the last accepted price when the feed is stale; for strikes it reports
`strikeValuation()` (a low/high band, the feed's publication time, freshness). A stale or frozen
sleeve must never freeze redemptions from the rest of the vault, while deposit requests wait
until its price is fresh again.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from tests.vault_support import (
    DAY,
    FEED_UNIT,
    USDC,
    WAD,
    WINDOW,
    deploy_vault_system,
    next_window,
    settled,
)  # fmt: skip

TOKEN_DECIMALS = {"tbill": 18, "gold": 18, "invoices": 6}
DEPOSIT = 1_000_000 * USDC
TARGETS = [4_000, 3_000, 2_000]  # tbill 400k, gold 300k, invoices 200k; idle 100k
IDLE = 100_000 * USDC
ODD_NAVS = {"tbill": 1_03456789, "gold": 2_345_67891234, "invoices": 98765431}


@pytest.fixture(scope="module")
def system(project, accounts):
    return deploy_vault_system(project, accounts[0], accounts[1], accounts[5])


@pytest.fixture(scope="module")
def gov(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def alice(accounts):
    return accounts[6]


@pytest.fixture(scope="module")
def bob(accounts):
    return accounts[7]


@pytest.fixture
def invested(system, alice):
    """Alice's 1,000,000 deposited and spread over the three sleeves at NAVs 1, 2000, 1."""
    system.deposit(alice, DEPOSIT)
    system.rebalance(TARGETS)
    return system


def value(units: int, price: int, name: str) -> int:
    """What the sleeve must report for `units` at WAD `price`: base-asset units, rounded down."""
    return units * price * USDC // (WAD * 10 ** TOKEN_DECIMALS[name])


def make_stale(chain, entry, gov) -> None:
    """Republish the feed's current answer with an `updatedAt` one second past maxStaleness."""
    now = chain.blocks.head.timestamp + 10
    chain.pending_timestamp = now
    entry.feed.setRound(entry.feed.latestAnswer(), now - DAY - 1, sender=gov)


def fault(system, chain, gov, name: str, kind: str) -> None:
    entry = system.sleeve(name)
    if kind == "stale":
        make_stale(chain, entry, gov)
    else:
        entry.issuer.setFrozen(True, sender=gov)


def publish_except(system, name: str) -> None:
    """A new round of every feed but `name`'s, at or after the request window's cut-off."""
    next_window(ape.chain)
    for s in system.sleeves:
        if s.name != name:
            s.feed.setAnswer(s.feed.latestAnswer(), sender=system.governance)


def redeem_with_gold_faulted(system, chain, gov, account, kind: str):
    """`account` requests to redeem all its shares with gold faulted (`kind`): frozen, the strike
    runs at once; stale, gold's feed stops publishing, so the strike waits for
    `vault.strikeMaxWait` (the other feeds keep publishing) and values gold at its haircut.
    Returns the strike's StrikeSettled fields."""
    vault = system.vault
    if kind == "frozen":
        fault(system, chain, gov, "gold", kind)
    shares = vault.balanceOf(account)
    vault.requestRedeem(shares, account, account, sender=account)
    if kind == "frozen":
        return settled(system.strike(), vault)
    wait = system.registry.get(keccak(text="vault.strikeMaxWait"))
    cutoff = (chain.blocks.head.timestamp // WINDOW + 1) * WINDOW
    chain.pending_timestamp = cutoff + wait
    publish_except(system, "gold")
    assert not system.sleeve("gold").sleeve.strikeValuation()[3]  # gold is stale now
    return settled(vault.strike(sender=gov), vault)


def fund_issuer_buyer(system, entry, buyer, assets: int) -> None:
    system.asset.faucet(buyer, assets, sender=buyer)
    system.asset.approve(entry.issuer, 2**256 - 1, sender=buyer)


# ------------------------------------------------------------------ access


def test_only_the_vault_can_move_sleeve_funds(system, gov):
    for entry in system.sleeves:
        for caller in (gov, system.allocator):  # not even governance or the agent
            with ape.reverts(entry.sleeve.OnlyVault, caller=caller.address):
                entry.sleeve.deposit(0, sender=caller)
            with ape.reverts(entry.sleeve.OnlyVault, caller=caller.address):
                entry.sleeve.withdraw(1, sender=caller)


# ------------------------------------------------------------------ valuation


def test_valuation_is_units_times_price_rounded_down(system, gov, alice):
    for name, nav in ODD_NAVS.items():
        system.sleeve(name).feed.setAnswer(nav, sender=gov)
    system.deposit(alice, DEPOSIT)
    system.rebalance(TARGETS)

    rounded = 0
    total = system.vault.idle()
    for entry in system.sleeves:
        units = entry.sleeve.units()
        assert units == entry.token.balanceOf(entry.sleeve)
        price = system.router.price(entry.token)
        expected = value(units, price, entry.name)
        assert entry.sleeve.valuation() == (expected, True)
        assert entry.sleeve.totalAssets() == expected
        rounded += units * price * USDC % (WAD * 10 ** TOKEN_DECIMALS[entry.name]) != 0
        total += expected
    assert rounded > 0  # the NAVs above make rounding matter
    assert system.vault.totalAssets() == total

    tbill = system.sleeve("tbill")
    tbill.feed.setAnswer(1_05000001, sender=gov)  # valuation follows the fresh price at once
    assert tbill.sleeve.totalAssets() == value(tbill.sleeve.units(), 1_05000001 * 10**10, "tbill")


@pytest.mark.parametrize("kind", ["stale", "invalid"])
def test_unusable_price_values_at_last_accepted_price_without_reverting(
    invested, gov, bob, chain, kind
):
    tbill = invested.sleeve("tbill")
    tbill.feed.setAnswer(1_02000000, sender=gov)
    # The router's reference follows the feed at most once per oracle.confirmDelay.
    delay = invested.registry.get(keccak(text="oracle.confirmDelay"))
    chain.pending_timestamp = max(
        invested.router.lastPrice(tbill.token)[1] + delay, chain.blocks.head.timestamp + 1
    )
    invested.router.poke(tbill.token, sender=bob)  # accepted: 1.02
    assert invested.router.lastPrice(tbill.token)[0] == 102 * WAD // 100
    if kind == "stale":
        make_stale(chain, tbill, gov)
    else:
        tbill.feed.setAnswer(0, sender=gov)
    expected = value(400_000 * WAD, 102 * WAD // 100, "tbill")
    assert tbill.sleeve.valuation() == (expected, False)
    assert tbill.sleeve.totalAssets() == expected
    others = sum(s.sleeve.totalAssets() for s in invested.sleeves if s.name != "tbill")
    assert invested.vault.totalAssets() == IDLE + expected + others


def test_donations_are_not_counted(invested, gov, bob):
    gold = invested.sleeve("gold")
    before = (gold.sleeve.units(), gold.sleeve.totalAssets(), invested.vault.totalAssets())
    fund_issuer_buyer(invested, gold, bob, 20_000 * USDC)
    gold.issuer.subscribe(20_000 * USDC, sender=bob)  # 10 GOLD
    gold.token.transfer(gold.sleeve, 10 * WAD, sender=bob)
    invested.asset.faucet(gold.sleeve, 5_000 * USDC, sender=bob)
    after = (gold.sleeve.units(), gold.sleeve.totalAssets(), invested.vault.totalAssets())
    assert after == before


# ------------------------------------------------------------------ liquidity


def test_available_liquidity_is_everything_without_issuer_limits(invested):
    for entry in invested.sleeves:
        assert entry.sleeve.availableLiquidity() == entry.sleeve.totalAssets() > 0


def test_daily_redeem_limit_caps_liquidity_and_resets_next_utc_day(invested, gov, alice, chain):
    invested.set_param("oracle.maxStaleness", 7 * DAY)  # time travel below keeps prices fresh
    tbill = invested.sleeve("tbill")
    tbill.issuer.setDailyRedeemLimit(50_000 * WAD, sender=gov)
    assert tbill.sleeve.availableLiquidity() == 50_000 * USDC
    assert invested.vault.liquidity() == IDLE + 50_000 * USDC + 500_000 * USDC

    day = chain.blocks.head.timestamp // DAY + 1
    chain.pending_timestamp = day * DAY + 100
    # A redemption worth idle + 30k (one share = 1e-12 USDC here): the strike pulls 30k of tbill.
    shares = (IDLE + 30_000 * USDC) * 10**12
    invested.vault.requestRedeem(shares, alice, alice, sender=alice)
    assert invested.strike().timestamp // DAY == day
    assert invested.vault.maxWithdraw(alice) == IDLE + 30_000 * USDC
    assert tbill.issuer.redeemedToday() == 30_000 * WAD
    chain.pending_timestamp = (day + 1) * DAY - 1
    assert tbill.sleeve.availableLiquidity(block_id="pending") == 20_000 * USDC
    chain.pending_timestamp = (day + 1) * DAY
    assert tbill.sleeve.availableLiquidity(block_id="pending") == 50_000 * USDC


def test_frozen_issuer_leaves_no_liquidity_but_keeps_the_valuation(invested, gov):
    gold = invested.sleeve("gold")
    gold.issuer.setFrozen(True, sender=gov)
    assert gold.sleeve.availableLiquidity() == 0
    assert gold.sleeve.valuation() == (300_000 * USDC, True)
    gold.issuer.setFrozen(False, sender=gov)
    assert gold.sleeve.availableLiquidity() == 300_000 * USDC


def test_stale_price_leaves_no_liquidity(invested, gov, chain):
    gold = invested.sleeve("gold")
    make_stale(chain, gold, gov)
    assert gold.sleeve.availableLiquidity() == 0


def test_return_index_tracks_the_nav_price(invested, gov, bob, chain):
    tbill, gold = invested.sleeve("tbill"), invested.sleeve("gold")
    assert tbill.sleeve.returnIndex() == WAD
    assert gold.sleeve.returnIndex() == 2_000 * WAD
    tbill.feed.setAnswer(1_01234567, sender=gov)
    assert tbill.sleeve.returnIndex() == 1_01234567 * 10**10
    invested.router.poke(tbill.token, sender=bob)
    make_stale(chain, tbill, gov)
    assert tbill.sleeve.returnIndex() == 1_01234567 * 10**10  # last accepted while stale


# ------------------------------------------------------------------ one bad sleeve, the vault


@pytest.mark.parametrize("kind", ["stale", "frozen"])
def test_one_bad_sleeve_does_not_freeze_redemptions_from_the_rest(
    invested, gov, alice, chain, kind
):
    others = IDLE + 400_000 * USDC + 200_000 * USDC  # idle + tbill + invoices
    strike = redeem_with_gold_faulted(invested, chain, gov, alice, kind)
    assert strike["staleSleeves"] == (1 << 1 if kind == "stale" else 0)
    # The strike filled what idle and the healthy sleeves could pay (a share's worth of dust).
    assert others - 1 * USDC < strike["redeemAssets"] <= others
    paid = invested.vault.redeem(invested.vault.maxRedeem(alice), alice, alice, sender=alice)
    assert invested.asset.balanceOf(alice) == paid.return_value == strike["redeemAssets"]
    assert invested.sleeve("gold").sleeve.units() == 150 * WAD  # nothing redeemed from gold


def test_frozen_sleeve_is_left_out_of_the_fill_and_the_rest_waits_in_the_queue(
    invested, gov, alice, bob, chain
):
    vault, others = invested.vault, 700_000 * USDC
    fault(invested, chain, gov, "gold", "frozen")
    assert vault.liquidity() == others
    shares = vault.balanceOf(alice)
    vault.requestRedeem(shares, alice, alice, sender=alice)
    invested.strike()
    filled = vault.claimableRedeemRequest(0, alice)
    assert 0 < filled < shares
    assert vault.pendingRedeemRequest(0, alice) == shares - filled  # queued, not lost
    can = vault.maxWithdraw(alice)
    assert others - 1 * USDC < can <= others
    with ape.reverts(
        vault.ClaimExceeded, controller=alice.address, requested=can + 1, claimable=can
    ):
        vault.withdraw(can + 1, alice, alice, sender=alice)
    with ape.reverts(vault.ClaimExceeded, controller=bob.address, requested=1, claimable=0):
        vault.withdraw(1, bob, bob, sender=bob)
    vault.withdraw(can, alice, alice, sender=alice)
    assert vault.maxWithdraw(alice) == vault.maxRedeem(alice) == 0
    # The issuer reopens: the next strike fills the rest of the queued request.
    invested.sleeve("gold").issuer.setFrozen(False, sender=gov)
    invested.strike()
    assert vault.pendingRedeemRequest(0, alice) == 0
    assert vault.claimableRedeemRequest(0, alice) == shares - filled


def test_stale_sleeve_is_left_out_of_liquidity(invested, gov, chain):
    fault(invested, chain, gov, "gold", "stale")
    assert invested.vault.liquidity() == 700_000 * USDC


def test_a_fill_can_be_claimed_after_an_unpoked_nav_drop_goes_stale(invested, gov, alice, chain):
    gold = invested.sleeve("gold")
    gold.feed.setAnswer(1_900 * FEED_UNIT, sender=gov)  # -5%: within deviation, nobody pokes
    strike = redeem_with_gold_faulted(invested, chain, gov, alice, "stale")
    assert strike["staleSleeves"] == 1 << 1
    can = invested.vault.maxWithdraw(alice)
    issuers_pay = IDLE + 400_000 * USDC + 200_000 * USDC  # gold pays nothing while stale
    assert can == strike["redeemAssets"] <= issuers_pay
    assert invested.vault.claimableRedemptions() == can  # set aside in cash at the strike
    invested.vault.withdraw(can, alice, alice, sender=alice)
    assert invested.asset.balanceOf(alice) == can


# ------------------------------------------------------------------ deposits and stale prices


@pytest.mark.parametrize("answer", [None, 0])  # None: stale round; 0: invalid answer
def test_deposit_requests_wait_while_a_held_sleeve_price_is_unusable(
    invested, gov, bob, chain, answer
):
    gold, vault = invested.sleeve("gold"), invested.vault
    if answer is None:
        make_stale(chain, gold, gov)
    else:
        gold.feed.setAnswer(answer, sender=gov)
    invested.fund(bob, 1_000 * USDC)
    vault.requestDeposit(1_000 * USDC, bob, bob, sender=bob)
    publish_except(invested, "gold")
    with ape.reverts(vault.StrikeNotReady, sleeve=gold.sleeve.address, staleReadyAt=0):
        vault.strike(sender=bob)
    assert vault.strikeTrigger()[0] is False
    assert vault.pendingDepositRequest(0, bob) == 1_000 * USDC
    assert vault.maxDeposit(bob) == vault.maxMint(bob) == 0

    gold.feed.setAnswer(2_000 * FEED_UNIT, sender=gov)
    invested.strike()
    assert vault.maxDeposit(bob) == 1_000 * USDC
    shares = vault.deposit(1_000 * USDC, bob, sender=bob).return_value
    receipt = invested.redeem(bob, shares)
    assert receipt.return_value == 1_000 * USDC


def test_stale_price_of_an_empty_sleeve_does_not_stop_deposits(system, gov, alice, chain):
    make_stale(chain, system.sleeve("gold"), gov)
    assert system.sleeve("gold").sleeve.valuation() == (0, True)
    system.fund(alice, 1_000 * USDC)
    system.vault.requestDeposit(1_000 * USDC, alice, alice, sender=alice)
    # No feed publishes: every sleeve is empty, so no price is in the way once the window closed.
    next_window(chain)
    system.vault.strike(sender=alice)
    system.vault.deposit(1_000 * USDC, alice, sender=alice)
    assert system.vault.totalAssets() == 1_000 * USDC


# ------------------------------------------------------------------ strikeValuation()


def test_strike_valuation_is_one_value_at_the_feeds_publication_time(invested, gov, bob, chain):
    for entry in invested.sleeves:
        (value_, fresh) = entry.sleeve.valuation()
        (_, _, _, updated_at, _) = entry.feed.latestRoundData()
        assert entry.sleeve.strikeValuation() == (value_, value_, updated_at, True)
    tbill = invested.sleeve("tbill")
    published = tbill.feed.setAnswer(1_05000000, sender=gov).timestamp  # within deviation
    expected = value(400_000 * WAD, 105 * WAD // 100, "tbill")
    assert tbill.sleeve.strikeValuation() == (expected, expected, published, True)


def test_strike_valuation_spans_an_unconfirmed_move(invested, gov, bob, chain):
    """The band of an unconfirmed move, reported not fresh (a strike settles nothing on it)
    until the move is confirmed."""
    gold = invested.sleeve("gold")
    published = gold.feed.setAnswer(2_300 * FEED_UNIT, sender=gov).timestamp  # +15%, unpoked
    low, high = value(150 * WAD, 2_000 * WAD, "gold"), value(150 * WAD, 2_300 * WAD, "gold")
    assert gold.sleeve.strikeValuation() == (low, high, published, False)
    assert gold.sleeve.totalAssets() == high  # the live valuation already reads the new price
    gold.feed.setAnswer(1_700 * FEED_UNIT, sender=gov)  # -15%
    low = value(150 * WAD, 1_700 * WAD, "gold")
    assert gold.sleeve.strikeValuation()[:2] == (low, value(150 * WAD, 2_000 * WAD, "gold"))
    seen = invested.router.poke(gold.token, sender=bob).timestamp  # recorded, not confirmed
    band = gold.sleeve.strikeValuation()
    assert band[:2] == (low, value(150 * WAD, 2_000 * WAD, "gold")) and not band[3]
    delay = invested.registry.get(keccak(text="oracle.confirmDelay"))
    chain.pending_timestamp = seen + delay
    gold.feed.setAnswer(1_700 * FEED_UNIT, sender=gov)  # the move held
    invested.router.poke(gold.token, sender=bob)  # confirmed: one value again, fresh
    confirmed = gold.sleeve.strikeValuation()
    assert confirmed[:2] == (low, low) and confirmed[3]


def test_strike_valuation_is_not_fresh_when_the_price_is_stale(invested, gov, chain):
    gold = invested.sleeve("gold")
    make_stale(chain, gold, gov)
    (_, _, _, updated_at, _) = gold.feed.latestRoundData()
    (value_, fresh) = gold.sleeve.valuation()
    assert not fresh
    assert gold.sleeve.strikeValuation() == (value_, value_, updated_at, False)


def test_strike_valuation_of_an_empty_sleeve_is_zero_now_and_fresh(system, chain):
    head = chain.blocks.head.timestamp
    chain.pending_timestamp = head + 5
    for entry in system.sleeves:
        assert entry.sleeve.strikeValuation(block_id="pending") == (0, 0, head + 5, True)


# ------------------------------------------------------------------ mocks


@pytest.mark.parametrize("name, assets", [("invoices", 1_000_000_007), ("gold", 12_345_678_901)])
def test_issuer_subscribes_and_redeems_at_nav_rounding_down(system, gov, bob, name, assets):
    entry = system.sleeve(name)
    entry.feed.setAnswer(ODD_NAVS[name], sender=gov)
    nav, unit = ODD_NAVS[name] * 10**10, 10 ** TOKEN_DECIMALS[name]
    fund_issuer_buyer(system, entry, bob, assets)
    assert entry.issuer.nav() == nav

    entry.issuer.subscribe(assets, sender=bob)
    tokens = assets * unit * WAD // (nav * USDC)
    assert assets * unit * WAD % (nav * USDC) != 0  # rounding matters for these inputs
    assert entry.token.balanceOf(bob) == tokens
    assert system.asset.balanceOf(bob) == 0

    entry.issuer.redeem(tokens, sender=bob)
    paid = tokens * nav * USDC // (WAD * unit)
    assert system.asset.balanceOf(bob) == paid < assets
    assert entry.token.balanceOf(bob) == 0


def test_issuer_daily_redeem_limit(system, gov, bob, chain):
    gold = system.sleeve("gold")
    fund_issuer_buyer(system, gold, bob, 400_000 * USDC)
    gold.issuer.subscribe(400_000 * USDC, sender=bob)  # 200 GOLD
    gold.issuer.setDailyRedeemLimit(100 * WAD, sender=gov)
    day = chain.blocks.head.timestamp // DAY + 1
    chain.pending_timestamp = day * DAY
    gold.issuer.redeem(60 * WAD, sender=bob)
    assert gold.issuer.maxRedeem() == 40 * WAD
    with ape.reverts(gold.issuer.RedeemLimitExceeded, requested=40 * WAD + 1, available=40 * WAD):
        gold.issuer.redeem(40 * WAD + 1, sender=bob)
    gold.issuer.redeem(40 * WAD, sender=bob)
    assert gold.issuer.maxRedeem() == 0

    chain.pending_timestamp = (day + 1) * DAY
    gold.issuer.redeem(100 * WAD, sender=bob)
    assert gold.token.balanceOf(bob) == 0


def test_frozen_issuer_neither_subscribes_nor_redeems(system, gov, bob):
    tbill = system.sleeve("tbill")
    fund_issuer_buyer(system, tbill, bob, 2_000 * USDC)
    tbill.issuer.subscribe(1_000 * USDC, sender=bob)
    tbill.issuer.setFrozen(True, sender=gov)
    assert tbill.issuer.maxRedeem() == 0
    with ape.reverts(tbill.issuer.IssuerFrozen):
        tbill.issuer.subscribe(1_000 * USDC, sender=bob)
    with ape.reverts(tbill.issuer.IssuerFrozen):
        tbill.issuer.redeem(WAD, sender=bob)
    tbill.issuer.setFrozen(False, sender=gov)
    tbill.issuer.redeem(1_000 * WAD, sender=bob)
    assert system.asset.balanceOf(bob) == 2_000 * USDC


def test_only_owners_and_issuers_control_the_mocks(system, gov, bob):
    tbill = system.sleeve("tbill")
    for contract, call in (
        (tbill.issuer, lambda: tbill.issuer.setFrozen(True, sender=bob)),
        (tbill.issuer, lambda: tbill.issuer.setDailyRedeemLimit(1, sender=bob)),
        (tbill.feed, lambda: tbill.feed.setAnswer(2 * FEED_UNIT, sender=bob)),
        (tbill.feed, lambda: tbill.feed.setRound(2 * FEED_UNIT, 1, sender=bob)),
    ):
        with ape.reverts(contract.OwnableUnauthorizedAccount, account=bob.address):
            call()
    for caller in (bob, gov):  # not even the issuer's owner mints
        with ape.reverts(tbill.token.OnlyIssuer, caller=caller.address):
            tbill.token.mint(caller, WAD, sender=caller)
        with ape.reverts(tbill.token.OnlyIssuer, caller=caller.address):
            tbill.token.burn(tbill.sleeve, 0, sender=caller)
    assert tbill.feed.latestAnswer() == FEED_UNIT
    assert tbill.issuer.frozen() is False
