"""The demo's scenario, short (6 weeks), played in the test suite: the outcomes the README's demo
promises, asserted on chain."""

from __future__ import annotations

import pytest

from ballast.demo.scenario import MIN_WEEKS, plan
from ballast.demo.world import World
from ballast.parameters import key_of
from keepers.math import WAD


def test_the_plan_is_reproducible_and_ordered():
    a, b = plan(11, 8), plan(11, 8)
    assert a == b
    assert plan(12, 8).gold != a.gold
    assert a.freeze_day < a.redeem_days[0] < a.unfreeze_day < a.gamble_day < a.crash_day
    assert a.crash_day < a.proposal_day < a.pause_day < a.resume_day < a.days
    assert a.gold[a.crash_day] < a.gold[a.crash_day - 1] * (1 - a.crash_drop) * 1.1
    with pytest.raises(ValueError, match="at least"):
        plan(1, MIN_WEEKS - 1)


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    world = World(plan(seed=7, weeks=MIN_WEEKS), tmp_path_factory.mktemp("demo"), say=lambda _: 0)
    world.setup()
    world.play()
    return world, world.finish()


def liquidated(record) -> set[str]:
    return {liq.borrower for liq in record.liquidations}


def test_every_unhealthy_position_is_liquidated(played):
    world, record = played
    assert record.crash_day is not None
    plan, book = world.plan, world.book
    ratio = plan.gold[record.crash_day] / plan.gold[record.crash_day - 1]
    gold = {b for b in world.health_before if world.actors.collateral[b] == "gold"}
    # a gold-backed position's health scales with the gold price (interest is a day's worth)
    sunk = {b for b in gold if world.health_before[b] * ratio < 0.995}
    near = {b for b in gold if world.health_before[b] * ratio < 1.005}
    afloat = set(world.health_before) - near
    assert sunk, "the crash made nobody unhealthy"
    assert sunk <= liquidated(record), "an unhealthy position was not liquidated"
    assert not (afloat & liquidated(record)), "a healthy position was liquidated"
    assert {liq.collateral for liq in record.liquidations} == {"gold"}
    assert all(liq.day == record.crash_day for liq in record.liquidations)
    for who in world.actors.borrowers:  # and at the end
        assert book.debtOf(who) == 0 or book.healthFactor(who) >= WAD


def test_the_gamblers_decision_is_slashed_and_the_slash_executed(played):
    world, record = played
    gambles = [d for d in record.decisions if d.agent == "gambler"]
    assert len(gambles) == 1
    (bad,) = gambles
    assert bad.excess_bps is not None and bad.excess_bps < -200
    assert bad.slash_amount and bad.slash_executed_day is not None
    assert world.agents.agentInfo(world.gambler).slashed > 0
    assert all(d.slash_id is None for d in record.decisions if d.agent == "strategist")
    # the strategist's first move after the gambler's cuts the gold back (it trends down)
    window = range(world.plan.gamble_day, record.crash_day + 1)
    later = [d for d in record.decisions if d.agent == "strategist" and d.day in window]
    assert later, "the strategist never answered the gamble before the crash"
    assert later[0].new_weights["gold"] < later[0].old_weights["gold"]
    assert later[0].excess_bps is not None and later[0].excess_bps > 0


def test_the_queue_fills_and_drains(played):
    world, record = played
    queued = [d.queued_shares for d in record.days]
    assert max(queued) > 0, "the redemptions never waited"
    assert world.vault.queuedShares() == 0 and queued[-1] == 0
    assert any(e.kind == "redeem-paid" for e in record.events)


def test_governance_and_the_guardian_acted_within_bounds(played):
    world, record = played
    registry = world.protocol.registry
    assert registry.get(key_of("lend.ltvBps.gold")) == 6_000  # the DAO's proposal executed
    paused = [d.day for d in record.days if d.automation_paused]
    assert paused == list(range(world.plan.pause_day, world.plan.resume_day))
    for spec in world.deployment_config.parameters:
        value = registry.get(key_of(spec.name))
        assert spec.min <= value <= spec.max, spec.name
