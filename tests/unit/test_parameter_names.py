"""The parameter names the deploy config knows and requires are the ones the contracts read.

`ballast.parameters` lists every registry parameter by name and `ballast.config_sections`
requires the global ones in a deploy config; a contract reads a parameter by the keccak256 of
its name. These tests read the names out of contracts/ so the two lists cannot drift: a
parameter a contract reads but a config may leave out would deploy a vault whose calls revert
with `UnknownParameter` later.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ballast import parameters
from ballast.config_sections import LENDING_PARAMETERS, REQUIRED_PARAMETERS

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
# a parameter name starts with a lower-case section ("ERC3156FlashBorrower.onFlashLoan" is none)
GLOBAL_KEY = re.compile(r'keccak256\("([a-z][A-Za-z0-9]*\.[A-Za-z0-9.]+)"\)')
SCOPED_KEY = re.compile(r'(?:_requireParameter|abi\.encodePacked)\("([A-Za-z0-9.]+\.)"')


def _sources() -> str:
    """Every contract's code without its comments (a comment may quote a key)."""
    code = []
    for path in sorted(CONTRACTS.rglob("*.sol")):
        text = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
        code.extend(line.split("//")[0] for line in text.splitlines())
    return "\n".join(code)


@pytest.fixture(scope="module")
def source() -> str:
    return _sources()


def test_every_global_parameter_is_read_by_a_contract_and_known(source):
    read = set(GLOBAL_KEY.findall(source))
    assert read, "no parameter key found in contracts/: the pattern is stale"
    assert read - parameters.GLOBAL_PARAMETERS == set(), "read by a contract, unknown to ballast"
    assert parameters.GLOBAL_PARAMETERS - read == set(), "known to ballast, read by no contract"


def test_every_scoped_parameter_prefix_is_read_by_a_contract_and_known(source):
    read = set(SCOPED_KEY.findall(source))
    assert read == set(parameters.SCOPED_PREFIXES)


def test_a_config_requires_every_global_parameter_the_core_reads():
    assert REQUIRED_PARAMETERS | LENDING_PARAMETERS == parameters.GLOBAL_PARAMETERS
    assert not REQUIRED_PARAMETERS & LENDING_PARAMETERS
    # the agent registry's evaluation, slashing and rewards read these on every decision
    for name in ("agent.evalWindow", "agent.toleranceBps", "agent.maxSlashBps"):
        assert name in REQUIRED_PARAMETERS
    for name in ("agent.vetoWindow", "agent.rewardShareBps"):
        assert name in REQUIRED_PARAMETERS
