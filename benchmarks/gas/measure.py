"""The scenarios behind the gas snapshot: what is measured, on which state.

Every system is deployed by `ballast.deploy.deploy_system` from deployments/config/local.yaml
(the deployed contracts, roles and parameters, not a test double).

The vault with k RWA sleeves for k = 0..5 (no lending book): the config's first k, and beyond
its three more issuers of the same kinds (tbill2, gold2), each with its own cap. Entries and exits
are ERC-7540 requests settled at NAV strikes (interfaces/IRWAVault.sol): a seeder's 1,000,000 is
requested, struck and claimed first, then (k > 0) spread over the sleeves; then a second
depositor's life, each step measured:

- requestDeposit (new controller, first in its window: the controller's request slot and the
  window's are new), requestDeposit (new controller, same window: a second depositor joins the
  window), requestDeposit (repeat: adds to the same pending request);
- strike (deposits): every sleeve valued once, the window settled (no redemption pending);
- deposit (claim all, first shares): the first depositor claims everything settled for it;
  deposit (claim part) and mint (claim the rest): the second claims half by assets (its first
  shares; what is left stays in its claims bucket), then the rest by share count;
- strike (deposits, two windows a week apart): a request, a week of empty hourly windows, another
  request, then the strike (a strike walks only the windows that had requests); deposit (claim
  all, existing holder): the first depositor claims it, adding to its share balance;
- requestRedeem (new controller, empty escrow: the vault's own share balance is new),
  requestRedeem (new controller, same window), requestRedeem (repeat: into the same window);
- strike (redemptions): the window filled from idle; redeem (claim all), then by the second
  controller redeem (claim part) and withdraw (claim the rest);
- strike (redemptions from sleeves) (k > 0): the seeder asks for more than idle holds, and the
  strike pulls the rest from the sleeves in withdraw-queue order.

Every strike follows a new round of every NAV feed published after the requests (forward
pricing). The performance fee's sample (IRWAVault.setAgentRegistry) moves at most once a day:
strike (deposits) and strike (deposits, two windows a week apart) come a day or more after the
strike before them and pay for moving it, as a daily strike does; strike (redemptions) and strike
(redemptions from sleeves) come the same day and do not. A bare OpenZeppelin ERC4626 with the
same decimals offset is deployed in the same run on the same mock stablecoin as the reference for
a synchronous deposit, mint, withdraw and redeem.
The rebalances: the first one into k sleeves, and a steady-state one (weights shift, a day later).

Rebalances are sent by an agent bonded at agent.minStake in the AgentRegistry and active
(agent.activationDelay waited out, the NAV feeds republished).

The lending book, on the whole local system: the agent moves 20% of a 1,000,000 vault into
it by `rebalance`; borrowers buy gold at its MockIssuer and post it as collateral.

- depositCollateral (first: the borrower's first collateral; repeat: more of the same token),
  borrow (the borrower's first), accrueInterest (an hour later, debt outstanding),
  repay (partial, then the rest with type(uint256).max), withdrawCollateral (debt outstanding:
  the position is re-checked at fresh prices);
- liquidate, by a keeper that holds the stablecoin (approved) and, in the steady state, already
  holds gold from an earlier liquidation; the call is the one `liquidationTrigger` returns.
  The gold feed is moved so that the victim's health is ~0.975 (partial: the close factor
  applies), ~0.90 (full: below lend.fullCloseHealthBps) or ~0.50 (bad debt: all collateral is
  seized and the rest of the debt written off). "first for this liquidator" is the partial one
  by a keeper that holds no gold yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ape import accounts, chain, project

from ballast.config import BPS, CAP_PREFIX, COLLATERAL_PREFIXES, IDLE_BUFFER, DeployConfig
from ballast.deploy import deploy_system
from ballast.parameters import key_of

USDC = 10**6
DAY = 86_400
SEED = 1_000_000 * USDC
POSITION = 20_000 * USDC
# Targets in bps per sleeve: each first rebalance moves 20% of the vault (vault.maxTurnoverBps),
# each steady-state one shifts weights a day later, every sleeve moving.
FIRST_TARGETS = {
    1: [2_000],
    2: [1_000, 1_000],
    3: [1_000, 500, 500],
    4: [800, 400, 400, 400],
    5: [800, 300, 300, 300, 300],
}
NEXT_TARGETS = {
    1: [3_500],
    2: [2_000, 1_500],
    3: [1_500, 900, 800],
    4: [1_200, 700, 600, 500],
    5: [1_100, 500, 500, 400, 400],
}
VAULT_SLEEVES = range(max(FIRST_TARGETS) + 1)
"""The vault configurations measured: its first k RWA sleeves."""

WAD = 10**18
MAX_UINT = 2**256 - 1
LENDING_BPS = 2_000  # the book's share of the vault (within local.yaml's cap and turnover)
COLLATERAL = "gold"  # every borrower posts it, so the keeper's steady state is holding it
POSITION_VALUE = 20_000 * USDC  # collateral bought per borrower
BLOCK_TIME = 12  # seconds between blocks in the vault and lending scenarios, as on mainnet
REQUEST_WINDOW = 3_600  # VaultStorage.WINDOW: the vault groups requests by the hour
PARTIAL_HEALTH, FULL_HEALTH, INSOLVENT_HEALTH = 975 * WAD // 1000, 90 * WAD // 100, WAD // 2


@dataclass
class Measured:
    name: str
    gas: int
    """The receipt's gasUsed: what the sender pays, the transaction's 21,000 and calldata too."""
    call: int
    """The call's own gas: `gas` less the intrinsic 21,000 + calldata (4 per zero byte, 16 per
    other), the convention of `forge test --gas-report` and of gas figures quoted for a function."""

    @classmethod
    def of(cls, name: str, tx) -> Measured:
        data = bytes(tx.transaction.data)
        zeros = data.count(0)
        intrinsic = 21_000 + 4 * zeros + 16 * (len(data) - zeros)
        return cls(name, tx.gas_used, tx.gas_used - intrinsic)


def _config(base: DeployConfig, sleeves: int) -> DeployConfig:
    """`base` with its first `sleeves` RWA sleeves only: no lending book, no collateral."""
    rwa = [s for s in base.sleeves if s.kind == "TokenizedRWASleeve" and s.mock is not None]
    if not rwa:
        raise ValueError("the config has no mock RWA sleeve to measure")
    caps = {p.name: p for p in base.parameters if p.name.startswith("vault.maxSleeveBps.")}
    keep, extra_caps = [], []
    for k in range(sleeves):
        model = rwa[k % len(rwa)]
        if k < len(rwa):
            keep.append(model)
            continue
        # Beyond the config's own sleeves: another issuer of the same kind, its own cap.
        name = f"{model.name}{k // len(rwa) + 1}"
        mock = model.mock.model_copy(update={"symbol": f"{model.mock.symbol}{k}"})
        keep.append(model.model_copy(update={"name": name, "mock": mock}))
        cap = caps[f"vault.maxSleeveBps.{model.name}"]
        extra_caps.append(cap.model_copy(update={"name": f"vault.maxSleeveBps.{name}"}))
    names = {s.name for s in keep}
    params = [
        p
        for p in base.parameters
        if not p.name.startswith(COLLATERAL_PREFIXES)
        and (
            not p.name.startswith("vault.maxSleeveBps.")
            or p.name.removeprefix("vault.maxSleeveBps.") in names
        )
    ] + extra_caps
    # The registry links the idle buffer to the caps (buffer + caps >= 100%, the vault can place
    # all it holds): with fewer sleeves than the config's, the buffer takes up the difference.
    room = sum(p.value for p in params if p.name.startswith(CAP_PREFIX))
    if keep and room < BPS:
        params = [
            p.model_copy(update={"value": max(p.value, BPS - room)}) if p.name == IDLE_BUFFER else p
            for p in params
        ]
    trimmed = base.model_copy(update={"sleeves": keep, "parameters": params})
    return DeployConfig.model_validate(trimmed.model_dump())  # still a config deploy accepts


def _fund(asset, account, amount: int, spender) -> None:
    limit = asset.FAUCET_LIMIT()
    while amount > 0:
        chunk = min(amount, limit)
        asset.faucet(account, chunk, sender=account)
        amount -= chunk
    asset.approve(spender, 2**256 - 1, sender=account)


def _bare_ops(vault, asset, user, record: Callable[[str, object], None]) -> None:
    """deposit, repeat deposit, mint, withdraw, redeem by `user` on the synchronous reference."""
    _fund(asset, user, 3 * POSITION, vault)
    record("deposit", vault.deposit(POSITION, user, sender=user))
    record("deposit (repeat)", vault.deposit(POSITION // 2, user, sender=user))
    shares = vault.previewDeposit(POSITION // 2)
    record("mint", vault.mint(shares, user, sender=user))
    record("withdraw", vault.withdraw(POSITION // 4, user, user, sender=user))
    record("redeem", vault.redeem(vault.balanceOf(user), user, user, sender=user))


def _enter(vault, asset, account, amount: int, publish: Callable[[], None], striker) -> None:
    """`account` requests a deposit of `amount`, a strike settles it, `account` claims it."""
    _fund(asset, account, amount, vault)
    vault.requestDeposit(amount, account, account, sender=account)
    publish()
    vault.strike(sender=striker)
    vault.deposit(amount, account, sender=account)


def _user_ops(vault, asset, users, publish, striker, record: Callable[[str, object], None]) -> None:
    """Two depositors' requests, their strikes and their claims (see the module docstring)."""
    user, peer = users
    for who in users:
        _fund(asset, who, 2 * POSITION, vault)
    record("requestDeposit (new controller, first in its window)",
           vault.requestDeposit(POSITION, user, user, sender=user))  # fmt: skip
    record("requestDeposit (new controller, same window)",
           vault.requestDeposit(POSITION, peer, peer, sender=peer))  # fmt: skip
    half = POSITION // 2
    record("requestDeposit (repeat)", vault.requestDeposit(half, user, user, sender=user))
    publish()
    record("strike (deposits)", vault.strike(sender=striker))
    _expect(vault.maxDeposit(user) == POSITION + half, "the strike did not settle the deposits")
    record("deposit (claim all, first shares)",
           vault.deposit(vault.maxDeposit(user), user, sender=user))  # fmt: skip
    record("deposit (claim part)", vault.deposit(vault.maxDeposit(peer) // 2, peer, sender=peer))
    record("mint (claim the rest)", vault.mint(vault.maxMint(peer), peer, sender=peer))
    _expect(vault.maxDeposit(user) == vault.maxDeposit(peer) == 0, "the claims left settled assets")
    vault.requestDeposit(half // 2, user, user, sender=user)
    chain.mine(timestamp=chain.pending_timestamp + 7 * DAY)
    vault.requestDeposit(half // 2, peer, peer, sender=peer)
    publish()
    record("strike (deposits, two windows a week apart)", vault.strike(sender=striker))
    _expect(vault.pendingDeposits() == 0, "the strike left deposits pending")
    record("deposit (claim all, existing holder)",
           vault.deposit(vault.maxDeposit(user), user, sender=user))  # fmt: skip
    vault.deposit(vault.maxDeposit(peer), peer, sender=peer)
    shares, other = vault.balanceOf(user), vault.balanceOf(peer)
    record("requestRedeem (new controller, empty escrow)",
           vault.requestRedeem(shares // 2, user, user, sender=user))  # fmt: skip
    record("requestRedeem (new controller, same window)",
           vault.requestRedeem(other, peer, peer, sender=peer))  # fmt: skip
    rest = shares - shares // 2
    record("requestRedeem (repeat)", vault.requestRedeem(rest, user, user, sender=user))
    publish()
    record("strike (redemptions)", vault.strike(sender=striker))
    _expect(vault.maxRedeem(user) == shares and vault.maxRedeem(peer) == other,
            "the strike did not fill the redemptions from idle")  # fmt: skip
    record("redeem (claim all)", vault.redeem(shares, user, user, sender=user))
    record("redeem (claim part)", vault.redeem(other // 2, peer, peer, sender=peer))
    record("withdraw (claim the rest)", vault.withdraw(vault.maxWithdraw(peer), peer, peer,
                                                       sender=peer))  # fmt: skip
    _expect(vault.maxRedeem(user) == vault.maxRedeem(peer) == 0, "the claims left filled shares")


def _actors():
    """deployer, the depositor who seeds the vault, the two depositors whose operations we
    measure."""
    test = accounts.test_accounts
    return test[0], test[6], (test[7], test[9])


def _active_agent(deployment, deployer):
    """test account #5, registered and bonded at agent.minStake, once its activation is over."""
    agent = accounts.test_accounts[5]
    agents = project.AgentRegistry.at(deployment.contracts["AgentRegistry"])
    registry = project.ParameterRegistry.at(deployment.contracts["ParameterRegistry"])
    asset = project.MockStablecoin.at(deployment.tokens["asset"])
    stake = registry.get(key_of("agent.minStake"))
    _fund(asset, agent, stake, agents)
    agents.register("ipfs://benchmark-agent", sender=agent)
    agents.stake(stake, sender=agent)
    chain.mine(timestamp=chain.pending_timestamp + registry.get(key_of("agent.activationDelay")))
    _republish(deployment, deployer)
    _expect(agents.isActive(agent), "the benchmark agent is not active")
    return agent


def _republish(deployment, deployer) -> None:
    """Every NAV feed publishes again (the mock feeds publish daily, like real ones), at the start
    of the next hourly request window: a strike settles a window once every price it uses was
    published at or after the window's end (its cut-off)."""
    cutoff = (chain.blocks.head.timestamp // REQUEST_WINDOW + 1) * REQUEST_WINDOW
    if chain.pending_timestamp < cutoff:
        chain.pending_timestamp = cutoff
    for entry in deployment.sleeves:
        if entry.feed:
            feed = project.MockAggregator.at(entry.feed)
            feed.setAnswer(feed.latestAnswer(), sender=deployer)
    for entry in deployment.collateral:
        feed = project.MockAggregator.at(entry.feed)
        feed.setAnswer(feed.latestAnswer(), sender=deployer)


def measure_bare(asset) -> list[Measured]:
    deployer, seeder, (user, _) = _actors()
    bare = deployer.deploy(project.BareERC4626, asset, 12)
    out: list[Measured] = []
    _fund(asset, seeder, SEED, bare)
    bare.deposit(SEED, seeder, sender=seeder)
    _bare_ops(bare, asset, user, lambda n, tx: out.append(Measured.of(n, tx)))
    return out


def measure_bare_request(asset) -> list[Measured]:
    """The least an ERC-7540 request costs (contracts/mocks/BareRequest.sol): the seeder's
    request first (the total pending is no longer zero, as in a window that has requests), then
    a new controller's first request and its repeat, by the same accounts and amounts as the
    vault's "same window" and "repeat" rows; then its first claim (its first shares, a part of
    what is claimable) and the claim of the rest into a balance that holds shares."""
    deployer, seeder, (_, peer) = _actors()
    bare = deployer.deploy(project.BareRequest, asset)
    out: list[Measured] = []
    _fund(asset, seeder, POSITION, bare)
    bare.requestDeposit(POSITION, seeder, seeder, sender=seeder)
    _fund(asset, peer, 2 * POSITION, bare)
    tx = bare.requestDeposit(POSITION, peer, peer, sender=peer)
    out.append(Measured.of("requestDeposit (new controller, same window)", tx))
    tx = bare.requestDeposit(POSITION // 2, peer, peer, sender=peer)
    out.append(Measured.of("requestDeposit (repeat)", tx))
    bare.settle([seeder, peer], sender=deployer)
    bare.deposit(POSITION, seeder, seeder, sender=seeder)  # the share supply is no longer zero
    tx = bare.deposit(POSITION, peer, peer, sender=peer)
    out.append(Measured.of("deposit (claim part)", tx))
    tx = bare.deposit(POSITION // 2, peer, peer, sender=peer)
    out.append(Measured.of("deposit (claim all, existing holder)", tx))
    return out


def measure_vault(base: DeployConfig, sleeves: int) -> tuple[list[Measured], object]:
    """Operations on a vault with `sleeves` sleeves, capital spread over them when k > 0."""
    with _block_time(BLOCK_TIME):  # each request in its own second, as on mainnet
        return _vault_scenario(base, sleeves)


def _vault_scenario(base: DeployConfig, sleeves: int) -> tuple[list[Measured], object]:
    deployer, seeder, users = _actors()
    deployment = deploy_system(_config(base, sleeves), deployer, report=lambda _: None)
    allocator = _active_agent(deployment, deployer)
    vault = project.RWAVault.at(deployment.contracts["RWAVault"])
    asset = project.MockStablecoin.at(deployment.tokens["asset"])
    out: list[Measured] = []

    def record(name: str, tx) -> None:
        out.append(Measured.of(name, tx))

    def publish() -> None:
        _republish(deployment, deployer)

    _enter(vault, asset, seeder, SEED, publish, deployer)
    if sleeves:
        tx = vault.rebalance(FIRST_TARGETS[sleeves], b"\x01" * 32, "ipfs://1", sender=allocator)
        record("rebalance (first)", tx)
        chain.mine(timestamp=chain.pending_timestamp + DAY)
        publish()
        tx = vault.rebalance(NEXT_TARGETS[sleeves], b"\x02" * 32, "ipfs://2", sender=allocator)
        record("rebalance", tx)
    else:  # as with sleeves: the next strike comes a day after the seeder's (it moves the sample)
        chain.mine(timestamp=chain.pending_timestamp + DAY)
    _user_ops(vault, asset, users, publish, deployer, record)
    if sleeves:
        shares = vault.convertToShares(vault.idle() + POSITION)  # more than idle holds
        vault.requestRedeem(shares, seeder, seeder, sender=seeder)
        publish()
        held = [project.TokenizedRWASleeve.at(s.address) for s in deployment.sleeves]
        before = sum(s.totalAssets() for s in held)
        tx = vault.strike(sender=deployer)
        _expect(vault.maxRedeem(seeder) == shares, "the strike did not fill the redemption")
        _expect(sum(s.totalAssets() for s in held) < before, "the strike pulled from no sleeve")
        record("strike (redemptions from sleeves)", tx)
    return out, asset


class ScenarioError(RuntimeError):
    """The chain is not in the state a measurement needs: a contract or the config changed."""


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise ScenarioError(f"lending benchmark: {what}")


@contextmanager
def _block_time(seconds: int) -> Iterator[None]:
    """Each block `seconds` after the last, whatever the wall clock does. Interest accrued since
    the last action is part of what the book writes, and a request stores its time (rewriting
    the same second costs less), so repeatable gas needs repeatable time: a call mined in the
    same second as the one before would skip accrual or that write and cost less."""
    chain.provider.make_request("anvil_setBlockTimestampInterval", [seconds])
    try:
        yield
    finally:
        chain.provider.make_request("anvil_removeBlockTimestampInterval", [])


def _fresh_account():
    """An account nothing on this chain has touched, with ether for gas."""
    account = accounts.test_accounts.generate_test_account()
    chain.set_balance(account, 100 * WAD)
    return account


@dataclass
class _Book:
    """The deployed lending book and what its borrowers and keeper need around it."""

    book: object
    asset: object
    token: object  # the collateral every borrower posts
    feed: object
    issuer: object
    deployer: object
    router: object
    registry: object

    def buy(self, borrower, assets: int) -> int:
        """`borrower` subscribes `assets` at the issuer: the tokens got, approved to the book."""
        _fund(self.asset, borrower, assets, self.issuer)
        before = self.token.balanceOf(borrower)
        self.issuer.subscribe(assets, sender=borrower)
        self.token.approve(self.book, MAX_UINT, sender=borrower)
        return self.token.balanceOf(borrower) - before

    def open(self, borrower) -> None:
        """Post POSITION_VALUE of collateral and borrow 99% of its borrow power."""
        self.book.depositCollateral(self.token, self.buy(borrower, POSITION_VALUE), sender=borrower)
        self.book.borrow(self.book.borrowPower(borrower) * 99 // 100, sender=borrower)

    def move_health(self, borrower, target: int) -> None:
        """Publish the collateral price that puts `borrower`'s health at ~`target` (WAD)."""
        answer = self.feed.latestAnswer() * target // self.book.healthFactor(borrower)
        self.feed.setAnswer(answer, sender=self.deployer)
        self.confirm()

    def confirm(self) -> None:
        """The router confirms a fall beyond oracle.maxDeviationBps, as the sentinel keeper does
        (a poke, oracle.confirmDelay, the feed published again, a poke): a liquidation counts
        such a fall only then (it values collateral at the high end of the price band)."""
        low, high = self.router.priceBand(self.token)
        if low == high:
            return
        self.router.poke(self.token, sender=self.deployer)
        delay = self.registry.get(key_of("oracle.confirmDelay"))
        chain.mine(timestamp=chain.pending_timestamp + delay)
        self.feed.setAnswer(self.feed.latestAnswer(), sender=self.deployer)
        self.router.poke(self.token, sender=self.deployer)
        low, high = self.router.priceBand(self.token)
        _expect(low == high, "the collateral's fall was not confirmed")

    def liquidate(self, keeper, borrower):
        """The call `liquidationTrigger` hands a keeper, sent by `keeper`."""
        ok, data = self.book.liquidationTrigger(borrower)
        _expect(ok, f"{borrower} is not liquidatable ({bytes(data).decode(errors='replace')})")
        _, args = self.book.decode_input(data)
        return self.book.liquidate(*args.values(), sender=keeper)


def measure_lending(base: DeployConfig) -> list[Measured]:
    """The lending book's borrower and keeper operations on the whole local system."""
    with _block_time(BLOCK_TIME):
        return _lending_scenario(base)


def _lending_scenario(base: DeployConfig) -> list[Measured]:
    deployer, seeder, (borrower, _) = _actors()
    keeper = accounts.test_accounts[8]
    deployment = deploy_system(base, deployer, report=lambda _: None)
    allocator = _active_agent(deployment, deployer)
    _expect(
        any(s.kind == "LendingSleeve" for s in deployment.sleeves),
        "the config has no LendingSleeve",
    )
    collateral = next((c for c in deployment.collateral if c.name == COLLATERAL), None)
    issuer = next((s.issuer for s in deployment.sleeves if s.name == COLLATERAL), None)
    _expect(collateral is not None and issuer is not None, f"no {COLLATERAL} sleeve collateral")
    registry = project.ParameterRegistry.at(deployment.contracts["ParameterRegistry"])
    vault = project.RWAVault.at(deployment.contracts["RWAVault"])
    lending = _Book(
        book=project.LendingSleeve.at(deployment.contracts["LendingSleeve"]),
        asset=project.MockStablecoin.at(deployment.tokens["asset"]),
        token=project.MockRWAToken.at(collateral.token),
        feed=project.MockAggregator.at(collateral.feed),
        issuer=project.MockIssuer.at(issuer),
        deployer=deployer,
        router=project.OracleRouter.at(deployment.contracts["OracleRouter"]),
        registry=project.ParameterRegistry.at(deployment.contracts["ParameterRegistry"]),
    )
    book, token = lending.book, lending.token
    full_close = registry.get(key_of("lend.fullCloseHealthBps")) * WAD // 10_000
    out: list[Measured] = []

    def record(name: str, tx) -> None:
        out.append(Measured.of(name, tx))

    _enter(vault, lending.asset, seeder, SEED, lambda: _republish(deployment, deployer), deployer)
    targets = [LENDING_BPS if s.kind == "LendingSleeve" else 0 for s in deployment.sleeves]
    vault.rebalance(targets, b"\x03" * 32, "ipfs://lending", sender=allocator)
    _expect(book.cash() > 0, "the rebalance did not fund the book")

    # A borrower's life: collateral in, borrow, interest, repay, collateral out.
    tokens = lending.buy(borrower, 2 * POSITION_VALUE)
    _fund(lending.asset, borrower, POSITION_VALUE, book)  # the interest, for the full repay
    half = tokens // 2
    record("depositCollateral (first)", book.depositCollateral(token, half, sender=borrower))
    record(
        "depositCollateral (repeat)", book.depositCollateral(token, tokens - half, sender=borrower)
    )
    record("borrow (first)", book.borrow(book.borrowPower(borrower) // 2, sender=borrower))
    chain.mine(timestamp=chain.pending_timestamp + 3_600)
    record("accrueInterest", book.accrueInterest(sender=keeper))
    debt = book.debtOf(borrower)
    record("repay (partial)", book.repay(debt // 4, borrower, sender=borrower))
    record("withdrawCollateral", book.withdrawCollateral(token, tokens // 4, sender=borrower))
    record("repay (full)", book.repay(MAX_UINT, borrower, sender=borrower))
    _expect(book.debtOf(borrower) == 0, "the full repay left debt")

    # Liquidations by a keeper that holds the stablecoin, approved to the book.
    _fund(lending.asset, keeper, 10 * POSITION_VALUE, book)
    first, partial, full, insolvent = (_fresh_account() for _ in range(4))
    for victim in (first, partial, full, insolvent):
        lending.open(victim)

    lending.move_health(first, PARTIAL_HEALTH)
    for victim in (first, partial):
        health = book.healthFactor(victim)
        _expect(full_close <= health < WAD, f"health {health} is not in the close-factor band")
    _expect(token.balanceOf(keeper) == 0, "the keeper already holds the collateral")
    record("liquidate (first for this liquidator)", lending.liquidate(keeper, first))
    tx = lending.liquidate(keeper, partial)
    _expect(book.debtOf(partial) > 0, "the partial liquidation closed the whole debt")
    record("liquidate (partial)", tx)

    lending.move_health(full, FULL_HEALTH)
    _expect(book.healthFactor(full) < full_close, "the full-close victim is above full close")
    tx = lending.liquidate(keeper, full)
    _expect(book.debtOf(full) == 0, "the full liquidation left debt")
    _expect(book.collateralOf(full, token) > 0, "the full liquidation took all collateral")
    record("liquidate (full)", tx)

    lending.move_health(insolvent, INSOLVENT_HEALTH)
    tx = lending.liquidate(keeper, insolvent)
    losses = [e.amount for e in tx.events.filter(book.BadDebtRealized)]
    _expect(len(losses) == 1 and losses[0] > 0, f"no bad debt written off (events: {losses})")
    _expect(book.collateralOf(insolvent, token) == 0, "collateral left after the bad-debt seizure")
    record("liquidate (bad debt)", tx)
    return out
