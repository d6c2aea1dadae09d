"""An outside review of the tokenized-RWA sleeves, their issuers and the risk keepers around them
(sleevereview): each test mounts one attack or misbehaving issuer and asserts the defence.

- The risk steward reads an issuer's daily exit from `maxRedeem()`, what is left of today's
  redemption limit. The limit is shared by every holder (`MockIssuer`), so anyone holding the
  token (or, on the mock, anyone: subscribe and redeem in one transaction) can use it up just
  before a steward pass. Left at 1 wei of a token, the steward priced a 30-day exit for the
  collateral and cut its liquidation threshold under open positions (the gate rule, which holds
  the threshold, only applies at exactly 0), and its borrow cap to the debt.
"""

from __future__ import annotations

import pytest

from keepers.config import load_settings
from keepers.math.steward import BORROW_CAP, LTV, THRESHOLD, recommend
from keepers.shell.steward import read_steward_inputs
from tests.keeper_support import keeper, protocol_of
from tests.lending_support import deploy_lending_system
from tests.vault_support import DAY, FEED_UNIT, USDC, WAD, faucet, isolated

GOLD_LIMIT = 100  # whole gold tokens a day (200,000 at 2,000)


@pytest.fixture(scope="module")
def review_book(project, accounts, chain):
    """The lending system, gold redeemable at 100 tokens a day, ten daily gold rounds (the
    steward's history), 2M supplied and one gold position (400,000 posted, 280,000 borrowed)."""
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    gov = lending.vs.governance
    lending.vs.sleeve("gold").issuer.setDailyRedeemLimit(GOLD_LIMIT * WAD, sender=gov)
    now = chain.blocks.head.timestamp
    price = 2_000 * FEED_UNIT
    for i in range(10):
        price = price * (101 if i % 2 else 99) // 100
        lending.feed("gold").setRound(price, now - (10 - i) * DAY, sender=gov)
    lending.set_nav("gold", 2_000 * FEED_UNIT)
    lending.supply(accounts[6], 2_000_000 * USDC)
    lending.open_position(accounts[7], "gold", 400_000 * USDC, 280_000 * USDC)
    return lending


def gold_targets(steward) -> tuple[int, dict[str, int]]:
    """The gold daily exit the steward reads now and its model's gold targets from that read."""
    inputs = read_steward_inputs(steward)
    params = {p.name: p for p in inputs.params}
    model = steward.settings.steward.model()
    targets, _ = recommend(params, inputs.collaterals, inputs.book, model)
    (gold,) = (c for c in inputs.collaterals if c.name == "gold")
    keys = (LTV + "gold", THRESHOLD + "gold", BORROW_CAP + "gold")
    return gold.daily_exit, {k: targets[k] for k in keys if k in targets}


@pytest.mark.parametrize("left", [0, 10**12], ids=["used-up", "dust-left"])
def test_using_up_an_issuers_daily_limit_does_not_move_the_stewards_targets(
    review_book, accounts, chain, tmp_path, left
):
    lending = review_book
    steward = keeper(protocol_of(lending), None, tmp_path / "steward", settings=load_settings())
    exit_before, before = gold_targets(steward)
    assert exit_before == GOLD_LIMIT * 2_000 * USDC  # the whole day's limit, at 2,000
    assert before[THRESHOLD + "gold"] == 7_500  # the DAO's threshold: nothing to cut

    with isolated(chain):
        # Anyone: buy the day's limit of gold at the issuer and redeem all of it (or all but a
        # dust of 1e-6 gold, 0.002 of value) in the block before the steward's pass (no cost on
        # the mock: the same NAV both ways; a flash loan pays for it).
        attacker = accounts[8]
        issuer = lending.vs.sleeve("gold").issuer
        faucet(lending.asset, attacker, GOLD_LIMIT * 2_000 * USDC)
        lending.asset.approve(issuer, 2**256 - 1, sender=attacker)
        issuer.subscribe(GOLD_LIMIT * 2_000 * USDC, sender=attacker)
        issuer.redeem(GOLD_LIMIT * WAD - left, sender=attacker)
        assert issuer.maxRedeem() == left  # what is left of today's limit
        exit_after, after = gold_targets(steward)
        assert (exit_after, after) == (exit_before, before), (
            f"daily exit {exit_before} -> {exit_after}; targets {before} -> {after}"
        )


def test_a_frozen_issuer_still_reads_as_a_gate(review_book, chain, tmp_path):
    lending = review_book
    steward = keeper(protocol_of(lending), None, tmp_path / "steward", settings=load_settings())
    _, before = gold_targets(steward)
    with isolated(chain):
        lending.vs.sleeve("gold").issuer.setFrozen(True, sender=lending.vs.governance)
        exit_now, gated = gold_targets(steward)
        assert exit_now == 0
        # the gate rule: the threshold held, the LTV cut, borrowing capped at the debt
        assert gated[THRESHOLD + "gold"] == before[THRESHOLD + "gold"]
        assert gated[LTV + "gold"] < before[LTV + "gold"]
        assert gated[BORROW_CAP + "gold"] == 280_000 * USDC
