"""Attack (or accident): a keeper sends calldata built on a state that has changed since.

Keepers read a trigger (`liquidationTrigger`, `strikeTrigger`, their own rebalance
plan), then send its calldata a block or more later, racing each other and the users they act
on. If the contract trusted the calldata, a liquidator could seize collateral from a borrower
who has just repaid, an agent could apply weights meant for yesterday's parameters, a
strike or a claim could pay a redemption twice or pay a request its owner cancelled. The
defence (DESIGN: "the state-changing call re-checks everything itself: keepers are untrusted
and race"): each call re-reads the state it acts on and either refuses with the reason,
leaving every balance as it was, or does only what is still right at the moment it runs.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from tests.lending_support import FEED_UNIT, MAX_UINT, USDC, WAD, deploy_lending_system
from tests.vault_support import assert_reverts, bond_agent, revert_of, settled

BOB_DEBT = 70_000 * USDC
RATIONALE = keccak(text="stale")


@pytest.fixture(scope="module")
def lending(project, accounts):
    system = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    for name in ("lend.rate.baseBps", "lend.rate.slope1Bps", "lend.rate.slope2Bps"):
        system.set_param(name, 0)
    system.set_param("oracle.maxStaleness", 7 * 86_400)
    system.supply(accounts[6], 2_000_000 * USDC)
    bond_agent(system.vs, accounts[4])  # a second agent, racing the allocator
    for keeper in (accounts[8], accounts[9]):
        system.fund(keeper, 1_000_000 * USDC)
    return system


@pytest.fixture(scope="module")
def alice(accounts):
    return accounts[6]


@pytest.fixture(scope="module")
def bob(accounts):
    return accounts[7]


@pytest.fixture(scope="module")
def keepers(accounts):
    return accounts[8], accounts[9]


def holdings(lending, *accounts) -> list[tuple[int, int, int]]:
    gold, book = lending.token("gold"), lending.book
    return [
        (lending.asset.balanceOf(a), gold.balanceOf(a), book.collateralOf(a, gold))
        for a in accounts
    ]


@pytest.mark.parametrize(
    "since, error",
    [
        ("repaid", "NoDebt"),
        ("collateral-topped-up", "HealthyPosition"),
        ("price-recovered", "HealthyPosition"),
        ("liquidated-by-another-keeper", "HealthyPosition"),
    ],
)
def test_a_liquidation_built_on_an_old_state_is_refused(lending, bob, keepers, since, error):
    """Gold at 1,850 puts bob at health 0.991 and the trigger hands out `liquidate(bob, gold,
    max)`. Before the keeper's transaction lands, bob repays, posts more gold, the price
    recovers, or another keeper liquidates first. The stale transaction reverts with the
    reason and takes nothing from anyone: bob keeps his collateral, the keeper its cash."""
    book, gold = lending.book, lending.token("gold")
    slow, fast = keepers
    lending.open_position(bob, "gold", 100_000 * USDC, BOB_DEBT)
    lending.set_nav("gold", 1_850 * FEED_UNIT)
    ok, calldata = book.liquidationTrigger(bob)
    assert ok and calldata == book.liquidate.encode_input(bob, gold, MAX_UINT)

    if since == "repaid":
        lending.fund(bob, BOB_DEBT)
        book.repay(MAX_UINT, bob, sender=bob)
    elif since == "collateral-topped-up":
        tokens = lending.buy_collateral(bob, "gold", 20_000 * USDC)
        book.depositCollateral(gold, tokens, sender=bob)
    elif since == "price-recovered":
        lending.set_nav("gold", 2_000 * FEED_UNIT)
    else:
        book(sender=fast, data=calldata)
        assert book.debtOf(bob) == BOB_DEBT // 2  # the close factor: half of it, once
    assert book.healthFactor(bob) >= WAD

    before = holdings(lending, bob, slow)
    with ape.reverts(getattr(book, error)):
        book(sender=slow, data=calldata)
    assert holdings(lending, bob, slow) == before


def past_the_cooldown(lending, chain) -> None:
    """Mines a block at the end of the fixture's rebalance cooldown (prices stay fresh)."""
    chain.mine(timestamp=max(lending.vault.nextRebalanceAt(), chain.pending_timestamp))


def test_a_rebalance_planned_before_another_agents_is_refused(lending, accounts, chain):
    """Two agents plan at the same block; the second to land would undo the first's move
    minutes later. It is refused until the cooldown has run from the first."""
    vault, first, second = lending.vault, lending.vs.allocator, accounts[4]
    past_the_cooldown(lending, chain)
    plan = [1_000, 1_000, 0, 6_000]
    assert revert_of(vault, "rebalance", plan, RATIONALE, "", sender=second) is None
    tx = vault.rebalance([2_000, 0, 0, 7_000], RATIONALE, "", sender=first)
    bps = list(vault.currentBps())
    assert_reverts(vault, "rebalance", plan, RATIONALE, "", sender=second,
                   error="RebalanceCooldown", readyAt=tx.timestamp + 86_400)  # fmt: skip
    assert list(vault.currentBps()) == bps


def test_a_rebalance_planned_under_an_old_cap_is_refused(lending, chain):
    """Governance lowers the gold cap after the agent planned 30% into gold: the plan now
    breaks the bound and is refused with the cap in force, not the one it was planned for."""
    vault, agent = lending.vault, lending.vs.allocator
    past_the_cooldown(lending, chain)
    plan = [0, 3_000, 0, 6_000]
    assert revert_of(vault, "rebalance", plan, RATIONALE, "", sender=agent) is None
    lending.set_param("vault.maxSleeveBps.gold", 2_000)
    assert_reverts(vault, "rebalance", plan, RATIONALE, "", sender=agent,
                   error="SleeveCapExceeded", index=1, targetBps=3_000, capBps=2_000)  # fmt: skip


def test_a_stale_strike_or_a_second_claim_pays_no_redemption_twice(lending, accounts, keepers):
    """Three redemptions are requested, the third's owner cancels hers, prices are published and
    the trigger says `strike()`. Another keeper strikes first: the two left are filled into
    their controllers' claims. The stale strike then settles nothing (`NothingToStrike`), a
    second claim of a claimed redemption pays nothing (`ClaimExceeded`), the cancelled request
    has nothing to claim, and a request made after the trigger is filled by the stale calldata
    at the price of the moment it runs, once prices newer than it are published."""
    vault, asset, vs = lending.vault, lending.asset, lending.vs
    alice, carol, dave = accounts[6], accounts[2], accounts[3]
    for who in (carol, dave):
        vs.deposit(who, 50_000 * USDC)
    shares = vault.convertToShares(10_000 * USDC)
    for who in (alice, carol, dave):
        vault.requestRedeem(shares, who, who, sender=who)
    dave_shares = vault.balanceOf(dave)
    assert vault.cancelRedeemRequest(dave, sender=dave).return_value == shares
    assert vault.balanceOf(dave) == dave_shares + shares
    vs.publish_prices()
    ok, calldata = vault.strikeTrigger()
    assert ok and calldata == vault.strike.encode_input()
    slow, fast = keepers

    tx = vault.strike(sender=fast)
    struck = settled(tx, vault)
    assert struck["redeemShares"] == 2 * shares  # alice's and carol's, in full
    assert [vault.claimableRedeemRequest(0, a) for a in (alice, carol, dave)] == [shares] * 2 + [0]
    first = [vault.maxWithdraw(a) for a in (alice, carol)]
    assert sum(first) <= struck["redeemAssets"] and first[0] > 9_999 * USDC
    cash = [asset.balanceOf(a) for a in (alice, carol, dave, slow)]
    idle, supply, strikes = vault.idle(), vault.totalSupply(), vault.strikeCount()
    assert_reverts(vault, "strike", sender=slow, error="NothingToStrike")
    assert vault.strikeTrigger()[0] is False

    owed = first[0]
    assert vault.redeem(shares, alice, alice, sender=alice).return_value == owed
    assert_reverts(vault, "redeem", shares, alice, alice, sender=alice, error="ClaimExceeded",
                   controller=alice, requested=shares, claimable=0)  # fmt: skip
    assert_reverts(vault, "redeem", 1, dave, dave, sender=dave, error="ClaimExceeded",
                   controller=dave, requested=1, claimable=0)  # fmt: skip
    assert [asset.balanceOf(a) for a in (alice, carol, dave, slow)] == [
        cash[0] + owed, *cash[1:]
    ]  # fmt: skip
    assert (vault.idle(), vault.totalSupply(), vault.strikeCount()) == (idle, supply, strikes)

    late = vault.convertToShares(5_000 * USDC)
    vault.requestRedeem(late, carol, carol, sender=carol)
    lending.vs.fund(dave, 20_000 * USDC)
    vault.donate(20_000 * USDC, sender=dave)  # the share price moves after the trigger ...
    ape.chain.pending_timestamp = ape.chain.blocks.head.timestamp  # the call in this second
    assert_reverts(vault, "strike", sender=slow, error="StrikeNotReady")  # no newer price yet
    vs.publish_prices()
    owed = vault.convertToAssets(late)
    assert owed > 5_000 * USDC  # ... and the stale strike fills at the price when it runs
    tx = vault(sender=slow, data=calldata)
    assert (settled(tx, vault)["redeemShares"], settled(tx, vault)["redeemAssets"]) == (late, owed)
    assert vault.pendingRedeemRequest(0, carol) == 0
    assert vault.claimableRedeemRequest(0, carol) == shares + late
    assert vault.maxWithdraw(carol) == first[1] + owed
    vault.redeem(shares + late, carol, carol, sender=carol)
    assert asset.balanceOf(carol) == cash[1] + first[1] + owed
