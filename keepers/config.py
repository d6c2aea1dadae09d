"""The keeper's configuration: pydantic settings from a YAML file, `BALLAST_KEEPER_*` environment
variables and CLI options, in increasing priority (the environment overrides the file). Every
field has a safe default; unknown keys are refused, so a typo in a config file is an error, not
a silently ignored setting.

    BALLAST_KEEPER_ACCOUNT=keeper BALLAST_KEEPER_LIQUIDATOR__MIN_PROFIT=1000000 ballast-keeper ...
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from ballast.yamlfile import load_yaml, yaml_problem
from keepers.job_config import (
    EvaluatorConfig,
    LiquidatorConfig,
    RebalancerConfig,
    SentinelConfig,
    SettlerConfig,
    ShardConfig,
    StewardConfig,
)
from keepers.settings import TxSettings

__all__ = ["DEFAULT_JOBS", "JOBS", "JOB_ALIASES", "ConfigError", "EvaluatorConfig",
           "KeeperSettings", "LiquidatorConfig", "RebalancerConfig", "SentinelConfig",
           "SettlerConfig", "ShardConfig", "StewardConfig", "job_name",
           "load_settings"]  # fmt: skip

_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar("keeper_config_file", default=None)

JOBS = ("liquidator", "evaluator", "settler", "sentinel", "rebalancer", "steward")
# A bot runs these unless its settings name others (the steward needs STEWARD_ROLE: opt in).
DEFAULT_JOBS = ("liquidator", "evaluator", "settler", "sentinel", "rebalancer")
# Deprecated job names still accepted, and the job that replaced each.
JOB_ALIASES = {"redeemer": "settler"}


def job_name(job: str) -> str:
    """`job` with a deprecated alias replaced by its job (`redeemer` → `settler`)."""
    return JOB_ALIASES.get(job, job)


class ConfigError(ValueError):
    """The configuration is invalid; the message is one line."""


class KeeperSettings(BaseSettings):
    """Everything a keeper process needs besides the network connection."""

    model_config = SettingsConfigDict(
        env_prefix="BALLAST_KEEPER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,  # `.inf` would pass gt=0 and fail every pass
    )

    account: str | None = Field(None, description="Ape account alias (None: read only)")
    manifest: Path | None = Field(None, description="deployment manifest (default: network's)")
    state_dir: Path = Field(Path(".keeper"), description="SQLite state and rationale documents")
    dry_run: bool = Field(False, description="plan and simulate, never send")
    metrics_port: int | None = Field(None, ge=0, le=65_535, description="Prometheus port")
    log_json: bool = Field(False, description="one JSON object per log line")
    native_price: float = Field(3_000.0, gt=0, description="asset units (whole) per native coin")
    jobs: tuple[str, ...] = Field(DEFAULT_JOBS, description="jobs a bot runs")
    liquidator: LiquidatorConfig = LiquidatorConfig()
    shard: ShardConfig = ShardConfig()
    evaluator: EvaluatorConfig = EvaluatorConfig()
    settler: SettlerConfig = SettlerConfig()
    sentinel: SentinelConfig = SentinelConfig()
    rebalancer: RebalancerConfig = RebalancerConfig()
    steward: StewardConfig = StewardConfig()
    tx: TxSettings = TxSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Options over the environment over the config file (`load_settings` sets it)."""
        return (
            init_settings,
            env_settings,
            InitSettingsSource(settings_cls, _FILE_DATA.get() or {}),
        )

    def state_path(self, chain_id: int, address: str | None, binding: str | None = None) -> Path:
        """One SQLite file per chain, deployment and key:
        `<state_dir>/<chain>-<address|readonly>-<binding>.sqlite`, `binding` being the
        `ChainBinding.key` of the chain and deployment (`keepers.store`: a reset or other chain
        is another file). Without `binding`, the name state files had before v4."""
        who = address.lower() if address else "readonly"
        suffix = f"-{binding}" if binding else ""
        return self.state_dir / f"{chain_id}-{who}{suffix}.sqlite"


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    return f"{where}: {first['msg']}" + (
        f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    )


ENV_PREFIX = "BALLAST_KEEPER_"
ENV_NOT_SETTINGS = frozenset({"BALLAST_KEEPER_CONFIG"})  # the Silverback bot's config file path


def _check_environment(environ: Mapping[str, str]) -> None:
    """Refuse a `BALLAST_KEEPER_*` variable that names no setting (pydantic-settings ignores
    them: a typo such as BALLAST_KEEPER_LIQUIDATR__MIN_PROFIT would silently change nothing)."""
    for variable in sorted(environ):
        if not variable.upper().startswith(ENV_PREFIX) or variable.upper() in ENV_NOT_SETTINGS:
            continue
        model: type[BaseModel] = KeeperSettings
        parts = variable[len(ENV_PREFIX) :].lower().split("__")
        for depth, part in enumerate(parts):
            fields = model.model_fields
            if part not in fields:
                where = ".".join(parts[:depth]) or "the keeper"
                raise ConfigError(
                    f"unknown setting {variable}: {where} has no setting {part!r} "
                    f"(it has {', '.join(fields)})"
                )
            annotation = fields[part].annotation
            if depth + 1 < len(parts):
                if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                    raise ConfigError(
                        f"unknown setting {variable}: {'.'.join(parts[: depth + 1])} has no "
                        "sub-settings"
                    )
                model = annotation


def load_settings(path: Path | None = None, **overrides: Any) -> KeeperSettings:
    """Settings from the YAML file at `path` (optional), the environment and `overrides` (None
    values ignored). Raises `ConfigError` with one line."""
    data: dict[str, Any] = {}  # the file's settings, below the environment
    if path is not None:
        try:
            loaded = load_yaml(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not UTF-8 text") from None
        except OSError as err:  # a folder, no permission, ...
            why = err.strerror or type(err).__name__
            raise ConfigError(f"config file {path} cannot be read: {why}") from None
        except yaml.YAMLError as err:
            problem = yaml_problem(err)
            raise ConfigError(f"config file {path} is not valid YAML: {problem}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must be a mapping of settings")
        if odd := next((k for k in (loaded or {}) if not isinstance(k, str)), None):
            raise ConfigError(f"config file {path}: {odd!r} is not a setting name")
        data.update(loaded or {})
    _check_environment(os.environ)
    given = {k: v for k, v in overrides.items() if v is not None}
    token = _FILE_DATA.set(data)
    try:
        settings = KeeperSettings(**given)
    except ValidationError as err:
        raise ConfigError(_one_line(err)) from None
    except SettingsError as err:  # e.g. a mapping or list in the environment that is not JSON
        raise ConfigError(f"{err} (the environment gives mappings and lists as JSON)") from None
    finally:
        _FILE_DATA.reset(token)
    if any(j in JOB_ALIASES for j in settings.jobs):
        settings = settings.model_copy(update={"jobs": tuple(job_name(j) for j in settings.jobs)})
    unknown = [j for j in settings.jobs if j not in JOBS]
    if unknown:
        raise ConfigError(f"unknown job {unknown[0]!r}; jobs are {', '.join(JOBS)}")
    return settings
