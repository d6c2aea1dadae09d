"""Governance review 3: bounds the vault's weights drift past, parameters read past the whole,
and a trend the oracle's band cannot follow.

The promise: agents act only inside the DAO's bounds, and no value the DAO may set locks a
user's funds. The system: tests/parameter_edges_support.py (deployments/config/local.yaml
deployed; 2,000,000 in the vault, 20 % allocated, bob borrowing 20,000 against gold). The table
of every parameter at either end of its bounds is tests/governance/test_parameter_edges.py.

1. Bounds the weights drifted past. The rebalance checks each target against the caps, the idle
   buffer and the turnover limit. When the weights now are further from the caps and the buffer
   than one turnover (redemptions are paid from idle first), no target met all three: every
   rebalance reverted, the risk-off cut included, until the DAO voted again. The fix
   (RebalanceModule._checkBounds): the turnover limit yields only to the least turnover that
   meets the caps and the buffer from the weights now (`max(vault.maxTurnoverBps, need)`).

2. Parts of a whole above the whole: `agent.rewardShareBps` and `lend.closeFactorBps` above
   10,000 (nothing refused such bounds) made every fee-charging strike, or every partial
   liquidation, revert with a panic. Both are read at most 10,000; the deploy config refuses the
   bounds.

3. A steady trend faster than `oracle.maxDeviationBps` per `oracle.confirmDelay` keeps the band
   open; every strike used to wait while it lasted (a known limit until stop 53). The band's
   clock now runs from the poke that first recorded the move (`OracleRouter.bandOpenSince`), so
   exits wait `vault.strikeMaxWait` at most, paid gold's band low less the stale haircut.
"""

from __future__ import annotations

import pytest

from ballast.config import DeployConfig
from ballast.parameters import key_of
from tests.parameter_edges_support import BPS, CONFIG, USDC, build_edge
from tests.vault_support import DAY, faucet, isolated, settled


@pytest.fixture(scope="module")
def edge(project, accounts, chain):
    return build_edge(project, accounts, chain)


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def test_a_buffer_exits_left_further_than_one_turnover_away_can_be_met_again(edge, chain):
    """The DAO raises the idle buffer to its max (5,000 bps; idle is at 8,000: no breach), then
    alice and carol leave with 1,500,000, paid from idle first: idle falls to about 2,000 bps of
    the 500,000 left. Meeting the buffer needs about 3,000 bps of turnover, the limit is 2,000:
    before the fix no target met all three bounds, so every rebalance reverted, the agent's cut
    of gold into idle included, until the DAO voted again (19 days at least)."""
    reg, vault, agent = edge.registry, edge.vault, edge.agent
    edge.govern("vault.idleBufferBps", 5_000)
    for who, shares in ((edge.alice, vault.balanceOf(edge.alice)),
                        (edge.carol, vault.balanceOf(edge.carol) // 2)):  # fmt: skip
        vault.requestRedeem(shares, who, who, sender=who)
    edge.strike()
    for who in (edge.alice, edge.carol):
        vault.redeem(vault.maxRedeem(who), who, who, sender=who)
    chain.pending_timestamp = max(chain.pending_timestamp, vault.nextRebalanceAt())
    edge.publish()

    now = list(vault.currentBps())  # tbill, gold, invoices, lending
    idle = BPS - sum(now)
    need = 5_000 - idle  # the least turnover meeting the buffer: the caps all hold
    assert reg.get(key_of("vault.maxTurnoverBps")) == 2_000 < need
    assert all(w <= reg.get(key_of(f"vault.maxSleeveBps.{n}")) for w, n in
               zip(now, ("tbill", "gold", "invoices", "lending"), strict=True))  # fmt: skip

    def target(cut_tbill: int, cut_gold: int = 0) -> list[int]:
        return [now[0] - cut_tbill, now[1] - cut_gold, now[2], now[3]]

    args = (b"\x03" * 32, "ipfs://back-to-the-buffer")
    # the agent's risk-off cut of all its gold, and a move of the whole turnover into idle:
    # both toward the buffer, neither meets it
    for partial in (target(0, now[1]), target(2_000)):
        assert edge.refused(vault, "rebalance", partial, *args, sender=agent) == (
            "IdleBufferBreached"
        )
    # one more bps than the least move that meets the buffer is still beyond the limit
    beyond = target(need - now[1] + 1, now[1])
    assert edge.refused(vault, "rebalance", beyond, *args, sender=agent) == "TurnoverExceeded"
    # the least move that meets it: the gold cut, the rest from T-bills
    back = target(need - now[1], now[1])
    receipt = vault.rebalance(back, *args, sender=agent)
    (event,) = receipt.events.filter(vault.Rebalanced)
    reached = list(event.newBps)  # weights round down: T-bills may read a bps under
    assert reached[1:] == back[1:] and back[0] - 1 <= reached[0] <= back[0]
    assert 5_000 <= BPS - sum(reached) <= 5_001  # the buffer met, and no further


def test_a_steady_trend_faster_than_the_band_per_confirm_delay_holds_exits_only_the_max_wait(
    edge, chain
):
    """`oracle.maxDeviationBps` at its min (100 bps) and `oracle.confirmDelay` at its max (1 day),
    both in bounds. Gold falls a steady 1.5 % a day, published every 6 hours, and a keeper pokes
    it at each round (as the settler does). A confirmation accepts the move only as far as it
    held a delay ago and the rest of the fall is pending again at once (IOracleRouter, rule 4),
    so the band never closes while the trend lasts. A known limit until stop 53: gold's stale
    clock was its newest round, so the `vault.strikeMaxWait` stale path never opened and every
    strike waited (`StrikeNotReady`) as long as the trend: alice's redemption 7 days here. Now
    the clock runs from the poke that first recorded the move still pending
    (`OracleRouter.bandOpenSince`): her redemption fills at the first strike `vault.strikeMaxWait`
    after her window's cut-off, gold valued stale (its band's low, the live price, less the
    stale haircut). The agent's cut of gold still waits for the band (`StaleValuation`)."""
    reg, vault, router, agent = edge.registry, edge.vault, edge.router, edge.agent
    edge.govern("oracle.maxDeviationBps", 100)
    edge.govern("oracle.confirmDelay", DAY)
    edge.publish()
    alice = edge.alice
    shares = vault.balanceOf(alice) // 2
    gold_feed, gold = edge.feeds["gold"], edge.tokens["gold"]
    names = [vault.sleeveAt(i).name for i in range(vault.sleeveCount())]
    chain.pending_timestamp = max(chain.pending_timestamp, vault.nextRebalanceAt())
    cut_gold = list(vault.currentBps())
    cut_gold[names.index("gold")] = 0
    wait = reg.get(key_of("vault.strikeMaxWait"))
    answer = gold_feed.latestAnswer()
    step = 6 * 3_600
    round_at = chain.pending_timestamp
    cutoff, opened, strike, refusals = None, None, None, set()
    for i in range(5 + 7 * 4):  # 6-hourly rounds: a day, alice's request, up to 7 days
        # Each round `step` after the last one began (or alice asked), not after wherever the
        # pending block got to: the seconds each round takes would otherwise add up.
        round_at += step
        chain.pending_timestamp = round_at
        answer = answer * 99_625 // 100_000  # -0.375 % a round: -1.5 % a day
        for name, feed in edge.feeds.items():
            feed.setAnswer(answer if name == "gold" else feed.latestAnswer(), sender=edge.deployer)
        router.poke(gold, sender=edge.deployer)  # records, confirms as far as it held, re-pends
        low, high = router.priceBand(gold)
        assert low < high or i < 4  # from the first day's fall beyond 1 %, open at every round
        if low < high:
            opened = opened or router.bandOpenSince(gold)
            assert router.bandOpenSince(gold) == opened  # kept through every confirmation
        if i == 4:  # alice asks to leave once the band is open
            tx = vault.requestRedeem(shares, alice, alice, sender=alice)
            round_at = tx.timestamp
            cutoff = (tx.timestamp // 3_600 + 1) * 3_600
            continue
        if i < 4:
            continue
        refusals.add(edge.refused(vault, "rebalance", cut_gold, b"\x04" * 32, "ipfs://risk-off",
                                  sender=agent))  # fmt: skip
        if edge.refused(vault, "strike", sender=alice) is None:
            strike = vault.strike(sender=alice)
            break
        assert chain.pending_timestamp < cutoff + wait  # it waits the max wait at most
    assert strike is not None, "the redemption never filled"
    assert refusals == {"StaleValuation"}  # the agent still cannot cut gold
    assert cutoff + wait <= strike.timestamp < cutoff + wait + step
    outcome = settled(strike, vault)
    assert outcome["redeemShares"] == shares
    assert outcome["staleSleeves"] == 1 << names.index("gold")  # gold valued stale, no other
    assert vault.pendingRedeemRequest(0, alice) == 0
    assert gold_feed.latestAnswer() < 0.96 * 2_400 * 10**8  # gold still falling meanwhile


def widen(edge, name: str, value: int) -> None:
    """Governance widens `name`'s max to 20,000 bps (setBounds: nothing refuses it) and sets
    `value` (one executed proposal)."""
    reg, key = edge.registry, key_of(name)
    p = reg.getParam(key)
    edge.chain.pending_timestamp = max(
        edge.chain.pending_timestamp, p.lastGovernanceUpdate + p.cooldown
    )
    reg.setBounds(key, p.min, 20_000, 0, p.cooldown, sender=edge.timelock)
    reg.set(key, value, sender=edge.timelock)


def test_a_reward_share_above_the_whole_fee_never_freezes_a_strike(edge, chain):
    """`agent.rewardShareBps` is a share of the performance fee, read by `onFee` inside every
    strike that charges one. Nothing bounds it by 10,000 (the deploy config took any max, and
    `setBounds` does): at 15,000 `onFee` underflowed (`shares - toAgents`), so every strike that
    charged a fee reverted with a panic: no redemption or deposit settled while the share price
    stood above the high-water mark. The registry now gives the agents at most the whole fee
    (as `agent.maxSlashBps` is read at most 10,000), and the deploy config refuses the bound."""
    vault, alice = edge.vault, edge.alice
    widen(edge, "agent.rewardShareBps", 15_000)
    gold = edge.feeds["gold"]
    gold.setAnswer(gold.latestAnswer() * 105 // 100, sender=edge.deployer)  # +5 %: a gain
    for _ in range(2):  # the gain stands a day: the second strike charges the fee
        vault.requestRedeem(10**18, alice, alice, sender=alice)
        receipt = edge.strike()
        chain.pending_timestamp = chain.pending_timestamp + DAY
    vault.requestRedeem(10**18, alice, alice, sender=alice)
    edge.publish()
    assert edge.refused(vault, "strike", sender=alice) is None
    receipt = vault.strike(sender=alice)
    (fee,) = receipt.events.filter(vault.PerformanceFeeTaken)
    (got,) = receipt.events.filter(edge.agents.FeeReceived)
    assert fee.feeShares == got.shares == got.toAgents > 0 and got.toTreasury == 0


def test_a_close_factor_above_the_whole_debt_never_freezes_a_liquidation(edge, chain):
    """`lend.closeFactorBps` is the part of the debt one liquidation may repay: above 10,000 the
    part exceeded the debt and `_size` underflowed (`p.debt - part`), so every liquidation of a
    position at health between `lend.fullCloseHealthBps` and 1 reverted with a panic. It is now
    read at most 10,000 (the whole debt)."""
    book, bob, carol = edge.book, edge.bob, edge.carol
    book.borrow(19_000 * USDC, sender=bob)  # 39,000 behind 25 gold (60,000): health 1.15
    widen(edge, "lend.closeFactorBps", 15_000)
    gold = edge.feeds["gold"]
    gold.setAnswer(2_000 * 10**8, sender=edge.deployer)  # health 0.96, confirmed below
    edge.publish()
    assert 0.95e18 <= book.healthFactor(bob) < 1e18
    faucet(edge.asset, carol, 100_000 * USDC)
    edge.asset.approve(book, 2**256 - 1, sender=carol)
    token = edge.tokens["gold"]
    debt = book.debtOf(bob)
    assert edge.refused(book, "liquidate", bob, token, 2**256 - 1, sender=carol) is None
    receipt = book.liquidate(bob, token, 2**256 - 1, sender=carol)
    (event,) = receipt.events.filter(book.Liquidated)
    # the whole debt (a second's interest on top): the close factor read at 10,000
    assert event.repaid >= debt and book.debtOf(bob) == 0


@pytest.mark.parametrize("name", ["agent.rewardShareBps", "lend.closeFactorBps",
                                  "vault.maxSleeveBps.gold", "oracle.maxDeviationBps"])  # fmt: skip
def test_the_deploy_config_refuses_a_share_above_the_whole(name):
    data = CONFIG.model_dump(mode="json")
    for spec in data["parameters"]:
        if spec["name"] == name:
            spec["max"] = 20_000
    with pytest.raises(ValueError, match=rf"{name}: max 20000 is above 10000 bps"):
        DeployConfig.model_validate(data)
