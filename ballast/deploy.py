"""Deploy (or reuse) the Ballast system on the connected network and describe it.

The logic behind `ape run deploy`, kept out of the script so tests and the demo can call it.
Every contract address the config gives is checked for code before anything is sent. Re-running
is safe: whatever the previous manifest of the same chain names, and the chain still has code
for, is reused and reported as such; parameters already defined are left alone; roles already
granted are not granted again.

Wiring (DESIGN.md §Governance): the timelock holds GOVERNANCE and the admin role on the
registry, the vault and the lending book, and the admin role on the OracleRouter; the governor
proposes to the timelock and anyone executes; the guardian cancels queued operations through
`GuardianVeto` (which holds the timelock's CANCELLER role: once per action, so the guardian
delays a change by one proposal cycle at most, never vetoes governance forever) and holds the
GUARDIAN role of the registry and the vault; the steward holds STEWARD. The deployer
defines the initial parameters and the links between them (`parameter_links`), sets the
feeds, lists the book's collateral and adds the sleeves, then renounces every role it held.
Local mocks (feeds, issuers) stay owned by the deployer: it plays the market in demos.
"""

from __future__ import annotations

from ape import chain, project
from ape.api import AccountAPI
from ape.contracts import ContractInstance

from ballast.config import (
    BPS,
    CAP_PREFIX,
    COLLATERAL_PREFIXES,
    IDLE_BUFFER,
    MAX_DECISIONS_PER_WINDOW,
    TOKEN_UNIT,
    ConfigError,
    DeployConfig,
    ParameterSpec,
)
from ballast.deploy_run import (
    ZERO_ADDRESS,
    DeployError,
    DeployRun,
    NeedsTheDao,
    Report,
    has_code,
    require_code,
    same,
)
from ballast.deploy_sleeves import LendingBook, add_sleeves, lending_book, rwa_sleeve
from ballast.deployment import CollateralEntry, Deployment, SleeveEntry
from ballast.journal import Journal, config_digest
from ballast.parameters import (
    LESS_THAN,
    PRODUCT_WITH_BONUS_AT_MOST,
    RATIO_AT_MOST,
    SUM_AT_LEAST,
    format_duration,
    key_of,
)
from keepers.multicall import LOCAL_CHAIN_IDS

__all__ = ["DeployError", "NeedsTheDao", "deploy_system", "has_code", "parameter_links"]


def _agent_registry(run: DeployRun, vault, registry, treasury: str) -> ContractInstance:
    """The AgentRegistry the vault uses now, else the manifest's, when it serves this vault,
    registry and treasury; else a new one (a registry is bound to its vault for life).
    Governance may have pointed the vault at another registry since the manifest was written
    (`setAgentRegistry`): a rerun keeps that choice and records it, where it used to propose
    pointing the vault back at the manifest's."""
    recorded = run.recorded("contract:AgentRegistry")
    current = str(vault.agentRegistry())

    def serving(address: str) -> ContractInstance | None:
        candidate = project.AgentRegistry.at(address)
        built_for = (candidate.vault(), candidate.registry(), candidate.treasury())
        return candidate if built_for == (vault.address, registry.address, treasury) else None

    moved = current != ZERO_ADDRESS and current.lower() != (recorded or "").lower()
    if moved and (candidate := serving(current)) is not None:
        named = f" (the manifest named {recorded})" if recorded else ""
        run.report(f"AgentRegistry: reusing {current}, the vault's now{named}")
        return candidate
    if recorded and (candidate := serving(recorded)) is not None:
        run.reusing("AgentRegistry", recorded)
        return candidate
    agents = run.deploy("contract:AgentRegistry", project.AgentRegistry, vault, registry, treasury)
    run.report(f"AgentRegistry: deployed at {agents.address}")
    return agents


def _wire_agents(run: DeployRun, vault, agents, treasury: str) -> None:
    """Point the vault at the AgentRegistry (only its active agents rebalance). With the
    allowlist on, the registry and the treasury must hold shares (the performance fee): the
    deployer allows them, holding ALLOWLIST only for that (`deploy_system` renounces it at the
    end of every run, a resumed one included)."""
    if vault.agentRegistry() != agents.address and run.may(
        vault, vault.GOVERNANCE_ROLE(), "point the vault at the AgentRegistry", "setAgentRegistry",
        agents.address,
    ):  # fmt: skip
        vault.setAgentRegistry(agents, sender=run.deployer)
        run.report(f"vault: agents are those of the AgentRegistry {agents.address}")
    if not vault.allowlistEnabled():
        return
    missing = [a for a in (agents.address, treasury) if not vault.isAllowed(a)]
    if not missing:
        return
    role = vault.ALLOWLIST_ROLE()
    run.grant(vault, "vault ALLOWLIST (to allow the fee's receivers)", role, run.deployer.address)
    for account in missing:
        vault.setAllowed(account, True, sender=run.deployer)
        run.report(f"vault allowlist: allowed {account} (receives performance fees)")


def _check_mocks_are_local(config: DeployConfig) -> None:
    """Mocks only on a local node (DESIGN.md: real addresses elsewhere): refused before anything
    is sent. A mock asset has a faucet anyone mints from, and a mock sleeve's feed and issuer stay
    the deployer's (it sets the NAV, freezes or limits redemptions): on a real network that
    would leave one EOA pricing the vault, outside governance and the guardian."""
    if chain.chain_id in LOCAL_CHAIN_IDS:
        return
    mocks = ["asset"] if config.asset.mock is not None else []
    mocks += [f"sleeve {s.name}" for s in config.sleeves if s.mock is not None]
    if mocks:
        raise ConfigError(
            f"config: {', '.join(mocks)} {'is a mock' if len(mocks) == 1 else 'are mocks'} and "
            f"chain {chain.chain_id} is not a local node (mocks are for chains "
            f"{', '.join(map(str, sorted(LOCAL_CHAIN_IDS)))} only: their deployer sets the "
            "prices): give the real addresses; nothing was sent"
        )


def _report_governance_drift(run: DeployRun, timelock, governor, config: DeployConfig) -> None:
    """Say, for a reused timelock and governor, every setting whose value on chain is not the
    config's. Left as it is (governance changes these by proposal, as it may have done), but a
    rerun, the way to check a deployment, must not report a config it does not match as done."""
    gov = config.governance
    checks = []
    if timelock.address not in run.fresh:
        checks.append(("the timelock's minDelay", timelock.getMinDelay(), gov.timelock_delay, True))
    if governor.address not in run.fresh:
        checks += [
            ("the governor's votingDelay", governor.votingDelay(), gov.voting_delay, True),
            ("the governor's votingPeriod", governor.votingPeriod(), gov.voting_period, True),
            (
                "the governor's proposalThreshold (whole tokens)",
                governor.proposalThreshold() // TOKEN_UNIT,
                gov.proposal_threshold,
                False,
            ),
            ("the governor's quorum (%)", governor.quorumNumerator(), gov.quorum_percent, False),
        ]
    for what, on_chain, configured, duration in checks:
        if on_chain != configured:
            show = format_duration if duration else str
            run.report(
                f"differs from the config: {what} is {show(on_chain)} on chain, the config says "
                f"{show(configured)} (left as it is: governance changes it by proposal)"
            )


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
            require_code(label, address)


def _define_parameters(
    run: DeployRun, registry: ContractInstance, specs: list[ParameterSpec]
) -> None:
    defined = {bytes(key) for key in registry.keys()}
    governs = registry.hasRole(registry.GOVERNANCE_ROLE(), run.deployer)
    missing = [spec for spec in specs if key_of(spec.name) not in defined]
    for spec in missing:
        define = (spec.name, spec.value, spec.min, spec.max, spec.step_bps, spec.cooldown)
        limits = (key_of(spec.name), spec.steward_step_bps, spec.steward_cooldown)
        if not governs:
            run.leave_to_dao(f"define {spec.name}", registry, "defineParameter", *define)
            if spec.steward_step_bps:
                run.leave_to_dao("its steward limits", registry, "setStewardLimits", *limits)
            continue
        registry.defineParameter(*define, sender=run.deployer)
        if spec.steward_step_bps:
            registry.setStewardLimits(*limits, sender=run.deployer)
    done = "defined" if governs or not missing else "left to the DAO"
    run.report(f"parameters: {len(missing)} {done}, {len(specs) - len(missing)} already on chain")


MAX_STALENESS, STRIKE_MAX_WAIT = "oracle.maxStaleness", "vault.strikeMaxWait"
CONFIRM_DELAY = "oracle.confirmDelay"
EVAL_WINDOW, REBALANCE_COOLDOWN = "agent.evalWindow", "vault.rebalanceCooldown"


def parameter_links(config: DeployConfig) -> list[tuple[int, list[str], int]]:
    """The links the registry enforces between the configured parameters, as (rule, names,
    bound): oracle.maxStaleness < vault.strikeMaxWait (a strike that takes the stale path values
    at a haircut only sleeves whose price is really stale), oracle.confirmDelay <
    vault.strikeMaxWait (a price move can be confirmed before redemptions take that path), per
    collateral LTV < liquidation threshold and threshold x (1 + bonus) <= 100 % (the book's
    liquidations raise health near 1), idle buffer + every sleeve cap >= 100 % (the vault can
    place all its assets within its caps), and agent.evalWindow <= MAX_DECISIONS_PER_WINDOW x
    vault.rebalanceCooldown (an evaluation walks the decisions inside its window: the config's
    check on the bounds, kept by the registry on the live values whatever bounds governance sets
    later)."""
    links: list[tuple[int, list[str], int]] = [
        (LESS_THAN, [MAX_STALENESS, STRIKE_MAX_WAIT], 0),
        (LESS_THAN, [CONFIRM_DELAY, STRIKE_MAX_WAIT], 0),
    ]
    names = {spec.name for spec in config.parameters}
    if {EVAL_WINDOW, REBALANCE_COOLDOWN} <= names:
        links.append((RATIO_AT_MOST, [EVAL_WINDOW, REBALANCE_COOLDOWN], MAX_DECISIONS_PER_WINDOW))
    book = config.lending()
    for c in book.collateral if book else []:
        ltv, threshold, bonus = (prefix + c.label for prefix in COLLATERAL_PREFIXES[:3])
        links.append((LESS_THAN, [ltv, threshold], 0))
        links.append((PRODUCT_WITH_BONUS_AT_MOST, [threshold, bonus], BPS))
    if config.sleeves:
        caps = [CAP_PREFIX + s.name for s in config.sleeves]
        links.append((SUM_AT_LEAST, [IDLE_BUFFER, *caps], BPS))
    return links


def _link_parameters(run: DeployRun, registry: ContractInstance, config: DeployConfig) -> None:
    """Declare every link of `parameter_links` the registry does not enforce yet, and remove
    the caps-and-buffer link a new sleeve's supersedes (over the buffer and the caps of some of
    the config's sleeves, not all: left, it would still hold those caps up as if the new sleeve
    could take nothing)."""
    live = {}
    for i in range(registry.linkCount()):
        link = registry.getLink(i)
        if link.rule:
            live[(link.rule, tuple(bytes(k) for k in link.keys), link.bound)] = i
    wanted = parameter_links(config)
    missing = [
        (rule, names, bound) for rule, names, bound in wanted
        if (rule, tuple(key_of(n) for n in names), bound) not in live
    ]  # fmt: skip
    for rule, names, bound in missing:
        keys = [key_of(n) for n in names]
        if run.may(registry, registry.GOVERNANCE_ROLE(), f"link {' and '.join(names)}",
                   "addLink", rule, keys, bound):  # fmt: skip
            registry.addLink(rule, keys, bound, sender=run.deployer)
    caps = {key_of(CAP_PREFIX + s.name) for s in config.sleeves}
    for (rule, keys, bound), i in live.items():
        if (rule, bound, keys[:1]) == (SUM_AT_LEAST, BPS, (key_of(IDLE_BUFFER),)) and set(
            keys[1:]
        ) < caps:
            what = f"remove link {i}, the buffer and {len(keys) - 1} of the {len(caps)} caps"
            if run.may(registry, registry.GOVERNANCE_ROLE(), what, "removeLink", i):
                registry.removeLink(i, sender=run.deployer)
    run.report(f"links: {len(missing)} declared, {len(wanted) - len(missing)} already on chain")


def deploy_system(
    config: DeployConfig,
    deployer: AccountAPI,
    previous: Deployment | None = None,
    report: Report = print,
    journal: Journal | None = None,
) -> Deployment:
    """Deploy what `config` asks for, reusing what `previous` already has on this chain and
    what `journal` (an interrupted deploy's, see ballast.journal) records.

    The manifest's ``block`` is the first block of the system (where keepers start scanning):
    kept from `previous` while the system it describes is still on this chain, else the first
    block of the (possibly interrupted and resumed) deploy.
    """
    _check_mocks_are_local(config)
    _check_configured_contracts(config)
    journal = journal or Journal()
    first_block = journal.begin(
        chain.chain_id, deployer.address, chain.blocks.head.number + 1, has_code,
        config_digest(config),
    )  # fmt: skip
    if journal.resumed is not None:
        report(f"resuming the interrupted deploy: {len(journal.state.deployed)} contracts recorded")
    run = DeployRun(deployer, previous, report, journal)
    gov, roles = config.governance, config.roles

    asset = run.token("asset", config.asset)
    holders = list(gov.distribution)
    amounts = [gov.distribution[h] * TOKEN_UNIT for h in holders]
    token = run.contract(
        "BallastToken", project.BallastToken, gov.token_name, gov.token_symbol, holders, amounts,
        serves=lambda t: (t.name(), t.symbol()) == (gov.token_name, gov.token_symbol),
    )  # fmt: skip
    timelock = run.contract(
        "TimelockController", project.BallastTimelock, gov.timelock_delay,
        config.timelock_delay_floor(), [], [ZERO_ADDRESS], deployer,
        serves=lambda t: t.GRACE_PERIOD() > 0 and t.hasRole(bytes(32), t.address)
        and t.DELAY_FLOOR() == config.timelock_delay_floor(),
    )  # fmt: skip
    governor = run.contract(
        "BallastGovernor", project.BallastGovernor, token, timelock, gov.voting_delay,
        gov.voting_period, gov.proposal_threshold * TOKEN_UNIT, gov.quorum_percent,
        serves=lambda g: same(g.token(), token.address) and same(g.timelock(), timelock.address),
        after=(token, timelock),
    )  # fmt: skip
    _report_governance_drift(run, timelock, governor, config)
    veto = run.contract(
        "GuardianVeto", project.GuardianVeto, timelock, governor, roles.guardian,
        serves=lambda v: same(v.timelock(), timelock.address)
        and same(v.governor(), governor.address) and same(v.guardian(), roles.guardian),
        after=(timelock, governor),
    )  # fmt: skip
    registry = run.contract(
        "ParameterRegistry", project.ParameterRegistry, deployer,
        serves=lambda r: any(
            r.hasRole(r.GOVERNANCE_ROLE(), who) for who in (timelock.address, deployer.address)
        ),
        after=(timelock,),
    )  # fmt: skip

    _define_parameters(run, registry, config.parameters)
    _link_parameters(run, registry, config)

    router = run.contract(
        "OracleRouter", project.OracleRouter, registry, deployer,
        serves=lambda r: same(r.registry(), registry.address), after=(registry,),
    )  # fmt: skip
    module = run.contract(
        "RebalanceModule", project.RebalanceModule, registry,
        serves=lambda m: same(m.registry(), registry.address), after=(registry,),
    )  # fmt: skip
    vault = run.contract(
        "RWAVault", project.RWAVault, asset, registry, module, config.vault.name,
        config.vault.symbol, deployer,
        serves=lambda v: same(v.asset(), asset) and same(v.registry(), registry.address)
        and same(v.rebalanceModule(), module.address),
        after=(asset, registry, module),
    )  # fmt: skip
    relay = run.contract(
        "ClaimRelay", project.ClaimRelay, vault,
        serves=lambda r: same(r.vault(), vault.address), after=(vault,),
    )  # fmt: skip
    treasury = roles.treasury or timelock.address
    agents = _agent_registry(run, vault, registry, treasury)
    # RWA sleeves first: the lending book may lend against their tokens, wherever it is listed.
    rwa = {
        spec.name: rwa_sleeve(run, spec, vault, router, asset)
        for spec in config.sleeves
        if spec.kind == "TokenizedRWASleeve"
    }
    entries = dict(rwa)
    lending: LendingBook | None = None
    if (book_spec := config.lending()) is not None:
        lending = lending_book(run, book_spec, vault, registry, router, rwa)
        entries[book_spec.name] = SleeveEntry(
            name=book_spec.name, address=lending.book.address, kind=book_spec.kind
        )
    sleeves = [entries[spec.name] for spec in config.sleeves]
    add_sleeves(run, vault, sleeves)
    if vault.allowlistEnabled() != config.vault.allowlist and run.may(
        vault, vault.GOVERNANCE_ROLE(), "switch the vault's allowlist", "setAllowlistEnabled",
        config.vault.allowlist,
    ):  # fmt: skip
        vault.setAllowlistEnabled(config.vault.allowlist, sender=deployer)
        run.report(f"vault allowlist {'on' if config.vault.allowlist else 'off'}")

    _wire_agents(run, vault, agents, treasury)
    run.grant(vault, "vault GUARDIAN", vault.GUARDIAN_ROLE(), roles.guardian)
    if roles.allowlist_manager:
        run.grant(vault, "vault ALLOWLIST", vault.ALLOWLIST_ROLE(), roles.allowlist_manager)
    run.grant(vault, "vault GOVERNANCE", vault.GOVERNANCE_ROLE(), timelock.address)
    run.grant(vault, "vault ADMIN", vault.DEFAULT_ADMIN_ROLE(), timelock.address)
    run.grant(router, "router ADMIN", router.DEFAULT_ADMIN_ROLE(), timelock.address)
    if (roles.allowlist_manager or "").lower() != deployer.address.lower():
        # Whatever an earlier, interrupted run left: the deployer keeps no allowlist power.
        run.renounce(vault, "vault ALLOWLIST", vault.ALLOWLIST_ROLE())
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
    run.grant(timelock, "timelock CANCELLER", timelock.CANCELLER_ROLE(), veto.address)
    run.grant(registry, "registry GOVERNANCE", registry.GOVERNANCE_ROLE(), timelock.address)
    run.grant(registry, "registry GUARDIAN", registry.GUARDIAN_ROLE(), roles.guardian)
    run.grant(registry, "registry STEWARD", registry.STEWARD_ROLE(), roles.steward)
    run.grant(registry, "registry ADMIN", registry.DEFAULT_ADMIN_ROLE(), timelock.address)
    run.renounce(registry, "registry GOVERNANCE", registry.GOVERNANCE_ROLE())
    run.renounce(registry, "registry ADMIN", registry.DEFAULT_ADMIN_ROLE())
    run.renounce(timelock, "timelock ADMIN", timelock.DEFAULT_ADMIN_ROLE())

    if run.for_dao:  # everything else is done; the journal keeps what this run deployed
        raise NeedsTheDao(run.for_dao)
    contracts = {
        "BallastToken": token.address,
        "BallastGovernor": governor.address,
        "TimelockController": timelock.address,
        "GuardianVeto": veto.address,
        "ParameterRegistry": registry.address,
        "OracleRouter": router.address,
        "RebalanceModule": module.address,
        "RWAVault": vault.address,
        "ClaimRelay": relay.address,
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
