"""Governance review 3: every registered parameter at the edges of its bounds, and the rebalance
bounds the vault's weights can drift past.

The promise: agents act only inside the DAO's bounds, and no value the DAO may set (any value
within a parameter's bounds) locks a user's funds: exits are never blocked. The system is
`ballast.deploy.deploy_system` of deployments/config/local.yaml (the bounds a deployer ships):
alice and carol deposit 1,000,000 each, an agent allocates 20 % (T-bills 1,000 bps, gold 500,
invoices 300, the lending book 200) and bob borrows 20,000 against gold.

1. The table: for every parameter the registry holds, governance (the timelock, as a proposal
   executes) moves it to its min and to its max (to the nearest value its links allow when the
   link forbids the bound itself, moving the linked parameters out of the way first, as a DAO
   proposal naming both would), then: alice asks to redeem half her shares, carol to deposit,
   bob repays and takes his gold back, anyone strikes, alice and carol claim, and the agent
   rebalances within the bounds now in force. Each must work, or be refused with a custom error
   of the contract's ABI that the value explains (a deposit over a cap of 0), never a panic, a
   bare revert, or funds left behind.

2. Bounds the weights drifted past. The rebalance checks each target against the caps, the idle
   buffer and the turnover limit. When the weights now are further from the caps and the buffer
   than one turnover (redemptions are paid from idle first), no target meets all three: every
   rebalance reverted, the risk-off cut included, until the DAO voted again. Found here: the idle
   buffer at its max (5,000 bps, in bounds) and a 1,500,000 exit paid from idle left idle at
   2,000 bps; meeting the buffer needs 3,000 bps of turnover, above the 2,000 allowed. The fix
   (RebalanceModule._checkBounds): the turnover limit yields only to the least turnover that
   meets the caps and the buffer from the weights now (`max(vault.maxTurnoverBps, need)`), so a
   decision can always bring the vault back within the DAO's bounds, and no further.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from ballast.parameters import (  # IParameterRegistry.LinkRule
    LESS_THAN,
    PRODUCT_WITH_BONUS_AT_MOST,
    RATIO_AT_MOST,
    SUM_AT_LEAST,
    key_of,
)
from tests.vault_support import (
    DAY,
    confirm_moves,
    faucet,
    isolated,
    next_window,
    revert_of,
    settled,
)

USDC = 10**6
BPS = 10_000
MILLION = 1_000_000 * USDC
LOAN = 20_000 * USDC
CONFIG = DeployConfig.load(Path(__file__).resolve().parents[2] / "deployments/config/local.yaml")
NAMES = [spec.name for spec in CONFIG.parameters]
START_BPS = [1_000, 500, 300, 200]  # tbill, gold, invoices, lending


class Edge:
    """The deployed system and its users (module scope: deployed once)."""

    def __init__(self, project, accounts, chain):
        d = deploy_system(CONFIG, accounts[0], report=lambda _: None)
        c = d.contracts
        self.chain = chain
        self.deployer = accounts[0]  # owns the mock feeds and issuers (local chains only)
        self.registry = project.ParameterRegistry.at(c["ParameterRegistry"])
        self.vault = project.RWAVault.at(c["RWAVault"])
        self.router = project.OracleRouter.at(c["OracleRouter"])
        self.agents = project.AgentRegistry.at(c["AgentRegistry"])
        self.book = project.LendingSleeve.at(c["LendingSleeve"])
        self.asset = project.MockStablecoin.at(d.tokens["asset"])
        self.timelock = accounts.impersonate_account(c["TimelockController"])
        accounts[0].transfer(self.timelock, 10**19)
        rwa = [s for s in d.sleeves if s.kind == "TokenizedRWASleeve"]
        self.feeds = {s.name: project.MockAggregator.at(s.feed) for s in rwa}
        self.tokens = {s.name: project.MockRWAToken.at(s.token) for s in rwa}
        self.issuers = {s.name: project.MockIssuer.at(s.issuer) for s in rwa}
        self.abis = [self.vault, self.book, self.router, self.agents, self.registry]
        self.alice, self.bob, self.carol, self.agent = (accounts[i] for i in (6, 7, 8, 5))

    # ------------------------------------------------------------------ prices and strikes

    def publish(self) -> None:
        """A round of every feed at its answer, after the last request's cut-off, and every move
        beyond the band confirmed (as the settler does)."""
        next_window(self.chain)
        for feed in self.feeds.values():
            feed.setAnswer(feed.latestAnswer(), sender=self.deployer)
        priced = [(self.tokens[n], self.feeds[n]) for n in self.feeds]
        confirm_moves(self.router, self.registry, priced, self.deployer)

    def strike(self):
        self.publish()
        return self.vault.strike(sender=self.carol)

    # ------------------------------------------------------------------ governance

    def govern(self, name: str, target: int, seen: frozenset[str] = frozenset()) -> int:
        """The timelock moves `name` to `target`, as one executed proposal would: it opens the
        parameter's step (`setBounds`), sets the value and restores the step, after governance's
        cooldown. Linked parameters in the way are first moved to the end of their bounds that
        leaves the most room; when the link forbids `target` itself (an LTV at the threshold's
        max), the nearest value it allows is set. Returns the value set."""
        reg, key = self.registry, key_of(name)
        if reg.get(key) == target:
            return target
        self._clear_links(name, target, seen | {name})
        value = target
        if not reg.check(key, value, False, block_id="pending")[0] and not self._link_ok(
            name, value
        ):
            value = self._nearest(name, target)
        p = reg.getParam(key)
        ready = p.lastGovernanceUpdate + p.cooldown
        if self.chain.pending_timestamp < ready:
            self.chain.pending_timestamp = ready
        reg.setBounds(key, p.min, p.max, 0, p.cooldown, sender=self.timelock)
        reg.set(key, value, sender=self.timelock)
        reg.setBounds(key, p.min, p.max, p.maxStepBps, p.cooldown, sender=self.timelock)
        assert reg.get(key) == value
        return value

    def _links(self, name: str):
        reg = self.registry
        for i in reg.linksOf(key_of(name)):
            link = reg.getLink(i)
            if link.rule:
                yield link.rule, [reg.nameOf(k) for k in link.keys], link.bound

    def _link_ok(self, name: str, value: int) -> bool:
        reg = self.registry
        values = {n: reg.get(key_of(n)) for _, names, _ in self._links(name) for n in names}
        values[name] = value
        for rule, names, bound in self._links(name):
            v = [values[n] for n in names]
            if rule == LESS_THAN and not v[0] < v[1]:
                return False
            if rule == PRODUCT_WITH_BONUS_AT_MOST and v[0] * (BPS + v[1]) > bound * BPS:
                return False
            if rule == RATIO_AT_MOST and v[0] > bound * v[1]:
                return False
            if rule == SUM_AT_LEAST and sum(v) < bound:
                return False
        return True

    def _clear_links(self, name: str, target: int, seen: frozenset[str]) -> None:
        """Moves the parameters linked to `name` to the end of their bounds that leaves `name`
        the most room, when the link would refuse `target`."""
        if self._link_ok(name, target):
            return
        reg = self.registry
        for rule, names, _ in self._links(name):
            for other in names:
                if other == name or other in seen:
                    continue
                p = reg.getParam(key_of(other))
                first = names.index(name) == 0
                # LESS_THAN a < b, a*(1+b) <= bound, a <= bound*b: the first wants the second
                # large (a bonus small), the second wants the first small; a sum wants all large.
                if rule == SUM_AT_LEAST:
                    want = p.max
                elif rule == PRODUCT_WITH_BONUS_AT_MOST:
                    want = p.min
                else:
                    want = p.max if first else p.min
                self.govern(other, want, seen)

    def _nearest(self, name: str, target: int) -> int:
        p = self.registry.getParam(key_of(name))
        lo, hi = (p.min, target) if target == p.max else (target, p.max)
        # the links allow a range ending at lo (target at max) or starting at hi (target at min)
        if target == p.max:
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if self._link_ok(name, mid) else (lo, mid - 1)
            return lo
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if self._link_ok(name, mid) else (mid + 1, hi)
        return lo

    # ------------------------------------------------------------------ outcomes

    def refused(self, contract, method: str, *args, sender) -> str | None:
        """The custom error `method` would revert with now (None: it passes). A revert that is
        not a custom error of the system's contracts (a panic, a bare revert) fails the test."""
        outcome = revert_of(contract, method, *args, sender=sender, decode_with=self.abis)
        if outcome is None:
            return None
        name, _ = outcome
        assert not name.startswith("0x"), f"{method}{args}: not a custom error: {name}"
        return name

    def act(self, contract, method: str, *args, sender, allowed: tuple[str, ...] = ()):
        error = self.refused(contract, method, *args, sender=sender)
        if error is not None:
            assert error in allowed, f"{method}{args} refused {error}"
            return None
        return getattr(contract, method)(*args, sender=sender)


@pytest.fixture(scope="module")
def edge(project, accounts, chain):
    s = Edge(project, accounts, chain)
    vault, asset = s.vault, s.asset
    for who in (s.alice, s.carol):
        faucet(asset, who, 2 * MILLION)
        asset.approve(vault, 2**256 - 1, sender=who)
        vault.requestDeposit(MILLION, who, who, sender=who)
    s.strike()
    for who in (s.alice, s.carol):
        vault.deposit(MILLION, who, sender=who)
    stake = s.registry.get(key_of("agent.minStake"))
    faucet(asset, s.agent, 2_000_000 * USDC)
    asset.approve(s.agents, 2**256 - 1, sender=s.agent)
    s.agents.register("ipfs://agent", sender=s.agent)
    s.agents.stake(stake, sender=s.agent)
    chain.pending_timestamp = chain.blocks.head.timestamp + 3 * DAY + 1
    s.publish()
    vault.rebalance(START_BPS, b"\x01" * 32, "ipfs://start", sender=s.agent)
    # bob: 25 gold (60,000 at 2,400) behind 20,000
    gold, issuer = s.tokens["gold"], s.issuers["gold"]
    faucet(asset, s.bob, 200_000 * USDC)
    asset.approve(issuer, 2**256 - 1, sender=s.bob)
    asset.approve(s.book, 2**256 - 1, sender=s.bob)
    issuer.subscribe(60_000 * USDC, sender=s.bob)
    gold.approve(s.book, 2**256 - 1, sender=s.bob)
    s.book.depositCollateral(gold, gold.balanceOf(s.bob), sender=s.bob)
    s.book.borrow(LOAN, sender=s.bob)
    return s


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def test_the_table_covers_every_registered_parameter(edge):
    registered = {edge.registry.nameOf(k) for k in edge.registry.keys()}
    assert registered == set(NAMES)


def feasible_target(edge) -> list[int]:
    """A target within every bound now in force from the vault's weights: each sleeve at most
    its cap, idle at least the buffer, then up to 1 % more into T-bills if the caps, the buffer
    and the turnover allow."""
    reg, vault = edge.registry, edge.vault
    now = list(vault.currentBps())
    names = ("tbill", "gold", "invoices", "lending")
    caps = [reg.get(key_of(f"vault.maxSleeveBps.{n}")) for n in names]
    buffer = reg.get(key_of("vault.idleBufferBps"))
    turnover = reg.get(key_of("vault.maxTurnoverBps"))
    target = [min(w, c) for w, c in zip(now, caps, strict=True)]
    for i in range(len(target)):  # down to the buffer, from the first sleeve on
        over = sum(target) - (BPS - buffer)
        if over > 0:
            target[i] -= min(over, target[i])
    spent = (sum(abs(t - w) for t, w in zip(target, now, strict=True))
             + abs(sum(target) - sum(now)) + 1) // 2  # fmt: skip
    room = min(100, caps[0] - target[0], BPS - buffer - sum(target), turnover - spent)
    if room > 0:
        target[0] += room
    return target


@pytest.mark.parametrize("end", ["min", "max"])
@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_at_either_end_of_its_bounds_locks_no_funds(edge, chain, name, end):
    reg, vault, book, asset = edge.registry, edge.vault, edge.book, edge.asset
    p = reg.getParam(key_of(name))
    edge.govern(name, p.min if end == "min" else p.max)
    alice, bob, carol, agent = edge.alice, edge.bob, edge.carol, edge.agent
    edge.publish()

    # requests: an exit always; an entry unless the cap leaves no room
    shares = vault.balanceOf(alice) // 2
    edge.act(vault, "requestRedeem", shares, alice, alice, sender=alice)
    deposit = 100_000 * USDC
    entered = edge.act(vault, "requestDeposit", deposit, carol, carol, sender=carol,
                       allowed=("DepositCapExceeded",))  # fmt: skip
    if entered is None:
        assert reg.get(key_of("vault.depositCap")) < vault.totalAssets() + deposit
    # the borrower's exit: repay everything, take the collateral back
    edge.act(book, "repay", 2**256 - 1, bob, sender=bob)
    gold = edge.tokens["gold"]
    held = book.collateralOf(bob, gold)
    edge.act(book, "withdrawCollateral", gold, held, sender=bob)
    assert book.debtOf(bob) == 0 and gold.balanceOf(bob) == held

    # anyone strikes; both claim
    receipt = edge.strike()
    s = settled(receipt, vault)
    assert s["redeemShares"] == shares, s
    before = asset.balanceOf(alice)
    edge.act(vault, "redeem", shares, alice, alice, sender=alice)
    assert asset.balanceOf(alice) - before > 400_000 * USDC
    if entered is not None:
        edge.act(vault, "deposit", deposit, carol, sender=carol)
        assert vault.pendingDepositRequest(0, carol) == 0 and vault.maxDeposit(carol) == 0

    # the agent rebalances within the bounds now in force
    if not edge.agents.isActive(agent):
        stake = reg.get(key_of("agent.minStake"))
        bonded = edge.agents.agentInfo(agent).stake
        if bonded < stake:
            edge.agents.stake(stake - bonded, sender=agent)
        chain.pending_timestamp = max(chain.pending_timestamp, edge.agents.activeFrom(agent))
    ready = vault.nextRebalanceAt()
    if chain.pending_timestamp < ready:
        chain.pending_timestamp = ready
    edge.publish()
    target = feasible_target(edge)
    edge.act(vault, "rebalance", target, b"\x02" * 32, "ipfs://edge", sender=agent)


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


def test_a_steady_trend_faster_than_the_band_per_confirm_delay_holds_every_strike(edge, chain):
    """A known limit, recorded (docs/security.md): `oracle.maxDeviationBps` at its min (100 bps)
    and `oracle.confirmDelay` at its max (1 day), both in bounds. Gold falls a steady 1.5 % a
    day, published every 6 hours, and a keeper pokes it at each round (as the settler does). A
    confirmation accepts the move only as far as it held a delay ago and the rest of the fall is
    pending again at once (IOracleRouter, rule 4), so the band never closes while the trend
    lasts: every strike waits (`StrikeNotReady`, gold in the way, the stale path never opening
    because gold's feed is live), alice's redemption and carol's deposit with it, and the agent
    cannot cut gold (`StaleValuation`): 7 days here, not "twice the delay", as long as the trend."""
    reg, vault, router, agent = edge.registry, edge.vault, edge.router, edge.agent
    edge.govern("oracle.maxDeviationBps", 100)
    edge.govern("oracle.confirmDelay", DAY)
    edge.publish()
    alice = edge.alice
    shares = vault.balanceOf(alice) // 2
    gold_feed, gold = edge.feeds["gold"], edge.tokens["gold"]
    chain.pending_timestamp = max(chain.pending_timestamp, vault.nextRebalanceAt())
    cut_gold = list(vault.currentBps())
    cut_gold[1] = 0
    answer = gold_feed.latestAnswer()
    step = 6 * 3_600
    start = chain.pending_timestamp
    refusals = set()
    for i in range(5 + 7 * 4):  # 6-hourly rounds: a day, alice's request, 7 days
        chain.pending_timestamp = chain.pending_timestamp + step
        answer = answer * 99_625 // 100_000  # -0.375 % a round: -1.5 % a day
        for name, feed in edge.feeds.items():
            feed.setAnswer(answer if name == "gold" else feed.latestAnswer(), sender=edge.deployer)
        router.poke(gold, sender=edge.deployer)  # records, confirms as far as it held, re-pends
        low, high = router.priceBand(gold)
        assert low < high or i < 4  # from the first day's fall beyond 1 %, open at every round
        if i == 4:  # alice asks to leave once the band is open
            vault.requestRedeem(shares, alice, alice, sender=alice)
            start = chain.pending_timestamp
            continue
        if i < 4:
            continue
        refusals.add(edge.refused(vault, "strike", sender=alice))
        refusals.add(edge.refused(vault, "rebalance", cut_gold, b"\x04" * 32, "ipfs://risk-off",
                                  sender=agent))  # fmt: skip
    waited = chain.pending_timestamp - start
    assert refusals == {"StrikeNotReady", "StaleValuation"}
    assert 7 * DAY <= waited < 7 * DAY + 60 and waited > reg.get(key_of("vault.strikeMaxWait"))
    assert vault.pendingRedeemRequest(0, alice) == shares  # nothing filled in 8 days
    assert gold_feed.latestAnswer() < 0.89 * 2_400 * 10**8  # gold fell 11 % meanwhile

    # the trend stops: a delay later the move is confirmed, the band closes, the strike fills
    for _ in range(2):
        chain.pending_timestamp = chain.pending_timestamp + DAY
        for feed in edge.feeds.values():
            feed.setAnswer(feed.latestAnswer(), sender=edge.deployer)
        router.poke(gold, sender=edge.deployer)
    low, high = router.priceBand(gold)
    assert low == high
    assert settled(vault.strike(sender=alice), vault)["redeemShares"] == shares


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
