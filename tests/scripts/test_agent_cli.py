"""`ape run agent`, run as a strategy agent operator would, against this test run's anvil.

The deploy config's parameters: agent.minStake 10,000 mUSDC, agent.activationDelay 3d,
agent.unbondingPeriod 7d, agent.evalWindow 7d, agent.vetoWindow 3d, agent.toleranceBps 50,
agent.maxSlashBps 1,000, vault.performanceFeeBps 1,000, agent.rewardShareBps 2,000. The CLI
runs in-process (tests/scripts/inprocess.py; two tests through the real `ape run agent` in a
subprocess) on the same node, so the test moves the chain's time between commands;
`Market` plays everyone else (the deployer's mock feeds, a depositor, keepers).
"""

from __future__ import annotations

import importlib.util
import json

import click
import pytest

from ballast import agent as A
from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from ballast.deployment import Deployment
from tests.vault_support import FEE_HOLD, confirm_moves, fee_sample, isolated

NETWORK = ["--network", "ethereum:local:foundry"]
USDC = 10**6
DAY = 86_400
FEED = 10**8  # the mock feeds quote with 8 decimals
# The mock feeds' initial answers (deployments/config/local.yaml).
NAV = {"tbill": 1 * FEED, "gold": 2_400 * FEED, "invoices": 1 * FEED}


class Market:
    """Everyone but the CLI's user on a deployed local system: the deployer quotes the mock
    feeds, a depositor funds the vault, agents bond and rebalance, keepers evaluate and
    execute slashes."""

    def __init__(self, project, chain, deployment: Deployment, accounts):
        c = deployment.contracts
        self.chain = chain
        self.vault = project.RWAVault.at(c["RWAVault"])
        self.registry = project.AgentRegistry.at(c["AgentRegistry"])
        self.asset = project.MockStablecoin.at(deployment.tokens["asset"])
        self.feeds = {
            s.name: project.MockAggregator.at(s.feed) for s in deployment.sleeves if s.feed
        }
        self.sleeves = len(deployment.sleeves)
        self.priced = [(s.token, self.feeds[s.name]) for s in deployment.sleeves if s.feed]
        self.router = project.OracleRouter.at(c["OracleRouter"])
        self.params = project.ParameterRegistry.at(c["ParameterRegistry"])
        self.owner = accounts[0]  # the deployer owns the local mock feeds
        self.keeper = accounts[9]

    def at(self, timestamp: int) -> None:
        if self.chain.blocks.head.timestamp < timestamp:
            self.chain.mine(1, timestamp=timestamp)

    def quote(self, **answers: int) -> None:
        """A fresh round on every feed: the given answers, the others unchanged."""
        for name, feed in self.feeds.items():
            feed.setAnswer(answers.get(name, feed.latestAnswer()), sender=self.owner)

    def fund(self, account, amount: int) -> None:
        limit = self.asset.FAUCET_LIMIT()
        while amount > 0:
            self.asset.faucet(account, min(amount, limit), sender=account)
            amount -= min(amount, limit)

    def deposit(self, account, amount: int):
        """Request a deposit, strike after a fresh round of prices, claim the shares. Returns
        the strike's receipt."""
        self.fund(account, amount)
        self.asset.approve(self.vault, amount, sender=account)
        self.vault.requestDeposit(amount, account, account, sender=account)
        receipt = self.strike()
        self.vault.deposit(amount, account, sender=account)
        return receipt

    def strike(self):
        """A fresh round on every feed after the newest request (forward pricing), then a
        strike by the keeper."""
        self.at((self.chain.blocks.head.timestamp // 3_600 + 1) * 3_600)  # the window's cut-off
        self.quote()
        return self.vault.strike(sender=self.keeper)

    def bond(self, agent, amount: int) -> None:
        """Register and bond `agent`, then wait out agent.activationDelay."""
        self.fund(agent, amount)
        self.asset.approve(self.registry, amount, sender=agent)
        self.registry.register(f"ipfs://agent/{agent.address}", sender=agent)
        self.registry.stake(amount, sender=agent)
        self.at(self.registry.activeFrom(agent))

    def rebalance(self, agent, **bps: int) -> int:
        """The agent moves the sleeves named to their weights (the others to 0); the decision id."""
        names = [*self.feeds, *["lending"] * (self.sleeves - len(self.feeds))]
        targets = [bps.get(name, 0) for name in names[: self.sleeves]]
        receipt = self.vault.rebalance(targets, b"\x11" * 32, "ipfs://why", sender=agent)
        (event,) = receipt.events.filter(self.vault.Rebalanced)
        return event.decisionId

    def evaluate(self, decision_id: int) -> None:
        self.at(self.registry.decisionRecord(decision_id).dueAt)
        self.quote()  # evaluation waits for fresh prices of the sleeves the decision moved ...
        confirm_moves(self.router, self.params, self.priced, self.owner)  # ... and confirmed
        self.registry.evaluate(decision_id, sender=self.keeper)


@pytest.fixture(scope="module")
def deployment(repo_root, accounts) -> Deployment:
    config = DeployConfig.load(repo_root / "deployments/config/local.yaml")
    return deploy_system(config, accounts[0], report=lambda _: None)


@pytest.fixture(scope="module")
def agent_manifest(deployment, tmp_path_factory):
    path = tmp_path_factory.mktemp("deploy") / "ethereum-local.json"
    deployment.save(path)
    return path


@pytest.fixture(scope="module")
def registry(project, deployment):
    return project.AgentRegistry.at(deployment.contracts["AgentRegistry"])


@pytest.fixture(scope="module")
def asset(project, deployment):
    return project.MockStablecoin.at(deployment.tokens["asset"])


@pytest.fixture(scope="module")
def market(project, chain, deployment, accounts) -> Market:
    return Market(project, chain, deployment, accounts)


def agent_runner(run, agent_manifest):
    """`ape run agent ARGS` as TEST::6 unless told otherwise, on the module's manifest; `run`
    takes the arguments after `ape run agent` and returns the command's end."""

    def agent(*args: str, account: str | None = "TEST::6", manifest_file=None):
        extra = ["--account", account] if account else []
        extra += ["--manifest", str(manifest_file or agent_manifest)]
        result = run([*args, *NETWORK, *extra])
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
        return result

    return agent


@pytest.fixture
def agent_cli(ape_script, agent_manifest):
    """In-process (tests/scripts/inprocess.py): the script's own click command."""
    return agent_runner(lambda args: ape_script("agent", args), agent_manifest)


@pytest.fixture
def agent_cli_real(ape_real, agent_manifest):
    """The real wrapper: `ape run agent` in a subprocess."""
    return agent_runner(lambda args: ape_real(["run", "agent", *args]), agent_manifest)


def ok(result) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def refused(result, message: str) -> None:
    """Exit 1 with one line on stderr that says `message`."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def row(stdout: str, label: str) -> str:
    """The value cell of the status table's row `label`."""
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        cells = [c for c in cells if c]
        if cells and cells[0] == label:
            return cells[1] if len(cells) > 1 else ""
    raise AssertionError(f"no row {label!r} in\n{stdout}")


def folded_row(stdout: str, label: str) -> str:
    """The value cell of the status table's row `label`, with the lines it folded onto (rows
    whose label cell is empty) joined by spaces."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells[0] != label:
            continue
        parts = [cells[1]]
        for more in lines[i + 1 :]:
            next_cells = [c.strip() for c in more.strip().strip("│").split("│")]
            if len(next_cells) < 2 or next_cells[0]:
                break
            parts.append(next_cells[1])
        return " ".join(" ".join(parts).split())
    raise AssertionError(f"no row {label!r} in\n{stdout}")


def move_to_a_new_registry(project, deployment, accounts, first, tmp_path=None):
    """Governance points the deployment's vault at a new AgentRegistry (built as the deploy
    builds one, beside `first`); with `tmp_path`, the manifest a rerun of `ape run deploy` then
    writes, naming the new one, is saved there. Returns (the new registry, that manifest)."""
    vault = project.RWAVault.at(deployment.contracts["RWAVault"])
    second = project.AgentRegistry.deploy(
        vault, first.registry(), first.treasury(), sender=accounts[0]
    )
    timelock = accounts[deployment.contracts["TimelockController"]]
    timelock.balance += 10**18
    vault.setAgentRegistry(second, sender=timelock)
    if tmp_path is None:
        return second, None
    refreshed = deployment.model_copy(deep=True)
    refreshed.contracts["AgentRegistry"] = second.address  # as `ape run deploy` again writes
    manifest = tmp_path / "ethereum-local.json"
    refreshed.save(manifest)
    return second, manifest


def test_an_agent_from_registration_to_withdrawal(agent_cli, chain, accounts, registry, asset):
    me = accounts[6]

    before = ok(agent_cli("status"))
    assert row(before, "agent") == me.address
    assert row(before, "registered") == "no"
    assert row(before, "agent.minStake") == "10,000 mUSDC"
    assert row(before, "agent.activationDelay") == "3d"
    assert row(before, "agent.unbondingPeriod") == "7d"

    out = ok(agent_cli("register", "ipfs://agent-card"))
    assert f"registered {me.address} with metadata ipfs://agent-card" in out
    assert "stake at least 10,000 mUSDC (agent.minStake)" in out
    assert "active 3d (agent.activationDelay) after that" in out
    refused(agent_cli("register", "ipfs://again"), f"{me.address} is already registered")

    out = ok(agent_cli("update-metadata", "ipfs://agent-card-v2"))
    assert "ipfs://agent-card → ipfs://agent-card-v2" in out
    assert registry.agentInfo(me).metadataURI == "ipfs://agent-card-v2"

    # The operator funds the account: the CLI never mints.
    refused(
        agent_cli("stake", "10000"),
        f"insufficient balance: {me.address} holds 0 mUSDC; staking 10,000 mUSDC needs "
        "10,000 mUSDC more (fund the account first; on this local network the mock mUSDC's "
        "faucet(to, amount) mints up to 1,000,000 mUSDC a call)",
    )
    asset.faucet(me, 15_000 * USDC, sender=accounts[9])

    out = ok(agent_cli("stake", "4,000"))
    assert "approved the AgentRegistry to take 4,000 mUSDC" in out
    assert "staked 4,000 mUSDC; bonded stake 4,000 mUSDC" in out
    assert "below agent.minStake (6,000 mUSDC more starts the clock)" in out
    assert not registry.isActive(me)

    out = ok(agent_cli("stake", "6000.5"))
    assert "approved the AgentRegistry to take 6,000.5 mUSDC" in out
    assert "bonded stake 10,000.5 mUSDC" in out
    assert "active: not yet: from" in out and "(in 3d)" in out
    active_from = registry.activeFrom(me)
    assert active_from == registry.agentInfo(me).bondedSince + 3 * DAY

    pending = ok(agent_cli("status"))
    assert row(pending, "metadata URI") == "ipfs://agent-card-v2"
    assert row(pending, "bonded stake") == "10,000.5 mUSDC"
    assert row(pending, "active").startswith("not yet: from")
    assert row(pending, "total bonded") == "10,000.5 mUSDC"
    assert row(pending, "wallet balance") == "4,999.5 mUSDC"

    chain.mine(1, timestamp=active_from)
    assert registry.isActive(me)
    active = ok(agent_cli("status", me.address, account=None))
    document = json.loads(ok(agent_cli("status", me.address, "--json", account=None)))
    assert document["version"] == "ballast.agent-status/1" and document["address"] == me.address
    assert document["agent"]["stake"] == registry.agentInfo(me).stake  # base units
    assert document["totals"]["staked"] == registry.totals()[0]
    assert row(active, "active").startswith("yes, since")

    refused(
        agent_cli("unbond", "20000"),
        f"cannot unbond 20,000 mUSDC: the bonded stake of {me.address} is 10,000.5 mUSDC",
    )
    out = ok(agent_cli("unbond", "2500"))
    assert "unbonding 2,500 mUSDC (in all 2,500 mUSDC); withdrawable from" in out
    assert "(in 7d)" in out
    warning = (
        "warning: this leaves 7,500.5 mUSDC bonded, below agent.minStake 10,000 mUSDC: "
        "the agent stops being active"
    )
    assert out.index(warning) < out.index("unbonding 2,500 mUSDC")  # said before it was sent
    assert "restarts the 3d activation delay" in out
    ready_at = registry.agentInfo(me).unbondReadyAt
    assert not registry.isActive(me)

    refused(agent_cli("withdraw"), "not ready: the 2,500 mUSDC unbonding is withdrawable from")
    unbonding = ok(agent_cli("status"))
    assert row(unbonding, "unbonding").startswith("2,500 mUSDC, withdrawable from")
    assert row(unbonding, "total unbonding") == "2,500 mUSDC"
    assert row(unbonding, "active").startswith("no: bonded stake is below agent.minStake")

    chain.mine(1, timestamp=ready_at)
    out = ok(agent_cli("withdraw"))
    assert f"withdrew 2,500 mUSDC to {me.address}" in out
    assert asset.balanceOf(me) == 7_499_500_000
    refused(agent_cli("withdraw"), "nothing to withdraw")

    after = ok(agent_cli("status", me.address.lower(), account=None))
    assert row(after, "bonded stake") == "7,500.5 mUSDC"
    assert row(after, "unbonding") == "-"
    assert row(after, "total unbonding") == "0 mUSDC"


def test_unbonding_before_activation_and_again(agent_cli, chain, accounts, registry, asset):
    me = accounts[7]
    asset.faucet(me, 10_000 * USDC, sender=me)
    asset.approve(registry, 10_000 * USDC, sender=me)
    registry.register("ipfs://seven", sender=me)
    registry.stake(10_000 * USDC, sender=me)  # exactly the minimum: activation pending

    out = ok(agent_cli("unbond", "1000", account="TEST::7"))
    warning = "below agent.minStake 10,000 mUSDC: its activation is turned off"
    assert out.index(warning) < out.index("unbonding 1,000 mUSDC")  # warned before it was sent
    assert registry.activeFrom(me) == 0
    chain.mine(1, timestamp=chain.blocks.head.timestamp + DAY)
    out = ok(agent_cli("unbond", "1000", account="TEST::7"))
    assert "unbonding 1,000 mUSDC (in all 2,000 mUSDC)" in out
    assert "(in 7d)" in out  # the wait restarted for all of it
    assert "warning: the wait restarts for the 1,000 mUSDC already unbonding" in out
    assert "below agent.minStake" not in out  # nothing more to lose
    assert registry.agentInfo(me).unbonding == 2_000 * USDC


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["update-metadata", "ipfs://x"], "is not registered: run `ape run agent register URI`"),
        (["stake", "100"], "is not registered"),
        (["unbond", "100"], "is not registered"),
        (["withdraw"], "is not registered"),
        (["stake", "0"], "the amount must be more than zero"),
        (["stake", "-5"], "the amount must be positive, not -5"),
        (["unbond", "-12.5"], "the amount must be positive, not -12.5"),
        (["unbond", "ten"], "not an amount: 'ten' (give whole mUSDC units, e.g. 10000 or 12.5)"),
        (["stake", "1.0000001"], "1.0000001: the asset has 6 decimals, no finer amounts"),
        (["stake", "1e5"], "not an amount: '1e5'"),
        (["status", "0x1234"], "not an address: '0x1234'"),
        (["register", ""], "the metadata URI is blank: give the URI of the agent's card"),
        (["register", "my card"], "the metadata URI 'my card' contains spaces"),
        (["update-metadata", "card.json"], "the metadata URI 'card.json' has no known scheme"),
    ],
)
def test_misuse_is_one_clear_line(agent_cli, registry, args, message):
    total = registry.totals()
    refused(agent_cli(*args, account="TEST::8"), message)
    assert registry.totals() == total


def test_status_needs_an_address_or_an_account(agent_cli_real):
    """A real `ape run agent` (subprocess), like the next test."""
    refused(agent_cli_real("status", account=None), "give an ADDRESS or --account")


def test_missing_manifest_is_one_clear_line(agent_cli_real, tmp_path):
    missing = tmp_path / "none.json"
    refused(agent_cli_real("status", manifest_file=missing), "no deployment manifest at")


def test_manifest_without_the_agent_registry_is_one_clear_line(agent_cli, agent_manifest, tmp_path):
    old = json.loads(agent_manifest.read_text())
    del old["contracts"]["AgentRegistry"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    refused(agent_cli("stake", "100", manifest_file=path), f"{path} has no AgentRegistry")


def test_an_agent_registry_the_vault_left_is_named_before_acting_on_it(
    agent_cli, chain, accounts, project, deployment, registry
):
    """Governance pointed the vault at another AgentRegistry; the manifest names the first. The
    CLI still acts on the manifest's (what was bonded there is unbonded and withdrawn there),
    and says first, on stderr, that the vault's agents are now those of the other."""
    with isolated(chain):
        second, _ = move_to_a_new_registry(project, deployment, accounts, registry)
        result = agent_cli("status", accounts[6].address)
        out = ok(result)
    note = (
        f"note: the vault's agents are those of the AgentRegistry {second.address}; this acts on "
        f"the manifest's, {registry.address}"
    )
    assert note in " ".join(result.stderr.split()), result.stderr
    assert "registered" in out.lower()
    assert note not in " ".join(agent_cli("status", accounts[6].address).stderr.split())


def test_an_operator_unbonds_from_a_registry_the_vault_left_after_the_manifest_moved_on(
    agent_cli, chain, accounts, project, deployment, registry, asset, tmp_path
):
    """Governance pointed the vault at a new AgentRegistry and a redeploy wrote it into the
    manifest. An operator's stake is still bonded in the first: `--registry` names it, so the
    stake is unbonded there (with the note that the vault's agents are the new registry's);
    an address the vault never named is refused in one line, nothing sent. Before, the only way
    was to find and keep a copy of the old manifest."""
    vault = project.RWAVault.at(deployment.contracts["RWAVault"])
    me = accounts[7]
    with isolated(chain):
        asset.faucet(me, 12_000 * USDC, sender=me)
        asset.approve(registry, 12_000 * USDC, sender=me)
        registry.register("ipfs://seven", sender=me)
        registry.stake(12_000 * USDC, sender=me)
        second, manifest = move_to_a_new_registry(project, deployment, accounts, registry, tmp_path)

        def agent(*args):
            return agent_cli(*args, account="TEST::7", manifest_file=manifest)

        refused(agent("unbond", "2000"), f"{me.address} is not registered")  # the new one's
        # `status` finds the stake the swap left behind, and says how to reach it
        shown = ok(agent("status"))
        assert folded_row(shown, "held in another registry") == (
            f"{registry.address}: 12,000 mUSDC bonded, 0 mUSDC unbonding (one the vault left: "
            f"add --registry {registry.address} to act there)"
        )
        document = json.loads(ok(agent("status", "--json")))
        assert document["registry"] == second.address
        assert [
            (h["registry"], h["stake"], h["vaults_now"]) for h in document["held_elsewhere"]
        ] == [(registry.address, 12_000 * USDC, False)]
        stranger = accounts[8].address
        refused(
            agent("unbond", "2000", "--registry", stranger),
            f"--registry: {stranger} is not an AgentRegistry of the vault {vault.address}: it "
            f"has named {second.address}, {registry.address}",
        )
        refused(agent("status", "--registry", "0x12"), "--registry: not an address: '0x12'")
        result = agent("unbond", "2000", "--registry", registry.address.lower())
        out = ok(result)
        unbonding = registry.agentInfo(me).unbonding
    assert "unbonding 2,000 mUSDC" in out
    assert unbonding == 2_000 * USDC
    note = (
        f"note: the vault's agents are those of the AgentRegistry {second.address}; this acts on "
        f"the one the vault left, {registry.address} (drop --registry to act on the vault's)"
    )
    assert note in " ".join(result.stderr.split()), result.stderr


def test_a_revert_is_decoded_into_words(chain, accounts, registry, agent_manifest, repo_root):
    """What a race leaves to the contract (the pre-checks passed, the chain moved): the custom
    error in words, not a trace."""
    spec = importlib.util.spec_from_file_location("agent_script", repo_root / "scripts/agent.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    network = chain.provider.network
    agents = script.Agents(network.ecosystem, network, agent_manifest)
    me = accounts[8]
    registry.register("ipfs://eight", sender=me)
    with pytest.raises(click.ClickException) as refusal:
        agents.send("register", registry.register, "ipfs://again", sender=me)
    assert refusal.value.message == (
        f"register refused: {me.address} is already registered "
        "(use `update-metadata` to change its URI)"
    )
    with pytest.raises(click.ClickException) as refusal:
        agents.send("withdraw", registry.withdrawUnbonded, sender=me)
    assert refusal.value.message.startswith("withdraw refused: nothing to withdraw")


def test_decisions_slashes_and_rewards(agent_cli, market, accounts):
    """An agent's gain earns rewards, its loss a slash; withdrawing waits for both to settle."""
    me, registry, vault = accounts[5], market.registry, market.vault
    market.bond(me, 11_000 * USDC)
    market.quote()
    market.deposit(accounts[9], 1_000_000 * USDC)

    # A T-bill allocation that gains 10%: excess +200 bps, reputation 20% of it.
    first = market.rebalance(me, tbill=2_000)
    market.quote(tbill=110 * FEED // 100)
    market.evaluate(first)
    assert registry.reputation(me) == 40 * 10**18
    # Once a strike has seen the gain and it has stood a day, the next strike (a depositor's
    # request settles) takes the performance fee and pays the agents' share for the gain.
    seen = market.deposit(accounts[9], 1_000 * USDC)
    assert fee_sample(vault)[1] == seen.timestamp  # it saw the gain (the sample had stood)
    market.at(fee_sample(vault)[1] + FEE_HOLD)
    strike = market.deposit(accounts[9], 1_000 * USDC)
    assert list(strike.events.filter(vault.PerformanceFeeTaken))
    rewards = registry.claimableRewards(me)
    assert rewards > 0
    second = market.rebalance(me, tbill=2_000, gold=1_800)
    registry.requestUnbond(1_000 * USDC, sender=me)
    market.quote(gold=NAV["gold"] // 2)  # gold halves: excess -900 bps
    info = registry.agentInfo(me)
    market.at(max(info.unbondReadyAt, registry.decisionRecord(second).dueAt))

    refused(
        agent_cli("withdraw", account="TEST::5"),
        "withdrawal locked: 1 decision awaits evaluation. Decision #1 evaluable now. The "
        "1,000 mUSDC unbonding stays in the registry, slashable, until every decision is "
        "evaluated (anyone may, once due) and every slash vetoed or executed",
    )
    out = ok(agent_cli("status", account="TEST::5"))
    assert row(out, "reputation") == "40.00 bps"
    assert row(out, "open decisions") == "1: #1 evaluable now"
    assert row(out, "pending slashes") == "-"
    worth = vault.convertToAssets(rewards)
    assert row(out, "claimable rewards").endswith(f"bUSD (worth {market_units(worth)})")
    assert row(out, "agent.evalWindow") == "7d"
    assert row(out, "agent.vetoWindow") == "3d"

    market.evaluate(second)  # slash: capped at 10% of stake + unbonding
    (slash_id,) = registry.pendingSlashes()
    slash = registry.slashInfo(slash_id)
    assert slash.amount == 1_100 * USDC
    refused(
        agent_cli("withdraw", account="TEST::5"),
        "withdrawal locked: 1 slash is pending. Slash #0: 1,100 mUSDC, veto window ends ",
    )
    out = ok(agent_cli("status", me.address, account=None))
    assert row(out, "reputation") == "-148.00 bps"  # 40 + (-900 - 40) * 20%
    assert row(out, "open decisions") == "-"
    assert row(out, "pending slashes").startswith("#0: 1,100 mUSDC, veto window ends ")
    assert row(out, "pending slashes").endswith("(in 3d)")
    # The loss also nets against its rewards: no points left this round, a debt to make up.
    excess, nav = registry.previewEvaluation(second)[0], vault.decision(second).navBefore
    debt = registry.rewardDebt(me)
    assert excess < 0 and debt == -(excess * nav // (10_000 * 10**18))  # rounded up
    assert row(out, "reward points this round") == "-"
    assert row(out, "reward debt") == f"{market_units(debt)} to make up before earning again"

    market.at(slash.vetoEndsAt)
    registry.executeSlash(slash_id, sender=market.keeper)
    assert "withdrew 1,000 mUSDC" in ok(agent_cli("withdraw", account="TEST::5"))
    out = ok(agent_cli("status", account="TEST::5"))
    assert row(out, "bonded stake") == "8,900 mUSDC"  # the slash takes bonded stake first
    assert row(out, "slashed in total") == "1,100 mUSDC"
    assert row(out, "total slashed") == "1,100 mUSDC"
    assert row(out, "pending slashes") == "-"

    out = ok(agent_cli("claim", account="TEST::5"))
    assert f"(worth {market_units(vault.convertToAssets(rewards))}) to {me.address}" in out
    assert vault.balanceOf(me) == rewards
    refused(agent_cli("claim", account="TEST::5"), f"nothing to claim: {me.address} has no rewards")


def market_units(amount: int) -> str:
    return A.format_amount(amount, 6, "mUSDC")


def test_after_a_shutdown_claim_closes_the_round_no_fee_will(agent_cli, market, accounts, chain):
    """Found in a review: after a shutdown no fee may close a reward round again. The agent's
    decision is evaluated after the last fee; `claim` closes the open round from the carried pot
    (`closeRound`) and pays it."""
    registry, vault = market.registry, market.vault
    me, depositor, guardian = accounts[4], accounts[3], accounts[1]
    with isolated(chain):
        market.bond(me, 10_000 * USDC)
        market.quote()
        market.deposit(depositor, 1_000_000 * USDC)
        decision = market.rebalance(me, gold=2_000)
        gold = NAV["gold"]
        for _ in range(3):  # gold rises a day at a time; each day's fee is carried (no points)
            market.at(max(fee_sample(vault)[1] + FEE_HOLD, chain.blocks.head.timestamp + 1))
            gold = gold * 101 // 100
            market.quote(gold=gold)
            market.deposit(depositor, 1 * USDC)
        vault.shutdown(sender=guardian)
        market.at(fee_sample(vault)[1] + FEE_HOLD)
        vault.requestRedeem(vault.balanceOf(depositor) // 2, depositor, depositor, sender=depositor)
        market.strike()  # the last fee: the gain that stood
        market.evaluate(decision)
        assert registry.roundPointsOf(me) > 0 and registry.claimableRewards(me) == 0
        pot = registry.undistributedRewards()
        assert pot > 0

        out = ok(agent_cli("claim", account="TEST::4"))
        assert "closed the open reward round" in out and "claimed " in out
        assert 0 < vault.balanceOf(me) <= pot
        assert registry.roundPoints() == 0
