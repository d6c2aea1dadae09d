"""Every number of a deploy config fits the Solidity argument it is sent as, checked before
anything is sent: a value too big for its type is one line naming the field, never an ABI
encoding traceback after half a deploy."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ballast.config import ConfigError, DeployConfig

LOCAL = Path(__file__).resolve().parents[2] / "deployments/config/local.yaml"
BASE = yaml.safe_load(LOCAL.read_text())


def _load(tmp_path: Path, mutate) -> DeployConfig:
    data = copy.deepcopy(BASE)
    mutate(data)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return DeployConfig.load(path)


def _refusal(tmp_path: Path, mutate) -> str:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, mutate)
    message = str(err.value)
    assert "\n" not in message
    return message.removeprefix(f"{tmp_path / 'config.yaml'}: ")


def _param(name: str, **changes):
    def mutate(data: dict) -> None:
        row = next(p for p in data["parameters"] if p["name"] == name)
        row.update(changes)

    return mutate


def _gov(**changes):
    return lambda data: data["governance"].update(changes)


def _mock(**changes):
    return lambda data: data["sleeves"][0]["mock"].update(changes)


# (field, its type's largest value accepted, mutate(value), the refusal's start)
LIMITS = [
    ("value", 2**256 - 1, lambda v: _param("vault.depositCap", value=v, max=2**256 - 1),
     "parameters[vault.depositCap].value: 2^256 does not fit defineParameter's value (a uint256"),
    ("max", 2**256 - 1, lambda v: _param("vault.depositCap", max=v),
     "parameters[vault.depositCap].max: 2^256 does not fit defineParameter's max (a uint256"),
    ("min", 2**256 - 1, lambda v: _param("vault.depositCap", min=v),
     "parameters[vault.depositCap].min: 2^256 does not fit defineParameter's min (a uint256"),
    ("cooldown", 2**32 - 1, lambda v: _param("agent.minStake", cooldown=v),
     "parameters[agent.minStake].cooldown: 4,294,967,296 does not fit defineParameter's "
     "cooldown (a uint32: 0 to 4,294,967,295)"),
    ("steward_cooldown", 2**32 - 1, lambda v: _param("vault.idleBufferBps", steward_cooldown=v),
     "parameters[vault.idleBufferBps].steward_cooldown: 4,294,967,296 does not fit "
     "setStewardLimits' cooldown (a uint32"),
    ("voting_delay", 2**48 - 1, lambda v: _gov(voting_delay=v),
     "governance.voting_delay: 281,474,976,710,656 does not fit the governor's votingDelay "
     "(a uint48"),
    ("voting_period", 2**32 - 1, lambda v: _gov(voting_period=v),
     "governance.voting_period: 4,294,967,296 does not fit the governor's votingPeriod (a uint32"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "high", "mutation", "message"), LIMITS, ids=[r[0] for r in LIMITS]
)
def test_one_above_the_type_is_refused_naming_the_field(tmp_path, field, high, mutation, message):
    assert _refusal(tmp_path, mutation(high + 1)).startswith(message)


@pytest.mark.parametrize(
    ("field", "high", "mutation", "message"), LIMITS, ids=[r[0] for r in LIMITS]
)
def test_the_types_largest_value_passes_the_range_check(tmp_path, field, high, mutation, message):
    # The largest value may still break another rule (a freeze shorter than the DAO's answer,
    # a timelock shorter than unbonding...), but never the type's range.
    try:
        _load(tmp_path, mutation(high))
    except ConfigError as err:
        assert "does not fit" not in str(err), str(err)


def test_a_value_far_above_uint256_is_one_short_line(tmp_path):
    message = _refusal(tmp_path, _param("vault.depositCap", max=10**100))
    assert message == (
        "parameters[vault.depositCap].max: 1e+100 does not fit defineParameter's max "
        "(a uint256: 0 to 2^256 - 1)"
    )


@given(st.integers(min_value=2**32, max_value=2**300))
def test_any_cooldown_above_uint32_is_refused(tmp_path_factory, cooldown):
    tmp_path = tmp_path_factory.mktemp("cfg")
    assert "does not fit defineParameter's cooldown (a uint32" in _refusal(
        tmp_path, _param("oracle.maxStaleness", cooldown=cooldown)
    )


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (
            lambda d: d["governance"]["distribution"].update(
                {k: 2**190 for k in d["governance"]["distribution"]}
            ),
            "governance: distribution: the total supply in base units (whole tokens x 10^18) is",
        ),
        (
            _gov(proposal_threshold=2**200),
            "governance: proposal_threshold in base units (whole tokens x 10^18) is 1.61e+78, "
            "above its maximum 2^256 - 1",
        ),
        (
            _mock(daily_redeem_limit=2**250),
            "sleeves.0.mock: daily_redeem_limit x 10^decimals (the MockIssuer's uint256 limit)",
        ),
        (
            _mock(nav=2**250),
            "sleeves.0.mock: nav x 10^8 (the mock feed's int256 answer) is 1.81e+83, above its "
            "maximum 2^255 - 1",
        ),
    ],
    ids=["supply above uint208", "threshold", "daily limit", "nav"],
)
def test_values_scaled_to_base_units_must_fit_too(tmp_path, mutation, message):
    assert _refusal(tmp_path, mutation).startswith(message)


def test_the_votes_supply_limit_is_erc20votes_uint208(tmp_path):
    holders = list(BASE["governance"]["distribution"])

    def supply(total_base_units: int):
        def mutate(data: dict) -> None:
            whole = total_base_units // 10**18
            data["governance"]["distribution"] = {holders[0]: whole}

        return mutate

    _load(tmp_path, supply(2**208 - 1))  # whole tokens x 10^18 stays just below the cap
    assert "2^208 - 1" in _refusal(tmp_path, supply(2**208 + 10**18))


def test_the_local_config_is_within_every_range():
    assert DeployConfig.load(LOCAL).parameters
