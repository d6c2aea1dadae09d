"""The keeper's transaction sender (after stakewise v3-operator's): simulate, price, send, wait,
replace, and say what happened as a typed outcome.

`TxSender(account).send(contract, "evaluate", 3, action_id="evaluate:3")`:

1. under the key's lock (one transaction in flight per key, across every sender of the
   process), `already_done(action_id)` in the store → `AlreadyDone` (a restart does no double
   work, nor does a second sender of the key that waited for the lock while the first did the
   action; a lost race seen only by a simulation counts for `reorg_depth` blocks:
   `inflight.already_done`);
2. still under the lock, the key's own `sent` transactions of the same action (any block's:
   `keepers.actions.action_key`) are settled or resumed — re-priced, waited on, bumped on their
   nonce (`keepers.inflight.resume_own`); one still pending → its `Stuck`: nothing new is
   simulated or sent;
3. simulation with `eth_call` at the pending block (a node failing to answer — a rate limit,
   a timeout: `tx_rules.node_failure` — raises, here and at the estimate: a node error that
   fails the pass, never a refusal of the action); a revert → `LostRace` when its custom error
   is one of `TxSettings.lost_race_errors` or `contested` (below) shows another address did the
   action first, else `Refused` (also when the call passes at the latest block while the key
   has transactions pending: the pending state may show the key's own transaction);
4. gas = `eth_estimateGas` × (1 + margin); EIP-1559 fees: max fee = base fee × multiplier +
   tip, capped by `max_fee_cap` (a base fee at or above the cap → `Refused("FeeCapExceeded")`;
   an emergency action's sender has `emergency_fee_cap` there: `TxSettings.emergency`);
   a key whose balance cannot pay gas limit × max fee (+ value) → `Unfunded`, nothing sent;
5. nonce = the node's pending transaction count; the transaction is built by the ecosystem,
   signed by the Ape account (`account.sign_transaction`: a test account, or a keystore
   account unlocked with `set_autosign`) and broadcast raw;
6. node errors: "already known" is a success (same bytes already in the pool); any other error
   is a success too when the node has this very transaction ("nonce too low": an earlier copy of
   the request landed unanswered, web3 re-sends `eth_sendRawTransaction` after a timeout; any
   error: a gateway that forwarded it and answered with an error), else "nonce too low" re-reads
   the nonce (before anything was sent) or checks whether one of our transactions was mined
   (after); "replacement transaction underpriced" re-reads the nonce when the pending nonce
   moved past it (another process of the key pooled a transaction on it after the read: it is
   not outbid and evicted), else bumps again; a node failure (`tx_rules.node_failure`: a rate
   limit, a backend's "Internal error") of a broadcast the node does not hold raises, as at the
   simulation: a node error that fails the pass, never a refusal of the action. Every signed
   transaction is recorded as sent BEFORE its broadcast (write-ahead), so a process killed in
   between, or a broadcast left unanswered (timeout, dropped connection, HTTP error), leaves its
   hash for the next pass's `Keeper.reconcile` to settle (mined, replaced, or dropped when it
   never reached the node); a broadcast the node rejects marks its record dropped;
7. waits for a receipt; pending for `replace_after` seconds → the same nonce re-sent with
   fees bumped by ≥ `fee_bump_bps` (12.5 %) and at least the market's price of step 4 (a base
   fee that jumped above the flight's max fee needs more than a bump: a replacement under the
   base fee is refused by the node and could never be mined), up to `max_replacements`; after
   `receipt_timeout` → `Stuck`;
8. the receipt: success → `Mined`; reverted → the transaction's own revert reason, decoded from
   the node's trace (`revert_of`; the call replayed at its block on a node without traces):
   `LostRace` when the error is a lost-race error or the job's `contested` chain fact says
   another address did the action (the liquidator: the borrower liquidated by someone else
   since the read block), else `Reverted` — never by timing. If the nonce was consumed by a
   transaction that is not one of ours → `Replaced`: once the nonce has shown used for
   `receipt_grace` with no receipt of ours, the node is asked for each attempt itself (as
   `keepers.inflight.settle` asks); one it holds in a block is ours, mined, its receipt not
   served yet: never written off, looked at until the wait's timeout (then `Stuck`, settled
   from its receipt by a later pass).

Every broadcast and outcome goes to the `Store` when one is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes

from keepers.outcomes import (
    AlreadyDone,
    LostRace,
    Mined,
    Outcome,
    Refused,
    Replaced,
    Reverted,
    RpcError,
    Stuck,
    Unfunded,
)
from keepers.tx_node import KeyNode, key_lock
from keepers.tx_rules import (
    FIRST_POLL,
    Attempt,
    Contested,
    Flight,
    WaitStep,
    after_look,
    at_least,
    bump,
    bumped,
    insufficient_funds,
    mined,
    node_failure,
    nonce_too_low,
    poll_delay,
    race_reason,
    receipt_facts,
    succeeded,
    underpriced,
    with_margin,
)

__all__ = ["FIRST_POLL", "Contested", "TxSender", "bumped", "key_lock"]

log = logging.getLogger(__name__)


class TxSender(KeyNode):
    """Sends transactions for one Ape account. Thread-safe; one transaction in flight per key.

    `provider`: an Ape provider (default: the connected one). `store`: where broadcasts and
    outcomes are recorded (optional). `job`: the job name recorded with them. `contract_types`:
    extra ABIs whose custom errors should be named (the target's are always used).
    """

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
        with self._lock:
            # asked under the lock: another sender of the key (another job's, or a thread) may
            # have done this very action while this one waited for the lock
            if already_done(self, action_id):
                return AlreadyDone(action_id)
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
                    if node_failure(error):
                        raise  # the node failed (rate limit, timeout): a node error, no refusal
                    if insufficient_funds(error.message):
                        return Unfunded(0, self.balance())
                    name, reason = self.decoder.decode(error.data)
                    return self._refusal(
                        action_id,
                        name or "",
                        reason or error.message,
                        contested=contested,
                        call=(to, data, value),
                    )
                gas_limit = with_margin(estimate, self.settings.gas_margin_bps)
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
            reason = race_reason(reason, name, evidence)
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
        flight = Flight(nonce=self.pending_nonce(), gas=gas, contested=contested)
        nonce_retries = 0
        # first broadcast: a stale nonce is re-read; an underpriced one is re-read too when the
        # pending nonce moved past it (another process of the key put a transaction there after
        # the read: outbidding it would evict that process's transaction), else bumped
        while True:
            try:
                raw = self._sign(to, data, value, flight, fee, tip)
                tx_hash = self._logged_broadcast(raw, action_id, flight, fee, tip)
                attempt = Attempt(tx_hash, fee, tip)
                break
            except RpcError as error:
                retry = nonce_retries < self.settings.max_nonce_retries
                if nonce_too_low(error.message) and retry:
                    nonce_retries += 1
                    flight.nonce = self.pending_nonce()
                    log.info("nonce too low; retrying with nonce %d", flight.nonce)
                    continue
                if underpriced(error.message) and retry:
                    nonce_retries += 1
                    pending = self.pending_nonce()
                    if pending > flight.nonce:  # taken by another's pooled transaction
                        log.info("nonce %d taken in the pool; sending on nonce %d",
                                 flight.nonce, pending)  # fmt: skip
                        flight.nonce = pending
                        continue
                    fee, tip = self._bump(fee, tip) or (fee, tip)
                    continue
                if insufficient_funds(error.message):  # the balance moved since it was read
                    return Unfunded(flight.gas * fee + value, self.balance())
                if node_failure(error):  # not forwarded (a rate limit, a backend failing): a
                    raise  # node error that fails the pass, never a refusal of the action
                return Refused(f"node rejected the transaction: {error.message}", None)
        flight.attempts.append(attempt)  # recorded before its broadcast (`_logged_broadcast`)
        log.info("sent %s nonce %d: %s", action_id, flight.nonce, attempt.tx_hash)
        return self._wait(to, data, value, flight, action_id)

    def _bump(self, fee: int, tip: int) -> tuple[int, int] | None:
        return bump(fee, tip, self.settings)

    def _wait(
        self,
        to: str,
        data: bytes,
        value: int,
        flight: Flight,
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
        unreceipted = False
        while True:
            for attempt in reversed(flight.attempts):
                receipt = self._receipt(attempt.tx_hash)
                if mined(receipt):
                    return self._settle(to, data, value, flight, attempt, receipt, action_id)
            if self.stopping.is_set():
                # the process is stopping: no more waiting or fee bumps; the flight stays
                # `sent` in the store, and the next start settles it by its hashes
                log.warning("%s nonce %d left in flight: stopping", action_id, flight.nonce)
                return Stuck(flight.nonce, flight.hashes)
            now = self._clock()
            used_for: float | None = None
            if self._latest_nonce() > flight.nonce:
                # The nonce is used. A node may report the new nonce before the receipt of the
                # transaction that used it: keep looking for one of ours for a grace period.
                if nonce_used_at is None:
                    nonce_used_at = now
                used_for = now - nonce_used_at
            step = after_look(
                waited=now - start,
                since_sent=now - last_send,
                nonce_used_for=used_for,
                attempts=len(flight.attempts),
                limit=limit,
                settings=self.settings,
            )
            if step is WaitStep.REPLACED and any(
                self._in_a_block(a.tx_hash) for a in reversed(flight.attempts)
            ):
                # the nonce is ours after all, its receipt not served yet (as `settle` finds)
                if not unreceipted:
                    log.info("%s nonce %d is mined but its receipt is not served yet",
                             action_id, flight.nonce)  # fmt: skip
                unreceipted = True
                if now - start >= limit:
                    return Stuck(flight.nonce, flight.hashes)
                looks = self._pause(looks)
                continue
            if step is WaitStep.REPLACED:
                for attempt in flight.attempts:
                    self._record(attempt.tx_hash, "replaced", error="nonce used elsewhere")
                return Replaced(flight.nonce, flight.hashes)
            if step is WaitStep.STUCK:
                return Stuck(flight.nonce, flight.hashes, self._held_below(flight.nonce))
            if step is WaitStep.REPLACE:
                last_send = now
                # at least the market's price: a base fee that rose above the flight's max fee
                # needs more than the bump, else the replacement cannot be mined either
                self._replace(to, data, value, flight, action_id, floor=self.fees()[:2])
                continue
            looks = self._pause(looks)

    def _held_below(self, nonce: int) -> int | None:
        """The key's lowest unused nonce, when it is below `nonce` and no transaction of the
        keeper's (its store's records in flight) holds it: what a stuck `nonce` waits behind is
        someone else's (`keepers.tx_rules.held_elsewhere`)."""
        if self.store is None:  # a sender by hand keeps no records: it cannot tell
            return None
        latest = self._latest_nonce()
        own = {r.nonce for r in self.store.in_flight(self.address)}
        return latest if latest < nonce and latest not in own else None

    def _pause(self, looks: int) -> int:
        """Sleeps before the next look for a receipt: `FIRST_POLL` after the first look, doubling
        up to `poll_interval`. A local node has mined by the second look (it answers the send
        before its automine has mined); on a chain with blocks every few seconds the few early
        looks cost a handful of reads and the rest of the wait is at the full interval."""
        self._sleep(poll_delay(looks, self.settings.poll_interval))
        return looks + 1

    def _replace(
        self,
        to: str,
        data: bytes,
        value: int,
        flight: Flight,
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
            fees = at_least(fees, floor, self.settings.max_fee_cap)
        for _ in range(3):
            fee, tip = fees
            try:
                raw = self._sign(to, data, value, flight, fee, tip)
                tx_hash = self._logged_broadcast(raw, action_id, flight, fee, tip)
                attempt = Attempt(tx_hash, fee, tip)
            except RpcError as error:
                if underpriced(error.message):
                    fees = self._bump(*fees)
                    if fees is None:
                        return
                    continue
                if nonce_too_low(error.message):
                    return  # mined meanwhile: the wait loop will find which one
                log.warning("replacement of %s rejected: %s", action_id, error.message)
                return
            flight.attempts.append(attempt)  # recorded before its broadcast
            log.info("replaced %s with %s (max fee %d)", last.tx_hash, attempt.tx_hash, fee)
            return

    def _settle(
        self,
        to: str,
        data: bytes,
        value: int,
        flight: Flight,
        attempt: Attempt,
        receipt: dict[str, Any],
        action_id: str,
    ) -> Outcome:
        others = tuple(h for h in flight.hashes if h != attempt.tx_hash)
        for other in others:
            self._record(other, "replaced")
        facts = receipt_facts(receipt)
        block = facts["block"]
        if succeeded(receipt):
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
            reason = race_reason(reason, name, evidence)
            self._record(attempt.tx_hash, "lost-race", error=reason, **facts)
            return LostRace(reason, name, attempt.tx_hash)
        self._record(attempt.tx_hash, "reverted", error=reason, **facts)
        return Reverted(attempt.tx_hash, receipt, reason, name or None)
