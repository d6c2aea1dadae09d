"""Deploy (or reuse) the Ballast system on the connected network and describe it.

The logic behind `ape run deploy`, kept out of the script so tests and the demo can call it.
Re-running is safe: whatever the previous manifest of the same chain names, and the chain still
has code for, is reused and reported as such.
"""

from __future__ import annotations

from collections.abc import Callable

from ape import chain, project
from ape.api import AccountAPI

from ballast.config import ConfigError, DeployConfig, TokenSpec
from ballast.deployment import Deployment

Report = Callable[[str], None]


def _has_code(address: str) -> bool:
    return len(chain.provider.get_code(address)) > 0


def _reusable(previous: Deployment | None, section: str, name: str) -> str | None:
    """An address from the previous manifest of this chain that still holds code."""
    if previous is None or previous.chain_id != chain.chain_id:
        return None
    address = getattr(previous, section).get(name)
    return address if address and _has_code(address) else None


def _token(
    name: str, spec: TokenSpec, deployer: AccountAPI, previous: Deployment | None, report: Report
) -> str:
    if spec.address is not None:
        if not _has_code(spec.address):
            raise ConfigError(f"{name}: no contract at {spec.address} on chain {chain.chain_id}")
        report(f"{name}: using configured token {spec.address}")
        return spec.address
    assert spec.mock is not None  # TokenSpec guarantees one of the two
    if address := _reusable(previous, "tokens", name):
        report(f"{name}: reusing {address} from the manifest")
        return address
    token = deployer.deploy(project.MockStablecoin, spec.mock.name, spec.mock.symbol)
    report(f"{name}: deployed MockStablecoin {spec.mock.symbol} at {token.address}")
    return token.address


def deploy_system(
    config: DeployConfig,
    deployer: AccountAPI,
    previous: Deployment | None = None,
    report: Report = print,
) -> Deployment:
    """Deploy what `config` asks for, reusing what `previous` already has on this chain.

    The manifest's ``block`` is the first block of the system (where keepers start scanning):
    kept from `previous` while the system it describes is still on this chain.
    """
    first_block = chain.blocks.head.number + 1
    same_chain = previous is not None and previous.chain_id == chain.chain_id
    tokens = {"asset": _token("asset", config.asset, deployer, previous, report)}
    reused = same_chain and any(previous.tokens.get(k) == v for k, v in tokens.items())
    return Deployment(
        chain_id=chain.chain_id,
        block=previous.block if reused else first_block,
        deployer=deployer.address,
        tokens=tokens,
    )
