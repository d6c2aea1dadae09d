"""The system of tests/governance/test_parameter_edges.py and
tests/attacks/test_governance_review3.py: `ballast.deploy.deploy_system` of
deployments/config/local.yaml (the bounds a deployer ships); alice and carol deposit 1,000,000
each, an agent allocates 20 % (T-bills 1,000 bps, gold 500, invoices 300, the lending book 200)
and bob borrows 20,000 against 25 gold. `Edge.govern` moves a parameter as an executed proposal
would (the timelock, after governance's cooldown, linked parameters moved out of the way)."""

from __future__ import annotations

from pathlib import Path

from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from ballast.parameters import (  # IParameterRegistry.LinkRule
    LESS_THAN,
    PRODUCT_WITH_BONUS_AT_MOST,
    RATIO_AT_MOST,
    SUM_AT_LEAST,
    key_of,
)
from tests.vault_support import DAY, confirm_moves, faucet, next_window, revert_of

USDC = 10**6
BPS = 10_000
MILLION = 1_000_000 * USDC
LOAN = 20_000 * USDC
CONFIG = DeployConfig.load(Path(__file__).resolve().parents[1] / "deployments/config/local.yaml")
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
        if reg.check(key, value, False, block_id="pending")[0]:
            reg.set(key, value, sender=self.timelock)  # within one step
        else:
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


def build_edge(project, accounts, chain) -> Edge:
    """The system of the module docstring, deployed and set up once per module."""
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
