"""The deploy configuration's sections (``deployments/config/<network>.yaml``): the tokens,
governance, roles, vault, sleeves with their collateral, and the parameters, each a strict
pydantic model refusing unknown keys; the constants and validators they share. `ballast.config`
assembles them into :class:`~ballast.config.DeployConfig` and checks the rules that span
sections.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ballast import parameters
from ballast.deployment import Address

BPS = 10_000
TOKEN_UNIT = 10**18  # BallastToken has 18 decimals
MOCK_ASSET_DECIMALS = 6  # contracts/mocks/MockStablecoin.sol
DAY = 86_400

CAP_PREFIX = "vault.maxSleeveBps."
IDLE_BUFFER = "vault.idleBufferBps"
LENDING_PARAMETERS: frozenset[str] = frozenset(
    name for name in parameters.GLOBAL_PARAMETERS if name.startswith("lend.")
)
"""Parameters the LendingSleeve and its InterestRateModel read: required with a lending sleeve."""

REQUIRED_PARAMETERS: frozenset[str] = parameters.GLOBAL_PARAMETERS - LENDING_PARAMETERS
"""Parameters the deployed contracts read: a config without them cannot deploy a working vault
(every global parameter is read by a contract: tests/unit/test_parameter_names.py checks it
against the contracts' sources)."""


LTV_PREFIX = "lend.ltvBps."
THRESHOLD_PREFIX = "lend.liqThresholdBps."
BONUS_PREFIX = "lend.liqBonusBps."
BORROW_CAP_PREFIX = "lend.borrowCap."
COLLATERAL_PREFIXES = (LTV_PREFIX, THRESHOLD_PREFIX, BONUS_PREFIX, BORROW_CAP_PREFIX)
"""Per-collateral parameters: ``<prefix><collateral name>``, all four needed to list a token."""

NAME_PATTERN = r"^[A-Za-z0-9_-]+$"

Duration = Annotated[int, BeforeValidator(parameters.parse_duration)]
"""Seconds; YAML may say 3600, "45s", "30m", "12h", "3d" or "2w"."""

UINT256_MAX = 2**256 - 1
INT256_MAX = 2**255 - 1
VOTES_SUPPLY_MAX = 2**208 - 1
"""ERC20Votes caps the total supply at type(uint208).max (OpenZeppelin's _maxSupply)."""


def fits(bits: int, receiver: str, *, signed: bool = False) -> AfterValidator:
    """A validator refusing an integer outside Solidity's ``(u)int<bits>``: `receiver` names the
    constructor or setter argument the value is sent to, so the refusal says why it is too big
    before anything is sent (the chain would answer with an ABI encoding traceback)."""
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    kind = f"{'' if signed else 'u'}int{bits}"

    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(
                f"{_big(value)} does not fit {receiver} (a {kind}: {_big(low)} to {_big(high)})"
            )
        return value

    return AfterValidator(check)


def _big(value: int) -> str:
    """An integer for a one-line message: digits up to 10^15, then ``2^256 - 1`` or ``1.2e+77``."""
    if abs(value) < 10**15:
        return f"{value:,}"
    for offset, suffix in ((1, " - 1"), (0, "")):
        if (abs(value) + offset).bit_count() == 1:
            return f"{'-' if value < 0 else ''}2^{(abs(value) + offset).bit_length() - 1}{suffix}"
    return f"{value:.3g}"


def _require_fits(value: int, high: int, what: str) -> None:
    if value > high:
        raise ValueError(f"{what} is {_big(value)}, above its maximum {_big(high)}")


class ConfigError(Exception):
    """A deploy configuration that cannot be used; the message is one line for users."""


class Strict(BaseModel):
    """A section: unknown keys refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MockToken(Strict):
    """A local stand-in token deployed from ``contracts/mocks``."""

    name: str
    symbol: str


class TokenSpec(Strict):
    """A token: either an existing ``address`` or a ``mock`` to deploy (local networks)."""

    address: Address | None = None
    mock: MockToken | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.address is None) == (self.mock is None):
            raise ValueError("give exactly one of 'address' or 'mock'")
        return self


class GovernanceConfig(Strict):
    """BallastToken, BallastGovernor and the timelock."""

    token_name: str = "Ballast Governance"
    token_symbol: str = "BLST"
    distribution: dict[Address, int] = Field(
        min_length=1, description="initial holders and their amounts, in whole tokens"
    )
    voting_delay: Annotated[Duration, fits(48, "the governor's votingDelay")]
    voting_period: Annotated[Duration, Field(gt=0), fits(32, "the governor's votingPeriod")]
    proposal_threshold: int = Field(ge=0, description="whole tokens of votes needed to propose")
    quorum_percent: int = Field(ge=1, le=100)
    timelock_delay: Annotated[Duration, fits(256, "the timelock's minDelay")]

    @field_validator("distribution", mode="before")
    @classmethod
    def _each_holder_once(cls, value: Any) -> Any:
        """One holder written in two cases would merge into one key, the last amount winning."""
        if isinstance(value, dict):
            seen: dict[str, str] = {}
            for holder in value:
                if isinstance(holder, str) and (same := seen.get(holder.lower())) is not None:
                    raise ValueError(f"{holder} is listed twice (also as {same})")
                if isinstance(holder, str):
                    seen[holder.lower()] = holder
        return value

    @model_validator(mode="after")
    def _positive_amounts(self) -> Self:
        for holder, amount in self.distribution.items():
            if int(holder, 16) == 0:
                raise ValueError(
                    "distribution: the zero address cannot hold tokens (BallastToken's mint to it "
                    "reverts, after the deploy has begun)"
                )
            if amount <= 0:
                raise ValueError(f"distribution: {holder} gets {amount}; amounts must be positive")
        supply = sum(self.distribution.values()) * TOKEN_UNIT
        _require_fits(
            supply, VOTES_SUPPLY_MAX,
            "distribution: the total supply in base units (whole tokens x 10^18)",
        )  # fmt: skip
        _require_fits(
            self.proposal_threshold * TOKEN_UNIT, UINT256_MAX,
            "proposal_threshold in base units (whole tokens x 10^18)",
        )  # fmt: skip
        return self


class RolesConfig(Strict):
    """Who holds the protocol's operational roles."""

    guardian: Address = Field(description="multisig: pauses, freezes, vetoes slashes, cancels")
    steward: Address = Field(description="risk steward: small fast parameter moves")
    treasury: Address | None = Field(
        default=None,
        description="receives the performance fee agents do not earn (default: the timelock)",
    )
    allowlist_manager: Address | None = Field(
        default=None, description="adds and removes allowlisted depositors (KYC operator)"
    )

    @field_validator("guardian", "steward", "treasury", "allowlist_manager")
    @classmethod
    def _not_zero(cls, value: str | None) -> str | None:
        """The zero address holds no key: a guardian or steward there is none at all (the veto
        and pause would answer to nobody, with the deploy reporting them wired), and a treasury
        there is refused by the AgentRegistry's constructor halfway through the deploy."""
        if value is not None and int(value, 16) == 0:
            raise ValueError("the zero address holds no key: give the account that holds the role")
        return value


class VaultConfig(Strict):
    """The ERC-4626 vault's token and access settings."""

    name: str = "Ballast RWA Vault"
    symbol: str = "bRWA"
    allowlist: bool = Field(default=False, description="permissioned: only allowlisted holders")


class MockRWA(Strict):
    """A local stand-in RWA: a MockIssuer with its own token, priced by a MockAggregator."""

    name: str
    symbol: str
    decimals: int = Field(default=18, ge=0, le=36)
    nav: Decimal = Field(gt=0, description="price of one whole token in the base asset")
    daily_redeem_limit: int = Field(default=0, ge=0, description="whole tokens a day; 0 = none")

    @model_validator(mode="after")
    def _fits_the_mocks(self) -> Self:
        # MockAggregator(uint8, string, int256 answer at 8 decimals, ...) and
        # MockIssuer(..., uint8 decimals, uint256 daily limit in base units, ...)
        _require_fits(
            int(self.nav.scaleb(8)), INT256_MAX, "nav x 10^8 (the mock feed's int256 answer)"
        )
        _require_fits(
            self.daily_redeem_limit * 10**self.decimals, UINT256_MAX,
            "daily_redeem_limit x 10^decimals (the MockIssuer's uint256 limit)",
        )  # fmt: skip
        return self


class CollateralConfig(Strict):
    """One collateral of the lending book: a TokenizedRWASleeve's token, or a token and its feed."""

    sleeve: str | None = Field(
        default=None,
        description="a TokenizedRWASleeve of this config: its token, priced by its feed",
    )
    name: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="scopes the lend.*.<name> parameters"
    )
    token: Address | None = None
    feed: Address | None = Field(default=None, description="Chainlink-style price feed")

    @model_validator(mode="after")
    def _sleeve_or_token(self) -> Self:
        given = (self.name, self.token, self.feed)
        if self.sleeve is not None and any(given):
            raise ValueError("give either 'sleeve' or name/token/feed")
        if self.sleeve is None and not all(given):
            raise ValueError("give 'sleeve' or all of name, token and feed")
        return self

    @property
    def label(self) -> str:
        """The name the book lists it under and its parameters end in (a sleeve's own name)."""
        label = self.sleeve or self.name
        assert label is not None  # _sleeve_or_token guarantees one of the two
        return label


class SleeveConfig(Strict):
    """One sleeve: an RWA (a mock on local networks, or the real token, feed and issuer adapter),
    or the lending book with the collateral it accepts."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["TokenizedRWASleeve", "LendingSleeve"] = "TokenizedRWASleeve"
    mock: MockRWA | None = None
    token: Address | None = None
    feed: Address | None = Field(default=None, description="Chainlink-style price feed")
    issuer: Address | None = Field(default=None, description="IRWAIssuer adapter")
    exit_days: Decimal | None = Field(
        default=None,
        gt=0,
        description="real sleeves: days the issuer needs to redeem the sleeve's largest holding "
        "(absent: not checked against the timelock delay)",
    )
    collateral: list[CollateralConfig] = Field(
        default_factory=list, description="LendingSleeve: what borrowers may post, in order"
    )

    @model_validator(mode="after")
    def _mock_or_real(self) -> Self:
        real = (self.token, self.feed, self.issuer)
        if self.kind == "LendingSleeve":
            if self.mock is not None or any(real):
                raise ValueError(
                    f"sleeve {self.name}: a LendingSleeve takes 'collateral', "
                    "not mock/token/feed/issuer"
                )
            if not self.collateral:
                raise ValueError(
                    f"sleeve {self.name}: a LendingSleeve needs at least one collateral"
                )
            if self.exit_days is not None:
                raise ValueError(
                    f"sleeve {self.name}: 'exit_days' is for real RWA sleeves, "
                    "a LendingSleeve has no issuer"
                )
            labels = [c.label for c in self.collateral]
            for label in labels:
                if labels.count(label) > 1:
                    raise ValueError(f"sleeve {self.name}: collateral {label!r} is listed twice")
            return self
        if self.collateral:
            raise ValueError(f"sleeve {self.name}: only a LendingSleeve takes 'collateral'")
        if self.mock is not None and any(real):
            raise ValueError(f"sleeve {self.name}: give either 'mock' or token/feed/issuer")
        if self.mock is None and not all(real):
            raise ValueError(f"sleeve {self.name}: give 'mock' or all of token, feed and issuer")
        if self.mock is not None and self.exit_days is not None:
            raise ValueError(
                f"sleeve {self.name}: a mock's exit time follows from its daily_redeem_limit; "
                "'exit_days' is for real sleeves"
            )
        return self


class ParameterSpec(Strict):
    """One row of the parameter table (mirrors the registry's rules, checked before deploying)."""

    name: str
    # plain integers, or durations for the time parameters; each fits the argument of
    # ParameterRegistry.defineParameter / setStewardLimits it is sent as
    value: Annotated[Duration, fits(256, "defineParameter's value")]
    min: Annotated[Duration, fits(256, "defineParameter's min")]
    max: Annotated[Duration, fits(256, "defineParameter's max")]
    step_bps: int = Field(ge=0, le=BPS, description="governance step limit; 0 = any in bounds")
    cooldown: Annotated[Duration, fits(32, "defineParameter's cooldown")]
    steward_step_bps: int = Field(default=0, ge=0, le=BPS, description="0 = no steward moves")
    steward_cooldown: Annotated[Duration, fits(32, "setStewardLimits' cooldown")] = 0

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
        if parameters.is_share(self.name) and self.max > BPS:
            raise ValueError(
                f"{self.name}: max {self.max} is above {BPS} bps: it is a part of a whole"
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
