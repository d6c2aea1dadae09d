"""The test process's batch of Ape's pre-send reads and its remembered block gas limit
(tests/ape_tx_reads.py) keep Ape's behaviour: a transaction is priced from the base fee the node
was just told and the priority fee it suggests, with the nonce it reports, in one request where
Ape made four; and a transaction's gas limit follows the block gas limit anvil is told."""

from __future__ import annotations

from web3.providers.rpc import HTTPProvider

from tests import ape_tx_reads
from tests.keeper_support import block_gas_limit

GWEI = 10**9


def _requests(monkeypatch) -> list[str]:
    """The HTTP requests this process sends from now on: a method, or "batch" and its methods."""
    sent: list[str] = []
    single, batch = HTTPProvider.make_request, HTTPProvider.make_batch_request

    def one(self, method, params):
        sent.append(method)
        return single(self, method, params)

    def many(self, requests):
        sent.append("batch " + " ".join(method for method, _ in requests))
        return batch(self, requests)

    monkeypatch.setattr(HTTPProvider, "make_request", one)
    monkeypatch.setattr(HTTPProvider, "make_batch_request", many)
    return sent


def test_a_transaction_is_priced_and_numbered_as_ape_would_in_one_request(
    chain, accounts, project, monkeypatch
):
    snapshot = chain.snapshot()
    try:
        coin = project.MockStablecoin.deploy("Fee", "FEE", sender=accounts[0])
        provider = chain.provider
        before = provider.base_fee
        provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(3 * GWEI)])
        tip, base, nonce = provider.priority_fee, provider.base_fee, accounts[0].nonce
        assert base == 3 * GWEI  # what Ape reads unbatched, outside a transaction
        sent = _requests(monkeypatch)
        sent_tx = coin.faucet(accounts[1], 5, sender=accounts[0]).transaction
        multiplier = provider.network.base_fee_multiplier
        assert sent_tx.max_priority_fee == tip
        assert sent_tx.max_fee == int(base * multiplier + tip)
        assert sent_tx.nonce == nonce
        together = (
            "batch eth_getTransactionCount eth_maxPriorityFeePerGas eth_feeHistory eth_getBalance"
        )
        # first, but for the block gas limit where this node's is not remembered (a module
        # before this one on the same worker's node told it a limit: tests/ape_tx_reads.py)
        assert together in sent, sent
        assert set(sent[: sent.index(together)]) <= {"eth_getBlockByNumber"}, sent
        assert "eth_feeHistory" not in sent and "eth_getTransactionCount" not in sent
        assert getattr(ape_tx_reads._answers, "reads", None) is None  # nothing left over
    finally:
        chain.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(before)])
        chain.restore(snapshot)


def test_a_transaction_takes_the_block_gas_limit_anvil_was_told(
    chain, accounts, project, monkeypatch
):
    # a set of its own: after the revert below the node's blocks are at the default again
    monkeypatch.setattr(ape_tx_reads, "_gas_limit_set", set())
    snapshot = chain.snapshot()
    try:
        coin = project.MockStablecoin.deploy("Gas", "GAS", sender=accounts[0])
        default = chain.blocks.head.gas_limit
        assert coin.faucet(accounts[1], 1, sender=accounts[0]).gas_limit == default
        node = chain.provider.web3.provider.endpoint_uri
        with block_gas_limit(chain, 5_000_000):
            assert node in ape_tx_reads._gas_limit_set  # not remembered from now on
            assert coin.faucet(accounts[1], 1, sender=accounts[0]).gas_limit == 5_000_000
        assert coin.faucet(accounts[1], 1, sender=accounts[0]).gas_limit == default
    finally:
        chain.restore(snapshot)
