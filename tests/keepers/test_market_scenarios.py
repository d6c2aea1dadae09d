"""Keeper passes through market scenarios nobody tuned on (branch `market9`), against the
system the keeper tests deploy (`supplied_book`: three RWA sleeves and the lending book, 1M
supplied, one borrower) with half the vault moved into tbill and gold.

What users rely on: one blip does not pause automation (the sentinel's hysteresis), whichever
way the blip went; a move the router accepted that falls back is a real fall and still trips.
"""

from __future__ import annotations

import pytest

from tests.keeper_support import keeper, protocol_of, supplied_book
from tests.vault_support import FEED_UNIT, isolated

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
    """Gold's feed prints +60 % for ten minutes (a bad print), seen by one sentinel pass, then
    publishes 2,000 again. The router never accepted 3,200 (beyond `oracle.maxDeviationBps`,
    unconfirmed), no strike or leaver was priced at it; one critical pass is a blip and does
    not pause. The fall back to the reference is no fall of the share price anyone is paid at:
    it must not trip the sentinel at once as a NAV shock either."""
    lending = fresh
    vault = lending.vault
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
