"""Second read of "liquidations price every token at the high end of its price band" (branch
`liqread`), and its fix (branch `clamp`): how long a legitimate liquidation waits on the band,
and who closes it.

A liquidation now values a token at the router's `liquidationPrice`, the live price never below
the lower edge of `oracle.maxDeviationBps` around the reference: a fall beyond the band counts at
once up to the band's edge, the rest once the router confirmed it (a poke records it, a poke
`oracle.confirmDelay` later confirms it); a rise counts at once (DESIGN.md invariant 6: health
>= 1 at live prices is never liquidated).
The liquidator keeper used to poke nothing: alone (no sentinel, or one not tripped:
the sentinel confirms only once tripped) it never liquidated a real crash, however long it held.
Each test below has a borrower on gold (50 gold, 2,000 each at the reference, threshold 75 %)
owing 69,900 (the first 67,400), and the keeper (accounts[7]) running its liquidator job alone,
nobody else poking after the fall.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from keepers.jobs import plan_liquidations
from keepers.jobs.liquidator import WAITS_ON_A_FALL
from keepers.math import (
    MAX_UINT256,
    WAD,
    NoLiquidation,
    Refusal,
    liquidation_trigger,
    plan_liquidation,
)
from keepers.multicall import Multicall, ensure_multicall
from keepers.reads import read_book
from keepers.strategy.gate import GasMarket
from tests.keeper_support import keeper, protocol_of
from tests.lending_support import FEED_UNIT, USDC, deploy_lending_system
from tests.vault_support import confirm_moves, faucet, isolated, revert_of

DEBT = 69_900 * USDC


@pytest.fixture(scope="module")
def lending(project, accounts):
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 1_000_000 * USDC)
    faucet(lending.asset, accounts[7], 1_000_000 * USDC)  # the keeper's inventory
    return lending


def delay_of(lending) -> int:
    return int(lending.vs.registry.get(keccak(text="oracle.confirmDelay")))


def seized_at(lending, repaid: int, price: int) -> int:
    """Gold seized for `repaid` at WAD `price` (`LendingSleeve._size`: the bonus capped so that
    threshold x (1 + bonus) <= 100 %, rounded down)."""
    get = lending.vs.registry.get
    threshold = int(get(keccak(text="lend.liqThresholdBps.gold")))
    bonus = min(int(get(keccak(text="lend.liqBonusBps.gold"))), 10**8 // threshold - 10_000)
    return repaid * (10_000 + bonus) * 10**18 * 10**18 // (10_000 * price * USDC)


def refusal(lending, borrower, keeper_account):
    """`previewLiquidation(borrower, gold, MAX)`'s custom error name (what `liquidate` reverts
    with), None if the liquidation is allowed."""
    out = revert_of(lending.book, "previewLiquidation", borrower, lending.token("gold"),
                    2**256 - 1, sender=keeper_account)  # fmt: skip
    return None if out is None else out[0]


def liquidations(lending, start: int) -> list:
    head = lending.book.provider.get_block("latest").number
    return list(lending.book.Liquidated.range(start, head + 1))


def pokes(report) -> list[tuple[str, str]]:
    return [(a.action_id.split(":")[1], a.outcome) for a in report.actions
            if a.action_id.startswith("poke:")]  # fmt: skip


def later(chain, lending, seconds: int) -> None:
    """Time passes; every feed publishes its price again (fresh, unchanged)."""
    chain.pending_timestamp = chain.pending_timestamp + seconds
    for name in ("tbill", "gold", "invoices"):
        feed = lending.feed(name)
        feed.setAnswer(feed.latestAnswer(), sender=lending.vs.governance)


def test_a_liquidator_keeper_alone_liquidates_a_fall_once_it_has_held(
    lending, accounts, chain, tmp_path
):
    """Owing 67,400, gold falls 15 % and stays there: health 0.946 at the live 1,700 (a full
    close), 1.0015 at the band's edge 1,800 (50 x 1,800 x 0.75 / 67,400), where an unconfirmed
    fall counts. The keeper's first pass records the fall (a poke, nothing to seize yet);
    oracle.confirmDelay later its next pass confirms it and liquidates in the same pass. Before:
    the keeper poked nothing, the fall stayed unrecorded and the position unliquidated for
    good."""
    b = accounts[4]
    owed = 67_400 * USDC
    with isolated(chain):
        lending.open_position(b, "gold", 100_000 * USDC, owed)
        start = chain.blocks.head.number + 1
        lending.set_nav("gold", 1_700 * FEED_UNIT)
        assert lending.book.healthFactor(b) < 95 * WAD // 100
        assert lending.vs.router.liquidationPrice(lending.token("gold")) == 1_800 * 10**18
        assert refusal(lending, b, accounts[7]) == "HealthyPosition"  # at the band's edge

        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        first = k.run("liquidator")
        assert liquidations(lending, start) == []
        assert pokes(first) == [("gold", "mined")]  # the fall recorded, pending
        assert lending.vs.router.pendingPrice(lending.token("gold"))[0] == 1_700 * 10**18

        later(chain, lending, delay_of(lending))
        second = k.run("liquidator")
        assert pokes(second) == [("gold", "mined")]  # confirmed
        (done,) = liquidations(lending, start)
        assert (done.borrower, done.liquidator) == (b.address, accounts[7].address)
        assert done.repaid >= owed  # all of it, the hour's interest included
        assert lending.book.debtOf(b) == 0
        assert lending.vs.router.lastPrice(lending.token("gold"))[0] == 1_700 * 10**18


def test_a_further_fall_past_the_band_edge_of_an_old_reference_is_liquidated_at_the_edge(
    lending, accounts, chain, tmp_path
):
    """The band is measured from the reference, which follows the feed within the band only when
    somebody pokes (the sentinel's heartbeat: once its age passes oracle.maxStaleness). Gold
    drifts from 2,000 to 1,840 (-8 %): health 0.987, liquidatable. It slips on to 1,790 (10.5 %
    from the reference, unconfirmed). Before: the liquidation was refused (`HealthyPosition` at
    1.073: gold counted at the 2,000 reference again) until the "move" was confirmed, a further
    fall holding a due liquidation off oracle.confirmDelay. Now gold counts at the band's edge,
    1,800 (health 0.966): the keeper's first pass records the fall and liquidates at once, half
    the debt (the close factor: 0.966 >= 0.95), the seizure sized at 1,800; the position left is
    healthy even at 1,790, so the later pass pokes nothing and liquidates nothing."""
    b = accounts[4]
    gold = lending.token("gold")
    with isolated(chain):
        lending.open_position(b, "gold", 100_000 * USDC, DEBT)  # its deposit poked: ref 2,000
        start = chain.blocks.head.number + 1
        lending.set_nav("gold", 1_840 * FEED_UNIT)
        health_at_1840 = lending.book.healthFactor(b)
        assert 986 * WAD // 1000 < health_at_1840 < WAD
        assert refusal(lending, b, accounts[7]) is None  # due
        lending.set_nav("gold", 1_790 * FEED_UNIT)
        assert lending.book.healthFactor(b) < health_at_1840
        assert lending.vs.router.liquidationPrice(gold) == 1_800 * 10**18  # the band's edge
        assert refusal(lending, b, accounts[7]) is None  # still due

        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        first = k.run("liquidator")
        assert pokes(first) == [("gold", "mined")]  # the rest of the fall recorded
        (done,) = liquidations(lending, start)
        assert (done.borrower, done.liquidator) == (b.address, accounts[7].address)
        assert DEBT // 2 <= done.repaid <= lending.book.debtOf(b)  # half: the close factor
        assert done.seized == seized_at(lending, done.repaid, 1_800 * 10**18)
        assert lending.vs.router.lastPrice(gold)[0] == 2_000 * 10**18  # nothing confirmed
        later(chain, lending, delay_of(lending))
        second = k.run("liquidator")
        assert pokes(second) == [] and len(liquidations(lending, start)) == 1
        assert lending.book.healthFactor(b) >= WAD


def test_a_confirmed_upward_print_holds_a_liquidation_off_a_delay_after_it_ended(
    lending, accounts, chain, tmp_path
):
    """Gold prints 3,000 (+50 %) and stands oracle.confirmDelay; the borrower itself pokes twice
    and the print becomes the reference. The feed comes back to 1,840 (health 0.987, due at any
    reference it held before): the liquidation is still refused (`HealthyPosition`, gold at
    2,700, the band's edge below the 3,000 reference: health 1.45) until that fall is
    confirmed, oracle.confirmDelay after somebody records it. The floor does not shorten this
    one: the print was confirmed, so it is the reference the band is measured from. The keeper
    records it on its first pass and liquidates on the first pass after the delay."""
    b = accounts[4]
    gold = lending.token("gold")
    router = lending.vs.router
    with isolated(chain):
        lending.open_position(b, "gold", 100_000 * USDC, DEBT)
        start = chain.blocks.head.number + 1
        lending.set_nav("gold", 3_000 * FEED_UNIT)
        router.poke(gold, sender=b)
        later(chain, lending, delay_of(lending))
        router.poke(gold, sender=b)  # the borrower confirms the print
        assert router.lastPrice(gold)[0] == 3_000 * 10**18

        lending.set_nav("gold", 1_840 * FEED_UNIT)  # the print is over
        assert lending.book.healthFactor(b) < WAD
        assert router.liquidationPrice(gold) == 2_700 * 10**18
        assert refusal(lending, b, accounts[7]) == "HealthyPosition"

        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        k.run("liquidator")
        assert liquidations(lending, start) == []
        assert refusal(lending, b, accounts[7]) == "HealthyPosition"  # recorded, pending
        later(chain, lending, delay_of(lending))
        k.run("liquidator")
        (done,) = liquidations(lending, start)
        assert done.borrower == b.address


def test_a_rise_nobody_confirmed_counts_at_once_so_a_live_healthy_position_is_not_liquidated(
    lending, accounts, chain, tmp_path
):
    """DESIGN.md invariant 6 on chain ("a position with health >= 1 cannot be liquidated",
    health at live prices). 50 gold (100,000) and 50,000 of invoices behind 99,000. Invoices fall
    60 % (confirmed: 14,000 of weighted value left); gold prints 3,000 (+50 %), pending. At the
    live prices the position is healthy ((112,500 + 14,000) / 99,000 = 1.28); at the band's
    high edge, 2,200, it would not be ((82,500 + 14,000) / 99,000 = 0.975: branch `clamp`
    liquidated it there). A rise counts at once (`liquidationPrice` is never below the live
    price, and never above it on a rise): `liquidate` of either token is refused
    `HealthyPosition` at a health >= 1, the trigger says "healthy", and the keeper's pass pokes
    and liquidates nothing."""
    b, k = accounts[4], accounts[7]
    gold, invoices = lending.token("gold"), lending.token("invoices")
    book, router = lending.book, lending.vs.router
    with isolated(chain):
        lending.buy_collateral(b, "gold", 100_000 * USDC)
        lending.buy_collateral(b, "invoices", 50_000 * USDC)
        for token in (gold, invoices):
            book.depositCollateral(token, token.balanceOf(b), sender=b)
        book.borrow(99_000 * USDC, sender=b)
        lending.set_nav("invoices", NAVS["invoices"] * 40 // 100)
        fell = [(invoices, lending.feed("invoices"))]
        assert confirm_moves(router, lending.vs.registry, fell, lending.vs.governance)
        lending.set_nav("gold", NAVS["gold"] * 150 // 100)
        router.poke(gold, sender=k)  # pending: the reference stays 2,000
        assert router.lastPrice(gold)[0] == 2_000 * 10**18
        assert router.priceBand(gold) == (2_000 * 10**18, 3_000 * 10**18)  # the band open
        start = chain.blocks.head.number + 1
        assert router.liquidationPrice(gold) == 3_000 * 10**18  # the live price
        debt = book.debtOf(b)
        assert 99_000 * USDC <= debt < 99_100 * USDC
        assert debt > (82_500 + 14_000) * USDC  # unhealthy had the rise counted only to 2,200
        assert book.healthFactor(b) >= 126_500 * WAD // 99_100  # 1.28 at the print
        for token in (gold, invoices):
            outcome = revert_of(book, "liquidate", b, token, MAX_UINT256, sender=k)
            assert outcome is not None and outcome[0] == "HealthyPosition", outcome
            assert outcome[1]["health"] >= WAD, outcome
        assert tuple(book.liquidationTrigger(b)) == (False, b"healthy")
        report = keeper(protocol_of(lending), k, tmp_path).run("liquidator")
        assert pokes(report) == [] and liquidations(lending, start) == []
        assert book.collateralOf(b, gold) == 50 * 10**18


# ------------------------------------------- the keeper's read and plan against the book

STATES = ("flat", "within", "down", "up", "confirmed", "stale")
NAVS = {"gold": 2_000 * FEED_UNIT, "invoices": FEED_UNIT}


def set_band(lending, name: str, state: str, sender) -> None:
    """Put collateral `name` in band `state` (the confirmations are made before the others)."""
    feed, token = lending.feed(name), lending.token(name)
    nav = NAVS[name]
    if state == "within":
        lending.set_nav(name, nav * 93 // 100)  # -7 %: inside the band
    elif state in ("down", "up"):
        lending.set_nav(name, nav * (60 if state == "down" else 140) // 100)
        lending.vs.router.poke(token, sender=sender)  # recorded, pending: the band open
    elif state == "confirmed":
        lending.set_nav(name, nav * 60 // 100)
        assert confirm_moves(lending.vs.router, lending.vs.registry, [(token, feed)],
                             lending.vs.governance)  # fmt: skip
    elif state == "stale":  # a -40 % print nobody confirmed, then the feed stopped
        feed.setRound(nav * 60 // 100, chain_now(lending) - 2 * 86_400,
                      sender=lending.vs.governance)  # fmt: skip


def chain_now(lending) -> int:
    return lending.book.provider.get_block("latest").timestamp


@pytest.mark.parametrize("invoices", STATES)
@pytest.mark.parametrize("gold", STATES)
def test_the_keeper_plans_what_the_book_allows_in_every_band_state(
    lending, accounts, chain, gold, invoices
):
    """Differential across band states (gold x invoices: within the band, a fall or a rise
    pending, a fall confirmed, a crash print gone stale): the keeper's own read (`read_book`:
    `tryPrice` and `liquidationPrice`) gives, for each token, `plan_liquidation` =
    `previewLiquidation` (amounts or the custom error) at the read block, `liquidation_trigger`
    = `liquidationTrigger`; and the liquidation the keeper's planner would send goes through, on
    the token it planned.
    50 gold (100,000) and 50,000 of invoices behind 99,000 (health 1.11 at the references)."""
    b, k = accounts[4], accounts[7]
    with isolated(chain):
        lending.buy_collateral(b, "gold", 100_000 * USDC)
        lending.buy_collateral(b, "invoices", 50_000 * USDC)
        for name in ("gold", "invoices"):
            token = lending.token(name)
            lending.book.depositCollateral(token, token.balanceOf(b), sender=b)
        lending.book.borrow(99_000 * USDC, sender=b)
        order = sorted((("gold", gold), ("invoices", invoices)), key=lambda s: s[1] != "confirmed")
        for name, state in order:
            set_band(lending, name, state, k)
        head = chain.blocks.head.number

        multicall = Multicall(ensure_multicall(accounts[0]))
        read = read_book(multicall, protocol_of(lending), [b.address],
                         str(lending.asset.address), block=head)  # fmt: skip
        (borrower,) = read.borrowers
        pos, rules = borrower.position, read.rules
        for h in pos.held:
            planned = plan_liquidation(pos, h.token, MAX_UINT256, rules)
            router = (lending.vs.router,)  # StalePrice is the router's
            out = revert_of(lending.book, "previewLiquidation", b, h.token, MAX_UINT256,
                            sender=k, block=hex(head), decode_with=router)  # fmt: skip
            if isinstance(planned, Refusal):
                assert out is not None and out[0] == planned.error, (h.token, planned, out)
            else:
                assert out is None, (h.token, out)
                got = lending.book.previewLiquidation(b, h.token, MAX_UINT256, block_id=head)
                assert tuple(got) == (planned.repay, planned.seized)
        call = liquidation_trigger(pos, rules)
        ok, data = lending.book.liquidationTrigger(b, block_id=head)
        # the clamp: a token counts at its live price floored at the 10 % band's lower edge around
        # the reference (a pending -40 % fall at 90, a pending +40 % rise at once, 140), a stale
        # one at its last print; below health 1 (the debt, interest included) with a fresh token
        worth = {"flat": 100, "within": 93, "down": 90, "up": 140, "confirmed": 60, "stale": 60}
        adjusted = worth[gold] * 750 + worth[invoices] * 350  # 0.75 x 100,000 and 0.7 x 50,000
        debt = lending.book.debtOf(b, block_id=head)
        assert ok == (adjusted * USDC < debt and (gold, invoices) != ("stale", "stale"))
        if isinstance(call, NoLiquidation):
            assert (ok, bytes(data)) == (False, call.reason.encode())
        else:  # liquidate(borrower, token, MAX): the token in the second word
            assert ok and bytes(data)[48:68].hex() == call.token.lower()[2:]

        report = plan_liquidations([borrower], rules, GasMarket(0, 0, WAD))
        for p in report.plans:  # what the keeper would send is allowed, on the token planned
            lending.asset.approve(lending.book, 2**256 - 1, sender=k)
            tx = lending.book.liquidate(b, p.token, p.repay_amount, sender=k)
            (done,) = tx.decode_logs(lending.book.Liquidated)
            assert done.token.lower() == p.token.lower()
            assert done.seized >= p.liquidation.seized * 99 // 100  # a block's interest apart
        for s in report.skipped:  # what it skips for want of a price is refused by the book
            if s.reason in ("nothing to seize", "stale price", WAITS_ON_A_FALL):
                assert not ok
