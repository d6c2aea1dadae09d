"""The performance fee (IRWAVault.setAgentRegistry) and the agents' rewards from it
(IAgentRegistry, "Rewards").

The fee is taken at each NAV strike (never at a rebalance) above the high-water mark, minted in
vault shares to the AgentRegistry, which keeps agent.rewardShareBps (2000) of them for the
agents and passes the rest to the treasury (the deployer here). Each fee closes a reward round
split pro rata among the reward points earned in it, paying at most what those points are worth
(`round_pays`: `convertToShares(roundPoints)` after the strike; the rest carries). The fee is
charged only on gains that stood: up to the lower of the price now and the price a strike saw
at least a day before (the fee sample). `FeeBook` follows the mark and the sample with the
documented formula (`tests.agent_support.model_fee`) and checks every strike's fee against it
(a strike needs a request: the keeper requests a small deposit before each); its `strike` lets
the price of now stand first (a strike, then a day), the fee's precondition.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.agent_support import (
    BPS,
    INITIAL_MARK,
    NAV,
    PRICE_SCALE,
    REWARD_SHARE_BPS,
    USDC,
    WAD,
    Fee,
    build_desk,
    events,
    model_fee,
    model_points,
    model_round_pays,
    model_to_shares,
    only_event,
)
from tests.vault_support import (
    DAY,
    FEE_HOLD,
    WINDOW,
    assert_reverts,
    fee_sample,
    isolated,
    settled,
)

FEE_BPS = 1_000  # 10 %
UNLOCK = 14 * DAY  # vault.unlockPeriod, where a test sets it
TICKET = 1 * USDC  # the deposit each fee strike settles


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    desk = build_desk(project, accounts, chain)
    desk.set_param("vault.performanceFeeBps", FEE_BPS)
    return desk


class FeeBook:
    """The high-water mark, the fee sample and the donations since the last strike, as the
    documentation defines them; `strike` checks the vault's fee against the formula."""

    def __init__(self, desk, fee_bps: int = FEE_BPS, reward_share_bps: int = REWARD_SHARE_BPS):
        self.desk, self.fee_bps, self.reward_share_bps = desk, fee_bps, reward_share_bps
        self.mark, self.donated = INITIAL_MARK, 0
        self.sample = fee_sample(desk.vault)
        self.nav = self.supply = 0  # what the last strike's fee was measured on

    def strike(self, stand: bool = True) -> tuple[object, Fee]:
        """The fee's strike, with `stand` after the precondition that lets the price of now
        stand: a strike once the sample is a day old (it records the price of now; checked
        too; it settles a one-wei deposit, so that the shares it adds, which pay their part of
        a fee on the gain they bought into, are worth nothing), then the fee's strike a day
        later. Returns the fee's strike and its fee."""
        if stand:
            if self.desk.now() + 1 < self.sample[1] + FEE_HOLD:
                self.desk.at(self.sample[1] + FEE_HOLD)
            self.strike_once(ticket=1)
            self.desk.at(self.sample[1] + FEE_HOLD)
        return self.strike_once()

    def strike_once(self, ticket: int = TICKET) -> tuple[object, Fee]:
        """The keeper requests a small deposit (a strike needs a request), prices are published
        after it, and anyone strikes: the fee is taken first, on the NAV and shares before the
        deposit settles (the strike's low NAV: idle plus each sleeve's low value, donations
        still locked included)."""
        desk = self.desk
        vault, agents, system = desk.vault, desk.agents, desk.system
        system.fund(desk.keeper, ticket)
        vault.requestDeposit(ticket, desk.keeper, desk.keeper, sender=desk.keeper)
        system.publish_prices()
        nav = vault.idle() + sum(s.sleeve.strikeValuation()[0] for s in system.sleeves)
        supply = vault.totalSupply()
        registry_shares = vault.balanceOf(agents)
        treasury_shares = vault.balanceOf(agents.treasury())
        tx = vault.strike(sender=desk.keeper)
        expected = model_fee(
            nav, supply, self.mark, self.donated, self.fee_bps, self.sample, tx.timestamp
        )
        taken = events(tx, vault.PerformanceFeeTaken)
        to_agents = expected.shares * self.reward_share_bps // BPS
        if expected.shares:
            assert taken == [
                {"gain": expected.gain, "feeAssets": expected.fee,
                 "feeShares": expected.shares, "highWaterMark": expected.mark}
            ]  # fmt: skip
            # Minted to the registry, which passes the treasury its part at once (the deposit's
            # shares are minted to the vault, escrowed until claimed).
            zero = "0x" + "00" * 20
            moves = [
                (t["from"], t["to"], t["value"])
                for t in events(tx, vault.Transfer)
                if t["from"] in (zero, agents.address) and t["to"] != vault.address
            ]
            wanted = [(zero, agents.address, expected.shares)]
            if expected.shares > to_agents:
                wanted.append((agents.address, agents.treasury(), expected.shares - to_agents))
            assert moves == wanted
            received = only_event(tx, agents.FeeReceived)
            assert (received["shares"], received["toAgents"], received["toTreasury"]) == (
                expected.shares, to_agents, expected.shares - to_agents,
            )  # fmt: skip
        else:
            assert taken == [] and events(tx, agents.FeeReceived) == []
        # The fee is minted, and the deposit's shares, nothing else: the registry keeps the
        # agents' part, the treasury gets the rest.
        deposit = settled(tx, vault)
        assert deposit["depositAssets"] == ticket
        assert vault.totalSupply() == supply + expected.shares + deposit["depositShares"]
        assert vault.balanceOf(agents) - registry_shares == to_agents
        assert vault.balanceOf(agents.treasury()) - treasury_shares == expected.shares - to_agents
        claimable = sum(agents.claimableRewards(a) for a in (desk.allocator, desk.rival))
        assert vault.balanceOf(agents) >= claimable
        assert fee_sample(vault) == expected.sample
        self.mark, self.donated, self.sample = expected.mark, 0, expected.sample
        self.nav, self.supply = nav, supply
        return tx, expected

    def rebalance(self, targets, agent=None):
        """A rebalance after the cooldown: it takes no fee (fees are taken at strikes)."""
        desk = self.desk
        vault, agents = desk.vault, desk.agents
        ready = vault.nextRebalanceAt()
        if ready > desk.now():
            desk.at(ready)
        desk.refresh()
        nav, supply = vault.totalAssets(), vault.totalSupply()
        tx = desk.rebalance(targets, agent)
        assert only_event(tx, vault.Rebalanced)["navBefore"] == nav
        assert events(tx, vault.PerformanceFeeTaken) == [] and events(tx, agents.FeeReceived) == []
        assert vault.totalSupply() == supply
        return tx


def evaluate_at_due(desk, decision_id: int):
    due = desk.agents.decisionRecord(decision_id).dueAt
    if due > desk.now():
        desk.at(due)
    desk.refresh()
    return desk.agents.evaluate(decision_id, sender=desk.keeper)


def round_pays(vault, tx, pot: int, points: int) -> int:
    """What a fee strike `tx` closing a round of `points` with `pot` pays that round
    (`model_round_pays`): at most the value the points stand for, at the vault's price after the
    strike's mint and burn (its `totalAssets` and `totalSupply` in the strike's own block)."""
    block = tx.block_number
    assets, supply = vault.totalAssets(block_id=block), vault.totalSupply(block_id=block)
    return model_round_pays(pot, points, assets, supply)


def price_of(nav: int, supply: int) -> int:
    return (nav + 1) * PRICE_SCALE // (supply + 10**12)


# ------------------------------------------------------------------ the fee and its mark


def test_no_fee_at_or_below_the_mark_and_losses_are_recovered_first(desk):
    book = FeeBook(desk)
    assert desk.agents.treasury() == desk.governance.address
    _, fee = book.strike()  # at the mark: the price of the empty vault
    assert price_of(book.nav, book.supply) == INITIAL_MARK and fee.shares == 0
    book.rebalance([6_000, 0, 0])

    desk.move("tbill", -500)  # -5 %: 970,000
    _, fee = book.strike()  # below the mark: no fee, the mark stays
    assert fee.shares == 0 and book.mark == INITIAL_MARK
    book.rebalance([5_000, 0, 0])  # sells tbill at 0.95

    desk.set_price("tbill", 100_000_000)  # back to 1.00: short of the peak (sold at 0.95)
    _, fee = book.strike()
    trough = book.nav
    assert trough < NAV and fee.shares == 0 and book.mark == INITIAL_MARK

    desk.set_price("tbill", 102_000_000)  # above the old peak
    _, fee = book.strike()
    nav, supply = book.nav, book.supply
    assert nav > NAV
    # The fee is on the gain above the old peak only, not on the rise from the trough (the
    # tickets deposited since are not gains: they bought their shares at the strike's price).
    assert fee.gain == (price_of(nav, supply) - INITIAL_MARK) * (supply + 10**12) // PRICE_SCALE
    assert fee.gain < nav - trough
    assert fee.fee == fee.gain * FEE_BPS // BPS > 0
    assert fee.mark > INITIAL_MARK

    _, fee = book.strike()  # same prices: at the new mark, no fee
    assert fee.shares == 0


def test_a_rebalance_takes_no_fee(desk):
    """The fee waits for the next strike: a rebalance after a gain mints nothing (FeeBook's
    `rebalance` checks it), and the strike after it charges the whole gain."""
    book = FeeBook(desk)
    book.rebalance([6_000, 0, 0])
    desk.move("tbill", 300)  # +3 %: +18,000
    book.rebalance([5_000, 0, 0])  # sells tbill at 1.03 (the issuer rounds by a wei or two)
    _, fee = book.strike()
    assert 18_000 * USDC - 3 <= fee.gain <= 18_000 * USDC - 1


def test_fee_shares_are_worth_the_fee_once_minted(desk):
    book, vault = FeeBook(desk), desk.vault
    book.rebalance([6_000, 0, 0])
    desk.move("tbill", 300)  # +3 %: +18,000
    tx, fee = book.strike()
    # 10 % of the gain, to the wei (the price the fee is charged up to is the sample's, taken
    # after the gain: it lands on the gain exactly here).
    assert fee.fee == 1_800 * USDC
    worth = vault.convertToAssets(fee.shares)
    assert fee.fee - 1 <= worth <= fee.fee
    # The mark is the price after the fee's mint, before the strike's deposit settles.
    assert fee.mark == (book.nav + 1) * PRICE_SCALE // (book.supply + fee.shares + 10**12)


@pytest.mark.parametrize("reward_share", [0, 2_000, 10_000])
def test_the_registry_keeps_the_reward_share_and_passes_the_rest(desk, reward_share):
    agents, vault = desk.agents, desk.vault
    desk.set_param("agent.rewardShareBps", reward_share)
    book = FeeBook(desk, reward_share_bps=reward_share)
    book.rebalance([6_000, 0, 0])
    desk.move("tbill", 100)
    treasury = vault.balanceOf(desk.governance)
    tx, fee = book.strike()  # checks the mint, the split and the transfers
    to_agents = fee.shares * reward_share // BPS
    assert only_event(tx, agents.FeeReceived) == {
        "shares": fee.shares, "toAgents": to_agents, "toTreasury": fee.shares - to_agents,
        "round": 0,
    }  # fmt: skip
    assert vault.balanceOf(agents) == to_agents
    assert vault.balanceOf(desk.governance) - treasury == fee.shares - to_agents
    assert agents.undistributedRewards() == to_agents  # no points yet: carried


def test_a_donation_is_never_charged_the_fee(desk, chain):
    """A slash donated to the vault while it also gains: the fee is on the gain alone — the
    same (to rounding) as in the world where the guardian vetoed the slash."""
    agents, vault = desk.agents, desk.vault
    book = FeeBook(desk)
    book.rebalance([6_000, 0, 0])
    tx = book.rebalance([0, 4_000, 0])  # out of tbill into gold
    bad = tx.return_value
    desk.at(tx.timestamp + 60)
    desk.move("tbill", 1_000)  # the weight the agent sold gains 10 %: 6000 · 10 % = -600 bps
    desk.move("gold", 100)  # the vault gains 1 % on 40 %: 4,000
    slash = only_event(evaluate_at_due(desk, bad), agents.SlashOpened)
    donation = slash["amount"]
    assert donation == 1_000 * USDC

    with isolated(chain):  # without the slash
        desk.at(slash["vetoEndsAt"] - 1)
        agents.vetoSlash(slash["slashId"], sender=desk.guardian)
        vetoed = FeeBook(desk)
        vetoed.mark = book.mark
        _, without = vetoed.strike()

    desk.at(slash["vetoEndsAt"])
    before = vault.totalAssets()
    tx = agents.executeSlash(slash["slashId"], sender=desk.keeper)
    # vault.unlockPeriod is 0 here: locked until now, i.e. in the share price at once.
    assert only_event(tx, vault.Donated) == {
        "from": agents.address, "assets": donation, "locked": donation,
        "lockedUntil": tx.timestamp,
    }  # fmt: skip
    assert vault.totalAssets() == before + donation
    book.donated = donation
    _, fee = book.strike()
    # Gold's 1 % on 400,000, to the wei, in both worlds (the rounding could
    # differ by a wei; with these numbers it does not).
    assert fee.gain == without.gain == 4_000 * USDC
    assert fee.fee == without.fee == fee.gain * FEE_BPS // BPS
    assert fee.mark > without.mark  # the donation lifted the price, and the mark with it

    # A donation alone (no gain since): no fee at all.
    desk.system.fund(desk.keeper, 5_000 * USDC)
    vault.donate(5_000 * USDC, sender=desk.keeper)
    book.donated = 5_000 * USDC
    mark = book.mark
    _, fee = book.strike()
    assert fee.shares == 0 and fee.mark > mark  # no fee; the mark follows the price up


def test_a_donation_below_the_mark_is_not_counted_as_recovery(desk, chain):
    """A loss puts the price below the mark; a donation then fills part of it. The later
    genuine gain is charged exactly as in the world without the donation: the donation lifted
    the mark as much as the price."""
    vault = desk.vault
    book = FeeBook(desk)
    book.strike()
    book.rebalance([6_000, 0, 0])
    desk.move("tbill", -500)  # 5 % down on 60 %: the price falls below the mark
    _, fee = book.strike()
    assert fee.shares == 0
    book.rebalance([6_000, 0, 0])

    desk.move("tbill", 1_100)  # more than back: a genuine gain above the old mark
    with isolated(chain):  # the world without the donation
        plain = FeeBook(desk)
        plain.mark = book.mark
        _, without = plain.strike()
    assert without.shares > 0

    desk.system.fund(desk.keeper, 20_000 * USDC)
    vault.donate(20_000 * USDC, sender=desk.keeper)
    book.donated = 20_000 * USDC
    _, fee = book.strike()
    # The same gain to a wei of price rounding: the donation is neither gain nor recovery.
    assert abs(fee.gain - without.gain) <= 1
    assert fee.fee <= without.fee


def test_a_locked_donation_unlocks_into_the_price_and_is_never_charged_the_fee(desk, chain):
    """With `vault.unlockPeriod` set, a donation enters the share price linearly over it. The
    strike's fee counts it neither while locked (the mark was lifted by all of it when it was
    made) nor once unlocked: the gain charged is the gain of the world without it."""
    vault = desk.vault
    # 14 days: the fee's strike comes up to two days after the donation (its gain stands a day).
    desk.set_param("vault.unlockPeriod", UNLOCK)
    book = FeeBook(desk)
    book.rebalance([6_000, 0, 0])
    desk.move("tbill", 300)  # +3 % on 60 %: +18,000
    with isolated(chain):  # the world without the donation
        plain = FeeBook(desk)
        plain.mark = book.mark
        _, without = plain.strike()
    assert without.gain == 18_000 * USDC

    gift = 20_000 * USDC
    desk.system.fund(desk.keeper, gift)
    before = vault.totalAssets()
    tx = vault.donate(gift, sender=desk.keeper)
    end = tx.timestamp + UNLOCK
    assert only_event(tx, vault.Donated) == {
        "from": desk.keeper.address, "assets": gift, "locked": gift, "lockedUntil": end,
    }  # fmt: skip
    assert vault.totalAssets() == before  # all of it locked: not yet in the share price
    book.donated = gift
    _, fee = book.strike()  # the fee's NAV holds the locked gift; the mark rose by as much
    assert abs(fee.gain - without.gain) <= 1 and fee.fee <= without.fee

    desk.mine_at(tx.timestamp + UNLOCK // 4)  # a quarter of the period: a quarter unlocked
    assert tuple(vault.lockedDonations()) == (gift * 3 // 4, end)
    sleeves = sum(s.sleeve.totalAssets() for s in desk.system.sleeves)
    assert vault.totalAssets() == vault.idle() + sleeves - gift * 3 // 4
    desk.mine_at(end)  # unlocked in full: in the share price, and still no fee on it
    assert tuple(vault.lockedDonations())[0] == 0
    assert vault.totalAssets() == vault.idle() + sleeves
    _, fee = book.strike()
    assert fee.shares == 0


# ------------------------------------------------------------------ rewards


def test_rewards_are_split_by_the_value_each_agent_added(desk):
    """The allocator moves 3000 bps into tbill (+2 %: 6,000 added), the rival 2000 bps into
    gold (+5 %: 10,000 added); the next fee's agents' part is split 6 : 10."""
    agents, vault, allocator, rival = desk.agents, desk.vault, desk.allocator, desk.rival
    book = FeeBook(desk)
    book.rebalance([3_000, 0, 0])
    book.rebalance([3_000, 2_000, 0], agent=rival)
    desk.move("tbill", 200)
    desk.move("gold", 500)
    points = []
    for decision_id in (0, 1):
        ev = only_event(evaluate_at_due(desk, decision_id), agents.ReputationUpdated)
        d = vault.decision(decision_id)
        assert d.navBefore == NAV
        points.append(ev["rewardPoints"])
    assert points == [model_points(60 * WAD, NAV), model_points(100 * WAD, NAV)]
    assert points == [6_000 * USDC, 10_000 * USDC]
    assert agents.roundPoints() == sum(points)
    assert agents.claimableRewards(allocator) == agents.claimableRewards(rival) == 0

    registry = vault.balanceOf(agents)
    tx, fee = book.strike()
    assert fee.gain == 16_000 * USDC  # 1,016,000, to the wei
    pot = fee.shares * REWARD_SHARE_BPS // BPS
    assert round_pays(vault, tx, pot, sum(points)) == pot  # 16,000 of value: worth the pot
    assert only_event(tx, agents.FeeReceived)["round"] == 0
    assert (agents.rewardRound(), agents.roundPoints(), agents.undistributedRewards()) == (1, 0, 0)
    due = [pot * p // sum(points) for p in points]  # pro rata, each rounded down
    assert [agents.claimableRewards(a) for a in (allocator, rival)] == due
    assert due[1] > due[0] > 0
    assert vault.balanceOf(agents) == registry + pot >= sum(due)

    for agent, amount in zip((allocator, rival), due, strict=True):
        balance = vault.balanceOf(agent)
        tx = agents.claimRewards(sender=agent)
        assert tx.return_value == amount
        assert only_event(tx, agents.RewardsClaimed) == {"agent": agent.address, "shares": amount}
        assert vault.balanceOf(agent) == balance + amount
        assert agents.claimableRewards(agent) == 0
        assert_reverts(agents, "claimRewards", sender=agent, error="NoRewards", agent=agent)
    assert vault.balanceOf(agents) == registry + pot - sum(due) <= 1  # dust of the rounding
    assert_reverts(agents, "claimRewards", sender=desk.keeper, error="NoRewards",
                   agent=desk.keeper)  # fmt: skip


def test_a_round_without_points_carries_its_rewards_to_the_next(desk):
    agents, vault, allocator = desk.agents, desk.vault, desk.allocator
    book = FeeBook(desk)
    book.rebalance([6_000, 0, 0])  # decision 0
    desk.move("tbill", 100)
    tx, first = book.strike()  # a fee, but nobody has points yet
    book.rebalance([6_000, 500, 0])
    carried = first.shares * REWARD_SHARE_BPS // BPS
    assert only_event(tx, agents.FeeReceived)["round"] == 0
    assert agents.undistributedRewards() == carried > 0
    assert agents.rewardRound() == 0

    ev = only_event(evaluate_at_due(desk, 0), agents.ReputationUpdated)
    assert ev["rewardPoints"] == model_points(6_000 * WAD // 100, NAV) == 6_000 * USDC
    assert agents.claimableRewards(allocator) == 0  # the round is still open

    desk.move("tbill", 100)
    tx, second = book.strike()
    pot = carried + second.shares * REWARD_SHARE_BPS // BPS
    assert round_pays(vault, tx, pot, 6_000 * USDC) == pot  # 6,000 of value: worth the pot
    assert only_event(tx, agents.FeeReceived)["round"] == 0
    assert (agents.rewardRound(), agents.undistributedRewards()) == (1, 0)
    assert agents.sharesPerPoint(0) == pot * WAD // (6_000 * USDC)
    assert agents.claimableRewards(allocator) == pot  # the only agent with points: all of it
    assert vault.balanceOf(agents) == pot
    tx = agents.claimRewards(sender=allocator)
    assert tx.return_value == pot and vault.balanceOf(agents) == 0

    # Points earned later belong to the next round: nothing to claim until another fee.
    assert_reverts(agents, "claimRewards", sender=allocator, error="NoRewards", agent=allocator)


def test_a_round_pays_at_most_what_its_points_are_worth_and_carries_the_rest(desk):
    """A pot carried through a fee without points, then a round whose only points are a few
    units of value (the rival's 10 bps of tbill through +1 %, ~10 USDC): the round pays
    `convertToShares(points)` after the strike, never the pot, and the rest carries to the
    round of the agent whose 5,000 bps added thousands (IAgentRegistry, "Rewards")."""
    agents, vault, allocator, rival = desk.agents, desk.vault, desk.allocator, desk.rival
    book = FeeBook(desk)
    book.rebalance([5_000, 0, 0])  # decision 0: the allocator's
    desk.move("tbill", 100)
    _, first = book.strike()  # a fee, nobody has points yet: carried
    carried = first.shares * REWARD_SHARE_BPS // BPS
    assert agents.undistributedRewards() == carried > 0
    targets = list(vault.currentBps())
    targets[0] += 10
    book.rebalance(targets, agent=rival)  # decision 1: 10 bps more tbill
    desk.move("tbill", 100)
    small = only_event(evaluate_at_due(desk, 1), agents.ValueNetted)
    assert 0 < small["pointsAdded"] == agents.roundPoints() < 20 * USDC

    tx, second = book.strike()
    pot = carried + second.shares * REWARD_SHARE_BPS // BPS
    block = tx.block_number
    worth = model_to_shares(
        small["pointsAdded"], vault.totalAssets(block_id=block), vault.totalSupply(block_id=block)
    )
    assert worth == vault.convertToShares(small["pointsAdded"], block_id=block)
    paid = round_pays(vault, tx, pot, small["pointsAdded"])
    assert paid == worth < pot // 10  # capped: the points are worth a sliver of the pot
    assert only_event(tx, agents.FeeReceived)["round"] == 0
    assert (agents.rewardRound(), agents.roundPoints()) == (1, 0)
    assert agents.undistributedRewards() == pot - paid  # the rest carries, none lost
    assert agents.sharesPerPoint(0) == paid * WAD // small["pointsAdded"]
    assert agents.claimableRewards(rival) == paid  # the only points of the round: all it paid
    assert vault.convertToAssets(paid) <= small["pointsAdded"]  # never above the value added
    assert vault.balanceOf(agents) == pot

    # The allocator's 5,000 bps, evaluated in the next round, is worth what carried: all of it.
    big = only_event(evaluate_at_due(desk, 0), agents.ValueNetted)
    assert big["pointsAdded"] > 1_000 * USDC
    desk.move("tbill", 100)
    tx, third = book.strike()
    pot = pot - paid + third.shares * REWARD_SHARE_BPS // BPS
    assert only_event(tx, agents.FeeReceived)["round"] == 1
    assert round_pays(vault, tx, pot, big["pointsAdded"]) == pot
    assert (agents.rewardRound(), agents.undistributedRewards()) == (2, 0)
    assert agents.claimableRewards(allocator) == pot
    assert agents.claimableRewards(rival) == paid
    assert vault.balanceOf(agents) == pot + paid


def test_a_fee_strike_with_a_stale_sleeve_still_closes_the_capped_round(desk):
    """The fee path never blocks an exit: gold's feed is silent past `vault.strikeMaxWait`, and
    the strike that settles a redemption with gold at its last price less the haircut also takes
    the fee on tbill's rise, calls `onFee` and closes the round with points. The cap's
    `convertToShares` values gold at its last price there (`tryPrice`: it never reverts where
    the strike's own `strikeValuation` did not): the round is paid `min(pot, worth)`."""
    agents, vault, allocator = desk.agents, desk.vault, desk.allocator
    book = FeeBook(desk)
    book.rebalance([5_000, 1_000, 0])  # decision 0: tbill and some gold
    desk.move("tbill", 100)
    _, first = book.strike()  # a fee, no points yet: carried
    carried = first.shares * REWARD_SHARE_BPS // BPS
    points = only_event(evaluate_at_due(desk, 0), agents.ValueNetted)["pointsAdded"]
    assert points > 0 and agents.roundPoints() == points
    desk.move("tbill", 100)
    book.strike_once(ticket=1)  # the price with tbill's rise, sampled: it stands from now

    holder = desk.depositor
    vault.requestRedeem(vault.balanceOf(holder) // 100, holder, holder, sender=holder)
    wait = desk.system.registry.get(keccak(text="vault.strikeMaxWait"))
    desk.at(max(desk.now(), book.sample[1] + FEE_HOLD) + wait + WINDOW)
    for name in ("tbill", "invoices"):  # these feeds publish on; gold's fell silent
        desk.set_price(name, desk.feed(name).latestAnswer())
    desk.make_stale("gold")
    assert not desk.system.sleeve("gold").sleeve.valuation()[1]
    tx = vault.strike(sender=desk.keeper)
    assert settled(tx, vault)["staleSleeves"] == 1 << 1  # gold at its last price, haircut
    assert vault.pendingRedeemRequest(0, holder) == 0  # the exit settled
    (received,) = events(tx, agents.FeeReceived)
    assert received["round"] == 0 and received["toAgents"] > 0
    pot = carried + received["toAgents"]
    paid = round_pays(vault, tx, pot, points)
    assert paid == min(pot, vault.convertToShares(points, block_id=tx.block_number))
    assert (agents.rewardRound(), agents.undistributedRewards()) == (1, pot - paid)
    assert agents.claimableRewards(allocator) == paid > 0


def test_only_the_vault_reports_decisions_and_fees(desk):
    agents = desk.agents
    for caller in (desk.keeper, desk.governance, desk.allocator, desk.guardian):
        assert_reverts(agents, "onDecision", desk.allocator, 0, sender=caller, error="NotVault",
                       caller=caller)  # fmt: skip
        assert_reverts(agents, "onFee", 1, sender=caller, error="NotVault", caller=caller)
