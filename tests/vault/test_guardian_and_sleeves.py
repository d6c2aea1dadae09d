"""RWAVault's guardian controls, shutdown and unwind, the allowlist, and sleeve management.

Roles as deployed by `deploy_vault_system`: accounts[0] governance (and allowlist manager),
accounts[1] guardian, accounts[5] allocator; depositors are accounts[6..9]. The guardian may stop
automation and shut down; nothing it can call pays funds out, and after shutdown anyone may
unwind sleeves back to idle so that every depositor can leave. Exits are ERC-7540 requests: a
strike (anyone) fills them, pulling from the sleeves in withdraw-queue order beyond idle.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import ape
import pytest
from ape.utils import ZERO_ADDRESS
from eth_utils import keccak

from tests.vault_support import (
    DAY,
    USDC,
    SleeveSpec,
    add_sleeve,
    deploy_vault_system,
    settled,
    stand_fee_sample,
)

NAV = 1_000_000 * USDC
TARGETS = [3_000, 2_000, 1_000]


@pytest.fixture(scope="module")
def system(project, accounts):
    system = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    system.set_param("oracle.maxStaleness", 7 * DAY)  # prices outlive a few days of unwinding
    return system


@pytest.fixture(scope="module")
def alice(accounts):
    return accounts[6]


@pytest.fixture(scope="module")
def bob(accounts):
    return accounts[7]


@pytest.fixture(scope="module")
def carol(accounts):
    return accounts[8]


@pytest.fixture
def funded(system, alice, bob):
    """Alice and Bob each deposited 1M; 60 % invested at [3000, 2000, 1000] bps."""
    system.deposit(alice, NAV)
    system.deposit(bob, NAV)
    system.rebalance(TARGETS)
    return system


def unauthorized(vault, account, role):
    return ape.reverts(
        vault.AccessControlUnauthorizedAccount, account=account.address, neededRole=role
    )


def only_event(tx, event) -> dict:
    (log,) = tx.events.filter(event)
    return dict(log.event_arguments)


def units(system):
    return {s.name: s.sleeve.units() for s in system.sleeves}


def new_sleeve(project, system, issuer_of="tbill"):
    """A sleeve of this vault, not yet added, on an existing issuer."""
    issuer = system.sleeve(issuer_of).issuer
    return system.governance.deploy(project.TokenizedRWASleeve, system.vault, issuer, system.router)


# ------------------------------------------------------------------ pause


@pytest.mark.parametrize("who", ["guardian", "governance"])
def test_guardian_or_governance_pauses_and_unpauses(system, who):
    caller, vault = getattr(system, who), system.vault
    tx = vault.pauseAutomation(sender=caller)
    assert only_event(tx, vault.AutomationPaused) == {"by": caller.address}
    assert vault.automationPaused()
    tx = vault.unpauseAutomation(sender=caller)
    assert only_event(tx, vault.AutomationUnpaused) == {"by": caller.address}
    assert not vault.automationPaused()


@pytest.mark.parametrize("method", ["pauseAutomation", "unpauseAutomation", "shutdown"])
def test_others_cannot_pause_or_shut_down(system, alice, method):
    vault = system.vault
    for caller in (system.allocator, alice):
        with unauthorized(vault, caller, vault.GUARDIAN_ROLE()):
            getattr(vault, method)(sender=caller)
    assert not vault.automationPaused() and not vault.isShutdown()


def test_pause_stops_rebalances_but_not_users(funded, alice, bob, carol):
    vault = funded.vault
    vault.pauseAutomation(sender=funded.guardian)
    with ape.reverts(vault.AutomationIsPaused):
        funded.rebalance([0, 0, 0])

    funded.deposit(carol, 10_000 * USDC)
    assert vault.balanceOf(carol) > 0
    # 900k is beyond idle (810k): the strike pulls the rest from the sleeves. A share is worth
    # 1e-12 USDC exactly here.
    tbill = funded.sleeve("tbill").sleeve.units()
    funded.redeem(alice, 900_000 * 10**18)
    assert funded.asset.balanceOf(alice) == 900_000 * USDC
    assert funded.sleeve("tbill").sleeve.units() == tbill - 90_000 * 10**18
    shares = vault.balanceOf(bob) // 2
    vault.requestRedeem(shares, bob, bob, sender=bob)
    funded.publish_prices()
    vault.strike(sender=carol)  # anyone strikes
    assert vault.pendingRedeemRequest(0, bob) == 0
    vault.redeem(shares, bob, bob, sender=bob)
    assert funded.asset.balanceOf(bob) >= NAV // 2 - 1


# ------------------------------------------------------------------ shutdown


@pytest.mark.parametrize("who", ["guardian", "governance"])
def test_shutdown_is_final(system, who):
    vault, caller = system.vault, getattr(system, who)
    tx = vault.shutdown(sender=caller)
    assert only_event(tx, vault.Shutdown) == {"by": caller.address}
    assert vault.isShutdown()
    for again in (system.guardian, system.governance):
        with ape.reverts(vault.VaultIsShutdown):
            vault.shutdown(sender=again)
    vault.pauseAutomation(sender=caller)
    vault.unpauseAutomation(sender=caller)  # no switch brings the vault back
    assert vault.isShutdown()


def test_shutdown_stops_deposits_and_rebalances_not_redemptions(funded, chain, alice, carol):
    vault = funded.vault
    funded.fund(carol, NAV)
    vault.shutdown(sender=funded.guardian)
    with ape.reverts(vault.VaultIsShutdown):
        vault.requestDeposit(USDC, carol, carol, sender=carol)
    assert vault.pendingDepositRequest(0, carol) == vault.maxDeposit(carol) == 0
    with ape.reverts(vault.VaultIsShutdown):
        funded.rebalance([0, 0, 0])

    # Alice's shares are worth more than idle: the strike pulls from the sleeves and her fill
    # bears the pull's rounding (at most 1 wei a sleeve), never bob, who stays.
    shares = vault.balanceOf(alice)
    total, supply = vault.totalAssets(), vault.totalSupply()
    owned = shares * (total + 1) // (supply + 10**12)
    assert owned >= NAV - 1 and owned > vault.idle()
    price = Fraction(total + 1, supply + 10**12)
    vault.requestRedeem(shares, alice, alice, sender=alice)
    strike = settled(funded.strike(sender=carol), vault)
    assert strike["redeemShares"] == shares
    loss = owned - strike["redeemAssets"]
    assert 0 <= loss <= len(vault.withdrawQueue())
    assert vault.redeem(shares, alice, alice, sender=alice).return_value == strike["redeemAssets"]
    assert funded.asset.balanceOf(alice) == owned - loss
    assert vault.balanceOf(alice) == 0
    assert Fraction(vault.totalAssets() + 1, vault.totalSupply() + 10**12) >= price  # bob's


def test_unwind_needs_shutdown_and_a_known_sleeve(funded, carol):
    vault, tbill = funded.vault, funded.sleeve("tbill").sleeve
    with ape.reverts(vault.NotShutdown):
        vault.unwind(tbill, USDC, sender=carol)
    vault.shutdown(sender=funded.guardian)
    with ape.reverts(vault.UnknownSleeve, sleeve=carol.address):
        vault.unwind(carol.address, USDC, sender=carol)


def test_anyone_unwinds_every_sleeve_and_every_depositor_exits(funded, chain, alice, bob, carol):
    vault, asset = funded.vault, funded.asset
    tbill = funded.sleeve("tbill")
    tbill.issuer.setDailyRedeemLimit(400_000 * 10**18, sender=funded.governance)  # of 600k
    vault.shutdown(sender=funded.guardian)
    total = vault.totalAssets()

    for s in funded.sleeves:
        requested = s.sleeve.totalAssets()
        idle = vault.idle()
        tx = vault.unwind(s.sleeve, requested, sender=carol)
        ev = only_event(tx, vault.Unwound)
        assert ev["sleeve"] == s.sleeve.address and ev["requested"] == requested
        assert ev["withdrawn"] == vault.idle() - idle == tx.return_value
    # The rate-limited sleeve paid its daily limit; the others everything.
    assert vault.idle() >= total - 200_000 * USDC - 3
    assert tbill.sleeve.totalAssets() == 200_000 * USDC

    chain.pending_timestamp += DAY  # the issuer's limit resets
    for s in funded.sleeves:
        s.feed.setAnswer(s.feed.latestAnswer(), sender=funded.governance)
    ev = only_event(vault.unwind(tbill.sleeve, 10**30, sender=carol), vault.Unwound)
    assert ev["withdrawn"] == 200_000 * USDC
    assert all(s.sleeve.totalAssets() <= 1 for s in funded.sleeves)
    assert abs(vault.idle() - total) <= 3  # everything back to idle, nothing paid out

    for holder in (alice, bob):
        shares = vault.balanceOf(holder)
        funded.redeem(holder, shares)
        assert vault.pendingRedeemRequest(0, holder) == 0  # filled in full from idle
        assert asset.balanceOf(holder) >= NAV - 3
    assert vault.totalSupply() == 0
    assert asset.balanceOf(carol) == 0  # unwinding paid the caller nothing


def test_frozen_sleeve_unwinds_nothing_until_it_thaws(funded, carol):
    vault, gold = funded.vault, funded.sleeve("gold")
    vault.shutdown(sender=funded.guardian)
    gold.issuer.setFrozen(True, sender=funded.governance)
    held = gold.sleeve.totalAssets()
    ev = only_event(vault.unwind(gold.sleeve, held, sender=carol), vault.Unwound)
    assert (ev["requested"], ev["withdrawn"]) == (held, 0)
    gold.issuer.setFrozen(False, sender=funded.governance)
    ev = only_event(vault.unwind(gold.sleeve, held, sender=carol), vault.Unwound)
    assert ev["withdrawn"] >= held


def test_unwind_of_more_than_held_sends_everything(funded, carol):
    vault = funded.vault
    vault.shutdown(sender=funded.guardian)
    total = vault.totalAssets()
    for s in funded.sleeves:
        vault.unwind(s.sleeve, 2**256 - 1, sender=carol)
    assert abs(vault.idle() - total) <= 3


def test_guardian_cannot_move_funds_anywhere_but_idle(project, funded, alice):
    vault, guardian, asset = funded.vault, funded.guardian, funded.asset
    governance = vault.GOVERNANCE_ROLE()
    with ape.reverts(vault.NotActiveAgent, caller=guardian.address):
        vault.rebalance([0, 0, 0], b"\x00" * 32, "", sender=guardian)
    with unauthorized(vault, guardian, governance):
        vault.addSleeve(new_sleeve(project, funded), "tbill", sender=guardian)
    with unauthorized(vault, guardian, governance):
        vault.removeSleeve(funded.sleeve("gold").sleeve, sender=guardian)
    with unauthorized(vault, guardian, governance):
        vault.setWithdrawQueue([2, 1, 0], sender=guardian)
    with unauthorized(vault, guardian, governance):
        vault.setAllowlistEnabled(True, sender=guardian)
    with unauthorized(vault, guardian, vault.DEFAULT_ADMIN_ROLE()):
        vault.grantRole(governance, guardian, sender=guardian)
    with unauthorized(vault, guardian, governance):
        vault.setAgentRegistry(funded.agents, sender=guardian)
    with ape.reverts(vault.ERC20InsufficientAllowance):
        vault.requestRedeem(10**18, guardian, alice, sender=guardian)
    with ape.reverts(vault.NotOperator, owner=alice.address, caller=guardian.address):
        vault.redeem(10**18, guardian, alice, sender=guardian)

    total = vault.totalAssets()
    vault.shutdown(sender=guardian)
    for s in funded.sleeves:
        vault.unwind(s.sleeve, s.sleeve.totalAssets(), sender=guardian)
    assert asset.balanceOf(guardian) == 0 and vault.balanceOf(guardian) == 0
    assert abs(vault.idle() - total) <= 3


# ------------------------------------------------------------------ allowlist


def test_allowlist_is_off_by_default(funded, alice, carol):
    vault = funded.vault
    assert not vault.allowlistEnabled() and not vault.isAllowed(carol)
    funded.deposit(carol, USDC)
    vault.transfer(carol, 10**18, sender=alice)
    assert vault.balanceOf(carol) > 10**18


def test_only_governance_switches_and_only_the_manager_lists(system, alice):
    vault, gov = system.vault, system.governance
    for caller in (system.guardian, system.allocator, alice):
        with unauthorized(vault, caller, vault.GOVERNANCE_ROLE()):
            vault.setAllowlistEnabled(True, sender=caller)
        with unauthorized(vault, caller, vault.ALLOWLIST_ROLE()):
            vault.setAllowed(alice, True, sender=caller)
    assert only_event(vault.setAllowlistEnabled(True, sender=gov), vault.AllowlistEnabled) == {
        "enabled": True
    }
    tx = vault.setAllowed(alice, True, sender=gov)
    assert only_event(tx, vault.AllowlistUpdated) == {"account": alice.address, "allowed": True}
    assert vault.allowlistEnabled() and vault.isAllowed(alice)
    tx = vault.setAllowed(alice, False, sender=gov)
    assert only_event(tx, vault.AllowlistUpdated) == {"account": alice.address, "allowed": False}
    assert not vault.isAllowed(alice)


def test_allowlist_gates_deposits_and_share_transfers(system, alice, bob, carol):
    vault, gov = system.vault, system.governance
    vault.setAllowlistEnabled(True, sender=gov)
    vault.setAllowed(alice, True, sender=gov)
    vault.setAllowed(bob, True, sender=gov)
    system.fund(alice, NAV)
    system.fund(carol, NAV)
    vault.setOperator(alice, True, sender=carol)  # carol consents to alice's requests for it

    with ape.reverts(vault.NotAllowlisted, account=carol.address):  # owner off the list
        vault.requestDeposit(USDC, carol, carol, sender=carol)
    with ape.reverts(vault.NotAllowlisted, account=carol.address):  # controller off the list
        vault.requestDeposit(USDC, carol, alice, sender=alice)
    assert vault.pendingDeposits() == 0

    vault.requestDeposit(NAV, alice, alice, sender=alice)
    system.strike()
    with ape.reverts(vault.NotAllowlisted, account=carol.address):  # receiver off the list
        vault.deposit(USDC, carol, alice, sender=alice)
    with ape.reverts(vault.NotAllowlisted, account=carol.address):
        vault.mint(10**18, carol, alice, sender=alice)
    vault.deposit(NAV, alice, sender=alice)
    with ape.reverts(vault.NotAllowlisted, account=carol.address):
        vault.transfer(carol, 10**18, sender=alice)
    vault.transfer(bob, 10**18, sender=alice)
    assert vault.balanceOf(bob) == 10**18

    # Leaving is never gated: escrow into the vault, a controller and a receiver off the list,
    # burning the shares of a holder taken off the list.
    vault.requestRedeem(10**20, carol, alice, sender=alice)
    vault.setAllowed(bob, False, sender=gov)
    vault.requestRedeem(10**18, bob, bob, sender=bob)
    system.strike()
    assert vault.pendingRedeemRequest(0, carol) == vault.pendingRedeemRequest(0, bob) == 0
    vault.redeem(10**20, carol, carol, sender=carol)
    assert system.asset.balanceOf(carol) == NAV + 100 * USDC  # 1e20 shares = 100 USDC
    vault.redeem(10**18, bob, bob, sender=bob)
    assert vault.balanceOf(bob) == 0

    tx = vault.setAllowlistEnabled(False, sender=gov)
    assert only_event(tx, vault.AllowlistEnabled) == {"enabled": False}
    system.deposit(carol, USDC)
    vault.transfer(carol, 10**18, sender=alice)


@pytest.mark.parametrize("how", ["enabled-later", "registry-removed", "treasury-removed"])
def test_a_strike_taking_a_fee_never_stops_on_the_allowlist(funded, alice, bob, carol, how):
    """Found in a review after issue 18: a strike that takes a performance fee mints it to the
    AgentRegistry, which sends the treasury its part. With the allowlist turned on later, or
    the registry or the treasury taken off it, that strike reverted `NotAllowlisted` and, while
    the share price stayed above the mark, no redemption or deposit could settle at all. The
    fee's receivers need no entry; everyone else still does."""
    system, vault, gov = funded, funded.vault, funded.governance
    registry, treasury = system.agents.address, system.agents.treasury()
    system.set_param("vault.performanceFeeBps", 2_000)
    # enabled later: the DAO lists its holders, not the fee's receivers
    listed = [alice, bob] + ([] if how == "enabled-later" else [registry, treasury])
    for account in listed:
        vault.setAllowed(account, True, sender=gov)
    vault.setAllowlistEnabled(True, sender=gov)
    if how != "enabled-later":  # the allowlist manager takes one of them off
        vault.setAllowed(registry if how == "registry-removed" else treasury, False, sender=gov)
    gold = system.sleeve("gold")
    gold.feed.setAnswer(gold.feed.latestAnswer() * 105 // 100, sender=gov)  # a gain: a fee
    stand_fee_sample(system, bob)  # once it has stood a day
    shares = vault.balanceOf(alice)
    vault.requestRedeem(shares, alice, alice, sender=alice)
    before = vault.balanceOf(registry), vault.balanceOf(treasury)
    tx = system.strike()
    (fee,) = tx.events.filter(system.agents.FeeReceived)
    assert fee.shares > 0 and fee.toTreasury > 0
    assert vault.balanceOf(registry) - before[0] == fee.shares - fee.toTreasury
    assert vault.balanceOf(treasury) - before[1] == fee.toTreasury
    assert vault.maxRedeem(alice) == shares and vault.pendingRedeemRequest(0, alice) == 0
    with ape.reverts(vault.NotAllowlisted, account=carol.address):  # the list still holds
        vault.transfer(carol, 10**18, sender=bob)


# ------------------------------------------------------------------ sleeves


def cap_key(name: str) -> bytes:
    return keccak(text=f"vault.maxSleeveBps.{name}")


def config(vault, index) -> tuple:
    c = vault.sleeveAt(index)
    return c.sleeve, c.name, c.capKey


def test_sleeves_as_deployed(system):
    vault = system.vault
    assert vault.sleeveCount() == 3
    for i, s in enumerate(system.sleeves):
        assert config(vault, i) == (s.sleeve.address, s.name, cap_key(s.name))
    assert list(vault.withdrawQueue()) == [0, 1, 2]


def test_add_sleeve_checks(project, system):
    vault, gov = system.vault, system.governance
    with ape.reverts(vault.ZeroAddress):
        vault.addSleeve(ZERO_ADDRESS, "tbill", sender=gov)

    module = gov.deploy(project.RebalanceModule, system.registry)
    other = gov.deploy(project.RWAVault, system.asset, system.registry, module, "O", "O", gov)
    foreign = gov.deploy(
        project.TokenizedRWASleeve, other, system.sleeve("tbill").issuer, system.router
    )
    with ape.reverts(vault.InvalidSleeve, sleeve=foreign.address):
        vault.addSleeve(foreign, "tbill", sender=gov)

    tbill = system.sleeve("tbill").sleeve
    with ape.reverts(vault.SleeveAlreadyAdded, sleeve=tbill.address):
        vault.addSleeve(tbill, "tbill2", sender=gov)

    fresh = new_sleeve(project, system)
    with ape.reverts(vault.SleeveCapUndefined):  # no cap defined: refused
        vault.addSleeve(fresh, "realestate", sender=gov)
    with unauthorized(vault, system.guardian, vault.GOVERNANCE_ROLE()):
        vault.addSleeve(fresh, "tbill", sender=system.guardian)
    assert vault.sleeveCount() == 3


def test_add_sleeve_refuses_a_name_another_sleeve_holds(project, system):
    """A name is a cap key (`vault.maxSleeveBps.<name>`): a second sleeve under "tbill" would be
    bounded by T-bills' cap on its own, doubling the exposure the DAO allowed."""
    vault, gov = system.vault, system.governance
    fresh = new_sleeve(project, system)
    with ape.reverts(vault.DuplicateSleeveName, name="tbill"):
        vault.addSleeve(fresh, "tbill", sender=gov)
    assert vault.sleeveCount() == 3
    # The name is free again once its sleeve is removed.
    vault.removeSleeve(system.sleeve("tbill").sleeve, sender=gov)
    vault.addSleeve(fresh, "tbill", sender=gov)
    assert config(vault, 2) == (fresh.address, "tbill", cap_key("tbill"))


def test_sleeve_without_a_cap_reverts_sleeve_cap_undefined(project, system):
    vault = system.vault
    with ape.reverts(vault.SleeveCapUndefined, capKey=cap_key("realestate")):
        vault.addSleeve(new_sleeve(project, system), "realestate", sender=system.governance)


def test_added_sleeve_joins_rebalances_and_the_withdraw_queue(project, system, alice):
    vault, gov = system.vault, system.governance
    fresh = new_sleeve(project, system, issuer_of="invoices")
    system.registry.defineParameter(
        "vault.maxSleeveBps.realestate", 1_500, 0, 10_000, 0, 0, sender=gov
    )
    tx = vault.addSleeve(fresh, "realestate", sender=gov)
    ev = only_event(tx, vault.SleeveAdded)
    assert (ev["index"], ev["sleeve"], ev["name"]) == (3, fresh.address, "realestate")
    assert config(vault, 3) == (fresh.address, "realestate", cap_key("realestate"))
    assert list(vault.withdrawQueue()) == [0, 1, 2, 3]

    system.deposit(alice, NAV)
    with ape.reverts(vault.LengthMismatch, expected=4, given=3):
        system.rebalance(TARGETS)
    with ape.reverts(vault.SleeveCapExceeded, index=3, targetBps=1_501, capBps=1_500):
        system.rebalance([0, 0, 0, 1_501])
    system.rebalance([0, 0, 0, 1_500])
    assert list(vault.currentBps()) == [0, 0, 0, 1_500]
    assert fresh.totalAssets() == NAV * 1_500 // 10_000


def test_at_most_ten_sleeves(project, system):
    local = replace(system, sleeves=list(system.sleeves))  # keep the module's list intact
    for i in range(7):
        add_sleeve(project, local, SleeveSpec(f"extra{i}", cap_bps=1_000))
    assert system.vault.sleeveCount() == 10 == system.vault.MAX_SLEEVES()
    with ape.reverts(system.vault.TooManySleeves, max=10):
        add_sleeve(project, local, SleeveSpec("eleventh", cap_bps=1_000))


def test_remove_sleeve_only_when_empty(funded, chain):
    vault, gov, gold = funded.vault, funded.governance, funded.sleeve("gold").sleeve
    with ape.reverts(vault.SleeveNotEmpty, sleeve=gold.address, assets=gold.totalAssets()):
        vault.removeSleeve(gold, sender=gov)
    with unauthorized(vault, funded.guardian, vault.GOVERNANCE_ROLE()):
        vault.removeSleeve(gold, sender=funded.guardian)

    chain.pending_timestamp = vault.nextRebalanceAt()
    funded.rebalance([3_000, 0, 1_000])  # empties gold
    assert gold.totalAssets() == 0
    before = vault.decisionCount() - 1
    three = list(vault.decision(before).sleeves)
    vault.setWithdrawQueue([2, 1, 0], sender=gov)
    total = vault.totalAssets()
    tx = vault.removeSleeve(gold, sender=gov)
    assert only_event(tx, vault.SleeveRemoved) == {"sleeve": gold.address}
    assert list(only_event(tx, vault.WithdrawQueueSet)["order"]) == [1, 0]  # invoices, tbill
    assert vault.totalAssets() == total

    # invoices shifted from index 2 to 1, with its own cap.
    assert vault.sleeveCount() == 2 and list(vault.withdrawQueue()) == [1, 0]
    invoices = funded.sleeve("invoices").sleeve
    assert config(vault, 1) == (invoices.address, "invoices", cap_key("invoices"))
    chain.pending_timestamp = vault.nextRebalanceAt()
    with ape.reverts(vault.SleeveCapExceeded, index=1, targetBps=3_001, capBps=3_000):
        funded.rebalance([0, 3_001])
    # A decision keeps the sleeves it was taken over; the next one is over the two left.
    assert three == [funded.sleeve(n).sleeve.address for n in ("tbill", "gold", "invoices")]
    assert list(vault.decision(before).sleeves) == three
    funded.rebalance([2_000, 1_000])  # (the weights now, [3_000, 1_000], would move nothing)
    after = vault.decision(vault.decisionCount() - 1)
    assert list(after.sleeves) == [funded.sleeve("tbill").sleeve.address, invoices.address]
    assert len(after.oldBps) == len(after.newBps) == len(after.startIndex) == 2
    with ape.reverts(vault.UnknownSleeve, sleeve=gold.address):
        vault.removeSleeve(gold, sender=gov)


def test_removing_a_sleeve_keeps_the_governance_withdraw_queue_order(funded, chain, alice, bob):
    """The DAO's order (invoices first, T-bills last) outlives a removal: the removed index
    leaves the queue and the later ones follow their sleeves down; it used to reset to index
    order, T-bills first."""
    vault, gov, gold = funded.vault, funded.governance, funded.sleeve("gold").sleeve
    chain.pending_timestamp = vault.nextRebalanceAt()
    funded.rebalance([3_000, 0, 1_000])  # empties gold: tbill 600k, invoices 200k, idle 1.2M
    vault.setWithdrawQueue([2, 1, 0], sender=gov)  # invoices, gold, tbill
    tx = vault.removeSleeve(gold, sender=gov)  # invoices 2 -> 1
    assert list(only_event(tx, vault.WithdrawQueueSet)["order"]) == [1, 0]
    assert list(vault.withdrawQueue()) == [1, 0]
    assert vault.sleeveAt(1).sleeve == funded.sleeve("invoices").sleeve.address

    # Strikes still draw on invoices before T-bills: 1.3M against 1.2M idle takes 100k from
    # invoices and none from T-bills.
    before = units(funded)
    funded.redeem(alice, 1_000_000 * 10**18)
    funded.redeem(bob, 300_000 * 10**18)
    assert funded.asset.balanceOf(bob) == 300_000 * USDC
    after = units(funded)
    assert after["invoices"] < before["invoices"]
    assert after["tbill"] == before["tbill"]


def test_removal_keeps_the_index_book_consistent(system):
    vault, gov = system.vault, system.governance
    tbill, gold, invoices = (s.sleeve for s in system.sleeves)
    vault.removeSleeve(tbill, sender=gov)  # gold -> 0, invoices -> 1
    vault.removeSleeve(invoices, sender=gov)  # found at its new index
    assert vault.sleeveCount() == 1 and vault.sleeveAt(0).sleeve == gold.address
    tx = vault.addSleeve(tbill, "tbill", sender=gov)  # a removed sleeve may come back
    assert only_event(tx, vault.SleeveAdded)["index"] == 1
    assert list(vault.withdrawQueue()) == [0, 1]


def test_withdraw_queue_must_be_a_permutation(system):
    vault, gov = system.vault, system.governance
    tx = vault.setWithdrawQueue([2, 0, 1], sender=gov)
    assert list(only_event(tx, vault.WithdrawQueueSet)["order"]) == [2, 0, 1]
    assert list(vault.withdrawQueue()) == [2, 0, 1]
    for bad in ([0, 0, 1], [0, 1], [0, 1, 2, 0], [0, 1, 3], [], [2, 1, 255]):
        with ape.reverts(vault.InvalidWithdrawQueue):
            vault.setWithdrawQueue(bad, sender=gov)
    with unauthorized(vault, system.guardian, vault.GOVERNANCE_ROLE()):
        vault.setWithdrawQueue([0, 1, 2], sender=system.guardian)
    assert list(vault.withdrawQueue()) == [2, 0, 1]


def test_strikes_draw_on_sleeves_in_queue_order(funded, alice, bob):
    vault = funded.vault
    vault.setWithdrawQueue([2, 0, 1], sender=funded.governance)
    before = units(funded)
    # Idle holds 800k; 900k (a share is worth 1e-12 USDC) takes 100k from invoices (index 2)
    # and nothing else.
    funded.redeem(alice, 900_000 * 10**18)
    assert funded.asset.balanceOf(alice) == 900_000 * USDC
    after = units(funded)
    assert after["invoices"] < before["invoices"]
    assert (after["tbill"], after["gold"]) == (before["tbill"], before["gold"])
    # Bob takes 150k from an empty idle: invoices' last 100k, then 50k from tbill, no gold.
    funded.redeem(bob, 150_000 * 10**18)
    assert funded.asset.balanceOf(bob) == 150_000 * USDC
    final = units(funded)
    assert final["invoices"] == 0
    assert before["tbill"] - final["tbill"] == 50_000 * 10**18
    assert final["gold"] == before["gold"]
