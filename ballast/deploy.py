"""Deploy (or reuse) the Ballast system on the connected network and describe it.

The logic behind `ape run deploy`, kept out of the script so tests and the demo can call it.
Every contract address the config gives is checked for code before anything is sent. Re-running
is safe: whatever the previous manifest of the same chain names, and the chain still has code
for, is reused and reported as such; parameters already defined are left alone; roles already
granted are not granted again.

Wiring (DESIGN.md §Governance): the timelock holds GOVERNANCE and the admin role on the
registry, the vault and the lending book, and the admin role on the OracleRouter; the governor
proposes to the timelock and anyone executes; the guardian holds the timelock's CANCELLER role
and the GUARDIAN role of the registry and the vault; the steward holds STEWARD. The deployer
defines the initial parameters and the links between them (`parameter_links`), sets the
feeds, lists the book's collateral and adds the sleeves, then renounces every role it held.
Local mocks (feeds, issuers) stay owned by the deployer: it plays the market in demos.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ape import chain, project
from ape.api import AccountAPI
from ape.contracts import ContractContainer, ContractInstance

from ballast.config import (
    BPS,
    CAP_PREFIX,
    COLLATERAL_PREFIXES,
    IDLE_BUFFER,
    TOKEN_UNIT,
    CollateralConfig,
    ConfigError,
    DeployConfig,
    ParameterSpec,
    SleeveConfig,
    TokenSpec,
)
from ballast.deployment import CollateralEntry, Deployment, SleeveEntry
from ballast.parameters import key_of

Report = Callable[[str], None]
ZERO_ADDRESS = "0x" + "00" * 20
FEED_DECIMALS = 8  # mock feeds quote like Chainlink's USD feeds


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
        if address and has_code(address):
            self.reused = True
            return address
        return None

    def previous_sleeve(self, name: str) -> SleeveEntry | None:
        if self.previous is None:
            return None
        return next((s for s in self.previous.sleeves if s.name == name), None)

    def reusable_address(self, label: str, address: str | None) -> str | None:
        """`address` when it still has code on this chain (and say it is reused)."""
        if address and has_code(address):
            self.reused = True
            self.report(f"{label}: reusing {address} from the manifest")
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
            if not has_code(spec.address):
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

    def require(self, target: ContractInstance, role: bytes, what: str) -> None:
        """Refuse clearly when the deployer no longer holds `role` on `target`."""
        if not target.hasRole(role, self.deployer):
            raise DeployError(
                f"{what} needs a role on {target.address} the deployer no longer holds: "
                "do it through governance (ape run params)"
            )

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


def _agent_registry(run: _Run, vault, registry, treasury: str) -> ContractInstance:
    """The manifest's AgentRegistry when it serves this vault, registry and treasury; else a
    new one (a registry is bound to its vault for life)."""
    address = run.previous.contracts.get("AgentRegistry") if run.previous else None
    if address and has_code(address):
        candidate = project.AgentRegistry.at(address)
        if (candidate.vault(), candidate.registry(), candidate.treasury()) == (
            vault.address, registry.address, treasury,
        ):  # fmt: skip
            run.reused = True
            run.report(f"AgentRegistry: reusing {address} from the manifest")
            return candidate
    agents = run.deployer.deploy(project.AgentRegistry, vault, registry, treasury)
    run.report(f"AgentRegistry: deployed at {agents.address}")
    return agents


def _wire_agents(run: _Run, vault, agents, treasury: str) -> None:
    """Point the vault at the AgentRegistry (only its active agents rebalance). With the
    allowlist on, the registry and the treasury must hold shares (the performance fee): the
    deployer allows them, holding ALLOWLIST only for that."""
    if vault.agentRegistry() != agents.address:
        run.require(vault, vault.GOVERNANCE_ROLE(), "pointing the vault at the AgentRegistry")
        vault.setAgentRegistry(agents, sender=run.deployer)
        run.report(f"vault: agents are those of the AgentRegistry {agents.address}")
    if not vault.allowlistEnabled():
        return
    missing = [a for a in (agents.address, treasury) if not vault.isAllowed(a)]
    if not missing:
        return
    role = vault.ALLOWLIST_ROLE()
    held = vault.hasRole(role, run.deployer)
    run.grant(vault, "vault ALLOWLIST (to allow the fee's receivers)", role, run.deployer.address)
    for account in missing:
        vault.setAllowed(account, True, sender=run.deployer)
        run.report(f"vault allowlist: allowed {account} (receives performance fees)")
    if not held:
        run.renounce(vault, "vault ALLOWLIST", role)


def has_code(address: str) -> bool:
    return len(chain.provider.get_code(address)) > 0


def _require_code(label: str, address: str) -> str:
    if not has_code(address):
        raise ConfigError(f"{label}: no contract at {address} on chain {chain.chain_id}")
    return address


def _check_configured_contracts(config: DeployConfig) -> None:
    """Every contract the config gives by address has code here: refused before anything is
    sent (a placeholder or another network's address must not leave a half-deployed system)."""
    given = [("asset", config.asset.address)]
    for sleeve in config.sleeves:
        label = f"sleeve {sleeve.name}"
        given += [(f"{label} token", sleeve.token), (f"{label} feed", sleeve.feed)]
        given += [(f"{label} issuer", sleeve.issuer)]
        for c in sleeve.collateral:
            label = f"collateral {c.name}"
            given += [(f"{label} token", c.token), (f"{label} feed", c.feed)]
    for label, address in given:
        if address is not None:
            _require_code(label, address)


def _set_feed(run: _Run, router: ContractInstance, label: str, token: str, feed: str) -> None:
    if router.feedOf(token) != feed:
        run.require(router, router.DEFAULT_ADMIN_ROLE(), f"the feed of {label}")
        router.setFeed(token, feed, sender=run.deployer)
        run.report(f"{label}: feed {feed} set on the OracleRouter")


def _rwa_sleeve(
    run: _Run, spec: SleeveConfig, vault: ContractInstance, router: ContractInstance, asset: str
) -> SleeveEntry:
    """The RWA sleeve `spec` describes, with its token, feed and issuer (mocks deployed if asked);
    not yet added to the vault."""
    prev = run.previous_sleeve(spec.name)
    label = f"sleeve {spec.name}"
    if spec.mock is not None:
        mock = spec.mock
        feed = run.reusable_address(f"{label} feed", prev and prev.feed)
        if feed is None:
            answer = mock.nav.scaleb(FEED_DECIMALS)
            if answer != answer.to_integral_value():
                raise ConfigError(f"{label}: nav {mock.nav} has more than {FEED_DECIMALS} decimals")
            feed = run.deployer.deploy(
                project.MockAggregator, FEED_DECIMALS, f"{mock.symbol} / NAV", int(answer),
                run.deployer,
            ).address  # fmt: skip
            run.report(f"{label}: deployed MockAggregator at {feed}")
        issuer = run.reusable_address(f"{label} issuer", prev and prev.issuer)
        if issuer is None:
            issuer = run.deployer.deploy(
                project.MockIssuer, asset, feed, mock.name, mock.symbol, mock.decimals,
                mock.daily_redeem_limit * 10**mock.decimals, run.deployer,
            ).address  # fmt: skip
            run.report(f"{label}: deployed MockIssuer {mock.symbol} at {issuer}")
        token = project.MockIssuer.at(issuer).rwaToken()
    else:
        assert spec.token and spec.feed and spec.issuer  # SleeveConfig guarantees all three
        token = _require_code(f"{label} token", spec.token)
        feed = _require_code(f"{label} feed", spec.feed)
        issuer = _require_code(f"{label} issuer", spec.issuer)

    _set_feed(run, router, label, token, feed)

    sleeve = None
    if prev and prev.issuer == issuer and has_code(prev.address):
        candidate = project.TokenizedRWASleeve.at(prev.address)
        if candidate.vault() == vault.address:
            sleeve = candidate
            run.reused = True
            run.report(f"{label}: reusing {sleeve.address} from the manifest")
    if sleeve is None:
        sleeve = run.deployer.deploy(project.TokenizedRWASleeve, vault, issuer, router)
        run.report(f"{label}: deployed TokenizedRWASleeve at {sleeve.address}")
    return SleeveEntry(
        name=spec.name, address=sleeve.address, kind=spec.kind, token=token, feed=feed,
        issuer=issuer,
    )  # fmt: skip


def _collateral(
    run: _Run, spec: CollateralConfig, router: ContractInstance, rwa: dict[str, SleeveEntry]
) -> CollateralEntry:
    """A sleeve's token and feed, or a configured token whose feed is set on the router."""
    if spec.sleeve is not None:
        sleeve = rwa[spec.sleeve]  # DeployConfig guarantees it names an RWA sleeve
        assert sleeve.token and sleeve.feed
        return CollateralEntry(name=spec.sleeve, token=sleeve.token, feed=sleeve.feed)
    assert spec.name and spec.token and spec.feed  # CollateralConfig guarantees all three
    label = f"collateral {spec.name}"
    token = _require_code(f"{label} token", spec.token)
    feed = _require_code(f"{label} feed", spec.feed)
    _set_feed(run, router, label, token, feed)
    return CollateralEntry(name=spec.name, token=token, feed=feed)


def _rate_model(run: _Run, registry: ContractInstance) -> ContractInstance:
    """The manifest's InterestRateModel when it reads this registry, else a new one."""
    address = run.previous.contracts.get("InterestRateModel") if run.previous else None
    if address and has_code(address):
        model = project.InterestRateModel.at(address)
        if model.registry() == registry.address:
            run.reused = True
            run.report(f"InterestRateModel: reusing {address} from the manifest")
            return model
    model = run.deployer.deploy(project.InterestRateModel, registry)
    run.report(f"InterestRateModel: deployed at {model.address}")
    return model


@dataclass(frozen=True)
class _Lending:
    book: ContractInstance
    model: ContractInstance
    collateral: list[CollateralEntry]


def _lending_book(
    run: _Run,
    spec: SleeveConfig,
    vault: ContractInstance,
    registry: ContractInstance,
    router: ContractInstance,
    rwa: dict[str, SleeveEntry],
) -> _Lending:
    """The lending book (reused when the manifest's points at this vault), its rate model and
    its collateral, every one listed; not yet added to the vault."""
    label = f"sleeve {spec.name}"
    collateral = [_collateral(run, c, router, rwa) for c in spec.collateral]
    book = None
    prev = run.previous_sleeve(spec.name)
    if prev and prev.kind == "LendingSleeve" and has_code(prev.address):
        candidate = project.LendingSleeve.at(prev.address)
        if candidate.vault() == vault.address:
            book = candidate
            run.reused = True
            run.report(f"{label}: reusing {book.address} from the manifest")
    if book is not None:
        # The model in force: governance may have replaced the one first deployed.
        model = project.InterestRateModel.at(book.interestRateModel())
        run.report(f"InterestRateModel: reusing {model.address}, the book's")
    else:
        model = _rate_model(run, registry)
        book = run.deployer.deploy(
            project.LendingSleeve, vault, registry, router, model, run.deployer
        )
        run.report(f"{label}: deployed LendingSleeve at {book.address}")

    listed = set(book.collateralTokens())
    for entry in collateral:
        if entry.token in listed:
            if (name := book.collateralName(entry.token)) != entry.name:
                raise DeployError(
                    f"{label}: {entry.token} is listed on the book as collateral {name!r}, "
                    f"the config calls it {entry.name!r}"
                )
            continue
        run.require(book, book.GOVERNANCE_ROLE(), f"listing collateral {entry.name}")
        book.listCollateral(entry.token, entry.name, sender=run.deployer)
        run.report(f"{label}: collateral {entry.name} listed ({entry.token})")
    return _Lending(book, model, collateral)


def _add_sleeves(run: _Run, vault: ContractInstance, entries: list[SleeveEntry]) -> None:
    """Add to the vault, in the config's order, each sleeve it does not hold yet."""
    in_vault = {vault.sleeveAt(i).sleeve for i in range(vault.sleeveCount())}
    for entry in entries:
        if entry.address in in_vault:
            continue
        run.require(vault, vault.GOVERNANCE_ROLE(), f"adding sleeve {entry.name} to the vault")
        vault.addSleeve(entry.address, entry.name, sender=run.deployer)
        run.report(f"sleeve {entry.name}: added to the vault")


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


LESS_THAN, PRODUCT_WITH_BONUS_AT_MOST, SUM_AT_LEAST = 1, 2, 3  # IParameterRegistry.LinkRule


def parameter_links(config: DeployConfig) -> list[tuple[int, list[str], int]]:
    """The links the registry enforces between the configured parameters, as (rule, names,
    bound): per collateral LTV < liquidation threshold and threshold x (1 + bonus) <= 100 %
    (the book's liquidations raise health near 1), and idle buffer + every sleeve cap >= 100 %
    (the vault can place all its assets within its caps)."""
    links: list[tuple[int, list[str], int]] = []
    book = config.lending()
    for c in book.collateral if book else []:
        ltv, threshold, bonus = (prefix + c.label for prefix in COLLATERAL_PREFIXES[:3])
        links.append((LESS_THAN, [ltv, threshold], 0))
        links.append((PRODUCT_WITH_BONUS_AT_MOST, [threshold, bonus], BPS))
    if config.sleeves:
        caps = [CAP_PREFIX + s.name for s in config.sleeves]
        links.append((SUM_AT_LEAST, [IDLE_BUFFER, *caps], BPS))
    return links


def _link_parameters(run: _Run, registry: ContractInstance, config: DeployConfig) -> None:
    """Declare every link of `parameter_links` the registry does not enforce yet."""
    live = set()
    for i in range(registry.linkCount()):
        link = registry.getLink(i)
        if link.rule:
            live.add((link.rule, tuple(bytes(k) for k in link.keys), link.bound))
    wanted = parameter_links(config)
    missing = [
        (rule, names, bound) for rule, names, bound in wanted
        if (rule, tuple(key_of(n) for n in names), bound) not in live
    ]  # fmt: skip
    for rule, names, bound in missing:
        if not registry.hasRole(registry.GOVERNANCE_ROLE(), run.deployer):
            raise DeployError(
                f"the link between {' and '.join(names)} is not declared on chain and the "
                "deployer no longer governs the registry: declare it by proposal (addLink)"
            )
        registry.addLink(rule, [key_of(n) for n in names], bound, sender=run.deployer)
    run.report(f"links: {len(missing)} declared, {len(wanted) - len(missing)} already on chain")


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
    _check_configured_contracts(config)
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
    _link_parameters(run, registry, config)

    router = run.contract("OracleRouter", project.OracleRouter, registry, deployer)
    module = run.contract("RebalanceModule", project.RebalanceModule, registry)
    vault = run.contract(
        "RWAVault", project.RWAVault, asset, registry, module, config.vault.name,
        config.vault.symbol, deployer,
    )  # fmt: skip
    treasury = roles.treasury or timelock.address
    agents = _agent_registry(run, vault, registry, treasury)
    # RWA sleeves first: the lending book may lend against their tokens, wherever it is listed.
    rwa = {
        spec.name: _rwa_sleeve(run, spec, vault, router, asset)
        for spec in config.sleeves
        if spec.kind == "TokenizedRWASleeve"
    }
    entries = dict(rwa)
    lending: _Lending | None = None
    if (book_spec := config.lending()) is not None:
        lending = _lending_book(run, book_spec, vault, registry, router, rwa)
        entries[book_spec.name] = SleeveEntry(
            name=book_spec.name, address=lending.book.address, kind=book_spec.kind
        )
    sleeves = [entries[spec.name] for spec in config.sleeves]
    _add_sleeves(run, vault, sleeves)
    if vault.allowlistEnabled() != config.vault.allowlist:
        run.require(vault, vault.GOVERNANCE_ROLE(), "switching the vault's allowlist")
        vault.setAllowlistEnabled(config.vault.allowlist, sender=deployer)
        run.report(f"vault allowlist {'on' if config.vault.allowlist else 'off'}")

    _wire_agents(run, vault, agents, treasury)
    run.grant(vault, "vault GUARDIAN", vault.GUARDIAN_ROLE(), roles.guardian)
    if roles.allowlist_manager:
        run.grant(vault, "vault ALLOWLIST", vault.ALLOWLIST_ROLE(), roles.allowlist_manager)
    run.grant(vault, "vault GOVERNANCE", vault.GOVERNANCE_ROLE(), timelock.address)
    run.grant(vault, "vault ADMIN", vault.DEFAULT_ADMIN_ROLE(), timelock.address)
    run.grant(router, "router ADMIN", router.DEFAULT_ADMIN_ROLE(), timelock.address)
    run.renounce(vault, "vault GOVERNANCE", vault.GOVERNANCE_ROLE())
    run.renounce(vault, "vault ADMIN", vault.DEFAULT_ADMIN_ROLE())
    run.renounce(router, "router ADMIN", router.DEFAULT_ADMIN_ROLE())
    if lending is not None:
        book = lending.book
        run.grant(book, "lending GOVERNANCE", book.GOVERNANCE_ROLE(), timelock.address)
        run.grant(book, "lending ADMIN", book.DEFAULT_ADMIN_ROLE(), timelock.address)
        run.renounce(book, "lending GOVERNANCE", book.GOVERNANCE_ROLE())
        run.renounce(book, "lending ADMIN", book.DEFAULT_ADMIN_ROLE())

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

    contracts = {
        "BallastToken": token.address,
        "BallastGovernor": governor.address,
        "TimelockController": timelock.address,
        "ParameterRegistry": registry.address,
        "OracleRouter": router.address,
        "RebalanceModule": module.address,
        "RWAVault": vault.address,
        "AgentRegistry": agents.address,
    }
    collateral: list[CollateralEntry] = []
    if lending is not None:
        contracts["InterestRateModel"] = lending.model.address
        contracts["LendingSleeve"] = lending.book.address
        collateral = lending.collateral
    return Deployment(
        chain_id=chain.chain_id,
        block=run.previous.block if run.previous and run.reused else first_block,
        deployer=deployer.address,
        contracts=contracts,
        sleeves=sleeves,
        collateral=collateral,
        tokens={
            "asset": asset,
            **{entry.name: entry.token for entry in sleeves if entry.token},
            **{entry.name: entry.token for entry in collateral},
        },
        roles={
            name: address
            for name, address in (
                ("guardian", roles.guardian),
                ("steward", roles.steward),
                ("treasury", treasury),
                ("allowlist_manager", roles.allowlist_manager),
            )
            if address is not None
        },
    )
