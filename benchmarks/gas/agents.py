"""The AgentRegistry's part of the gas snapshot: an agent's whole life on the local system.

Deployed by `ballast.deploy.deploy_system` from deployments/config/local.yaml (its agent.*
parameters: 3-day activation, 7-day evaluation window, 3-day veto window, 10% performance fee
of which 20% rewards agents). A depositor seeds the vault with 1,000,000 (requested, struck,
claimed); then:

- register, stake (first: reaches agent.minStake and starts the activation clock), stake
  (repeat);
- rebalance (first, with the decision reported to the registry) into gold; gold's NAV then
  rises 5%, and a week later `evaluate` finds a positive excess ("evaluate (reward points)");
- strike (taking a performance fee on gold's gain, a day after a strike saw it: shares minted
  to the registry, split between the agents' reward round and the treasury; the fee is taken
  at strikes, and a depositor's request gives this one something to settle); rebalance
  (steady state, the second decision reported); claimRewards;
- a second decision moves more into gold, whose NAV then falls 20%: `evaluate (opens a slash)`,
  once the fall is confirmed (an evaluation waits while a move beyond oracle.maxDeviationBps is
  not), then `executeSlash` after the veto window (the stake donated to the vault); a third decision
  and a smaller fall give a slash the guardian vetoes (`vetoSlash`);
- requestUnbond, then withdrawUnbonded after agent.unbondingPeriod;
- then a fourth decision moves gold to its cap and the agent's next one, a day later, takes 10
  points of it back: `evaluate` of the fourth walks the later decision in its window (one walk
  credits both the agent's own window and the time the move stood).

The "rebalance" rows of the vault columns include the evaluation bookkeeping (the decision's
sleeves recorded, `onDecision`) as well.
"""

from __future__ import annotations

from ape import accounts, chain, project

from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from ballast.parameters import key_of
from benchmarks.gas.measure import BLOCK_TIME, _block_time

USDC = 10**6
DAY = 86_400
SEED = 1_000_000 * USDC


class _Life:
    """The deployed system around one agent, and a clock that keeps the oracle feeds fresh."""

    def __init__(self, base: DeployConfig) -> None:
        test = accounts.test_accounts
        self.deployer, self.agent, self.seeder = test[0], test[5], test[6]
        deployment = deploy_system(base, self.deployer, report=lambda _: None)
        self.guardian = accounts[deployment.roles["guardian"]]
        self.vault = project.RWAVault.at(deployment.contracts["RWAVault"])
        self.agents = project.AgentRegistry.at(deployment.contracts["AgentRegistry"])
        self.registry = project.ParameterRegistry.at(deployment.contracts["ParameterRegistry"])
        self.asset = project.MockStablecoin.at(deployment.tokens["asset"])
        self.names = [s.name for s in deployment.sleeves]
        self.feeds = {
            s.name: project.MockAggregator.at(s.feed) for s in deployment.sleeves if s.feed
        }
        self.tokens = {s.name: s.token for s in deployment.sleeves if s.feed}
        self.router = project.OracleRouter.at(deployment.contracts["OracleRouter"])

    def param(self, name: str) -> int:
        return self.registry.get(key_of(name))

    def fund(self, account, amount: int, spender) -> None:
        limit = self.asset.FAUCET_LIMIT()
        while amount > 0:
            chunk = min(amount, limit)
            self.asset.faucet(account, chunk, sender=account)
            amount -= chunk
        self.asset.approve(spender, 2**256 - 1, sender=account)

    def wait(self, seconds: int) -> None:
        """Jump `seconds` and republish every NAV (the mock feeds publish daily, like real ones)."""
        chain.mine(timestamp=chain.pending_timestamp + seconds)
        for feed in self.feeds.values():
            feed.setAnswer(feed.latestAnswer(), sender=self.deployer)

    def enter(self, amount: int):
        """The seeder requests a deposit of `amount`; after the next NAV round past the request
        window's cut-off a strike settles it and the seeder claims the shares. Returns the
        strike's receipt."""
        self.fund(self.seeder, amount, self.vault)
        self.vault.requestDeposit(amount, self.seeder, self.seeder, sender=self.seeder)
        # The next NAV round, at the start of the next hourly request window (the cut-off).
        self.wait(3_600 - chain.blocks.head.timestamp % 3_600)
        tx = self.vault.strike(sender=self.seeder)
        self.vault.deposit(amount, self.seeder, sender=self.seeder)
        return tx

    def move(self, sleeve: str, bps: int) -> None:
        """Move `sleeve`'s NAV by `bps` (negative: a fall)."""
        feed = self.feeds[sleeve]
        feed.setAnswer(feed.latestAnswer() * (10_000 + bps) // 10_000, sender=self.deployer)

    def rebalance(self, weights: dict[str, int], tag: int):
        targets = [weights.get(name, 0) for name in self.names]
        return self.vault.rebalance(targets, bytes([tag]) * 32, f"ipfs://{tag}", sender=self.agent)

    def confirm_moves(self) -> None:
        """A move beyond oracle.maxDeviationBps holds an evaluation until it is confirmed: poke
        (recorded), oracle.confirmDelay later (the NAVs republished) poke again (confirmed)."""
        moved = [t for t in self.tokens.values() if len(set(self.router.priceBand(t))) == 2]
        for token in moved:
            self.router.poke(token, sender=self.seeder)
        if moved:
            self.wait(self.param("oracle.confirmDelay"))
        for token in moved:
            self.router.poke(token, sender=self.seeder)

    def evaluate_last(self):
        decision = self.vault.decisionCount() - 1
        self.wait(self.param("agent.evalWindow"))
        self.confirm_moves()
        return self.agents.evaluate(decision, sender=self.seeder)


def measure_agents(base: DeployConfig) -> dict[str, int]:
    with _block_time(BLOCK_TIME):  # repeatable time: see measure._block_time
        return _agent_life(base)


def _agent_life(base: DeployConfig) -> dict[str, int]:
    life = _Life(base)
    out: dict[str, int] = {}

    def record(name: str, tx) -> None:
        out[name] = tx.gas_used

    agents, agent = life.agents, life.agent
    min_stake = life.param("agent.minStake")
    life.fund(agent, 2 * min_stake, agents)
    life.enter(SEED)

    record("register", agents.register("ipfs://agent-card", sender=agent))
    record("stake (first, reaches agent.minStake)", agents.stake(min_stake, sender=agent))
    record("stake (repeat)", agents.stake(min_stake // 2, sender=agent))
    life.wait(life.param("agent.activationDelay"))

    record("rebalance (first decision reported)", life.rebalance({"gold": 1_000}, 1))
    life.wait(DAY)
    life.move("gold", 500)
    record("evaluate (reward points)", life.evaluate_last())
    life.enter(SEED // 100)  # a strike sees the gain; the fee is charged once it stood a day
    life.wait(DAY)
    tx = life.enter(SEED // 100)
    if not list(tx.events.filter(life.vault.PerformanceFeeTaken)):
        raise RuntimeError("agents benchmark: the strike after gold's rise took no fee")
    record("strike (with performance fee)", tx)
    record("rebalance (second decision reported)", life.rebalance({"gold": 2_000}, 2))
    record("claimRewards", agents.claimRewards(sender=agent))

    life.move("gold", -2_000)
    tx = life.evaluate_last()
    slashes = [e.slashId for e in tx.events.filter(agents.SlashOpened)]
    if len(slashes) != 1:
        raise RuntimeError(f"agents benchmark: the gold crash opened {len(slashes)} slashes")
    record("evaluate (opens a slash)", tx)
    life.wait(life.param("agent.vetoWindow"))
    record("executeSlash", agents.executeSlash(slashes[0], sender=life.seeder))

    life.rebalance({"gold": 2_500}, 3)
    life.move("gold", -1_000)
    tx = life.evaluate_last()
    slashes = [e.slashId for e in tx.events.filter(agents.SlashOpened)]
    if len(slashes) != 1:
        raise RuntimeError("agents benchmark: the third decision opened no slash to veto")
    record("vetoSlash", agents.vetoSlash(slashes[0], sender=life.guardian))

    record("requestUnbond", agents.requestUnbond(min_stake // 4, sender=agent))
    life.wait(life.param("agent.unbondingPeriod"))
    record("withdrawUnbonded", agents.withdrawUnbonded(sender=agent))

    life.wait(DAY)
    life.rebalance({"gold": 3_000}, 4)
    life.wait(DAY)
    life.rebalance({"gold": 2_000}, 5)  # the same agent takes back the move of decision 4
    decision = life.vault.decisionCount() - 2
    life.wait(life.param("agent.evalWindow"))
    record("evaluate (a later decision reversed it)", agents.evaluate(decision, sender=life.seeder))
    return out
