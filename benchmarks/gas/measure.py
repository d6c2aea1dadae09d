"""The scenarios behind the gas snapshot: what is measured, on which state.

Every vault is deployed by `ballast.deploy.deploy_system` from deployments/config/local.yaml
(the deployed contracts, roles and parameters, not a test double), with the first k sleeves for
k = 0..3. A bare OpenZeppelin ERC4626 with the same decimals offset is deployed in the same run
on the same mock stablecoin, and every operation is measured on both in the same state:

- deposit / mint: a second depositor joins a vault that already holds 1,000,000 (its first
  deposit, so its share balance goes from zero; "repeat" is its second one);
- withdraw: part of that position, paid from idle; "from sleeves" asks for more than idle;
- redeem: the whole remaining position;
- requestRedeem / processRedeemQueue: one request escrowed, then paid by a keeper;
- rebalance: the first one into k sleeves, and a steady-state one (weights shift, a day later).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ape import accounts, chain, project

from ballast.config import DeployConfig
from ballast.deploy import deploy_system

USDC = 10**6
DAY = 86_400
SEED = 1_000_000 * USDC
POSITION = 20_000 * USDC
FIRST_TARGETS = {1: [2_000], 2: [1_000, 1_000], 3: [1_000, 500, 500]}
NEXT_TARGETS = {1: [3_500], 2: [2_000, 1_500], 3: [1_500, 900, 800]}


@dataclass
class Measured:
    name: str
    gas: int


def _config(base: DeployConfig, sleeves: int) -> DeployConfig:
    keep = [s for s in base.sleeves[:sleeves]]
    names = {s.name for s in keep}
    params = [
        p
        for p in base.parameters
        if not p.name.startswith("vault.maxSleeveBps.")
        or p.name.removeprefix("vault.maxSleeveBps.") in names
    ]
    return base.model_copy(update={"sleeves": keep, "parameters": params})


def _fund(asset, account, amount: int, spender) -> None:
    limit = asset.FAUCET_LIMIT()
    while amount > 0:
        chunk = min(amount, limit)
        asset.faucet(account, chunk, sender=account)
        amount -= chunk
    asset.approve(spender, 2**256 - 1, sender=account)


def _user_ops(vault, asset, seeder, user, record: Callable[[str, object], None]) -> None:
    """deposit, repeat deposit, mint, withdraw, redeem by `user` after `seeder` seeded the vault."""
    _fund(asset, user, 3 * POSITION, vault)
    record("deposit", vault.deposit(POSITION, user, sender=user))
    record("deposit (repeat)", vault.deposit(POSITION // 2, user, sender=user))
    shares = vault.previewDeposit(POSITION // 2)
    record("mint", vault.mint(shares, user, sender=user))
    record("withdraw", vault.withdraw(POSITION // 4, user, user, sender=user))
    record("redeem", vault.redeem(vault.balanceOf(user), user, user, sender=user))


def _actors():
    """deployer, the depositor who seeds the vault, the depositor whose operations we measure."""
    test = accounts.test_accounts
    return test[0], test[6], test[7]


def measure_bare(asset) -> list[Measured]:
    deployer, seeder, user = _actors()
    bare = deployer.deploy(project.BareERC4626, asset, 12)
    out: list[Measured] = []
    _fund(asset, seeder, SEED, bare)
    bare.deposit(SEED, seeder, sender=seeder)
    _user_ops(bare, asset, seeder, user, lambda n, tx: out.append(Measured(n, tx.gas_used)))
    return out


def measure_vault(base: DeployConfig, sleeves: int) -> tuple[list[Measured], object]:
    """Operations on a vault with `sleeves` sleeves, capital spread over them when k > 0."""
    deployer, seeder, user = _actors()
    allocator = accounts[base.roles.allocator] if base.roles.allocator else None
    deployment = deploy_system(_config(base, sleeves), deployer, report=lambda _: None)
    vault = project.RWAVault.at(deployment.contracts["RWAVault"])
    asset = project.MockStablecoin.at(deployment.tokens["asset"])
    out: list[Measured] = []

    def record(name: str, tx) -> None:
        out.append(Measured(name, tx.gas_used))

    _fund(asset, seeder, SEED, vault)
    vault.deposit(SEED, seeder, sender=seeder)
    if sleeves:
        tx = vault.rebalance(FIRST_TARGETS[sleeves], b"\x01" * 32, "ipfs://1", sender=allocator)
        record("rebalance (first)", tx)
        chain.mine(timestamp=chain.pending_timestamp + DAY)
        for entry in deployment.sleeves:  # the mock NAV feeds publish daily, like real ones
            feed = project.MockAggregator.at(entry.feed)
            feed.setAnswer(feed.latestAnswer(), sender=deployer)
        tx = vault.rebalance(NEXT_TARGETS[sleeves], b"\x02" * 32, "ipfs://2", sender=allocator)
        record("rebalance", tx)
    _user_ops(vault, asset, seeder, user, record)
    if sleeves:
        amount = vault.idle() + POSITION  # more than idle holds
        record("withdraw (from sleeves)", vault.withdraw(amount, seeder, seeder, sender=seeder))
    shares = vault.convertToShares(POSITION)
    record("requestRedeem", vault.requestRedeem(shares, seeder, sender=seeder))
    record("processRedeemQueue (1 request)", vault.processRedeemQueue(1, sender=user))
    return out, asset
