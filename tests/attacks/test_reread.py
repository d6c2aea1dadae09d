"""A second read of the agent-review and sleeve-review contract changes (reread): each test
mounts one attack or misbehaving issuer against a change and asserts the defence.

- `RebalanceModule._fill` charged a pull's loss pro rata to the `need` of every window walked,
  paid or not; what the windows paid did not cover (the unpaid need's part) went, after the walk,
  to the one window left at the head, in escrowed shares capped by what that window still asked.
  When liquidity is short and the head window is almost filled, that cap left the rest of the
  loss on those who stay: bob (1,100,000) paid 1,099,500 through a sleeve whose issuer fills a
  tenth of a redemption and keeps 10 %, a 5,500 loss; bob was charged 3,780 and 500 in shares,
  and 1,220 fell on the holders who stay. The loss is now charged pro rata to what is paid.
- `TokenizedRWASleeve.withdraw` measured the tokens a redemption took only to keep those it did
  not take: an issuer taking more than asked (whole lots) and paying for them left the extra
  counted twice, as cash and as units no longer held (100,000 of phantom NAV on a 1,000,000
  vault). All the tokens taken are now written off.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.vault_support import (
    USDC,
    deploy_partial_fill_system,
    isolated,
    next_window,
    settled,
)


@pytest.fixture(scope="module")
def partial_system(project, accounts):
    """A vault with one sleeve behind `MockPartialFillIssuer` (NAV 1.00, 18 decimals), and
    alice's 1,000,000 deposited (all idle)."""
    return deploy_partial_fill_system(project, accounts)


def _share_price(vault) -> Fraction:
    """Exact assets per share unit: (totalAssets + 1) / (totalSupply + 10**12)."""
    return Fraction(vault.totalAssets() + 1, vault.totalSupply() + 10**12)


def test_a_pulls_loss_on_short_liquidity_never_falls_on_those_who_stay(
    partial_system, accounts, chain
):
    system, alice, bob = partial_system, accounts[6], accounts[7]
    vault, entry = system.vault, system.sleeve("partial")
    with isolated(chain):
        system.deposit(bob, 1_100_000 * USDC)
        system.rebalance([5_000])  # 1,050,000 idle, 1,050,000 in the sleeve
        # the issuer redeems a tenth of what it is asked and keeps 10 % of it
        entry.issuer.setFills(10_000, 1_000, sender=system.governance)
        entry.issuer.setRedeemFee(1_000, sender=system.governance)
        vault.requestRedeem(vault.balanceOf(bob), bob, bob, sender=bob)  # 1,100,000
        next_window(chain)
        vault.requestRedeem(vault.balanceOf(alice) // 2, alice, alice, sender=alice)  # 500,000
        system.publish_prices()
        total, price = vault.totalAssets(), _share_price(vault)
        receipt = vault.strike(sender=system.governance)
        k = settled(receipt, vault)
        # the pull asked the sleeve for 550,000: 55,000 of units redeemed for 49,500
        (divested,) = receipt.events.filter(entry.sleeve.Divested)
        assert divested.assets == 49_500 * USDC
        loss = total - vault.totalAssets() - k["redeemAssets"]
        assert loss == 5_500 * USDC  # the issuer kept 10 % of the 55,000 it redeemed
        charged_bob = 1_099_500 * USDC - vault.maxWithdraw(bob)
        after = _share_price(vault)
        assert after >= price, (
            f"the 5,500 pull loss: bob charged {charged_bob / USDC} in assets, the holders who "
            f"stay lost {float((price - after) * (vault.totalSupply() + 10**12)) / USDC:.2f}"
        )
        # bob's window, the only one paid (1,099,500 of its 1,100,000), bears the whole loss
        assert charged_bob == 5_500 * USDC
        assert k["redeemAssets"] == 1_094_000 * USDC == vault.maxWithdraw(bob)
        # nothing charged in escrowed shares: bob's last 500 and alice's 500,000 wait, whole
        assert vault.pendingRedeemRequest(0, bob) == 500 * USDC * 10**12
        assert vault.pendingRedeemRequest(0, alice) == 500_000 * USDC * 10**12


def test_a_redemption_that_takes_more_tokens_than_asked_never_leaves_units_counted_twice(
    partial_system, accounts, chain
):
    """An issuer redeeming in whole lots (more than asked, and paying for it): the sleeve wrote
    off only the units it asked, so the units taken beyond it were counted twice, as the cash
    they paid and as units the sleeve no longer held (100,000 here: NAV 1,100,000 for 1,000,000)."""
    system, alice = partial_system, accounts[6]
    vault, entry = system.vault, system.sleeve("partial")
    with isolated(chain):
        system.rebalance([5_000])  # 500,000 idle, 500,000 units at 1.00
        entry.issuer.setFills(10_000, 15_000, sender=system.governance)  # takes 1.5x, pays it
        vault.requestRedeem(vault.balanceOf(alice) * 7 // 10, alice, alice, sender=alice)
        system.publish_prices()
        receipt = vault.strike(sender=system.governance)
        k = settled(receipt, vault)
        (divested,) = receipt.events.filter(entry.sleeve.Divested)
        assert divested.requested == 200_000 * USDC and divested.assets == 300_000 * USDC
        held = entry.token.balanceOf(entry.sleeve)
        assert held == 200_000 * 10**18
        assert entry.sleeve.units() == held, f"{entry.sleeve.units()} units counted, {held} held"
        assert k["redeemAssets"] == 700_000 * USDC
        assert vault.totalAssets() == 300_000 * USDC  # 100,000 idle, 200,000 of units
