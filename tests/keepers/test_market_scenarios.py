"""Keeper passes through market scenarios nobody tuned on (branch `market9`), against the
system the keeper tests deploy (`supplied_book`: three RWA sleeves and the lending book, 1M
supplied, one borrower) with half the vault moved into tbill and gold.

What users rely on: one blip does not pause automation (the sentinel's hysteresis), whichever
way the blip went; a move the router accepted that falls back is a real fall and still trips.
Through gold -35 % in a day with gold-backed loans near their threshold and redemptions
arriving, every keeper (sentinel with the guardian key, liquidator, settler, rebalancer,
evaluator) sends only transactions that land, says in one line why it waits, pauses on the
second critical pass and not before, leaves no position liquidatable at the confirmed price,
and no redemption is filled at a strike before every price it used was published after the
request's cut-off. With T-bills' feed dead, the settler's line names tbill and the time the
redemption leaves without it, and a pass at that time strikes. A loan waiting on a fall's
confirmation is said to wait on it, not to have "nothing to seize".
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.keeper_support import keeper, protocol_of, supplied_book
from tests.vault_support import (
    FEED_UNIT,
    USDC,
    WINDOW,
    SleeveSpec,
    add_sleeve,
    faucet,
    isolated,
)

NAMES = ("tbill", "gold", "invoices")


@pytest.fixture(scope="module")
def system(project, accounts, chain):
    lending = supplied_book(project, accounts)
    chain.pending_timestamp = lending.vault.nextRebalanceAt()
    publish(lending)
    lending.vs.rebalance([3_000, 2_000, 0, 4_000])  # 20 % of the vault in gold
    return lending


@pytest.fixture(scope="module")
def protocol(system):
    return protocol_of(system)


@pytest.fixture
def fresh(system, chain):
    with isolated(chain):
        yield system


def publish(lending, **answers: int) -> None:
    """A new round of every feed (at its latest answer unless `answers` names another)."""
    for name in NAMES:
        feed = lending.feed(name)
        feed.setAnswer(answers.get(name, feed.latestAnswer()), sender=lending.vs.governance)


def later(chain, seconds: int) -> None:
    chain.pending_timestamp = chain.blocks.head.timestamp + seconds


def critical(report) -> list[str]:
    return [a.code for a in report.alerts if a.severity == "critical"]


def test_one_pass_of_a_bad_upward_print_does_not_pause_once_it_reverts(
    fresh, protocol, chain, tmp_path
):
    """Gold (30 % of the vault) prints +60 % for ten minutes (a bad print), seen by one
    sentinel pass, then publishes 2,000 again. The router never accepted 3,200 (beyond
    `oracle.maxDeviationBps`, unconfirmed), no strike or leaver was priced at it; one critical
    pass is a blip and does not pause. The fall back to the reference is no fall of the share
    price anyone is paid at: it must not trip the sentinel at once as a NAV shock, nor count as
    a second critical pass (as it would were the print counted up to the band's edge: a 291
    bps drop)."""
    lending = fresh
    vault = lending.vault
    chain.pending_timestamp = vault.nextRebalanceAt()
    publish(lending)
    lending.vs.rebalance([2_000, 3_000, 0, 4_000])  # gold at the deploy config's cap, 30 %
    sentinel = keeper(protocol, lending.vs.guardian, tmp_path)
    later(chain, 3_600)
    publish(lending)
    calm = sentinel.run("sentinel")
    assert critical(calm) == [] and not vault.automationPaused()

    later(chain, 600)
    publish(lending, gold=3_200 * FEED_UNIT)
    blip = sentinel.run("sentinel")
    assert critical(blip) == ["oracle-deviation"]
    assert "pauseAutomation()" not in [a.call for a in blip.actions]

    later(chain, 600)
    publish(lending, gold=2_000 * FEED_UNIT)
    back = sentinel.run("sentinel")
    assert critical(back) == [], [str(a) for a in back.alerts]
    assert "pauseAutomation()" not in [a.call for a in back.actions]
    assert not vault.automationPaused()


def test_a_bad_print_on_a_sleeve_the_manifest_does_not_list_does_not_pause_once_it_reverts(
    fresh, protocol, project, chain, tmp_path
):
    """The same bad print on a sleeve the DAO added after the manifest was written (the sentinel
    watches its feed, read from the vault): its unconfirmed rise was valued at the live price,
    as `held` counted only the manifest's sleeves, so the fall back tripped the sentinel at once
    as a NAV shock and paused automation (market9's review). Every sleeve the vault holds is now
    valued at the router's reference while its rise is unconfirmed."""
    lending = fresh
    vs, vault = lending.vs, lending.vault
    local = dataclasses.replace(vs, sleeves=list(vs.sleeves))  # keep the module's list intact
    extra = add_sleeve(project, local, SleeveSpec("extra", nav=100 * FEED_UNIT, cap_bps=2_000))
    chain.pending_timestamp = vault.nextRebalanceAt()
    publish(lending)
    extra.feed.setAnswer(100 * FEED_UNIT, sender=vs.governance)
    weights = list(vault.currentBps())  # extra last, at 0
    vs.rebalance([weights[0] - 2_000, *weights[1:-1], 2_000])
    assert extra.sleeve.totalAssets() > 0
    sentinel = keeper(protocol, vs.guardian, tmp_path)
    later(chain, 3_600)
    publish(lending)
    extra.feed.setAnswer(100 * FEED_UNIT, sender=vs.governance)
    assert critical(sentinel.run("sentinel")) == [] and not vault.automationPaused()

    later(chain, 600)
    extra.feed.setAnswer(160 * FEED_UNIT, sender=vs.governance)  # +60 %, unconfirmed
    blip = sentinel.run("sentinel")
    assert critical(blip) == ["oracle-deviation"], [str(a) for a in blip.alerts]
    assert "pauseAutomation()" not in [a.call for a in blip.actions]

    later(chain, 600)
    extra.feed.setAnswer(100 * FEED_UNIT, sender=vs.governance)
    back = sentinel.run("sentinel")
    assert critical(back) == [], [str(a) for a in back.alerts]
    assert not vault.automationPaused()


def test_a_rise_the_router_accepted_that_falls_back_still_trips_at_once(
    fresh, protocol, chain, tmp_path
):
    """The control: gold +60 % that held `oracle.confirmDelay` and was confirmed (the router's
    reference, what strikes price at), then back to 2,000 in one round: a real fall of the
    share price, which trips the sentinel on that one pass."""
    lending = fresh
    vault = lending.vault
    sentinel = keeper(protocol, lending.vs.guardian, tmp_path)
    later(chain, 3_600)
    publish(lending, gold=3_200 * FEED_UNIT)
    assert lending.confirm("gold")
    assert lending.vs.router.lastPrice(lending.token("gold"))[0] == 3_200 * 10**18
    risen = sentinel.run("sentinel")
    assert critical(risen) == [] and not vault.automationPaused()

    later(chain, 600)
    publish(lending, gold=2_000 * FEED_UNIT)
    fall = sentinel.run("sentinel")
    assert sorted(critical(fall)) == ["nav-drop", "oracle-deviation"]
    assert "pauseAutomation()" in [a.call for a in fall.actions]
    assert vault.automationPaused()


JOBS = ("sentinel", "liquidator", "settler", "rebalancer", "evaluator")
# gold, an hour apart: a slide, a fall beyond the band (-12 %), a slide, another (-15 %), flat
CRASH = (1_960, 1_720, 1_700, 1_680, 1_650, 1_620, 1_600, 1_360, 1_340, 1_320, 1_300, 1_300)


def test_gold_down_35_percent_in_a_day_through_every_keeper(
    fresh, protocol, accounts, chain, tmp_path
):
    lending = fresh
    vault, book, gold = lending.vault, lending.book, lending.feed("gold")
    faucet(lending.asset, accounts[7], 1_000_000 * USDC)  # the liquidator's inventory
    near, far = accounts[2], accounts[3]  # health 1.10 and 1.25 at 2,000
    lending.open_position(near, "gold", 100_000 * USDC, 68_000 * USDC)
    lending.open_position(far, "gold", 100_000 * USDC, 60_000 * USDC)
    leaver, second = accounts[6], accounts[4]
    lending.vs.deposit(second, 300_000 * USDC)
    keys = {"sentinel": lending.vs.guardian, "liquidator": accounts[7], "settler": accounts[8],
            "rebalancer": lending.vs.allocator, "evaluator": accounts[9]}  # fmt: skip
    keepers = {job: keeper(protocol, keys[job], tmp_path) for job in JOBS}
    start = chain.blocks.head.number + 1
    paused_at, criticals = None, []
    for hour, price in enumerate(CRASH):
        later(chain, 3_600)
        publish(lending, gold=price * FEED_UNIT)
        if hour == 1:
            vault.requestRedeem(vault.balanceOf(leaver) // 2, leaver, leaver, sender=leaver)
        if hour == 4:
            vault.requestRedeem(vault.balanceOf(second), second, second, sender=second)
        for job in JOBS:
            report = keepers[job].run(job)
            assert {a.outcome for a in report.actions} <= {"mined"}, (job, report.actions)
            assert all("\n" not in line for line in report.skipped + report.notes)
            if job == "sentinel":
                criticals.append(bool(critical(report)))
                if "pauseAutomation()" in [a.call for a in report.actions]:
                    assert paused_at is None
                    paused_at = hour
    # paused on the second critical pass in a row, and not before
    first = criticals.index(True)
    assert criticals[first + 1] and paused_at == first + 1 and vault.automationPaused()

    # no gold loan is left liquidatable, nor below health 1 at the live price
    for borrower in (near, far):
        assert book.debtOf(borrower) == 0 or book.healthFactor(borrower) >= 10**18
        assert book.liquidationTrigger(borrower)[0] is False
    assert len(list(book.Liquidated.range(start, chain.blocks.head.number + 1))) >= 2

    # every redemption filled, each at a strike after its cut-off, gold published after it
    assert vault.pendingRedeemRequest(0, leaver) == vault.pendingRedeemRequest(0, second) == 0
    assert vault.claimableRedeemRequest(0, second) > 0
    checked = 0
    for log in vault.StrikeSettled.range(start, chain.blocks.head.number + 1):
        redeem_epoch = log.strike[1]  # IRWAVault.Strike.redeemEpoch (max: none filled)
        if redeem_epoch == 2**64 - 1:
            continue
        cutoff = (redeem_epoch + 1) * WINDOW
        struck = chain.blocks[log.block_number].timestamp
        published = gold.latestRoundData(block_id=log.block_number)[3]
        assert struck >= cutoff and published >= cutoff, (log.strikeId, cutoff, published)
        checked += 1
    assert checked >= 2  # both leavers' windows


def test_the_settler_names_the_dead_feed_a_redemption_waits_on_and_when_it_leaves(
    fresh, protocol, accounts, chain, tmp_path
):
    """T-bills' feed stops (30 % of the vault) and a depositor asks to redeem: the redemption
    waits for a tbill price published after its cut-off, or, `vault.strikeMaxWait` (3 days)
    after that cut-off, tbill's last round older still, for a strike that values tbill at its
    last price less the haircut.
    The settler's one line says what it waits on and until when (an operator, or the depositor
    reading it, cannot tell a dead feed from the next hourly round otherwise), and the time it
    gives is the chain's: a pass then strikes."""
    lending = fresh
    vault = lending.vault
    leaver = accounts[6]
    later(chain, 3_600)
    publish(lending)
    last_round = lending.feed("tbill").latestRoundData()[3]
    settler = keeper(protocol, accounts[8], tmp_path)
    asked = vault.requestRedeem(vault.balanceOf(leaver) // 10, leaver, leaver, sender=leaver)
    cutoff = (chain.blocks[asked.block_number].timestamp // WINDOW + 1) * WINDOW

    line = None
    for _ in range(3):  # the other feeds publish each hour, tbill's does not
        later(chain, 3_600)
        lending.feed("gold").setAnswer(2_000 * FEED_UNIT, sender=lending.vs.governance)
        lending.feed("invoices").setAnswer(FEED_UNIT, sender=lending.vs.governance)
        report = settler.run("settler")
        assert report.actions == []
        (line,) = [s for s in report.skipped if s.startswith("strike:")]
    tbill = str(lending.vs.sleeve("tbill").sleeve.address)
    leaves = cutoff + 3 * 86_400
    assert "tbill" in line and str(last_round) in line and str(leaves) in line, line
    assert tbill not in line  # named, not an address

    chain.pending_timestamp = leaves - 60  # a minute early: still waiting, the same line
    lending.feed("gold").setAnswer(2_000 * FEED_UNIT, sender=lending.vs.governance)
    early = settler.run("settler")
    assert early.actions == [] and str(leaves) in " ".join(early.skipped)
    chain.pending_timestamp = leaves
    lending.feed("gold").setAnswer(2_000 * FEED_UNIT, sender=lending.vs.governance)
    lending.feed("invoices").setAnswer(FEED_UNIT, sender=lending.vs.governance)
    due = settler.run("settler")
    assert [(a.call, a.outcome) for a in due.actions] == [("strike()", "mined")]
    assert vault.pendingRedeemRequest(0, leaver) == 0 < vault.claimableRedeemRequest(0, leaver)


def test_the_liquidator_says_a_loan_waits_on_an_unconfirmed_fall_not_that_nothing_is_there(
    fresh, protocol, accounts, chain, tmp_path
):
    """Gold falls 22 % in one round (beyond the band) under a loan at health 1.25: 0.975 at the
    live price, but a liquidation counts the fall only down to the band's edge until it is
    confirmed (`oracle.confirmDelay`), and there the loan is sound. The liquidator records the
    fall and waits; its line must say so, naming gold: "nothing to seize" read as a loan with no
    collateral left (bad debt) for one holding 100,000 of gold. Once confirmed, it liquidates."""
    lending = fresh
    book, gold = lending.book, lending.token("gold")
    borrower, liquidator = accounts[2], accounts[7]
    faucet(lending.asset, liquidator, 1_000_000 * USDC)
    lending.open_position(borrower, "gold", 100_000 * USDC, 60_000 * USDC)
    k = keeper(protocol, liquidator, tmp_path)
    later(chain, 3_600)
    publish(lending, gold=1_560 * FEED_UNIT)
    assert book.healthFactor(borrower) < 10**18
    waits = k.run("liquidator")
    assert [a.call for a in waits.actions] == [f"poke({gold.address})"]  # the fall recorded
    (line,) = waits.skipped
    assert line.startswith(f"liquidate {borrower.address}: ") and "gold" in line, line
    assert "nothing to seize" not in line and "confirm" in line, line

    _, since = lending.vs.router.pendingPrice(gold)
    chain.pending_timestamp = since + 3_600  # oracle.confirmDelay
    publish(lending)
    done = k.run("liquidator")
    assert f"poke({gold.address})" in [a.call for a in done.actions]  # confirmed
    assert any(a.call.startswith("liquidate(") and a.outcome == "mined" for a in done.actions)
