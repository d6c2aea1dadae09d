"""Vault test support: a complete vault system deployed by hand, with the deployer governing.

`deploy_vault_system` builds what tests need and nothing else: a ParameterRegistry the deployer
governs (so tests may change any parameter at once), the mock stablecoin, an OracleRouter, the
RebalanceModule and RWAVault, the AgentRegistry (treasury: the deployer), and one
TokenizedRWASleeve per `SleeveSpec`, each with its own MockAggregator (8 decimals, like Chainlink
USD feeds) and MockIssuer. Roles: the deployer holds GOVERNANCE and ALLOWLIST, `guardian`
GUARDIAN; `allocator` is an agent, registered and bonded at `agent.minStake`, active at once
(`agent.activationDelay` is 0 here), so it may rebalance. The performance fee is 0 unless a test
sets `vault.performanceFeeBps`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import ape
from eth_abi import decode
from eth_utils import keccak
from hexbytes import HexBytes

DAY = 86_400
USDC = 10**6  # one whole mock stablecoin
WAD = 10**18
FEED_DECIMALS = 8
FEED_UNIT = 10**FEED_DECIMALS

# name -> (value, min, max): the vault's and oracle's parameters for tests. Step limits are
# off (0) and cooldowns 0 so that a test can set anything at once with `set_param`.
VAULT_PARAMETERS: dict[str, tuple[int, int, int]] = {
    "vault.idleBufferBps": (500, 0, 10_000),
    "vault.maxTurnoverBps": (10_000, 0, 10_000),
    "vault.rebalanceCooldown": (DAY, 0, 30 * DAY),
    "vault.depositCap": (10**9 * USDC, 0, 10**12 * USDC),
    "vault.performanceFeeBps": (0, 0, 5_000),
    # Donations unlock at once here unless a test sets a period (tests/vault/test_donations.py).
    "vault.unlockPeriod": (0, 0, 30 * DAY),
    "vault.strikeMaxWait": (3 * DAY, 0, 30 * DAY),
    "vault.staleHaircutBps": (500, 0, 5_000),
    "oracle.maxStaleness": (DAY, 60, 7 * DAY),
    "oracle.maxDeviationBps": (1_000, 1, 10_000),
    "oracle.confirmDelay": (3_600, 0, 7 * DAY),
}

# The agent.* parameters for tests: activation at once, so that the allocator rebalances as soon
# as it has bonded; the windows are the deploy config's.
AGENT_PARAMETERS: dict[str, tuple[int, int, int]] = {
    "agent.minStake": (10_000 * USDC, 0, 10**12 * USDC),
    "agent.activationDelay": (0, 0, 30 * DAY),
    "agent.unbondingPeriod": (7 * DAY, 0, 30 * DAY),
    "agent.evalWindow": (7 * DAY, 0, 60 * DAY),
    "agent.toleranceBps": (50, 0, 10_000),
    "agent.maxSlashBps": (1_000, 0, 10_000),
    "agent.vetoWindow": (3 * DAY, 0, 30 * DAY),
    "agent.rewardShareBps": (2_000, 0, 10_000),
}


@dataclass(frozen=True)
class SleeveSpec:
    name: str
    nav: int = FEED_UNIT  # feed answer: 1.00 base asset per whole token (8 decimals)
    token_decimals: int = 18
    daily_redeem_limit: int = 0  # whole tokens a day; 0 = unlimited
    cap_bps: int = 6_000


DEFAULT_SLEEVES = (
    SleeveSpec("tbill"),
    SleeveSpec("gold", nav=2_000 * FEED_UNIT, cap_bps=4_000),
    SleeveSpec("invoices", token_decimals=6, cap_bps=3_000),
)


@dataclass
class Sleeve:
    name: str
    sleeve: object
    issuer: object
    token: object
    feed: object


@dataclass
class VaultSystem:
    registry: object
    asset: object
    router: object
    module: object
    vault: object
    agents: object = None
    sleeves: list[Sleeve] = field(default_factory=list)
    governance: object = None
    guardian: object = None
    allocator: object = None

    def sleeve(self, name: str) -> Sleeve:
        return next(s for s in self.sleeves if s.name == name)

    def set_param(self, name: str, value: int) -> None:
        self.registry.set(keccak(text=name), value, sender=self.governance)

    def fund(self, account, amount: int) -> None:
        """Give `account` `amount` of the stablecoin and approve the vault for it."""
        faucet(self.asset, account, amount)
        self.asset.approve(self.vault, 2**256 - 1, sender=account)

    def publish_prices(self) -> None:
        """A new round of every sleeve's feed at its current answer, at or after the end of the
        request window of the last block (`next_window`): a strike settles a request window once
        every price it uses was published at or after the window's cut-off."""
        next_window(ape.chain)
        for s in self.sleeves:
            s.feed.setAnswer(s.feed.latestAnswer(), sender=self.governance)

    def confirm_moves(self) -> bool:
        """`confirm_moves` for every sleeve's price (a strike or an evaluation waits on a band
        open); the governance account pokes. Returns whether a move was open."""
        priced = [(s.token, s.feed) for s in self.sleeves]
        return confirm_moves(self.router, self.registry, priced, self.governance)

    def strike(self, sender=None):
        """Publish fresh prices, confirm any move beyond the band (`confirm_moves`, as the
        settler does), then strike (anyone may; the governance account by default)."""
        self.publish_prices()
        self.confirm_moves()
        return self.vault.strike(sender=sender or self.governance)

    def deposit(self, account, amount: int):
        """Request, strike, claim: `account` ends with the shares `amount` bought. Returns the
        claim's receipt (its return value: the shares)."""
        self.fund(account, amount)
        self.vault.requestDeposit(amount, account, account, sender=account)
        self.strike()
        return self.vault.deposit(amount, account, sender=account)

    def redeem(self, account, shares: int, receiver=None):
        """Request, strike, claim what the strike filled (all of it when liquidity allows).
        Returns the claim's receipt, or None when the strike filled nothing."""
        self.vault.requestRedeem(shares, account, account, sender=account)
        self.strike()
        claimable = self.vault.maxRedeem(account)
        if claimable == 0:
            return None
        return self.vault.redeem(claimable, receiver or account, account, sender=account)

    def rebalance(
        self, target_bps: list[int], rationale: bytes = b"\x11" * 32, uri: str = "ipfs://r"
    ):
        return self.vault.rebalance(target_bps, rationale, uri, sender=self.allocator)


WINDOW = 3_600  # VaultStorage.WINDOW: requests are grouped by the hour


def confirm_moves(router, registry, priced, sender) -> bool:
    """Confirms every price of `priced` ((token, feed) pairs; `sender` may publish the feeds)
    beyond oracle.maxDeviationBps of the router's reference, as the settler and evaluator
    keepers do (a strike settles nothing and an evaluation waits while a band is open): a poke
    records the move, and oracle.confirmDelay later, the prices republished unchanged, another
    confirms it. A price further out than an older pending move is confirmed in two such steps
    (IOracleRouter, rule 4). A stale price has no band to close (the router refuses to poke
    it): it is left as it is. Returns whether a move was open."""
    opened = False
    for _ in range(2):
        fresh = [t for t, _ in priced if router.tryPrice(t)[1]]
        moved = [t for t in fresh if len(set(router.priceBand(t))) == 2]
        if not moved:
            return opened
        opened = True
        seen = max(router.poke(t, sender=sender).timestamp for t in moved)
        delay = registry.get(keccak(text="oracle.confirmDelay"))
        ape.chain.pending_timestamp = seen + delay
        for _, feed in priced:
            feed.setAnswer(feed.latestAnswer(), sender=sender)
        for t in moved:
            router.poke(t, sender=sender)
    return opened


# RWAVault's ERC-7201 namespace (VaultStorage.SLOT): `highWaterMark` is its 9th slot and
# `feeSample` (price, at) its 26th and 27th (no view returns them).
VAULT_SLOT = 0x892C696AF5D1469CF7A85E56E253BE8704884D4041E5B9FFFBB101CBB55C3700
HIGH_WATER_MARK_SLOT = VAULT_SLOT + 8
FEE_SAMPLE_SLOT = VAULT_SLOT + 25
FEE_HOLD = DAY  # RebalanceModule.FEE_HOLD


def high_water_mark(vault) -> int:
    """The vault's stored high-water mark (assets per share × 1e36)."""
    raw = ape.chain.provider.get_storage(vault.address, HIGH_WATER_MARK_SLOT)
    return int.from_bytes(raw, "big")


def fee_sample(vault) -> tuple[int, int]:
    """The vault's stored fee sample `(price, at)`: the share price (× 1e36) the performance fee
    is charged up to once it has stood FEE_HOLD, and when a strike saw it ((0, 0) before the
    first strike)."""
    price, at = (
        int.from_bytes(ape.chain.provider.get_storage(vault.address, FEE_SAMPLE_SLOT + i), "big")
        for i in range(2)
    )
    return price, at


def stand_fee_sample(system: VaultSystem, requester=None):
    """Sets up a fee's precondition: a strike at the prices of now (anyone's; `requester`, the
    governance account by default, requests a wei-sized deposit so that there is one to settle)
    once the stored sample has stood FEE_HOLD, then the next block FEE_HOLD after it, so the
    next strike charges the gain of now if it stands (IRWAVault.setAgentRegistry). Returns the
    strike's receipt."""
    vault = system.vault
    requester = requester or system.governance
    _, at = fee_sample(vault)
    if ape.chain.pending_timestamp < at + FEE_HOLD:
        ape.chain.pending_timestamp = at + FEE_HOLD
    system.fund(requester, 1)
    vault.requestDeposit(1, requester, requester, sender=requester)
    tx = system.strike()
    assert fee_sample(vault)[1] == tx.timestamp  # the sample is the price of now
    ape.chain.pending_timestamp = tx.timestamp + FEE_HOLD
    return tx


def next_window(chain) -> int:
    """Move the next block to the start of the request window after the last block's (the
    cut-off of every request made so far); returns that time."""
    cutoff = (chain.blocks.head.timestamp // WINDOW + 1) * WINDOW
    if chain.pending_timestamp < cutoff:
        chain.pending_timestamp = cutoff
    return cutoff


STRIKE_FIELDS = (
    "depositEpoch", "redeemEpoch", "depositPrice", "redeemPrice",
    "depositAssets", "depositShares", "redeemShares", "redeemAssets",
)  # fmt: skip
NO_EPOCH = 2**64 - 1  # a StrikeSettled epoch that did not settle


def settled(receipt, vault) -> dict[str, int]:
    """The `Strike` of the receipt's StrikeSettled event as a dict, with `lockedDonations` and
    `staleSleeves`."""
    event = receipt.events.filter(vault.StrikeSettled)[0]
    strike = event.strike
    values = [strike[name] for name in STRIKE_FIELDS] if isinstance(strike, dict) else list(strike)
    out = dict(zip(STRIKE_FIELDS, (int(v) for v in values), strict=True))
    out["lockedDonations"] = int(event.lockedDonations)
    out["staleSleeves"] = int(event.staleSleeves)
    return out


def bond_agent(system: VaultSystem, agent, amount: int | None = None) -> None:
    """Register `agent` and bond `amount` (default `agent.minStake`) from the faucet."""
    if amount is None:
        amount = system.registry.get(keccak(text="agent.minStake"))
    faucet(system.asset, agent, amount)
    system.asset.approve(system.agents, amount, sender=agent)
    system.agents.register(f"ipfs://agent/{agent.address}", sender=agent)
    system.agents.stake(amount, sender=agent)


def faucet(asset, account, amount: int) -> None:
    """Mint `amount` of the mock stablecoin to `account`, in faucet-sized chunks."""
    limit = asset.FAUCET_LIMIT()
    while amount > 0:
        chunk = min(amount, limit)
        asset.faucet(account, chunk, sender=account)
        amount -= chunk


def define(registry, governance, name: str, value: int, lo: int, hi: int) -> None:
    registry.defineParameter(name, value, lo, hi, 0, 0, sender=governance)


def deploy_vault_system(
    project,
    governance,
    guardian,
    allocator,
    sleeves: tuple[SleeveSpec, ...] = DEFAULT_SLEEVES,
    asset=None,
) -> VaultSystem:
    """The system above; `asset` replaces the MockStablecoin (it must have the same faucet)."""
    registry = governance.deploy(project.ParameterRegistry, governance)
    for name, (value, lo, hi) in (VAULT_PARAMETERS | AGENT_PARAMETERS).items():
        define(registry, governance, name, value, lo, hi)
    if asset is None:
        asset = governance.deploy(project.MockStablecoin, "Mock USD Coin", "mUSDC")
    router = governance.deploy(project.OracleRouter, registry, governance)
    module = governance.deploy(project.RebalanceModule, registry)
    vault = governance.deploy(
        project.RWAVault, asset, registry, module, "Ballast RWA Vault", "bRWA", governance
    )
    vault.grantRole(vault.GUARDIAN_ROLE(), guardian, sender=governance)
    vault.grantRole(vault.ALLOWLIST_ROLE(), governance, sender=governance)
    agents = governance.deploy(project.AgentRegistry, vault, registry, governance)
    vault.setAgentRegistry(agents, sender=governance)
    system = VaultSystem(
        registry, asset, router, module, vault, agents, [], governance, guardian, allocator
    )
    bond_agent(system, allocator)
    for spec in sleeves:
        add_sleeve(project, system, spec)
    return system


def add_sleeve(project, system: VaultSystem, spec: SleeveSpec) -> Sleeve:
    gov = system.governance
    feed = gov.deploy(project.MockAggregator, FEED_DECIMALS, f"{spec.name} / USD", spec.nav, gov)
    limit = spec.daily_redeem_limit * 10**spec.token_decimals
    issuer = gov.deploy(
        project.MockIssuer, system.asset, feed, f"Tokenized {spec.name}", spec.name.upper(),
        spec.token_decimals, limit, gov,
    )  # fmt: skip
    token = project.MockRWAToken.at(issuer.rwaToken())
    system.router.setFeed(token, feed, sender=gov)
    sleeve = gov.deploy(project.TokenizedRWASleeve, system.vault, issuer, system.router)
    define(system.registry, gov, f"vault.maxSleeveBps.{spec.name}", spec.cap_bps, 0, 10_000)
    system.vault.addSleeve(sleeve, spec.name, sender=gov)
    entry = Sleeve(spec.name, sleeve, issuer, token, feed)
    system.sleeves.append(entry)
    return entry


@contextmanager
def isolated(chain) -> Iterator[None]:
    """Run the block in a chain snapshot and restore it afterwards.

    Use this, never Ape's `chain.isolate()`: that one swallows every exception raised inside
    it, failed assertions included, so a check inside it can never fail.
    """
    snapshot = chain.snapshot()
    try:
        yield
    finally:
        chain.restore(snapshot)


def revert_of(
    contract, method: str, *args, sender, block: str = "pending", decode_with=()
) -> tuple[str, dict] | None:
    """The custom error `contract.method(*args)` from `sender` reverts with at `block`, with
    its inputs, or None when the call passes; `decode_with`: contracts whose errors it may bubble
    up. A raw `eth_call`: Ape renders a trace for every reverted transaction, which costs seconds
    each."""
    data = HexBytes(getattr(contract, method).encode_input(*args)).to_0x_hex()
    call = {"from": sender.address, "to": contract.address, "data": data}
    response = ape.chain.provider.web3.provider.make_request("eth_call", [call, block])
    if "error" not in response:
        return None
    output = HexBytes(response["error"].get("data") or b"")
    errors = [e for c in (contract, *decode_with) for e in c.contract_type.errors]
    for abi in errors:
        if keccak(text=abi.selector)[:4] == output[:4]:
            values = decode([i.canonical_type for i in abi.inputs], output[4:])
            return abi.name, {i.name: v for i, v in zip(abi.inputs, values, strict=True)}
    return output.to_0x_hex(), {}


def assert_reverts(
    contract, method: str, *args, sender, error: str, decode_with=(), **inputs
) -> None:
    outcome = revert_of(contract, method, *args, sender=sender, decode_with=decode_with)
    assert outcome is not None, f"{method}{args} passed; expected {error}"
    name, values = outcome
    assert name == error, f"{method}{args} reverted {name}{values}; expected {error}"
    for key, want in inputs.items():
        want = want.address.lower() if hasattr(want, "address") else want
        assert values[key] == want, f"{error}.{key} = {values[key]}, expected {want}"


def deploy_partial_fill_system(project, accounts):
    """A vault with one sleeve, "partial", behind `MockPartialFillIssuer` (NAV 1.00, 18
    decimals; it may fill part of a request or keep a redemption fee), and account 6's
    1,000,000 deposited (all idle)."""
    system = deploy_vault_system(project, accounts[0], accounts[1], accounts[5], sleeves=())
    gov = system.governance
    feed = gov.deploy(project.MockAggregator, FEED_DECIMALS, "partial / USD", FEED_UNIT, gov)
    issuer = gov.deploy(project.MockPartialFillIssuer, system.asset, feed, 18, gov)
    token = project.MockRWAToken.at(issuer.rwaToken())
    system.router.setFeed(token, feed, sender=gov)
    sleeve = gov.deploy(project.TokenizedRWASleeve, system.vault, issuer, system.router)
    define(system.registry, gov, "vault.maxSleeveBps.partial", 9_000, 0, 10_000)
    system.vault.addSleeve(sleeve, "partial", sender=gov)
    system.sleeves.append(Sleeve("partial", sleeve, issuer, token, feed))
    system.deposit(accounts[6], 1_000_000 * USDC)
    return system
