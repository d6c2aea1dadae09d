"""The vault's donation lock (RWAVault.donate, `_locked`) against the donations unlocking apart.

Each donation unlocks linearly over the `vault.unlockPeriod` in force when it is made; the vault
keeps one linear lock and merges a donation into it by adding the rates (`still / left +
assets / period`), the end rounded up. The promise (tests/attacks/test_mev_review.py): what a
donation leaves locked is never more than the donations unlocking apart would, so no donation,
of a wei or of more, holds back what was locked before it; the only excess is rounding (a wei
of `_locked` and, per merge, a second of the merged rate). The system state machine checks the
contract against the same model (tests/invariants/system_machine_support.py, `_donated`).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

DAY = 86_400


def locked_at(lock: tuple[int, int, int], t: int) -> int:
    """RWAVault._locked: linear from `amount` at `start` to 0 at `end`, rounded up."""
    amount, start, end = lock
    return 0 if t >= end else -(-amount * (end - t) // (end - start))


def donate(lock: tuple[int, int, int], assets: int, now: int, period: int) -> tuple[int, int, int]:
    """RWAVault.donate's new lock."""
    still = locked_at(lock, now)
    if still == 0:
        return (assets, now, now + period)
    if period == 0:
        return (still, now, lock[2])
    left = lock[2] - now
    locked = still + assets
    return (locked, now, now - (-locked * period * left // (still * period + assets * left)))


def apart(tranches: list[tuple[int, int, int]], t: int) -> float:
    """What the donations would leave locked at `t` unlocking each on its own (exact)."""
    total = 0.0
    for amount, start, period in tranches:
        if period and t < start + period:
            total += amount * (start + period - t) / period
    return total


donations = st.lists(
    st.tuples(
        st.integers(1, 10**13),  # assets (up to 10M of a 6-decimal stablecoin)
        st.integers(0, 10 * DAY),  # seconds since the previous donation
        st.sampled_from([0, DAY, 7 * DAY, 30 * DAY]),  # the period in force
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(donations, st.lists(st.integers(0, 40 * DAY), min_size=1, max_size=8))
def test_no_donation_holds_back_what_was_locked_before_it(sequence, probes):
    lock, now, tranches, rate_seconds = (0, 0, 0), 1_000_000, [], 0
    for assets, wait, period in sequence:
        now += wait
        lock = donate(lock, assets, now, period)
        tranches.append((assets, now, period))
        if lock[2] > lock[1]:
            rate_seconds += -(-lock[0] // (lock[2] - lock[1])) + 1  # a second of the merged rate
    for dt in probes:
        t = now + dt
        slack = len(sequence) + rate_seconds  # a wei of `_locked` and a second per merge
        assert locked_at(lock, t) <= apart(tranches, t) + slack


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**12), st.integers(1, 10**12), st.integers(1, 7 * DAY - 1))
def test_a_second_donation_ends_after_the_first_and_before_a_restart(first, second, elapsed):
    period = 7 * DAY
    lock = donate((0, 0, 0), first, 0, period)
    merged = donate(lock, second, elapsed, period)
    if locked_at(lock, elapsed) == 0:
        return
    assert lock[2] <= merged[2] <= elapsed + period
