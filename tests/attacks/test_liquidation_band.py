"""Second read of "liquidations price every token at the high end of its price band" (branch
`liqread`): how long a legitimate liquidation waits on the band, and who closes it.

A liquidation values a token at its band's high end, so a fall beyond `oracle.maxDeviationBps`
counts only once the router confirmed it: a poke records it, a poke `oracle.confirmDelay` later
confirms it. The liquidator keeper used to poke nothing: alone (no sentinel, or one not tripped:
the sentinel confirms only once tripped) it never liquidated a real crash, however long it held.
Each test below has a borrower on gold (50 gold, 2,000 each at the reference) owing 69,900, and
the keeper (accounts[7]) running its liquidator job alone, nobody else poking after the fall.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from keepers.math import WAD
from tests.keeper_support import keeper, protocol_of
from tests.lending_support import FEED_UNIT, USDC, deploy_lending_system
from tests.vault_support import faucet, isolated, revert_of

DEBT = 69_900 * USDC


@pytest.fixture(scope="module")
def lending(project, accounts):
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 1_000_000 * USDC)
    faucet(lending.asset, accounts[7], 1_000_000 * USDC)  # the keeper's inventory
    return lending


def delay_of(lending) -> int:
    return int(lending.vs.registry.get(keccak(text="oracle.confirmDelay")))


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
    """Gold falls 15 % (health 0.911 at the live price, a full close) and stays there. The
    keeper's first pass records the fall (a poke, nothing to seize yet); oracle.confirmDelay
    later its next pass confirms it and liquidates in the same pass. Before: the keeper poked
    nothing, the fall stayed unrecorded and the position unliquidated for good."""
    b = accounts[4]
    with isolated(chain):
        lending.open_position(b, "gold", 100_000 * USDC, DEBT)
        start = chain.blocks.head.number + 1
        lending.set_nav("gold", 1_700 * FEED_UNIT)
        assert lending.book.healthFactor(b) < WAD
        assert refusal(lending, b, accounts[7]) == "HealthyPosition"  # the band's high end

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
        assert done.repaid >= DEBT  # all of it, the hour's interest included
        assert lending.book.debtOf(b) == 0
        assert lending.vs.router.lastPrice(lending.token("gold"))[0] == 1_700 * 10**18


def test_a_further_fall_past_the_band_edge_of_an_old_reference_holds_a_liquidation_off(
    lending, accounts, chain, tmp_path
):
    """The band is measured from the reference, which follows the feed within the band only when
    somebody pokes (the sentinel's heartbeat: once its age passes oracle.maxStaleness). Gold
    drifts from 2,000 to 1,840 (-8 %): health 0.987, liquidatable. It slips on to 1,790: the
    live health falls to 0.960, yet the liquidation is refused (`HealthyPosition` at 1.073: gold
    counts at the 2,000 reference again) until the 10.5 % "move" is confirmed: a further fall
    made a due liquidation wait oracle.confirmDelay. The keeper records and confirms it itself,
    so the wait is that delay, not unbounded."""
    b = accounts[4]
    with isolated(chain):
        lending.open_position(b, "gold", 100_000 * USDC, DEBT)  # its deposit poked: ref 2,000
        start = chain.blocks.head.number + 1
        lending.set_nav("gold", 1_840 * FEED_UNIT)
        health_at_1840 = lending.book.healthFactor(b)
        assert 986 * WAD // 1000 < health_at_1840 < WAD
        assert refusal(lending, b, accounts[7]) is None  # due
        lending.set_nav("gold", 1_790 * FEED_UNIT)
        assert lending.book.healthFactor(b) < health_at_1840
        assert refusal(lending, b, accounts[7]) == "HealthyPosition"  # held off

        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        k.run("liquidator")
        assert liquidations(lending, start) == []
        later(chain, lending, delay_of(lending))
        k.run("liquidator")
        (done,) = liquidations(lending, start)
        assert done.borrower == b.address


def test_a_confirmed_upward_print_holds_a_liquidation_off_a_delay_after_it_ended(
    lending, accounts, chain, tmp_path
):
    """docs/security.md: "a faulty high round holds a liquidation off while it stands". Worse:
    gold prints 3,000 (+50 %) and stands oracle.confirmDelay; the borrower itself pokes twice
    and the print becomes the reference. The feed comes back to 1,840 (health 0.987, due at any
    reference it held before): the liquidation is still refused (`HealthyPosition`, gold at
    3,000) until that fall is confirmed, oracle.confirmDelay after somebody records it. The
    keeper records it on its first pass and liquidates on the first pass after the delay."""
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
        assert refusal(lending, b, accounts[7]) == "HealthyPosition"

        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        k.run("liquidator")
        assert liquidations(lending, start) == []
        assert refusal(lending, b, accounts[7]) == "HealthyPosition"  # recorded, pending
        later(chain, lending, delay_of(lending))
        k.run("liquidator")
        (done,) = liquidations(lending, start)
        assert done.borrower == b.address
