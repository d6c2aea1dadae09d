"""Round trips Ape makes around every contract read and transaction that the test process does
without.

Imported by tests/conftest.py for its side effect; only the test process is affected (keepers
and scripts run as their own processes, with Ape as it ships). A profile of
tests/invariants/test_lending_state_machine.py (10,487 reads) spent 40 % of its time on the two
before a read:

- `eth_getCode` (27 %): `ContractCallHandler` checks that the address has code before every call,
  uncached on a dev network because a snapshot revert can take code away. Here an address seen
  with code is remembered until the node is reset, has code set or loads a state, a provider
  connects, or the node is reverted to a snapshot taken before the address was first seen: the
  only ways code leaves an address since EIP-6780 (Cancun), whose SELFDESTRUCT removes code only
  in the transaction that created it. (Ape's isolation reverts after every test: addresses seen
  before the snapshot it reverts to keep their code, so they are not asked again; a revert to a
  snapshot this process did not see taken forgets every address.)
- the latest block (13 %): the call is built as a transaction with the network's gas limit,
  "max", looked up from the latest block, then `_prepare_call` drops the gas before `eth_call`.
  A read gets an explicit limit instead, which is dropped the same way.

After every transaction to a contract, Ape fetches its code and the transaction's whole trace to
print the `console.log` lines a contract may have emitted (`_post_send_transaction`); no
contract here imports a console library (tests/contracts/test_read_shortcuts.py checks), so
the test process only logs the "Confirmed" line Ape logs after them.

Around every transaction Ape also asks anvil whether it automines (`anvil_getAutomine`, to know
whether to wait for a receipt) and, once it has the receipt, polls the sender's nonce until it
is past the transaction's (`_await_sender_nonce_increment`): two of the nine round trips of a
transaction (tests/vault/test_rebalance.py). A mined receipt's sender is always past its nonce,
so the poll is left to receipts of transactions not mined; the mining mode is remembered per node
until a request that can change it (`anvil_setAutomine`, interval mining, a reset, a state load),
made through any web3 HTTP provider of this process (Ape's, a keeper's), or a provider
connecting; a test that changes it another way (a session of its own, another process) must not
rely on Ape's wait afterwards. (Sending raw transactions as `eth_sendRawTransactionSync` on an
automining node was tried and dropped: the keepers in the test process send through the same
providers, and a benchmark that turned automine off through its own session had each of its
pipelined liquidations wait for its own block.)

Ape also rebuilds the network's config from its dict (a pydantic-settings model that reads the
environment) every time it looks a setting up: twice a read, four times a transaction. The test
process keeps the model built from a dict until the dict changes.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading

import ape_ethereum.provider
from ape.api.config import PluginConfig
from ape.api.networks import NetworkAPI
from ape.api.transactions import ReceiptAPI
from ape.contracts.base import ContractCall, ContractMethodHandler
from ape.logging import logger
from ape_ethereum.provider import Web3Provider
from ape_foundry.provider import FoundryProvider
from web3.providers.rpc import HTTPProvider

# RPC methods after which an address may have lost its code
_CODE_CHANGERS = frozenset(
    {"evm_revert", "anvil_reset", "hardhat_reset", "anvil_setCode", "hardhat_setCode",
     "anvil_loadState", "hardhat_loadState"}
)  # fmt: skip
_with_code: set[str] = set()
# (node URL, snapshot id) of each snapshot taken through this process, oldest first, with the
# addresses first seen with code after it was taken: what a revert to it forgets
_code_frames: list[tuple[tuple[str, int], set[str]]] = []
_code_lock = threading.Lock()

_validate_is_contract = ContractMethodHandler._validate_is_contract


@functools.wraps(_validate_is_contract)
def _validate_is_contract_remembered(self) -> None:
    address = self.contract.address
    if address not in _with_code:
        _validate_is_contract(self)  # raises ContractNotFoundError where there is no code
        with _code_lock:
            _with_code.add(address)
            if _code_frames:
                _code_frames[-1][1].add(address)


def _snapshot_id(value) -> int | None:
    with contextlib.suppress(TypeError, ValueError):
        return int(value, 16) if isinstance(value, str) else int(value)
    return None


def _forget_code(node: str | None = None, reverted_to: int | None = None) -> None:
    """A revert to a snapshot taken here forgets what was first seen since (anvil drops that
    snapshot and every later one); anything else that can take code away forgets everything."""
    with _code_lock:
        if reverted_to is not None:
            for i, (key, _) in enumerate(_code_frames):
                if key == (node, reverted_to):
                    for _, seen in _code_frames[i:]:
                        _with_code.difference_update(seen)
                    del _code_frames[i:]
                    return
        _with_code.clear()
        _code_frames.clear()


def _code_changes_around(provider: HTTPProvider, method: str, params, send):
    """`send()` (one request to `provider`'s node), the code memory kept in step with it."""
    node = provider.endpoint_uri
    if method == "evm_revert":
        _forget_code(node, _snapshot_id(params[0]) if params else None)
    elif method in _CODE_CHANGERS:
        _forget_code()
    response = send()
    if method == "evm_snapshot" and isinstance(response, dict):
        taken = _snapshot_id(response.get("result"))
        if taken is not None:
            with _code_lock:
                _code_frames.append(((node, taken), set()))
    return response


_post_connect = Web3Provider._post_connect  # runs after every provider's connect


@functools.wraps(_post_connect)
def _post_connect_forgetting_code(self, *args, **kwargs):
    _forget_code()
    _forget_mining()
    return _post_connect(self, *args, **kwargs)


# RPC methods after which a node's mining mode may have changed
_MINING_CHANGERS = frozenset(
    {"anvil_setAutomine", "evm_setAutomine", "anvil_setIntervalMining", "evm_setIntervalMining",
     "anvil_reset", "hardhat_reset", "anvil_loadState", "hardhat_loadState"}
)  # fmt: skip
_automine: dict[str, bool] = {}  # node URL -> anvil_getAutomine's answer
_mining_changes = [0]  # bumped by every forget: an answer read across a change is not kept
_mining_lock = threading.Lock()


def _forget_mining() -> None:
    with _mining_lock:
        _mining_changes[0] += 1
        _automine.clear()


@property
def _auto_mine_remembered(self) -> bool:
    node = self.web3.provider.endpoint_uri
    with _mining_lock:
        known, changes = _automine.get(node), _mining_changes[0]
    if known is not None:
        return known
    answer = self.make_request("anvil_getAutomine", [])
    with _mining_lock:
        if changes == _mining_changes[0]:
            _automine[node] = answer
    return answer


_http_make_request = HTTPProvider.make_request
_http_make_batch_request = HTTPProvider.make_batch_request


@functools.wraps(_http_make_request)
def _http_make_request_forgetting_mining(self, method, params):
    def send():
        return _http_make_request(self, method, params)

    if method not in _MINING_CHANGERS:
        return _code_changes_around(self, method, params, send)
    _forget_mining()
    try:
        return _code_changes_around(self, method, params, send)
    finally:
        _forget_mining()


@functools.wraps(_http_make_batch_request)
def _http_make_batch_request_forgetting_mining(self, requests):
    if any(method in _CODE_CHANGERS for method, _ in requests):
        _forget_code()  # a snapshot taken in a batch is not one a later revert finds
    if not any(method in _MINING_CHANGERS for method, _ in requests):
        return _http_make_batch_request(self, requests)
    _forget_mining()
    try:
        return _http_make_batch_request(self, requests)
    finally:
        _forget_mining()


_network_config = NetworkAPI.config.fget
_configs: dict[tuple[int, str], tuple[dict, PluginConfig]] = {}  # (network, name) -> (dict, model)


@functools.wraps(_network_config)
def _network_config_remembered(self):
    for opt in {self.name, self.name.replace("-", "_"), self.name.replace("_", "-")}:
        cfg = self.ecosystem_config.get(opt)
        if cfg and isinstance(cfg, dict):
            known = _configs.get((id(self), opt))
            if known is not None and known[0] == cfg:
                return known[1]
            model = _network_config(self)
            if isinstance(model, PluginConfig):
                _configs[id(self), opt] = (copy.deepcopy(cfg), model)
            return model
        if cfg:
            break
    return _network_config(self)


_await_sender_nonce_increment = ReceiptAPI._await_sender_nonce_increment


@functools.wraps(_await_sender_nonce_increment)
def _await_sender_nonce_increment_unless_mined(self) -> None:
    if self.block_number is not None and self.block_number >= 0:
        return  # mined: the sender's nonce is already past the transaction's
    _await_sender_nonce_increment(self)


_serialize = ContractCall.serialize_transaction


@functools.wraps(_serialize)
def _serialize_without_the_block_gas_limit(self, *args, **kwargs):
    if "gas" not in kwargs and "gas_limit" not in kwargs:
        kwargs["gas_limit"] = 0  # dropped by _prepare_call before eth_call, as "max" was
    return _serialize(self, *args, **kwargs)


ContractMethodHandler._validate_is_contract = _validate_is_contract_remembered
Web3Provider._post_connect = _post_connect_forgetting_code
FoundryProvider.auto_mine = _auto_mine_remembered.setter(FoundryProvider.auto_mine.fset)
HTTPProvider.make_request = _http_make_request_forgetting_mining
HTTPProvider.make_batch_request = _http_make_batch_request_forgetting_mining
ReceiptAPI._await_sender_nonce_increment = _await_sender_nonce_increment_unless_mined
NetworkAPI.config = property(_network_config_remembered)
ContractCall.serialize_transaction = _serialize_without_the_block_gas_limit


def _confirmed(tx, receipt) -> None:
    logger.info(f"Confirmed {receipt.txn_hash} (total fees paid = {receipt.total_fees_paid})")


ape_ethereum.provider._post_send_transaction = _confirmed
