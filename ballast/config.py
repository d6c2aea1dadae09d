"""Deploy configuration: ``deployments/config/<network>.yaml``.

One file per network says what to deploy and what to reuse: real token addresses on real
networks, mocks on local ones. Later parts of the system add their sections here; unknown keys
are refused so that a typo never silently deploys defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ballast.deployment import Address


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


class DeployConfig(_Strict):
    """Everything `ape run deploy` needs to know about one network."""

    asset: TokenSpec

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
