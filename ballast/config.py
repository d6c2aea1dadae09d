"""Deploy configuration: ``deployments/config/<network>.yaml``.

One file per network says what to deploy and what to reuse: real token addresses on real
networks, mocks on local ones. Later parts of the system add their sections here; unknown keys
are refused so that a typo never silently deploys defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from ballast import parameters
from ballast.deployment import Address

BPS = 10_000
TOKEN_UNIT = 10**18  # BallastToken has 18 decimals

Duration = Annotated[int, BeforeValidator(parameters.parse_duration)]
"""Seconds; YAML may say 3600, "45s", "30m", "12h", "3d" or "2w"."""


class ConfigError(Exception):
    """A deploy configuration that cannot be used; the message is one line for users."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MockToken(_Strict):
    """A local stand-in token deployed from ``contracts/mocks``."""

    name: str
    symbol: str


class TokenSpec(_Strict):
    """A token: either an existing ``address`` or a ``mock`` to deploy (local networks)."""

    address: Address | None = None
    mock: MockToken | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.address is None) == (self.mock is None):
            raise ValueError("give exactly one of 'address' or 'mock'")
        return self


class GovernanceConfig(_Strict):
    """BallastToken, BallastGovernor and the timelock."""

    token_name: str = "Ballast Governance"
    token_symbol: str = "BLST"
    distribution: dict[Address, int] = Field(
        min_length=1, description="initial holders and their amounts, in whole tokens"
    )
    voting_delay: Duration
    voting_period: Duration = Field(gt=0)
    proposal_threshold: int = Field(ge=0, description="whole tokens of votes needed to propose")
    quorum_percent: int = Field(ge=1, le=100)
    timelock_delay: Duration

    @model_validator(mode="after")
    def _positive_amounts(self) -> Self:
        for holder, amount in self.distribution.items():
            if amount <= 0:
                raise ValueError(f"distribution: {holder} gets {amount}; amounts must be positive")
        return self


class RolesConfig(_Strict):
    """Who holds the protocol's operational roles."""

    guardian: Address = Field(description="multisig: pauses, freezes, vetoes slashes, cancels")
    steward: Address = Field(description="risk steward: small fast parameter moves")


class ParameterSpec(_Strict):
    """One row of the parameter table (mirrors the registry's rules, checked before deploying)."""

    name: str
    value: Duration  # plain integers, or durations for the time parameters
    min: Duration
    max: Duration
    step_bps: int = Field(ge=0, le=BPS, description="governance step limit; 0 = any in bounds")
    cooldown: Duration
    steward_step_bps: int = Field(default=0, ge=0, le=BPS, description="0 = no steward moves")
    steward_cooldown: Duration = 0

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not parameters.is_known(self.name):
            raise ValueError(f"unknown parameter {self.name!r}")
        if self.min > self.max:
            raise ValueError(f"{self.name}: min {self.min} is above max {self.max}")
        if not self.min <= self.value <= self.max:
            raise ValueError(
                f"{self.name}: value {self.value} is outside its bounds [{self.min}, {self.max}]"
            )
        if self.steward_step_bps and (
            (self.step_bps and self.steward_step_bps > self.step_bps)
            or self.steward_cooldown <= self.cooldown
        ):
            raise ValueError(
                f"{self.name}: the steward's limits must be tighter than governance's "
                "(steward_step_bps <= step_bps, steward_cooldown > cooldown)"
            )
        return self


class DeployConfig(_Strict):
    """Everything `ape run deploy` needs to know about one network."""

    asset: TokenSpec
    governance: GovernanceConfig
    roles: RolesConfig
    parameters: list[ParameterSpec]

    @model_validator(mode="after")
    def _system_rules(self) -> Self:
        seen: set[str] = set()
        for spec in self.parameters:
            if spec.name in seen:
                raise ValueError(f"parameter {spec.name!r} is listed twice")
            seen.add(spec.name)
        # Nobody may be trapped by a change they can see coming: the timelock must outlast the
        # longest unbonding period governance could ever set (DESIGN.md §Governance).
        for spec in self.parameters:
            if spec.name == "agent.unbondingPeriod" and self.governance.timelock_delay <= spec.max:
                raise ValueError(
                    f"governance.timelock_delay {self.governance.timelock_delay}s must exceed "
                    f"the maximum agent.unbondingPeriod {spec.max}s"
                )
        return self

    @classmethod
    def load(cls, path: Path) -> DeployConfig:
        """Parse a YAML config, raising :class:`ConfigError` with a one-line reason."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf8"))
        except FileNotFoundError:
            raise ConfigError(f"no deploy config at {path}") from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{path}{line}: not valid YAML") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "config"
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{path}: {where}: {message}") from None
