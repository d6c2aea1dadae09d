"""ERC-4626 / ERC-7540 properties of RWAVault under random liquidity conditions (hypothesis, on
anvil).

A module fixture deploys the vault, takes deposits from three holders and rebalances into the
three sleeves. Each example then draws liquidity conditions inside a chain snapshot: per sleeve
a fresh NAV move (sometimes beyond `oracle.maxDeviationBps`, so that the strike's low and high
valuations differ and no strike settles until someone confirms it), an issuer daily redeem
limit (a fraction of the units held) or a frozen issuer, and a stablecoin donation to the vault
that makes the share price an odd ratio.

Under those conditions, checked exactly with Fractions (S = totalSupply + 10**12 virtual shares):
- conversions round toward the vault; every preview reverts `PreviewUnavailable` (ERC-7540);
- a strike mints `floor(assets * S / (idle + Σ high + 1))` shares for the deposits and fills
  redemptions at `floor(shares * (idle + Σ low + 1) / S)` less the pull's rounding `loss` (at
  most 1 wei a sleeve, k), FIFO up to the liquidity there is; the share price of those who stay
  never falls;
- the max* functions are exactly what is claimable, claims (partial ones rounding against the
  claimer) never add up to more than the strike settled, and a claim beyond them names
  `ClaimExceeded`;
- a round trip request → strike → claim → request redeem → strike → claim never returns more
  than was deposited.
Plain tests cover what a deposit request meets: shutdown, the allowlist, a stale sleeve, the cap,
and dust shares.

Speed: Ape traces every reverted transaction (~5 s apiece on this vault), so expected reverts
are checked as a raw `eth_call` by the same sender on the pending block (`assert_reverts`),
the way tests/invariants/test_registry_properties.py does; the error is decoded from the
vault's ABI and its inputs compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.vault_support import (
    DAY,
    NO_EPOCH,
    USDC,
    assert_reverts,
    deploy_vault_system,
    isolated,
    settled,
)

OFFSET = 10**12  # virtual shares: 10 ** (18 - 6)
PRICE_SCALE = 10**36
DEPOSITS = (700_000 * USDC + 123_457, 250_000 * USDC + 1, 49_999 * USDC + 999_999)
EXAMPLES = settings(
    max_examples=max(12, settings.default.max_examples // 4),  # "deep" profile: 500
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def system(project, accounts):
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    for holder, amount in zip(accounts[6:9], DEPOSITS, strict=True):
        s.deposit(holder, amount)
        s.fund(holder, 2_000_000 * USDC)  # spare cash for deposit requests
    s.rebalance([4_000, 3_000, 2_000])
    for extra in (accounts[2], accounts[9]):  # donor, newcomer
        s.fund(extra, 3_000_000 * USDC)
    return s


@pytest.fixture(scope="module")
def holders(accounts):
    return list(accounts[6:9])


# ------------------------------------------------------------------ liquidity conditions


@dataclass(frozen=True)
class SleeveCondition:
    nav_move_bps: int  # fresh NAV move, in bps of the deployed NAV (beyond 1,000: unconfirmed)
    liquidity: str  # "open", "limited" or "frozen"
    limit_bps: int  # daily redeem limit, in bps of the units held ("limited" only)


@dataclass(frozen=True)
class Conditions:
    sleeves: tuple[SleeveCondition, ...]
    donation: int  # stablecoin sent straight to the vault


sleeve_conditions = st.builds(
    SleeveCondition,
    nav_move_bps=st.sampled_from([0]) | st.integers(-800, 800) | st.integers(-1_500, 1_500),
    liquidity=st.sampled_from(["open", "limited", "limited", "frozen"]),
    limit_bps=st.integers(1, 10_000),
)
conditions = st.builds(
    Conditions,
    sleeves=st.tuples(sleeve_conditions, sleeve_conditions, sleeve_conditions),
    donation=st.sampled_from([0]) | st.integers(1, 50_000 * USDC),
)


def apply(system, donor, cond: Conditions) -> None:
    gov = system.governance
    for s, c in zip(system.sleeves, cond.sleeves, strict=True):
        if c.nav_move_bps:
            nav = s.feed.latestAnswer()
            s.feed.setAnswer(nav * (10_000 + c.nav_move_bps) // 10_000, sender=gov)
        if c.liquidity == "limited":
            limit = max(1, s.sleeve.units() * c.limit_bps // 10_000)
            s.issuer.setDailyRedeemLimit(limit, sender=gov)
        elif c.liquidity == "frozen":
            s.issuer.setFrozen(True, sender=gov)
    if cond.donation:
        system.asset.transfer(system.vault, cond.donation, sender=donor)


# ------------------------------------------------------------------ exact arithmetic


@dataclass(frozen=True)
class Book:
    """What a strike prices on, read just before it."""

    idle: int
    low: int  # Σ sleeves' low strike valuation
    high: int  # Σ sleeves' high strike valuation
    supply: int  # totalSupply + virtual shares
    liquidity: int

    @classmethod
    def read(cls, system) -> Book:
        vault = system.vault
        vals = [s.sleeve.strikeValuation() for s in system.sleeves]
        return cls(
            vault.idle(),
            sum(v[0] for v in vals),
            sum(v[1] for v in vals),
            vault.totalSupply() + OFFSET,
            vault.liquidity(),
        )


def share_price(vault) -> Fraction:
    return Fraction(vault.totalAssets() + 1, vault.totalSupply() + OFFSET)


def floor(x: Fraction) -> int:
    return math.floor(x)


def ceil(x: Fraction) -> int:
    return math.ceil(x)


def claim_deposit(vault, controller, receiver, split: int, mint_split: int) -> tuple[int, int]:
    """Claims everything `controller` may: `split` bps of it by assets (`deposit`, shares rounded
    down), then `mint_split` bps of the shares left by shares (`mint`, assets rounded up), the
    rest by shares (`mint`, the last claim takes exactly what is left). Checks the rounding of
    each claim and that a claim beyond them names ClaimExceeded. Returns the shares received and
    how many fewer than maxMint the parts may add up to (IRWAVault, rounding)."""
    assets, shares = vault.maxDeposit(controller), vault.maxMint(controller)
    assert vault.claimableDepositRequest(0, controller) == assets
    assert_reverts(
        vault, "deposit", assets + 1, receiver, controller, sender=controller,
        error="ClaimExceeded", controller=controller, requested=assets + 1, claimable=assets,
    )  # fmt: skip
    assert_reverts(
        vault, "mint", shares + 1, receiver, controller, sender=controller,
        error="ClaimExceeded", controller=controller, requested=shares + 1, claimable=shares,
    )  # fmt: skip
    before = vault.balanceOf(receiver)
    part = assets * split // 10_000
    got, short = 0, 0
    if 0 < part < assets and part * shares // assets > 0:
        got = vault.deposit(part, receiver, controller, sender=controller).return_value
        assert got == floor(Fraction(part * shares, assets))  # against the claimer
        assert vault.maxDeposit(controller) == assets - part
        # The rest is priced again, rounded down: at most one share less than before the part.
        assert shares - got - 1 <= vault.maxMint(controller) <= shares - got
        short += 1
    rest, left = vault.maxMint(controller), vault.maxDeposit(controller)
    part = rest * mint_split // 10_000
    if 0 < part < rest:
        paid = vault.mint(part, receiver, controller, sender=controller).return_value
        assert paid == ceil(Fraction(part * left, rest))  # against the claimer
        assert vault.maxDeposit(controller) == left - paid
        # Priced again, rounded down: at most one asset unit's worth of shares plus one less.
        worth = rest // left + 2
        after = vault.maxMint(controller)
        assert rest - part - worth <= after <= rest - part
        event(f"a minted part left the rest short: {after < rest - part}")
        got += part
        short += worth
    rest, left = vault.maxMint(controller), vault.maxDeposit(controller)
    if rest:
        paid = vault.mint(rest, receiver, controller, sender=controller).return_value
        assert paid == left  # the last claim takes exactly what is left
        got += rest
    assert got == vault.balanceOf(receiver) - before
    assert shares - short <= got <= shares
    assert vault.maxDeposit(controller) == vault.maxMint(controller) == 0
    return got, short


def claim_redeem(system, controller, receiver, split: int) -> int:
    """Claims every filled redemption of `controller`: `split` bps by assets (`withdraw`, shares
    charged rounded up), the rest by shares (`redeem`, the last claim takes what is left).
    Returns the assets paid."""
    vault, asset = system.vault, system.asset
    assets, shares = vault.maxWithdraw(controller), vault.maxRedeem(controller)
    assert vault.claimableRedeemRequest(0, controller) == shares
    assert_reverts(
        vault, "withdraw", assets + 1, receiver, controller, sender=controller,
        error="ClaimExceeded", controller=controller, requested=assets + 1, claimable=assets,
    )  # fmt: skip
    assert_reverts(
        vault, "redeem", shares + 1, receiver, controller, sender=controller,
        error="ClaimExceeded", controller=controller, requested=shares + 1, claimable=shares,
    )  # fmt: skip
    cash = asset.balanceOf(receiver)
    part = assets * split // 10_000
    partial = 0 < part < assets
    if partial:
        charged = vault.withdraw(part, receiver, controller, sender=controller).return_value
        assert charged == ceil(Fraction(part * shares, assets))  # against the claimer
        assert vault.maxRedeem(controller) == shares - charged
        # The rest is priced again, rounded down: at most one unit less than before the part.
        assert assets - part - 1 <= vault.maxWithdraw(controller) <= assets - part
    rest = vault.maxRedeem(controller)
    if rest and vault.maxWithdraw(controller):
        paid = vault.redeem(rest, receiver, controller, sender=controller).return_value
        assert paid == asset.balanceOf(receiver) - cash - (part if partial else 0)
    paid = asset.balanceOf(receiver) - cash
    assert paid <= assets
    if shares and assets:
        assert paid >= assets - partial
        assert vault.maxRedeem(controller) == 0 or vault.maxWithdraw(controller) == 0
    return paid


# ------------------------------------------------------------------ properties

amounts = st.one_of(st.integers(1, 1_000), st.integers(1, 10**9), st.integers(1, 10**13))
share_amounts = st.one_of(st.integers(1, 10**13), st.integers(1, 10**25))


@EXAMPLES
@given(
    cond=conditions,
    assets=st.lists(st.just(0) | amounts, min_size=3, max_size=3),
    shares=st.lists(st.just(0) | share_amounts, min_size=3, max_size=3),
)
def test_conversions_round_toward_the_vault_and_previews_revert(
    system, chain, accounts, cond, assets, shares
):
    vault = system.vault
    with isolated(chain):
        apply(system, accounts[2], cond)
        total, supply = vault.totalAssets(), vault.totalSupply() + OFFSET
        for a in assets:
            assert vault.convertToShares(a) == floor(Fraction(a * supply, total + 1))
            for preview in ("previewDeposit", "previewWithdraw"):
                assert_reverts(vault, preview, a, sender=accounts[3], error="PreviewUnavailable")
        for s in shares:
            assert vault.convertToAssets(s) == floor(Fraction(s * (total + 1), supply))
            for preview in ("previewMint", "previewRedeem"):
                assert_reverts(vault, preview, s, sender=accounts[3], error="PreviewUnavailable")


@EXAMPLES
@given(cond=conditions, data=st.data())
def test_a_strike_prices_toward_the_vault_and_claims_never_exceed_it(
    system, chain, accounts, holders, cond, data
):
    vault, asset = system.vault, system.asset
    newcomer, receiver = accounts[9], accounts[3]
    with isolated(chain):
        apply(system, accounts[2], cond)
        # Deposit requests: the newcomer always, one holder maybe; redemptions: each holder a
        # fraction of its shares (0: none).
        deposits = {newcomer: min(data.draw(amounts, label="newcomer deposit"), 3_000_000 * USDC)}
        depositor = data.draw(st.sampled_from(holders), label="depositing holder")
        extra = data.draw(st.just(0) | amounts, label="holder deposit")
        if extra:
            deposits[depositor] = min(extra, 2_000_000 * USDC)
        redeems = {}
        for h in holders:
            bps = data.draw(st.sampled_from([0, 10_000]) | st.integers(0, 10_000), label="redeem")
            shares = vault.balanceOf(h) * bps // 10_000
            if shares:
                redeems[h] = shares
        for account, amount in deposits.items():
            vault.requestDeposit(amount, account, account, sender=account)
        for account, shares in redeems.items():
            vault.requestRedeem(shares, account, account, sender=account)
        system.publish_prices()
        book = Book.read(system)
        event(f"band open: {book.low != book.high}")
        if book.low != book.high:
            # Nothing settles on an unconfirmed move: refused, nothing moved; once confirmed
            # (the settler's pokes), the strike prices both sides at one NAV.
            assert_reverts(vault, "strike", sender=receiver, error="StrikeNotReady")
            assert system.confirm_moves()
            book = Book.read(system)
            assert book.low == book.high
        price = share_price(vault)

        before = {a: (vault.maxDeposit(a), vault.maxMint(a), vault.maxWithdraw(a),
                      vault.maxRedeem(a)) for a in [*holders, newcomer]}  # fmt: skip
        with isolated(chain):  # pausing automation never touches what users may claim
            vault.pauseAutomation(sender=system.guardian)
            vault.strike(sender=receiver)
            paused = {a: vault.maxMint(a) for a in deposits}
        k = settled(vault.strike(sender=receiver), vault)
        assert {a: vault.maxMint(a) for a in deposits} == paused

        # Deposits: the high NAV of what the redemptions (filled first) left, the leavers' shares
        # at their price taken out (rounded down), shares rounded down.
        low_nav = book.idle + book.low + 1
        high_nav = (
            book.idle + book.high + 1 - floor(Fraction(k["redeemShares"] * low_nav, book.supply))
        )
        left = book.supply - k["redeemShares"]
        assert k["depositPrice"] == floor(Fraction(high_nav * PRICE_SCALE, left))
        assert k["depositAssets"] == sum(deposits.values())
        assert k["depositShares"] == floor(Fraction(k["depositAssets"] * left, high_nav))
        # Redemptions: the low NAV, assets rounded down, less the pull's rounding, up to what
        # idle, the deposits of this strike and the sleeves could pay.
        assert k["redeemPrice"] == floor(Fraction(low_nav * PRICE_SCALE, book.supply))
        requested = sum(redeems.values())
        assert k["redeemShares"] <= requested
        assert (k["redeemEpoch"] != NO_EPOCH) == bool(redeems)
        assert k["depositEpoch"] != NO_EPOCH
        worth = floor(Fraction(k["redeemShares"] * low_nav, book.supply))
        k_sleeves = len(vault.withdrawQueue())
        assert worth - k_sleeves <= k["redeemAssets"] <= worth
        full = floor(Fraction(requested * low_nav, book.supply))
        if full + k_sleeves <= book.liquidity + k["depositAssets"]:
            assert k["redeemShares"] == requested  # enough liquidity: filled in full
        event(f"redemptions filled in full: {k['redeemShares'] == requested}")
        assert share_price(vault) >= price  # those who stay never lose

        # max* are exactly what is claimable; claims never add up to more than was settled.
        minted = rounding = 0
        for account, amount in deposits.items():
            assert vault.pendingDepositRequest(0, account) == 0
            assert vault.maxDeposit(account) == before[account][0] + amount
            split = data.draw(st.integers(0, 10_000), label="deposit claim split")
            mint_split = data.draw(st.just(0) | st.integers(0, 10_000), label="mint claim split")
            got, short = claim_deposit(vault, account, receiver, split, mint_split)
            minted, rounding = minted + got, rounding + short
        assert minted <= k["depositShares"]
        # pro rata dust stays escrowed, 1 a controller, and what the partial claims' rounding
        # left there
        assert k["depositShares"] - minted <= len(deposits) + rounding
        paid = 0
        for account, shares in redeems.items():
            filled = vault.claimableRedeemRequest(0, account)
            assert filled == floor(Fraction(shares * k["redeemShares"], requested))
            assert vault.pendingRedeemRequest(0, account) == shares - filled
            split = data.draw(st.integers(0, 10_000), label="redeem claim split")
            paid += claim_redeem(system, account, receiver, split)
        assert paid <= k["redeemAssets"]
        # pro rata dust stays reserved, and a partial claim's rounding: at most 2 a controller
        assert k["redeemAssets"] - paid <= 2 * len(redeems)
        assert vault.claimableRedemptions() == k["redeemAssets"] - paid
        held = asset.balanceOf(vault)
        assert held >= vault.claimableRedemptions() + vault.pendingDeposits()


@EXAMPLES
@given(
    cond=conditions,
    deposit=amounts,
    claim_by_shares=st.booleans(),
    exit_by_assets=st.booleans(),
)
def test_a_round_trip_never_returns_more_than_was_deposited(
    system, chain, accounts, cond, deposit, claim_by_shares, exit_by_assets
):
    vault, asset = system.vault, system.asset
    newcomer = accounts[9]
    with isolated(chain):
        apply(system, accounts[2], cond)
        start = asset.balanceOf(newcomer)
        deposit = min(deposit, start)
        vault.requestDeposit(deposit, newcomer, newcomer, sender=newcomer)
        system.strike()
        if claim_by_shares:
            vault.mint(vault.maxMint(newcomer), newcomer, sender=newcomer)
        elif vault.maxMint(newcomer):
            vault.deposit(deposit, newcomer, sender=newcomer)
        shares = vault.balanceOf(newcomer)
        event(f"the deposit bought shares: {shares > 0}")
        if shares == 0:  # dust: the strike rounded it to nothing; nothing comes back
            assert asset.balanceOf(newcomer) == start - deposit
            return
        vault.requestRedeem(shares, newcomer, newcomer, sender=newcomer)
        system.strike()
        filled = vault.maxRedeem(newcomer)
        event(f"the redemption filled in full: {filled == shares}")
        if vault.maxWithdraw(newcomer):
            if exit_by_assets:
                vault.withdraw(vault.maxWithdraw(newcomer), newcomer, newcomer, sender=newcomer)
            else:
                vault.redeem(filled, newcomer, newcomer, sender=newcomer)
        back = asset.balanceOf(newcomer) - (start - deposit)
        assert back <= deposit
        # Whatever is still queued is worth no more than the deposit less what came back.
        pending = vault.pendingRedeemRequest(0, newcomer)
        assert back + floor(Fraction(pending * (vault.totalAssets() + 1),
                                     vault.totalSupply() + OFFSET)) <= deposit  # fmt: skip


# ------------------------------------------------------------------ what a deposit request meets


def test_shutdown_stops_deposit_requests_not_claims_or_exits(system, holders):
    vault, alice, bob = system.vault, holders[0], holders[1]
    vault.requestDeposit(USDC, alice, alice, sender=alice)
    system.strike()  # settled before the shutdown: still claimable after it
    vault.shutdown(sender=system.guardian)
    assert_reverts(vault, "requestDeposit", USDC, bob, bob, sender=bob, error="VaultIsShutdown")
    assert vault.maxDeposit(alice) == USDC
    vault.deposit(USDC, alice, sender=alice)
    assert vault.maxDeposit(bob) == vault.maxMint(bob) == 0
    system.redeem(bob, vault.balanceOf(bob) // 2)  # leaving stays open
    assert system.asset.balanceOf(bob) > 2_000_000 * USDC


def test_deposit_requests_and_claims_stop_for_accounts_off_the_allowlist(system, accounts, holders):
    vault, alice, outsider = system.vault, holders[0], accounts[9]
    vault.setAllowlistEnabled(True, sender=system.governance)
    vault.setAllowed(alice, True, sender=system.governance)
    vault.setOperator(alice, True, sender=outsider)  # consent: each may request for the other
    vault.setOperator(outsider, True, sender=alice)
    for controller, owner in ((outsider, outsider), (outsider, alice), (alice, outsider)):
        args = (USDC, controller, owner)
        sender = owner
        assert_reverts(
            vault, "requestDeposit", *args, sender=sender, error="NotAllowlisted", account=outsider
        )
    vault.requestDeposit(USDC, alice, alice, sender=alice)
    system.strike()
    assert_reverts(
        vault, "deposit", USDC, outsider, alice, sender=alice,
        error="NotAllowlisted", account=outsider,
    )  # fmt: skip
    vault.setAllowed(outsider, True, sender=system.governance)
    vault.deposit(USDC, outsider, alice, sender=alice)
    assert vault.balanceOf(outsider) > 0


def test_a_deposit_request_waits_while_a_held_sleeve_is_stale(system, chain, holders):
    vault, alice = system.vault, holders[0]
    tbill = system.sleeve("tbill")
    vault.requestDeposit(USDC, alice, alice, sender=alice)
    chain.pending_timestamp = chain.blocks.head.timestamp + DAY + 60  # past oracle.maxStaleness
    for other in system.sleeves[1:]:
        other.feed.setAnswer(other.feed.latestAnswer(), sender=system.governance)
    assert tbill.sleeve.units() > 0
    assert not tbill.sleeve.strikeValuation()[3]
    assert vault.strikeTrigger()[0] is False
    assert_reverts(
        vault, "strike", sender=alice, error="StrikeNotReady", sleeve=tbill.sleeve, staleReadyAt=0
    )
    assert vault.maxDeposit(alice) == vault.maxMint(alice) == 0
    assert vault.pendingDepositRequest(0, alice) == USDC

    tbill.feed.setAnswer(tbill.feed.latestAnswer(), sender=system.governance)
    assert vault.strikeTrigger()[0] is True
    vault.strike(sender=alice)
    assert vault.maxDeposit(alice) == USDC and vault.maxMint(alice) > 0


@pytest.mark.parametrize("above_nav", [0, -1, 1])
def test_deposit_requests_stop_at_the_cap(system, holders, above_nav):
    vault, alice = system.vault, holders[0]
    system.deposit(alice, USDC)  # a strike: the cap counts from its NAV plus pending requests
    system.set_param("vault.depositCap", vault.totalAssets() + above_nav)
    room = max(above_nav, 0)
    assert_reverts(
        vault, "requestDeposit", room + 1, alice, alice, sender=alice,
        error="DepositCapExceeded", assets=room + 1, room=room,
    )  # fmt: skip
    if room:
        vault.requestDeposit(room, alice, alice, sender=alice)
        assert_reverts(
            vault, "requestDeposit", 1, alice, alice, sender=alice,
            error="DepositCapExceeded", assets=1, room=0,
        )  # fmt: skip


def test_dust_shares_are_never_paid_more_than_they_are_worth(system, accounts, holders):
    vault, dust = system.vault, accounts[9]
    vault.transfer(dust, 10**11, sender=holders[0])  # a tenth of a wei's worth
    assert vault.convertToAssets(10**11) == 0
    price = share_price(vault)
    reserved = vault.claimableRedemptions()
    vault.requestRedeem(10**11, dust, dust, sender=dust)
    k = settled(system.strike(), vault)
    assert (k["redeemShares"], k["redeemAssets"]) == (10**11, 0)
    assert vault.maxWithdraw(dust) == 0  # nothing to pay, so nothing is promised in assets
    assert vault.claimableRedemptions() == reserved
    # The last claim clears the worthless fill: it pays 0 and leaves nothing claimable.
    assert vault.redeem(vault.maxRedeem(dust), dust, dust, sender=dust).return_value == 0
    assert vault.maxRedeem(dust) == 0
    assert share_price(vault) >= price
