"""Round trips Ape makes around every contract read and transaction that the test process does
without.

Imported by tests/conftest.py for its side effect; only the test process is affected (keepers
and scripts run as their own processes, with Ape as it ships). A profile of
tests/invariants/test_lending_state_machine.py (10,487 reads) spent 40 % of its time on the two
before a read:

- `eth_getCode` (27 %): `ContractCallHandler` checks that the address has code before every call,
  uncached on a dev network because a snapshot revert can take code away. Here an address seen
  with code is remembered until the node is reverted, reset, has code set, or a provider
  connects: the only ways code leaves an address since EIP-6780 (Cancun), whose SELFDESTRUCT
  removes code only in the transaction that created it.
- the latest block (13 %): the call is built as a transaction with the network's gas limit,
  "max", looked up from the latest block, then `_prepare_call` drops the gas before `eth_call`.
  A read gets an explicit limit instead, which is dropped the same way.

After every transaction to a contract, Ape fetches its code and the transaction's whole trace to
print the `console.log` lines a contract may have emitted (`_post_send_transaction`); no
contract here imports a console library (tests/contracts/test_read_shortcuts.py checks), so
the test process only logs the "Confirmed" line Ape logs after them.
"""

from __future__ import annotations

import functools

import ape_ethereum.provider
from ape.contracts.base import ContractCall, ContractMethodHandler
from ape.logging import logger
from ape_ethereum.provider import Web3Provider

# RPC methods after which an address may have lost its code
_CODE_CHANGERS = frozenset(
    {"evm_revert", "anvil_reset", "hardhat_reset", "anvil_setCode", "hardhat_setCode",
     "anvil_loadState", "hardhat_loadState"}
)  # fmt: skip
_with_code: set[str] = set()

_validate_is_contract = ContractMethodHandler._validate_is_contract


@functools.wraps(_validate_is_contract)
def _validate_is_contract_remembered(self) -> None:
    address = self.contract.address
    if address not in _with_code:
        _validate_is_contract(self)  # raises ContractNotFoundError where there is no code
        _with_code.add(address)


_make_request = Web3Provider.make_request


@functools.wraps(_make_request)
def _make_request_forgetting_code(self, rpc, parameters=None):
    if rpc in _CODE_CHANGERS:
        _with_code.clear()
    return _make_request(self, rpc, parameters)


_post_connect = Web3Provider._post_connect  # runs after every provider's connect


@functools.wraps(_post_connect)
def _post_connect_forgetting_code(self, *args, **kwargs):
    _with_code.clear()
    return _post_connect(self, *args, **kwargs)


_serialize = ContractCall.serialize_transaction


@functools.wraps(_serialize)
def _serialize_without_the_block_gas_limit(self, *args, **kwargs):
    if "gas" not in kwargs and "gas_limit" not in kwargs:
        kwargs["gas_limit"] = 0  # dropped by _prepare_call before eth_call, as "max" was
    return _serialize(self, *args, **kwargs)


ContractMethodHandler._validate_is_contract = _validate_is_contract_remembered
Web3Provider.make_request = _make_request_forgetting_code
Web3Provider._post_connect = _post_connect_forgetting_code
ContractCall.serialize_transaction = _serialize_without_the_block_gas_limit


def _confirmed(tx, receipt) -> None:
    logger.info(f"Confirmed {receipt.txn_hash} (total fees paid = {receipt.total_fees_paid})")


ape_ethereum.provider._post_send_transaction = _confirmed
