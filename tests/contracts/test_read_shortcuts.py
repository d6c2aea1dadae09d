"""The test process's read shortcuts (tests/fast_reads.py) keep Ape's behaviour: a contract a
snapshot revert took away is refused as Ape refuses it, and a read still answers at the block
asked for."""

from __future__ import annotations

import pytest
from ape.exceptions import ContractNotFoundError

from tests import fast_reads


def test_a_contract_a_revert_took_away_is_refused_as_ape_would(chain, accounts, project):
    snapshot = chain.snapshot()
    try:
        coin = project.MockStablecoin.deploy("Gone", "GONE", sender=accounts[0])
        assert coin.decimals() == 6
        assert str(coin.address) in fast_reads._with_code  # remembered: no eth_getCode next time
    finally:
        chain.restore(snapshot)
    assert str(coin.address) not in fast_reads._with_code
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
