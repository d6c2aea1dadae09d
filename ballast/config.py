"""Deploy configuration: ``deployments/config/<network>.yaml``.

One file per network says what to deploy and what to reuse: real token addresses on real
networks, mocks on local ones. Later parts of the system add their sections here; unknown keys
are refused so that a typo never silently deploys defaults. The sections are
`ballast.config_sections`; this module assembles them (:class:`DeployConfig`), checks the rules
that span sections (caps and buffer, the lending book's collateral, the timelock against the
depositors' exit time) and loads the YAML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Self

import yaml
from pydantic import Field, ValidationError, model_validator

from ballast import parameters
from ballast.config_sections import (
    BONUS_PREFIX,
    BORROW_CAP_PREFIX,
    BPS,
    CAP_PREFIX,
    COLLATERAL_PREFIXES,
    DAY,
    IDLE_BUFFER,
    LENDING_PARAMETERS,
    LTV_PREFIX,
    MOCK_ASSET_DECIMALS,
    REQUIRED_PARAMETERS,
    THRESHOLD_PREFIX,
    TOKEN_UNIT,
    CollateralConfig,
    ConfigError,
    GovernanceConfig,
    MockRWA,
    MockToken,
    ParameterSpec,
    RolesConfig,
    SleeveConfig,
    Strict,
    TokenSpec,
    VaultConfig,
)
from ballast.yamlfile import load_yaml, yaml_problem

# BallastTimelock.GRACE_PERIOD: how long after its ready time a queued operation may execute; a
# freeze must end this margin before it, so one started up to the margin after a change became
# ready only delays it.
TIMELOCK_GRACE_PERIOD = 90 * DAY
FREEZE_GRACE_MARGIN = 30 * DAY
# After a shutdown the lending book's loans are called and fall due this long after (its max
# bound counts in the depositors' exit time).
NOTICE = "lend.callNoticePeriod"
# An evaluation walks every decision the vault took in its window after it (IAgentRegistry,
# "Evaluation"; about 34k gas each with three sleeves), and the vault takes one decision per
# vault.rebalanceCooldown: the longest window over the shortest cooldown bounds that walk, so a
# griefer's no-op decisions can never make an evaluation too long for a block (and lock the
# judged agent's bond for good). Deploy also links the live values (RATIO_AT_MOST), so new bounds
# never lift it.
MAX_DECISIONS_PER_WINDOW = 120

__all__ = [  # the sections, re-exported: callers import the whole config from here
    "BONUS_PREFIX",
    "BORROW_CAP_PREFIX",
    "BPS",
    "CAP_PREFIX",
    "COLLATERAL_PREFIXES",
    "DAY",
    "IDLE_BUFFER",
    "LENDING_PARAMETERS",
    "LTV_PREFIX",
    "MOCK_ASSET_DECIMALS",
    "REQUIRED_PARAMETERS",
    "THRESHOLD_PREFIX",
    "TOKEN_UNIT",
    "CollateralConfig",
    "ConfigError",
    "DeployConfig",
    "ExitTime",
    "GovernanceConfig",
    "MockRWA",
    "MockToken",
    "ParameterSpec",
    "RolesConfig",
    "SleeveConfig",
    "TokenSpec",
    "VaultConfig",
]


@dataclass(frozen=True)
class ExitTime:
    """How long one sleeve's issuer needs to redeem the largest holding the vault may have in it:
    how long a depositor may have to wait for that sleeve's part of a full exit."""

    sleeve: str
    days: Fraction
    how: str
    """The computation, in words and numbers, for messages."""
    strike_wait: Fraction = Fraction(0)
    """Days a redemption may wait for the strike that settles it on top of the issuer's time
    (``vault.strikeMaxWait`` at its max bound; :meth:`DeployConfig.exit_time` sets it)."""

    @property
    def total(self) -> Fraction:
        """The issuer's days plus the strike wait: the whole exit."""
        return self.days + self.strike_wait


def _number(value: Fraction) -> str:
    if value.denominator == 1:
        return f"{value.numerator:,}"
    return f"{float(value):,.2f}"


class DeployConfig(Strict):
    """Everything `ape run deploy` needs to know about one network."""

    asset: TokenSpec
    governance: GovernanceConfig
    roles: RolesConfig
    vault: VaultConfig = VaultConfig()
    sleeves: list[SleeveConfig] = Field(default_factory=list, max_length=10)
    parameters: list[ParameterSpec]

    @model_validator(mode="after")
    def _system_rules(self) -> Self:
        seen: set[str] = set()
        for spec in self.parameters:
            if spec.name in seen:
                raise ValueError(f"parameter {spec.name!r} is listed twice")
            seen.add(spec.name)
        names = [sleeve.name for sleeve in self.sleeves]
        if len(set(names)) != len(names):
            raise ValueError("sleeves: every sleeve needs a unique name")
        for name in sorted(REQUIRED_PARAMETERS - seen):
            raise ValueError(f"parameter {name!r} is required (the deployed contracts read it)")
        caps = {n.removeprefix(CAP_PREFIX) for n in seen if n.startswith(CAP_PREFIX)}
        for name in names:
            if name not in caps:
                raise ValueError(f"sleeve {name!r} needs the parameter {CAP_PREFIX}{name}")
        for name in sorted(caps - set(names)):
            raise ValueError(f"parameter {CAP_PREFIX}{name} names no sleeve")
        self._lending_rules({spec.name: spec for spec in self.parameters})
        values = {spec.name: spec.value for spec in self.parameters}
        # The registry's link (deploy declares it): past vault.strikeMaxWait a strike values the
        # sleeves whose price is older than a window's cut-off at a haircut; with a staleness at
        # least as long, a fresh price could be cut (and every window filled with it).
        staleness, wait = values["oracle.maxStaleness"], values["vault.strikeMaxWait"]
        if staleness >= wait:
            raise ValueError(
                f"oracle.maxStaleness {staleness} s is not below vault.strikeMaxWait {wait} s: a "
                "strike past the wait could charge the stale haircut on a fresh price"
            )
        # The registry's link (deploy declares it): a strike waits on an unconfirmed price move
        # until it is confirmed (oracle.confirmDelay) or the wait is over.
        delay = values["oracle.confirmDelay"]
        if delay >= wait:
            raise ValueError(
                f"oracle.confirmDelay {delay} s is not below vault.strikeMaxWait {wait} s: "
                "redemptions would take the stale haircut before a price move could be confirmed"
            )
        room = sum(values[CAP_PREFIX + name] for name in names)
        if names and values.get(IDLE_BUFFER, 0) + room < BPS:
            # The registry's link (deploy declares it): the vault can place all its assets.
            raise ValueError(
                f"{IDLE_BUFFER} {values.get(IDLE_BUFFER, 0)} + the sleeve caps {room} is below "
                f"{BPS} bps: the vault could not place all its assets within its caps"
            )
        # A guardian's freeze must be able to hold until the DAO has answered: the shortest
        # freeze governance could set outlasts proposing, voting and the timelock.
        response = sum((self.governance.voting_delay, self.governance.voting_period,
                        self.governance.timelock_delay))  # fmt: skip
        # ... and must end while a change queued behind it can still execute (BallastTimelock's
        # grace period, less a margin): a freeze started before a change's eta, or less than the
        # margin after it, delays the change and never expires it.
        for spec in self.parameters:
            if spec.name == "registry.maxFreezePeriod" and spec.min < response:
                raise ValueError(
                    f"registry.maxFreezePeriod min {parameters.format_duration(spec.min)} must "
                    "cover the DAO's response time (voting_delay + voting_period + "
                    f"timelock_delay = {parameters.format_duration(response)})"
                )
            longest = TIMELOCK_GRACE_PERIOD - FREEZE_GRACE_MARGIN
            if spec.name == "registry.maxFreezePeriod" and spec.max > longest:
                raise ValueError(
                    f"registry.maxFreezePeriod max {parameters.format_duration(spec.max)} must "
                    f"not exceed {parameters.format_duration(longest)}, the timelock's grace "
                    f"period ({parameters.format_duration(TIMELOCK_GRACE_PERIOD)}) less "
                    f"{parameters.format_duration(FREEZE_GRACE_MARGIN)}: a freeze must end while "
                    "the change queued behind it can still execute"
                )
        bounds = {spec.name: spec for spec in self.parameters}
        window, cooldown = bounds.get("agent.evalWindow"), bounds.get("vault.rebalanceCooldown")
        if window and cooldown and window.max > MAX_DECISIONS_PER_WINDOW * cooldown.min:
            raise ValueError(
                f"agent.evalWindow max {parameters.format_duration(window.max)} over "
                f"vault.rebalanceCooldown min {parameters.format_duration(cooldown.min)} lets "
                f"more than {MAX_DECISIONS_PER_WINDOW} decisions into one evaluation window: an "
                "evaluation walks them all, and could grow too long for a block"
            )
        # Nobody may be trapped by a change they can see coming: the timelock must outlast the
        # longest unbonding period governance could ever set (DESIGN.md §Governance).
        for spec in self.parameters:
            if spec.name == "agent.unbondingPeriod" and self.governance.timelock_delay <= spec.max:
                raise ValueError(
                    f"governance.timelock_delay {self.governance.timelock_delay}s must exceed "
                    f"the maximum agent.unbondingPeriod {spec.max}s"
                )
        # ... nor by one they cannot leave before: the timelock must outlast the depositors'
        # exit time, the longest any issuer needs to redeem its sleeve's largest holding plus the
        # longest a redemption may wait for the strike that pays it (vault.strikeMaxWait).
        for sleeve in self.sleeves:
            if sleeve.mock is not None and self.asset.mock is None:
                raise ValueError(
                    f"sleeve {sleeve.name}: a mock RWA needs the mock asset (its MockIssuer pays "
                    "redemptions from the mock stablecoin's faucet)"
                )
        exit_time = self.exit_time()
        delay = self.governance.timelock_delay
        if exit_time is not None and delay <= exit_time.total * DAY:
            raise ValueError(
                f"governance.timelock_delay {parameters.format_duration(delay)} ({delay}s) must "
                f"exceed the depositors' exit time: sleeve {exit_time.sleeve} needs "
                f"{_number(exit_time.days)} days ({exit_time.how}) + up to "
                f"{_number(exit_time.strike_wait)} days for a strike (vault.strikeMaxWait max) "
                f"= {_number(exit_time.total)} days"
            )
        return self

    def exit_times(self) -> list[ExitTime]:
        """Per RWA sleeve whose exit time is known: the days its issuer needs to redeem the
        largest holding governance could ever let the vault have in it.

        A mock sleeve: ``vault.depositCap`` at its max bound x ``vault.maxSleeveBps.<name>`` at
        its max bound, in tokens at the mock's ``nav``, divided by its ``daily_redeem_limit``
        (0 = unlimited: no wait). A real sleeve: its declared ``exit_days``; without one it is not
        known and not listed. The lending book: ``lend.callNoticePeriod`` at its max bound, the
        longest its lent cash may wait after a shutdown (anyone calls the loans at once; when
        they fall due anyone may liquidate them in full). While the vault runs loans have no
        term: that part of an exit waits on borrowers and liquidations, and is not counted.
        """
        bounds = {spec.name: spec.max for spec in self.parameters}
        cap = Fraction(bounds["vault.depositCap"], 10**MOCK_ASSET_DECIMALS)
        times = []
        for sleeve in self.sleeves:
            if sleeve.kind == "LendingSleeve" and NOTICE in bounds:
                days = Fraction(bounds[NOTICE], DAY)
                how = f"after a shutdown, loans called: {NOTICE} max {_number(days)} days"
                times.append(ExitTime(sleeve.name, days, how))
            if sleeve.kind != "TokenizedRWASleeve":
                continue
            if sleeve.mock is None:
                if sleeve.exit_days is not None:
                    days = Fraction(sleeve.exit_days)
                    times.append(ExitTime(sleeve.name, days, f"its exit_days {_number(days)}"))
                continue
            mock, bps = sleeve.mock, bounds[CAP_PREFIX + sleeve.name]
            tokens = cap * bps / BPS / Fraction(mock.nav)
            limit = mock.daily_redeem_limit
            days = tokens / limit if limit else Fraction(0)
            how = (
                f"vault.depositCap max {_number(cap)} x {CAP_PREFIX}{sleeve.name} max {bps} bps"
                f" / nav {_number(Fraction(mock.nav))} = {_number(tokens)} tokens at "
                + (f"{limit:,} a day" if limit else "no daily redeem limit")
            )
            times.append(ExitTime(sleeve.name, days, how))
        return times

    def exit_time(self) -> ExitTime | None:
        """The depositors' exit time: the longest of :meth:`exit_times` (issuers redeem in
        parallel) plus, as ``strike_wait``, ``vault.strikeMaxWait`` at its max bound, or None
        when no sleeve's is known.

        An exit is a redeem request settled by a strike (IRWAVault): the strike pulls from the
        sleeves what their issuers let go, and a strike may wait for a feed up to
        ``vault.strikeMaxWait`` after the request before it values a stale sleeve at a haircut.
        The issuer's schedule starts only when a strike asks for the money, so the two add up.
        """
        longest = max(self.exit_times(), key=lambda t: t.days, default=None)
        if longest is None:
            return None
        bounds = {spec.name: spec.max for spec in self.parameters}
        wait = Fraction(bounds.get("vault.strikeMaxWait", 0), DAY)
        return ExitTime(longest.sleeve, longest.days, longest.how, strike_wait=wait)

    def timelock_delay_floor(self) -> int:
        """The least timelock delay, in seconds, the rules above allow: one second more than the
        longest ``agent.unbondingPeriod`` governance could set and than the depositors' exit time
        (0 when neither is known). Deployed as ``BallastTimelock.DELAY_FLOOR``: governance can
        never lower the delay below it."""
        floor = 0
        for spec in self.parameters:
            if spec.name == "agent.unbondingPeriod":
                floor = max(floor, spec.max + 1)
        exit_time = self.exit_time()
        if exit_time is not None:
            floor = max(floor, math.floor(exit_time.total * DAY) + 1)
        return floor

    def lending(self) -> SleeveConfig | None:
        """The lending sleeve, if the config has one (at most one)."""
        return next((s for s in self.sleeves if s.kind == "LendingSleeve"), None)

    def _lending_rules(self, params: dict[str, ParameterSpec]) -> None:
        """The lending book's collateral and parameters (DESIGN.md §LendingSleeve)."""
        books = [s.name for s in self.sleeves if s.kind == "LendingSleeve"]
        if len(books) > 1:
            raise ValueError(f"sleeves: at most one LendingSleeve, found {', '.join(books)}")
        book = self.lending()
        collateral = book.collateral if book else []
        rwa = {s.name: s for s in self.sleeves if s.kind == "TokenizedRWASleeve"}
        tokens = {s.token: f"the token of sleeve {s.name}" for s in rwa.values() if s.token}
        if self.asset.address:
            tokens[self.asset.address] = "the vault's asset"
        for c in collateral:
            if c.sleeve is not None and c.sleeve not in rwa:
                raise ValueError(
                    f"collateral sleeve {c.sleeve!r} is not a TokenizedRWASleeve of this config"
                )
            if c.name is not None and any(c.name == s.name for s in self.sleeves):
                raise ValueError(
                    f"collateral {c.name!r} is a sleeve's name: write 'sleeve: {c.name}' "
                    "to lend against that sleeve's token"
                )
            if c.token is not None:
                if c.token in tokens:
                    raise ValueError(
                        f"collateral {c.name!r}: {c.token} is already {tokens[c.token]}"
                    )
                tokens[c.token] = f"collateral {c.name!r}"
        if book is not None:
            for name in sorted(LENDING_PARAMETERS - params.keys()):
                raise ValueError(f"parameter {name!r} is required (the LendingSleeve reads it)")
        for c in collateral:
            for prefix in COLLATERAL_PREFIXES:
                if prefix + c.label not in params:
                    raise ValueError(
                        f"collateral {c.label!r} needs the parameter {prefix}{c.label}"
                    )
            ltv, lt, bonus = (params[p + c.label].value for p in COLLATERAL_PREFIXES[:3])
            if ltv >= lt:
                raise ValueError(
                    f"collateral {c.label!r}: {LTV_PREFIX}{c.label} {ltv} is "
                    f"{'above' if ltv > lt else 'equal to'} "
                    f"{THRESHOLD_PREFIX}{c.label} {lt} (loans open below the liquidation threshold)"
                )
            # Aave's rule, threshold x (1 + bonus) <= 100%: a liquidation near health 1 must
            # raise health (the book caps the bonus on chain; the config must not rely on it).
            if lt * (BPS + bonus) > BPS * BPS:
                raise ValueError(
                    f"collateral {c.label!r}: {THRESHOLD_PREFIX}{c.label} {lt} x (1 + "
                    f"{BONUS_PREFIX}{c.label} {bonus}) is above 100%, so a liquidation near "
                    "health 1 would not raise health"
                )
        labels = {c.label for c in collateral}
        for name in sorted(params):
            prefix = next((p for p in COLLATERAL_PREFIXES if name.startswith(p)), None)
            if prefix is not None and name.removeprefix(prefix) not in labels:
                raise ValueError(f"parameter {name} names no collateral")

    @classmethod
    def load(cls, path: Path) -> DeployConfig:
        """Parse a YAML config, raising :class:`ConfigError` with a one-line reason."""
        path = Path(path)
        try:
            data = load_yaml(path.read_text(encoding="utf8"))
        except FileNotFoundError:
            raise ConfigError(f"no deploy config at {path}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None
        except OSError as err:  # a folder, no permission, ...
            raise ConfigError(f"cannot read {path}: {err.strerror or type(err).__name__}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {yaml_problem(err)}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = _where(data, first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{path}: {where}: {message}") from None


def _where(data: dict, loc: tuple) -> str:
    """Where an error is, a parameter named rather than counted: ``parameters[vault.depositCap]
    .max`` rather than ``parameters.3.max``."""
    if len(loc) >= 2 and loc[0] == "parameters" and isinstance(loc[1], int):
        rows = data.get("parameters")
        row = rows[loc[1]] if isinstance(rows, list) and loc[1] < len(rows) else None
        if isinstance(row, dict) and isinstance(row.get("name"), str):
            return ".".join([f"parameters[{row['name']}]", *(str(p) for p in loc[2:])])
    return ".".join(str(p) for p in loc) or "config"
