"""Attacks on RWAVault's share accounting: inflation, donations, allowances, dust deposits.

Every scenario starts from the same deployed system (empty vault, three sleeves) in its own
chain snapshot. Entries and exits are ERC-7540 requests settled at a strike (the helpers publish a
new price round first). Bounds are exact: share values are recomputed with Fractions from the
strike's formula `assets = shares * (totalAssets + 1) / (totalSupply + 10**12)` (12-decimal
offset of a 6-decimal asset). A strike that fills a redemption idle cannot pay pulls from the
sleeves, which may lower the valuation by `loss` (at most 1 wei per sleeve in the withdraw
queue): the leavers of that strike bear it (their fill is the shares' value less `loss`), so the
exact value of the shares that stay never falls.

Expected reverts are checked as a raw `eth_call` by the same sender on the pending block
(Ape traces every reverted transaction, ~5 s apiece on this vault); the one test that must
show a reverted transaction leaves the depositor's claim untouched sends it for real.
"""

from __future__ import annotations

from fractions import Fraction

import ape
import pytest

from tests.vault_support import (
    USDC,
    assert_reverts,
    deploy_vault_system,
    settled,
)

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


def strike_exit(system, shares: int, owner, controller=None, sender=None) -> tuple[dict, int]:
    """`controller` (default `owner`) requests to redeem `shares` of `owner` (sent by `sender`,
    default `owner`) and a strike fills it in full, checked against the exact rule: priced at
    the book (T, S) before the strike, the fill is the shares' value less the whole valuation
    `loss` of the strike's pull (none when idle pays), and the exact value of the shares that
    stay does not fall. Returns (the strike's StrikeSettled fields, loss)."""
    vault = system.vault
    controller, sender = controller or owner, sender or owner
    total, supply, idle = vault.totalAssets(), vault.totalSupply(), vault.idle()
    price = share_value(vault, 10**18)
    vault.requestRedeem(shares, controller, owner, sender=sender)
    strike = settled(system.strike(), vault)
    value = shares * (total + 1) // (supply + OFFSET)
    assert strike["redeemShares"] == shares  # filled in full
    loss, worst = value - strike["redeemAssets"], PULL_ROUNDING if value > idle else 0
    assert 0 <= loss <= worst
    # The valuation the pull lost is exactly what the fill was charged.
    assert total - vault.totalAssets() == value
    assert vault.claimableRedeemRequest(0, controller) >= shares
    assert share_value(vault, 10**18) >= price  # those who stay never lose
    return strike, loss


def checked_exit(system, claim_by: str, shares: int, owner, receiver=None) -> tuple[int, int]:
    """`strike_exit` of `shares`, then `owner` claims all of it by `redeem` or by `withdraw`.
    Returns (assets paid, loss)."""
    vault, asset = system.vault, system.asset
    receiver = receiver or owner
    strike, loss = strike_exit(system, shares, owner)
    cash = asset.balanceOf(receiver)
    if claim_by == "withdraw":
        burned = vault.withdraw(strike["redeemAssets"], receiver, owner, sender=owner)
        assert burned.return_value == shares
    else:
        paid = vault.redeem(shares, receiver, owner, sender=owner).return_value
        assert paid == strike["redeemAssets"]
    assert asset.balanceOf(receiver) - cash == strike["redeemAssets"]
    assert vault.maxRedeem(owner) == vault.maxWithdraw(owner) == 0
    return strike["redeemAssets"], loss


def request_and_claim(system, account, assets: int) -> int:
    """`account` requests a deposit of `assets`, a strike settles it, it claims: the shares."""
    system.fund(account, assets)
    system.vault.requestDeposit(assets, account, account, sender=account)
    system.strike()
    shares = system.vault.maxMint(account)
    paid = system.vault.mint(shares, account, sender=account).return_value
    assert paid == assets  # the last claim takes all the request settled
    return shares


def redeem_all(system, account) -> int:
    """Redeems every share of `account` (request, strike, claim); returns the assets it got."""
    before = system.asset.balanceOf(account)
    receipt = system.redeem(account, system.vault.balanceOf(account))
    assert receipt is not None and system.vault.pendingRedeemRequest(0, account) == 0
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
    system.fund(attacker, donation)
    assert vault.totalSupply() == 0

    assert request_and_claim(system, attacker, 1) == OFFSET  # one wei buys 10**12 shares
    assert vault.balanceOf(attacker) == OFFSET
    asset.transfer(vault, donation, sender=attacker)
    # Half the donation already belongs to the 10**12 virtual shares.
    price = Fraction(vault.totalAssets() + 1, vault.totalSupply() + OFFSET)
    assert request_and_claim(system, victim, victim_deposit) > 0

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


def test_a_deposit_request_too_small_to_buy_a_share_loses_at_most_the_rounding(system, accounts):
    """At 1.5 wei a share a 1-wei request buys nothing: the strike rounds the shares down (the
    vault keeps the dust, as for every deposit), the request cannot be taken back once struck,
    and nobody's share price falls; the last claim clears the dust. The next request buys at the
    same rule."""
    vault, asset = system.vault, system.asset
    attacker, victim = accounts[2], accounts[3]
    system.fund(attacker, 3_000_000 * USDC)
    request_and_claim(system, attacker, 1)
    asset.transfer(vault, 3_000_000 * USDC, sender=attacker)  # a share now costs 1.5 wei
    price = share_value(vault, 1)
    assert price == Fraction(3_000_000 * USDC + 2, 2 * OFFSET)

    system.fund(victim, 3)
    vault.requestDeposit(1, victim, victim, sender=victim)
    strike = settled(system.strike(), vault)
    assert (strike["depositAssets"], strike["depositShares"]) == (1, 0)
    assert vault.maxMint(victim) == 0 and vault.balanceOf(victim) == 0
    assert_reverts(vault, "mint", 0, victim, sender=victim, error="ZeroAmount")
    assert_reverts(
        vault, "cancelDepositRequest", victim, sender=victim,
        error="NoPendingRequest", controller=victim,
    )  # fmt: skip
    # The last claim clears the dust: 1 wei of claim, 0 shares, nothing left claimable.
    assert vault.deposit(1, victim, sender=victim).return_value == 0
    assert vault.maxDeposit(victim) == 0
    assert share_value(vault, 1) >= price  # the wei went to the holders, the price held
    assert price > 1  # and it was less than one share's worth

    # Two wei more buy a share: each request loses less than a share's worth to rounding.
    vault.requestDeposit(2, victim, victim, sender=victim)
    strike = settled(system.strike(), vault)
    assert strike["depositShares"] == 1
    assert vault.maxMint(victim) == 1
    assert vault.mint(1, victim, sender=victim).return_value == 2  # the first was claimed as dust
    assert vault.balanceOf(victim) == 1
    assert asset.balanceOf(victim) == 0
    assert 3 - share_value(vault, 1) < 2 * price


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
        # More shares than held cannot even be requested.
        assert_reverts(
            vault, "requestRedeem", shares + 1, account, account, sender=account,
            error="ERC20InsufficientBalance", balance=shares, needed=shares + 1,
        )  # fmt: skip
        outs[account], loss = checked_exit(system, "redeem", shares, account)
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
            (
                s.sleeve.units(),
                s.sleeve.totalAssets(),
                s.sleeve.availableLiquidity(),
                s.sleeve.strikeValuation()[:2],
            )
            for s in system.sleeves
        ]
        shares = vault.balanceOf(alice)
        return vault.totalAssets(), vault.convertToAssets(shares), vault.liquidity(), sleeves

    before = book()
    assert before[1] > vault.idle()  # alice's exit needs the sleeves
    for s in system.sleeves:
        asset.transfer(s.sleeve, 5_000 * USDC, sender=donor)  # stablecoin
        tokens = s.issuer.subscribe(5_000 * USDC, sender=donor).return_value
        s.token.transfer(s.sleeve, tokens, sender=donor)  # the RWA token itself
        assert s.token.balanceOf(s.sleeve) == s.sleeve.units() + tokens
    assert book() == before
    paid, _ = checked_exit(system, "redeem", vault.balanceOf(alice), alice)
    assert paid <= before[1]  # the exit is priced at the book, not at what was dropped in


@pytest.mark.parametrize("claim_by", ["withdraw", "redeem"])
def test_the_leaver_bears_the_rounding_of_its_pull_from_a_sleeve(system, alice, bob, claim_by):
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
    shares = vault.convertToShares(vault.idle() + 12_345_678)
    _, loss = checked_exit(system, claim_by, shares, alice)
    assert loss == 1  # the pull's rounding: 1 wei of valuation, all of it on alice


def test_claiming_more_than_a_fill_that_bore_a_rounding_pull_reverts(system, alice, bob):
    """The leaver pays for its pull's rounding, so all its shares were worth is more than its
    fill once the pull lost a wei: a claim of that reverts and moves nothing; `maxWithdraw` is
    the fill and always succeeds."""
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
    strike, loss = strike_exit(system, shares, alice)
    assert loss == 1
    assert vault.maxWithdraw(alice) == owned - loss == strike["redeemAssets"]
    cash = system.asset.balanceOf(alice)
    with ape.reverts(vault.ClaimExceeded, controller=alice.address, requested=owned,
                     claimable=owned - loss):  # fmt: skip
        vault.withdraw(owned, alice, alice, sender=alice)
    assert system.asset.balanceOf(alice) == cash
    assert vault.claimableRedeemRequest(0, alice) == shares
    assert vault.withdraw(owned - loss, alice, alice, sender=alice).return_value == shares
    assert system.asset.balanceOf(alice) - cash == owned - loss


# ------------------------------------------------------------------ shares and allowances


def test_a_depositor_cannot_take_more_than_its_shares_are_worth(system, alice, bob):
    vault = system.vault
    system.deposit(alice, 200_000 * USDC)
    system.deposit(bob, 50_000 * USDC)
    system.rebalance([4_000, 3_000, 2_000])
    shares = vault.balanceOf(alice)
    owned = vault.convertToAssets(shares)
    assert_reverts(
        vault, "requestRedeem", shares + 1, alice, alice, sender=alice,
        error="ERC20InsufficientBalance", balance=shares, needed=shares + 1,
    )  # fmt: skip
    strike, loss = strike_exit(system, shares, alice)
    assert_reverts(
        vault, "redeem", shares + 1, alice, alice, sender=alice,
        error="ClaimExceeded", controller=alice, requested=shares + 1, claimable=shares,
    )  # fmt: skip
    paid = strike["redeemAssets"]
    assert_reverts(
        vault, "withdraw", paid + 1, alice, alice, sender=alice,
        error="ClaimExceeded", controller=alice, requested=paid + 1, claimable=paid,
    )  # fmt: skip
    assert vault.redeem(shares, alice, alice, sender=alice).return_value == paid
    assert paid == owned - loss <= 200_000 * USDC
    assert vault.convertToAssets(vault.balanceOf(bob)) >= 50_000 * USDC - 1


def test_nobody_requests_or_claims_someone_elses_shares_without_allowance(system, alice, mallory):
    vault = system.vault
    system.deposit(alice, 100_000 * USDC)
    shares = vault.balanceOf(alice)
    assert vault.allowance(alice, mallory) == 0
    assert_reverts(
        vault, "requestRedeem", shares, mallory, alice, sender=mallory,
        error="ERC20InsufficientAllowance", spender=mallory, allowance=0, needed=shares,
    )  # fmt: skip
    assert_reverts(
        vault, "requestRedeem", shares, mallory, mallory, sender=mallory,
        error="ERC20InsufficientBalance", balance=0, needed=shares,
    )  # fmt: skip
    # Alice's own request, filled: only she (or her operator) claims or cancels it.
    vault.requestRedeem(shares // 2, alice, alice, sender=alice)
    assert_reverts(
        vault, "cancelRedeemRequest", alice, sender=mallory,
        error="NotOperator", owner=alice, caller=mallory,
    )  # fmt: skip
    system.strike(sender=mallory)
    for method, amount in (("redeem", shares // 2), ("withdraw", vault.maxWithdraw(alice))):
        assert_reverts(
            vault, method, amount, mallory, alice, sender=mallory,
            error="NotOperator", owner=alice, caller=mallory,
        )  # fmt: skip
    assert_reverts(vault, "redeem", 1, mallory, mallory, sender=mallory, error="ClaimExceeded")
    assert vault.claimableRedeemRequest(0, alice) == shares // 2


def test_an_allowance_bounds_what_a_spender_may_request(system, alice, bob):
    vault, asset = system.vault, system.asset
    system.deposit(alice, 100_000 * USDC)
    system.rebalance([4_000, 3_000, 2_000])
    allowance = vault.convertToShares(10_000 * USDC)
    vault.approve(bob, allowance, sender=alice)

    assert_reverts(
        vault, "requestRedeem", allowance + 1, bob, alice, sender=bob,
        error="ERC20InsufficientAllowance", spender=bob, allowance=allowance,
        needed=allowance + 1,
    )  # fmt: skip

    held, cash = vault.balanceOf(alice), asset.balanceOf(bob)
    part = vault.convertToShares(6_000 * USDC)
    assert vault.idle() >= 6_000 * USDC  # idle pays: no pull, no loss
    strike, loss = strike_exit(system, part, alice, controller=bob, sender=bob)
    assert loss == 0
    assert held - vault.balanceOf(alice) == part
    left = allowance - part
    assert vault.allowance(alice, bob) == left
    assert_reverts(
        vault, "requestRedeem", left + 1, bob, alice, sender=bob,
        error="ERC20InsufficientAllowance", spender=bob, allowance=left, needed=left + 1,
    )  # fmt: skip
    # Bob is the controller: he claims what alice's shares were filled for.
    assert vault.redeem(part, bob, bob, sender=bob).return_value == strike["redeemAssets"]

    # The rest of the allowance, and then not a share more.
    strike_exit(system, left, alice, controller=bob, sender=bob)
    assert vault.allowance(alice, bob) == 0
    assert held - vault.balanceOf(alice) == allowance
    paid = vault.redeem(left, bob, bob, sender=bob).return_value
    assert asset.balanceOf(bob) - cash == strike["redeemAssets"] + paid <= 10_000 * USDC
    assert_reverts(
        vault, "requestRedeem", 1, bob, alice, sender=bob,
        error="ERC20InsufficientAllowance", spender=bob, allowance=0, needed=1,
    )  # fmt: skip
