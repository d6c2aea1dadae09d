"""The sleeves `ballast.deploy` creates or reuses: RWA sleeves with their token, feed and issuer
(mocks when asked), the lending book with its rate model and collateral, and their addition to
the vault in the config's order.
"""

from __future__ import annotations

from dataclasses import dataclass

from ape import project
from ape.contracts import ContractInstance

from ballast.config import CollateralConfig, ConfigError, SleeveConfig
from ballast.deploy_run import FEED_DECIMALS, DeployError, DeployRun, require_code
from ballast.deployment import CollateralEntry, SleeveEntry


def set_feed(run: DeployRun, router: ContractInstance, label: str, token: str, feed: str) -> None:
    if router.feedOf(token) != feed and run.may(
        router, router.DEFAULT_ADMIN_ROLE(), f"set the feed of {label}", "setFeed", token, feed
    ):
        router.setFeed(token, feed, sender=run.deployer)
        run.report(f"{label}: feed {feed} set on the OracleRouter")


def rwa_sleeve(
    run: DeployRun,
    spec: SleeveConfig,
    vault: ContractInstance,
    router: ContractInstance,
    asset: str,
) -> SleeveEntry:
    """The RWA sleeve `spec` describes, with its token, feed and issuer (mocks deployed if asked);
    not yet added to the vault."""
    label, key = f"sleeve {spec.name}", f"sleeve:{spec.name}"
    if spec.mock is not None:
        mock = spec.mock
        feed = run.reusable(f"{label} feed", f"{key}:feed")
        if feed is None:
            answer = mock.nav.scaleb(FEED_DECIMALS)
            if answer != answer.to_integral_value():
                raise ConfigError(f"{label}: nav {mock.nav} has more than {FEED_DECIMALS} decimals")
            feed = run.deploy(
                f"{key}:feed", project.MockAggregator, FEED_DECIMALS, f"{mock.symbol} / NAV",
                int(answer), run.deployer,
            ).address  # fmt: skip
            run.report(f"{label}: deployed MockAggregator at {feed}")
        issuer = run.reusable(f"{label} issuer", f"{key}:issuer")
        if issuer is None:
            issuer = run.deploy(
                f"{key}:issuer", project.MockIssuer, asset, feed, mock.name, mock.symbol,
                mock.decimals, mock.daily_redeem_limit * 10**mock.decimals, run.deployer,
            ).address  # fmt: skip
            run.report(f"{label}: deployed MockIssuer {mock.symbol} at {issuer}")
        token = project.MockIssuer.at(issuer).rwaToken()
    else:
        assert spec.token and spec.feed and spec.issuer  # SleeveConfig guarantees all three
        token = require_code(f"{label} token", spec.token)
        feed = require_code(f"{label} feed", spec.feed)
        issuer = require_code(f"{label} issuer", spec.issuer)

    set_feed(run, router, label, token, feed)

    sleeve = None
    if address := run.recorded(key):
        candidate = project.TokenizedRWASleeve.at(address)
        if (candidate.vault(), candidate.issuer()) == (vault.address, issuer):
            sleeve = candidate
            run.reusing(label, address)
    if sleeve is None:
        sleeve = run.deploy(key, project.TokenizedRWASleeve, vault, issuer, router)
        run.report(f"{label}: deployed TokenizedRWASleeve at {sleeve.address}")
    return SleeveEntry(
        name=spec.name, address=sleeve.address, kind=spec.kind, token=token, feed=feed,
        issuer=issuer,
    )  # fmt: skip


def _collateral(
    run: DeployRun, spec: CollateralConfig, router: ContractInstance, rwa: dict[str, SleeveEntry]
) -> CollateralEntry:
    """A sleeve's token and feed, or a configured token whose feed is set on the router."""
    if spec.sleeve is not None:
        sleeve = rwa[spec.sleeve]  # DeployConfig guarantees it names an RWA sleeve
        assert sleeve.token and sleeve.feed
        return CollateralEntry(name=spec.sleeve, token=sleeve.token, feed=sleeve.feed)
    assert spec.name and spec.token and spec.feed  # CollateralConfig guarantees all three
    label = f"collateral {spec.name}"
    token = require_code(f"{label} token", spec.token)
    feed = require_code(f"{label} feed", spec.feed)
    set_feed(run, router, label, token, feed)
    return CollateralEntry(name=spec.name, token=token, feed=feed)


def _rate_model(run: DeployRun, registry: ContractInstance) -> ContractInstance:
    """The manifest's InterestRateModel when it reads this registry, else a new one."""
    if address := run.recorded("contract:InterestRateModel"):
        model = project.InterestRateModel.at(address)
        if model.registry() == registry.address:
            run.reusing("InterestRateModel", address)
            return model
    model = run.deploy("contract:InterestRateModel", project.InterestRateModel, registry)
    run.report(f"InterestRateModel: deployed at {model.address}")
    return model


@dataclass(frozen=True)
class LendingBook:
    book: ContractInstance
    model: ContractInstance
    collateral: list[CollateralEntry]


def lending_book(
    run: DeployRun,
    spec: SleeveConfig,
    vault: ContractInstance,
    registry: ContractInstance,
    router: ContractInstance,
    rwa: dict[str, SleeveEntry],
) -> LendingBook:
    """The lending book (reused when the manifest's points at this vault), its rate model and
    its collateral, every one listed; not yet added to the vault."""
    label = f"sleeve {spec.name}"
    collateral = [_collateral(run, c, router, rwa) for c in spec.collateral]
    book = None
    key = f"book:{spec.name}"
    if address := run.recorded(key):
        candidate = project.LendingSleeve.at(address)
        if candidate.vault() == vault.address:
            book = candidate
            run.reusing(label, address)
    if book is not None:
        # The model in force: governance may have replaced the one first deployed.
        model = project.InterestRateModel.at(book.interestRateModel())
        run.report(f"InterestRateModel: reusing {model.address}, the book's")
    else:
        model = _rate_model(run, registry)
        book = run.deploy(key, project.LendingSleeve, vault, registry, router, model, run.deployer)
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
        if run.may(book, book.GOVERNANCE_ROLE(), f"list collateral {entry.name}",
                   "listCollateral", entry.token, entry.name):  # fmt: skip
            book.listCollateral(entry.token, entry.name, sender=run.deployer)
            run.report(f"{label}: collateral {entry.name} listed ({entry.token})")
    return LendingBook(book, model, collateral)


def add_sleeves(run: DeployRun, vault: ContractInstance, entries: list[SleeveEntry]) -> None:
    """Add to the vault, in the config's order, each sleeve it does not hold yet."""
    in_vault = {vault.sleeveAt(i).sleeve for i in range(vault.sleeveCount())}
    for entry in entries:
        if entry.address in in_vault:
            continue
        if run.may(vault, vault.GOVERNANCE_ROLE(), f"add sleeve {entry.name} to the vault",
                   "addSleeve", entry.address, entry.name):  # fmt: skip
            vault.addSleeve(entry.address, entry.name, sender=run.deployer)
            run.report(f"sleeve {entry.name}: added to the vault")
