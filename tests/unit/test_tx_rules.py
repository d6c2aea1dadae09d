"""The keepers' sender's pure rules (`keepers.tx_rules`), without a chain: a replacement always
outbids its attempt by the premium nodes require and never passes the fee cap; a wait gives a
used nonce its grace before calling the flight replaced; the node's refusals are told apart."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from keepers.settings import GWEI, TxSettings
from keepers.tx_rules import (
    WaitStep,
    after_look,
    already_known,
    at_least,
    bump,
    bumped,
    held_elsewhere,
    insufficient_funds,
    mined,
    nonce_too_low,
    price,
    receipt_facts,
    succeeded,
    underpriced,
    with_margin,
)

GETH_PRICE_BUMP_BPS = 1_000  # geth's default txpool.pricebump: a replacement pays 10 % more


@pytest.mark.parametrize(
    "fee", [0, 1, 7, 8, 9, 99, 10**9 + 1, 3 * GWEI + 7, 100_000 * GWEI + 7, 10**30 + 7]
)
def test_a_bump_is_never_below_the_replacement_premium_nor_under_one_wei(fee):
    least = TxSettings().fee_bump_bps
    assert least == 1_250
    new = bumped(fee, least)
    assert new >= fee + 1
    assert new * 10_000 >= fee * (10_000 + least) >= fee * (10_000 + GETH_PRICE_BUMP_BPS)


def test_the_settings_allow_no_smaller_bump():
    with pytest.raises(ValidationError):
        TxSettings(fee_bump_bps=1_249)


def test_a_replacement_keeps_its_tip_under_its_max_fee_and_stops_at_the_cap():
    settings = TxSettings(max_fee_cap=100 * GWEI)
    assert bump(8 * GWEI, 8 * GWEI, settings) == (9 * GWEI, 9 * GWEI)
    fee, tip = bump(10 * GWEI, 20 * GWEI, settings)  # a tip above the max fee is cut to it
    assert tip == fee == 11_250_000_000
    assert bump(89 * GWEI, GWEI, settings) is None  # 100.125 gwei: above the cap, no bump
    assert bump(88 * GWEI, GWEI, settings) == (99 * GWEI, 1_125_000_000)


def test_a_resumed_flight_follows_the_market_up_to_the_cap():
    assert at_least((9, 2), (20, 3), cap=100) == (20, 3)  # the market's fees are higher
    assert at_least((30, 5), (20, 3), cap=100) == (30, 5)  # the bump is higher
    assert at_least((30, 5), (200, 150), cap=100) == (100, 100)  # never above the cap


def test_a_new_transaction_is_priced_over_the_base_fee_and_capped():
    settings = TxSettings(base_fee_multiplier=2.0, priority_fee=GWEI, max_fee_cap=100 * GWEI)
    assert price(3 * GWEI, settings) == (7 * GWEI, GWEI)
    assert price(0, settings) == (GWEI, GWEI)
    assert price(60 * GWEI, settings) == (100 * GWEI, GWEI)  # capped
    tight = TxSettings(priority_fee=10 * GWEI, max_fee_cap=GWEI)
    assert price(0, tight) == (GWEI, GWEI)  # the tip cut to fit under the cap


def test_an_emergency_action_is_priced_under_its_own_higher_cap():
    settings = TxSettings(base_fee_multiplier=2.0, priority_fee=GWEI, max_fee_cap=100 * GWEI)
    assert price(300 * GWEI, settings) == (100 * GWEI, GWEI)  # under the base fee: refused
    emergency = settings.emergency()  # default: ten times the cap
    assert emergency.max_fee_cap == 1_000 * GWEI
    assert price(300 * GWEI, emergency) == (601 * GWEI, GWEI)
    assert emergency.base_fee_multiplier == 2.0 and emergency.fee_bump_bps == 1_250
    named = TxSettings(max_fee_cap=100 * GWEI, emergency_fee_cap=250 * GWEI).emergency()
    assert named.max_fee_cap == 250 * GWEI
    with pytest.raises(ValidationError, match="emergency_fee_cap must be at least max_fee_cap"):
        TxSettings(max_fee_cap=100 * GWEI, emergency_fee_cap=99 * GWEI)


def test_the_gas_limit_adds_the_margin_rounded_down():
    assert with_margin(100_000, 2_000) == 120_000
    assert with_margin(21_001, 2_000) == 25_201
    assert with_margin(50_000, 0) == 50_000


def test_the_nodes_refusals_are_told_apart_whatever_their_case():
    assert underpriced("replacement transaction underpriced")
    assert underpriced("Transaction gas price is too low: REPLACEMENT UNDERPRICED")
    assert nonce_too_low("nonce too low: next nonce 5, tx nonce 4")
    assert nonce_too_low("Nonce too low")
    assert insufficient_funds("insufficient funds for gas * price + value")
    assert insufficient_funds("Insufficient funds for transfer")
    assert already_known("already known") and already_known("Transaction ALREADY IMPORTED")
    for message in ("execution reverted", "intrinsic gas too low", "max fee per gas less than"):
        assert not any(rule(message) for rule in (underpriced, nonce_too_low, insufficient_funds))
        assert not already_known(message)


def step(*, waited=0.0, since_sent=0.0, used_for=None, attempts=1, limit=180.0, **settings):
    return after_look(
        waited=waited,
        since_sent=since_sent,
        nonce_used_for=used_for,
        attempts=attempts,
        limit=limit,
        settings=TxSettings(**settings),
    )


def test_a_used_nonce_gets_its_grace_before_the_flight_is_called_replaced():
    assert step(used_for=0.0, receipt_grace=5.0) is WaitStep.LOOK
    assert step(used_for=4.9, receipt_grace=5.0) is WaitStep.LOOK
    assert step(used_for=5.0, receipt_grace=5.0) is WaitStep.REPLACED
    # the nonce's evidence comes first: past the wait's limit it is still looked for, and
    # never called stuck (a transaction of ours may have used it)
    assert step(used_for=1.0, waited=500.0, receipt_grace=5.0) is WaitStep.LOOK
    assert step(used_for=0.0, receipt_grace=0.0) is WaitStep.REPLACED


def test_a_pending_flight_is_replaced_within_its_budget_then_stuck_at_the_limit():
    assert step(since_sent=29.9, replace_after=30.0) is WaitStep.LOOK
    assert step(since_sent=30.0, replace_after=30.0) is WaitStep.REPLACE
    assert step(since_sent=30.0, attempts=4, max_replacements=3) is WaitStep.LOOK  # budget spent
    assert step(since_sent=30.0, attempts=4, max_replacements=4) is WaitStep.REPLACE
    assert step(waited=180.0, since_sent=60.0) is WaitStep.STUCK  # the limit before a bump
    assert step(waited=10.0, limit=10.0) is WaitStep.STUCK


def test_what_a_receipt_says():
    assert not mined(None)
    assert not mined({"blockNumber": None})  # a pending transaction's answer on some nodes
    receipt = {"blockNumber": "0x10", "gasUsed": "0x5208", "status": "0x1"}
    assert mined(receipt) and succeeded(receipt)
    assert receipt_facts(receipt) == {"gas_used": 21_000, "effective_gas_price": 0, "block": 16}
    assert not succeeded({**receipt, "status": "0x0"})
    assert succeeded({"blockNumber": "0x10", "gasUsed": "0x0"})  # no status: not a revert


def test_the_keys_next_nonce_is_held_elsewhere_only_when_pooled_and_not_the_keepers():
    # latest 5: the chain's next nonce; pending counts what the pool holds of the key
    assert held_elsewhere(5, 6, set())  # an operator's transaction on nonce 5
    assert held_elsewhere(5, 7, {6})  # ... with the keeper's own stuck behind it
    assert not held_elsewhere(5, 6, {5})  # the keeper's own: take_nonce replaces it as before
    assert not held_elsewhere(5, 5, set())  # nothing pooled: the pending nonce is free


def test_the_reorg_recheck_reaches_back_from_the_head_the_last_check_read():
    from keepers.inflight import recheck_floor

    assert recheck_floor(100, None, 12) == 88  # never checked: the head alone
    assert recheck_floor(130, 100, 12) == 88  # the chain grew while away: from the last check
    assert recheck_floor(95, 100, 12) == 83  # rolled back below the last check: from the head
    assert recheck_floor(101, 100, 0) == 100
