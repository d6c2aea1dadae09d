"""Attack (or accident): a keeper sends calldata built on a state that has changed since.

Keepers read a trigger (`liquidationTrigger`, `redeemQueueTrigger`, their own rebalance
plan), then send its calldata a block or more later, racing each other and the users they act
on. If the contract trusted the calldata, a liquidator could seize collateral from a borrower
who has just repaid, an agent could apply weights meant for yesterday's parameters, a
redemption batch could pay twice or pay a request its owner cancelled. The defence (DESIGN:
"the state-changing call re-checks everything itself: keepers are untrusted and race"): each
call re-reads the state it acts on and either refuses with the reason, leaving every balance
as it was, or does only what is still right at the moment it runs.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from tests.lending_support import FEED_UNIT, MAX_UINT, USDC, WAD, deploy_lending_system
from tests.vault_support import assert_reverts, bond_agent, revert_of

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


def test_a_redeem_batch_after_the_queue_changed_pays_only_what_is_still_owed(
    lending, accounts, keepers
):
    """Three requests are queued and the trigger says `processRedeemQueue(3)`. Before it lands,
    another keeper processes the first two and the third's owner cancels. The stale batch pays
    nothing (no request paid twice, nothing to a cancelled one) and moves no asset; a request
    queued after the trigger is paid at the price of the moment it runs."""
    vault, asset = lending.vault, lending.asset
    alice, carol, dave = accounts[6], accounts[2], accounts[3]
    for who in (carol, dave):
        lending.vs.deposit(who, 50_000 * USDC)
    ids = [vault.requestRedeem(vault.convertToShares(10_000 * USDC), who, sender=who).return_value
           for who in (alice, carol, dave)]  # fmt: skip
    ok, calldata = vault.redeemQueueTrigger()
    assert ok and calldata == vault.processRedeemQueue.encode_input(3)
    slow, fast = keepers

    vault.processRedeemQueue(2, sender=fast)
    vault.cancelRedeemRequest(ids[2], sender=dave)
    cash = [asset.balanceOf(a) for a in (alice, carol, dave, slow)]
    idle, supply = vault.idle(), vault.totalSupply()
    tx = vault(sender=slow, data=calldata)
    assert tuple(tx.return_value) == (0, 0)
    assert [asset.balanceOf(a) for a in (alice, carol, dave, slow)] == cash
    assert (vault.idle(), vault.totalSupply()) == (idle, supply)

    shares = vault.convertToShares(5_000 * USDC)
    late = vault.requestRedeem(shares, carol, sender=carol).return_value
    lending.vs.fund(dave, 20_000 * USDC)
    vault.donate(20_000 * USDC, sender=dave)  # the share price moves after the trigger ...
    owed = vault.convertToAssets(shares)
    assert owed > 5_000 * USDC  # ... and the batch pays at the price when it runs
    tx = vault(sender=slow, data=calldata)
    assert tuple(tx.return_value) == (1, owed)
    assert asset.balanceOf(carol) == cash[1] + owed
    assert vault.redeemRequest(late).shares == 0
