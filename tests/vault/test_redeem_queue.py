"""RWAVault's redemption queue while the RWA sleeves cannot pay out at once.

1,000,000 mUSDC: 5% idle, the rest in the tbill, gold and invoices sleeves; tests freeze issuers
or cap their daily redemptions (governance owns them) and check withdrawals beyond liquidity,
requestRedeem's escrow, FIFO processing at the share price of the moment, cancellation, the keeper
trigger, and (hypothesis) that random sequences of all of these keep the books.

Pricing is exact: an exit or a batch is priced at the book (T, S) before it; a pull from the
sleeves may lower the valuation by `loss` (T - totalAssets() - paid, at most 1 wei per sleeve),
which the leaver (a batch: its first payments) bears, so the exact value of a share that stays,
(totalAssets + 1) / (totalSupply + 10**12), never falls.
"""

from __future__ import annotations

from fractions import Fraction

import ape
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.vault_support import DAY, FEED_UNIT, USDC, deploy_vault_system, isolated

TBILL_TOKEN = 10**18  # one whole tbill token, worth 1 mUSDC
INVOICE_TOKEN = 10**6  # one whole invoices token (6 decimals)
OFFSET = 10**12  # virtual shares: 10 ** (18 - 6)


@pytest.fixture(scope="module")
def people(accounts):
    """alice, bob, carol deposit; dave only receives; keeper only processes."""
    return accounts[6], accounts[7], accounts[8], accounts[9], accounts[3]


@pytest.fixture(scope="module")
def system(project, accounts, people):
    alice, bob, carol, _, _ = people
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    s.deposit(alice, 500_000 * USDC)
    s.deposit(bob, 400_000 * USDC)
    s.deposit(carol, 100_000 * USDC)
    s.rebalance([5_000, 3_000, 1_500])  # 50,000 mUSDC stay idle
    return s


def freeze(system, *names):
    for name in names:
        system.sleeve(name).issuer.setFrozen(True, sender=system.governance)


def limit_tbill(system, whole_tokens):
    system.sleeve("tbill").issuer.setDailyRedeemLimit(
        whole_tokens * TBILL_TOKEN, sender=system.governance
    )


def next_utc_day(system, chain):
    """Move to the next UTC day (issuers' daily limits reset) and keep every feed fresh."""
    chain.pending_timestamp = (chain.pending_timestamp // DAY + 1) * DAY + 3_600
    for s in system.sleeves:
        s.feed.setAnswer(s.feed.latestAnswer(), sender=system.governance)


def worth(system, usdc):
    """Shares worth `usdc` now (rounded down)."""
    return system.vault.convertToShares(usdc)


def share_price(vault) -> Fraction:
    """Exact assets per share unit: (totalAssets + 1) / (totalSupply + 10**12)."""
    return Fraction(vault.totalAssets() + 1, vault.totalSupply() + OFFSET)


def rounding_invoices(system):
    """Invoices at a NAV of 1.0001: with its 150,000,000,000 units, a pull of r units (r not a
    multiple of 10,000) lowers the sleeve's valuation 1 wei more than it pays."""
    feed = system.sleeve("invoices").feed
    feed.setAnswer(feed.latestAnswer() * 10_001 // 10_000, sender=system.governance)


def batch_payments(logs, total, supply, loss) -> list[int]:
    """What each RedeemProcessed of one batch must show: its shares' value at the book (T, S)
    before the batch, the pull's `loss` taken from the first payments."""
    expected = []
    for log in logs:
        gross = log.shares * (total + 1) // (supply + OFFSET)
        charge = min(loss, gross)
        loss -= charge
        expected.append(gross - charge)
    return expected


def processed_logs(system, receipt):
    return list(receipt.events.filter(system.vault.RedeemProcessed))


# ------------------------------------------------------------------ illiquid withdrawals


@pytest.mark.parametrize("exit_by", ["withdraw", "redeem"])
def test_max_withdraw_and_max_redeem_are_the_reachable_liquidity(system, people, exit_by):
    alice, bob, carol, dave, _ = people
    vault = system.vault
    freeze(system, "gold", "invoices")
    limit_tbill(system, 100_000)
    reachable = 150_000 * USDC  # idle + one day of tbill redemptions
    assert vault.liquidity() == reachable
    assert vault.maxWithdraw(alice) == reachable
    assert vault.maxRedeem(alice) == worth(system, reachable)
    # carol owns less than what is reachable but more than idle: her exit is priced after its
    # pull, so maxWithdraw assumes the pull's worst rounding (1 wei per sleeve in the queue)
    assert vault.maxRedeem(carol) == vault.balanceOf(carol)
    owned = vault.convertToAssets(vault.balanceOf(carol))
    assert vault.idle() < owned < reachable
    assert vault.maxWithdraw(carol) == owned - len(vault.withdrawQueue())

    # taking the maximum works at the book before it, the leaver bearing the pull's rounding
    # (`loss`), never costs those who stay, and leaves nothing (but rounding dust) reachable
    total, supply, price = vault.totalAssets(), vault.totalSupply(), share_price(vault)
    held = vault.balanceOf(alice)
    if exit_by == "withdraw":
        most = vault.maxWithdraw(alice)
        preview = vault.previewWithdraw(most)
        burned = vault.withdraw(most, dave, alice, sender=alice).return_value
        loss = total - vault.totalAssets() - most
        assert system.asset.balanceOf(dave) == reachable
        assert burned == held - vault.balanceOf(alice) <= preview
        assert burned == -(-(most + loss) * (supply + OFFSET) // (total + 1))
    else:
        shares = vault.maxRedeem(alice)
        value, preview = vault.convertToAssets(shares), vault.previewRedeem(shares)
        assert reachable - 1 <= value <= reachable
        assert preview == value - len(vault.withdrawQueue())
        vault.redeem(shares, dave, alice, sender=alice)
        loss = total - vault.totalAssets() - system.asset.balanceOf(dave)
        assert preview <= system.asset.balanceOf(dave) == value - loss
    assert 0 <= loss <= len(vault.withdrawQueue())
    assert share_price(vault) >= price
    left = reachable - system.asset.balanceOf(dave)
    assert vault.liquidity() == vault.maxWithdraw(bob) == left


def test_withdraw_beyond_liquidity_reverts_naming_the_reachable_amount(system, people):
    alice, _, _, _, _ = people
    vault = system.vault
    freeze(system, "gold", "invoices")
    limit_tbill(system, 100_000)
    reachable = 150_000 * USDC
    with ape.reverts(vault.InsufficientLiquidity, requested=reachable + 1, available=reachable):
        vault.withdraw(reachable + 1, alice, alice, sender=alice)
    shares = vault.maxRedeem(alice) + worth(system, 1_000 * USDC)
    requested = vault.convertToAssets(shares)
    with ape.reverts(vault.InsufficientLiquidity, requested=requested, available=reachable):
        vault.redeem(shares, alice, alice, sender=alice)
    # more than alice owns is refused before any liquidity question
    owned = vault.convertToAssets(vault.balanceOf(alice))
    with ape.reverts(vault.ERC4626ExceededMaxWithdraw, owner=alice, assets=owned + 1, max=owned):
        vault.withdraw(owned + 1, alice, alice, sender=alice)
    # fully frozen: only idle is reachable
    freeze(system, "tbill")
    assert vault.maxWithdraw(alice) == vault.idle() == 50_000 * USDC
    with ape.reverts(vault.InsufficientLiquidity, requested=60_000 * USDC, available=50_000 * USDC):
        vault.withdraw(60_000 * USDC, alice, alice, sender=alice)


# ------------------------------------------------------------------ requestRedeem


def test_request_redeem_escrows_the_shares(system, people):
    alice, bob, _, dave, _ = people
    vault = system.vault
    freeze(system, "tbill", "gold", "invoices")
    before, supply = vault.balanceOf(alice), vault.totalSupply()
    shares = worth(system, 200_000 * USDC)
    receipt = vault.requestRedeem(shares, dave, sender=alice)
    assert receipt.return_value == 0
    assert vault.balanceOf(alice) == before - shares
    assert vault.balanceOf(vault) == shares
    assert vault.totalSupply() == supply
    assert vault.queuedShares() == shares
    requested = vault.RedeemRequested(requestId=0, owner=alice, receiver=dave, shares=shares)
    assert receipt.events.filter(vault.RedeemRequested) == [requested]
    request = vault.redeemRequest(0)
    assert (request.owner, request.receiver, request.shares) == (alice, dave, shares)
    receipt = vault.requestRedeem(1_000, bob, sender=bob)
    assert receipt.return_value == 1
    assert tuple(vault.redeemQueueBounds()) == (0, 2)
    assert vault.queuedShares() == vault.balanceOf(vault) == shares + 1_000


def test_request_redeem_rejects_zero_shares_zero_receiver_and_overdraft(system, people):
    alice, _, _, dave, _ = people
    vault = system.vault
    with ape.reverts(vault.ZeroAmount):
        vault.requestRedeem(0, dave, sender=alice)
    with ape.reverts(vault.ZeroAddress):
        vault.requestRedeem(1_000, ape.utils.ZERO_ADDRESS, sender=alice)
    held = vault.balanceOf(alice)
    with ape.reverts(vault.ERC20InsufficientBalance, sender=alice, balance=held, needed=held + 1):
        vault.requestRedeem(held + 1, dave, sender=alice)
    assert vault.queuedShares() == 0 and tuple(vault.redeemQueueBounds()) == (0, 0)


def test_escrowed_shares_cannot_be_moved_by_anyone(system, people):
    alice, bob, _, _, _ = people
    vault = system.vault
    shares = vault.balanceOf(alice)
    vault.requestRedeem(shares, alice, sender=alice)
    with ape.reverts(vault.ERC20InsufficientBalance):
        vault.transfer(bob, 1, sender=alice)
    with ape.reverts(vault.ERC20InsufficientAllowance):
        vault.transferFrom(vault, bob, 1, sender=bob)
    # nor through the vault's own ERC-4626 functions with the vault as owner
    with ape.reverts(vault.ERC20InsufficientAllowance, spender=bob, allowance=0, needed=shares):
        vault.redeem(shares, bob, vault, sender=bob)
    needed = vault.previewWithdraw(1_000 * USDC)
    with ape.reverts(vault.ERC20InsufficientAllowance, spender=alice, allowance=0, needed=needed):
        vault.withdraw(1_000 * USDC, alice, vault, sender=alice)
    assert vault.balanceOf(vault) == vault.queuedShares() == shares


# ------------------------------------------------------------------ processRedeemQueue


def test_queue_is_paid_first_in_first_out_as_daily_limits_reset(system, people, chain):
    alice, bob, _, dave, keeper = people
    vault, asset = system.vault, system.asset
    freeze(system, "gold", "invoices")
    limit_tbill(system, 100_000)
    first, second = worth(system, 200_000 * USDC), worth(system, 100_000 * USDC)
    vault.requestRedeem(first, alice, sender=alice)
    vault.requestRedeem(second, dave, sender=bob)
    alice_usdc, supply = asset.balanceOf(alice), vault.totalSupply()

    # day 1: 150,000 reachable, all of it to the head; bob's request waits
    receipt = vault.processRedeemQueue(10, sender=keeper)
    (log,) = processed_logs(system, receipt)
    assert (log.requestId, log.receiver, log.shares + log.sharesLeft) == (0, alice, first)
    assert log.sharesLeft > 0
    assert 150_000 * USDC - 1 <= log.assets <= 150_000 * USDC
    assert receipt.return_value == (0, log.assets)
    # ERC-4626 Withdraw(sender, receiver, owner, assets, shares): the vault is the owner
    withdraw = vault.Withdraw(vault, alice, vault, log.assets, log.shares)
    assert receipt.events.filter(vault.Withdraw) == [withdraw]
    assert asset.balanceOf(alice) == alice_usdc + log.assets
    assert asset.balanceOf(dave) == 0
    assert vault.totalSupply() == supply - log.shares
    assert vault.queuedShares() == vault.balanceOf(vault) == first + second - log.shares
    assert tuple(vault.redeemQueueBounds()) == (0, 2)
    assert vault.redeemRequest(0).shares == log.sharesLeft
    # nothing reachable until the limit resets: a second call pays nothing
    assert processed_logs(system, vault.processRedeemQueue(10, sender=keeper)) == []

    # day 2: alice's rest first, then bob partly
    next_utc_day(system, chain)
    receipt = vault.processRedeemQueue(10, sender=keeper)
    rest, partial = processed_logs(system, receipt)
    assert (rest.requestId, rest.sharesLeft) == (0, 0)
    assert (partial.requestId, partial.receiver, partial.shares + partial.sharesLeft) == (
        1,
        dave,
        second,
    )
    assert partial.sharesLeft > 0
    assert receipt.return_value == (1, rest.assets + partial.assets)
    assert log.assets + rest.assets <= 200_000 * USDC
    assert tuple(vault.redeemQueueBounds()) == (1, 2)

    # day 3: bob's request completes and the queue is empty
    next_utc_day(system, chain)
    (last,) = processed_logs(system, vault.processRedeemQueue(10, sender=keeper))
    assert (last.requestId, last.sharesLeft) == (1, 0)
    assert 100_000 * USDC - 2 <= asset.balanceOf(dave) == partial.assets + last.assets
    assert tuple(vault.redeemQueueBounds()) == (2, 2)
    assert vault.queuedShares() == vault.balanceOf(vault) == 0


def test_max_requests_bounds_processing_and_anyone_may_call(system, people):
    alice, bob, carol, dave, keeper = people
    vault, asset = system.vault, system.asset
    freeze(system, "tbill", "gold", "invoices")  # idle (50,000) covers all four
    for owner in (alice, bob, carol, bob):
        vault.requestRedeem(worth(system, 10_000 * USDC), dave, sender=owner)
    assert vault.processRedeemQueue(0, sender=keeper).return_value == (0, 0)
    vault.cancelRedeemRequest(1, sender=bob)
    receipt = vault.processRedeemQueue(3, sender=keeper)  # ids 0..2: 1 is skipped
    assert [log.requestId for log in processed_logs(system, receipt)] == [0, 2]
    processed, assets_paid = receipt.return_value
    assert assets_paid == asset.balanceOf(dave)
    assert processed == 2, "processed counts requests fully paid, not the cancelled one"
    assert tuple(vault.redeemQueueBounds()) == (3, 4) and vault.redeemRequest(3).shares > 0
    with ape.reverts(vault.UnknownRequest, requestId=2):  # paid
        vault.cancelRedeemRequest(2, sender=carol)
    receipt = vault.processRedeemQueue(5, sender=keeper)
    assert [log.requestId for log in processed_logs(system, receipt)] == [3]
    assert tuple(vault.redeemQueueBounds()) == (4, 4) and vault.queuedShares() == 0


@pytest.mark.parametrize("gold_nav", [2_200, 1_800], ids=["nav-up", "nav-down"])
def test_requests_are_paid_at_the_share_price_of_processing(system, people, gold_nav):
    alice, bob, _, dave, keeper = people
    vault = system.vault
    freeze(system, "tbill", "gold", "invoices")
    shares = worth(system, 40_000 * USDC)
    vault.requestRedeem(shares, dave, sender=alice)
    at_request = vault.convertToAssets(shares)
    system.sleeve("gold").feed.setAnswer(gold_nav * FEED_UNIT, sender=system.governance)
    at_processing = vault.convertToAssets(shares)
    bob_before = vault.convertToAssets(vault.balanceOf(bob))

    (log,) = processed_logs(system, vault.processRedeemQueue(1, sender=keeper))
    assert log.assets == at_processing == system.asset.balanceOf(dave)
    # gold is 30% of the vault: a ±10% NAV move is ±3% on every share
    expected = at_request * (1_000_000 + 150 * (gold_nav - 2_000)) // 1_000_000
    assert abs(log.assets - expected) <= 1
    # the requester took no more than the shares were worth: bob's position is not diluted
    assert vault.convertToAssets(vault.balanceOf(bob)) >= bob_before


def test_a_batch_charges_its_pull_rounding_to_its_first_payment(system, people):
    alice, bob, _, dave, keeper = people
    vault, asset = system.vault, system.asset
    freeze(system, "tbill", "gold")  # invoices pays what idle (50,000) cannot
    rounding_invoices(system)
    vault.requestRedeem(worth(system, 40_000 * USDC), alice, sender=alice)
    vault.requestRedeem(worth(system, 30_000 * USDC + 7), dave, sender=bob)
    total, supply, price = vault.totalAssets(), vault.totalSupply(), share_price(vault)
    cash = asset.balanceOf(alice), asset.balanceOf(dave)

    receipt = vault.processRedeemQueue(2, sender=keeper)
    first, second = logs = processed_logs(system, receipt)
    paid = first.assets + second.assets
    loss = total - vault.totalAssets() - paid
    assert loss == 1  # the pull lost 1 wei of valuation: the first payment bears it
    gross = batch_payments(logs, total, supply, 0)
    assert [first.assets, second.assets] == [gross[0] - 1, gross[1]]
    assert (first.sharesLeft, second.sharesLeft) == (0, 0)
    assert (asset.balanceOf(alice), asset.balanceOf(dave)) == (
        cash[0] + first.assets,
        cash[1] + second.assets,
    )
    withdrawals = receipt.events.filter(vault.Withdraw)
    assert [(w.assets, w.shares) for w in withdrawals] == [(g.assets, g.shares) for g in logs]
    assert receipt.return_value == (2, paid)
    assert share_price(vault) >= price  # those who stay never lose


def one_rounding_wei_of_liquidity(system, carol):
    """Idle emptied (by carol, from idle: nothing pulled) and 1 wei reachable: the invoices
    issuer redeems one unit a day, whose pull lowers the valuation 2 wei and pays 1."""
    vault = system.vault
    freeze(system, "tbill", "gold")
    system.sleeve("invoices").issuer.setDailyRedeemLimit(1, sender=system.governance)
    rounding_invoices(system)
    vault.withdraw(vault.idle(), carol, carol, sender=carol)
    assert (vault.idle(), vault.liquidity()) == (0, 1)


def test_a_batch_whose_pull_pays_nobody_costs_those_who_stay_nothing(system, people):
    """The batch pulls 1 wei at a rounding loss of 1 wei, which buys no whole share's worth,
    so nothing is paid: the lost wei must not come out of the shares that stay."""
    alice, _, carol, _, keeper = people
    vault = system.vault
    one_rounding_wei_of_liquidity(system, carol)
    vault.requestRedeem(worth(system, 10_000 * USDC), alice, sender=alice)
    total, price = vault.totalAssets(), share_price(vault)
    receipt = vault.processRedeemQueue(1, sender=keeper)
    paid = sum(log.assets for log in processed_logs(system, receipt))
    assert (total - vault.totalAssets() - paid, paid) == (1, 0)  # the pull lost 1 wei
    assert share_price(vault) >= price, "a batch's pull loss nobody paid for fell on the stayers"


def test_max_redeem_never_offers_dust_that_its_pull_rounding_eats(system, people):
    """Shares worth 1 wei, idle empty, 1 wei reachable through a pull that loses 1 wei:
    `redeem` would pay 1 - 1 = 0 and revert ZeroAmount, so `maxRedeem` must not offer them
    (ERC-4626: redeem(maxRedeem) does not revert)."""
    alice, _, carol, dave, _ = people
    vault = system.vault
    one_rounding_wei_of_liquidity(system, carol)
    total, supply = vault.totalAssets(), vault.totalSupply()
    dust = -(-(supply + OFFSET) // (total + 1))  # the fewest shares worth 1 wei
    vault.transfer(dave, dust, sender=alice)
    assert vault.convertToAssets(dust) == 1 and vault.maxWithdraw(dave) == 0
    assert vault.previewRedeem(dust) == 0  # the worst case leaves nothing to pay
    most = vault.maxRedeem(dave)
    if most:
        vault.redeem(most, dave, dave, sender=dave)  # what maxRedeem offers must pay


# ------------------------------------------------------------------ cancelRedeemRequest


def test_cancel_returns_the_remaining_escrow_to_the_owner_only(system, people):
    alice, bob, _, _, keeper = people
    vault = system.vault
    freeze(system, "tbill", "gold", "invoices")
    shares = worth(system, 200_000 * USDC)
    held = vault.balanceOf(alice)
    vault.requestRedeem(shares, alice, sender=alice)
    (log,) = processed_logs(system, vault.processRedeemQueue(1, sender=keeper))  # idle only
    left = log.sharesLeft
    assert 0 < left < shares

    with ape.reverts(vault.NotRequestOwner, requestId=0, caller=bob):
        vault.cancelRedeemRequest(0, sender=bob)
    receipt = vault.cancelRedeemRequest(0, sender=alice)
    cancelled = vault.RedeemCancelled(requestId=0, owner=alice, shares=left)
    assert receipt.events.filter(vault.RedeemCancelled) == [cancelled]
    assert vault.balanceOf(alice) == held - log.shares
    assert vault.queuedShares() == vault.balanceOf(vault) == 0
    for request_id in (0, 7):
        with ape.reverts(vault.UnknownRequest, requestId=request_id):
            vault.cancelRedeemRequest(request_id, sender=alice)


# ------------------------------------------------------------------ keeper trigger


def test_trigger_reports_an_empty_queue_and_missing_liquidity(system, people):
    alice, _, carol, _, _ = people
    vault = system.vault
    assert tuple(vault.redeemQueueTrigger()) == (False, b"queue empty")
    freeze(system, "tbill", "gold", "invoices")
    vault.withdraw(vault.maxWithdraw(carol), carol, carol, sender=carol)  # empties idle
    assert vault.liquidity() == 0
    vault.requestRedeem(worth(system, 10_000 * USDC), alice, sender=alice)
    assert tuple(vault.redeemQueueTrigger()) == (False, b"no liquidity")
    vault.cancelRedeemRequest(0, sender=alice)
    assert tuple(vault.redeemQueueTrigger()) == (False, b"queue empty")


def test_trigger_calldata_pays_up_to_the_first_request_it_cannot_pay_in_full(system, people):
    alice, bob, carol, _, keeper = people
    vault, asset = system.vault, system.asset
    freeze(system, "tbill", "gold", "invoices")  # 50,000 idle for 90,000 queued
    for owner in (alice, bob, carol):
        vault.requestRedeem(worth(system, 30_000 * USDC), owner, sender=owner)
    should_act, data = vault.redeemQueueTrigger()
    assert should_act and bytes(data) == bytes(vault.processRedeemQueue.encode_input(2))
    carol_usdc = asset.balanceOf(carol)
    receipt = vault(sender=keeper, data=data)
    head, partial = processed_logs(system, receipt)
    assert (head.requestId, head.sharesLeft) == (0, 0)
    assert (partial.requestId, partial.receiver) == (1, bob) and partial.sharesLeft > 0
    assert asset.balanceOf(carol) == carol_usdc  # the third request was not reached

    system.sleeve("tbill").issuer.setFrozen(False, sender=system.governance)
    should_act, data = vault.redeemQueueTrigger()
    assert should_act and bytes(data) == bytes(vault.processRedeemQueue.encode_input(2))
    logs = processed_logs(system, vault(sender=keeper, data=data))
    assert [(log.requestId, log.sharesLeft) for log in logs] == [(1, 0), (2, 0)]
    assert tuple(vault.redeemQueueTrigger()) == (False, b"queue empty")


def test_trigger_stays_quiet_when_the_liquidity_left_pays_nothing(system, people):
    """Once shares are worth a little more than at launch, 1 wei of liquidity pays no share:
    a keeper told to act would send a transaction that pays nothing, block after block."""
    alice, _, carol, _, keeper = people
    vault = system.vault
    freeze(system, "tbill", "gold", "invoices")
    system.sleeve("gold").feed.setAnswer(2_001 * FEED_UNIT, sender=system.governance)  # +0.05%
    vault.withdraw(vault.maxWithdraw(carol) - 1, carol, carol, sender=carol)
    assert vault.liquidity() == 1
    vault.requestRedeem(worth(system, 10_000 * USDC), alice, sender=alice)
    should_act, data = vault.redeemQueueTrigger()
    receipt = vault.processRedeemQueue(1, sender=keeper)
    assert receipt.return_value == (0, 0) and processed_logs(system, receipt) == []
    assert (should_act, bytes(data)) == (False, b"no liquidity")


# ------------------------------------------------------------------ random sequences

REQUEST = st.tuples(st.just("request"), st.integers(0, 2), st.integers(1, 30) | st.just(100))
OPS = st.lists(
    st.one_of(
        REQUEST,  # who, % of held shares (drawn twice as often)
        REQUEST,
        st.tuples(st.just("process"), st.integers(1, 6)),  # maxRequests
        st.tuples(st.just("cancel"), st.integers(0, 99), st.booleans()),  # which, by its owner?
        st.tuples(st.just("tbill"), st.sampled_from([None, True, False]), st.integers(1, 300)),
        st.tuples(st.just("next_day")),
        st.tuples(st.just("gold_nav"), st.integers(1_500, 2_500)),
    ),
    min_size=6,
    max_size=14,
).map(lambda ops: [*ops, ("process", 6)])


class QueueModel:
    """Requests by id as the vault must hold them: [owner, receiver, shares still escrowed]."""

    def __init__(self, system, people, chain):
        self.system, self.vault, self.chain = system, system.vault, chain
        alice, bob, carol, dave, self.keeper = people
        self.owners = (alice, bob, carol)
        self.receivers = {alice: alice, bob: dave, carol: carol}
        self.requests: list[list] = []

    def open_ids(self):
        return [i for i, r in enumerate(self.requests) if r[2] > 0]

    def request(self, who, percent):
        owner = self.owners[who]
        shares = self.vault.balanceOf(owner) * percent // 100
        if shares:
            receipt = self.vault.requestRedeem(shares, self.receivers[owner], sender=owner)
            assert receipt.return_value == len(self.requests)
            self.requests.append([owner, self.receivers[owner], shares])

    def cancel(self, pick, by_owner):
        if not (ids := self.open_ids()):
            return
        request_id = ids[pick % len(ids)]
        owner, _, shares = self.requests[request_id]
        if not by_owner:
            other = self.owners[(self.owners.index(owner) + 1) % 3]
            with ape.reverts(self.vault.NotRequestOwner, requestId=request_id, caller=other):
                self.vault.cancelRedeemRequest(request_id, sender=other)
            return
        held = self.vault.balanceOf(owner)
        self.vault.cancelRedeemRequest(request_id, sender=owner)
        assert self.vault.balanceOf(owner) == held + shares
        self.requests[request_id][2] = 0

    def tbill(self, frozen, thousands):
        """Freeze or unfreeze the tbill issuer, or (None) set its daily limit."""
        if frozen is None:
            limit_tbill(self.system, thousands * 1_000)
        else:
            self.system.sleeve("tbill").issuer.setFrozen(frozen, sender=self.system.governance)

    def next_day(self):
        next_utc_day(self.system, self.chain)

    def gold_nav(self, nav):
        self.system.sleeve("gold").feed.setAnswer(nav * FEED_UNIT, sender=self.system.governance)

    def process(self, max_requests):
        vault, asset = self.vault, self.system.asset
        head, _ = vault.redeemQueueBounds()
        window = [i for i in self.open_ids() if i < head + max_requests]
        owed = sum(vault.convertToAssets(self.requests[i][2]) for i in window)
        liquid, idle = vault.liquidity(), vault.idle()
        total, supply, price = vault.totalAssets(), vault.totalSupply(), share_price(vault)
        before = {r[1]: asset.balanceOf(r[1]) for r in self.requests}
        receipt = vault.processRedeemQueue(max_requests, sender=self.keeper)
        logs = processed_logs(self.system, receipt)
        paid = [log.requestId for log in logs]
        event(
            f"process: {min(len(paid), 2)} paid, partly: {bool(logs) and logs[-1].sharesLeft > 0}"
        )
        # first in, first out: the paid requests are the oldest open ones, all but the last in full
        assert paid == window[: len(paid)]
        assert all(log.sharesLeft == 0 for log in logs[:-1])
        if liquid >= owed:
            assert paid == window and all(log.sharesLeft == 0 for log in logs)
        # one price for the batch, the book before it; the pull's loss from the first payments
        loss = total - vault.totalAssets() - sum(log.assets for log in logs)
        event(f"process: pull rounding lost {loss} wei")
        assert 0 <= loss <= (len(vault.withdrawQueue()) if owed > idle else 0)
        assert [log.assets for log in logs] == batch_payments(logs, total, supply, loss)
        withdrawals = receipt.events.filter(vault.Withdraw)
        assert [(w.assets, w.shares) for w in withdrawals] == [(g.assets, g.shares) for g in logs]
        assert share_price(vault) >= price  # those who stay never lose
        expected = dict.fromkeys(before, 0)
        for log in logs:
            _, receiver, shares = self.requests[log.requestId]
            assert (log.receiver, log.shares + log.sharesLeft) == (receiver, shares)
            expected[receiver] += log.assets
            self.requests[log.requestId][2] = log.sharesLeft
        for receiver, usdc in before.items():
            assert asset.balanceOf(receiver) == usdc + expected[receiver]
        processed, assets_paid = receipt.return_value
        assert assets_paid == sum(log.assets for log in logs)
        # processed counts the requests fully paid (cancelled ones in the window are not)
        assert processed == sum(log.sharesLeft == 0 for log in logs)

    def check(self):
        vault = self.vault
        assert sum(vault.balanceOf(h) for h in (*self.owners, vault)) == vault.totalSupply()
        assert vault.queuedShares() == sum(r[2] for r in self.requests) == vault.balanceOf(vault)
        head, tail = vault.redeemQueueBounds()
        assert tail == len(self.requests) and all(i >= head for i in self.open_ids())
        for i, (owner, receiver, shares) in enumerate(self.requests):
            r = vault.redeemRequest(i)
            assert (r.owner, r.receiver, r.shares) == (owner, receiver, shares)


@settings(max_examples=15)
@given(ops=OPS)
def test_random_queue_sequences_keep_the_books(system, people, chain, ops):
    with isolated(chain):
        freeze(system, "gold")
        limit_tbill(system, 50_000)
        # invoices pays once tbill's limit is used up, at a NAV whose redemptions round
        rounding_invoices(system)
        system.sleeve("invoices").issuer.setDailyRedeemLimit(
            20_000 * INVOICE_TOKEN, sender=system.governance
        )
        model = QueueModel(system, people, chain)
        for op, *args in ops:
            getattr(model, op)(*args)
            model.check()
