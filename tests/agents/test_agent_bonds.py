"""AgentRegistry, first part: registration, bonds, activation and unbonding.

Parameters: agent.minStake 10,000, agent.activationDelay 3 days, agent.unbondingPeriod 7 days
(no step limits or cooldowns, so a test may change them at once). Time is pinned with
`chain.pending_timestamp` so that every boundary is hit to the second.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vault_support import DAY, USDC, assert_reverts, define, faucet, isolated

MIN_STAKE = 10_000 * USDC
ACTIVATION = 3 * DAY
UNBONDING = 7 * DAY
MAX_UINT = 2**256 - 1


@pytest.fixture(scope="module")
def gov(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def agent(accounts):
    return accounts[4]


@pytest.fixture(scope="module")
def system(project, gov, accounts):
    registry = gov.deploy(project.ParameterRegistry, gov)
    define(registry, gov, "agent.minStake", MIN_STAKE, 0, 10**12 * USDC)
    define(registry, gov, "agent.activationDelay", ACTIVATION, 0, 30 * DAY)
    define(registry, gov, "agent.unbondingPeriod", UNBONDING, 0, 30 * DAY)
    asset = gov.deploy(project.MockStablecoin, "Mock USD Coin", "mUSDC")
    module = gov.deploy(project.RebalanceModule, registry)
    vault = gov.deploy(project.RWAVault, asset, registry, module, "Ballast RWA Vault", "bRWA", gov)
    agents = gov.deploy(project.AgentRegistry, vault, registry, gov)
    for account in accounts[2:5]:
        faucet(asset, account, 1_000_000 * USDC)  # more than any test stakes
        asset.approve(agents, MAX_UINT, sender=account)
    return registry, asset, agents


@pytest.fixture(scope="module")
def agents(system):
    return system[2]


@pytest.fixture(scope="module")
def asset(system):
    return system[1]


def at(chain, timestamp: int) -> None:
    """The next block runs at exactly `timestamp`."""
    chain.pending_timestamp = timestamp


def test_register_once(agents, agent):
    tx = agents.register("ipfs://agent-card", sender=agent)
    ev = tx.events[-1]
    assert (ev.event_name, ev.agent, ev.metadataURI) == (
        "AgentRegistered", agent.address, "ipfs://agent-card",
    )  # fmt: skip
    info = agents.agentInfo(agent)
    assert info.registered and info.metadataURI == "ipfs://agent-card"
    assert_reverts(agents, "register", "x", sender=agent, error="AlreadyRegistered", agent=agent)
    agents.updateMetadata("ipfs://v2", sender=agent)
    assert agents.agentInfo(agent).metadataURI == "ipfs://v2"


def test_a_blank_metadata_uri_is_refused(agents, accounts):
    newcomer = accounts[4]
    assert_reverts(agents, "register", "", sender=newcomer, error="EmptyMetadataURI")
    assert not agents.agentInfo(newcomer).registered
    agents.register("ipfs://card", sender=newcomer)
    assert_reverts(agents, "updateMetadata", "", sender=newcomer, error="EmptyMetadataURI")
    assert agents.agentInfo(newcomer).metadataURI == "ipfs://card"


def test_unregistered_callers_are_refused(agents, accounts):
    stranger = accounts[3]
    for method, args in (
        ("updateMetadata", ("x",)),
        ("stake", (1,)),
        ("requestUnbond", (1,)),
        ("withdrawUnbonded", ()),
    ):
        assert_reverts(agents, method, *args, sender=stranger, error="NotRegistered",
                       agent=stranger)  # fmt: skip


def test_activation_after_the_delay_at_the_minimum(agents, agent, asset, chain):
    agents.register("ipfs://a", sender=agent)
    assert_reverts(agents, "stake", 0, sender=agent, error="ZeroAmount")
    agents.stake(MIN_STAKE - 1, sender=agent)
    assert agents.activeFrom(agent) == 0 and not agents.isActive(agent)
    start = chain.blocks.head.timestamp + 100
    at(chain, start)
    tx = agents.stake(1, sender=agent)  # reaches the minimum: the clock starts
    ev = tx.events[-1]
    assert (ev.event_name, ev.amount, ev.stake) == ("Staked", 1, MIN_STAKE)
    assert agents.agentInfo(agent).bondedSince == start
    assert agents.activeFrom(agent) == start + ACTIVATION
    chain.mine(timestamp=start + ACTIVATION - 1)
    assert not agents.isActive(agent)
    chain.mine(timestamp=start + ACTIVATION)
    assert agents.isActive(agent)
    assert asset.balanceOf(agents) == MIN_STAKE
    assert tuple(agents.totals()) == (MIN_STAKE, 0)


def test_governance_raising_the_minimum_deactivates_at_once(system, agents, agent, chain, gov):
    registry = system[0]
    agents.register("ipfs://a", sender=agent)
    agents.stake(MIN_STAKE, sender=agent)
    chain.mine(timestamp=chain.blocks.head.timestamp + ACTIVATION)
    assert agents.isActive(agent)
    registry.set(keccak(text="agent.minStake"), 2 * MIN_STAKE, sender=gov)
    assert not agents.isActive(agent) and agents.activeFrom(agent) == 0
    registry.set(keccak(text="agent.activationDelay"), 5 * DAY, sender=gov)
    registry.set(keccak(text="agent.minStake"), MIN_STAKE, sender=gov)
    # Bonded all along: active again, under the delay in force now.
    since = agents.agentInfo(agent).bondedSince
    assert agents.activeFrom(agent) == since + 5 * DAY


def test_unbonding_waits_and_restarts(agents, agent, asset, chain):
    agents.register("ipfs://a", sender=agent)
    agents.stake(3 * MIN_STAKE, sender=agent)
    chain.mine(timestamp=chain.blocks.head.timestamp + ACTIVATION)
    assert_reverts(agents, "requestUnbond", 0, sender=agent, error="ZeroAmount")
    assert_reverts(
        agents, "requestUnbond", 3 * MIN_STAKE + 1, sender=agent,
        error="InsufficientStake", requested=3 * MIN_STAKE + 1, stake=3 * MIN_STAKE,
    )  # fmt: skip
    assert_reverts(agents, "withdrawUnbonded", sender=agent, error="NothingToWithdraw")
    t0 = chain.blocks.head.timestamp + 10
    at(chain, t0)
    tx = agents.requestUnbond(MIN_STAKE, sender=agent)
    ev = tx.events[-1]
    assert (ev.event_name, ev.amount, ev.unbonding, ev.readyAt) == (
        "UnbondRequested", MIN_STAKE, MIN_STAKE, t0 + UNBONDING,
    )  # fmt: skip
    assert agents.isActive(agent)  # 2x the minimum still bonded
    # A second request restarts the wait for everything unbonding.
    t1 = t0 + 2 * DAY
    at(chain, t1)
    agents.requestUnbond(MIN_STAKE, sender=agent)
    assert agents.agentInfo(agent).unbondReadyAt == t1 + UNBONDING
    assert tuple(agents.totals()) == (MIN_STAKE, 2 * MIN_STAKE)
    at(chain, t1 + UNBONDING - 1)
    assert_reverts(agents, "withdrawUnbonded", sender=agent, error="UnbondingNotReady",
                   readyAt=t1 + UNBONDING)  # fmt: skip
    chain.mine(timestamp=t1 + UNBONDING - 1)
    at(chain, t1 + UNBONDING)
    before = asset.balanceOf(agent)
    tx = agents.withdrawUnbonded(sender=agent)
    assert tx.return_value == 2 * MIN_STAKE
    assert asset.balanceOf(agent) - before == 2 * MIN_STAKE
    assert tuple(agents.totals()) == (MIN_STAKE, 0)
    assert asset.balanceOf(agents) == MIN_STAKE


def test_unbonding_below_the_minimum_deactivates_and_restarts_the_clock(agents, agent, chain):
    agents.register("ipfs://a", sender=agent)
    agents.stake(MIN_STAKE, sender=agent)
    chain.mine(timestamp=chain.blocks.head.timestamp + ACTIVATION)
    assert agents.isActive(agent)
    agents.requestUnbond(1, sender=agent)
    assert not agents.isActive(agent)
    assert agents.agentInfo(agent).bondedSince == 0
    t = chain.blocks.head.timestamp + 5
    at(chain, t)
    agents.stake(1, sender=agent)
    assert agents.activeFrom(agent) == t + ACTIVATION  # a full delay again


@settings(max_examples=12)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["stake", "unbond", "withdraw", "wait"]),
            st.integers(0, 2),
            st.integers(1, 30_000),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_bonds_are_conserved(agents, asset, accounts, chain, steps):
    """Σ stake + Σ unbonding == what agents brought - what they withdrew == the registry's
    balance, under any sequence of stakes, unbonds, withdrawals and waits."""
    crew = accounts[2:5]
    with isolated(chain):
        for who in crew:
            if not agents.agentInfo(who).registered:
                agents.register("ipfs://a", sender=who)
        base = asset.balanceOf(agents)
        brought = withdrawn = 0
        for action, i, amount in steps:
            who, units = crew[i], amount * USDC
            info = agents.agentInfo(who)
            if action == "stake":
                agents.stake(units, sender=who)
                brought += units
            elif action == "unbond" and info.stake:
                agents.requestUnbond(min(units, info.stake), sender=who)
            elif action == "withdraw" and info.unbonding:
                if chain.blocks.head.timestamp >= info.unbondReadyAt:
                    withdrawn += agents.withdrawUnbonded(sender=who).return_value
            elif action == "wait":
                chain.mine(timestamp=chain.blocks.head.timestamp + amount * 60)
            staked, unbonding = agents.totals()
            infos = [agents.agentInfo(c) for c in crew]
            assert staked == sum(x.stake for x in infos)
            assert unbonding == sum(x.unbonding for x in infos)
            assert staked + unbonding == base + brought - withdrawn == asset.balanceOf(agents)
            for c, x in zip(crew, infos, strict=True):
                assert agents.isActive(c) == (
                    x.stake >= MIN_STAKE
                    and x.bondedSince != 0
                    and chain.blocks.head.timestamp >= x.bondedSince + ACTIVATION
                )
