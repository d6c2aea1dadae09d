"""keepers.actions: an action's identity across passes (its id without the block stamp)."""

from __future__ import annotations

import pytest

from keepers.actions import action_key, emergency_priced, same_action
from keepers.inflight import Blocked
from keepers.outcomes import Stuck
from keepers.shell.reports import blocked_action

BORROWER = "0x" + "ab" * 20
TOKEN, SPENDER = "0x" + "01" * 20, "0x" + "02" * 20


@pytest.mark.parametrize(
    ("action_id", "key"),
    [
        (f"liquidate:{BORROWER}:1234", f"liquidate:{BORROWER}"),
        (f"approve:{TOKEN}:{SPENDER}:77", f"approve:{TOKEN}:{SPENDER}"),
        ("poke:tbill:90", "poke:tbill"),
        ("pauseAutomation:5", "pauseAutomation"),
        ("liquidate-batch:100:2", "liquidate-batch"),
        ("strike:4@120", "strike:4"),
        (f"claim:{BORROWER}@121", f"claim:{BORROWER}"),
        # permanent ids: their number is the decision or slash, not a block
        ("evaluate:3", "evaluate:3"),
        ("executeSlash:12", "executeSlash:12"),
        ("rebalance:0xfeed", "rebalance:0xfeed"),
        ("steward:0xbeef", "steward:0xbeef"),
        ("a", "a"),
    ],
)
def test_the_key_drops_only_a_block_stamp(action_id, key):
    assert action_key(action_id) == key


def test_a_borrowers_liquidations_at_two_blocks_are_one_action_two_borrowers_are_not():
    assert same_action(f"liquidate:{BORROWER}:10", f"liquidate:{BORROWER}:11")
    assert not same_action(f"liquidate:{BORROWER}:10", f"liquidate:{'0x' + 'cd' * 20}:10")
    assert not same_action("evaluate:3", "evaluate:4")
    assert same_action("strike:4@10", "strike:4@12") and not same_action("strike:4@1", "strike:5@1")


def test_behind_a_stuck_transaction_its_own_action_is_stuck_and_the_others_blocked():
    stuck = Stuck(7, ("0x" + "aa" * 32, "0x" + "bb" * 32))
    blocked = Blocked(f"approve:{TOKEN}:{SPENDER}:10", stuck)
    own = blocked_action(f"approve:{TOKEN}:{SPENDER}:12", "approve(…)", blocked)
    assert (own.outcome, own.tx_hash) == ("stuck", "0x" + "bb" * 32)
    assert own.detail == "nonce 7 still pending"
    other = blocked_action(f"liquidate:{BORROWER}:12", "liquidate(…)", blocked)
    assert (other.outcome, other.tx_hash) == ("blocked", None)
    assert "nonce 7" in other.detail and "0x" + "bb" * 32 in other.detail


def test_a_gap_fill_below_an_emergency_flight_is_priced_as_the_emergency():
    """Found in an outside review (`review9`): a nonce fill below the sentinel's pending pause was
    sent at the pause's price and resumed under the everyday cap; a base fee above that cap
    left the fill stuck, and the pause above it never resumed."""
    pause = ("pauseAutomation:120", 8)
    assert emergency_priced("pauseAutomation:120", 8, [])
    assert emergency_priced("nonce-fill:7", 7, [pause])
    assert not emergency_priced("nonce-fill:9", 9, [pause])  # above the pause: mines after it
    assert not emergency_priced("nonce-fill:7", 7, [("liquidate:0xab:120", 8)])
    assert not emergency_priced("liquidate:0xab:120", 7, [pause])  # only fills follow the pause
