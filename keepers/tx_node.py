"""One signing key as its node sees it: the base of `keepers.tx.TxSender`.

`KeyNode` holds the key (an Ape account), its settings, store and node, and does the sender's
single steps on the node: reads (`call`, `simulate`, `estimate_gas`, `balance`, the nonces,
`fees`, receipts, `revert_of`), signing, and the write-ahead broadcast (`_logged_broadcast`:
recorded as sent, then broadcast). `key_lock(address)`: the process-wide lock of one key.
What the steps add up to — simulate, price, send, wait, replace — is `TxSender`'s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from keepers.errors import ErrorDecoder
from keepers.outcomes import BroadcastUnknown, RpcError, error_data
from keepers.settings import TxSettings
from keepers.store import Store
from keepers.tx_rules import Attempt, Flight, already_known, node_failure, nonce_too_low, price

# the sender's logger wherever its methods live: JSON log lines carry its name (`keepers.logs`)
log = logging.getLogger("keepers.tx")

# ---------------------------------------------------------------------- locks

_KEY_LOCKS: dict[str, threading.Lock] = {}
_KEY_LOCKS_GUARD = threading.Lock()


def key_lock(address: str) -> threading.Lock:
    """The process-wide lock of one signing key: one transaction in flight per key."""
    with _KEY_LOCKS_GUARD:
        return _KEY_LOCKS.setdefault(address.lower(), threading.Lock())


# ---------------------------------------------------------------------- the key


class KeyNode:
    """One Ape account's reads, signatures and broadcasts on its node (see `TxSender`, which
    builds on it, for the arguments)."""

    def __init__(
        self,
        account: Any,
        *,
        settings: TxSettings | None = None,
        store: Store | None = None,
        job: str = "keeper",
        provider: Any = None,
        contract_types: tuple[Any, ...] = (),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if provider is None:
            from ape import chain

            provider = chain.provider
        self.account = account
        self.address = to_checksum_address(str(account.address))
        self.settings = settings or TxSettings()
        self.store = store
        self.job = job
        self.provider = provider
        self.decoder = ErrorDecoder()
        for contract_type in contract_types:
            self.decoder.add(contract_type)
        self._clock = clock
        self._sleep = sleep
        # set when the process is stopping (the bot on SIGTERM/SIGINT): a wait for a receipt
        # ends at its next look, its flight left recorded for the next start to settle
        self.stopping = threading.Event()
        self._lock = key_lock(self.address)

    # ------------------------------------------------------------------ RPC

    def _rpc(self, method: str, params: list[Any]) -> Any:
        response = self.provider.web3.provider.make_request(method, params)
        if "error" in response:
            error = response["error"]
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            if not isinstance(error, dict):
                raise RpcError(message)
            code = error.get("code")
            raise RpcError(message, error_data(error), code if isinstance(code, int) else None)
        return response.get("result")

    def _call_object(self, to: str, data: bytes, value: int) -> dict[str, str]:
        return {"from": self.address, "to": to, "data": "0x" + data.hex(), "value": hex(value)}

    def call(self, to: str, data: bytes, value: int = 0, block: str = "pending") -> bytes:
        """The return data of `data` sent to `to` by this key with `eth_call` (`RpcError` on a
        revert: its message and revert data)."""
        result = self._rpc("eth_call", [self._call_object(to, data, value), block])
        return bytes(HexBytes(result or "0x"))

    def estimate_gas(self, to: str, data: bytes, value: int = 0) -> int:
        """The node's gas estimate of `data` sent to `to` by this key (`RpcError` on a revert)."""
        return int(self._rpc("eth_estimateGas", [self._call_object(to, data, value)]), 16)

    def simulate(
        self, to: str, data: bytes, value: int = 0, block: str = "pending"
    ) -> tuple[str, str] | None:
        """None when the call would pass at `block`; else (error name, reason). A node failing
        to answer (`node_failure`: a rate limit, a timeout) raises its `RpcError`: it says
        nothing of the call."""
        try:
            self._rpc("eth_call", [self._call_object(to, data, value), block])
        except RpcError as error:
            if node_failure(error):
                raise  # the node failed (rate limit, timeout), not the call: a node error
            name, reason = self.decoder.decode(error.data)
            if name is None and not error.data:
                return "", error.message
            return name or "", reason
        return None

    def balance(self) -> int:
        """The key's balance (wei) in the pending state."""
        return int(self._rpc("eth_getBalance", [self.address, "pending"]), 16)

    def pending_nonce(self) -> int:
        return int(self._rpc("eth_getTransactionCount", [self.address, "pending"]), 16)

    def _latest_nonce(self) -> int:
        return int(self._rpc("eth_getTransactionCount", [self.address, "latest"]), 16)

    def fees(self) -> tuple[int, int, int]:
        """(max fee, priority fee, base fee) per gas for a new transaction: max fee = base fee ×
        multiplier + tip, capped by `max_fee_cap` (the tip never above the max fee)."""
        block = self._rpc("eth_getBlockByNumber", ["latest", False])
        base = int(block.get("baseFeePerGas") or "0x0", 16)
        return (*price(base, self.settings), base)

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        return self._rpc("eth_getTransactionReceipt", [tx_hash])

    def revert_of(
        self,
        tx_hash: str,
        block: int,
        to: str | None = None,
        data: bytes | None = None,
        value: int = 0,
    ) -> tuple[str, str]:
        """(error name or "", reason) of a transaction mined reverted in `block`.

        The node's trace of the transaction itself (``debug_traceTransaction`` with the
        ``callTracer``: its revert data, or why it stopped, e.g. out of gas); a node without the
        debug namespace: the call (`to`, `data`, `value`, else the transaction's own) replayed on
        the state after `block`, which names the error when the state that made it revert
        lasted to the block's end.
        """
        try:
            trace = self._rpc("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
        except RpcError as error:
            log.debug("no trace of %s (%s): replaying it", tx_hash, error.message)
            trace = None
        if isinstance(trace, dict):
            output = trace.get("output") or "0x"
            if len(output) > 2:
                name, reason = self.decoder.decode(bytes(HexBytes(output)))
                return name or "", reason
            return "", str(trace.get("error") or "reverted without data")
        if to is None or data is None:
            tx = self._rpc("eth_getTransactionByHash", [tx_hash])
            to, data, value = tx["to"], bytes(HexBytes(tx["input"])), int(tx["value"], 16)
        replay = self.simulate(to, data, value, block=hex(block))
        return replay if replay is not None else ("", "reverted (passes on replay)")

    # ------------------------------------------------------------------ broadcasting

    def _sign(self, to: str, data: bytes, value: int, flight: Flight, fee: int, tip: int) -> bytes:
        ecosystem = self.provider.network.ecosystem
        txn = ecosystem.create_transaction(
            chain_id=self.provider.chain_id,
            to=to,
            data=data,
            value=value,
            nonce=flight.nonce,
            gas=flight.gas,
            max_fee=fee,
            max_priority_fee=tip,
            type=2,
            sender=self.address,
        )
        signed = self.account.sign_transaction(txn)
        if signed is None or not signed.signature:
            raise RuntimeError(f"account {self.address} did not sign (locked keystore?)")
        return bytes(signed.serialize_transaction())

    def _broadcast(self, raw: bytes) -> str:
        """Broadcasts; "already known" counts as sent, and so does any error while the node
        holds this very transaction (pending or mined): an error answer is no proof that the
        node refused it. Returns the hash."""
        tx_hash = "0x" + keccak(raw).hex()
        try:
            self._rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
        except RpcError as error:
            if already_known(error.message):
                return tx_hash
            if self._known(tx_hash):
                if nonce_too_low(error.message):
                    # This very transaction took the nonce: an earlier copy of the request
                    # landed and its answer was lost (web3 re-sends eth_sendRawTransaction
                    # after a timeout).
                    log.info("broadcast of %s answered late: it is already on the node", tx_hash)
                else:
                    # A gateway that forwarded it and answered with an error (its backend timed
                    # out after the pool took it): the node has it, so it is sent, and it will
                    # be settled by its receipt like any other.
                    log.warning("broadcast of %s answered %r, but the node holds it: sent",
                                tx_hash, error.message)  # fmt: skip
                return tx_hash
            raise
        return tx_hash

    def _in_a_block(self, tx_hash: str) -> bool:
        """Whether the node holds `tx_hash` in a block (mined, even while it serves no receipt
        for it yet: an index behind the state)."""
        tx = self._rpc("eth_getTransactionByHash", [tx_hash])
        return isinstance(tx, dict) and tx.get("blockNumber") is not None

    def _known(self, tx_hash: str) -> bool:
        """Whether the node has `tx_hash` (pending or mined); `BroadcastUnknown` when the node
        cannot say."""
        try:
            return self._rpc("eth_getTransactionByHash", [tx_hash]) is not None
        except RpcError as error:
            raise BroadcastUnknown(f"cannot look up {tx_hash}: {error.message}") from error

    def _record_sent(self, action_id: str, flight: Flight, attempt: Attempt) -> None:
        if self.store is not None:
            self.store.record_sent(
                job=self.job,
                action_id=action_id,
                sender=self.address,
                nonce=flight.nonce,
                tx_hash=attempt.tx_hash,
                max_fee=attempt.max_fee,
                priority_fee=attempt.priority_fee,
            )

    def _logged_broadcast(
        self, raw: bytes, action_id: str, flight: Flight, fee: int, tip: int
    ) -> str:
        """Records the signed transaction as sent, then broadcasts it (write-ahead: a process
        killed between the two leaves its hash in the store, and `Keeper.reconcile` settles it —
        mined, replaced, or dropped when it never reached the node). A node that rejects it
        (`RpcError`) marks that record dropped; a broadcast left unanswered (timeout, dropped
        connection) leaves it sent for the next pass to reconcile by its hash."""
        attempt = Attempt("0x" + keccak(raw).hex(), fee, tip)
        self._record_sent(action_id, flight, attempt)
        try:
            return self._broadcast(raw)
        except RpcError as error:
            self._record(attempt.tx_hash, "dropped", error=f"rejected: {error.message}")
            raise
        except Exception:
            log.warning(
                "broadcast of %s unanswered: %s stays recorded as sent", action_id, attempt.tx_hash
            )
            raise

    def _record(self, tx_hash: str, status: Any, **kwargs: Any) -> None:
        if self.store is not None:
            self.store.record_outcome(tx_hash, status, **kwargs)
