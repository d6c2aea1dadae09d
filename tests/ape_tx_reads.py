"""The reads Ape makes before every transaction, sent to the node as one batch in the test process.

Imported by tests/conftest.py for its side effect (test process only; keepers price and send
through their own web3 code, untouched). Before it signs a transaction, Ape's `prepare_transaction`
(ape.api.address.BaseAddress, then ape_ethereum's Web3Provider) asks the node, one HTTP request
after another, for:

- the sender's nonce (`eth_getTransactionCount`, latest), always (a given nonce is checked
  against it);
- the priority fee (`eth_maxPriorityFeePerGas`) when no priority fee is given;
- the base fee (`eth_feeHistory(1, latest)`, the last entry: the next block's base fee) when no
  max fee is given; max fee = base fee * multiplier + priority fee;
- the sender's balance (`eth_getBalance`) unless it is impersonated, to refuse a transfer above it.

Four of the ten requests of a transaction in tests/vault/test_rebalance.py. Here they go out as one
JSON-RPC batch when `prepare_transaction` starts, with the same methods and parameters, and each
answer is handed to the one read Ape makes next for it in the same thread (then forgotten, as are
answers left over when `prepare_transaction` returns). Ape already reads them back to back with
nothing sent in between by this thread, so a batch reads the same chain state: the same nonce, the
same fees (an `anvil_setNextBlockBaseFeePerGas` sent before the transaction is in the batch's
fee history as it was in Ape's), the same price signed. A node that answers a batch element with
an error (or the batch with anything but a list) leaves that read to Ape, which asks as it always
did. What would invalidate it: a read that depends on something done between two of them (Ape
does nothing in between but compute), or another thread expecting its read after this one's
(each thread's answers are its own). Keepers in the test process send through their own web3
calls, not this path.

The gas limit is read earlier, when the transaction is built (`validate_gas_limit` turns "max" into
`max_gas`, the latest block's `gasLimit`). anvil gives every block the same gas limit until it is
told another (`anvil_setBlockGasLimit` / `evm_setBlockGasLimit`, which takes effect from the next
mined block on), so the limit read once is remembered per node until a snapshot revert, a reset or
a state load (the blocks may then be others), or a provider connecting; a node that has been told
a new limit through any web3 HTTP provider of this process (tests/keeper_support.py's
`block_gas_limit`, tests/keepers/test_keeper_queue.py) is never remembered again, since which
block the new limit starts at is anvil's to say. What would invalidate it: another process
setting a node's gas limit (no keeper or script does), or a test setting it through another URL
than Ape's (a proxy in front of the node; none does).
"""

from __future__ import annotations

import contextlib
import functools
import threading

from ape.api.address import BaseAddress
from ape_ethereum.provider import Web3Provider
from ape_ethereum.transactions import TransactionType
from ape_foundry.provider import FoundryProvider
from web3.providers.rpc import HTTPProvider

_DYNAMIC_FEES = (TransactionType.DYNAMIC, TransactionType.SHARED_BLOB, TransactionType.SET_CODE)
_answers = threading.local()  # .reads: dict[key, int] for the transaction being prepared


def _batch(provider: Web3Provider, account: BaseAddress, txn) -> dict:
    """The reads Ape's prepare_transaction would make for `txn`, asked in one request."""
    address = account.address
    wanted: dict[tuple, tuple[str, list]] = {
        ("nonce", address): ("eth_getTransactionCount", [address, "latest"])
    }
    if TransactionType(txn.type) in _DYNAMIC_FEES:
        if txn.max_priority_fee is None:
            wanted["priority_fee",] = ("eth_maxPriorityFeePerGas", [])
        if txn.max_fee is None:
            wanted["base_fee",] = ("eth_feeHistory", ["0x1", "latest", []])
    if isinstance(provider, FoundryProvider) and (
        txn.sender not in account.account_manager.test_accounts._impersonated_accounts
    ):
        wanted["balance", address] = ("eth_getBalance", [address, None])  # FoundryProvider's
    keys = list(wanted)
    try:
        responses = provider.web3.provider.make_batch_request([wanted[k] for k in keys])
    except Exception:  # noqa: BLE001  (Ape makes the reads itself and reports what fails)
        return {}
    if not isinstance(responses, list) or len(responses) != len(keys):
        return {}
    reads = {}
    for key, response in zip(keys, responses, strict=True):
        result = response.get("result") if isinstance(response, dict) else None
        with contextlib.suppress(TypeError, ValueError, KeyError, IndexError):
            reads[key] = _decode(key[0], result)  # else no answer to hand over: Ape asks
    return reads


def _decode(kind: str, result) -> int:
    if kind == "base_fee":  # Web3Provider.base_fee: the last baseFeePerGas entry
        return int(result["baseFeePerGas"][-1], 16)
    if kind == "balance" and not result:
        raise ValueError("FoundryProvider.get_balance raises on an empty answer")
    return int(result, 16)


def _take(key: tuple):
    reads = getattr(_answers, "reads", None)
    return None if reads is None else reads.pop(key, None)


_prepare = BaseAddress.prepare_transaction


@functools.wraps(_prepare)
def _prepare_reading_together(self, txn, **kwargs):
    provider = self.provider
    if getattr(_answers, "reads", None) is not None or not isinstance(provider, Web3Provider):
        return _prepare(self, txn, **kwargs)
    try:
        _answers.reads = _batch(provider, self, txn)
    except Exception:  # noqa: BLE001  (whatever Ape makes of this transaction, it does itself)
        _answers.reads = {}
    try:
        return _prepare(self, txn, **kwargs)
    finally:
        _answers.reads = None


def _answered(kind: str, original):
    @functools.wraps(original)
    def read(self):
        answer = _take((kind,))
        return original(self) if answer is None else answer

    return property(read)


def _answered_for(kind: str, original):
    @functools.wraps(original)
    def read(self, address, block_id=None):
        answer = _take((kind, address)) if block_id is None else None
        return original(self, address, block_id) if answer is None else answer

    return read


# RPC methods after which the latest block's gas limit may be another one
_GAS_LIMIT_FORGETTERS = frozenset(
    {"evm_revert", "anvil_reset", "hardhat_reset", "anvil_loadState", "hardhat_loadState"}
)
_GAS_LIMIT_SETTERS = frozenset({"anvil_setBlockGasLimit", "evm_setBlockGasLimit"})
_gas_limits: dict[str, int] = {}  # node URL -> its blocks' gas limit
_gas_limit_set: set[str] = set()  # nodes told a gas limit: never remembered
_gas_limit_changes = [0]  # bumped by every forget: a limit read across a change is not kept
_gas_limit_lock = threading.Lock()


def _forget_gas_limit(node: str | None = None, set_: bool = False) -> None:
    with _gas_limit_lock:
        _gas_limit_changes[0] += 1
        _gas_limits.clear()
        if set_ and node:
            _gas_limit_set.add(node)


_max_gas = Web3Provider.max_gas.fget


@functools.wraps(_max_gas)
def _max_gas_remembered(self) -> int:
    node = self.web3.provider.endpoint_uri
    with _gas_limit_lock:
        known, changes = _gas_limits.get(node), _gas_limit_changes[0]
    if known is not None:
        return known
    answer = _max_gas(self)
    with _gas_limit_lock:
        if changes == _gas_limit_changes[0] and node not in _gas_limit_set:
            _gas_limits[node] = answer
    return answer


def _gas_limit_change(provider: HTTPProvider, methods) -> bool:
    """Forgets remembered gas limits before a request that may change them."""
    if not any(m in _GAS_LIMIT_FORGETTERS or m in _GAS_LIMIT_SETTERS for m in methods):
        return False
    _forget_gas_limit(provider.endpoint_uri, any(m in _GAS_LIMIT_SETTERS for m in methods))
    return True


_http_make_request = HTTPProvider.make_request
_http_make_batch_request = HTTPProvider.make_batch_request


@functools.wraps(_http_make_request)
def _http_make_request_forgetting_gas_limits(self, method, params):
    if not _gas_limit_change(self, (method,)):
        return _http_make_request(self, method, params)
    try:
        return _http_make_request(self, method, params)
    finally:
        _forget_gas_limit()


@functools.wraps(_http_make_batch_request)
def _http_make_batch_request_forgetting_gas_limits(self, requests):
    if not _gas_limit_change(self, [method for method, _ in requests]):
        return _http_make_batch_request(self, requests)
    try:
        return _http_make_batch_request(self, requests)
    finally:
        _forget_gas_limit()


_post_connect = Web3Provider._post_connect


@functools.wraps(_post_connect)
def _post_connect_forgetting_gas_limits(self, *args, **kwargs):
    _forget_gas_limit()
    return _post_connect(self, *args, **kwargs)


BaseAddress.prepare_transaction = _prepare_reading_together
Web3Provider.priority_fee = _answered("priority_fee", Web3Provider.priority_fee.fget)
Web3Provider.base_fee = _answered("base_fee", Web3Provider.base_fee.fget)
Web3Provider.max_gas = property(_max_gas_remembered)
HTTPProvider.make_request = _http_make_request_forgetting_gas_limits
HTTPProvider.make_batch_request = _http_make_batch_request_forgetting_gas_limits
Web3Provider._post_connect = _post_connect_forgetting_gas_limits
Web3Provider.get_nonce = _answered_for("nonce", Web3Provider.get_nonce)
FoundryProvider.get_balance = _answered_for("balance", FoundryProvider.get_balance)
