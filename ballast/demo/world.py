"""The demo's world on a local chain: the deployed system, its people and its keepers, played day
by day from a `scenario.Plan`, recorded into a `record.DemoRecord`.

People whose moves are scripted (the market's feeds and issuers, depositors, borrowers, the
gambler agent, DAO voters, the guardian) act through plain transactions; depositors and
borrowers are anvil-impersonated addresses (hundreds of them cost no key handling). The keepers
and the strategist agent are the real `keepers.shell.Keeper` jobs, each with its own key and
state file: the liquidator, evaluator and sentinel of two keepers, the settler keeper, the risk
steward (local.yaml's STEWARD_ROLE key; its daily pass follows the liquidators: it tightens within
its bounds at once and writes the rest of its cut as a recommendation for the DAO) and the
strategist's rebalancer. Each day opens with every feed publishing, then the settler's pass
(`World.settle`): it strikes when `strikeTrigger()` says a strike would settle something (the
requests made before today's prices: forward pricing) and claims what strikes settled for the
depositors that made the claim relay their operator; the others claim themselves. On the plan's
settler-outage day a depositor strikes instead (anyone may) and every depositor claims itself.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ape import accounts, chain, project
from eth_utils import keccak

from ballast.config import DeployConfig
from ballast.demo.actors import Actors
from ballast.demo.record import DemoRecord, Event
from ballast.demo.scenario import DAY, Plan
from ballast.demo.tracker import Tracker
from ballast.deploy import deploy_system
from ballast.parameters import key_of
from ballast.params import bound_to_proposer
from keepers.config import load_settings
from keepers.protocol import Protocol
from keepers.shell import Keeper
from keepers.store import Store
from keepers.strategy.rationale import encode, rationale_hash

REPO = Path(__file__).resolve().parents[2]
FEED_UNIT = 10**8
# The demo's changes to deployments/config/local.yaml (all within the file's bounds): agents
# become active a day after bonding, and one rebalance may turn over 60 % of the vault.
DEMO_PARAMETERS = {"agent.activationDelay": DAY, "vault.maxTurnoverBps": 6_000,
                   "agent.toleranceBps": 200}  # fmt: skip
STRATEGIST_FROM = 2  # the day the strategist's keeper starts (after its opening allocation)
# The strategist moves only for a clear gain: 10x the gas, at least 3 % of the vault.
STRATEGIST = {
    "rebalancer": {"gain_margin": 10.0, "min_turnover_bps": 300, "turnover_cost_bps": 25.0}
}
GOLD_LTV_PROPOSED = 6_000
KEEPER_JOBS = {"keeper-a": ("sentinel", "liquidator", "evaluator"),
               "keeper-b": ("liquidator", "evaluator")}  # fmt: skip
SETTLER = "settler"  # the settler keeper's name (its job's too): strikes, claims through the relay
STEWARD = "steward"  # the risk steward's keeper (STEWARD_ROLE: deployments/config/local.yaml)
OUTAGE_STRIKER = 0  # the depositor who strikes while the settler is down (its redemption waits)


def demo_config() -> DeployConfig:
    config = DeployConfig.load(REPO / "deployments/config/local.yaml")
    specs = [
        s.model_copy(update={"value": DEMO_PARAMETERS[s.name]}) if s.name in DEMO_PARAMETERS else s
        for s in config.parameters
    ]
    return config.model_copy(update={"parameters": specs})


class World:
    """One demo run. `say(text)` reports progress (one line per notable act)."""

    def __init__(self, plan: Plan, out_dir: Path, say: Callable[[str], None] = print) -> None:
        self.plan, self.out_dir, self.say = plan, out_dir, say
        self.state_dir = out_dir / "keeper-state"
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.deployer, self.guardian = accounts.test_accounts[0], accounts.test_accounts[1]
        self.voters = [accounts.test_accounts[i] for i in (0, 3, 4)]
        self.strategist, self.gambler = accounts.test_accounts[5], accounts.test_accounts[6]
        self.keeper_accounts = {"keeper-a": accounts.test_accounts[7],
                                "keeper-b": accounts.test_accounts[8]}  # fmt: skip
        self.settler_account = accounts.test_accounts[9]
        self.steward_account = accounts.test_accounts[2]  # local.yaml's roles.steward
        self.day = 0
        self.t0 = 0
        self.proposal: dict[str, Any] | None = None
        self.health_before: dict[str, float] = {}

    # ------------------------------------------------------------------ set-up

    def setup(self) -> None:
        # Every block one second after the last, whatever the wall clock says: the scenario's
        # interest, windows and the strategist's decisions replay the same on a loaded machine.
        chain.provider.make_request("anvil_setBlockTimestampInterval", [1])
        self.say("deploying Ballast from deployments/config/local.yaml (demo timings)")
        self.deployment_config = demo_config()
        deployment = deploy_system(self.deployment_config, self.deployer, report=lambda _: None)
        self.protocol = Protocol.from_deployment(deployment, source="the demo deployment")
        p, c = self.protocol, deployment.contracts
        self.vault, self.book, self.agents = p.vault, p.lending, p.agents
        self.asset = project.MockStablecoin.at(deployment.tokens["asset"])
        self.governor = project.BallastGovernor.at(c["BallastGovernor"])
        self.gov_token = project.BallastToken.at(c["BallastToken"])
        rwa = [s for s in deployment.sleeves if s.feed]
        self.feeds = {s.name: project.MockAggregator.at(s.feed) for s in rwa}
        self.issuers = {s.name: project.MockIssuer.at(s.issuer) for s in rwa}
        self.tokens = {s.name: project.MockRWAToken.at(s.token) for s in rwa}
        self.units = 10 ** self.asset.decimals()
        self.actors = Actors(self)
        self.record = DemoRecord(
            seed=self.plan.seed, weeks=self.plan.weeks, asset_symbol=self.asset.symbol(),
            sleeves=tuple(p.sleeves),
        )  # fmt: skip
        self.tracker = Tracker(self)
        self.t0 = (chain.blocks.head.timestamp // 3_600 + 1) * 3_600  # on an hourly window
        self._advance(0)
        for voter in self.voters:  # votes count from delegation (ERC20Votes); by name, since
            self.gov_token.invoke_transaction("delegate", voter, sender=voter)  # Ape has .delegate
        for agent in (self.strategist, self.gambler):
            self._bond(agent)
        self.keepers = {n: self._keeper(a, f"{n}") for n, a in self.keeper_accounts.items()}
        self.strategist_keeper = self._keeper(self.strategist, "strategist")
        self.settler = self._keeper(self.settler_account, SETTLER)
        self.steward = self._keeper(self.steward_account, STEWARD)
        self._seed_history()
        for name, account in self.keeper_accounts.items():  # inventory to repay debts with
            self.actors.faucet(str(account.address), 1_000_000 * self.units)
            self.say(f"{name} {account.address}: 1,000,000 {self.record.asset_symbol} inventory")
        self.say(f"{SETTLER} {self.settler_account.address}: strikes, claims through the relay")
        self.actors.appoint_relay(str(self.protocol.claim_relay.address))
        self.actors.deposit_day(0)

    def _seed_history(self) -> None:
        """The strategist has watched the RWA markets for `HISTORY_DAYS` before the run: their
        NAVs (each sleeve's `returnIndex` is its token's NAV in WAD) go into its store."""
        store = self.strategist_keeper.store
        for name, navs in self.plan.history.items():
            for back, nav in enumerate(reversed(navs), start=1):
                store.add_index_sample(name, self.t0 - back * DAY, int(nav * 10**18), 0)

    def _bond(self, agent: Any) -> None:
        minimum = self.protocol.registry.get(key_of("agent.minStake"))
        self.actors.faucet(str(agent.address), minimum)
        self.asset.approve(self.agents, minimum, sender=agent)
        self.agents.register(f"ipfs://ballast-demo/{agent.address}", sender=agent)
        self.agents.stake(minimum, sender=agent)

    def _keeper(self, account: Any, name: str) -> Keeper:
        extra: dict[str, Any] = STRATEGIST if name == "strategist" else {}
        if name == STEWARD:  # its recommendations for the DAO next to its state file
            extra = {"steward": {"recommendation_dir": self.state_dir / name / "recommendations"}}
        settings = load_settings(state_dir=self.state_dir / name, **extra)
        store = Store(settings.state_path(chain.chain_id, str(account.address)))
        observe = self.tracker.keeper_report(name)
        return Keeper(self.protocol, store, account, settings, observe=observe)

    # ------------------------------------------------------------------ time and market

    def _advance(self, day: int) -> None:
        """Day `day` begins: the chain's clock moves there and every feed publishes its NAV."""
        target = self.t0 + day * DAY
        if chain.blocks.head.timestamp < target:
            chain.mine(1, timestamp=target)
        for name, nav in self.plan.navs(day).items():
            self.feeds[name].setAnswer(int(round(nav * FEED_UNIT)), sender=self.deployer)

    # ------------------------------------------------------------------ the days

    def play(self, on_day: Callable[[int], None] | None = None) -> DemoRecord:
        for day in range(1, self.plan.days + 1):
            self.run_day(day)
            if on_day is not None:
                on_day(day)
        return self.record

    def run_day(self, day: int) -> None:
        self.day = day
        plan = self.plan
        if day == plan.crash_day:
            self.health_before = self.tracker.healths()
            self.record.health_before = list(self.health_before.values())
            self.record.crash_day = day
        self._advance(day)
        if day == plan.crash_day:
            drop = round(plan.crash_drop * 100)
            self.event("market", f"gold crashes {drop}% to {plan.gold[day]:,.0f}")
        self.settle(day)  # the requests of the days before, at today's prices
        self.tracker.watch_chain(day)  # its strike and claims, before the day's other events
        self.actors.scripted(day)
        self.tracker.watch_chain(day)
        self._keepers()
        if day == plan.crash_day:
            self._confirm_crash(day)
        self._steward()
        if day >= STRATEGIST_FROM:
            ready = int(self.vault.nextRebalanceAt())  # the strategist acts later in the day
            if chain.blocks.head.timestamp < ready < self.t0 + day * DAY + DAY // 2:
                chain.mine(1, timestamp=ready)
            report = self.strategist_keeper.run("rebalancer")
            if not report.actions and plan.crash_day <= day <= plan.crash_day + 2:
                self.event("decision", f"the strategist holds: {'; '.join(report.skipped)}")
        self._governance(day)
        self.tracker.watch_chain(day)
        if day == plan.crash_day:
            self.record.health_after = list(self.tracker.healths().values())
            liquidated = {q.borrower for q in self.record.liquidations if q.day == day}
            self.record.health_liquidated = [
                h for who, h in self.health_before.items() if who in liquidated
            ]
        self.tracker.snapshot(day)

    def _keepers(self) -> None:
        for name, jobs in KEEPER_JOBS.items():
            for job in jobs:
                self.keepers[name].run(job)

    def _confirm_crash(self, day: int) -> None:
        """A fall beyond oracle.maxDeviationBps counts for liquidations once it has held
        oracle.confirmDelay: the sentinel recorded it in the morning pass; the feeds publish
        again that long after and the keepers' next pass confirms it and liquidates."""
        delay = int(self.protocol.registry.get(key_of("oracle.confirmDelay")))
        chain.mine(1, timestamp=chain.blocks.head.timestamp + delay)
        for name, nav in self.plan.navs(day).items():
            self.feeds[name].setAnswer(int(round(nav * FEED_UNIT)), sender=self.deployer)
        self.event("market", "the gold fall has held oracle.confirmDelay: the keepers act on it")
        self._keepers()

    def settle(self, day: int) -> None:
        """The settler keeper's pass (its strike, then its claims, through the relay, for the
        depositors that made the relay their operator), then the other depositors' own claims. On
        `plan.settler_down_day` the keeper does not run: a depositor whose redemption waits strikes
        itself and every depositor claims itself; the keeper's next pass finds nothing of that day
        left to do."""
        if day == self.plan.settler_down_day:
            self.event("keeper", f"the {SETTLER} keeper is down: depositor {OUTAGE_STRIKER} "
                       "strikes itself (anyone may) and every depositor claims itself")  # fmt: skip
            self.actors.strike(OUTAGE_STRIKER)
            self.actors.claim(self.actors.depositors)
            return
        self.settler.run(SETTLER)
        self.actors.claim(self.actors.self_claimers)

    def event(self, kind: str, text: str) -> None:
        self.record.events.append(Event(self.day, kind, text))
        self.say(f"day {self.day:>2}: {text}")

    # ------------------------------------------------------------------ agents

    def rebalance(self, agent: Any, name: str, targets: dict[str, int], why: str) -> None:
        """A scripted decision by `agent`, after the vault's cooldown; its rationale document is
        stored in the strategist's store (so `verify-decision` finds it) and hashed on chain."""
        ready = max(int(self.vault.nextRebalanceAt()), int(self.agents.activeFrom(agent)))
        if chain.blocks.head.timestamp < ready:
            chain.mine(1, timestamp=ready)
        doc = encode({"agent": name, "day": self.day, "targets_bps": targets, "why": why})
        digest = rationale_hash(doc)
        self.strategist_keeper.store.put_rationale(doc)
        bps = [targets.get(n, 0) for n in self.protocol.sleeves]
        self.vault.rebalance(bps, digest, f"ballast://rationale/0x{digest.hex()}", sender=agent)

    # ------------------------------------------------------------------ the risk steward

    def _steward(self) -> None:
        """The risk steward's pass (after the day's liquidations): within its bounds it moves
        at once; the rest of its cut it leaves to the DAO as a recommendation file."""
        report = self.steward.run(STEWARD)
        if not report.count("mined"):
            return
        batch = next(n for n in report.notes if n.startswith("steward batch "))
        listed = batch.removeprefix("steward batch ").split(";")[0]
        pairs = [pair.split("=") for pair in listed.split(", ")]
        moved = ", ".join(f"{name} {self._shown(name, int(v))}" for name, v in pairs)
        # LTVs and thresholds in the timeline; caps and rates only in the record
        risk = any(n.startswith(("lend.ltvBps.", "lend.liqThresholdBps.")) for n, _ in pairs)
        kind = "steward" if risk else "steward-other"
        self.event(kind, f"the risk steward moves, within its bounds: {moved}")

    def _shown(self, name: str, value: int) -> str:
        if "Bps" in name:
            return f"{value / 100:.2f}%"
        return f"{value / self.units:,.0f}"  # an amount in the asset

    # ------------------------------------------------------------------ the DAO

    def _governance(self, day: int) -> None:
        states = ("Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired",
                  "Executed")  # fmt: skip
        if day == self.plan.proposal_day:
            registry = self.protocol.registry
            call = registry.set.encode_input(key_of("lend.ltvBps.gold"), GOLD_LTV_PROPOSED)
            label = f"Tighten gold LTV to {GOLD_LTV_PROPOSED / 100:.0f}% after the crash"
            text = bound_to_proposer(label, self.deployer.address)  # no one else may submit it
            args = ([registry.address], [0], [call], text)
            receipt = self.governor.propose(*args, sender=self.deployer)
            (created,) = receipt.events.filter(self.governor.ProposalCreated)
            self.proposal = {"id": created.proposalId, "args": args, "voted": False}
            self.event("governance", f"DAO proposal: {label}")
        if self.proposal is None:
            return
        pid = self.proposal["id"]
        state = states[self.governor.state(pid)]
        targets, values, calls, text = self.proposal["args"]
        description = keccak(text=text)
        if state == "Active" and not self.proposal["voted"]:
            for voter in self.voters:
                self.governor.castVote(pid, 1, sender=voter)
            self.proposal["voted"] = True
            self.event("governance", "token holders vote for the proposal")
        elif state == "Succeeded":
            self.governor.queue(targets, values, calls, description, sender=self.deployer)
            self.event("governance", "proposal queued in the timelock (15 days)")
        elif state == "Queued" and chain.blocks.head.timestamp >= self.governor.proposalEta(pid):
            self.governor.execute(targets, values, calls, description, sender=self.deployer)
            ltv = self.protocol.registry.get(key_of("lend.ltvBps.gold"))
            self.event("governance", f"proposal executed: lend.ltvBps.gold = {ltv}")
            self.proposal = None

    def finish(self) -> DemoRecord:
        self.tracker.finish()
        keepers = (*self.keepers.values(), self.strategist_keeper, self.settler, self.steward)
        for keeper in keepers:
            keeper.store.close()
        self.release_clock()
        return self.record

    def release_clock(self) -> None:
        """The node's clock follows the wall clock again (a node of your own outlives the demo,
        finished or not)."""
        chain.provider.make_request("anvil_removeBlockTimestampInterval", [])


__all__ = ["KEEPER_JOBS", "SETTLER", "STEWARD", "World", "demo_config"]
