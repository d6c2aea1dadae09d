"""Agents' stake under any sequence of bonds, unbonds, rebalances, markets, evaluations, slashes.

A hypothesis state machine drives one deployed vault system (`deploy_vault_system`: three
TokenizedRWASleeves, the AgentRegistry, the allocator bonded at `agent.minStake`; a depositor
holding 1,000,000 in the vault; `vault.performanceFeeBps` 1000 so that fees reach the registry
at the NAV strikes a keeper makes after requesting a small deposit, confirming a price move
beyond `oracle.maxDeviationBps` first, as the settler keeper does)
with four agents (the allocator and three more) through random registrations and stakes,
unbond requests, withdrawals of unbonded stake, rebalances by an active agent (random targets
within the caps 6000/4000/3000 bps and the 500 bps idle buffer, under the one-day cooldown),
strikes, price moves of the sleeves' feeds, time jumps (the feeds republished after each, so no
price is stale past `oracle.maxStaleness`), evaluations of due decisions (one at a time, or a keeper
sweeping `decisionsDue` and the slashes past their veto window, possibly after waiting for the
next deadline; an evaluation waits, `StaleReturnIndex`, while a moved sleeve's price is beyond
the band unconfirmed, and the sweeping keeper confirms such a move first), guardian vetoes and
executions of slashes, and reward claims. The windows are shortened so that a short run reaches
every stage: `agent.evalWindow` 2 days, `agent.vetoWindow` 1 day, `agent.unbondingPeriod` 3 days.

The machine keeps a model of every agent (stake, unbonding, slashed, unbond deadline,
reputation, Σ deposited and Σ withdrawn from the transactions it sent), of the decisions
reported and not evaluated, and of the pending slashes. Every action is first tried as an
`eth_call` on the pending block: the model predicts the documented refusals (for instance
UnbondingNotReady / WithdrawalLocked / NothingToWithdraw for `withdrawUnbonded`), the call must
refuse with one of them exactly when the model says so, and an accepted call is then sent for
real. Every block runs at the model's clock (`chain.pending_timestamp`), so call, transaction
and model see the same `block.timestamp`.

Checked after every step (DESIGN.md invariant 7, stake is conserved, and what it rests on):
- Σ agents' stake == totals().staked, Σ unbonding == totals().unbonding, Σ slashed ==
  totalSlashed(), and each agent's record (stake, unbonding, slashed, unbond deadline, open
  decisions, pending slashes, reputation, whether it is active) equals the model's;
- the registry's asset balance == staked + unbonding (nobody sends it anything else here);
- Σ stake + Σ unbonding + Σ slashed-and-donated == Σ deposited − Σ withdrawn by the agents;
- openDecisions() and pendingSlashes() are the model's sets; every pending slash was opened
  for at most (stake + unbonding at evaluation) · agent.maxSlashBps / 1e4;
- the registry holds at least Σ claimableRewards in vault shares; each agent's
  `claimableRewards`, `rewardRound` and `undistributedRewards` are the model's (`split_fee`,
  `reward_due`: every round paid at most `convertToShares` of its points, the rest carried);
- each agent's reward points in the open round (`roundPointsOf`) and `rewardDebt` equal the
  model's net value added (IAgentRegistry, "Rewards: net value added"), and `roundPoints` is
  their sum;
And at each step that does it: an evaluation reports the excess and the slash the IAgentRegistry
formulas give on the decision's record, the later decisions inside its window that reversed part
of its moves (their recorded start indices) and the sleeves' return indices, and nets its value
(`ValueNetted`) into the agent's points and debt; a fee (`FeeReceived`) closes the round when it
has points, paying at most what they are worth at the price after the strike; an executed slash
takes min(amount, stake + unbonding), stake first, raises vault.totalAssets() by exactly the
SlashExecuted amount and never lowers the share price (convertToAssets(1e18); DESIGN.md
invariant 3); an agent that still has a decision to evaluate or a slash pending cannot
withdraw its unbonded stake (`agent_tries_to_escape` drives that case on purpose).

Each run starts from the deployed system's snapshot with a random agent.maxSlashBps (10%, 50%
or 100%), the other agents' bonds and a first decision by the allocator, and ends by restoring
the snapshot. Speed: views and transactions go over raw JSON-RPC (`agent_machine_support.Raw`),
about 1 s a run (40 runs of 30 steps in under a minute); a failure's shrinking replays many
runs and takes minutes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ape import accounts, chain, project
from eth_utils import keccak
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from keepers.math import (
    RewardRounds,
    convert_to_shares,
    decision_tolerance_bps,
    reward_due,
    split_fee,
)
from tests.agent_support import model_cost, model_credited_excess, model_net, model_value
from tests.invariants.agent_machine_support import Raw, batch, rpc
from tests.vault_support import (
    AGENT_PARAMETERS,
    DAY,
    DEFAULT_SLEEVES,
    USDC,
    VAULT_PARAMETERS,
    WAD,
    deploy_vault_system,
    faucet,
)

BPS = 10_000
MAX_UINT = 2**256 - 1
MIN_STAKE = AGENT_PARAMETERS["agent.minStake"][0]
TOLERANCE_BPS = AGENT_PARAMETERS["agent.toleranceBps"][0]
REWARD_SHARE_BPS = AGENT_PARAMETERS["agent.rewardShareBps"][0]
EVAL_WINDOW = 2 * DAY
VETO_WINDOW = DAY
UNBONDING_PERIOD = 3 * DAY
COOLDOWN = VAULT_PARAMETERS["vault.rebalanceCooldown"][0]
IDLE_BUFFER_BPS = VAULT_PARAMETERS["vault.idleBufferBps"][0]
CAPS = tuple(spec.cap_bps for spec in DEFAULT_SLEEVES)
DEPOSIT = 1_000_000 * USDC  # the depositor's, in the vault
AGENT_FUNDS = 2_000_000 * USDC  # each agent's wallet: more than any run stakes
TICKET = USDC  # the deposit the keeper requests before each strike (a strike needs a request)
KEEPER_FUNDS = 1_000 * USDC  # more tickets than any run strikes
N_AGENTS = 4  # the allocator and three more
AMOUNT = st.one_of(st.integers(1, 1_000), st.integers(USDC, 40_000 * USDC))
BOND = st.one_of(st.just(0), AMOUNT)
# A NAV move, bps: none, a round one (large moves are common) or any up to 30% either way.
MOVE = st.one_of(
    st.just(0),
    st.sampled_from([-3_000, -1_500, -500, 500, 1_500, 3_000]),
    st.integers(-3_000, 3_000),
)
MOVES = st.tuples(*(MOVE for _ in CAPS))
NO_MOVES = (0,) * len(CAPS)
# Target weights within the caps, round ones or any (scaled down into the idle buffer).
WEIGHTS = st.tuples(
    *(st.one_of(st.sampled_from(range(0, cap + 1, 500)), st.integers(0, cap)) for cap in CAPS)
)


def tdiv(a: int, b: int) -> int:
    """Solidity's signed division: rounded toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@dataclass
class AgentModel:
    account: object
    registered: bool = False
    stake: int = 0
    unbonding: int = 0
    slashed: int = 0
    ready_at: int = 0
    reputation: int = 0
    deposited: int = 0  # Σ staked by its transactions
    withdrawn: int = 0  # Σ paid out to it by withdrawUnbonded
    points: int = 0  # reward points in the open round
    debt: int = 0  # value lost not yet made up (rewardDebt)
    claimable: int = 0  # shares its points earned in closed rounds, not claimed yet
    last_due: int = 0  # its latest decision's dueAt (agentInfo.lastDueAt)
    suspended: bool = False  # by the guardian (IAgentRegistry, "Suspension")

    def active(self, slash_pending: int) -> bool:
        # agent.activationDelay is 0: active exactly while bonded at the minimum, what its
        # pending slashes (`slash_pending`) would take counted as gone, and not suspended.
        return self.registered and self.stake >= MIN_STAKE + slash_pending and not self.suspended


@dataclass
class PendingSlash:
    agent: int
    amount: int
    veto_ends_at: int
    cap: int  # (stake + unbonding at evaluation) · maxSlashBps / 1e4


@dataclass
class Decision:
    agent: int
    due_at: int
    tolerance_bps: int  # its share of agent.toleranceBps (decision_tolerance_bps)


@dataclass
class Deployed:
    params: Raw  # the ParameterRegistry
    reg: Raw  # the AgentRegistry
    vault: Raw
    asset: Raw
    feeds: list[Raw]  # the sleeves' MockAggregators, in sleeve order
    sleeves: list[Raw]  # the TokenizedRWASleeves
    router: Raw  # the OracleRouter
    tokens: list[str]  # the sleeves' RWA tokens, in sleeve order
    governance: object  # owns the feeds
    guardian: object
    keeper: object
    agents: list = field(default_factory=list)


_SYSTEM: dict[str, Deployed] = {}


def _deployed() -> Deployed:
    """Deployed once per test process; every example runs inside a snapshot of it."""
    if "agents" not in _SYSTEM:
        ta = accounts.test_accounts
        system = deploy_vault_system(project, ta[0], ta[1], ta[2])
        system.set_param("vault.performanceFeeBps", 1_000)
        system.set_param("agent.evalWindow", EVAL_WINDOW)
        system.set_param("agent.vetoWindow", VETO_WINDOW)
        system.set_param("agent.unbondingPeriod", UNBONDING_PERIOD)
        system.deposit(ta[6], DEPOSIT)
        system.fund(ta[7], KEEPER_FUNDS)  # the keeper's deposits before its strikes
        agents = [ta[2], ta[3], ta[4], ta[5]]
        for agent in agents:
            faucet(system.asset, agent, AGENT_FUNDS)
            system.asset.approve(system.agents, MAX_UINT, sender=agent)
        _SYSTEM["agents"] = Deployed(
            params=Raw(system.registry),
            reg=Raw(system.agents),
            vault=Raw(system.vault),
            asset=Raw(system.asset),
            feeds=[Raw(s.feed) for s in system.sleeves],
            sleeves=[Raw(s.sleeve) for s in system.sleeves],
            router=Raw(system.router),
            tokens=[s.token.address for s in system.sleeves],
            governance=system.governance,
            guardian=system.guardian,
            keeper=ta[7],
            agents=agents,
        )
    return _SYSTEM["agents"]


class AgentMachine(RuleBasedStateMachine):
    @initialize(
        bonds=st.tuples(BOND, BOND, BOND),
        weights=WEIGHTS,
        max_slash_bps=st.sampled_from([1_000, 5_000, 10_000]),
    )
    def start(self, bonds, weights, max_slash_bps):
        """From the deployed system: governance sets agent.maxSlashBps, the other three agents
        bond (0: not even registered) and the allocator makes a first decision."""
        d = self.d = _deployed()
        self.snapshot = chain.snapshot()
        self.reg, self.vault, self.asset = d.reg, d.vault, d.asset
        self.now = chain.blocks.head.timestamp
        self.model = [AgentModel(a) for a in d.agents]
        allocator = self.model[0]  # bonded at the minimum by deploy_vault_system
        allocator.registered, allocator.stake, allocator.deposited = True, MIN_STAKE, MIN_STAKE
        self.open: dict[int, Decision] = {}
        self.pending: dict[int, PendingSlash] = {}
        self.executed = 0  # Σ SlashExecuted amounts
        self.last_rebalance = 0
        self.fees = 0  # performance fees taken
        self.offset = self.vault.call("decimals") - self.asset.call("decimals")
        # The reward rounds: the open round and what no round has paid yet (its points are the
        # model's Σ points); nothing earned yet.
        round_, points, carried = batch(
            (self.reg, "rewardRound", ()),
            (self.reg, "roundPoints", ()),
            (self.reg, "undistributedRewards", ()),
        )
        assert points == 0
        self.rounds = RewardRounds(round_, 0, carried)
        self.max_slash_bps = max_slash_bps
        chain.pending_timestamp = self.now
        d.params.send("set", keccak(text="agent.maxSlashBps"), max_slash_bps, sender=d.governance)
        for who, amount in enumerate(bonds, start=1):
            if amount:
                self._stake(who, amount)
        self._rebalance(0, weights, wait=False)

    def teardown(self):
        if hasattr(self, "snapshot"):
            chain.restore(self.snapshot)

    # ------------------------------------------------------------------ helpers

    def _send(self, contract: Raw, method: str, *args, sender, refusals: set[str]):
        """Try `method` on the pending block: it must refuse, with one of `refusals`, exactly
        when the model expects a refusal (`refusals` non-empty); else it is sent for real and
        its receipt returned."""
        chain.pending_timestamp = self.now
        outcome = contract.refusal(method, *args, sender=sender)
        if refusals:
            assert outcome is not None, f"{method}{args} passed; expected one of {refusals}"
            assert outcome[0] in refusals, f"{method}{args}: {outcome}; expected {refusals}"
            event(f"{method}: {outcome[0]}")
            return None
        assert outcome is None, f"{method}{args} refused: {outcome}"
        receipt = contract.send(method, *args, sender=sender)
        event(f"{method}: ok")
        return receipt

    def _publish(self, feed: Raw, answer: int) -> None:
        chain.pending_timestamp = self.now
        feed.send("setAnswer", answer, sender=self.d.governance)

    def _counts(self, i: int) -> tuple[int, int]:
        opened = sum(1 for dec in self.open.values() if dec.agent == i)
        slashes = sum(1 for s in self.pending.values() if s.agent == i)
        return opened, slashes

    @staticmethod
    def _pick(ids: dict, pick: int, preferred) -> int:
        """Mostly (pick % 4 != 0) one of the ids `preferred` holds for, when there is one."""
        keys = sorted(ids)
        chosen = [k for k in keys if preferred(ids[k])]
        if chosen and pick % 4:
            keys = chosen
        return keys[pick // 4 % len(keys)]

    # ------------------------------------------------------------------ agents

    def _registered(self, who: int) -> tuple[int, AgentModel]:
        """The `who`-th registered agent, cyclically (the allocator always is)."""
        ids = [i for i, m in enumerate(self.model) if m.registered]
        i = ids[who % len(ids)]
        return i, self.model[i]

    @rule(who=st.integers(0, N_AGENTS - 1), amount=AMOUNT)
    def stake(self, who, amount):
        """Registers the agent first when it is not yet (after checking it cannot stake)."""
        self._stake(who, amount)

    def _stake(self, who: int, amount: int) -> None:
        m = self.model[who]
        if not m.registered:
            self._send(self.reg, "stake", amount, sender=m.account, refusals={"NotRegistered"})
            self._send(self.reg, "register", f"ipfs://agent/{who}", sender=m.account,
                       refusals=set())  # fmt: skip
            m.registered = True
            self._send(self.reg, "register", "x", sender=m.account, refusals={"AlreadyRegistered"})
        before = self.asset.call("balanceOf", m.account)
        self._send(self.reg, "stake", amount, sender=m.account, refusals=set())
        assert before - self.asset.call("balanceOf", m.account) == amount
        m.stake += amount
        m.deposited += amount

    @rule(who=st.integers(0, N_AGENTS - 1), share=st.integers(0, 120), flat=st.integers(0, 3))
    def request_unbond(self, who, share, flat):
        _, m = self._registered(who)
        amount = m.stake * share // 100 + flat
        refusals = set()
        if amount == 0:
            refusals.add("ZeroAmount")
        if amount > m.stake:
            refusals.add("InsufficientStake")
        if self._send(self.reg, "requestUnbond", amount, sender=m.account, refusals=refusals):
            m.stake -= amount
            m.unbonding += amount
            m.ready_at = self.now + UNBONDING_PERIOD

    @precondition(lambda self: any(m.unbonding for m in self.model))
    @rule(who=st.integers(0, 4 * N_AGENTS - 1))
    def withdraw_unbonded(self, who):
        """Mostly an agent with stake unbonding; else any (refused: nothing to withdraw)."""
        unbonding = [i for i, m in enumerate(self.model) if m.unbonding]
        if who >= N_AGENTS:
            who = unbonding[who % len(unbonding)]
        self._withdraw(*self._registered(who))

    def _withdraw(self, i: int, m: AgentModel) -> None:
        opened, slashes = self._counts(i)
        refusals = set()
        if m.unbonding == 0:
            refusals.add("NothingToWithdraw")
        if self.now < m.ready_at:
            refusals.add("UnbondingNotReady")
        if opened or slashes:
            refusals.add("WithdrawalLocked")
        before = self.asset.call("balanceOf", m.account)
        tx = self._send(self.reg, "withdrawUnbonded", sender=m.account, refusals=refusals)
        if tx is None:
            return
        paid = self.asset.call("balanceOf", m.account) - before
        assert paid == m.unbonding
        [log] = self.reg.logs(tx, "UnbondedWithdrawn")
        assert log.amount == paid
        m.withdrawn += paid
        m.unbonding = 0

    @precondition(lambda self: self.open or self.pending)
    @rule(pick=st.integers(0, 63), moves=MOVES)
    def agent_tries_to_escape(self, pick, moves):
        """The agent behind an open decision or a pending slash unbonds everything, waits out
        the unbonding period (the NAVs moving by `moves`) and tries to leave: refused while it
        is still answerable."""
        answerable = sorted({x.agent for x in [*self.open.values(), *self.pending.values()]})
        i = answerable[pick % len(answerable)]
        m = self.model[i]
        if m.stake:
            self._send(self.reg, "requestUnbond", m.stake, sender=m.account, refusals=set())
            m.unbonding, m.stake = m.unbonding + m.stake, 0
            m.ready_at = self.now + UNBONDING_PERIOD
        if self.now < m.ready_at:
            self._advance(m.ready_at - self.now, moves)
        self._withdraw(i, m)

    @precondition(lambda self: self.fees)
    @rule(who=st.integers(0, N_AGENTS - 1))
    def claim_rewards(self, who):
        m = self.model[who]
        claimable = m.claimable  # the model's (`rewards_are_net_value_added` checks the chain's)
        before = self.vault.call("balanceOf", m.account)
        refusals = set() if claimable else {"NoRewards"}
        if self._send(self.reg, "claimRewards", sender=m.account, refusals=refusals):
            assert self.vault.call("balanceOf", m.account) - before == claimable
            assert self.reg.call("claimableRewards", m.account) == 0
            m.claimable = 0

    # ------------------------------------------------------------------ the vault

    @rule(
        who=st.integers(0, 4 * N_AGENTS - 1),
        weights=WEIGHTS,
        wait=st.booleans(),
        moves=MOVES,
    )
    def rebalance(self, who, weights, wait, moves):
        """Mostly by an active agent (when there is one); an inactive one is refused. In the
        cooldown the rebalance is refused, and with `wait` made once the cooldown is over (the
        NAVs having moved by `moves` meanwhile)."""
        active = [i for i, m in enumerate(self.model) if self._active(i)]
        who = active[who % len(active)] if active and who >= N_AGENTS else who % N_AGENTS
        self._rebalance(who, weights, wait, moves)

    def _slash_pending(self, i: int) -> int:
        """Σ the amounts of agent i's pending slashes (`Agent.slashPending`)."""
        return sum(s.amount for s in self.pending.values() if s.agent == i)

    def _active(self, i: int) -> bool:
        return self.model[i].active(self._slash_pending(i))

    def _rebalance(
        self, who: int, weights: tuple[int, ...], wait: bool, moves: tuple[int, ...] = NO_MOVES
    ) -> None:
        m = self.model[who]
        targets, room = list(weights), BPS - IDLE_BUFFER_BPS
        if sum(targets) > room:  # scaled down into the idle buffer, each still within its cap
            targets = [t * room // sum(weights) for t in weights]
        args = (targets, b"\x11" * 32, "ipfs://r")
        refusals = set()
        if not self._active(who):
            refusals.add("NotActiveAgent")
            if m.suspended:
                event("rebalance refused: suspended")
            elif m.registered and m.stake >= MIN_STAKE:
                event("rebalance refused: bonded, its pending slashes counted as gone")
        ready_at = self.last_rebalance + COOLDOWN if self.last_rebalance else 0
        if self.now < ready_at:
            refusals.add("RebalanceCooldown")
        if refusals:
            self._send(self.vault, "rebalance", *args, sender=m.account, refusals=refusals)
            if not self._active(who) or not wait:
                return
            self._advance(ready_at - self.now, moves)
        assert self.vault.call("nextRebalanceAt") == ready_at
        # A sleeve the move changes may not have its band open (StaleValuation: no decision
        # starts from an unconfirmed round): the agent confirms such a move first, as a keeper.
        self._confirm_moves()
        # A decision that moves no weight is refused (NothingMoved: nothing recorded, the cooldown
        # not restarted); targets a bps from the weights now may round back to them: not tried.
        current = list(self.vault.call("currentBps"))
        if targets == current:
            self._send(self.vault, "rebalance", *args, sender=m.account, refusals={"NothingMoved"})
            event("rebalance refused: nothing moved")
            return
        if max(abs(t - c) for t, c in zip(targets, current, strict=True)) <= 1:
            event("rebalance not tried: targets within a bps of the weights")
            return
        tx = self._send(self.vault, "rebalance", *args, sender=m.account, refusals=set())
        [log] = self.reg.logs(tx, "DecisionReported")
        assert log.agent == m.account.address.lower() and log.dueAt == self.now + EVAL_WINDOW
        assert log.decisionId not in self.open
        # The tolerance is a budget per window: the decision has the part of its window the
        # agent's previous decision's window no longer covers (IAgentRegistry, "Slash").
        tolerance = decision_tolerance_bps(TOLERANCE_BPS, EVAL_WINDOW, m.last_due - self.now)
        if tolerance < TOLERANCE_BPS:
            event("a decision with part of the tolerance")
        assert self.reg.call("decisionRecord", log.decisionId).toleranceBps == tolerance
        m.last_due = max(m.last_due, log.dueAt)
        self.open[log.decisionId] = Decision(who, log.dueAt, tolerance)
        self.last_rebalance = self.now
        assert not self.vault.logs(tx, "PerformanceFeeTaken")  # fees are taken at strikes

    @rule(moves=MOVES)
    def keeper_strikes(self, moves):
        """The keeper requests a small deposit, the NAVs are published at its request window's
        cut-off (moved by `moves`) and it strikes: the performance fee, if any, is taken there and
        reaches the registry."""
        keeper = self.d.keeper
        self._send(self.vault, "requestDeposit", TICKET, keeper.address, keeper.address,
                   sender=keeper, refusals=set())  # fmt: skip
        self._advance(3_600 - self.now % 3_600, moves)  # to the request window's cut-off
        self._confirm_moves()
        tx = self._send(self.vault, "strike", sender=keeper, refusals=set())
        if self.vault.logs(tx, "PerformanceFeeTaken"):
            self.fees += 1
            event("performance fee taken")
        for fee in self.reg.logs(tx, "FeeReceived"):
            self._fee_received(tx, fee)

    def _fee_received(self, tx: dict, fee) -> None:
        """`onFee` (IAgentRegistry, "Rewards"): the agents' share joins what earlier rounds
        carried; a round with points pays at most what they are worth, `convertToShares(
        roundPoints)` at the price after the strike (read in its block), each agent its pro-rata
        part (claimable now), and carries the rest; a round without points carries it all."""
        rounds = RewardRounds(
            self.rounds.round, sum(a.points for a in self.model), self.rounds.undistributed
        )
        block = tx["blockNumber"]
        worth = self.vault.call("convertToShares", rounds.round_points, block=block)
        supply = self.vault.call("totalSupply", block=block)
        assets = self.vault.call("totalAssets", block=block)
        assert worth == convert_to_shares(rounds.round_points, supply, assets, self.offset)
        split = split_fee(fee.shares, REWARD_SHARE_BPS, rounds, worth)
        assert (fee.toAgents, fee.toTreasury, fee.round) == (
            split.to_agents, split.to_treasury, split.round
        )  # fmt: skip
        if split.closes_round:
            event("a reward round closed")
            if split.carry:
                event("a reward round capped at its points' worth")
            assert split.paid <= worth
            for a in self.model:  # the round's points are final: claimable now
                a.claimable += reward_due(a.points, split.closed)
                a.points = 0
        self.rounds = split.rounds

    def _confirm_moves(self) -> None:
        """The settler's part: a strike settles nothing while a sleeve's price is beyond
        oracle.maxDeviationBps of the router's reference, unconfirmed. The keeper pokes each such
        move (recorded), waits oracle.confirmDelay (the NAVs republished unchanged) and pokes
        again (confirmed: the band closes)."""
        router, keeper = self.d.router, self.d.keeper
        moved = [t for t in self.d.tokens if len(set(router.call("priceBand", t))) == 2]
        if not moved:
            return
        event("strike: a price move confirmed first")
        for token in moved:
            self._send(router, "poke", token, sender=keeper, refusals=set())
        self._advance(self.d.params.call("get", keccak(text="oracle.confirmDelay")))
        for token in moved:
            self._send(router, "poke", token, sender=keeper, refusals=set())
            low, high = router.call("priceBand", token)
            assert low == high, "a move held for oracle.confirmDelay was not confirmed"

    def _publish_navs(self, moves: tuple[int, ...]) -> None:
        """Every sleeve's NAV is published now, moved by `moves` (bps)."""
        for feed, move_bps in zip(self.d.feeds, moves, strict=True):
            answer = feed.call("latestAnswer")
            self._publish(feed, max(answer * (BPS + move_bps) // BPS, 1))

    @rule(moves=MOVES)
    def prices_move(self, moves):
        self._publish_navs(moves)

    @rule(seconds=st.integers(1, 12 * 3_600))
    def hours_pass(self, seconds):
        """Time passes and the NAVs are published again, unchanged."""
        self._advance(seconds)

    @rule(seconds=st.integers(DAY, 4 * DAY), moves=MOVES)
    def days_pass(self, seconds, moves):
        """Days pass and the NAVs published now have moved."""
        self._advance(seconds, moves)

    def _advance(self, seconds: int, moves: tuple[int, ...] = NO_MOVES) -> None:
        # The publications keep every price fresh (oracle.maxStaleness is a day).
        self.now += seconds
        self._publish_navs(moves)

    # ------------------------------------------------------------------ evaluation and slashes

    def _expected_evaluation(self, decision_id: int, m: AgentModel) -> tuple[int, int, int, int]:
        """(excess, slash, cap, value) by IAgentRegistry's formulas, from the decision's record
        and the later decisions recorded inside its window: the excess (judged: slash,
        reputation) ends parts of the move at the same agent's reversals, the value (rewarded)
        at any agent's."""
        d = self.vault.call("decision", decision_id)
        due_at = self.open[decision_id].due_at
        later = []
        for j in range(decision_id + 1, self.vault.call("decisionCount")):
            dj = self.vault.call("decision", j)
            if dj.timestamp >= due_at:
                break
            later.append(dj)
        if any(dj.agent == d.agent for dj in later):
            event("evaluated with later decisions of its agent in the window")
        if any(dj.agent != d.agent for dj in later):
            event("evaluated with later decisions of another agent in the window")
        excess = stood = 0
        for i, sleeve in enumerate(d.sleeves):
            assert sleeve == self.d.sleeves[i].address.lower()
            moved = d.newBps[i] - d.oldBps[i]
            own, anyone = [], []
            for dj in later:
                k = list(dj.sleeves).index(sleeve)  # no sleeve is removed here
                back = dj.newBps[k] - dj.oldBps[k]
                anyone.append((back, dj.startIndex[k]))
                if dj.agent == d.agent:
                    own.append((back, dj.startIndex[k]))
            end = self.d.sleeves[i].call("returnIndex")
            excess += model_credited_excess(moved, d.startIndex[i], end, own)
            stood += model_credited_excess(moved, d.startIndex[i], end, anyone)
        cost = model_cost(d.navBefore, d.navAfter)  # its own trading cost, charged to both
        if cost:
            event("evaluated a decision whose trades cost the vault")
        excess, stood = excess - cost, stood - cost
        cap = (m.stake + m.unbonding) * self.max_slash_bps // BPS
        tolerance = self.open[decision_id].tolerance_bps * WAD
        slash = 0
        if excess < -tolerance:
            slash = min((-excess - tolerance) * d.navBefore // (BPS * WAD), cap)
        return excess, slash, cap, model_value(stood, d.navBefore)

    @precondition(lambda self: self.open)
    @rule(pick=st.integers(0, 63))
    def evaluate(self, pick):
        """Mostly a due decision (when there is one); one not due is refused."""
        self._evaluate(self._pick(self.open, pick, lambda d: self.now >= d.due_at))

    def _waits(self, decision_id: int) -> bool:
        """Whether a sleeve the decision moved has its price band open (a move beyond
        oracle.maxDeviationBps, unconfirmed): its evaluation waits (`StaleReturnIndex`)."""
        d = self.vault.call("decision", decision_id)
        return any(
            d.newBps[i] != d.oldBps[i] and d.startIndex[i] != 0
            and len(set(self.d.router.call("priceBand", token))) == 2
            for i, token in enumerate(self.d.tokens)
        )  # fmt: skip

    def _evaluate(self, decision_id: int) -> None:
        dec = self.open[decision_id]
        m = self.model[dec.agent]
        excess, slash, cap, value = self._expected_evaluation(decision_id, m)
        refusals = {"EvaluationNotDue"} if self.now < dec.due_at else set()
        if not refusals and self._waits(decision_id):
            refusals = {"StaleReturnIndex"}  # judged only on a confirmed (or dropped) move
        tx = self._send(self.reg, "evaluate", decision_id, sender=self.d.keeper, refusals=refusals)
        if tx is None:
            return
        del self.open[decision_id]
        [ev] = self.reg.logs(tx, "Evaluated")
        assert (ev.decisionId, ev.excessBps, ev.slashAmount) == (
            decision_id, tdiv(excess, WAD), slash,
        )  # fmt: skip
        m.reputation += tdiv((excess - m.reputation) * 2_000, BPS)
        m.points, m.debt, added, withdrawn = model_net(m.points, m.debt, value)
        netted = [
            (n.agent, n.decisionId, n.value, n.pointsAdded, n.pointsWithdrawn, n.debt)
            for n in self.reg.logs(tx, "ValueNetted")
        ]
        assert netted == ([(
            m.account.address.lower(), decision_id, value, added, withdrawn, m.debt,
        )] if value else [])  # fmt: skip
        [updated] = self.reg.logs(tx, "ReputationUpdated")
        assert updated.rewardPoints == added
        if withdrawn:
            event("a loss withdrew points")
        elif value < 0:
            event("a loss became debt")
        opened = self.reg.logs(tx, "SlashOpened")
        if slash == 0:
            assert not opened
            event("evaluated: no slash")
            return
        [log] = opened
        assert (log.agent, log.decisionId, log.amount) == (
            m.account.address.lower(), decision_id, slash,
        )  # fmt: skip
        assert log.vetoEndsAt == self.now + VETO_WINDOW
        assert log.slashId not in self.pending
        assert log.amount <= cap
        self.pending[log.slashId] = PendingSlash(dec.agent, slash, log.vetoEndsAt, cap)
        event("evaluated: slash opened" + (" (capped)" if slash == cap else ""))

    @rule(who=st.integers(0, N_AGENTS - 1))
    def guardian_suspends(self, who):
        """The guardian suspends an agent, or lifts the suspension of a suspended one (a toggle,
        so that suspensions do not pile up and starve the other rules); asking for the state it
        is in, or naming an address that is no registered agent, is refused. Only `isActive`
        changes (the invariants check every other field)."""
        m = self.model[who]
        if not m.registered:
            self._send(self.reg, "setSuspended", m.account, True, sender=self.d.guardian,
                       refusals={"NotRegistered"})  # fmt: skip
            return
        self._send(self.reg, "setSuspended", m.account, m.suspended, sender=self.d.guardian,
                   refusals={"SuspensionUnchanged"})  # fmt: skip
        self._send(self.reg, "setSuspended", m.account, not m.suspended, sender=self.d.guardian,
                   refusals=set())  # fmt: skip
        m.suspended = not m.suspended
        event("an agent suspended" if m.suspended else "a suspension lifted")

    @precondition(lambda self: self.pending)
    @rule(pick=st.integers(0, 63))
    def veto_slash(self, pick):
        slash_id = self._pick(self.pending, pick, lambda s: self.now < s.veto_ends_at)
        s = self.pending[slash_id]
        refusals = {"VetoWindowOver"} if self.now >= s.veto_ends_at else set()
        if self._send(self.reg, "vetoSlash", slash_id, sender=self.d.guardian, refusals=refusals):
            del self.pending[slash_id]

    @precondition(lambda self: self.pending)
    @rule(pick=st.integers(0, 63))
    def execute_slash(self, pick):
        """Mostly a slash past its veto window (when there is one); else refused."""
        self._execute_slash(self._pick(self.pending, pick, lambda s: self.now >= s.veto_ends_at))

    def _execute_slash(self, slash_id: int) -> None:
        s = self.pending[slash_id]
        m = self.model[s.agent]
        refusals = {"VetoWindowOpen"} if self.now < s.veto_ends_at else set()
        assets_before = self.vault.call("totalAssets")
        price_before = self.vault.call("convertToAssets", WAD)
        tx = self._send(self.reg, "executeSlash", slash_id, sender=self.d.keeper, refusals=refusals)
        if tx is None:
            return
        del self.pending[slash_id]
        taken = min(s.amount, m.stake + m.unbonding)
        [log] = self.reg.logs(tx, "SlashExecuted")
        assert (log.slashId, log.agent, log.amount) == (slash_id, m.account.address.lower(), taken)
        from_stake = min(taken, m.stake)
        m.stake -= from_stake
        m.unbonding -= taken - from_stake
        m.slashed += taken
        self.executed += taken
        donations = [(d.__dict__["from"], d.assets) for d in self.vault.logs(tx, "Donated")]
        assert donations == ([(self.reg.address.lower(), taken)] if taken else [])
        assert self.vault.call("totalAssets") - assets_before == taken
        assert self.vault.call("convertToAssets", WAD) >= price_before
        event(
            "slash executed"
            + (" (short)" if taken < s.amount else "")
            + (" (nothing left)" if not taken else "")
        )

    @precondition(lambda self: self.open or self.pending)
    @rule(wait=st.booleans(), moves=MOVES)
    def keeper_sweeps(self, wait, moves):
        """A keeper evaluates every decision `decisionsDue` lists, then executes every slash
        whose veto window is over. With `wait`, when nothing is due yet, it first waits for the
        next deadline (an evaluation window or a veto window ending; the NAVs move by `moves`)."""
        deadlines = [d.due_at for d in self.open.values()]
        deadlines += [s.veto_ends_at for s in self.pending.values()]
        if wait and min(deadlines) > self.now:
            self._advance(min(deadlines) - self.now, moves)
        past = sorted(k for k, d in self.open.items() if self.now >= d.due_at)
        due = list(self.reg.call("decisionsDue", 64))
        assert sorted(due) == [k for k in past if not self._waits(k)]
        if len(due) < len(past):  # the evaluator confirms the moves they wait on first
            event("evaluations waited on an unconfirmed move")
            self._confirm_moves()
            due = list(self.reg.call("decisionsDue", 64))
            assert sorted(due) == past
        for decision_id in due:
            self._evaluate(decision_id)
        for slash_id in sorted(self.pending):
            if self.now >= self.pending[slash_id].veto_ends_at:
                self._execute_slash(slash_id)

    # ------------------------------------------------------------------ invariants

    # Each invariant reads in one JSON-RPC batch (tests/invariants/agent_machine_support.py):
    # thousands of checks a run, one HTTP round trip each instead of one per view.

    @invariant()
    def stake_is_conserved(self):
        reg, n = self.reg, len(self.model)
        assert int(rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16) == self.now
        read = batch(
            (reg, "totals", ()),
            (reg, "totalSlashed", ()),
            (self.asset, "balanceOf", (reg.address,)),
            *((reg, "agentInfo", (m.account,)) for m in self.model),
            *((reg, "isActive", (m.account,)) for m in self.model),
        )
        (staked, unbonding), slashed, held = read[:3]
        infos, active = read[3 : 3 + n], read[3 + n :]
        assert sum(a.stake for a in infos) == staked
        assert sum(a.unbonding for a in infos) == unbonding
        assert sum(a.slashed for a in infos) == slashed == self.executed
        assert held == staked + unbonding
        deposited = sum(m.deposited for m in self.model)
        withdrawn = sum(m.withdrawn for m in self.model)
        assert staked + unbonding + slashed == deposited - withdrawn
        for i, (m, a) in enumerate(zip(self.model, infos, strict=True)):
            opened, slashes = self._counts(i)
            assert (a.registered, a.stake, a.unbonding, a.slashed) == (
                m.registered, m.stake, m.unbonding, m.slashed,
            ), i  # fmt: skip
            assert (a.openDecisions, a.pendingSlashes) == (opened, slashes), i
            assert a.slashPending == self._slash_pending(i), i
            assert a.reputation == m.reputation, i
            assert a.lastDueAt == m.last_due, i
            if m.unbonding:
                assert a.unbondReadyAt == m.ready_at, i
            assert active[i] == self._active(i), i

    @invariant()
    def open_decisions_and_pending_slashes(self):
        opened, pending = batch((self.reg, "openDecisions", ()), (self.reg, "pendingSlashes", ()))
        assert sorted(opened) == sorted(self.open)
        assert sorted(pending) == sorted(self.pending)
        for slash_id, s in self.pending.items():
            assert s.amount <= s.cap, slash_id

    @invariant()
    def rewards_are_net_value_added(self):
        reg, n = self.reg, len(self.model)
        read = batch(
            (reg, "roundPoints", ()),
            *((reg, "roundPointsOf", (m.account,)) for m in self.model),
            *((reg, "rewardDebt", (m.account,)) for m in self.model),
        )
        points, debts = read[1 : 1 + n], read[1 + n :]
        for i, m in enumerate(self.model):
            assert points[i] == m.points, i
            assert debts[i] == m.debt, i
        assert read[0] == sum(m.points for m in self.model)

    @invariant()
    def rewards_are_the_rounds_capped_payouts(self):
        """Each agent's `claimableRewards`, the open round and the carried pot are the model's
        (`_fee_received`: every round paid at most what its points were worth)."""
        round_, carried, *claimable = batch(
            (self.reg, "rewardRound", ()),
            (self.reg, "undistributedRewards", ()),
            *((self.reg, "claimableRewards", (m.account,)) for m in self.model),
        )
        assert (round_, carried) == (self.rounds.round, self.rounds.undistributed)
        assert claimable == [m.claimable for m in self.model]

    @invariant()
    def rewards_are_covered(self):
        held, *claimable = batch(
            (self.vault, "balanceOf", (self.reg.address,)),
            *((self.reg, "claimableRewards", (m.account,)) for m in self.model),
        )
        assert held >= sum(claimable)


AgentMachine.TestCase.settings = settings(
    # AGENT_MACHINE_EXAMPLES bounds a timed deep run; else ci 40, "deep" profile: 400
    max_examples=int(
        os.environ.get("AGENT_MACHINE_EXAMPLES", max(40, settings.default.max_examples // 5))
    ),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestAgentStateMachine = AgentMachine.TestCase
