"""Support for the AgentRegistry's evaluation, slashing and reward tests (issue 6).

`build_desk` deploys the vault system of `tests.vault_support` (3 sleeves, the deployer governs
and is the treasury, `allocator` bonded at `agent.minStake`), deposits one million from a
depositor and bonds a second agent (`rival`). Prices outlive a week (`oracle.maxStaleness` 7
days) and the performance fee is off unless a test sets it.

The `model_*` functions restate IAgentRegistry's and IRWAVault's formulas with Python ints,
independently of the contracts, so that every expected number in a test is computed here from
the documentation and the inputs a test chose (prices, weights, stakes, parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.vault_support import (
    DAY,
    FEED_UNIT,
    USDC,
    WAD,
    VaultSystem,
    bond_agent,
    deploy_vault_system,
    faucet,
    fee_sample,
    next_window,
)

BPS = 10_000
NAV = 1_000_000 * USDC  # the depositor's seed, all idle at first
MIN_STAKE = 10_000 * USDC
EVAL_WINDOW = 7 * DAY
VETO_WINDOW = 3 * DAY
UNBONDING = 7 * DAY
TOLERANCE_BPS = 50
MAX_SLASH_BPS = 1_000
REWARD_SHARE_BPS = 2_000
STALENESS = 7 * DAY
OFFSET = 10**12  # 10 ** (18 - 6): the vault's virtual shares
PRICE_SCALE = 10**36
FEED_TO_WAD = 10 ** (18 - 8)
REPUTATION_WEIGHT_BPS = 2_000
NO_SLASH = 2**256 - 1

# The feeds' answers at deployment (8 decimals): tbill 1.00, gold 2,000, invoices 1.00.
START = {"tbill": FEED_UNIT, "gold": 2_000 * FEED_UNIT, "invoices": FEED_UNIT}
NAMES = ("tbill", "gold", "invoices")
SLASH_STATUS = {"None": 0, "Pending": 1, "Vetoed": 2, "Executed": 3}


@dataclass
class Desk:
    """The system, the chain and the people around it."""

    system: VaultSystem
    chain: object
    depositor: object
    keeper: object  # anyone: evaluates, executes slashes
    rival: object  # a second active agent

    @property
    def vault(self):
        return self.system.vault

    @property
    def agents(self):
        return self.system.agents

    @property
    def allocator(self):
        return self.system.allocator

    @property
    def governance(self):
        return self.system.governance

    @property
    def guardian(self):
        return self.system.guardian

    # ------------------------------------------------------------- time

    def now(self) -> int:
        return self.chain.blocks.head.timestamp

    def at(self, timestamp: int) -> None:
        """The next block (transaction or `mine`) runs at exactly `timestamp`."""
        self.chain.pending_timestamp = timestamp

    def mine_at(self, timestamp: int) -> None:
        """Mines an empty block at `timestamp` (for views that read `block.timestamp`)."""
        self.chain.mine(timestamp=timestamp)

    # ------------------------------------------------------------- prices

    def feed(self, name: str):
        return self.system.sleeve(name).feed

    def set_price(self, name: str, answer: int) -> None:
        """Publishes `answer` (8 decimals) for `name`'s NAV, stamped with the block's time."""
        self.feed(name).setAnswer(answer, sender=self.governance)

    def move(self, name: str, bps: int) -> int:
        """Moves `name`'s NAV by `bps` of its latest answer; returns the new answer."""
        answer = self.feed(name).latestAnswer() * (BPS + bps) // BPS
        self.set_price(name, answer)
        return answer

    def refresh(self, at: int | None = None) -> None:
        """Republishes every feed's latest answer now (fresh rounds, same prices); with `at`, every
        round lands in a block stamped exactly `at` (however long the transactions take)."""
        for name in NAMES:
            if at is not None:
                self.at(at)
            self.set_price(name, self.feed(name).latestAnswer())

    def ready_fee_strike(self, ticket: int) -> None:
        """Readies the day's NAV strike: the keeper requests a `ticket` deposit, the next window
        opens a day or more after the fee's sample (so the strike may charge the day's gain:
        IRWAVault.setAgentRegistry; a strike a few seconds early would wait for the next), the
        feeds publish and a move beyond the band is confirmed (as the settler does)."""
        self.system.fund(self.keeper, ticket)
        self.vault.requestDeposit(ticket, self.keeper, self.keeper, sender=self.keeper)
        next_window(self.chain)
        stood = fee_sample(self.vault)[1] + DAY
        if self.chain.pending_timestamp < stood:
            self.chain.pending_timestamp = stood
        self.refresh()
        self.system.confirm_moves()

    def make_stale(self, name: str) -> None:
        """Republishes `name`'s latest answer stamped just past `oracle.maxStaleness`."""
        feed = self.feed(name)
        feed.setRound(feed.latestAnswer(), self.now() - STALENESS - 1, sender=self.governance)

    # ------------------------------------------------------------- actions

    def rebalance(self, targets: list[int], agent=None):
        agent = agent or self.allocator
        return self.vault.rebalance(targets, b"\x11" * 32, "ipfs://r", sender=agent)

    def rebalance_after_cooldown(self, targets: list[int], agent=None):
        """Waits for the cooldown (if any), refreshes prices, rebalances."""
        ready = self.vault.nextRebalanceAt()
        if ready > self.now():
            self.at(ready)
        self.refresh()
        return self.rebalance(targets, agent)

    def evaluate(self, decision_id: int, timestamp: int | None = None):
        """Evaluates `decision_id` (by the keeper) at `timestamp`, default its dueAt. A price
        move beyond oracle.maxDeviationBps still unconfirmed there is confirmed first (an
        evaluation waits for it: `StaleReturnIndex`), as the evaluator keeper does."""
        if timestamp is None:
            timestamp = self.agents.decisionRecord(decision_id).dueAt
        if timestamp > self.now():
            self.at(timestamp)
        self.system.confirm_moves()
        return self.agents.evaluate(decision_id, sender=self.keeper)

    def add_stake(self, agent, amount: int) -> None:
        faucet(self.system.asset, agent, amount)
        self.system.asset.approve(self.agents, amount, sender=agent)
        self.agents.stake(amount, sender=agent)

    def set_param(self, name: str, value: int) -> None:
        self.system.set_param(name, value)

    def share_price(self) -> int:
        """Assets one whole share (1e18) redeems for."""
        return self.vault.convertToAssets(WAD)

    def shares_of(self, account) -> int:
        return self.vault.balanceOf(account)


def build_desk(project, accounts, chain) -> Desk:
    """Vault system, 1M deposited by accounts[6], accounts[8] bonded as a second agent."""
    system = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    system.set_param("oracle.maxStaleness", STALENESS)
    depositor, keeper, rival = accounts[6], accounts[7], accounts[8]
    system.deposit(depositor, NAV)
    bond_agent(system, rival)
    return Desk(system, chain, depositor, keeper, rival)


def gold_days(desk, days: int, steps: dict[int, int], move) -> tuple[list[int], list]:
    """`days` days from a minute from now, each (never before the cooldown): `move(d)` moves
    prices, every feed publishes, the allocator sets gold to `steps[d]` bps on its days, and
    every decision is evaluated the day it falls due. Returns the decision ids and the
    evaluations' transactions, in order; every decision is evaluated by the end."""
    vault, agents = desk.vault, desk.agents
    start = desk.now() + 60
    ids, evaluations = [], []
    for d in range(days):
        # Never before the cooldown: on a loaded machine the previous day's refresh may have
        # taken longer (each transaction its own block), ending its rebalance seconds later.
        desk.at(max(start + d * DAY, desk.now() + 1, vault.nextRebalanceAt()))
        move(d)
        desk.refresh()
        if d in steps:
            desk.rebalance([0, steps[d], 0], desk.allocator)
            ids.append(vault.decisionCount() - 1)
        for decision_id in ids:
            record = agents.decisionRecord(decision_id)
            if not record.evaluated and record.dueAt < start + (d + 1) * DAY:
                evaluations.append(desk.evaluate(decision_id))
    assert all(agents.decisionRecord(i).evaluated for i in ids)
    return ids, evaluations


# ------------------------------------------------------------------ events


def events(tx, event) -> list[dict]:
    """Arguments of every `event` (a contract's event) the transaction emitted."""
    return [dict(log.event_arguments) for log in tx.events.filter(event)]


def only_event(tx, event) -> dict:
    found = events(tx, event)
    assert len(found) == 1, f"expected one {event.name}, got {found}"
    return found[0]


# ------------------------------------------------------------------ the documented formulas


def wad_price(answer: int) -> int:
    """A feed answer (8 decimals) as the router's WAD price, i.e. the sleeve's returnIndex."""
    return answer * FEED_TO_WAD


def toward_zero(a: int, b: int) -> int:
    """Solidity's signed division: the quotient rounded toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def model_return(start: int, end: int) -> int:
    """r = end · 1e18 / start - 1e18 (WAD, division rounded down); 0 when start is 0."""
    return 0 if start == 0 else end * WAD // start - WAD


def model_excess(old_bps, new_bps, starts, ends) -> int:
    """Σ (new - old) · r over the sleeves (bps × WAD, exact); idle earns 0."""
    return sum(
        (n - o) * model_return(s, e)
        for o, n, s, e in zip(old_bps, new_bps, starts, ends, strict=True)
    )


def model_credited_excess(moved: int, start: int, end: int, later) -> int:
    """One sleeve's excess under the early window end (IAgentRegistry, "Evaluation"): `later`
    are the later moves of the sleeve inside the window as `(signed bps, index recorded then)`,
    in order. A move the same way stands in front of `moved`; an opposite move undoes those
    first (the newest moves first), and what is left of it ends `min(left, what is still in
    place)` of `moved` there."""
    if moved == 0 or start == 0:
        return 0
    sign = 1 if moved > 0 else -1
    kept, ahead, excess = abs(moved), 0, 0
    for bps, index in later:
        if kept == 0 or bps == 0:
            continue
        if (bps > 0) == (sign > 0):
            ahead += abs(bps)
            continue
        used = min(abs(bps), ahead)
        ahead -= used
        part = min(abs(bps) - used, kept)
        excess += sign * part * model_return(start, index)
        kept -= part
    return excess + sign * kept * model_return(start, end)


def model_cost(nav_before: int, nav_after: int) -> int:
    """A decision's own trading cost (bps × WAD), charged to its excess judged and rewarded:
    `ceil((navBefore - navAfter) · 1e4 · 1e18 / navBefore)` when the NAV fell inside its
    transaction (rounded up, against the agent), 0 when it did not (a rise is no credit)."""
    if nav_after >= nav_before:
        return 0
    return -(-(nav_before - nav_after) * BPS * WAD // nav_before)


def model_value(excess: int, nav_before: int) -> int:
    """Signed value added, in assets: rounded down when positive, away from zero when not."""
    if excess >= 0:
        return excess * nav_before // (BPS * WAD)
    return -((-excess * nav_before + BPS * WAD - 1) // (BPS * WAD))


def model_net(points: int, debt: int, value: int) -> tuple[int, int, int, int]:
    """An evaluation's `value` netted into an agent's open-round `points` and `debt`
    (IAgentRegistry, "Rewards: net value added"): a gain repays the debt first, a loss
    withdraws points first. Returns (points, debt, added, withdrawn)."""
    if value >= 0:
        repaid = min(value, debt)
        return points + value - repaid, debt - repaid, value - repaid, 0
    withdrawn = min(-value, points)
    return points - withdrawn, debt - value - withdrawn, 0, withdrawn


def model_shortfall(excess: int, tolerance_bps: int, nav_before: int) -> int:
    """The loss beyond the tolerance, in assets (0 when within it)."""
    tolerance = tolerance_bps * WAD
    if excess >= -tolerance:
        return 0
    return (-excess - tolerance) * nav_before // (BPS * WAD)


def model_cap(stake: int, unbonding: int, max_slash_bps: int) -> int:
    return (stake + unbonding) * max_slash_bps // BPS


def model_slash(excess, tolerance_bps, nav_before, stake, unbonding, max_slash_bps) -> int:
    return min(
        model_shortfall(excess, tolerance_bps, nav_before),
        model_cap(stake, unbonding, max_slash_bps),
    )


def model_points(excess: int, nav_before: int) -> int:
    """Reward points: the value added, in assets, when the excess is positive."""
    return excess * nav_before // (BPS * WAD) if excess > 0 else 0


def model_reputation(reputation: int, excess: int) -> int:
    """rep + (excess - rep) · 2000 / 10_000, rounded toward zero."""
    return reputation + toward_zero((excess - reputation) * REPUTATION_WEIGHT_BPS, BPS)


@dataclass(frozen=True)
class Fee:
    gain: int
    fee: int
    shares: int
    mark: int  # the high-water mark after the strike
    sample: tuple[int, int] = (0, 0)  # the fee sample (price, at) after the strike


FEE_HOLD = 86_400  # RebalanceModule.FEE_HOLD


def model_fee(
    nav: int, supply: int, mark: int, donated: int, fee_bps: int, sample: tuple[int, int], now: int
) -> Fee:
    """IRWAVault.setAgentRegistry: the performance fee at a strike at `now`.

    `nav` is totalAssets and `supply` totalSupply before it; `mark` the high-water mark;
    `sample` the stored fee sample (price, at).
    """
    virtual = supply + OFFSET
    price = (nav + 1) * PRICE_SCALE // virtual
    # Donations lift the mark as much as the price (rounded up): never performance.
    mark += -(-donated * PRICE_SCALE // virtual)
    if now < sample[1] + FEE_HOLD:  # the sample has not stood a day: nothing moves
        return Fee(0, 0, 0, mark, sample)
    charged = min(price, sample[0])  # the price that stood
    if charged <= mark:  # no fee; the mark stays (a gain not charged stays chargeable)
        return Fee(0, 0, 0, mark, (price, now))
    gain = (charged - mark) * virtual // PRICE_SCALE
    fee = gain * fee_bps // BPS
    shares = fee * virtual // (nav + 1 - fee) if fee else 0
    # The mark becomes the price after the mint less the part not charged, spread over the
    # shares with the fee's (the price after the mint when all of the gain stood); the next
    # sample is the price after the mint.
    post = (nav + 1) * PRICE_SCALE // (virtual + shares)
    mark = max(mark, post - (price - charged) * virtual // (virtual + shares))
    return Fee(gain, fee, shares, mark, (post, now))


def model_to_assets(shares: int, total_assets: int, supply: int) -> int:
    """ERC-4626 convertToAssets with OpenZeppelin's virtual shares, rounded down."""
    return shares * (total_assets + 1) // (supply + OFFSET)


def model_to_shares(assets: int, total_assets: int, supply: int) -> int:
    """ERC-4626 convertToShares with OpenZeppelin's virtual shares, rounded down."""
    return assets * (supply + OFFSET) // (total_assets + 1)


def model_round_pays(pot: int, points: int, total_assets: int, supply: int) -> int:
    """What a fee closing a round with `points` (assets of value added) pays it out of `pot`
    (IAgentRegistry, "Rewards"): never more than the value the points stand for, their shares
    at the vault's `total_assets` and `supply` after the strike; the rest carries."""
    return min(pot, model_to_shares(points, total_assets, supply))


class RewardBook:
    """The agents' rewards as IAgentRegistry's "Rewards" section defines them, fed with the
    chain facts of each fee strike: the round's points per agent (`roundPointsOf`) before it,
    the agents' share of the fee (`FeeReceived.toAgents`) and the vault's `totalAssets` and
    `totalSupply` in the strike's block (the price the cap is taken at). `claimable[agent]` and
    `carried` are what the registry must show; `rounds` lists (pot, paid, points) per round
    closed."""

    def __init__(self, agents, vault, accounts, carried: int = 0):
        self.agents, self.vault, self.accounts = agents, vault, list(accounts)
        self.carried = carried
        self.claimable = {a.address: agents.claimableRewards(a) for a in self.accounts}
        self.rounds: list[tuple[int, int, int]] = []

    def points(self) -> dict[str, int]:
        """Each agent's points in the open round, read before a strike."""
        return {a.address: self.agents.roundPointsOf(a) for a in self.accounts}

    def fee(self, tx, points: dict[str, int]) -> None:
        """The strike `tx`, with `points` read before it: books its fee (if any) and checks the
        registry against the book."""
        agents, vault = self.agents, self.vault
        received = events(tx, agents.FeeReceived)
        if received:
            (fee,) = received
            pot = self.carried + fee["toAgents"]
            total = sum(points.values())
            if total == 0:
                self.carried = pot  # no points: the whole pot carries
            else:
                block = tx.block_number
                paid = model_round_pays(
                    pot, total, vault.totalAssets(block_id=block), vault.totalSupply(block_id=block)
                )
                for agent, p in points.items():
                    self.claimable[agent] += paid * p // total  # pro rata, rounded down once
                self.carried = pot - paid
                self.rounds.append((pot, paid, total))
        assert agents.undistributedRewards() == self.carried
        for a in self.accounts:
            assert agents.claimableRewards(a) == self.claimable[a.address], a


INITIAL_MARK = PRICE_SCALE // OFFSET  # the price of the empty vault


# ------------------------------------------------------------------ the chain, for keepers.math


def later_decisions(vault, decision_id: int, due_at: int) -> list:
    """The vault's decisions after `decision_id` recorded strictly before `due_at` (the ones
    that can end part of its window: the same agent's for its judgement, any for its reward),
    aligned on its sleeves by address, as `keepers.math.LaterDecision` (a sleeve a later
    decision lacks: 0 / 0 / 0; `own`: the same agent's)."""
    from keepers.math import LaterDecision

    first = vault.decision(decision_id)
    sleeves = list(first.sleeves)
    later = []
    for j in range(decision_id + 1, vault.decisionCount()):
        d = vault.decision(j)
        if d.timestamp >= due_at:
            break
        at = {address: k for k, address in enumerate(d.sleeves)}
        pick = [at.get(address) for address in sleeves]
        later.append(
            LaterDecision(
                tuple(0 if k is None else d.oldBps[k] for k in pick),
                tuple(0 if k is None else d.newBps[k] for k in pick),
                tuple(0 if k is None else d.startIndex[k] for k in pick),
                d.agent == first.agent,
            )
        )
    return later


def evidence_of(vault, agents, decision_id: int, ends) -> object:
    """`keepers.math.DecisionEvidence` of `decision_id` as the registry evaluates it now, with
    each sleeve's `returnIndex()` `ends` (in the decision's sleeve order)."""
    from keepers.math import DecisionEvidence

    d = vault.decision(decision_id)
    due = agents.decisionRecord(decision_id).dueAt
    return DecisionEvidence.of(
        d.oldBps,
        d.newBps,
        d.startIndex,
        ends,
        d.navBefore,
        later_decisions(vault, decision_id, due),
        nav_after=d.navAfter,
    )
