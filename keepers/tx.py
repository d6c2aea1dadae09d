"""The keeper's transaction sender (after stakewise v3-operator's): simulate, price, send, wait,
replace, and say what happened as a typed outcome.

`TxSender(account).send(contract, "evaluate", 3, action_id="evaluate:3")`:

1. `already_done(action_id)` in the store → `AlreadyDone` (a restart does no double work; a
   lost race seen only by a simulation counts for `reorg_depth` blocks: `inflight.already_done`);
2. under the key's lock (one transaction in flight per key, across every sender of the process),
   the key's own `sent` transactions of the same action (any block's:
   `keepers.actions.action_key`) are settled or resumed — re-priced, waited on, bumped on their
   nonce (`keepers.inflight.resume_own`); one still pending → its `Stuck`: nothing new is
   simulated or sent;
3. simulation with `eth_call` at the pending block; a revert → `LostRace` when its custom error
   is one of `TxSettings.lost_race_errors` or `contested` (below) shows another address did the
   action first, else `Refused` (also when the call passes at the latest block while the key
   has transactions pending: the pending state may show the key's own transaction);
4. gas = `eth_estimateGas` × (1 + margin); EIP-1559 fees: max fee = base fee × multiplier +
   tip, capped by `max_fee_cap` (a base fee at or above the cap → `Refused("FeeCapExceeded")`);
   a key whose balance cannot pay gas limit × max fee (+ value) → `Unfunded`, nothing sent;
5. nonce = the node's pending transaction count; the transaction is built by the ecosystem,
   signed by the Ape account (`account.sign_transaction`: a test account, or a keystore
   account unlocked with `set_autosign`) and broadcast raw;
6. node errors: "already known" is a success (same bytes already in the pool); "nonce too low"
   is a success too when the node has this very transaction (an earlier copy of the request
   landed unanswered: web3 re-sends `eth_sendRawTransaction` after a timeout), else it re-reads
   the nonce (before anything was sent) or checks whether one of our transactions was mined
   (after); "replacement transaction underpriced" bumps again. Every signed transaction is
   recorded as sent BEFORE its broadcast (write-ahead), so a process killed in between, or a
   broadcast left unanswered (timeout, dropped connection, HTTP error), leaves its hash for the
   next pass's `Keeper.reconcile` to settle (mined, replaced, or dropped when it never reached
   the node); a broadcast the node rejects marks its record dropped;
7. waits for a receipt; pending for `replace_after` seconds → the same nonce re-sent with
   fees bumped by ≥ `fee_bump_bps` (12.5 %), up to `max_replacements`; after
   `receipt_timeout` → `Stuck`;
8. the receipt: success → `Mined`; reverted → the transaction's own revert reason, decoded from
   the node's trace (`revert_of`; the call replayed at its block on a node without traces):
   `LostRace` when the error is a lost-race error or the job's `contested` chain fact says
   another address did the action (the liquidator: the borrower liquidated by someone else
   since the read block), else `Reverted` — never by timing. If the nonce was consumed by a
   transaction that is not one of ours → `Replaced`.

Every broadcast and outcome goes to the `Store` when one is given.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from keepers.errors import ErrorDecoder
from keepers.outcomes import (
    AlreadyDone,
    BroadcastUnknown,
    LostRace,
    Mined,
    Outcome,
    Refused,
    Replaced,
    Reverted,
    RpcError,
    Stuck,
    Unfunded,
    error_data,
)
from keepers.settings import TxSettings
from keepers.store import Store

log = logging.getLogger(__name__)

FIRST_POLL = 0.01
"""Seconds before the second look for a receipt; each later wait doubles, up to the settings'
`poll_interval` (`TxSender._pause`)."""

Contested = Callable[[int], "str | None"]
"""A job's race check: given a block, why another address already did the action by then
(a one-line reason), or None."""


# ---------------------------------------------------------------------- locks

_KEY_LOCKS: dict[str, threading.Lock] = {}
_KEY_LOCKS_GUARD = threading.Lock()


def _insufficient_funds(message: str) -> bool:
    """The node's words for a sender that cannot pay (geth, anvil, reth, erigon)."""
    return "insufficient funds" in message.lower()


def key_lock(address: str) -> threading.Lock:
    """The process-wide lock of one signing key: one transaction in flight per key."""
    with _KEY_LOCKS_GUARD:
        return _KEY_LOCKS.setdefault(address.lower(), threading.Lock())


# ---------------------------------------------------------------------- the sender


@dataclass
class _Attempt:
    tx_hash: str
    max_fee: int
    priority_fee: int


@dataclass
class _Flight:
    nonce: int
    gas: int
    attempts: list[_Attempt] = field(default_factory=list)
    contested: Contested | None = None

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(a.tx_hash for a in self.attempts)


def bumped(fee: int, bump_bps: int) -> int:
    """`fee` raised by at least `bump_bps` (rounded up, and by at least 1 wei)."""
    return max(math.ceil(fee * (10_000 + bump_bps) / 10_000), fee + 1)


class TxSender:
    """Sends transactions for one Ape account. Thread-safe; one transaction in flight per key.

    `provider`: an Ape provider (default: the connected one). `store`: where broadcasts and
    outcomes are recorded (optional). `job`: the job name recorded with them. `contract_types`:
    extra ABIs whose custom errors should be named (the target's are always used).
    """

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
        self._lock = key_lock(self.address)

    # ------------------------------------------------------------------ RPC

    def _rpc(self, method: str, params: list[Any]) -> Any:
        response = self.provider.web3.provider.make_request(method, params)
        if "error" in response:
            error = response["error"]
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            raise RpcError(message, error_data(error) if isinstance(error, dict) else b"")
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
        """None when the call would pass at `block`; else (error name, reason)."""
        try:
            self._rpc("eth_call", [self._call_object(to, data, value), block])
        except RpcError as error:
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
        tip = self.settings.priority_fee
        max_fee = min(
            math.ceil(base * self.settings.base_fee_multiplier) + tip, self.settings.max_fee_cap
        )
        return max_fee, min(tip, max_fee), base

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        return self._rpc("eth_getTransactionReceipt", [tx_hash])

    # ------------------------------------------------------------------ sending

    def send(
        self,
        contract: Any,
        method: str,
        *args: Any,
        action_id: str,
        value: int = 0,
        gas_limit: int | None = None,
    ) -> Outcome:
        """Calls `contract.method(*args)` as a transaction (see the module's steps)."""
        self.decoder.add(contract.contract_type)
        data = bytes(HexBytes(getattr(contract, method).encode_input(*args)))
        return self.send_raw(
            str(contract.address), data, action_id=action_id, value=value, gas_limit=gas_limit
        )

    def send_raw(
        self,
        to: str,
        data: bytes,
        *,
        action_id: str,
        value: int = 0,
        gas_limit: int | None = None,
        contested: Contested | None = None,
    ) -> Outcome:
        """Sends `data` to `to` (see the module's steps). `contested(block)`: the job's chain
        fact for "another address did this action after my read, up to `block`" (a reason, or
        None); a revert or refusal it explains is a lost race whatever its error."""
        from keepers.inflight import already_done, resume_own  # they build on this module

        to = to_checksum_address(to)
        if already_done(self, action_id):
            return AlreadyDone(action_id)
        with self._lock:
            earlier = resume_own(self, action_id)  # the key's own flight of this action first
            if earlier is not None:
                return earlier
            refusal = self.simulate(to, data, value)
            if refusal is not None:
                return self._refusal(
                    action_id, *refusal, contested=contested, call=(to, data, value)
                )
            if gas_limit is None:
                try:
                    estimate = int(
                        self._rpc("eth_estimateGas", [self._call_object(to, data, value)]), 16
                    )
                except RpcError as error:  # the state moved between the two calls
                    if _insufficient_funds(error.message):
                        return Unfunded(0, self.balance())
                    name, reason = self.decoder.decode(error.data)
                    return self._refusal(
                        action_id,
                        name or "",
                        reason or error.message,
                        contested=contested,
                        call=(to, data, value),
                    )
                gas_limit = estimate * (10_000 + self.settings.gas_margin_bps) // 10_000
            max_fee, tip, base = self.fees()
            if base >= max_fee:  # the cap leaves nothing above the base fee
                return Refused(
                    f"base fee {base} wei at or above the cap {self.settings.max_fee_cap}",
                    "FeeCapExceeded",
                )
            need, have = gas_limit * max_fee + value, self.balance()
            if have < need:
                return Unfunded(need, have)
            return self._fly(to, data, value, gas_limit, max_fee, tip, action_id, contested)

    def _race_evidence(
        self, name: str, block: Callable[[], int], contested: Contested | None
    ) -> str | None:
        """Why a revert or refusal with error `name` is a lost race (None: it is not): a
        lost-race error, or the job's chain fact that another address acted first, up to
        `block()` (read only when needed)."""
        if name in self.settings.lost_race_errors:
            return name
        return contested(block()) if contested is not None else None

    def _refusal(
        self,
        action_id: str,
        name: str,
        reason: str,
        contested: Contested | None = None,
        call: tuple[str, bytes, int] | None = None,
    ) -> Refused | LostRace:
        head = lambda: int(self._rpc("eth_blockNumber", []), 16)  # noqa: E731
        evidence = self._race_evidence(name, head, contested)
        if evidence is not None and call is not None and self._own_pending_explains(*call):
            log.warning("refused %s at the pending block only: the key's own pending "
                        "transactions may have done it (not a lost race)", action_id)  # fmt: skip
            return Refused(f"{reason}; not at the latest block, and this key has transactions "
                           "pending: not counted as a lost race", name or None)  # fmt: skip
        if evidence is not None:
            reason = reason if evidence == name else f"{reason}; {evidence}"
            log.info("lost race on %s: %s", action_id, reason)
            if self.store is not None:
                self.store.record_lost_race(
                    job=self.job, action_id=action_id, sender=self.address, error=reason,
                    block=head(),
                )  # fmt: skip
            return LostRace(reason, name)
        log.warning("refused %s: %s", action_id, reason)
        return Refused(reason, name or None)

    def _own_pending_explains(self, to: str, data: bytes, value: int) -> bool:
        """Whether a call refused at the pending block passes at the latest one while this key
        has transactions pending: its own transaction may be what the pending state shows,
        which is no race lost to another address."""
        if self.pending_nonce() <= self._latest_nonce():
            return False
        return self.simulate(to, data, value, block="latest") is None

    def _sign(self, to: str, data: bytes, value: int, flight: _Flight, fee: int, tip: int) -> bytes:
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
        """Broadcasts; "already known" counts as sent. Returns the hash."""
        tx_hash = "0x" + keccak(raw).hex()
        try:
            self._rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
        except RpcError as error:
            message = error.message.lower()
            if "already known" in message or "already imported" in message:
                return tx_hash
            if "nonce too low" in message and self._known(tx_hash):
                # This very transaction took the nonce: an earlier copy of the request landed
                # and its answer was lost (web3 re-sends eth_sendRawTransaction after a timeout).
                log.info("broadcast of %s answered late: it is already on the node", tx_hash)
                return tx_hash
            raise
        return tx_hash

    def _known(self, tx_hash: str) -> bool:
        """Whether the node has `tx_hash` (pending or mined); `BroadcastUnknown` when the node
        cannot say."""
        try:
            return self._rpc("eth_getTransactionByHash", [tx_hash]) is not None
        except RpcError as error:
            raise BroadcastUnknown(f"cannot look up {tx_hash}: {error.message}") from error

    def _record_sent(self, action_id: str, flight: _Flight, attempt: _Attempt) -> None:
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

    def _fly(
        self,
        to: str,
        data: bytes,
        value: int,
        gas: int,
        fee: int,
        tip: int,
        action_id: str,
        contested: Contested | None = None,
    ) -> Outcome:
        flight = _Flight(nonce=self.pending_nonce(), gas=gas, contested=contested)
        nonce_retries = 0
        # first broadcast: a stale nonce is re-read, an underpriced one (a stale pool entry of
        # ours with this nonce) bumped
        while True:
            try:
                raw = self._sign(to, data, value, flight, fee, tip)
                tx_hash = self._logged_broadcast(raw, action_id, flight, fee, tip)
                attempt = _Attempt(tx_hash, fee, tip)
                break
            except RpcError as error:
                message = error.message.lower()
                if "nonce too low" in message and nonce_retries < self.settings.max_nonce_retries:
                    nonce_retries += 1
                    flight.nonce = self.pending_nonce()
                    log.info("nonce too low; retrying with nonce %d", flight.nonce)
                    continue
                if "underpriced" in message and nonce_retries < self.settings.max_nonce_retries:
                    nonce_retries += 1
                    fee, tip = self._bump(fee, tip) or (fee, tip)
                    continue
                if _insufficient_funds(message):  # the balance moved since it was read
                    return Unfunded(flight.gas * fee + value, self.balance())
                return Refused(f"node rejected the transaction: {error.message}", None)
        flight.attempts.append(attempt)  # recorded before its broadcast (`_logged_broadcast`)
        log.info("sent %s nonce %d: %s", action_id, flight.nonce, attempt.tx_hash)
        return self._wait(to, data, value, flight, action_id)

    def _logged_broadcast(
        self, raw: bytes, action_id: str, flight: _Flight, fee: int, tip: int
    ) -> str:
        """Records the signed transaction as sent, then broadcasts it (write-ahead: a process
        killed between the two leaves its hash in the store, and `Keeper.reconcile` settles it —
        mined, replaced, or dropped when it never reached the node). A node that rejects it
        (`RpcError`) marks that record dropped; a broadcast left unanswered (timeout, dropped
        connection) leaves it sent for the next pass to reconcile by its hash."""
        attempt = _Attempt("0x" + keccak(raw).hex(), fee, tip)
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

    def _bump(self, fee: int, tip: int) -> tuple[int, int] | None:
        new_fee = bumped(fee, self.settings.fee_bump_bps)
        new_tip = bumped(tip, self.settings.fee_bump_bps)
        if new_fee > self.settings.max_fee_cap:
            return None
        return new_fee, min(new_tip, new_fee)

    def _wait(
        self,
        to: str,
        data: bytes,
        value: int,
        flight: _Flight,
        action_id: str,
        timeout: float | None = None,
    ) -> Outcome:
        """Waits for `flight`'s receipt, bumping its fees as the module's step 7 says; `Stuck`
        after `timeout` seconds (default: `receipt_timeout`)."""
        limit = self.settings.receipt_timeout if timeout is None else timeout
        start = self._clock()
        last_send = start
        nonce_used_at: float | None = None
        looks = 0
        while True:
            for attempt in reversed(flight.attempts):
                receipt = self._receipt(attempt.tx_hash)
                if receipt is not None and receipt.get("blockNumber"):
                    return self._settle(to, data, value, flight, attempt, receipt, action_id)
            now = self._clock()
            if self._latest_nonce() > flight.nonce:
                # The nonce is used. A node may report the new nonce before the receipt of the
                # transaction that used it: keep looking for one of ours for a grace period.
                if nonce_used_at is None:
                    nonce_used_at = now
                if now - nonce_used_at < self.settings.receipt_grace:
                    looks = self._pause(looks)
                    continue
                for attempt in flight.attempts:
                    self._record(attempt.tx_hash, "replaced", error="nonce used elsewhere")
                return Replaced(flight.nonce, flight.hashes)
            if now - start >= limit:
                return Stuck(flight.nonce, flight.hashes)
            if (
                now - last_send >= self.settings.replace_after
                and len(flight.attempts) <= self.settings.max_replacements
            ):
                last_send = now
                self._replace(to, data, value, flight, action_id)
                continue
            looks = self._pause(looks)

    def _pause(self, looks: int) -> int:
        """Sleeps before the next look for a receipt: `FIRST_POLL` after the first look, doubling
        up to `poll_interval`. A local node has mined by the second look (it answers the send
        before its automine has mined); on a chain with blocks every few seconds the few early
        looks cost a handful of reads and the rest of the wait is at the full interval."""
        self._sleep(min(FIRST_POLL * 2 ** min(looks, 16), self.settings.poll_interval))
        return looks + 1

    def _replace(
        self,
        to: str,
        data: bytes,
        value: int,
        flight: _Flight,
        action_id: str,
        floor: tuple[int, int] | None = None,
    ) -> None:
        """Re-sends the same nonce with bumped fees, at least `floor` (max fee, tip) when given
        (no-op when the cap forbids a bump)."""
        last = flight.attempts[-1]
        fees = self._bump(last.max_fee, last.priority_fee)
        if fees is None:
            log.warning("%s stuck at the fee cap; waiting", action_id)
            return
        if floor is not None:
            fee = min(max(fees[0], floor[0]), self.settings.max_fee_cap)
            fees = (fee, min(max(fees[1], floor[1]), fee))
        for _ in range(3):
            fee, tip = fees
            try:
                raw = self._sign(to, data, value, flight, fee, tip)
                tx_hash = self._logged_broadcast(raw, action_id, flight, fee, tip)
                attempt = _Attempt(tx_hash, fee, tip)
            except RpcError as error:
                message = error.message.lower()
                if "underpriced" in message:
                    fees = self._bump(*fees)
                    if fees is None:
                        return
                    continue
                if "nonce too low" in message:
                    return  # mined meanwhile: the wait loop will find which one
                log.warning("replacement of %s rejected: %s", action_id, error.message)
                return
            flight.attempts.append(attempt)  # recorded before its broadcast
            log.info("replaced %s with %s (max fee %d)", last.tx_hash, attempt.tx_hash, fee)
            return

    def _record(self, tx_hash: str, status: Any, **kwargs: Any) -> None:
        if self.store is not None:
            self.store.record_outcome(tx_hash, status, **kwargs)

    def _settle(
        self,
        to: str,
        data: bytes,
        value: int,
        flight: _Flight,
        attempt: _Attempt,
        receipt: dict[str, Any],
        action_id: str,
    ) -> Outcome:
        others = tuple(h for h in flight.hashes if h != attempt.tx_hash)
        for other in others:
            self._record(other, "replaced")
        block = int(receipt["blockNumber"], 16)
        facts = {
            "gas_used": int(receipt["gasUsed"], 16),
            "effective_gas_price": int(receipt.get("effectiveGasPrice") or "0x0", 16),
            "block": block,
        }
        if int(receipt.get("status", "0x1"), 16) == 1:
            self._record(attempt.tx_hash, "mined", **facts)
            return Mined(
                attempt.tx_hash,
                receipt,
                flight.nonce,
                attempt.max_fee,
                attempt.priority_fee,
                others,
            )
        # Reverted on chain: the transaction's own revert data names the error (a lost race
        # shows as the winner's effect), or the job's chain fact shows another address acted.
        name, reason = self.revert_of(attempt.tx_hash, block, to, data, value)
        evidence = self._race_evidence(name, lambda: block, flight.contested)
        if evidence is not None:
            reason = reason if evidence == name else f"{reason}; {evidence}"
            self._record(attempt.tx_hash, "lost-race", error=reason, **facts)
            return LostRace(reason, name, attempt.tx_hash)
        self._record(attempt.tx_hash, "reverted", error=reason, **facts)
        return Reverted(attempt.tx_hash, receipt, reason, name or None)

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
