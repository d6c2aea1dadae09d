"""RWAVault's ERC-7540 request lifecycle: pending → claimable → claimed, settled at NAV strikes.

Three RWA sleeves (tbill, gold, invoices) on mock feeds. A request settles at the first strike
whose every sleeve price was published after it; the helpers in tests/vault_support.py publish a
new round of every feed one second later (`publish_prices`) before they strike.
"""

from __future__ import annotations

from types import SimpleNamespace

import ape
import pytest
from eth_utils import keccak

from tests.invariants.agent_machine_support import Raw, rpc
from tests.vault_support import (
    DAY,
    NO_EPOCH,
    USDC,
    WINDOW,
    deploy_vault_system,
    isolated,
    next_window,
    settled,
)  # fmt: skip

OFFSET = 10**12  # virtual shares: 10 ** (18 - 6)
GAS = 1_000_000  # a request's or a cancel's limit when sent raw


@pytest.fixture(scope="module")
def people(accounts):
    """alice and bob deposit; carol is an operator or a stranger; keeper strikes."""
    return accounts[6], accounts[7], accounts[8], accounts[3]


@pytest.fixture(scope="module")
def system(project, accounts, people):
    alice, bob, _, _ = people
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    s.deposit(alice, 600_000 * USDC)
    s.deposit(bob, 400_000 * USDC)
    s.rebalance([5_000, 3_000, 1_500])  # 50,000 idle
    return s


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def test_a_deposit_request_is_pending_apart_until_a_strike_with_newer_prices(system, people):
    alice, _, _, keeper = people
    vault = system.vault
    nav = vault.totalAssets()
    system.fund(alice, 100_000 * USDC)
    tx = vault.requestDeposit(100_000 * USDC, alice, alice, sender=alice)
    assert tx.events.filter(vault.DepositRequest)[0].assets == 100_000 * USDC
    # Held apart: not in the NAV, not investable idle.
    assert vault.totalAssets() == nav
    assert vault.pendingDepositRequest(0, alice) == 100_000 * USDC
    assert vault.claimableDepositRequest(0, alice) == 0
    assert vault.pendingDeposits() == 100_000 * USDC
    # The request window is still open, and no price has been published since: nothing settles.
    with ape.reverts(vault.StrikeNotReady):
        vault.strike(sender=keeper)
    ok, _ = vault.strikeTrigger()
    assert not ok
    system.publish_prices()
    ok, data = vault.strikeTrigger()
    assert ok
    assert bytes(data) == keccak(text="strike()")[:4]  # the calldata a keeper sends
    strike = settled(vault.strike(sender=keeper), vault)
    assert strike["depositAssets"] == 100_000 * USDC
    assert vault.pendingDepositRequest(0, alice) == 0
    assert vault.claimableDepositRequest(0, alice) == 100_000 * USDC
    assert vault.totalAssets() == nav + 100_000 * USDC
    shares = vault.maxMint(alice)
    assert shares == strike["depositShares"]
    before = vault.balanceOf(alice)
    # Claim part by assets, the rest by shares: the last claim takes exactly what is left.
    got = vault.deposit(40_000 * USDC, alice, sender=alice).return_value
    assert got == shares * 40_000 // 100_000
    vault.mint(vault.maxMint(alice), alice, sender=alice)
    assert vault.balanceOf(alice) - before == shares
    assert vault.maxDeposit(alice) == vault.maxMint(alice) == 0


def test_a_redemption_is_filled_at_the_strike_and_claimed_by_the_controller(system, people):
    alice, _, carol, keeper = people
    vault = system.vault
    shares = vault.balanceOf(alice) // 3
    vault.requestRedeem(shares, alice, alice, sender=alice)
    assert vault.pendingRedeemRequest(0, alice) == shares
    assert vault.balanceOf(vault) >= shares  # escrowed
    price = (vault.totalAssets() + 1) / (vault.totalSupply() + OFFSET)
    system.strike(sender=keeper)
    assert vault.pendingRedeemRequest(0, alice) == 0
    assert vault.claimableRedeemRequest(0, alice) == shares
    owed = vault.maxWithdraw(alice)
    assert owed == pytest.approx(shares * price, abs=3)
    # Only the controller (or its operator) claims.
    with ape.reverts(vault.NotOperator):
        vault.redeem(shares, carol, alice, sender=carol)
    before = system.asset.balanceOf(carol)
    vault.redeem(shares, carol, alice, sender=alice)  # to any receiver
    assert system.asset.balanceOf(carol) - before == owed
    assert vault.claimableRedemptions() == 0


@pytest.mark.parametrize("side", ["redeem", "deposit"])
def test_a_part_claimed_beside_an_earlier_bucket_leaves_the_rest_claimable(system, people, side):
    """A controller whose earlier settled request sits in its claims bucket (it requested again in
    a later window) claims part of the later, wholly settled one: the bucket and the rest stay
    claimable, to the last unit the two parts' rounding allows."""
    alice, _, _, keeper = people
    vault = system.vault
    if side == "redeem":
        first, second = vault.balanceOf(alice) // 10, vault.balanceOf(alice) // 7
        vault.requestRedeem(first, alice, alice, sender=alice)
        system.strike(sender=keeper)
        vault.requestRedeem(second, alice, alice, sender=alice)  # moves the first to the bucket
        system.strike(sender=keeper)
        total = vault.maxRedeem(alice)
        assert total == first + second
        owed = vault.maxWithdraw(alice)
        part = vault.redeem(second // 3, alice, alice, sender=alice).return_value
        assert vault.maxRedeem(alice) == total - second // 3  # the bucket was not lost
        rest = vault.redeem(vault.maxRedeem(alice), alice, alice, sender=alice).return_value
        assert vault.maxRedeem(alice) == vault.maxWithdraw(alice) == 0
        assert owed - 1 <= part + rest <= owed  # nothing stranded but the part's rounding
    else:
        system.fund(alice, 300_000 * USDC)
        vault.requestDeposit(100_000 * USDC, alice, alice, sender=alice)
        system.strike(sender=keeper)
        vault.requestDeposit(200_000 * USDC, alice, alice, sender=alice)  # first to the bucket
        system.strike(sender=keeper)
        assert vault.maxDeposit(alice) == 300_000 * USDC
        shares = vault.maxMint(alice)
        held = vault.balanceOf(alice)
        vault.deposit(50_000 * USDC, alice, alice, sender=alice)
        assert vault.maxDeposit(alice) == 250_000 * USDC
        vault.mint(vault.maxMint(alice), alice, alice, sender=alice)
        assert vault.maxDeposit(alice) == vault.maxMint(alice) == 0
        assert shares - 1 <= vault.balanceOf(alice) - held <= shares


def test_an_operator_requests_claims_and_cancels_for_its_controller(system, people):
    alice, _, carol, _ = people
    vault = system.vault
    system.fund(alice, 10_000 * USDC)
    with ape.reverts(vault.NotOperator, owner=alice.address, caller=carol.address):
        vault.requestDeposit(10_000 * USDC, alice, alice, sender=carol)
    tx = vault.setOperator(carol, True, sender=alice)
    assert tx.events.filter(vault.OperatorSet)[0].approved
    assert vault.isOperator(alice, carol)
    vault.requestDeposit(10_000 * USDC, alice, alice, sender=carol)
    assert vault.cancelDepositRequest(alice, sender=carol).return_value == 10_000 * USDC
    vault.requestDeposit(10_000 * USDC, alice, alice, sender=carol)
    system.strike()
    vault.deposit(10_000 * USDC, carol, alice, sender=carol)
    assert vault.balanceOf(carol) > 0
    vault.setOperator(carol, False, sender=alice)
    with ape.reverts(vault.NotOperator):
        vault.cancelRedeemRequest(alice, sender=carol)
    # Without operator rights a redeem request needs an ERC-20 allowance over the shares.
    with ape.reverts(
        vault.ERC20InsufficientAllowance, spender=carol.address, allowance=0, needed=1
    ):
        vault.requestRedeem(1, alice, alice, sender=carol)


def test_bad_requests_and_claims_name_the_problem_and_move_nothing(system, people):
    alice, bob, carol, keeper = people
    vault = system.vault
    with ape.reverts(vault.ZeroAmount):
        vault.requestDeposit(0, alice, alice, sender=alice)
    with ape.reverts(vault.ZeroAmount):
        vault.requestRedeem(0, alice, alice, sender=alice)
    with ape.reverts(vault.NothingToStrike):
        vault.strike(sender=keeper)
    with ape.reverts(vault.NoPendingRequest, controller=alice.address):
        vault.cancelDepositRequest(alice, sender=alice)
    with ape.reverts(vault.NoPendingRequest, controller=alice.address):
        vault.cancelRedeemRequest(alice, sender=alice)
    system.fund(alice, 5_000 * USDC)
    vault.requestDeposit(5_000 * USDC, alice, alice, sender=alice)
    vault.requestRedeem(1_000 * 10**18, alice, alice, sender=alice)
    system.strike(sender=keeper)
    with ape.reverts(vault.NoPendingRequest):  # settled: nothing left to cancel
        vault.cancelDepositRequest(alice, sender=alice)
    claimable = vault.maxDeposit(alice)
    with ape.reverts(
        vault.ClaimExceeded, controller=alice.address, requested=claimable + 1, claimable=claimable
    ):
        vault.deposit(claimable + 1, alice, sender=alice)
    with ape.reverts(vault.ClaimExceeded):
        vault.redeem(vault.maxRedeem(alice) + 1, alice, alice, sender=alice)
    with ape.reverts(vault.ClaimExceeded):
        vault.deposit(1, bob, sender=bob)  # bob has nothing to claim
    # More shares than alice holds: the escrow transfer refuses, nothing moves.
    with ape.reverts():
        vault.requestRedeem(vault.balanceOf(alice) + 1, alice, alice, sender=alice)
    for fn in (vault.previewDeposit, vault.previewMint, vault.previewWithdraw, vault.previewRedeem):
        with ape.reverts(vault.PreviewUnavailable):
            fn(1)


def test_a_strike_before_the_max_wait_with_a_stale_sleeve_names_it(system, people, chain):
    alice, _, _, keeper = people
    vault = system.vault
    gold = system.sleeve("gold")
    vault.requestRedeem(10_000 * 10**18, alice, alice, sender=alice)
    cutoff = (chain.blocks.head.timestamp // WINDOW + 1) * WINDOW
    published = gold.feed.latestRoundData()[3]
    # Every feed but gold publishes after the cut-off; gold's last round is older.
    chain.pending_timestamp = cutoff + 60
    for s in system.sleeves:
        if s.name != "gold":
            s.feed.setAnswer(s.feed.latestAnswer(), sender=system.governance)
    wait = system.registry.get(keccak(text="vault.strikeMaxWait"))
    with ape.reverts(vault.StrikeNotReady, sleeve=gold.sleeve.address, publishedAt=published,
                     cutoff=cutoff, staleReadyAt=cutoff + wait):  # fmt: skip
        vault.strike(sender=keeper)


def test_a_request_cannot_be_cancelled_once_its_window_closed(system, people, chain):
    """The cut-off: from the window's end a published price may be the one that settles it."""
    alice, _, _, _ = people
    vault = system.vault
    system.fund(alice, 1_000 * USDC)
    vault.requestDeposit(1_000 * USDC, alice, alice, sender=alice)
    vault.requestRedeem(1_000 * 10**18, alice, alice, sender=alice)
    cutoff = next_window(chain)
    with ape.reverts(vault.RequestWindowClosed, controller=alice.address, closesAt=cutoff):
        vault.cancelDepositRequest(alice, sender=alice)
    with ape.reverts(vault.RequestWindowClosed, controller=alice.address, closesAt=cutoff):
        vault.cancelRedeemRequest(alice, sender=alice)


def test_a_later_request_never_delays_an_earlier_window(system, people, chain):
    """A griefer requesting 1 wei right after every price round cannot hold back a window
    whose cut-off has passed: windows settle independently."""
    alice, bob, _, keeper = people
    vault = system.vault
    system.fund(alice, 10_000 * USDC)
    system.fund(bob, 10 * USDC)
    vault.requestDeposit(10_000 * USDC, alice, alice, sender=alice)
    system.publish_prices()  # prices past alice's cut-off...
    vault.requestDeposit(1, bob, bob, sender=bob)  # ...and the griefer's dust right after
    strike = settled(vault.strike(sender=keeper), vault)
    assert strike["depositAssets"] == 10_000 * USDC
    assert vault.claimableDepositRequest(0, alice) == 10_000 * USDC
    assert vault.pendingDepositRequest(0, bob) == 1


def test_after_the_max_wait_redemptions_settle_with_the_stale_sleeve_at_a_haircut(
    system, people, chain
):
    alice, bob, _, keeper = people
    vault = system.vault
    gold = system.sleeve("gold")
    system.fund(bob, 1_000 * USDC)
    vault.requestDeposit(1_000 * USDC, bob, bob, sender=bob)
    shares = 10_000 * 10**18
    vault.requestRedeem(shares, alice, alice, sender=alice)
    cutoff = (chain.blocks.head.timestamp // WINDOW + 1) * WINDOW
    wait = system.registry.get(keccak(text="vault.strikeMaxWait"))
    haircut = system.registry.get(keccak(text="vault.staleHaircutBps"))
    chain.pending_timestamp = cutoff + wait
    # The others keep publishing; gold's feed has stopped (stale past oracle.maxStaleness too).
    for s in system.sleeves:
        if s.name != "gold":
            s.feed.setAnswer(s.feed.latestAnswer(), sender=system.governance)
    gold_value = gold.sleeve.totalAssets()
    low_nav = vault.totalAssets()
    supply = vault.totalSupply() + OFFSET
    strike = settled(vault.strike(sender=keeper), vault)
    assert strike["staleSleeves"] == 1 << 1  # gold
    assert strike["depositEpoch"] == NO_EPOCH  # the deposit waits for gold's price
    assert vault.pendingDepositRequest(0, bob) == 1_000 * USDC
    haircut_value = -(-gold_value * haircut // 10_000)
    expected = shares * (low_nav - haircut_value + 1) // supply
    assert vault.maxWithdraw(alice) == pytest.approx(expected, abs=2)
    assert vault.maxWithdraw(alice) < shares * (low_nav + 1) // supply


def test_redemptions_beyond_liquidity_queue_first_in_first_out_across_strikes(system, people):
    alice, bob, _, keeper = people
    vault = system.vault
    for s in system.sleeves:
        s.issuer.setFrozen(True, sender=system.governance)
    # 50,000 idle: alice's request (epoch e) takes it; bob's (epoch e+1) waits behind it.
    a_shares = 80_000 * 10**18
    vault.requestRedeem(a_shares, alice, alice, sender=alice)
    system.strike(sender=keeper)
    assert 0 < vault.claimableRedeemRequest(0, alice) < a_shares
    assert vault.pendingRedeemRequest(0, alice) == a_shares - vault.claimableRedeemRequest(0, alice)
    # A queued controller cannot add a request until its own is filled.
    with ape.reverts(vault.RedeemRequestQueued):
        vault.requestRedeem(1, alice, alice, sender=alice)
    b_shares = 10_000 * 10**18
    vault.requestRedeem(b_shares, bob, bob, sender=bob)
    with ape.reverts(vault.RequestWindowClosed):
        vault.cancelRedeemRequest(alice, sender=alice)
    system.strike(sender=keeper)
    assert vault.claimableRedeemRequest(0, bob) == 0  # no liquidity: bob waits behind alice
    # The tbill issuer reopens: the next strike fills alice first, then bob.
    system.sleeve("tbill").issuer.setFrozen(False, sender=system.governance)
    system.strike(sender=keeper)
    assert vault.pendingRedeemRequest(0, alice) == 0
    assert vault.claimableRedeemRequest(0, alice) == a_shares
    assert vault.claimableRedeemRequest(0, bob) == b_shares
    paid_alice = vault.redeem(a_shares, alice, alice, sender=alice).return_value
    assert paid_alice == pytest.approx(80_000 * USDC, rel=1e-6)
    # Filled and claimed: alice may request again.
    vault.requestRedeem(1_000 * 10**18, alice, alice, sender=alice)


def test_cancelling_a_pending_redemption_returns_the_escrow(system, people):
    alice, _, _, _ = people
    vault = system.vault
    held = vault.balanceOf(alice)
    vault.requestRedeem(held // 2, alice, alice, sender=alice)
    assert vault.balanceOf(alice) == held - held // 2
    tx = vault.cancelRedeemRequest(alice, sender=alice)
    assert tx.events.filter(vault.RedeemRequestCancelled)[0].shares == held // 2
    assert vault.balanceOf(alice) == held
    assert vault.pendingRedemptions() == 0
    with ape.reverts(vault.NothingToStrike):
        vault.strike(sender=alice)


def test_an_erc20_spender_of_the_shares_may_request_a_redemption(system, people):
    alice, _, carol, _ = people
    vault = system.vault
    vault.approve(carol, 1_000 * 10**18, sender=alice)
    vault.requestRedeem(1_000 * 10**18, carol, alice, sender=carol)
    assert vault.pendingRedeemRequest(0, carol) == 1_000 * 10**18
    assert vault.allowance(alice, carol) == 0


def test_the_deposit_cap_counts_pending_requests(system, people):
    alice, bob, _, _ = people
    vault = system.vault
    system.strike() if vault.pendingDeposits() else None
    nav_at_strike = vault.totalAssets()
    system.set_param("vault.depositCap", nav_at_strike + 10_000 * USDC)
    system.fund(alice, 10_000 * USDC)
    system.fund(bob, 1 * USDC)
    vault.requestDeposit(10_000 * USDC, alice, alice, sender=alice)
    with ape.reverts(vault.DepositCapExceeded, assets=1 * USDC, room=0):
        vault.requestDeposit(1 * USDC, bob, bob, sender=bob)


def test_requests_stop_after_shutdown_but_pending_deposits_can_be_cancelled(system, people):
    alice, _, _, _ = people
    vault = system.vault
    system.fund(alice, 2_000 * USDC)
    vault.requestDeposit(1_000 * USDC, alice, alice, sender=alice)
    vault.shutdown(sender=system.guardian)
    with ape.reverts(vault.VaultIsShutdown):
        vault.requestDeposit(1_000 * USDC, alice, alice, sender=alice)
    before = system.asset.balanceOf(alice)
    vault.cancelDepositRequest(alice, sender=alice)
    assert system.asset.balanceOf(alice) - before == 1_000 * USDC
    # Exits go on: request, strike, claim.
    receipt = system.redeem(alice, 1_000 * 10**18)
    assert receipt is not None


def test_supports_erc165_for_erc7540_and_erc7575(system):
    """ERC-165 for the 7540 operator, async deposit and redeem, 7575 vault and share (the
    share's `vault(asset)` lookup, the share being the vault), ERC-165 itself; 7575's lookups
    both ways, and the `VaultUpdate` the share emitted when the vault was deployed."""
    vault = system.vault
    interfaces = (
        "0xe3bc4e65",
        "0xce3bbe50",
        "0x620ee8e4",
        "0x2f0a18c5",
        "0xf815c03d",
        "0x01ffc9a7",
    )
    for interface in interfaces:
        assert vault.supportsInterface(interface), interface
    assert not vault.supportsInterface("0xffffffff")
    assert vault.share() == vault.address
    assert vault.vault(system.asset) == vault.address
    assert vault.vault(system.registry) == "0x" + "0" * 40  # not an asset of this vault
    (update,) = vault.VaultUpdate.range(0, ape.chain.blocks.head.number + 1)
    assert (update.asset, update.vault) == (system.asset.address, vault.address)


def test_pausing_automation_never_stops_requests_strikes_or_claims(system, people):
    alice, _, _, keeper = people
    vault = system.vault
    vault.pauseAutomation(sender=system.guardian)
    system.deposit(alice, 1_000 * USDC)
    assert system.redeem(alice, 500 * 10**18) is not None
    assert vault.automationPaused()


def test_exits_never_wait_for_a_keeper_the_depositor_strikes_itself(system, people, chain):
    alice, _, _, _ = people
    vault = system.vault
    shares = 5_000 * 10**18
    vault.requestRedeem(shares, alice, alice, sender=alice)
    chain.pending_timestamp = chain.blocks.head.timestamp + DAY
    for s in system.sleeves:  # the feeds publish as usual, a day later
        s.feed.setAnswer(s.feed.latestAnswer(), sender=system.governance)
    vault.strike(sender=alice)
    assert vault.redeem(shares, alice, alice, sender=alice).return_value > 0


def test_strikes_walk_only_the_windows_that_had_requests(system, people, chain):
    """Windows with requests form a queue: a strike a day and a half after the first request
    visits three windows, not thirty-six hours; a window whose every request was cancelled is
    dropped on the way; once the queue is empty the next request starts it again."""
    alice, bob, carol, keeper = people
    vault = system.vault
    for who in (alice, bob, carol):
        system.fund(who, 100_000 * USDC)
    first = next_window(chain) // WINDOW
    vault.requestDeposit(10_000 * USDC, alice, alice, sender=alice)
    assert vault.requestWindows()[1] == first  # the queue's head: the oldest window waiting
    chain.pending_timestamp = (first + 30) * WINDOW
    vault.requestDeposit(20_000 * USDC, bob, bob, sender=bob)
    chain.pending_timestamp = (first + 35) * WINDOW
    vault.requestDeposit(5_000 * USDC, carol, carol, sender=carol)
    vault.cancelDepositRequest(carol, sender=carol)  # its window keeps no deposit
    system.publish_prices()
    strike = settled(vault.strike(sender=keeper), vault)
    assert strike["depositAssets"] == 30_000 * USDC
    assert strike["depositEpoch"] == first + 30  # the newest window that had deposits
    _, head, _ = vault.requestWindows()
    assert head == first + 36  # past the dropped window: every window below it is settled
    assert vault.pendingDeposits() == 0
    # The queue starts again at the next request's window.
    later = next_window(chain) // WINDOW + 2
    chain.pending_timestamp = later * WINDOW
    vault.requestDeposit(1_000 * USDC, carol, carol, sender=carol)
    assert vault.requestWindows()[1] == later
    system.publish_prices()
    assert settled(vault.strike(sender=keeper), vault)["depositAssets"] == 1_000 * USDC


def test_a_strike_settles_at_most_max_windows_and_the_next_one_goes_on(system, people, chain):
    """A griefer requesting dust in every hour cannot make a strike too long for a block: one
    strike settles the oldest 256 windows (VaultStorage.MAX_WINDOWS), the next goes on."""
    alice, _, _, keeper = people
    vault = system.vault
    system.fund(alice, 1_000 * USDC)
    windows = 257
    raw = Raw(vault)  # one RPC round trip a request instead of Ape's dozen
    # A controller of its own per window (none may wait twice), each the griefer's: it approves
    # alice as its operator (a request for another controller needs its consent).
    controllers = [f"0x{i + 1:040x}" for i in range(windows)]
    rpc("anvil_autoImpersonateAccount", [True])
    try:
        for controller in controllers:
            rpc("anvil_setBalance", [controller, hex(10**18)])
            raw.send("setOperator", alice, True, sender=SimpleNamespace(address=controller))
    finally:
        rpc("anvil_autoImpersonateAccount", [False])
    first = next_window(chain) // WINDOW
    for i, controller in enumerate(controllers):
        rpc("evm_setNextBlockTimestamp", [(first + i) * WINDOW])
        raw.send("requestDeposit", 1, controller, alice, sender=alice, gas=GAS)
    system.publish_prices()
    one = settled(vault.strike(sender=keeper), vault)
    assert (one["depositAssets"], one["depositEpoch"]) == (256, first + 255)
    assert vault.pendingDeposits() == 1
    assert vault.requestWindows()[1] == first + 256
    two = settled(vault.strike(sender=keeper), vault)
    assert (two["depositAssets"], two["depositEpoch"]) == (1, first + 256)
    assert vault.pendingDeposits() == 0
    assert vault.claimableDepositRequest(0, f"0x{windows:040x}") == 1


@pytest.mark.parametrize("kind", ["deposit", "redeem"])
def test_cancelled_windows_cannot_wall_off_a_real_request(system, people, chain, kind):
    """A griefer requests 1 wei and cancels it in each of 260 hourly windows, more windows than
    a strike walks: a window whose requests were all cancelled is replaced by the next one with a
    request (it never piles up in the queue), and a real request behind them settles at once."""
    alice, bob, _, keeper = people
    vault = system.vault
    system.fund(alice, 1_000 * USDC)
    system.fund(bob, 10_000 * USDC)
    first = next_window(chain) // WINDOW
    raw = Raw(vault)  # 520 transactions: one RPC round trip each instead of Ape's dozen
    request, cancel = f"request{kind.capitalize()}", f"cancel{kind.capitalize()}Request"
    for i in range(260):
        # (an explicit gas limit: anvil estimates at its own clock, in another window)
        rpc("evm_setNextBlockTimestamp", [(first + i) * WINDOW])
        raw.send(request, 1, alice, alice, sender=alice, gas=GAS)
        rpc("evm_setNextBlockTimestamp", [(first + i) * WINDOW + 1])  # the same window
        raw.send(cancel, alice, sender=alice, gas=GAS)
    chain.pending_timestamp = (first + 260) * WINDOW
    if kind == "deposit":
        vault.requestDeposit(10_000 * USDC, bob, bob, sender=bob)
        assert vault.requestWindows()[1] == first + 260  # the queue holds bob's window only
    else:
        shares = vault.convertToShares(10_000 * USDC)
        vault.requestRedeem(shares, bob, bob, sender=bob)
        assert vault.requestWindows()[2] == first + 260
    system.publish_prices()
    strike = settled(vault.strike(sender=keeper), vault)
    if kind == "deposit":
        assert strike["depositAssets"] == 10_000 * USDC
        assert vault.claimableDepositRequest(0, bob) == 10_000 * USDC
    else:
        assert strike["redeemShares"] == shares
        assert vault.claimableRedeemRequest(0, bob) == shares
