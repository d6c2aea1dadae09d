"""The test process's shortcuts around Ape's reads and transactions (tests/ape_round_trips.py)
keep Ape's behaviour: a contract a snapshot revert took away is refused as Ape refuses it, a read
still answers at the block asked for, no contract has `console.log` lines for Ape's
post-transaction trace to print, a transaction sent after the mining mode changed (by Ape or by a
raw request) waits or not as the node now mines, a mined receipt's sender is past its nonce, and a
transaction sent while the node automines gets the receipt the node keeps for it (none once a
revert took the transaction away), and a network's config is built again when its settings
change."""

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


def test_a_transaction_sent_while_automining_gets_the_receipt_the_node_keeps(
    chain, accounts, project
):
    web3 = chain.provider.web3
    snapshot = chain.snapshot()
    try:
        coin = project.MockStablecoin.deploy("Sync", "SYNC", sender=accounts[0])
        tx = coin.faucet(accounts[1], 5, sender=accounts[0])
        assert ape_round_trips._sent_receipts == {}  # Ape's receipt request took it
        node = web3.provider.make_request("eth_getTransactionReceipt", [tx.txn_hash])["result"]
        assert int(node["blockNumber"], 16) == tx.block_number == chain.blocks.head.number
        assert int(node["status"], 16) == tx.status == 1
        assert int(node["gasUsed"], 16) == tx.gas_used and len(node["logs"]) == len(tx.logs) == 1
        assert coin.balanceOf(accounts[1]) == 5

        # Sent, its receipt never asked for: a revert takes the transaction and the receipt away.
        unsent = accounts[0].prepare_transaction(coin.faucet.as_transaction(accounts[1], 7))
        signed = accounts[0].sign_transaction(unsent)
        tx_hash = web3.eth.send_raw_transaction(signed.serialize_transaction())
        assert ape_round_trips._hash_key(tx_hash) in ape_round_trips._sent_receipts
    finally:
        chain.restore(snapshot)
    assert ape_round_trips._sent_receipts == {}
    gone = web3.provider.make_request("eth_getTransactionReceipt", [tx_hash.to_0x_hex()])
    assert gone["result"] is None


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
