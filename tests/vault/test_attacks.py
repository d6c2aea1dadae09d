"""Attacks on RWAVault's share accounting: inflation, donations, allowances, dust deposits.

Every scenario starts from the same deployed system (empty vault, three sleeves) in its own
chain snapshot. Bounds are exact: share values are recomputed with Fractions from the vault's
formula `assets = shares * (totalAssets + 1) / (totalSupply + 10**12)` (12-decimal offset of a
6-decimal asset). An exit idle cannot pay pulls from the sleeves, which may lower the valuation
by `loss` (at most 1 wei per sleeve in the withdraw queue): priced at the book before the pull,
`withdraw` burns the shares of `assets + loss` and `redeem` pays its shares' value less `loss`,
so the exact value of the shares that stay never falls. `maxWithdraw` and `previewRedeem`
promise the value less `PULL_ROUNDING`, `previewWithdraw` the shares of the assets plus it.

Expected reverts are checked as a raw `eth_call` by the same sender on the pending block
(Ape traces every reverted transaction, ~5 s apiece on this vault); the one test that must
show a reverted transaction leaves the depositor's asset untouched sends it for real.
"""

from __future__ import annotations

from fractions import Fraction

import ape
import pytest
from ape import chain

from tests.vault_support import USDC, assert_reverts, deploy_vault_system, isolated, revert_of

OFFSET = 10**12  # virtual shares: 10 ** (18 - 6)
PULL_ROUNDING = 3  # a pull may lower the valuation 1 wei per sleeve in the withdraw queue


@pytest.fixture(scope="module")
def system(project, accounts):
    return deploy_vault_system(project, accounts[0], accounts[1], accounts[5])


@pytest.fixture(scope="module")
def alice(accounts):
    return accounts[6]


@pytest.fixture(scope="module")
def bob(accounts):
    return accounts[7]


@pytest.fixture(scope="module")
def mallory(accounts):
    return accounts[8]


def share_value(vault, shares: int) -> Fraction:
    """Exact assets behind `shares` at the current book."""
    return Fraction(shares * (vault.totalAssets() + 1), vault.totalSupply() + OFFSET)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def promised(vault, shares: int) -> int:
    """What `maxWithdraw` and `previewRedeem` promise for `shares` worth more than idle: their
    value less the pull's worst rounding (1 wei per sleeve in the withdraw queue)."""
    assert len(vault.withdrawQueue()) == PULL_ROUNDING
    return vault.convertToAssets(shares) - PULL_ROUNDING


def checked_exit(system, exit_by: str, amount: int, owner, receiver=None, sender=None):
    """`withdraw(amount)` or `redeem(amount)`, checked against the exact rule: priced at the book
    (T, S) before the exit, the leaver bears the whole valuation `loss` of its pull (none when
    idle pays), previews hold, and the exact value of the shares that stay does not fall.
    Returns (assets paid, shares burned, loss)."""
    vault, asset = system.vault, system.asset
    receiver, sender = receiver or owner, sender or owner
    total, supply, idle = vault.totalAssets(), vault.totalSupply(), vault.idle()
    price, held, cash = (
        share_value(vault, 10**18),
        vault.balanceOf(owner),
        asset.balanceOf(receiver),
    )
    if exit_by == "withdraw":
        value, preview = amount, vault.previewWithdraw(amount)
        out = vault.withdraw(amount, receiver, owner, sender=sender).return_value
    else:
        value = amount * (total + 1) // (supply + OFFSET)
        preview = vault.previewRedeem(amount)
        out = vault.redeem(amount, receiver, owner, sender=sender).return_value
    paid, burned = asset.balanceOf(receiver) - cash, held - vault.balanceOf(owner)
    loss, worst = total - vault.totalAssets() - paid, PULL_ROUNDING if value > idle else 0
    assert 0 <= loss <= worst
    if exit_by == "withdraw":
        assert paid == amount
        assert out == burned == ceil_div((amount + loss) * (supply + OFFSET), total + 1)
        assert burned <= preview == ceil_div((amount + worst) * (supply + OFFSET), total + 1)
    else:
        assert out == paid == value - loss and burned == amount
        assert max(value - worst, 0) == preview <= paid
    assert share_value(vault, 10**18) >= price  # those who stay never lose
    return paid, burned, loss


def withdraw_max_delivers(system, account) -> None:
    """`withdraw(maxWithdraw)` pays exactly that under the exact rule (in a snapshot)."""
    with isolated(chain):
        checked_exit(system, "withdraw", system.vault.maxWithdraw(account), account)


def redeem_all(system, account) -> int:
    """Redeems every share of `account`; returns the assets it received."""
    before = system.asset.balanceOf(account)
    system.vault.redeem(system.vault.balanceOf(account), account, account, sender=account)
    return system.asset.balanceOf(account) - before


# ------------------------------------------------------------------ inflation


@pytest.mark.parametrize(
    "donation, victim_deposit",
    [
        (1_000_000 * USDC, 1_000 * USDC),
        (10_000_000 * USDC, 1 * USDC),
        (100 * USDC, 100_000 * USDC + 7),
    ],
)
def test_first_depositor_inflation_attack_does_not_pay(system, accounts, donation, victim_deposit):
    vault, asset = system.vault, system.asset
    attacker, victim = accounts[2], accounts[3]
    system.fund(attacker, 1 + donation)
    system.fund(victim, victim_deposit)
    assert vault.totalSupply() == 0

    vault.deposit(1, attacker, sender=attacker)  # one wei buys 10**12 shares
    assert vault.balanceOf(attacker) == OFFSET
    asset.transfer(vault, donation, sender=attacker)
    # Half the donation already belongs to the 10**12 virtual shares.
    price = Fraction(vault.totalAssets() + 1, vault.totalSupply() + OFFSET)
    vault.deposit(victim_deposit, victim, sender=victim)
    assert vault.balanceOf(victim) > 0

    attacker_out = redeem_all(system, attacker)
    victim_out = redeem_all(system, victim)

    put_in = 1 + donation
    assert attacker_out <= put_in  # no profit ...
    assert 2 * attacker_out <= put_in + victim_deposit + 1  # ... and about half the donation lost
    # The victim loses at most one share's worth of rounding plus one wei (6 wei = 0.000006
    # USDC even after a 10M USDC donation), while the attack costs the attacker a million
    # times more than it costs the victim.
    loss = victim_deposit - victim_out
    assert loss <= price + 1
    assert loss <= 6
    assert put_in - attacker_out >= 10**6 * max(loss, 1)


def test_a_deposit_too_small_to_mint_a_share_reverts_and_keeps_the_asset(system, accounts):
    vault, asset = system.vault, system.asset
    attacker, victim = accounts[2], accounts[3]
    system.fund(attacker, 1 + 3_000_000 * USDC)
    system.fund(victim, USDC)
    vault.deposit(1, attacker, sender=attacker)
    asset.transfer(vault, 3_000_000 * USDC, sender=attacker)  # a share now costs 1.5 wei
    assert vault.previewDeposit(1) == 0

    cash, supply, total = asset.balanceOf(victim), vault.totalSupply(), vault.totalAssets()
    with ape.reverts(vault.ZeroAmount):
        vault.deposit(1, victim, sender=victim)
    assert asset.balanceOf(victim) == cash
    assert (vault.totalSupply(), vault.totalAssets()) == (supply, total)
    assert_reverts(vault, "mint", 0, victim, sender=victim, error="ZeroAmount")

    # Two wei buy a share again: a deposit either mints shares or takes nothing.
    assert vault.previewDeposit(2) == 1
    shares = vault.deposit(2, victim, sender=victim).return_value
    assert shares == vault.balanceOf(victim) == 1
    assert asset.balanceOf(victim) == cash - 2


# ------------------------------------------------------------------ donations


def test_a_donation_to_the_vault_raises_every_share_price_pro_rata(system, accounts, alice, bob):
    vault, asset = system.vault, system.asset
    donor, deposits = accounts[2], {alice: 600_000 * USDC + 11, bob: 150_000 * USDC + 3}
    for account, amount in deposits.items():
        system.deposit(account, amount)
    system.rebalance([3_000, 2_000, 1_000])
    donation = 90_000 * USDC + 1
    system.fund(donor, donation)
    supply = vault.totalSupply()
    asset.transfer(vault, donation, sender=donor)
    # Each holder's claim on the donation is its fraction of the shares, minus what the
    # virtual shares keep (10**12 of ~7.5 * 10**17: under a millionth).
    claims = {a: Fraction(vault.balanceOf(a), supply) * donation for a in deposits}

    outs = {}
    for account, amount in deposits.items():
        shares = vault.balanceOf(account)
        owned = vault.convertToAssets(shares)
        assert owned > vault.idle()  # each exit pulls from the sleeves
        assert amount + claims[account] - 2 <= owned <= amount + claims[account]
        # Both promises keep the pull's worst rounding: exactly 3 wei below the shares' value.
        most, preview = vault.maxWithdraw(account), vault.previewRedeem(shares)
        assert most == preview == promised(vault, shares) == owned - PULL_ROUNDING
        assert_reverts(
            vault, "withdraw", owned + 1, account, account, sender=account,
            error="ERC4626ExceededMaxWithdraw", owner=account, max=owned,
        )  # fmt: skip
        withdraw_max_delivers(system, account)
        outs[account], _, loss = checked_exit(system, "redeem", shares, account)
        assert outs[account] == owned - loss  # the leaver bears the pull's rounding
    assert sum(outs.values()) <= sum(deposits.values()) + donation
    assert vault.totalSupply() == 0


def test_donations_to_a_sleeve_are_not_counted(system, accounts, alice):
    vault, asset = system.vault, system.asset
    donor = accounts[2]
    system.deposit(alice, 1_000_000 * USDC)
    system.rebalance([4_000, 3_000, 2_000])
    system.fund(donor, 30_000 * USDC)
    for s in system.sleeves:
        asset.approve(s.issuer, 2**256 - 1, sender=donor)

    def book():
        sleeves = [
            (s.sleeve.units(), s.sleeve.totalAssets(), s.sleeve.availableLiquidity())
            for s in system.sleeves
        ]
        shares = vault.balanceOf(alice)
        return vault.totalAssets(), vault.convertToAssets(shares), vault.maxWithdraw(alice), sleeves

    before = book()
    # Alice's exit needs the sleeves: maxWithdraw keeps the pull's worst rounding.
    assert before[1] > vault.idle()
    assert before[2] == promised(vault, vault.balanceOf(alice)) == before[1] - PULL_ROUNDING
    for s in system.sleeves:
        asset.transfer(s.sleeve, 5_000 * USDC, sender=donor)  # stablecoin
        tokens = s.issuer.subscribe(5_000 * USDC, sender=donor).return_value
        s.token.transfer(s.sleeve, tokens, sender=donor)  # the RWA token itself
        assert s.token.balanceOf(s.sleeve) == s.sleeve.units() + tokens
    assert book() == before
    withdraw_max_delivers(system, alice)


@pytest.mark.parametrize("exit_by", ["withdraw", "redeem"])
def test_the_leaver_bears_the_rounding_of_its_pull_from_a_sleeve(system, alice, bob, exit_by):
    vault, gov = system.vault, system.governance
    system.deposit(alice, 500_000 * USDC + 17)
    system.deposit(bob, 500_000 * USDC + 3)
    system.rebalance([4_000, 3_000, 2_000])
    # Only the 6-decimal invoices token pays, at a NAV whose redemptions round: each pull
    # lowers the sleeve's valuation 1 wei more than it pays.
    invoices = system.sleeve("invoices")
    invoices.feed.setAnswer(invoices.feed.latestAnswer() * 10_001 // 10_000, sender=gov)
    for name in ("tbill", "gold"):
        system.sleeve(name).issuer.setFrozen(True, sender=gov)
    assets = vault.idle() + 12_345_678
    amount = assets if exit_by == "withdraw" else vault.convertToShares(assets)
    _, _, loss = checked_exit(system, exit_by, amount, alice)
    assert loss == 1  # the pull's rounding: 1 wei of valuation, all of it on alice


def test_withdrawing_a_full_position_that_needs_a_rounding_pull_reverts(system, alice, bob):
    """The leaver pays for its pull's rounding, so all it owns is more than `withdraw` can pay
    once the pull loses a wei; `maxWithdraw` keeps that margin and always succeeds."""
    vault, gov = system.vault, system.governance
    system.deposit(alice, 150_000 * USDC + 17)
    system.deposit(bob, 850_000 * USDC + 3)
    system.rebalance([4_000, 3_000, 2_000])
    invoices = system.sleeve("invoices")
    invoices.feed.setAnswer(invoices.feed.latestAnswer() * 10_001 // 10_000, sender=gov)
    for name in ("tbill", "gold"):
        system.sleeve(name).issuer.setFrozen(True, sender=gov)
    shares = vault.balanceOf(alice)
    owned = vault.convertToAssets(shares)
    assert vault.idle() < owned <= vault.liquidity()
    with isolated(chain):  # the same pull, by redeem: it measures the loss
        _, _, loss = checked_exit(system, "redeem", shares, alice)
    assert loss == 1
    assert_reverts(
        vault, "withdraw", owned, alice, alice, sender=alice,
        error="ERC4626ExceededMaxWithdraw", owner=alice, assets=owned, max=owned - loss,
    )  # fmt: skip
    assert vault.maxWithdraw(alice) == owned - PULL_ROUNDING
    checked_exit(system, "withdraw", vault.maxWithdraw(alice), alice)


# ------------------------------------------------------------------ shares and allowances


def test_a_depositor_cannot_take_more_than_its_shares_are_worth(system, alice, bob):
    vault = system.vault
    system.deposit(alice, 200_000 * USDC)
    system.deposit(bob, 50_000 * USDC)
    system.rebalance([4_000, 3_000, 2_000])
    shares = vault.balanceOf(alice)
    owned = vault.convertToAssets(shares)
    assert_reverts(
        vault, "redeem", shares + 1, alice, alice, sender=alice,
        error="ERC4626ExceededMaxRedeem", owner=alice, shares=shares + 1, max=shares,
    )  # fmt: skip
    assert_reverts(
        vault, "withdraw", owned + 1, alice, alice, sender=alice,
        error="ERC4626ExceededMaxWithdraw", owner=alice, assets=owned + 1, max=owned,
    )  # fmt: skip
    assert redeem_all(system, alice) == owned <= 200_000 * USDC
    assert vault.convertToAssets(vault.balanceOf(bob)) >= 50_000 * USDC - 1


def test_nobody_withdraws_someone_elses_shares_without_allowance(system, alice, mallory):
    vault = system.vault
    system.deposit(alice, 100_000 * USDC)
    shares = vault.balanceOf(alice)
    assert vault.allowance(alice, mallory) == 0
    assert_reverts(
        vault, "redeem", shares, mallory, alice, sender=mallory,
        error="ERC20InsufficientAllowance", spender=mallory, allowance=0, needed=shares,
    )  # fmt: skip
    assets = 1_000 * USDC
    assert_reverts(
        vault, "withdraw", assets, mallory, alice, sender=mallory,
        error="ERC20InsufficientAllowance", spender=mallory, allowance=0,
        needed=vault.previewWithdraw(assets),
    )  # fmt: skip
    assert_reverts(
        vault, "requestRedeem", shares, mallory, sender=mallory,
        error="ERC20InsufficientBalance", balance=0, needed=shares,
    )  # fmt: skip


def test_an_allowance_bounds_what_a_spender_may_withdraw(system, alice, bob):
    vault, asset = system.vault, system.asset
    system.deposit(alice, 100_000 * USDC)
    system.rebalance([4_000, 3_000, 2_000])
    allowance = vault.convertToShares(10_000 * USDC)
    vault.approve(bob, allowance, sender=alice)

    assert_reverts(
        vault, "redeem", allowance + 1, bob, alice, sender=bob,
        error="ERC20InsufficientAllowance", spender=bob, allowance=allowance,
        needed=allowance + 1,
    )  # fmt: skip

    held, cash = vault.balanceOf(alice), asset.balanceOf(bob)
    assert vault.idle() >= 6_000 * USDC  # idle pays: the preview is exact
    preview = vault.previewWithdraw(6_000 * USDC)
    burned = vault.withdraw(6_000 * USDC, bob, alice, sender=bob).return_value
    assert burned == preview == held - vault.balanceOf(alice)
    assert asset.balanceOf(bob) - cash == 6_000 * USDC
    left = allowance - burned
    assert vault.allowance(alice, bob) == left

    too_much = vault.convertToAssets(left) + 1  # needs more shares than the allowance left
    assert too_much > vault.idle()  # the sleeves must pay: the burn covers the pull loss too
    fewest = ceil_div(too_much * (vault.totalSupply() + OFFSET), vault.totalAssets() + 1)
    preview = vault.previewWithdraw(too_much)
    worst = ceil_div(
        (too_much + PULL_ROUNDING) * (vault.totalSupply() + OFFSET), vault.totalAssets() + 1
    )
    assert left < fewest <= preview == worst
    name, values = revert_of(vault, "withdraw", too_much, bob, alice, sender=bob)
    assert (name, values["spender"], values["allowance"]) == (
        "ERC20InsufficientAllowance", bob.address.lower(), left,
    )  # fmt: skip
    assert fewest <= values["needed"] <= preview  # the preview never undershoots the burn

    paid, _, _ = checked_exit(system, "redeem", left, alice, receiver=bob, sender=bob)
    assert vault.allowance(alice, bob) == 0
    assert held - vault.balanceOf(alice) == allowance
    assert paid + 6_000 * USDC <= 10_000 * USDC
