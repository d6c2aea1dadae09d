"""Deploy (or reuse) the Ballast system on the connected network and describe it.

The logic behind `ape run deploy`, kept out of the script so tests and the demo can call it.
Re-running is safe: whatever the previous manifest of the same chain names, and the chain still
has code for, is reused and reported as such; parameters already defined are left alone; roles
already granted are not granted again.

Wiring (DESIGN.md §Governance): the timelock holds GOVERNANCE and the admin role on the
registry; the governor proposes to the timelock and anyone executes; the guardian holds the
timelock's CANCELLER role and the registry's GUARDIAN role; the steward holds STEWARD. The
deployer defines the initial parameters, then renounces every role it held.
"""

from __future__ import annotations

from collections.abc import Callable

from ape import chain, project
from ape.api import AccountAPI
from ape.contracts import ContractContainer, ContractInstance

from ballast.config import TOKEN_UNIT, ConfigError, DeployConfig, ParameterSpec, TokenSpec
from ballast.deployment import Deployment
from ballast.parameters import key_of

Report = Callable[[str], None]
ZERO_ADDRESS = "0x" + "00" * 20


class DeployError(Exception):
    """The deployment cannot go on; the message is one line for users."""


class _Run:
    """One deploy run: what it reuses, what it sends."""

    def __init__(self, deployer: AccountAPI, previous: Deployment | None, report: Report):
        self.deployer = deployer
        self.report = report
        same_chain = previous is not None and previous.chain_id == chain.chain_id
        self.previous = previous if same_chain else None
        self.reused = False

    def _reusable(self, section: str, name: str) -> str | None:
        if self.previous is None:
            return None
        address = getattr(self.previous, section).get(name)
        if address and len(chain.provider.get_code(address)) > 0:
            self.reused = True
            return address
        return None

    def contract(self, name: str, container: ContractContainer, *args) -> ContractInstance:
        if address := self._reusable("contracts", name):
            self.report(f"{name}: reusing {address} from the manifest")
            return container.at(address)
        instance = self.deployer.deploy(container, *args)
        self.report(f"{name}: deployed at {instance.address}")
        return instance

    def token(self, name: str, spec: TokenSpec) -> str:
        if spec.address is not None:
            if len(chain.provider.get_code(spec.address)) == 0:
                raise ConfigError(
                    f"{name}: no contract at {spec.address} on chain {chain.chain_id}"
                )
            self.report(f"{name}: using configured token {spec.address}")
            return spec.address
        assert spec.mock is not None  # TokenSpec guarantees one of the two
        if address := self._reusable("tokens", name):
            self.report(f"{name}: reusing {address} from the manifest")
            return address
        token = self.deployer.deploy(project.MockStablecoin, spec.mock.name, spec.mock.symbol)
        self.report(f"{name}: deployed MockStablecoin {spec.mock.symbol} at {token.address}")
        return token.address

    def grant(self, target: ContractInstance, label: str, role: bytes, account: str) -> None:
        """Grant `role` unless `account` has it; the deployer must still administer it."""
        if target.hasRole(role, account):
            return
        if not target.hasRole(target.getRoleAdmin(role), self.deployer):
            raise DeployError(
                f"{label} is missing on {target.address} for {account} and the deployer no longer "
                "administers it: grant it through governance"
            )
        target.grantRole(role, account, sender=self.deployer)
        self.report(f"granted {label} to {account}")

    def renounce(self, target: ContractInstance, label: str, role: bytes) -> None:
        if target.hasRole(role, self.deployer):
            target.renounceRole(role, self.deployer, sender=self.deployer)
            self.report(f"deployer renounced {label}")


def _define_parameters(run: _Run, registry: ContractInstance, specs: list[ParameterSpec]) -> None:
    defined = {bytes(key) for key in registry.keys()}
    governs = registry.hasRole(registry.GOVERNANCE_ROLE(), run.deployer)
    missing = [spec for spec in specs if key_of(spec.name) not in defined]
    for spec in missing:
        if not governs:
            raise DeployError(
                f"parameter {spec.name} is not defined on chain and the deployer no longer "
                "governs the registry: define it by proposal (ape run params)"
            )
        registry.defineParameter(
            spec.name, spec.value, spec.min, spec.max, spec.step_bps, spec.cooldown,
            sender=run.deployer,
        )  # fmt: skip
        if spec.steward_step_bps:
            registry.setStewardLimits(
                key_of(spec.name), spec.steward_step_bps, spec.steward_cooldown, sender=run.deployer
            )
    run.report(f"parameters: {len(missing)} defined, {len(specs) - len(missing)} already on chain")


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
    run = _Run(deployer, previous, report)
    gov, roles = config.governance, config.roles

    asset = run.token("asset", config.asset)
    holders = list(gov.distribution)
    amounts = [gov.distribution[h] * TOKEN_UNIT for h in holders]
    token = run.contract(
        "BallastToken", project.BallastToken, gov.token_name, gov.token_symbol, holders, amounts
    )
    timelock = run.contract(
        "TimelockController", project.BallastTimelock, gov.timelock_delay, [], [ZERO_ADDRESS],
        deployer,
    )  # fmt: skip
    governor = run.contract(
        "BallastGovernor", project.BallastGovernor, token, timelock, gov.voting_delay,
        gov.voting_period, gov.proposal_threshold * TOKEN_UNIT, gov.quorum_percent,
    )  # fmt: skip
    registry = run.contract("ParameterRegistry", project.ParameterRegistry, deployer)

    _define_parameters(run, registry, config.parameters)

    run.grant(timelock, "timelock PROPOSER", timelock.PROPOSER_ROLE(), governor.address)
    run.grant(timelock, "timelock CANCELLER", timelock.CANCELLER_ROLE(), governor.address)
    run.grant(timelock, "timelock CANCELLER", timelock.CANCELLER_ROLE(), roles.guardian)
    run.grant(registry, "registry GOVERNANCE", registry.GOVERNANCE_ROLE(), timelock.address)
    run.grant(registry, "registry GUARDIAN", registry.GUARDIAN_ROLE(), roles.guardian)
    run.grant(registry, "registry STEWARD", registry.STEWARD_ROLE(), roles.steward)
    run.grant(registry, "registry ADMIN", registry.DEFAULT_ADMIN_ROLE(), timelock.address)
    run.renounce(registry, "registry GOVERNANCE", registry.GOVERNANCE_ROLE())
    run.renounce(registry, "registry ADMIN", registry.DEFAULT_ADMIN_ROLE())
    run.renounce(timelock, "timelock ADMIN", timelock.DEFAULT_ADMIN_ROLE())

    return Deployment(
        chain_id=chain.chain_id,
        block=run.previous.block if run.previous and run.reused else first_block,
        deployer=deployer.address,
        contracts={
            "BallastToken": token.address,
            "BallastGovernor": governor.address,
            "TimelockController": timelock.address,
            "ParameterRegistry": registry.address,
        },
        tokens={"asset": asset},
        roles={"guardian": roles.guardian, "steward": roles.steward},
    )
