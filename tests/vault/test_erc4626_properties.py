"""ERC-4626 properties of RWAVault under random liquidity conditions (hypothesis, on anvil).

A module fixture deploys the vault, takes deposits from three holders and rebalances into the
three sleeves. Each example then draws liquidity conditions inside a chain snapshot: per sleeve
a fresh NAV move, an issuer daily redeem limit (a fraction of the units held) or a frozen
issuer, and a stablecoin donation to the vault that makes the share price an odd ratio.

Under those conditions: previews equal what the calls deliver when idle pays, every conversion
rounds toward the vault (checked exactly with Fractions against `shares = assets * (supply +
10**12) / (totalAssets + 1)`), round trips never gain, and the max* functions never promise
more than a call delivers. An exit idle cannot pay pulls from the sleeves, which may lower the
valuation by `loss` (at most 1 wei per sleeve in the withdraw queue, k): priced at the book
(T, S) before the exit, `withdraw(assets)` burns the shares of `assets + loss` and
`redeem(shares)` pays their value less `loss`, so the exact value of the shares that stay never
falls. `previewWithdraw` and `previewRedeem` then price `assets + k` and `value - k`, and
`maxWithdraw` promises `min(value - k, liquidity)`. Plain tests cover the cases where
`maxDeposit` must be 0.

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
from eth_utils import keccak
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.vault_support import DAY, USDC, assert_reverts, deploy_vault_system, isolated, revert_of

OFFSET = 10**12  # virtual shares: 10 ** (18 - 6)
DEPOSITS = (700_000 * USDC + 123_457, 250_000 * USDC + 1, 49_999 * USDC + 999_999)
EXAMPLES = settings(
    max_examples=max(15, settings.default.max_examples // 3),  # "deep" profile: 666
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def system(project, accounts):
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    for holder, amount in zip(accounts[6:9], DEPOSITS, strict=True):
        s.deposit(holder, amount)
        s.fund(holder, 2_000_000 * USDC)  # spare cash for deposits and mints
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
    nav_move_bps: int  # fresh NAV move, in bps of the deployed NAV
    liquidity: str  # "open", "limited" or "frozen"
    limit_bps: int  # daily redeem limit, in bps of the units held ("limited" only)


@dataclass(frozen=True)
class Conditions:
    sleeves: tuple[SleeveCondition, ...]
    donation: int  # stablecoin sent straight to the vault


sleeve_conditions = st.builds(
    SleeveCondition,
    nav_move_bps=st.sampled_from([0]) | st.integers(-800, 800),
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


# ------------------------------------------------------------------ reverts and exact arithmetic


def book(vault) -> tuple[int, int]:
    return vault.totalAssets(), vault.totalSupply()


def exact_shares(assets: int, total: int, supply: int) -> Fraction:
    return Fraction(assets * (supply + OFFSET), total + 1)


def exact_assets(shares: int, total: int, supply: int) -> Fraction:
    return Fraction(shares * (total + 1), supply + OFFSET)


def share_price(vault) -> Fraction:
    total, supply = book(vault)
    return Fraction(total + 1, supply + OFFSET)


def worst_pull(vault, amount: int, idle: int) -> int:
    """The most a pull for `amount` can lose to rounding: 1 wei per sleeve in the withdraw queue,
    none when idle pays."""
    return len(vault.withdrawQueue()) if amount > idle else 0


def exact_exit(system, exit_by: str, amount: int, owner, receiver) -> tuple[int, int, int]:
    """`withdraw(amount)` or `redeem(amount)` checked against the exact rule at the book (T, S)
    before it: the leaver bears the pull's whole `loss` (T - totalAssets() - paid), its previews
    hold, and the exact value of the shares that stay does not fall. Returns (paid, burned,
    loss)."""
    vault, asset = system.vault, system.asset
    (total, supply), idle, price = book(vault), vault.idle(), share_price(vault)
    held, cash = vault.balanceOf(owner), asset.balanceOf(receiver)
    if exit_by == "withdraw":
        value, preview = amount, vault.previewWithdraw(amount)
        out = vault.withdraw(amount, receiver, owner, sender=owner).return_value
    else:
        value, preview = floor(exact_assets(amount, total, supply)), vault.previewRedeem(amount)
        out = vault.redeem(amount, receiver, owner, sender=owner).return_value
    paid, burned = asset.balanceOf(receiver) - cash, held - vault.balanceOf(owner)
    loss, worst = total - vault.totalAssets() - paid, worst_pull(vault, value, idle)
    event(f"{exit_by}: pull rounding lost {loss} wei (worst case {worst})")
    assert 0 <= loss <= worst
    if exit_by == "withdraw":
        assert paid == amount
        assert out == burned == ceil(exact_shares(amount + loss, total, supply))
        assert burned <= preview == ceil(exact_shares(amount + worst, total, supply))
    else:
        assert out == paid == value - loss and burned == amount
        assert max(value - worst, 0) == preview <= paid
    assert share_price(vault) >= price  # those who stay never lose
    return paid, burned, loss


def ceil(x: Fraction) -> int:
    return math.ceil(x)


def floor(x: Fraction) -> int:
    return math.floor(x)


# ------------------------------------------------------------------ properties

amounts = st.one_of(st.integers(1, 1_000), st.integers(1, 10**9), st.integers(1, 10**13))
share_amounts = st.one_of(st.integers(1, 10**13), st.integers(1, 10**25))


@EXAMPLES
@given(
    cond=conditions,
    assets=st.lists(st.just(0) | amounts, min_size=3, max_size=3),
    shares=st.lists(st.just(0) | share_amounts, min_size=3, max_size=3),
)
def test_conversions_round_toward_the_vault(system, chain, accounts, cond, assets, shares):
    vault = system.vault
    with isolated(chain):
        apply(system, accounts[2], cond)
        total, supply = book(vault)
        idle = vault.idle()
        for a in assets:
            exact = exact_shares(a, total, supply)
            assert vault.convertToShares(a) == floor(exact)
            assert vault.previewDeposit(a) == floor(exact)  # shares minted round down
            # shares burned round up, for the pull's worst rounding too when idle does not pay
            priced = exact_shares(a + worst_pull(vault, a, idle), total, supply)
            assert vault.previewWithdraw(a) == ceil(priced) >= ceil(exact)
        for s in shares:
            exact = exact_assets(s, total, supply)
            assert vault.convertToAssets(s) == floor(exact)
            # assets paid round down, less the pull's worst rounding when idle does not pay
            value = floor(exact)
            assert vault.previewRedeem(s) == max(value - worst_pull(vault, value, idle), 0)
            assert vault.previewMint(s) == ceil(exact)  # assets pulled round up


@EXAMPLES
@given(cond=conditions, data=st.data())
def test_previews_match_what_calls_deliver(system, chain, accounts, holders, cond, data):
    vault, asset = system.vault, system.asset
    with isolated(chain):
        apply(system, accounts[2], cond)
        owner = data.draw(st.sampled_from(holders), label="owner")
        receiver = accounts[3]

        # Each holder has 2,000,000 mUSDC of spare cash: half at most for the deposit, the rest
        # for the mint.
        assets = min(data.draw(amounts, label="deposit"), asset.balanceOf(owner) // 2)
        preview = vault.previewDeposit(assets)
        before = vault.balanceOf(owner)
        tx = vault.deposit(assets, owner, sender=owner)
        assert vault.balanceOf(owner) - before == tx.return_value == preview

        affordable = vault.convertToShares(asset.balanceOf(owner))  # previewMint <= cash
        shares = data.draw(st.integers(1, min(10**25, affordable)), label="mint")
        preview = vault.previewMint(shares)
        before = asset.balanceOf(owner)
        tx = vault.mint(shares, owner, sender=owner)
        assert before - asset.balanceOf(owner) == tx.return_value == preview

        most, idle = vault.maxWithdraw(owner), vault.idle()
        beyond_idle = st.integers(min(idle + 1, most), most)  # the sleeves must pay
        assets = data.draw(st.integers(1, most) | beyond_idle, label="withdraw")
        event(f"withdraw pulls from sleeves: {assets > idle}")
        exact_exit(system, "withdraw", assets, owner, receiver)

        most = vault.maxRedeem(owner)
        if most == 0:  # the withdrawal took all the liquidity there was
            event("redeem: no liquidity left")
            assert vault.maxWithdraw(owner) == 0
            return
        beyond_idle = st.integers(min(vault.convertToShares(vault.idle()) + 1, most), most)
        upper_half = st.integers(max(1, most // 2), most)
        shares = data.draw(st.integers(1, most) | upper_half | beyond_idle, label="redeem")
        value = vault.convertToAssets(shares)
        if value == 0:  # dust: nothing to pay, so nothing may be burned
            event("redeem: dust")
            assert vault.previewRedeem(shares) == 0
            args = (shares, receiver, owner)
            assert_reverts(vault, "redeem", *args, sender=owner, error="ZeroAmount")
            return
        event(f"redeem pulls from sleeves: {value > vault.idle()}")
        exact_exit(system, "redeem", shares, owner, receiver)


@EXAMPLES
@given(cond=conditions, deposit=amounts, mint=share_amounts)
def test_round_trips_never_gain(system, chain, accounts, cond, deposit, mint):
    vault, asset = system.vault, system.asset
    newcomer = accounts[9]
    with isolated(chain):
        apply(system, accounts[2], cond)
        start = asset.balanceOf(newcomer)

        # deposit -> redeem: the assets back never exceed the assets in
        deposit = min(deposit, start)  # no more than the newcomer holds
        with isolated(chain):
            shares = vault.deposit(deposit, newcomer, sender=newcomer).return_value
            if vault.previewRedeem(shares) > 0:
                vault.redeem(shares, newcomer, newcomer, sender=newcomer)
            assert vault.balanceOf(newcomer) in (0, shares)
            assert asset.balanceOf(newcomer) <= start

        # mint -> withdraw: taking back what was paid costs at least the shares minted
        mint = min(mint, vault.convertToShares(start))  # what the newcomer can pay for
        paid = vault.mint(mint, newcomer, sender=newcomer).return_value
        assert vault.previewWithdraw(paid) >= mint
        back = vault.maxWithdraw(newcomer)
        assert back <= paid
        if back:
            vault.withdraw(back, newcomer, newcomer, sender=newcomer)
        assert asset.balanceOf(newcomer) <= start


def max_values(vault, accounts) -> list[tuple[int, int, int, int]]:
    return [
        (vault.maxDeposit(a), vault.maxMint(a), vault.maxWithdraw(a), vault.maxRedeem(a))
        for a in accounts
    ]


@EXAMPLES
@given(
    cond=conditions,
    owner_index=st.integers(0, 2),
    room=st.sampled_from([0, 1]) | st.integers(0, 2_000_000 * USDC),
)
def test_max_values_never_promise_more_than_a_call_delivers(
    system, chain, accounts, holders, cond, owner_index, room
):
    vault = system.vault
    owner, newcomer, receiver = holders[owner_index], accounts[9], accounts[3]
    with isolated(chain):
        apply(system, accounts[2], cond)
        system.set_param("vault.depositCap", vault.totalAssets() + room)

        everyone = [*holders, newcomer]
        before = max_values(vault, everyone)
        with isolated(chain):  # pausing automation never touches users
            vault.pauseAutomation(sender=system.guardian)
            assert max_values(vault, everyone) == before

        held, idle = vault.balanceOf(owner), vault.idle()
        owned, liquid = vault.convertToAssets(held), vault.liquidity()
        k = len(vault.withdrawQueue())
        event(f"owner's shares worth more than idle: {owned > idle}")
        most = vault.maxWithdraw(owner)
        if owned > idle:  # the pull's worst rounding, 1 wei per sleeve, stays promised
            assert most == min(owned - k, liquid)
        else:
            assert most == owned <= liquid
        with isolated(chain):
            exact_exit(system, "withdraw", most, owner, receiver)
        event(f"shares worth more than liquidity: {owned > liquid}")
        if owned > liquid:  # the shares are worth more than the vault can reach now
            args = (liquid + 1, receiver, owner)
            error = {"error": "InsufficientLiquidity", "requested": liquid + 1, "available": liquid}
        else:
            args = (owned + 1, receiver, owner)
            error = {"error": "ERC4626ExceededMaxWithdraw", "max": owned}
        assert_reverts(vault, "withdraw", *args, sender=owner, **error)

        with isolated(chain):
            shares = vault.maxRedeem(owner)
            assert 0 < shares <= held
            _, _, loss = exact_exit(system, "redeem", shares, owner, receiver)
        if shares == held and owned > idle:
            # redeeming everything pulled what withdrawing everything pulls: `withdraw(owned)`
            # pays only if that pull loses nothing, else it names what the leaver can take
            outcome = revert_of(vault, "withdraw", owned, receiver, owner, sender=owner)
            expected = ("ERC4626ExceededMaxWithdraw", owned - loss) if loss else None
            assert (outcome and (outcome[0], outcome[1]["max"])) == expected

        assert vault.maxDeposit(newcomer) == room
        if room:
            with isolated(chain):
                vault.deposit(room, newcomer, sender=newcomer)
                assert vault.maxDeposit(newcomer) == 0  # at the cap
        with isolated(chain):
            shares = vault.maxMint(newcomer)
            if shares:
                vault.mint(shares, newcomer, sender=newcomer)
            assert vault.totalAssets() <= system.registry.get(keccak(text="vault.depositCap"))
        assert_reverts(
            vault, "deposit", room + 1, newcomer, sender=newcomer,
            error="ERC4626ExceededMaxDeposit", max=room,
        )  # fmt: skip


# ------------------------------------------------------------------ when maxDeposit is 0


def assert_no_deposits(vault, receiver) -> None:
    assert vault.maxDeposit(receiver) == 0
    assert vault.maxMint(receiver) == 0


def test_max_deposit_is_zero_after_shutdown(system, holders):
    vault, alice = system.vault, holders[0]
    assert vault.maxDeposit(alice) > 0
    vault.shutdown(sender=system.guardian)
    assert_no_deposits(vault, alice)
    assert_reverts(vault, "deposit", USDC, alice, sender=alice, error="VaultIsShutdown")
    assert vault.maxWithdraw(alice) > 0  # leaving stays open


def test_max_deposit_is_zero_for_a_receiver_off_the_allowlist(system, accounts, holders):
    vault, alice, outsider = system.vault, holders[0], accounts[9]
    vault.setAllowlistEnabled(True, sender=system.governance)
    vault.setAllowed(alice, True, sender=system.governance)
    assert_no_deposits(vault, outsider)
    assert vault.maxDeposit(alice) > 0
    assert_reverts(
        vault, "deposit", USDC, outsider, sender=alice, error="NotAllowlisted", account=outsider
    )
    vault.setAllowed(outsider, True, sender=system.governance)
    assert vault.maxDeposit(outsider) == vault.maxDeposit(alice) > 0


def test_max_deposit_is_zero_while_a_held_sleeve_is_stale(system, chain, holders):
    vault, alice = system.vault, holders[0]
    tbill = system.sleeve("tbill")
    chain.pending_timestamp += DAY + 60  # past oracle.maxStaleness
    for other in system.sleeves[1:]:
        other.feed.setAnswer(other.feed.latestAnswer(), sender=system.governance)
    assert tbill.sleeve.units() > 0
    assert not tbill.sleeve.valuation()[1]
    assert_no_deposits(vault, alice)
    assert_reverts(
        vault, "deposit", USDC, alice, sender=alice, error="StaleValuation", sleeve=tbill.sleeve
    )
    assert vault.maxWithdraw(alice) > 0  # withdrawals keep paying at the last price

    tbill.feed.setAnswer(tbill.feed.latestAnswer(), sender=system.governance)
    assert vault.maxDeposit(alice) > 0


@pytest.mark.parametrize("above_total", [0, -1, 1])
def test_max_deposit_is_zero_at_the_cap(system, holders, above_total):
    vault, alice = system.vault, holders[0]
    system.set_param("vault.depositCap", vault.totalAssets() + above_total)
    if above_total > 0:
        assert vault.maxDeposit(alice) == above_total
        return
    assert_no_deposits(vault, alice)
    assert_reverts(
        vault, "deposit", 1, alice, sender=alice,
        error="ERC4626ExceededMaxDeposit", receiver=alice, assets=1, max=0,
    )  # fmt: skip


def test_max_redeem_of_dust_shares_does_not_overpromise(system, accounts, holders):
    vault, dust = system.vault, accounts[9]
    vault.transfer(dust, 10**11, sender=holders[0])  # a tenth of a wei's worth
    assert vault.convertToAssets(10**11) == 0
    assert vault.maxWithdraw(dust) == 0
    assert vault.maxRedeem(dust) == 0  # redeem would pay 0 and revert ZeroAmount
