"""An outside review of the tokenized-RWA sleeves, their issuers and the risk keepers around them
(sleevereview): each test mounts one attack or misbehaving issuer and asserts the defence.

- The risk steward reads an issuer's daily exit from `maxRedeem()`, what is left of today's
  redemption limit. The limit is shared by every holder (`MockIssuer`), so anyone holding the
  token (or, on the mock, anyone: subscribe and redeem in one transaction) can use it up just
  before a steward pass. Left at 1 wei of a token, the steward priced a 30-day exit for the
  collateral and cut its liquidation threshold under open positions (the gate rule, which holds
  the threshold, only applies at exactly 0), and its borrow cap to the debt.
- An issuer that fills part of a request without reverting (a subscription window or an
  instant-redemption reserve that is short: `MockPartialFillIssuer`). The sleeve trusted
  `subscribe`'s return value and wrote off every unit it asked `redeem` to take: the assets a
  subscription did not take stayed in the sleeve, and the tokens a redemption did not take stayed
  there too, counted by nobody; the vault's pull charged the leaver the units written off.
- After a shutdown anyone may `unwind`, and it did not wait for the oracle: one faulty round at
  -50 % (unconfirmed) and a griefer's unwind sold the sleeve at half its value (the vault 750,000
  instead of 1,000,000 once the feed was back). The sleeve now sells nothing at a fall the router
  has not confirmed, after a shutdown; a fall that held is unwound at its price.
- The sentinel never saw a feed answering zero or less: the router refuses the answer and
  `tryPrice` falls back on the reference, so the reading was neither stale nor deviating while
  strikes, borrowing and liquidations against the token waited; nobody was alarmed.
- Nor a round stamped in the future (a NAV pusher writing milliseconds): the router's staleness
  check (`now > updatedAt + maxStaleness`) can never fire, so the feed stays fresh for good once
  it stops; the sentinel now alarms on it, and the router reads such a round as unusable
  (`FutureRound`; the sleeves give it no stale clock).
- A pull's loss was charged to the first window a strike fills, a rule sized for a wei of
  rounding; with an issuer that keeps a redemption fee, a small leaver paid from idle was charged
  the whole 2,200 fee of the 110,000 a later, larger window needed. The loss is now charged to
  the windows filled pro rata to what each is paid.
- The steward's exit time counted every token of a collateral the book holds, also collateral
  parked behind the minimum loan, which backs nothing a liquidation could seize: 2,000,000 of
  gold behind a 100 loan took its threshold target from 7,500 to 6,094. It now counts per
  position at most the debt × (1 + bonus) (`seizable_exposure`).
- A known limit until the rebalance module had room (docs/security.md): a sleeve a decision
  leaves at its weight is not traded, but when another move's issuer fee lowers the NAV its
  weight reached ticks up, counted as moved, and an open band on it reverted the decision
  (`StaleValuation`): an unconfirmed gold print held up a cut of another sleeve. Such a sleeve
  is now recorded unmoved (it is no decision on it, and it is never judged on the tick).
"""

from __future__ import annotations

from fractions import Fraction

import ape
import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from keepers.config import load_settings
from keepers.math.steward import BORROW_CAP, LTV, THRESHOLD, recommend
from keepers.shell.steward import read_steward_inputs
from tests.keeper_support import keeper, protocol_of
from tests.lending_support import deploy_lending_system
from tests.vault_support import (
    DAY,
    FEED_UNIT,
    USDC,
    WAD,
    SleeveSpec,
    add_sleeve,
    assert_reverts,
    deploy_partial_fill_system,
    faucet,
    isolated,
    next_window,
    settled,
)  # fmt: skip

GOLD_LIMIT = 100  # whole gold tokens a day (200,000 at 2,000)


@pytest.fixture(scope="module")
def review_book(project, accounts, chain):
    """The lending system, gold redeemable at 100 tokens a day, ten daily gold rounds (the
    steward's history), 2M supplied and one gold position (400,000 posted, 200,000 borrowed:
    health 1.5)."""
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    gov = lending.vs.governance
    lending.vs.sleeve("gold").issuer.setDailyRedeemLimit(GOLD_LIMIT * WAD, sender=gov)
    now = chain.blocks.head.timestamp
    price = 2_000 * FEED_UNIT
    for i in range(10):
        price = price * (101 if i % 2 else 99) // 100
        lending.feed("gold").setRound(price, now - (10 - i) * DAY, sender=gov)
    lending.set_nav("gold", 2_000 * FEED_UNIT)
    lending.supply(accounts[6], 2_000_000 * USDC)
    lending.open_position(accounts[7], "gold", 400_000 * USDC, 200_000 * USDC)
    return lending


def gold_targets(steward) -> tuple[int, dict[str, int]]:
    """The gold daily exit the steward reads now and its model's gold targets from that read."""
    inputs = read_steward_inputs(steward)
    params = {p.name: p for p in inputs.params}
    model = steward.settings.steward.model()
    targets, _ = recommend(params, inputs.collaterals, inputs.book, model)
    (gold,) = (c for c in inputs.collaterals if c.name == "gold")
    keys = (LTV + "gold", THRESHOLD + "gold", BORROW_CAP + "gold")
    return gold.daily_exit, {k: targets[k] for k in keys if k in targets}


@pytest.mark.parametrize("left", [0, 10**12], ids=["used-up", "dust-left"])
def test_using_up_an_issuers_daily_limit_does_not_move_the_stewards_targets(
    review_book, accounts, chain, tmp_path, left
):
    lending = review_book
    steward = keeper(protocol_of(lending), None, tmp_path / "steward", settings=load_settings())
    exit_before, before = gold_targets(steward)
    assert exit_before == GOLD_LIMIT * 2_000 * USDC  # the whole day's limit, at 2,000
    assert before[THRESHOLD + "gold"] == 7_500  # the DAO's threshold: nothing to cut

    with isolated(chain):
        # Anyone: buy the day's limit of gold at the issuer and redeem all of it (or all but a
        # dust of 1e-6 gold, 0.002 of value) in the block before the steward's pass (no cost on
        # the mock: the same NAV both ways; a flash loan pays for it).
        attacker = accounts[8]
        issuer = lending.vs.sleeve("gold").issuer
        faucet(lending.asset, attacker, GOLD_LIMIT * 2_000 * USDC)
        lending.asset.approve(issuer, 2**256 - 1, sender=attacker)
        issuer.subscribe(GOLD_LIMIT * 2_000 * USDC, sender=attacker)
        issuer.redeem(GOLD_LIMIT * WAD - left, sender=attacker)
        assert issuer.maxRedeem() == left  # what is left of today's limit
        exit_after, after = gold_targets(steward)
        assert (exit_after, after) == (exit_before, before), (
            f"daily exit {exit_before} -> {exit_after}; targets {before} -> {after}"
        )


def test_a_frozen_issuer_still_reads_as_a_gate(review_book, chain, tmp_path):
    lending = review_book
    steward = keeper(protocol_of(lending), None, tmp_path / "steward", settings=load_settings())
    _, before = gold_targets(steward)
    with isolated(chain):
        lending.vs.sleeve("gold").issuer.setFrozen(True, sender=lending.vs.governance)
        exit_now, gated = gold_targets(steward)
        assert exit_now == 0
        # the gate rule: the threshold held, the LTV cut, borrowing capped at the debt
        assert gated[THRESHOLD + "gold"] == before[THRESHOLD + "gold"]
        assert gated[LTV + "gold"] < before[LTV + "gold"]
        assert 200_000 * USDC <= gated[BORROW_CAP + "gold"] < 200_001 * USDC  # debt, interest


# ------------------------------------------------------------------ an issuer filling part


@pytest.fixture(scope="module")
def partial_system(project, accounts):
    """A vault with one sleeve, behind `MockPartialFillIssuer` (NAV 1.00, 18 decimals), and
    alice's 1,000,000 deposited (all idle)."""
    return deploy_partial_fill_system(project, accounts)


def test_assets_a_subscription_did_not_take_go_back_to_the_vault(partial_system, chain):
    system = partial_system
    entry = system.sleeve("partial")
    with isolated(chain):
        entry.issuer.setFills(5_000, 10_000, sender=system.governance)  # takes half
        nav = system.vault.totalAssets()
        system.rebalance([5_000])  # 500,000 sent; the issuer takes 250,000
        assert entry.sleeve.units() == entry.token.balanceOf(entry.sleeve) == 250_000 * WAD
        stranded = system.asset.balanceOf(entry.sleeve)
        assert stranded == 0, f"{stranded} of cash left in the sleeve, counted by nobody"
        assert system.vault.totalAssets() == nav


def test_tokens_a_redemption_did_not_take_stay_counted_and_the_leaver_is_not_charged(
    partial_system, accounts, chain
):
    system, alice = partial_system, accounts[6]
    entry = system.sleeve("partial")
    with isolated(chain):
        system.rebalance([5_000])  # 500,000 idle, 500,000 in the sleeve
        entry.issuer.setFills(10_000, 5_000, sender=system.governance)  # redeems half
        nav, shares = system.vault.totalAssets(), system.vault.balanceOf(alice)
        system.vault.requestRedeem(shares, alice, alice, sender=alice)
        k = settled(system.strike(), system.vault)
        # the issuer took 250,000 of the 500,000 tokens asked and paid 250,000: the rest is held
        held = entry.token.balanceOf(entry.sleeve)
        assert entry.sleeve.units() == held == 250_000 * WAD, (entry.sleeve.units(), held)
        # alice is paid for what was sold, at the NAV, and keeps the rest of her request queued;
        # nothing is lost between her and the vault
        assert k["redeemAssets"] == 750_000 * USDC, k
        assert system.vault.totalAssets() + k["redeemAssets"] == nav
        assert system.vault.pendingRedeemRequest(0, alice) > 0


def test_collateral_parked_behind_a_minimum_loan_does_not_move_the_stewards_threshold(
    review_book, accounts, chain, tmp_path
):
    lending = review_book
    steward = keeper(protocol_of(lending), None, tmp_path / "steward", settings=load_settings())
    _, before = gold_targets(steward)
    assert before[THRESHOLD + "gold"] == 7_500
    with isolated(chain):
        # Anyone: 2,000,000 of gold posted behind the minimum loan (100): no risk to it, the
        # gold redeemable again (10 days of the issuer's limit) once the steward has moved.
        parker = accounts[9]
        minimum = lending.vs.registry.get(keccak(text="lend.minDebt"))
        lending.open_position(parker, "gold", 2_000_000 * USDC, minimum)
        _, after = gold_targets(steward)
        assert after[THRESHOLD + "gold"] == before[THRESHOLD + "gold"], (before, after)


def test_an_issuers_redemption_fee_is_not_charged_to_an_earlier_leaver_paid_from_idle(
    partial_system, accounts, chain
):
    system, alice, bob = partial_system, accounts[6], accounts[7]
    vault, entry = system.vault, system.sleeve("partial")
    with isolated(chain):
        system.deposit(bob, 20_000 * USDC)
        system.rebalance([5_000])  # 510,000 idle, 510,000 in the sleeve
        entry.issuer.setRedeemFee(200, sender=system.governance)  # 2 % kept on a redemption
        vault.requestRedeem(vault.balanceOf(bob), bob, bob, sender=bob)  # 20,000, idle pays it
        next_window(chain)
        shares = vault.balanceOf(alice) * 6 // 10  # 600,000: 110,000 from the sleeve
        vault.requestRedeem(shares, alice, alice, sender=alice)
        total = vault.totalAssets()
        k = settled(system.strike(), vault)
        assert k["redeemAssets"] == vault.maxWithdraw(bob) + vault.maxWithdraw(alice)
        # the sleeve sold 110,000 of units for 107,800: a fee of 2,200, caused by alice's part
        fee = 2_200 * USDC
        assert total - vault.totalAssets() - k["redeemAssets"] == fee
        # bob's request needed no redemption: he bears at most his pro-rata part of the fee, his
        # 20,000 of the 617,800 the strike paid (alice's last 2,200 wait for the next strike)
        charged = 20_000 * USDC - vault.maxWithdraw(bob)
        assert charged <= fee * 20_000 // 617_800 + 2, f"bob was charged {charged} of the {fee}"


def _share_price(vault) -> Fraction:
    """Exact assets per share unit: (totalAssets + 1) / (totalSupply + 10**12)."""
    return Fraction(vault.totalAssets() + 1, vault.totalSupply() + 10**12)


@settings(max_examples=max(6, settings.default.max_examples // 10), deadline=None)
@given(
    fee_bps=st.integers(0, 1_000),
    bob_usdc=st.integers(1, 400_000),
    alice_pct=st.integers(1, 99),
)
def test_a_pulls_loss_is_charged_pro_rata_to_the_windows_it_fills(
    partial_system, accounts, chain, fee_bps, bob_usdc, alice_pct
):
    """Bob's window (idle pays it) then alice's (idle and the sleeve, at the issuer's fee): the
    pull's loss `L` falls on the windows filled, bob's part exactly `min(L, gross, ⌈L · gross /
    paid⌉)` of the `paid` the strike pays both (the `need` they asked, or the budget when the
    fee leaves it short), and none of it on the shares that stay."""
    system, alice, bob = partial_system, accounts[6], accounts[7]
    vault, entry = system.vault, system.sleeve("partial")
    with isolated(chain):
        system.deposit(bob, bob_usdc * USDC)
        system.rebalance([5_000])
        entry.issuer.setRedeemFee(fee_bps, sender=system.governance)
        b = vault.balanceOf(bob)
        vault.requestRedeem(b, bob, bob, sender=bob)
        next_window(chain)
        a = vault.balanceOf(alice) * alice_pct // 100
        vault.requestRedeem(a, alice, alice, sender=alice)
        system.publish_prices()
        nav = vault.idle() + entry.sleeve.strikeValuation()[0]
        supply = vault.totalSupply() + 10**12
        gross_b, gross_a = b * (nav + 1) // supply, a * (nav + 1) // supply
        need = gross_b + gross_a
        total, price, idle = vault.totalAssets(), _share_price(vault), vault.idle()
        receipt = vault.strike(sender=system.governance)
        k = settled(receipt, vault)
        pulled = sum(log.assets for log in receipt.events.filter(entry.sleeve.Divested))
        paid = min(idle + pulled, need)
        loss = total - vault.totalAssets() - k["redeemAssets"]
        assert loss >= 0 and (fee_bps or loss <= 1)
        assert k["redeemAssets"] == vault.maxWithdraw(bob) + vault.maxWithdraw(alice)
        charged = gross_b - vault.maxWithdraw(bob)
        assert charged == min(loss, gross_b, -(-loss * gross_b // paid)), (charged, loss)
        assert charged <= loss * gross_b // paid + 1  # his part, up to a wei
        assert vault.pendingRedeemRequest(0, bob) == 0
        # the rest of the loss is alice's (assets or escrowed shares): those who stay lose nothing
        assert _share_price(vault) >= price


def test_after_a_shutdown_nobody_unwinds_a_sleeve_at_an_unconfirmed_crash_print(
    partial_system, accounts, chain
):
    system, griefer = partial_system, accounts[9]
    vault, entry = system.vault, system.sleeve("partial")
    gov = system.governance
    with isolated(chain):
        system.rebalance([5_000])  # 500,000 idle, 500,000 of the RWA at 1.00
        vault.shutdown(sender=system.guardian)
        entry.feed.setAnswer(FEED_UNIT // 2, sender=gov)  # one faulty round: -50 %, unconfirmed
        assert system.router.priceBand(entry.token) == (WAD // 2, WAD)  # the band is open
        units = entry.sleeve.units()
        receipt = vault.unwind(entry.sleeve, 10**9 * USDC, sender=griefer)
        (log,) = receipt.events.filter(vault.Unwound)
        assert (log.withdrawn, entry.sleeve.units()) == (0, units), (
            f"sold {units - entry.sleeve.units()} units at the faulty print for {log.withdrawn}"
        )
        entry.feed.setAnswer(FEED_UNIT, sender=gov)  # the feed comes back
        vault.unwind(entry.sleeve, 10**9 * USDC, sender=griefer)
        assert entry.sleeve.units() == 0 and vault.totalAssets() == 1_000_000 * USDC


def test_after_a_shutdown_a_confirmed_fall_is_unwound_at_its_price(partial_system, accounts, chain):
    system, keeper_ = partial_system, accounts[9]
    vault, entry, router = system.vault, system.sleeve("partial"), system.router
    gov = system.governance
    with isolated(chain):
        system.rebalance([5_000])
        vault.shutdown(sender=system.guardian)
        entry.feed.setAnswer(FEED_UNIT // 2, sender=gov)
        router.poke(entry.token, sender=keeper_)  # recorded: pending for oracle.confirmDelay
        chain.pending_timestamp = chain.blocks.head.timestamp + 3_600
        entry.feed.setAnswer(FEED_UNIT // 2, sender=gov)  # it held
        router.poke(entry.token, sender=keeper_)  # confirmed: the band closes at 0.50
        assert router.priceBand(entry.token) == (WAD // 2, WAD // 2)
        receipt = vault.unwind(entry.sleeve, 10**9 * USDC, sender=keeper_)
        (log,) = receipt.events.filter(vault.Unwound)
        assert log.withdrawn == 250_000 * USDC and entry.sleeve.units() == 0


# ------------------------------------------------------------------ the sentinel


def test_a_feed_answering_zero_is_alarmed_on_and_pauses_automation(review_book, chain, tmp_path):
    lending = review_book
    vault, guardian = lending.vault, lending.vs.guardian
    with isolated(chain):
        lending.set_nav("gold", 0)  # a fresh round answering 0: the router refuses it
        assert lending.vs.router.tryPrice(lending.token("gold"))[1] is False
        sentinel = keeper(protocol_of(lending), guardian, tmp_path / "sentinel")
        first = sentinel.run("sentinel")
        alarms = {(a.code, a.severity, a.subject) for a in first.alerts}
        assert ("oracle-invalid", "critical", "gold") in alarms, first.alerts
        assert not any(a.call.startswith("poke") for a in first.actions), first.actions
        second = sentinel.run("sentinel")  # trip_after passes: paused
        assert [(a.call, a.outcome) for a in second.actions] == [("pauseAutomation()", "mined")]
        assert vault.automationPaused()


def test_a_round_stamped_in_the_future_is_alarmed_on(review_book, chain, tmp_path):
    lending = review_book
    with isolated(chain):
        now = chain.blocks.head.timestamp
        lending.feed("gold").setRound(2_000 * FEED_UNIT, now * 1_000, sender=lending.vs.governance)
        sentinel = keeper(protocol_of(lending), None, tmp_path / "sentinel")
        report = sentinel.run("sentinel")
        alarms = {(a.code, a.severity, a.subject) for a in report.alerts}
        assert ("oracle-future", "critical", "gold") in alarms, report.alerts


def test_a_feed_stamped_in_the_future_is_never_fresh_and_holds_no_exit(partial_system, chain):
    """A round stamped after the block (a publisher writing milliseconds) passed the router's
    `now > updatedAt + maxStaleness` for good: fresh forever once the feed stopped, and every
    request window settled at its price. Now it is unusable, as an answer of 0 is: `price`
    reverts `FutureRound`, `tryPrice` falls back on the reference (not fresh), and the sleeve's
    stale clock runs from the last usable price (the feed's round before it: `lastUsableAt`,
    since branch `mev`; before it, 0), never from the future stamp, so exits are held by it at
    most `vault.strikeMaxWait`, as by any silent feed."""
    system = partial_system
    entry, router = system.sleeve("partial"), system.router
    with isolated(chain):
        system.rebalance([5_000])  # the sleeve holds units: its valuation reads the feed
        reference, _ = router.lastPrice(entry.token)
        usable = entry.feed.latestRoundData()[3]  # the round before the faulty one
        now = chain.blocks.head.timestamp
        stamp = now * 1_000
        entry.feed.setRound(FEED_UNIT, stamp, sender=system.governance)  # milliseconds
        chain.mine(1)
        with ape.reverts(router.FutureRound, token=entry.token, updatedAt=stamp):
            router.price(entry.token)
        assert router.tryPrice(entry.token) == (reference, False)
        assert entry.sleeve.strikeValuation()[2:] == (usable, False)  # not fresh, no future clock
        chain.pending_timestamp = now + 30 * DAY  # the feed publishes nothing for 30 days
        chain.mine(1)
        assert router.tryPrice(entry.token)[1] is False  # stale, as any silent feed
        assert entry.sleeve.strikeValuation()[2:] == (usable, False)
        wait = system.registry.get(keccak(text="vault.strikeMaxWait"))
        assert usable + wait <= chain.blocks.head.timestamp  # exits no longer wait on it


def test_an_untouched_sleeve_whose_weight_ticks_on_anothers_fee_does_not_wait_for_its_band(
    project, partial_system, chain
):
    system = partial_system
    vault, gov = system.vault, system.governance
    entry = system.sleeve("partial")
    with isolated(chain):
        gold = add_sleeve(project, system, SleeveSpec("gold", nav=2_000 * FEED_UNIT, cap_bps=4_000))
        system.rebalance([5_000, 3_000])  # 500,000 of the partial RWA, 300,000 of gold
        chain.pending_timestamp = vault.nextRebalanceAt()
        system.publish_prices()
        entry.issuer.setRedeemFee(200, sender=gov)  # the issuer keeps 2 % of a redemption
        gold.feed.setAnswer(gold.feed.latestAnswer() * 8_766 // 10_000, sender=gov)  # -12.34 %
        low, high = system.router.priceBand(gold.token)
        assert low != high  # gold's round is beyond the band: unconfirmed
        before = list(vault.currentBps())
        held = gold.sleeve.totalAssets()
        # A cut of the partial RWA alone: 1,000 bps sold, 2 % of it kept by the issuer.
        tx = system.rebalance([before[0] - 1_000, before[1]])
        (log,) = tx.events.filter(vault.Rebalanced)
        assert list(vault.currentBps())[1] > before[1]  # gold's weight ticked up on the fee
        assert log.oldBps[1] == log.newBps[1] == before[1]  # recorded unmoved
        assert log.newBps[0] < before[0] - 900  # the cut was made (the fee lifts its weight a tick)
        assert gold.sleeve.totalAssets() == held  # not a unit of gold traded
        decision = vault.decision(log.decisionId)
        assert list(decision.newBps) == list(log.newBps)
        # A move of gold itself still waits for its band. A day on (the cooldown), both feeds
        # publish again at their answers: fresh by time, so the band alone holds gold (without
        # it the partial RWA's round, a second older than the cut on a loaded machine, was
        # stale first: `StaleValuation` named that sleeve in whole runs only).
        chain.pending_timestamp = vault.nextRebalanceAt()
        for feed in (entry.feed, gold.feed):
            feed.setAnswer(feed.latestAnswer(), sender=gov)
        low, high = system.router.priceBand(gold.token)
        assert low != high  # still unconfirmed
        assert_reverts(vault, "rebalance", [log.newBps[0], before[1] - 500], b"\x11" * 32,
                       "ipfs://r", sender=system.allocator, error="StaleValuation",
                       sleeve=gold.sleeve)  # fmt: skip
