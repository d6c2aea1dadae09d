"""The test process's shortcuts around Ape's reads and transactions (tests/ape_round_trips.py)
keep Ape's behaviour: a contract a snapshot revert took away is refused as Ape refuses it, a read
still answers at the block asked for, and no contract has `console.log` lines for Ape's
post-transaction trace to print."""

from __future__ import annotations

import re

import pytest
from ape.exceptions import ContractNotFoundError

from tests import ape_round_trips
from tests.conftest import REPO_ROOT


def test_a_contract_a_revert_took_away_is_refused_as_ape_would(chain, accounts, project):
    snapshot = chain.snapshot()
    try:
        coin = project.MockStablecoin.deploy("Gone", "GONE", sender=accounts[0])
        assert coin.decimals() == 6
        assert str(coin.address) in ape_round_trips._with_code  # no eth_getCode next time
    finally:
        chain.restore(snapshot)
    assert str(coin.address) not in ape_round_trips._with_code
    with pytest.raises(ContractNotFoundError):
        coin.decimals()


def test_a_read_still_answers_at_the_block_it_names(chain, accounts, project):
    snapshot = chain.snapshot()
    try:
        coin = project.MockStablecoin.deploy("Then", "THEN", sender=accounts[0])
        before = chain.blocks.head.number
        coin.faucet(accounts[1], 5, sender=accounts[0])
        assert coin.balanceOf(accounts[1]) == 5
        assert coin.balanceOf(accounts[1], block_id=before) == 0
    finally:
        chain.restore(snapshot)


def test_no_contract_logs_to_a_console():
    console = re.compile(r"import[^;]*console2?\.sol|\bconsole2?\.log\s*\(")
    users = [
        str(path.relative_to(REPO_ROOT))
        for path in sorted((REPO_ROOT / "contracts").rglob("*.sol"))
        if console.search(path.read_text())
    ]
    assert users == [], "contracts with console.log: their lines would not be printed in tests"
