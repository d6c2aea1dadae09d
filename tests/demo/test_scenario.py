"""The demo's scenario, short (6 weeks), played in the test suite: the outcomes the README's demo
promises, asserted on chain."""

from __future__ import annotations

import pytest
from ape import chain
from eth_abi import decode as abi_decode
from eth_utils import keccak

from ballast.demo.actors import OPERATOR_DEPOSITORS
from ballast.demo.scenario import MAX_WEEKS, MIN_WEEKS, plan
from ballast.demo.world import OUTAGE_STRIKER, SETTLER, World
from ballast.parameters import key_of
from keepers.math import WAD


def test_the_plan_is_reproducible_and_ordered():
    a, b = plan(11, 8), plan(11, 8)
    assert a == b
    assert plan(12, 8).gold != a.gold
    assert a.freeze_day < a.redeem_days[0] < a.unfreeze_day < a.gamble_day < a.crash_day
    assert a.redeem_days[0] < a.settler_down_day < a.unfreeze_day  # the queue needs a strike
    assert a.crash_day < a.proposal_day < a.pause_day < a.resume_day < a.days
    assert a.gold[a.crash_day] < a.gold[a.crash_day - 1] * (1 - a.crash_drop) * 1.1
    for weeks in (MIN_WEEKS - 1, MAX_WEEKS + 1):
        with pytest.raises(ValueError, match=f"runs {MIN_WEEKS} to {MAX_WEEKS} weeks"):
            plan(1, weeks)
    assert plan(1, MAX_WEEKS).days == 7 * MAX_WEEKS


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


def test_the_queue_fills_during_the_freeze_and_drains_after(played):
    world, record = played
    plan, vault = world.plan, world.vault
    pending = {d.day: d.pending_redemptions for d in record.days}
    queue = {d.day: (round(d.pending_redemptions), round(d.claimable_redemptions))
             for d in record.days if d.pending_redemptions or d.claimable_redemptions}  # fmt: skip
    print(f"queue by day (pending shares, claimable assets): {queue}")
    print("strikes filling redemptions:", [(k.day, round(k.redeem_assets)) for k in record.strikes
                                           if k.redeem_shares])  # fmt: skip
    frozen = range(plan.freeze_day, plan.unfreeze_day)
    assert max(pending[d] for d in frozen) > 0, "the redemptions never waited"
    fills = [k for k in record.strikes if k.redeem_shares]
    assert fills, "no strike filled a redemption"
    assert fills[0].day > plan.redeem_days[0]  # forward pricing: never on the request's day
    # while the T-bill issuer is frozen, strikes fill what liquidity allows; the rest waits
    assert any(pending[k.day] > 0 for k in fills if k.day in frozen), (
        "no strike during the freeze left redemptions queued"
    )
    drained = [k.day for k in fills if pending[k.day] == 0]
    assert drained and drained[0] >= plan.unfreeze_day, (
        f"the queue drained before the issuer resumed: {queue}"
    )
    assert vault.pendingRedemptions() == 0 and record.days[-1].pending_redemptions == 0
    # every filled redemption was claimed: no depositor has anything left to claim; what the
    # vault still sets aside is the rounding of pro-rata fills, at most a unit per depositor and
    # filling strike (a partial claim rounds against the claimer, IRWAVault)
    assert all(vault.maxRedeem(who) == 0 for who in world.actors.depositors)
    assert vault.claimableRedemptions() <= len(fills) * len(world.actors.depositors)
    assert any(e.kind == "claim" for e in record.events)


def test_the_settler_keeper_strikes_and_claims_through_the_relay_for_its_depositors(played):
    """Every strike is the settler keeper's job, except on the day it is down: then a depositor
    strikes (anyone may) and fills redemptions. The settler claims, through the claim relay, for
    the depositors that made the relay their operator (never its own key), to them; the others
    (and everyone on the outage day) claim themselves. Its own JobReports, recorded by the
    tracker, count exactly those transactions (one relay claim a depositor a day, whatever it
    claimed)."""
    world, record = played
    vault, outage = world.vault, world.plan.settler_down_day
    settler, relay = str(world.settler_account.address), str(world.protocol.claim_relay.address)
    operators = {f"depositor {i}" for i in range(OPERATOR_DEPOSITORS)}
    for i, who in enumerate(world.actors.depositors):
        assert vault.isOperator(who, relay) == (i < OPERATOR_DEPOSITORS)
        assert not vault.isOperator(who, settler)
    print("strikes by:", [(k.day, k.by) for k in record.strikes])
    assert record.strikes
    assert all(k.by == SETTLER for k in record.strikes if k.day != outage)
    (fallback,) = [k for k in record.strikes if k.day == outage]
    assert fallback.by == f"depositor {OUTAGE_STRIKER}" and fallback.redeem_shares > 0
    assert record.claims
    for claim in record.claims:
        if claim.controller in operators and claim.day != outage:
            assert claim.by == SETTLER, claim
        else:
            assert claim.by == claim.controller, claim  # the depositor itself
    settler_claims = [c for c in record.claims if c.by == SETTLER]
    assert {c.kind for c in settler_claims} == {"deposit", "redeem"}
    assert any(c.day == outage and c.kind == "redeem" for c in record.claims)
    # on chain: the relay paid every redemption the record says the settler claimed
    head = chain.blocks.head.number + 1
    redeemed = [e for e in vault.Withdraw.range(0, head) if str(e.sender) == relay]
    assert len(redeemed) == sum(c.kind == "redeem" for c in settler_claims)
    assert all(str(e.receiver) == str(e.owner) for e in redeemed)  # paid to the controller
    # the keeper's own reports: every action it took mined, one per strike and relay claim
    strikes = sum(k.by == SETTLER for k in record.strikes)
    relay_claims = len({(c.day, c.controller) for c in settler_claims})
    assert record.keeper_actions[SETTLER] == {"mined": strikes + relay_claims}
    assert record.keeper_gas[SETTLER] > 0
    assert any(e.kind == "keeper" and e.day == outage for e in record.events)


def test_every_request_was_settled_or_is_still_pending(played):
    """What was requested is what strikes settled plus what still waits, to the unit, from the
    chain's events; and every depositor claimed what was settled for it."""
    world, record = played
    vault = world.vault
    head = chain.blocks.head.number + 1
    requested = sum(int(e.assets) for e in vault.DepositRequest.range(0, head))
    settled = [e.strike for e in vault.StrikeSettled.range(0, head)]
    deposits = sum(int(k["depositAssets"] if isinstance(k, dict) else k[4]) for k in settled)
    assert requested > 0 and requested == deposits + vault.pendingDeposits()
    escrowed = sum(int(e.shares) for e in vault.RedeemRequest.range(0, head))
    burned = sum(int(k["redeemShares"] if isinstance(k, dict) else k[6]) for k in settled)
    assert escrowed > 0 and escrowed == burned + vault.pendingRedemptions()
    assert len(settled) == int(vault.strikeCount()) == len(record.strikes)
    for who in world.actors.depositors:
        assert vault.maxDeposit(who) == 0 and vault.maxRedeem(who) == 0  # all claimed


def test_no_depositor_got_shares_at_a_price_set_before_its_request(played):
    """Each deposit request settles at the first strike after it that settles deposits, and every
    sleeve price that strike used was published after the request (forward pricing)."""
    world, record = played
    deposits = [r for r in record.requests if r.kind == "deposit"]
    assert deposits
    for request in deposits:
        later = [
            k for k in record.strikes if k.settled_deposits and k.timestamp > request.timestamp
        ]
        if not later:
            assert world.vault.pendingDepositRequest(0, request.controller) > 0
            continue
        strike = later[0]
        assert strike.prices_from > request.timestamp, (request, strike)
        assert strike.day > request.day


def test_a_slash_is_a_donation_that_unlocks(played):
    world, record = played
    vault = world.vault
    head = chain.blocks.head.number + 1
    donated = list(vault.Donated.range(0, head))
    assert donated and all(
        str(e.event_arguments["from"]) == str(world.agents.address) for e in donated
    )
    period = world.protocol.registry.get(key_of("vault.unlockPeriod"))
    for e in donated:
        stamp = chain.blocks[e.block_number].timestamp
        assert int(e.locked) > 0 and int(e.lockedUntil) == stamp + period
    locked, _ = vault.lockedDonations()
    assert locked == 0  # the run ends more than vault.unlockPeriod after the slash


STEWARD_UPDATE = "0x" + keccak(text="StewardUpdate(bytes32,string,bytes32[],uint256[])").hex()
STEWARD_WITHIN_HOURS = 6


def steward_updates(world) -> list[tuple[int, dict[bytes, int]]]:
    """(timestamp, {key: value}) of every StewardUpdate the registry logged, in order."""
    where = {"address": world.protocol.registry.address, "topics": [STEWARD_UPDATE],
             "fromBlock": 0, "toBlock": "latest"}  # fmt: skip
    logs = chain.provider.web3.eth.get_logs(where)
    out = []
    for log in logs:
        _, keys, values = abi_decode(["string", "bytes32[]", "uint256[]"], bytes(log["data"]))
        stamp = chain.blocks[int(log["blockNumber"])].timestamp
        out.append((stamp, {bytes(k): int(v) for k, v in zip(keys, values, strict=True)}))
    return out


def test_the_steward_tightens_gold_within_hours_of_the_crash(played):
    """The fast path: the crash's oracle round is published at the start of the crash day; the
    steward's `stewardSetBatch` lowering lend.ltvBps.gold lands within hours of it, by at most
    its step (70 bps of the value), days before the DAO's larger cut."""
    world, record = played
    crash_at = world.t0 + record.crash_day * 86_400
    gold_ltv = key_of("lend.ltvBps.gold")
    updates = steward_updates(world)
    print("steward updates (seconds after the crash, gold LTV):",
          [(t - crash_at, m.get(gold_ltv)) for t, m in updates])  # fmt: skip
    before = [m for t, m in updates if t < crash_at and gold_ltv in m]
    ltv = before[-1][gold_ltv] if before else 7_000  # local.yaml's gold LTV
    cut = [(t, m[gold_ltv]) for t, m in updates if t >= crash_at and gold_ltv in m]
    assert cut, "the steward never moved gold's LTV after the crash"
    when, value = cut[0]
    assert when - crash_at <= STEWARD_WITHIN_HOURS * 3_600
    assert ltv * (10_000 - 70) // 10_000 <= value < ltv  # lower, by at most its step
    executed = [e for e in record.events if e.kind == "governance" and "executed" in e.text]
    assert executed and executed[0].day > record.crash_day + 2  # the DAO's vote is the slow path
    assert any(e.kind == "steward" and e.day == record.crash_day for e in record.events)


def test_governance_and_the_guardian_acted_within_bounds(played):
    world, record = played
    registry = world.protocol.registry
    executed = [e.text for e in record.events if e.kind == "governance" and "executed" in e.text]
    assert executed == ["proposal executed: lend.ltvBps.gold = 6000"]  # the DAO's proposal
    assert registry.get(key_of("lend.ltvBps.gold")) <= 6_000  # the steward only tightens
    paused = [d.day for d in record.days if d.automation_paused]
    assert paused == list(range(world.plan.pause_day, world.plan.resume_day))
    for spec in world.deployment_config.parameters:
        value = registry.get(key_of(spec.name))
        assert spec.min <= value <= spec.max, spec.name
