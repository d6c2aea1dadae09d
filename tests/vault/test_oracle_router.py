"""OracleRouter: WAD prices from Chainlink-style feeds, staleness and sign checks, the
last-accepted-price fallback, and the deviation reference the sentinel keeper and the lending
book rely on: it follows the feed at most once per `oracle.confirmDelay`, and a move beyond
`oracle.maxDeviationBps` only once it has held that long (`priceBand` shows it until then).

Feeds are MockAggregators. Time is explicit: `chain.pending_timestamp = t` makes the next
transaction run at `t`, and views called with `block_id="pending"` see that same timestamp.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vault_support import DAY, FEED_UNIT, WAD, deploy_vault_system, isolated

TOKEN = to_checksum_address("0x" + "7a" * 20)  # an RWA token address with a feed set per test
FRESH = to_checksum_address("0x" + "7b" * 20)  # given a feed inside a single test only
UNKNOWN = to_checksum_address("0x" + "0b" * 20)  # never given a feed
ADMIN_ROLE = b"\x00" * 32
MAX_DEVIATION_BPS = 1_000  # oracle.maxDeviationBps in tests.vault_support
CONFIRM_DELAY = 3_600  # oracle.confirmDelay in tests.vault_support


@pytest.fixture(scope="module")
def system(project, accounts):
    return deploy_vault_system(project, accounts[0], accounts[1], accounts[5])


@pytest.fixture(scope="module")
def router(system):
    return system.router


@pytest.fixture(scope="module")
def admin(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def keeper(accounts):
    return accounts[7]


def deploy_feed(project, owner, decimals: int, answer: int):
    return owner.deploy(project.MockAggregator, decimals, "TEST / USD", answer, owner)


@pytest.fixture(scope="module")
def feed(project, router, admin):
    """An 8-decimal feed for TOKEN at 1.00; setFeed accepted that price."""
    f = deploy_feed(project, admin, 8, FEED_UNIT)
    router.setFeed(TOKEN, f, sender=admin)
    return f


def only_event(receipt, event):
    (log,) = receipt.events.filter(event)
    return log


def at(chain, t: int) -> int:
    """Makes the next transaction (and `block_id="pending"` views) run at `t`, or at the next
    second when `t` is already past; returns that time."""
    t = max(t, chain.blocks.head.timestamp + 1)
    chain.pending_timestamp = t
    return t


def after_delay(router, chain, token=TOKEN) -> int:
    """The next transaction runs once the reference of `token` is `oracle.confirmDelay` old."""
    return at(chain, router.lastPrice(token)[1] + CONFIRM_DELAY)


def router_events(receipt, router) -> list[str]:
    """Names of the router's events in `receipt`, in order."""
    names = {"PriceAccepted", "PriceDeviation", "PriceMovePending", "PriceMoveDropped"}
    return [log.event_name for log in receipt.events if log.event_name in names]


# ------------------------------------------------------------------ price()


@pytest.mark.parametrize(
    "decimals, answer, expected",
    [
        (8, 2_000_12345678, 2_000_12345678 * 10**10),
        (18, 1_234_567_890_123_456_789, 1_234_567_890_123_456_789),
        (6, 1_000_001, 1_000_001 * 10**12),
        (20, 123_456_789_012_345_678_999, 1_234_567_890_123_456_789),  # rounds down
        (0, 7, 7 * WAD),
        (36, 5 * 10**36 + 10**18 - 1, 5 * WAD),  # rounds down
    ],
)
def test_price_normalises_feed_decimals_to_wad(project, router, admin, decimals, answer, expected):
    f = deploy_feed(project, admin, decimals, answer)
    receipt = router.setFeed(FRESH, f, sender=admin)
    set_log = only_event(receipt, router.FeedSet)
    assert (set_log.token, set_log.feed, set_log.decimals) == (FRESH, f.address, decimals)
    assert router.price(FRESH) == expected
    assert router.feedOf(FRESH) == f.address


def test_sleeve_feeds_read_as_wad(system):
    assert system.router.price(system.sleeve("tbill").token) == WAD
    assert system.router.price(system.sleeve("gold").token) == 2_000 * WAD


@pytest.mark.parametrize("staleness", [DAY, 3_600])
def test_price_is_fresh_at_exactly_max_staleness_and_stale_one_second_later(
    system, router, feed, admin, keeper, chain, staleness
):
    system.set_param("oracle.maxStaleness", staleness)
    updated = feed.setAnswer(105_000_000, sender=admin).timestamp

    chain.pending_timestamp = updated + staleness
    assert router.price(TOKEN, block_id="pending") == 105 * WAD // 100
    router.poke(TOKEN, sender=keeper)  # a transaction at the boundary still reads the price

    chain.pending_timestamp = updated + staleness + 1
    with ape.reverts(router.StalePrice, token=TOKEN, updatedAt=updated):
        router.price(TOKEN, block_id="pending")
    with ape.reverts(router.StalePrice, token=TOKEN, updatedAt=updated):
        router.poke(TOKEN, sender=keeper)


def test_old_round_is_stale(router, feed, admin, chain):
    now = chain.blocks.head.timestamp + 10
    chain.pending_timestamp = now
    feed.setRound(FEED_UNIT, now - DAY - 1, sender=admin)
    with ape.reverts(router.StalePrice, token=TOKEN, updatedAt=now - DAY - 1):
        router.price(TOKEN)


@pytest.mark.parametrize("answer", [0, -1, -2_000 * FEED_UNIT])
def test_non_positive_answer_is_invalid(router, feed, admin, keeper, answer):
    feed.setAnswer(answer, sender=admin)
    with ape.reverts(router.InvalidPrice, token=TOKEN, answer=answer):
        router.price(TOKEN)
    with ape.reverts(router.InvalidPrice, token=TOKEN, answer=answer):
        router.poke(TOKEN, sender=keeper)


def test_unknown_token_has_no_feed(router, keeper):
    assert router.feedOf(UNKNOWN) == ape.utils.ZERO_ADDRESS
    assert router.lastPrice(UNKNOWN) == (0, 0)
    with ape.reverts(router.FeedNotSet, token=UNKNOWN):
        router.price(UNKNOWN)
    with ape.reverts(router.FeedNotSet, token=UNKNOWN):
        router.tryPrice(UNKNOWN)
    with ape.reverts(router.FeedNotSet, token=UNKNOWN):
        router.poke(UNKNOWN, sender=keeper)
    assert router.deviationTrigger(UNKNOWN) == (False, b"no feed")


# ------------------------------------------------------------------ tryPrice()


def test_try_price_returns_the_fresh_price(router, feed, admin):
    feed.setAnswer(107_000_000, sender=admin)  # not poked: fresh beats last accepted
    assert router.tryPrice(TOKEN) == (107 * WAD // 100, True)


def test_try_price_gives_the_stale_answer_when_stale(router, feed, admin, keeper, chain):
    feed.setAnswer(104_000_000, sender=admin)
    router.poke(TOKEN, sender=keeper)
    updated = feed.setAnswer(106_000_000, sender=admin).timestamp  # read fresh, never accepted
    chain.pending_timestamp = updated + DAY + 1
    # The stale feed's own answer is newer than the last accepted price (and is what an issuer
    # settles at), so valuations use it, flagged as not fresh.
    assert router.tryPrice(TOKEN, block_id="pending") == (106 * WAD // 100, False)


@pytest.mark.parametrize("answer", [0, -5])
def test_try_price_falls_back_to_last_accepted_price_when_invalid(router, feed, admin, answer):
    feed.setAnswer(answer, sender=admin)
    assert router.tryPrice(TOKEN) == (WAD, False)  # accepted when the feed was set


def test_try_price_reverts_when_no_price_was_ever_accepted(project, router, admin):
    f = deploy_feed(project, admin, 8, 0)
    router.setFeed(FRESH, f, sender=admin)  # unusable answer: nothing accepted
    assert router.lastPrice(FRESH) == (0, 0)
    with ape.reverts(router.InvalidPrice, token=FRESH, answer=0):
        router.tryPrice(FRESH)
    f.setAnswer(3 * FEED_UNIT, sender=admin)
    assert router.tryPrice(FRESH) == (3 * WAD, True)


def test_the_liquidation_price_is_the_live_price_floored_at_the_band_edge_rounded_down(
    project, router, admin, chain
):
    """`liquidationPrice`: max(live, ref (1 - b)), b = oracle.maxDeviationBps (10 %), the edge
    rounded down; never above the live price (a rise counts at once: DESIGN.md invariant 6);
    the live price without a reference; reverts as `price`."""
    f = deploy_feed(project, admin, 18, 999)  # a 999-wei reference: the low edge 899.1
    router.setFeed(FRESH, f, sender=admin)
    assert router.lastPrice(FRESH)[0] == 999
    cases = [(1, 899), (898, 899), (899, 899), (900, 900), (950, 950), (1_050, 1_050),
             (1_099, 1_099), (10**6, 10**6)]  # fmt: skip
    for answer, expected in cases:
        f.setAnswer(answer, sender=admin)
        assert router.liquidationPrice(FRESH) == expected, answer
    f.setAnswer(1_050, sender=admin)
    assert router.priceBand(FRESH) == (1_050, 1_050)  # within the band: the live price
    updated = f.setAnswer(1, sender=admin).timestamp
    chain.pending_timestamp = updated + 30 * DAY  # past oracle.maxStaleness
    with ape.reverts(router.StalePrice, token=FRESH, updatedAt=updated):
        router.liquidationPrice(FRESH, block_id="pending")
    # No reference yet (an unusable first answer accepted nothing): the live price.
    g = deploy_feed(project, admin, 8, 0)
    unpriced = to_checksum_address("0x" + "7c" * 20)
    router.setFeed(unpriced, g, sender=admin)
    g.setAnswer(3 * FEED_UNIT, sender=admin)
    assert router.lastPrice(unpriced) == (0, 0)
    assert router.liquidationPrice(unpriced) == 3 * WAD


# ------------------------------------------------------------------ setFeed()


def test_set_feed_accepts_a_usable_initial_price(project, router, admin):
    f = deploy_feed(project, admin, 6, 2_500_000)
    receipt = router.setFeed(FRESH, f, sender=admin)
    assert only_event(receipt, router.PriceAccepted).price == 25 * WAD // 10
    assert router.lastPrice(FRESH) == (25 * WAD // 10, receipt.timestamp)


def test_set_feed_is_admin_only(project, router, admin, accounts):
    f = deploy_feed(project, admin, 8, FEED_UNIT)
    stranger = accounts[6]
    with ape.reverts(
        router.AccessControlUnauthorizedAccount, account=stranger.address, neededRole=ADMIN_ROLE
    ):
        router.setFeed(FRESH, f, sender=stranger)
    assert router.feedOf(FRESH) == ape.utils.ZERO_ADDRESS


def test_set_feed_rejects_invalid_feeds(project, router, admin, accounts):
    eoa = accounts[6].address
    with ape.reverts(router.InvalidFeed, feed=eoa):
        router.setFeed(FRESH, eoa, sender=admin)
    good = deploy_feed(project, admin, 8, FEED_UNIT)
    with ape.reverts(router.InvalidFeed, feed=good.address):
        router.setFeed(ape.utils.ZERO_ADDRESS, good, sender=admin)
    too_precise = deploy_feed(project, admin, 37, FEED_UNIT)
    with ape.reverts(router.InvalidFeed, feed=too_precise.address):
        router.setFeed(FRESH, too_precise, sender=admin)


# ------------------------------------------------------------------ poke() and deviation


def test_poke_accepts_the_fresh_price(router, feed, admin, keeper, chain):
    feed.setAnswer(103_000_000, sender=admin)
    after_delay(router, chain)
    receipt = router.poke(TOKEN, sender=keeper)
    accepted = only_event(receipt, router.PriceAccepted)
    assert (accepted.token, accepted.price) == (TOKEN, 103 * WAD // 100)
    assert router_events(receipt, router) == ["PriceAccepted"]
    assert router.lastPrice(TOKEN) == (103 * WAD // 100, receipt.timestamp)


def test_the_reference_follows_the_feed_at_most_once_per_confirm_delay(
    router, feed, admin, keeper, chain
):
    """Within the band too: pokes after every round of a slide cannot walk the reference down
    with it, so the slide stays visible against the reference for `oracle.confirmDelay`."""
    accepted_at = router.lastPrice(TOKEN)[1]
    feed.setAnswer(95_000_000, sender=admin)  # -5%: within the band
    at(chain, accepted_at + CONFIRM_DELAY - 1)
    receipt = router.poke(TOKEN, sender=keeper)
    assert receipt.timestamp == accepted_at + CONFIRM_DELAY - 1
    assert router_events(receipt, router) == []
    assert router.lastPrice(TOKEN) == (WAD, accepted_at)
    at(chain, accepted_at + CONFIRM_DELAY)
    receipt = router.poke(TOKEN, sender=keeper)  # exactly confirmDelay after the acceptance
    assert only_event(receipt, router.PriceAccepted).price == 95 * WAD // 100
    feed.setAnswer(90_000_000, sender=admin)  # another -5% round, poked at once
    at(chain, accepted_at + CONFIRM_DELAY + 1)
    assert router_events(router.poke(TOKEN, sender=keeper), router) == []
    assert router.lastPrice(TOKEN) == (95 * WAD // 100, accepted_at + CONFIRM_DELAY)


# Answers against a last accepted 1.00000000 with maxDeviationBps = 1_000 (10%).
AT_LIMIT = [110_000_000, 90_000_000]
BEYOND_LIMIT = [(110_000_001, 1_001), (89_999_999, 1_001), (150_000_000, 5_000), (1, 10_000)]


@pytest.mark.parametrize("answer", AT_LIMIT)
def test_move_of_exactly_max_deviation_is_not_reported(router, feed, admin, keeper, chain, answer):
    feed.setAnswer(answer, sender=admin)
    assert router.deviationTrigger(TOKEN) == (False, b"within deviation")
    assert router.priceBand(TOKEN) == (answer * 10**10, answer * 10**10)
    after_delay(router, chain)
    receipt = router.poke(TOKEN, sender=keeper)
    assert router_events(receipt, router) == ["PriceAccepted"]
    assert router.lastPrice(TOKEN)[0] == answer * 10**10


@pytest.mark.parametrize("answer, bps", BEYOND_LIMIT)
def test_move_beyond_max_deviation_is_held_for_confirm_delay_then_reported_rounded_up(
    router, feed, admin, keeper, chain, answer, bps
):
    new = answer * 10**10
    feed.setAnswer(answer, sender=admin)
    assert router.priceBand(TOKEN) == (min(new, WAD), max(new, WAD))
    receipt = router.poke(TOKEN, sender=keeper)
    pending = only_event(receipt, router.PriceMovePending)
    assert (pending.token, pending.referencePrice, pending.candidatePrice) == (TOKEN, WAD, new)
    assert (pending.deviationBps, pending.confirmableAt) == (bps, receipt.timestamp + CONFIRM_DELAY)
    assert router_events(receipt, router) == ["PriceMovePending"]
    assert router.lastPrice(TOKEN)[0] == WAD  # the reference stays
    assert router.pendingPrice(TOKEN) == (new, receipt.timestamp)

    at(chain, pending.confirmableAt)
    receipt = router.poke(TOKEN, sender=keeper)
    assert router_events(receipt, router) == ["PriceDeviation", "PriceAccepted"]
    deviation = only_event(receipt, router.PriceDeviation)
    assert (deviation.token, deviation.lastPrice) == (TOKEN, WAD)
    assert (deviation.newPrice, deviation.deviationBps) == (new, bps)
    assert only_event(receipt, router.PriceAccepted).price == new
    assert router.lastPrice(TOKEN) == (new, receipt.timestamp)
    assert router.pendingPrice(TOKEN) == (0, 0)
    assert router.priceBand(TOKEN) == (new, new)


@pytest.mark.parametrize(
    ("live", "accepted", "bps"),
    [(85_000_000, 85 * WAD // 100, 1_500), (75_000_000, 8 * WAD // 10, 2_000)],
    ids=["back-towards-the-reference", "further-out"],
)
def test_a_move_is_confirmed_exactly_confirm_delay_after_it_was_first_seen(
    router, feed, admin, keeper, chain, live, accepted, bps
):
    """-20 % is first seen, then held: confirmDelay later it is confirmed as far as it held,
    the less extreme of the live price and the pending one (IOracleRouter, rule 4). A live
    price further out is not confirmed with it; here it is within the band of the new
    reference, so nothing else is pending."""
    feed.setAnswer(80_000_000, sender=admin)
    seen = router.poke(TOKEN, sender=keeper).timestamp
    for t in (seen + 1, seen + CONFIRM_DELAY - 1):  # pokes in between change nothing
        at(chain, t)
        assert router.deviationTrigger(TOKEN, block_id="pending") == (
            False, b"move pending confirmation",
        )  # fmt: skip
        assert router_events(router.poke(TOKEN, sender=keeper), router) == []
    assert router.pendingPrice(TOKEN) == (8 * WAD // 10, seen)
    at(chain, seen + CONFIRM_DELAY)
    assert router.deviationTrigger(TOKEN, block_id="pending")[0] is True
    feed.setAnswer(live, sender=admin)
    chain.pending_timestamp = seen + CONFIRM_DELAY  # the same second, however long that took
    receipt = router.poke(TOKEN, sender=keeper)
    assert receipt.timestamp == seen + CONFIRM_DELAY
    deviation = only_event(receipt, router.PriceDeviation)
    assert (deviation.lastPrice, deviation.newPrice, deviation.deviationBps) == (
        WAD, accepted, bps,
    )  # fmt: skip
    assert router.lastPrice(TOKEN)[0] == accepted
    assert router.pendingPrice(TOKEN) == (0, 0)
    assert router.priceBand(TOKEN) == (live * 10**10, live * 10**10)


@pytest.mark.parametrize("back", [105_000_000, 130_000_000], ids=["into-the-band", "other-side"])
def test_a_move_that_does_not_hold_is_dropped_and_its_clock_restarts(
    router, feed, admin, keeper, chain, back
):
    feed.setAnswer(80_000_000, sender=admin)
    seen = router.poke(TOKEN, sender=keeper).timestamp
    at(chain, seen + 60)
    feed.setAnswer(back, sender=admin)
    assert router.deviationTrigger(TOKEN)[0] is True  # a poke has something to drop
    receipt = router.poke(TOKEN, sender=keeper)
    dropped = only_event(receipt, router.PriceMoveDropped)
    assert (dropped.token, dropped.candidatePrice, dropped.livePrice) == (
        TOKEN, 8 * WAD // 10, back * 10**10,
    )  # fmt: skip
    if back == 105_000_000:
        assert router_events(receipt, router) == ["PriceMoveDropped"]  # reference too young
        assert router.pendingPrice(TOKEN) == (0, 0)
        at(chain, seen + 120)
        feed.setAnswer(80_000_000, sender=admin)  # down again: a new move, a new clock
        restarted = router.poke(TOKEN, sender=keeper).timestamp
    else:
        assert router_events(receipt, router) == ["PriceMoveDropped", "PriceMovePending"]
        restarted = receipt.timestamp
    assert restarted > seen
    at(chain, seen + CONFIRM_DELAY)
    assert router_events(router.poke(TOKEN, sender=keeper), router) == []
    assert router.lastPrice(TOKEN)[0] == WAD
    at(chain, restarted + CONFIRM_DELAY)
    assert router_events(router.poke(TOKEN, sender=keeper), router) == [
        "PriceDeviation", "PriceAccepted",
    ]  # fmt: skip


def test_pokes_after_every_round_of_a_crash_never_reset_the_reference(
    router, feed, admin, keeper, chain
):
    """A -40% crash published in 9%-rounds, each poked at once by an outsider: the reference
    moves once at most (one band) while the crash unfolds within `oracle.confirmDelay`, so the
    crash stays beyond the band against it, and `priceBand` shows it."""
    after_delay(router, chain)
    answer = FEED_UNIT
    for _ in range(5):
        answer = answer * 91 // 100
        feed.setAnswer(answer, sender=admin)
        router.poke(TOKEN, sender=keeper)
    live = answer * 10**10
    last = router.lastPrice(TOKEN)[0]
    assert last == 91 * WAD // 100  # only the first round was accepted
    assert (last - live) * 10_000 // last > MAX_DEVIATION_BPS
    assert router.priceBand(TOKEN) == (live, last)
    assert router.deviationTrigger(TOKEN) == (False, b"move pending confirmation")


def test_the_bands_clock_runs_from_the_first_recorded_move_through_a_trend_until_it_closes(
    router, feed, admin, keeper, chain
):
    """`bandOpenSince`: 0 until a poke records a move beyond the band; then the time of that
    poke, kept through a confirmation that accepts part of a trend and pends the rest (the band
    stays open) and through a move across the reference; 0 while the price is back within the
    band (a record no poke has dropped yet is no clock), and cleared by the poke that drops the
    move."""
    after_delay(router, chain)
    feed.setAnswer(85_000_000, sender=admin)  # -15 %: the band opens
    assert router.bandOpenSince(TOKEN) == 0  # nobody recorded it yet
    opened = router.poke(TOKEN, sender=keeper).timestamp
    assert router.bandOpenSince(TOKEN) == opened
    at(chain, opened + CONFIRM_DELAY)
    feed.setAnswer(70_000_000, sender=admin)  # further down: -15 % confirmed, the rest pends
    router.poke(TOKEN, sender=keeper)
    assert router.lastPrice(TOKEN)[0] == 85 * WAD // 100 and router.pendingPrice(TOKEN)[0] != 0
    assert router.bandOpenSince(TOKEN) == opened  # the trend: the same clock
    feed.setAnswer(100_000_000, sender=admin)  # above the new reference, beyond the band
    assert router.bandOpenSince(TOKEN) == 0  # the pending move is on the other side
    router.poke(TOKEN, sender=keeper)  # dropped, the move up pending: the band never closed
    assert router.bandOpenSince(TOKEN) == opened
    feed.setAnswer(86_000_000, sender=admin)  # back within the band of 0.85
    assert router.bandOpenSince(TOKEN) == 0
    router.poke(TOKEN, sender=keeper)
    assert router.pendingPrice(TOKEN) == (0, 0)
    feed.setAnswer(70_000_000, sender=admin)
    again = router.poke(TOKEN, sender=keeper).timestamp
    assert router.bandOpenSince(TOKEN) == again > opened  # a new move, a new clock


def test_a_record_whose_confirmation_fell_due_is_no_band_clock(router, feed, admin, keeper, chain):
    """A move recorded, the price back within the band with nobody poking, then out again on the
    same side: the record is left from the earlier move, and its confirmation is due (a poke,
    anyone's, confirms the new one now), so it is no stale clock for a sleeve
    (tests/attacks/test_fair_settlement.py, a record planted by a searcher)."""
    after_delay(router, chain)
    feed.setAnswer(85_000_000, sender=admin)
    recorded = router.poke(TOKEN, sender=keeper).timestamp
    feed.setAnswer(100_000_000, sender=admin)  # back; nobody pokes
    at(chain, recorded + CONFIRM_DELAY - 1)
    feed.setAnswer(85_000_000, sender=admin)  # out again, the record not yet due
    assert router.bandOpenSince(TOKEN) == recorded
    at(chain, recorded + CONFIRM_DELAY)
    feed.setAnswer(85_000_000, sender=admin)
    assert router.bandOpenSince(TOKEN) == 0  # due: waited for its poke, no clock
    router.poke(TOKEN, sender=keeper)  # confirmed at once
    assert router.pendingPrice(TOKEN) == (0, 0) and router.bandOpenSince(TOKEN) == 0


def test_a_poke_that_finds_its_record_a_delay_past_due_restarts_the_band_clock(
    router, feed, admin, keeper, chain
):
    """A record left a confirmDelay past its due time went unwatched: the poke that finds it
    (here a move across the reference, dropping it and pending the rise) starts the clock anew,
    where it kept the planted poke's time. A confirmation within that grace keeps it (a trend
    poked at every round: `test_the_bands_clock_runs_from_the_first_recorded_move_...`)."""
    after_delay(router, chain)
    feed.setAnswer(85_000_000, sender=admin)
    recorded = router.poke(TOKEN, sender=keeper).timestamp
    feed.setAnswer(100_000_000, sender=admin)  # back; nobody pokes
    at(chain, recorded + 2 * CONFIRM_DELAY)
    feed.setAnswer(120_000_000, sender=admin)  # a rise beyond the band
    again = router.poke(TOKEN, sender=keeper).timestamp
    assert router.pendingPrice(TOKEN) == (120 * WAD // 100, again)
    assert router.bandOpenSince(TOKEN) == again > recorded


def test_price_band_is_the_live_price_within_the_band_and_both_prices_beyond(
    project, router, feed, admin
):
    assert router.priceBand(TOKEN) == (WAD, WAD)
    feed.setAnswer(200_000_000, sender=admin)
    assert router.priceBand(TOKEN) == (WAD, 2 * WAD)
    feed.setAnswer(50_000_000, sender=admin)
    assert router.priceBand(TOKEN) == (WAD // 2, WAD)
    # No reference yet: the live price alone.
    f = deploy_feed(project, admin, 8, -1)
    router.setFeed(FRESH, f, sender=admin)
    f.setAnswer(7 * FEED_UNIT, sender=admin)
    assert router.lastPrice(FRESH) == (0, 0)
    assert router.priceBand(FRESH) == (7 * WAD, 7 * WAD)


def test_price_band_reverts_exactly_as_price_does(router, feed, admin, chain):
    with ape.reverts(router.FeedNotSet, token=UNKNOWN):
        router.priceBand(UNKNOWN)
    feed.setAnswer(-3, sender=admin)
    with ape.reverts(router.InvalidPrice, token=TOKEN, answer=-3):
        router.priceBand(TOKEN)
    updated = feed.setAnswer(300_000_000, sender=admin).timestamp
    chain.pending_timestamp = updated + DAY + 1
    with ape.reverts(router.StalePrice, token=TOKEN, updatedAt=updated):
        router.priceBand(TOKEN, block_id="pending")


def test_a_new_feed_drops_the_pending_move_and_reports_its_jump(
    project, router, feed, admin, keeper
):
    feed.setAnswer(300_000_000, sender=admin)
    router.poke(TOKEN, sender=keeper)
    assert router.pendingPrice(TOKEN)[0] == 3 * WAD
    replacement = deploy_feed(project, admin, 8, 150_000_000)
    receipt = router.setFeed(TOKEN, replacement, sender=admin)
    assert router_events(receipt, router) == ["PriceMoveDropped", "PriceDeviation", "PriceAccepted"]
    assert only_event(receipt, router.PriceMoveDropped).livePrice == 0
    deviation = only_event(receipt, router.PriceDeviation)
    assert (deviation.lastPrice, deviation.newPrice, deviation.deviationBps) == (
        WAD, 3 * WAD // 2, 5_000,
    )  # fmt: skip
    assert router.lastPrice(TOKEN) == (3 * WAD // 2, receipt.timestamp)
    assert router.pendingPrice(TOKEN) == (0, 0)


def test_deviation_limit_is_read_from_the_registry(system, router, feed, admin):
    system.set_param("oracle.maxDeviationBps", 200)
    feed.setAnswer(102_000_000, sender=admin)
    assert router.deviationTrigger(TOKEN) == (False, b"within deviation")
    feed.setAnswer(102_000_001, sender=admin)
    assert router.deviationTrigger(TOKEN)[0] is True


def test_confirm_delay_is_read_from_the_registry(system, router, feed, admin, keeper, chain):
    system.set_param("oracle.confirmDelay", 600)
    feed.setAnswer(130_000_000, sender=admin)
    receipt = router.poke(TOKEN, sender=keeper)
    assert only_event(receipt, router.PriceMovePending).confirmableAt == receipt.timestamp + 600
    at(chain, receipt.timestamp + 600)
    assert router_events(router.poke(TOKEN, sender=keeper), router) == [
        "PriceDeviation", "PriceAccepted",
    ]  # fmt: skip


def test_deviation_trigger_calldata_is_exactly_poke(router, feed, admin, keeper, chain):
    feed.setAnswer(125_000_000, sender=admin)
    should_act, data = router.deviationTrigger(TOKEN)
    assert should_act is True
    assert bytes(data) == bytes(router.poke.encode_input(TOKEN))

    receipt = keeper.transfer(router, 0, data=data)  # the keeper sends the calldata as-is
    pending = only_event(receipt, router.PriceMovePending)
    assert (pending.candidatePrice, pending.deviationBps) == (125 * WAD // 100, 2_500)
    assert router.deviationTrigger(TOKEN) == (False, b"move pending confirmation")

    at(chain, pending.confirmableAt)
    should_act, data = router.deviationTrigger(TOKEN, block_id="pending")
    assert should_act is True and bytes(data) == bytes(router.poke.encode_input(TOKEN))
    receipt = keeper.transfer(router, 0, data=data)
    deviation = only_event(receipt, router.PriceDeviation)
    assert (deviation.newPrice, deviation.deviationBps) == (125 * WAD // 100, 2_500)
    assert router.lastPrice(TOKEN) == (125 * WAD // 100, receipt.timestamp)
    assert router.deviationTrigger(TOKEN) == (False, b"within deviation")


def test_deviation_trigger_ignores_stale_and_invalid_prices(router, feed, admin, chain):
    feed.setAnswer(0, sender=admin)
    assert router.deviationTrigger(TOKEN) == (False, b"price stale or invalid")
    updated = feed.setAnswer(300_000_000, sender=admin).timestamp  # 200% move, but stale
    chain.pending_timestamp = updated + DAY + 1
    assert router.deviationTrigger(TOKEN, block_id="pending") == (False, b"price stale or invalid")


def test_deviation_trigger_asks_for_a_first_poke_when_nothing_was_accepted(project, router, admin):
    f = deploy_feed(project, admin, 8, -1)
    router.setFeed(FRESH, f, sender=admin)
    f.setAnswer(FEED_UNIT, sender=admin)
    assert router.deviationTrigger(FRESH) == (True, bytes(router.poke.encode_input(FRESH)))


def test_a_large_move_is_reported_never_blocked(router, feed, admin, keeper):
    """Liquidations read price() right after a crash: it must return the new price."""
    feed.setAnswer(40_000_000, sender=admin)  # -60%, nobody poked yet
    assert router.price(TOKEN) == 4 * WAD // 10
    assert router.tryPrice(TOKEN) == (4 * WAD // 10, True)
    assert router.lastPrice(TOKEN)[0] == WAD  # the reference stays until the move is confirmed
    router.poke(TOKEN, sender=keeper)
    assert router.lastPrice(TOKEN)[0] == WAD
    feed.setAnswer(20_000_000, sender=admin)  # a second crash, again unpoked
    assert router.price(TOKEN) == 2 * WAD // 10


# ------------------------------------------------------------------ priceBand()


def test_price_band_spans_an_unconfirmed_move_until_it_is_accepted(router, feed, admin, keeper):
    """Strikes value sleeves on this band: a move beyond oracle.maxDeviationBps that is not
    confirmed yet (held for oracle.confirmDelay, then poked) gives (min, max) of the live and the
    accepted price; within the limit, or once accepted, low == high == the live price."""
    assert router.priceBand(TOKEN) == (WAD, WAD)
    feed.setAnswer(110_000_000, sender=admin)  # exactly the limit: no doubt
    assert router.priceBand(TOKEN) == (11 * WAD // 10, 11 * WAD // 10)
    feed.setAnswer(110_000_001, sender=admin)  # beyond: up from the accepted 1.00
    assert router.priceBand(TOKEN) == (WAD, 110_000_001 * 10**10)
    feed.setAnswer(89_999_999, sender=admin)  # beyond: down
    assert router.priceBand(TOKEN) == (89_999_999 * 10**10, WAD)
    seen = router.poke(TOKEN, sender=keeper).timestamp  # recorded, not yet confirmed
    assert router.priceBand(TOKEN) == (89_999_999 * 10**10, WAD)
    ape.chain.pending_timestamp = seen + CONFIRM_DELAY
    feed.setAnswer(89_999_999, sender=admin)  # the move held: a fresh round at the same price
    router.poke(TOKEN, sender=keeper)  # confirmed: the band closes on the new price
    assert router.priceBand(TOKEN) == (89_999_999 * 10**10, 89_999_999 * 10**10)
    assert router.priceBand(TOKEN) == (router.price(TOKEN), router.price(TOKEN))


def test_price_band_without_a_reference_is_the_live_price_and_reverts_as_price(
    project, router, feed, admin, chain
):
    f = deploy_feed(project, admin, 8, -1)
    router.setFeed(FRESH, f, sender=admin)  # nothing accepted: no reference
    with ape.reverts(router.InvalidPrice, token=FRESH, answer=-1):
        router.priceBand(FRESH)
    f.setAnswer(5 * FEED_UNIT, sender=admin)
    assert router.lastPrice(FRESH) == (0, 0)
    assert router.priceBand(FRESH) == (5 * WAD, 5 * WAD)
    with ape.reverts(router.FeedNotSet, token=UNKNOWN):
        router.priceBand(UNKNOWN)
    updated = feed.setAnswer(150_000_000, sender=admin).timestamp
    chain.pending_timestamp = updated + DAY + 1
    with ape.reverts(router.StalePrice, token=TOKEN, updatedAt=updated):
        router.priceBand(TOKEN, block_id="pending")


# ------------------------------------------------------------------ property


@settings(max_examples=25)
@given(
    decimals=st.integers(min_value=0, max_value=36),
    answer=st.one_of(
        st.integers(min_value=1, max_value=10**36),
        st.sampled_from([1, 10**18 - 1, 10**18, 10**18 + 1, 10**36 - 1, 2**128]),
    ),
)
def test_price_is_the_answer_scaled_to_18_decimals(project, chain, router, admin, decimals, answer):
    expected = answer * 10 ** (18 - decimals) if decimals <= 18 else answer // 10 ** (decimals - 18)
    with isolated(chain):
        f = deploy_feed(project, admin, decimals, answer)
        router.setFeed(FRESH, f, sender=admin)
        if expected == 0:  # a positive answer below 1e-18: no usable WAD price
            with ape.reverts(router.InvalidPrice, token=FRESH, answer=answer):
                router.price(FRESH)
        else:
            assert router.price(FRESH) == expected
