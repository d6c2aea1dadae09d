"""The whole Ballast system as `ballast.deploy.deploy_system` ships it, for the system machine.

`deploy_full_system` deploys deployments/config/local.yaml (BallastToken, BallastGovernor,
the timelock, the ParameterRegistry with the production table of bounds, steps, cooldowns and
steward limits, the OracleRouter, RWAVault, AgentRegistry, three TokenizedRWASleeves on mock
issuers and the LendingSleeve) with the governance periods shortened (voting delay 1 h, voting
period 6 h, timelock delay 12 h) so that one rule walks a proposal through, and prepares it:
the deployer (test account 0, owner of the mock feeds and issuers) delegates its BLST to
itself; the issuers' daily redemption limits are lowered so that the redemption queue is
needed; two depositors hold shares (requested, struck at the next window's prices, claimed),
a searcher and a newcomer (impersonated accounts) hold stablecoin approved to the vault, two
agents are bonded and active, a first rebalance puts
money in every sleeve, two borrowers hold collateral (a tenth of it posted) and owe the book
90% of what they may borrow (health about 1.2: a 20% fall makes them liquidatable), a keeper holds
stablecoin approved to the book (for liquidations).

`System` reaches every contract over raw JSON-RPC (`agent_machine_support.Raw`) and decodes a
refusal against the custom errors of every contract of the system (the governor's `execute`
bubbles up the registry's). `Param` is a registry parameter with the registry's update rule in
Python (ParameterRegistry._violation: frozen, steward disabled, bounds, step, cooldown, in that
order; governance's step and cooldown count from its own last update, the steward's from
anyone's; a freeze lasts `registry.maxFreezePeriod` and may be renewed one period after it
ended), which the machine uses to predict every parameter change and compares with the chain.
`Driver` is the machine's plumbing: its clock, sending with an exact or an explained refusal,
the rebalance refusal prediction, a strike's prediction from the model's request windows and
publication times (`_strike_prediction`), and a proposal walked through the DAO. `VaultRaw`
is `Raw` with the ERC-7540 overloads (`deposit`/`mint` with a controller) chosen by arity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ape import accounts, chain, project
from eth_abi import decode
from eth_utils import keccak
from hexbytes import HexBytes
from hypothesis import event
from hypothesis import strategies as st

from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from tests.invariants.agent_machine_support import (
    MAX_FEE_PER_GAS,
    Raw,
    Read,
    Reads,
    mined,
    rpc,
)
from tests.vault_support import STRIKE_FIELDS, USDC, WINDOW, faucet  # noqa: F401 (re-exported)

REPO_ROOT = Path(__file__).resolve().parents[2]
BPS = 10_000
MAX_UINT = 2**256 - 1
HOUR = 3_600
VOTING_DELAY = HOUR
VOTING_PERIOD = 6 * HOUR
TIMELOCK_DELAY = 12 * HOUR
DAO_DELAY = VOTING_DELAY + VOTING_PERIOD + TIMELOCK_DELAY + 3  # proposing to executing
RWA = ("tbill", "gold", "invoices")  # the vault's sleeves 0..2; the book is sleeve 3
# Whole tokens a day each issuer redeems: low, so that exits meet locked liquidity.
REDEEM_LIMITS = {"tbill": 40_000, "gold": 15, "invoices": 30_000}
DEPOSITS = (1_500_000 * USDC, 700_000 * USDC)  # the two depositors' first deposits
FIRST_TARGETS = [500, 300, 300, 900]  # turnover 2,000 bps: the deployed maximum
COLLATERAL_BUY = 300_000 * USDC  # each borrower's purchase of each RWA token
AGENT_FUNDS = 200_000 * USDC
KEEPER_FUNDS = 5_000_000 * USDC
WAD = 10**18
OFFSET = 10**12  # the vault's virtual shares (18 - 6 decimals)
ROUNDING_WEI = 16  # a step's allowed rounding loss for the share price (≈4 wei a sleeve)
SLEEVES = (*RWA, "lending")
PRICE_SCALE = 10**36  # the Strike's prices: assets per share x 1e36
# Impersonated actors (anvil_impersonateAccount): the searcher (invariant 9) and the newcomer
# (the donation invariant). Any fixed addresses with no code.
SEARCHER = "0x5ea2c4e25ea2c4e25ea2c4e25ea2c4e25ea2c4e2"
NEWCOMER = "0x11e4c03e11e4c03e11e4c03e11e4c03e11e4c03e"
ACTOR_FUNDS = 3_000_000 * USDC


@dataclass(frozen=True)
class Actor:
    """An impersonated account: anything with an `address` sends through `Raw.send`."""

    address: str


class VaultRaw(Raw):
    """`Raw` for the vault: an overloaded method (ERC-7540's `deposit`/`mint` with a
    controller next to ERC-4626's) is chosen by the number of arguments."""

    def __init__(self, contract):
        super().__init__(contract)
        self.overloads: dict[tuple[str, int], object] = {}
        for m in contract.contract_type.methods:
            self.overloads[(m.name, len(m.inputs))] = m

    def calldata(self, method: str, *args) -> str:
        self.methods[method] = self.overloads[(method, len(args))]
        return super().calldata(method, *args)

    def call(self, method: str, *args, block: str = "latest"):
        self.methods[method] = self.overloads[(method, len(args))]
        return super().call(method, *args, block=block)


@dataclass
class Param:
    """One registry parameter as IParameterRegistry.Param stores it."""

    key: bytes
    value: int
    min: int
    max: int
    step_bps: int
    cooldown: int
    last_update: int  # anyone's last update
    steward_step_bps: int
    steward_cooldown: int
    governance_value: int  # the value of governance's last update: its step reference
    last_governance_update: int
    frozen_until: int = 0  # frozen while now < frozen_until; 0 = never frozen

    @classmethod
    def on_chain(cls, registry: Raw, key: bytes) -> Param:
        p = registry.call("getParam", key)
        return cls(key, p.value, p.min, p.max, p.maxStepBps, p.cooldown, p.lastUpdate,
                   p.stewardStepBps, p.stewardCooldown, p.governanceValue,
                   p.lastGovernanceUpdate, p.frozenUntil)  # fmt: skip

    def frozen(self, now: int) -> bool:
        return now < self.frozen_until

    def freezable_at(self, period: int) -> int:
        """When the guardian may freeze it again: 0 if never frozen, else one period after the
        last freeze ended."""
        return 0 if self.frozen_until == 0 else self.frozen_until + period

    def violation(self, value: int, steward: bool, now: int) -> str | None:
        """The error an update to `value` at `now` reverts with, or None (ParameterRegistry's
        `_violation`, written again)."""
        if self.frozen(now):
            return "ParameterFrozen"
        if steward and self.steward_step_bps == 0:
            return "StewardDisabled"
        if not self.min <= value <= self.max:
            return "OutOfBounds"
        step = self.steward_step_bps if steward else self.step_bps
        origin = self.value if steward else self.governance_value
        ref = origin or self.max
        if step and abs(value - origin) > ref * step // BPS:
            return "StepTooLarge"
        since = self.last_update if steward else self.last_governance_update
        if now < since + (self.steward_cooldown if steward else self.cooldown):
            return "Cooldown"
        return None


@dataclass
class System:
    governor: Raw
    timelock: Raw
    params: Raw  # the ParameterRegistry
    router: Raw
    vault: Raw
    agents: Raw  # the AgentRegistry
    book: Raw  # the LendingSleeve
    asset: Raw
    feeds: list[Raw]  # per RWA, in sleeve order
    issuers: list[Raw]
    tokens: list[Raw]
    sleeves: list[Raw]  # the three TokenizedRWASleeves
    names: dict[bytes, str]  # registry key -> parameter name
    market: object  # the deployer: votes, owns the mock feeds and issuers
    guardian: object
    steward: object
    keeper: object
    depositors: list
    bots: list  # the agents
    borrowers: list
    searcher: Actor
    newcomer: Actor
    errors: dict[bytes, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for raw in (self.governor, self.timelock, self.params, self.router, self.vault,
                    self.agents, self.book, self.asset, *self.sleeves, *self.issuers):  # fmt: skip
            self.errors.update(raw.errors)

    def refusal(self, raw: Raw, method: str, *args, sender) -> str | None:
        """The name of the custom error `method(*args)` from `sender` reverts with on the
        pending block (any contract's of the system), or None when the call passes."""
        call = {"from": sender.address, "to": raw.address, "data": raw.calldata(method, *args)}
        response = chain.provider.web3.provider.make_request("eth_call", [call, "pending"])
        return self.refused(response)

    def queue_refusal(self, reads: Reads, raw: Raw, method: str, *args, sender) -> Read:
        """`refusal`, queued on `reads`."""
        call = {"from": sender.address, "to": raw.address, "data": raw.calldata(method, *args)}
        return reads.request("eth_call", [call, "pending"], self.refused)

    def refused(self, response: dict) -> str | None:
        """The name of the custom error an `eth_call` response reverted with, or None."""
        if "error" not in response:
            return None
        output = HexBytes(response["error"].get("data") or b"")
        abi = self.errors.get(bytes(output[:4]))
        if abi is None:
            return output.to_0x_hex() or response["error"].get("message", "?")
        decode([i.canonical_type for i in abi.inputs], output[4:])  # well-formed, or it raises
        return abi.name

    def holders(self) -> list:
        """Every address that may hold vault shares besides the vault's own escrow."""
        people = [self.market, self.guardian, self.steward, self.keeper]
        return [*people, *self.depositors, *self.bots, *self.borrowers, self.agents,
                self.timelock, self.searcher, self.newcomer]  # fmt: skip

    def controllers(self) -> list:
        """Every account that requests (a controller of requests): the depositors, the searcher
        and the newcomer."""
        return [*self.depositors, self.searcher, self.newcomer]


LEND = {  # refusals a borrower meets in normal use
    "withdrawCollateral": {"InsufficientCollateral", "InsufficientCollateralBalance",
                           "StalePrice", "BorrowCapExceeded"},
    "borrow": {"InsufficientCollateral", "InsufficientCash", "BorrowCapExceeded",
               "DebtBelowMinimum", "VaultIsShutdown", "StalePrice"},
    "repay": {"DustDebt", "NoDebt"},
}  # fmt: skip
WHO = st.integers(0, 1)
SHARE = st.integers(1, 100)
MOVE = st.one_of(st.sampled_from([-5_000, -2_000, -500, 500, 2_000]), st.integers(-3_000, 3_000))
# A parameter change, bps of the value (of max from 0): tiny (steward-sized), round or any.
STEP = st.one_of(
    st.integers(-50, 50),
    st.sampled_from([-10_000, -2_500, -100, 100, 2_500, 12_000]),
    st.integers(-6_000, 6_000),
)
REGISTRY_EVENTS = ("ParameterSet", "Frozen", "Unfrozen", "BoundsSet", "StewardLimitsSet")
_SYSTEM: dict[str, System] = {}


def fixture() -> System:
    """Deployed once per test process; every example runs in a snapshot of it."""
    if "system" not in _SYSTEM:
        _SYSTEM["system"] = deploy_full_system()
    return _SYSTEM["system"]


class _ShortGovernance(DeployConfig):
    """The local config with the machine's short governance times. The deployed rules "timelock
    delay > unbonding period and > exit time", and the timelock's floor kept from them
    (`BallastTimelock.DELAY_FLOOR`), protect users of a real deployment; this test needs
    proposals that fit in one step, so its floor is its own delay."""

    def timelock_delay_floor(self) -> int:
        return self.governance.timelock_delay


def _config() -> DeployConfig:
    config = DeployConfig.load(REPO_ROOT / "deployments/config/local.yaml")
    short = {"voting_delay": VOTING_DELAY, "voting_period": VOTING_PERIOD,
             "timelock_delay": TIMELOCK_DELAY}  # fmt: skip
    # model_construct skips the validators (see _ShortGovernance)
    fields = {name: getattr(config, name) for name in type(config).model_fields}
    fields["governance"] = config.governance.model_copy(update=short)
    return _ShortGovernance.model_construct(**fields)


def deploy_full_system() -> System:
    """Deploy and prepare the system (see the module docstring); the chain's head is then
    the machine's starting state."""
    ta = accounts.test_accounts
    market, guardian, steward, keeper = ta[0], ta[1], ta[2], ta[5]
    depositors, bots, borrowers = [ta[3], ta[4]], [ta[6], ta[7]], [ta[8], ta[9]]
    deployment = deploy_system(_config(), market, report=lambda _: None)
    c = deployment.contracts
    at = {name: getattr(project, kind).at(c[name]) for name, kind in (
        ("BallastToken", "BallastToken"), ("BallastGovernor", "BallastGovernor"),
        ("TimelockController", "BallastTimelock"), ("ParameterRegistry", "ParameterRegistry"),
        ("OracleRouter", "OracleRouter"), ("RWAVault", "RWAVault"),
        ("AgentRegistry", "AgentRegistry"), ("LendingSleeve", "LendingSleeve"))}  # fmt: skip
    entries = {s.name: s for s in deployment.sleeves}
    assert [s.name for s in deployment.sleeves] == [*RWA, "lending"]
    vault, asset = at["RWAVault"], project.MockStablecoin.at(deployment.tokens["asset"])
    issuers = [project.MockIssuer.at(entries[n].issuer) for n in RWA]
    tokens = [project.MockRWAToken.at(entries[n].token) for n in RWA]
    at["BallastToken"].invoke_transaction("delegate", market, sender=market)
    for name, issuer in zip(RWA, issuers, strict=True):
        issuer.setDailyRedeemLimit(REDEEM_LIMITS[name] * 10 ** tokens[RWA.index(name)].decimals(),
                                   sender=market)  # fmt: skip
    for depositor, amount in zip(depositors, DEPOSITS, strict=True):
        faucet(asset, depositor, 2 * amount)  # half in the vault, half to deposit later
        asset.approve(vault, MAX_UINT, sender=depositor)
        asset.approve(at["LendingSleeve"], MAX_UINT, sender=depositor)  # anyone liquidates
        vault.requestDeposit(amount, depositor, depositor, sender=depositor)
    agents, minimum = (
        at["AgentRegistry"],
        at["ParameterRegistry"].get(keccak(text="agent.minStake")),
    )
    for bot in bots:
        faucet(asset, bot, AGENT_FUNDS)
        asset.approve(agents, MAX_UINT, sender=bot)
        agents.register(f"ipfs://agent/{bot.address}", sender=bot)
        agents.stake(2 * minimum, sender=bot)
    delay = at["ParameterRegistry"].get(keccak(text="agent.activationDelay"))
    chain.mine(timestamp=chain.blocks.head.timestamp + delay + 1)
    feeds = [project.MockAggregator.at(entries[n].feed) for n in RWA]
    for feed in feeds:  # the daily NAV publications, after the requests' window closed
        feed.setAnswer(feed.latestAnswer(), sender=market)
    vault.strike(sender=market)
    for depositor, amount in zip(depositors, DEPOSITS, strict=True):
        vault.deposit(amount, depositor, depositor, sender=depositor)  # the claim
    vault.rebalance(FIRST_TARGETS, b"\x11" * 32, "ipfs://first", sender=bots[0])
    book = at["LendingSleeve"]
    for borrower in borrowers:
        for issuer, token in zip(issuers, tokens, strict=True):
            faucet(asset, borrower, COLLATERAL_BUY)
            asset.approve(issuer, MAX_UINT, sender=borrower)
            issuer.subscribe(COLLATERAL_BUY, sender=borrower)
            token.approve(book, MAX_UINT, sender=borrower)
            book.depositCollateral(token, token.balanceOf(borrower) // 10, sender=borrower)
        book.borrow(book.maxBorrow(borrower) * 9 // 10, sender=borrower)  # health ≈ 1.2
        asset.approve(book, MAX_UINT, sender=borrower)
    faucet(asset, keeper, KEEPER_FUNDS)
    asset.approve(book, MAX_UINT, sender=keeper)
    asset.approve(vault, MAX_UINT, sender=keeper)  # the keeper also donates
    actors = [Actor(SEARCHER), Actor(NEWCOMER)]
    for actor in actors:
        rpc("anvil_impersonateAccount", [actor.address])
        rpc("anvil_setBalance", [actor.address, hex(10**21)])
        for _ in range(ACTOR_FUNDS // asset.FAUCET_LIMIT()):
            asset.faucet(actor.address, asset.FAUCET_LIMIT(), sender=market)
        Raw(asset).send("approve", vault.address, MAX_UINT, sender=actor)
        Raw(asset).send("approve", book.address, MAX_UINT, sender=actor)
    names = {bytes(k): at["ParameterRegistry"].nameOf(k) for k in at["ParameterRegistry"].keys()}
    return System(
        governor=Raw(at["BallastGovernor"]), timelock=Raw(at["TimelockController"]),
        params=Raw(at["ParameterRegistry"]), router=Raw(at["OracleRouter"]), vault=VaultRaw(vault),
        agents=Raw(agents), book=Raw(book), asset=Raw(asset), feeds=[Raw(f) for f in feeds],
        issuers=[Raw(i) for i in issuers], tokens=[Raw(t) for t in tokens],
        sleeves=[Raw(project.TokenizedRWASleeve.at(entries[n].address)) for n in RWA],
        names=names, market=market, guardian=guardian, steward=steward, keeper=keeper,
        depositors=depositors, bots=bots, borrowers=borrowers, searcher=actors[0],
        newcomer=actors[1],
    )  # fmt: skip


def mine_at(timestamp: int) -> None:
    """Mine an empty block at `timestamp` (the views then read the chain at that time)."""
    rpc("evm_mine", [timestamp])


def head_timestamp() -> int:
    return int(rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)


class Driver:
    """The machine's plumbing: its clock, sending with an exact or explained refusal, the
    predictions that need the chain's views, the DAO's walk through a proposal and the choice
    of a parameter change. The state machine sets the attributes below in its `start`."""

    s: System
    now: int  # the model clock: every block is mined at it
    params: dict[bytes, Param]  # the registry as the model expects it
    keys: list[bytes]  # the parameters, by name
    last_key: bytes | None  # the parameter changed last
    touched: set[bytes]  # the parameters changed in this step
    shutdown: bool
    paused: bool
    proposals: int
    # The vault's requests as the model expects them, per controller (lowercase address):
    dep: dict[str, tuple[int, int]]  # (pending assets, window): VaultStorage.DepositRequest
    red: dict[str, tuple[int, int]]  # (shares, window): VaultStorage.RedeemRequest
    dep_head: int  # the model's: deposit windows below it are settled
    ops: set[tuple[str, str]]  # (controller, operator) pairs approved
    lock: tuple[int, int, int]  # donations unlocking: (amount, start, end)
    totals: tuple[int, int]  # (totalAssets, totalSupply) when the step began
    pub: list[int]  # each feed's last publication time
    # Invariant 4, per controller: assets settled, the settled shares' bounds, what claims took;
    # shares filled, the assets' bound, what claims paid and the shares they used.
    settled_assets: dict[str, int]
    settled_shares_lo: dict[str, int]
    settled_shares_hi: dict[str, int]
    claimed_assets: dict[str, int]
    claimed_shares: dict[str, int]
    filled: dict[str, int]
    owed_hi: dict[str, int]
    paid: dict[str, int]
    redeemed: dict[str, int]
    dust_bound: int  # settled shares the per-controller rounding may leave in escrow
    supply: int  # totalSupply: moved only by strikes (fee and deposit shares minted, burns)
    reserved: int  # claimableRedemptions: Σ strikes' redeemAssets − Σ assets claims paid
    fee: int  # performance fee assets taken this step
    fee_drop: int  # the same, in assets of the step's first vault (invariant 3)

    def _act(self, raw, method, *args, sender, refusals=frozenset()):
        """Refused with one of `refusals` exactly when it is non-empty; else sent (receipt)."""
        chain.pending_timestamp = self.now
        outcome = self.s.refusal(raw, method, *args, sender=sender)
        if refusals:
            assert outcome in refusals, f"{method}{args}: {outcome}; expected one of {refusals}"
            event(f"{method}: {outcome}")
            return None
        assert outcome is None, f"{method}{args} refused: {outcome}"
        event(f"{method}: ok")
        return raw.send(method, *args, sender=sender)

    def _send_refused(self, raw, method, *args, sender) -> dict:
        """Sends a call the machine predicted refused, with an explicit gas limit so that it is
        mined (reverted) rather than refused by the node's estimate; returns the receipt, which
        must show the revert and no log."""
        chain.pending_timestamp = self.now
        tx = {"from": sender.address, "to": raw.address, "data": raw.calldata(method, *args),
              "gas": hex(500_000), "maxFeePerGas": hex(MAX_FEE_PER_GAS),
              "maxPriorityFeePerGas": "0x0"}  # fmt: skip
        receipt = mined(tx)
        assert int(receipt["status"], 16) == 0 and not receipt["logs"], (method, receipt)
        return receipt

    def _try(self, raw, method, *args, sender, explained):
        """Sent when the call passes; a refusal must be one of `explained`."""
        chain.pending_timestamp = self.now
        outcome = self.s.refusal(raw, method, *args, sender=sender)
        event(f"{method}: {outcome or 'ok'}")
        if outcome is not None:
            assert outcome in explained, f"{method}{args}: {outcome}"
            return None
        return raw.send(method, *args, sender=sender)

    def _totals(self) -> tuple[int, int]:
        return self.s.vault.call("totalAssets"), self.s.vault.call("totalSupply")

    def _value(self, shares: int, totals: tuple[int, int]) -> int:
        return shares * (totals[0] + 1) // (totals[1] + OFFSET)

    def _stake_of(self, bot) -> int:
        a = self.s.agents.call("agentInfo", bot)
        return a.stake + a.unbonding

    def _advance(self, seconds: int, publish: bool) -> None:
        self.now += seconds
        mine_at(self.now)
        if publish:
            for feed in self.s.feeds:
                self._publish(feed, feed.call("latestAnswer"))

    def _publish(self, feed, answer: int) -> None:
        """A new round of `feed` at `now` (the model records its publication time)."""
        chain.pending_timestamp = self.now
        feed.send("setAnswer", max(answer, 1), sender=self.s.market)
        self.pub[self.s.feeds.index(feed)] = self.now

    def _unconfirmed(self, token) -> bool:
        """The token's price is beyond oracle.maxDeviationBps of the router's reference (its band
        is open until a poke confirms the move): the sleeve is not fresh for a strike."""
        reference = self.s.router.call("lastPrice", token)[0]
        live = self.s.router.call("tryPrice", token)[0]
        if reference == 0:
            return False
        deviation = -(-abs(live - reference) * BPS // reference)  # rounded up, as the router
        return deviation > self._param("oracle.maxDeviationBps")

    def _confirm_moves(self, sender) -> bool:
        """The settler's part before a strike: each price beyond oracle.maxDeviationBps of the
        router's reference is poked (the move recorded) and, oracle.confirmDelay later with the
        feeds republished unchanged, poked again (confirmed); a price further out than an older
        pending move takes a second such step (IOracleRouter, rule 4). Whether a move was
        open."""
        s = self.s
        opened = False
        for _ in range(2):
            moved = [t for t in s.tokens if self._unconfirmed(t)]
            if not moved:
                break
            opened = True
            for token in moved:
                self._act(s.router, "poke", token, sender=sender)
            self._advance(self._param("oracle.confirmDelay"), publish=True)
            for token in moved:
                self._act(s.router, "poke", token, sender=sender)
        assert not any(map(self._unconfirmed, s.tokens)), "a move that held stayed open"
        return opened

    def _stale(self) -> bool:
        return any(not self.s.router.call("tryPrice", t)[1] for t in self.s.tokens)

    def _param(self, name: str) -> int:
        return self.params[keccak(text=name)].value

    def _locked(self, t: int) -> int:
        """VaultStorage.Lock as the model holds it, at time `t` (RWAVault._locked): nothing
        after a shutdown (it unlocks at once)."""
        amount, start, end = self.lock
        return 0 if t >= end or self.shutdown else -(-amount * (end - t) // (end - start))

    def _donated(self, assets: int) -> None:
        """A donation (or an executed slash) at `now`: what is still locked and `assets`
        unlock together, their rates added (`still / left + assets / period`), to the end
        where that runs the lock out, rounded up (RWAVault.donate)."""
        still = self._locked(self.now)
        period = self._param("vault.unlockPeriod")
        if still == 0:
            self.lock = (assets, self.now, self.now + period)
        elif period:
            left = self.lock[2] - self.now
            locked = still + assets
            span = -(-locked * period * left // (still * period + assets * left))
            self.lock = (locked, self.now, self.now + span)
        else:  # the donation unlocks at once; the lock keeps its schedule
            self.lock = (still, self.now, self.lock[2])

    def _pending_deposits(self) -> int:
        """Σ deposit requests no strike settled (the model's)."""
        return sum(p for p, w in self.dep.values() if p and w >= self.dep_head)

    def _operates(self, controller, sender) -> bool:
        return sender.address.lower() == controller.address.lower() or (
            controller.address.lower(), sender.address.lower()) in self.ops  # fmt: skip

    def _strike_plan(self):
        """What a strike now settles, from the model's request windows, publication times and
        the router's open bands (RebalanceModule._plan): (deposit end window, controllers whose
        deposits settle, whether a redeem window past the fresh cut-off waits, whether the
        stale-sleeve path may fill one after `vault.strikeMaxWait`)."""
        s, now = self.s, self.now
        open_ = now // WINDOW
        staleness = self._param("oracle.maxStaleness")
        cutoff = now  # the book: always fresh, published now
        for sleeve, token, at in zip(s.sleeves, s.tokens, self.pub, strict=True):
            if sleeve.call("units") == 0:
                continue  # a sleeve holding nothing needs no price
            fresh = now <= at + staleness and not self._unconfirmed(token)
            cutoff = min(cutoff, at if fresh else 0)
        fresh_end = min(open_, cutoff // WINDOW)
        # The vault's queues: every window below the deposit head is settled, so no deposit the
        # model still holds pending lies below it (strikes walk only windows with requests).
        _, dh, _ = s.vault.call("requestWindows")
        assert all(w >= dh for p, w in self.dep.values() if p and w >= self.dep_head), dh
        dep_end = 0 if self.shutdown else fresh_end
        deposits = [c for c, (p, w) in self.dep.items() if p and self.dep_head <= w < dep_end]
        unfilled = {w for c, (shares, w) in self.red.items()
                    if shares and s.vault.call("pendingRedeemRequest", 0, c) > 0}  # fmt: skip
        redeems = any(w < fresh_end for w in unfilled)
        wait = self._param("vault.strikeMaxWait")
        stale_end = min(open_, (now - wait) // WINDOW) if now >= wait else 0
        stale = any(fresh_end <= w < stale_end for w in unfilled)
        return dep_end, deposits, redeems, stale

    def _strike_prediction(self) -> tuple[set[str], bool]:
        """(refusals, certain): NothingToStrike with nothing pending; success when a deposit or
        redeem window is past every price's publication; StrikeNotReady otherwise, unless the
        stale-sleeve path may fill a redemption (then either, `certain` False)."""
        if self._pending_deposits() == 0 and self.s.vault.call("pendingRedemptions") == 0:
            return {"NothingToStrike"}, True
        _, deposits, redeems, stale = self._strike_plan()
        if deposits or redeems:
            return set(), True
        return {"StrikeNotReady"}, not stale

    def _strike(self, sender):
        """Strike as predicted; on success the model settles its deposit windows and records
        what each controller may claim at most (invariant 4). Returns the StrikeSettled log."""
        s = self.s
        refusals, certain = self._strike_prediction()
        dep_end, deposits, _, stale = self._strike_plan()
        cs = [c.address.lower() for c in s.controllers()]
        before = {c: s.vault.call("pendingRedeemRequest", 0, c) for c in cs}
        if certain:
            receipt = self._act(s.vault, "strike", sender=sender, refusals=refusals)
        else:
            receipt = self._try(s.vault, "strike", sender=sender, explained=refusals)
        if not receipt:
            return None
        [log] = s.vault.logs(receipt, "StrikeSettled")
        k = dict(zip(STRIKE_FIELDS, log.strike, strict=True))
        k["feeShares"] = sum(f.feeShares for f in s.vault.logs(receipt, "PerformanceFeeTaken"))
        assert log.staleSleeves == 0 or stale, "a sleeve valued stale before the maximum wait"
        if log.staleSleeves:
            event("strike: stale sleeves at a haircut")
        if deposits:
            newest = max(self.dep[c][1] for c in deposits)
            assert k["depositEpoch"] == newest, (k["depositEpoch"], newest)
            assert k["depositAssets"] == sum(self.dep[c][0] for c in deposits)
            price = k["depositPrice"]
            for c in deposits:
                paid = self.dep[c][0]
                self.settled_assets[c] += paid
                self.settled_shares_hi[c] += paid * PRICE_SCALE // price
                self.settled_shares_lo[c] += paid * PRICE_SCALE // (price + 1)
            self.dust_bound += len(deposits)
            event("strike: deposits settled")
        else:
            assert k["depositEpoch"] == 2**64 - 1 and k["depositAssets"] == 0
        self.dep_head = max(self.dep_head, dep_end)
        filled_total = 0
        after_ = {c: s.vault.call("pendingRedeemRequest", 0, c) for c in cs}
        for c in cs:
            after = after_[c]
            filled = before[c] - after
            assert filled >= 0, (c, before[c], after)
            filled_total += filled
            self.filled[c] += filled
            if before[c]:
                self.owed_hi[c] += (filled + 1) * (k["redeemPrice"] + 1) // PRICE_SCALE + 2
        assert filled_total <= k["redeemShares"] + len(cs)
        # First in, first out: a strike that fills a window leaves no earlier window unfilled
        # (`RebalanceModule._fill`; pro rata within a window, by construction of the views).
        touched = [self.red[c][1] for c in cs if before[c] and before[c] != after_[c]]
        for c in cs:
            if touched and before[c] and self.red[c][1] < max(touched):
                assert after_[c] == 0, ("an earlier window left unfilled", c, self.red[c])
        # No share without assets: the deposits' shares are worth at most what they paid at the
        # strike's price, the redemptions' assets at most their shares' worth at its price; the
        # supply moves only here, by the fee, the deposits' shares and the redemptions' burn.
        assert k["depositShares"] * k["depositPrice"] <= k["depositAssets"] * PRICE_SCALE
        assert k["redeemAssets"] * PRICE_SCALE <= k["redeemShares"] * (k["redeemPrice"] + 1)
        # The fee dilutes those holding at the strike; a wei of it, on a vault that shrank in
        # this step (everyone exiting), is more than a wei of the step's first vault.
        scale = (self.totals[1] + OFFSET, self.supply + OFFSET)
        self.supply += k["feeShares"] + k["depositShares"] - k["redeemShares"]
        self.reserved += k["redeemAssets"]
        if k["redeemShares"]:
            event("strike: redemptions filled")
        for fee in s.vault.logs(receipt, "PerformanceFeeTaken"):
            self.fee += fee.feeAssets
            self.fee_drop += -(-fee.feeAssets * scale[0] // scale[1])
            event("strike: performance fee taken")
        self.last_strike = k
        return k

    def _claim(self, controller, amount: int, method: str, sender, receiver=None) -> int | None:
        """A claim (`deposit`/`mint` of settled shares, `redeem`/`withdraw` of filled assets)
        with the refusal predicted exactly: NotOperator, ZeroAmount, ClaimExceeded beyond max*,
        ZeroAmount for a claim that rounds to nothing (but the last one, which clears the dust).
        Returns what it paid (shares or assets) or None."""
        s, v = self.s, self.s.vault
        receiver = receiver or controller
        c = controller.address.lower()
        deposit_side = method in ("deposit", "mint")
        if deposit_side:
            c_assets, c_shares = v.call("maxDeposit", c), v.call("maxMint", c)
        else:
            c_assets, c_shares = v.call("maxWithdraw", c), v.call("maxRedeem", c)
        by_assets = method in ("deposit", "withdraw")
        limit = c_assets if by_assets else c_shares
        if by_assets:
            other = c_shares if amount == c_assets else (
                amount * c_shares // c_assets if method == "deposit"
                else -(-amount * c_shares // c_assets)) if c_assets else 0  # fmt: skip
        else:
            other = c_assets if amount == c_shares else (
                -(-amount * c_assets // c_shares) if method == "mint"
                else amount * c_assets // c_shares) if c_shares else 0  # fmt: skip
        refusals = set()
        if not self._operates(controller, sender):
            refusals = {"NotOperator"}
        elif amount == 0:
            refusals = {"ZeroAmount"}
        elif amount > limit:
            refusals = {"ClaimExceeded"}
        elif other == 0 and method in ("deposit", "redeem") and amount != limit:
            refusals = {"ZeroAmount"}  # the last claim of the bucket may clear dust
        token = v if deposit_side else s.asset
        held = token.call("balanceOf", receiver)
        pending = v.call("pendingRedeemRequest", 0, c)
        receipt = self._act(v, method, amount, receiver, c, sender=sender, refusals=refusals)
        if not receipt:
            return None
        assets, shares = (amount, other) if by_assets else (other, amount)
        if deposit_side:
            self.claimed_assets[c] += assets
            self.claimed_shares[c] += shares
            if amount != limit:
                # a part taken in place re-prices what is left, rounded down (IRWAVault:
                # rounding): one share at most after `deposit`; after `mint`, which charges the
                # assets rounded up, one asset unit's worth of shares plus one. With S shares
                # for A assets at the strike's rate r (S = ⌊A·r⌋, so r < (S + 1)/A ≤ ⌊S/A⌋ + 1)
                # a mint of m costs a = ⌈m·A/S⌉ and leaves ⌊(A − a)·r⌋; what falls short of
                # S − m is below a·r + 1 − m < r + 2, so at most ⌈r⌉ + 1 ≤ ⌊S/A⌋ + 2
                lost = 1 if method == "deposit" else c_shares // c_assets + 2
                self.settled_shares_lo[c] -= lost
                self.dust_bound += lost  # they stay in the vault's escrow, owned by nobody
            got = shares
            p, w = self.dep[c]
            if p and w < self.dep_head:
                self.dep[c] = (0, w)
        else:
            self.paid[c] += assets
            self.reserved -= assets
            self.redeemed[c] += shares
            got = assets
            if self.red[c][0] and pending == 0:
                self.red[c] = (0, 0)
        assert token.call("balanceOf", receiver) - held == got
        return got

    def _request_deposit(self, controller, owner, sender, assets: int) -> bool:
        """requestDeposit with its refusal predicted (the deposit cap only near the cap)."""
        v, c = self.s.vault, controller.address.lower()
        open_ = self.now // WINDOW
        p, w = self.dep[c]
        cap_near = assets + self._pending_deposits() + 2 * v.call("totalAssets") >= self._param(
            "vault.depositCap"
        )
        refusals = set()
        if assets == 0:
            refusals = {"ZeroAmount"}
        elif not self._operates(owner, sender) or not self._operates(controller, sender):
            refusals = {"NotOperator"}  # the owner's, then the controller's consent
        elif self.shutdown:
            refusals = {"VaultIsShutdown"}
        elif p and w != open_ and w >= self.dep_head and not cap_near:
            refusals = {"DepositRequestPending"}
        if cap_near and not refusals:
            receipt = self._try(
                v,
                "requestDeposit",
                assets,
                c,
                owner,
                sender=sender,
                explained={"DepositCapExceeded", "DepositRequestPending"},
            )
        else:
            receipt = self._act(v, "requestDeposit", assets, c, owner, sender=sender,
                                refusals=refusals)  # fmt: skip
        if not receipt:
            return False
        assert not (p and w != open_ and w >= self.dep_head), "an unsettled earlier request"
        self.dep[c] = ((p if w == open_ else 0) + assets, open_)
        if c != owner.address.lower():
            event("requestDeposit: for another controller, with its consent")
        return True

    def _request_redeem(self, controller, owner, sender, shares: int) -> bool:
        v, c = self.s.vault, controller.address.lower()
        open_ = self.now // WINDOW
        r_shares, w = self.red[c]
        refusals = set()
        if shares == 0:
            refusals = {"ZeroAmount"}
        elif not self._operates(owner, sender):
            refusals = {"ERC20InsufficientAllowance"}  # no share allowance is ever given
        elif not self._operates(controller, sender):
            refusals = {"NotOperator"}  # a request for another controller needs its consent
        elif r_shares and w != open_ and v.call("pendingRedeemRequest", 0, c):
            refusals = {"RedeemRequestQueued"}
        if not self._act(v, "requestRedeem", shares, c, owner, sender=sender, refusals=refusals):
            return False
        self.red[c] = ((r_shares if w == open_ else 0) + shares, open_)
        if c != owner.address.lower():
            event("requestRedeem: for another controller, with its consent")
        return True

    def _rebalance_refusal(self, bot, targets: list[int]) -> set[str]:
        """RebalanceModule's checks, in its order, from the views and the parameter model."""
        s = self.s
        if not s.agents.call("isActive", bot):
            return {"NotActiveAgent"}
        if self.shutdown:
            return {"VaultIsShutdown"}
        if self.paused:
            return {"AutomationIsPaused"}
        if self.now < s.vault.call("nextRebalanceAt"):
            return {"RebalanceCooldown"}
        if any(not sl.call("valuation")[1] for sl in s.sleeves):
            return {"StaleValuation"}
        parts = [sl.call("totalAssets") for sl in (*s.sleeves, s.book)]
        if s.vault.call("idle") + sum(parts) == 0:
            return {"EmptyVault"}
        old, value = s.vault.call("currentBps"), lambda name: self.params[keccak(text=name)].value
        for t, name in zip(targets, SLEEVES, strict=True):
            if t > value(f"vault.maxSleeveBps.{name}"):
                return {"SleeveCapExceeded"}
        idle = max(BPS - sum(targets), 0)
        if sum(targets) > BPS or idle < value("vault.idleBufferBps"):
            return {"IdleBufferBreached"}
        moved = sum(abs(t - o) for t, o in zip(targets, old, strict=True))
        moved += abs(idle - (BPS - sum(old)))
        # The limit yields to the least turnover meeting the caps and the buffer from `old`.
        caps = [value(f"vault.maxSleeveBps.{name}") for name in SLEEVES]
        kept = sum(min(o, cap) for o, cap in zip(old, caps, strict=True))
        need = sum(old) - min(kept, BPS - value("vault.idleBufferBps"))
        if (moved + 1) // 2 > max(value("vault.maxTurnoverBps"), need):
            return {"TurnoverExceeded"}
        if list(targets) == list(old):  # every weight kept: no decision (nothing recorded)
            return {"NothingMoved"}
        return set()

    def _through_dao(self, method: str, *args, refusal: str | None, target=None):
        """Propose, vote, queue, wait out the timelock and execute `target.method(*args)` (the
        registry's by default)."""
        s, voter = self.s, self.s.market
        target = target or s.params
        self.proposals += 1
        description = f"system machine #{self.proposals}"
        call = (
            [target.address], [0], [bytes.fromhex(target.calldata(method, *args)[2:])],
            keccak(text=description),
        )  # fmt: skip
        self._act(s.governor, "propose", *call[:3], description, sender=voter)
        pid = s.governor.call("hashProposal", *call)
        self._advance(VOTING_DELAY + 1, publish=False)
        self._act(s.governor, "castVote", pid, 1, sender=voter)
        self._advance(VOTING_PERIOD + 1, publish=False)
        self._act(s.governor, "queue", *call, sender=voter)
        self._advance(TIMELOCK_DELAY + 1, publish=False)
        return self._act(s.governor, "execute", *call, sender=voter,
                         refusals={refusal} if refusal else set())  # fmt: skip

    def _target(self, pick: int, step: int) -> tuple[Param, int]:
        """Mostly (pick < 24) the parameter changed last, to meet its cooldown; else any."""
        key = self.last_key if pick < 24 and self.last_key else self.keys[pick % len(self.keys)]
        p = self.params[key]
        return p, max(p.value + (p.value or p.max) * step // BPS, 0)

    def _applied(self, p: Param, value: int, receipt, governance: bool = False) -> None:
        if receipt:
            p.value, p.last_update = value, self.now
            if governance:
                p.governance_value, p.last_governance_update = value, self.now
            self.touched.add(p.key)
            self.last_key = p.key
            event(f"parameter set: {self.s.names[p.key]}")
