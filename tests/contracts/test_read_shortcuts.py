"""The test process's shortcuts around Ape's reads and transactions (tests/ape_round_trips.py)
keep Ape's behaviour: a contract a snapshot revert took away is refused as Ape refuses it, a read
still answers at the block asked for, no contract has `console.log` lines for Ape's
post-transaction trace to print, a transaction sent after the mining mode changed (by Ape or by a
raw request) waits or not as the node now mines, a mined receipt's sender is past its nonce, and a
network's config is built again when its settings change; the node Ape started is reached
without `requests` (tests/lean_http.py)."""

from __future__ import annotations

import re

import pytest
import requests
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


def test_a_revert_forgets_only_the_code_first_seen_after_its_snapshot(chain, accounts, project):
    """Ape's isolation reverts after every test: what was seen before the snapshot keeps its
    code and is not asked for again; what came after is refused as Ape refuses it."""
    kept = project.MockStablecoin.deploy("Kept", "KEPT", sender=accounts[0])
    assert kept.decimals() == 6 and str(kept.address) in ape_round_trips._with_code
    snapshot = chain.snapshot()
    try:
        gone = project.MockStablecoin.deploy("Gone", "GONE", sender=accounts[0])
        assert gone.decimals() == 6 and str(gone.address) in ape_round_trips._with_code
    finally:
        chain.restore(snapshot)
    assert str(kept.address) in ape_round_trips._with_code
    assert str(gone.address) not in ape_round_trips._with_code
    assert kept.decimals() == 6
    with pytest.raises(ContractNotFoundError):
        gone.decimals()
    # a revert to a snapshot this process did not see taken forgets every address
    chain.provider.web3.provider.make_request("evm_revert", ["0xffff"])
    assert ape_round_trips._with_code == set()


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


def test_the_mining_mode_is_read_again_after_any_request_that_changes_it(chain, accounts, project):
    coin = project.MockStablecoin.deploy("Mine", "MINE", sender=accounts[0])
    web3 = chain.provider.web3
    assert chain.provider.auto_mine is True
    assert web3.provider.endpoint_uri in ape_round_trips._automine  # remembered
    for off, on in (
        (lambda: web3.provider.make_request("evm_setAutomine", [False]),
         lambda: web3.provider.make_request("evm_setAutomine", [True])),
        (lambda: setattr(chain.provider, "auto_mine", False),
         lambda: setattr(chain.provider, "auto_mine", True)),
    ):  # fmt: skip
        off()
        try:
            assert chain.provider.auto_mine is False
            pending = coin.faucet(accounts[1], 7, sender=accounts[0])
            assert pending.block_number == -1  # Ape did not wait for a block that never comes
            chain.mine(1)
        finally:
            on()
        assert chain.provider.auto_mine is True
        mined = coin.faucet(accounts[1], 7, sender=accounts[0])
        assert mined.block_number == chain.blocks.head.number
        assert accounts[0].nonce == mined.nonce + 1  # no poll needed: already past it
    assert coin.balanceOf(accounts[1]) == 28


def test_a_network_config_is_built_again_when_its_settings_change(chain):
    network = chain.provider.network
    first = network.config
    assert network.config is first  # kept while the settings are the same
    settings = network.ecosystem_config.get(network.name)
    block_time = settings["block_time"]
    settings["block_time"] = block_time + 7
    try:
        assert network.config is not first
        assert network.config.get("block_time") == block_time + 7
    finally:
        settings["block_time"] = block_time
    assert network.config.get("block_time") == block_time


def test_the_node_ape_started_is_read_and_sent_to_without_requests(chain, accounts, project,
                                                                   monkeypatch):  # fmt: skip
    """tests/lean_http.py: the worker's own anvil is reached over a kept socket, so a read and a
    transaction go through while `requests` sessions refuse to post."""

    def refuse(*args, **kwargs):
        raise AssertionError("a request to the worker's node went through a requests session")

    monkeypatch.setattr(requests.Session, "post", refuse)
    coin = project.MockStablecoin.deploy("Lean", "LEAN", sender=accounts[0])
    coin.faucet(accounts[1], 5, sender=accounts[0])
    assert coin.balanceOf(accounts[1]) == 5 and chain.blocks.head.number > 0
