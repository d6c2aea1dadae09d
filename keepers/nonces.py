"""The key's nonces used for something other than a flight's own transaction.

- `fill_gaps(sender, lowest, wait)`: nonces below `lowest` (the key's lowest pending flight)
  that the chain has not used and nothing of the key's holds in the node's pool (the pool lost
  them: evicted, a node restart) are filled, each with a 0-value transfer to the key itself at
  the current fees, recorded as action `nonce-fill:<n>`; the flights above can then mine.
- `take_nonce(sender, to, data, action_id, stuck)`: a priority action (`keepers.actions
  .is_priority`: the sentinel's pause) sent on the nonce of the key's stuck transaction, as a
  same-nonce replacement priced at least the required bump over the stuck attempt (and at the
  current fees): it goes out instead of waiting behind a stuck approval. When a transaction
  the keeper did not send holds a lower nonce (an operator's, by hand, that cannot be mined:
  `keepers.tx_rules.held_elsewhere`), the action takes that nonce instead, outbidding it.
  The stuck attempts are recorded `replaced` (their action is planned again later); set back
  to `sent` if the stuck transaction mined first after all.

- `cancel_flight(sender, stuck, action_id)`: the key's own pending transaction at `stuck.nonce`
  cancelled by a same-nonce replacement that does nothing (a 0-value transfer to the key
  itself, action `rebalance-cancel:<digest>`), priced as `take_nonce` prices its replacement
  (the current fees, and at least the replacement bump over every attempt); recorded as sent
  before its broadcast. The cancelled attempts stay `sent` until `keepers.inflight.settle` finds
  them gone from the node's pool (`replaced`) or mined before the cancel (the chain decides).

All classify from nonces, receipts and the node's pool; the waits only bound how long a pass
looks (as in `keepers.tx.TxSender`).
"""

from __future__ import annotations

import logging

from keepers.actions import FILL_KIND
from keepers.inflight import already_done
from keepers.outcomes import (
    AlreadyDone,
    Outcome,
    Refused,
    Replaced,
    RpcError,
    Stuck,
    Unfunded,
)
from keepers.tx import TxSender
from keepers.tx_rules import (
    Attempt,
    Flight,
    bumped,
    insufficient_funds,
    nonce_too_low,
    underpriced,
    with_margin,
)

log = logging.getLogger(__name__)

TRANSFER_GAS = 21_000


def fill_gaps(sender: TxSender, lowest: int, wait: float) -> list[tuple[str, Outcome]]:
    """Fills the key's unused nonces below `lowest` that no pooled transaction of the key
    holds (the node's pending nonce counts only those that can run: a gap stops it), each
    waited on for `wait` seconds; (action id, outcome) of each, up to the first not mined.
    The caller holds the key's lock."""
    start = max(sender._latest_nonce(), sender.pending_nonce())
    filled: list[tuple[str, Outcome]] = []
    for nonce in range(start, lowest):
        action_id = f"{FILL_KIND}:{nonce}"
        log.warning("nonce %d of %s is unused below its pending nonce %d: filling it",
                    nonce, sender.address, lowest)  # fmt: skip
        outcome = _fill(sender, nonce, action_id, wait)
        filled.append((action_id, outcome))
        if isinstance(outcome, Stuck | Refused | Unfunded):
            break
    return filled


def _fill(sender: TxSender, nonce: int, action_id: str, wait: float) -> Outcome:
    fee, tip, base = sender.fees()
    if base >= fee:
        return Refused(f"base fee {base} wei at or above the cap", "FeeCapExceeded")
    flight = Flight(nonce=nonce, gas=TRANSFER_GAS)
    try:
        raw = sender._sign(sender.address, b"", 0, flight, fee, tip)
        tx_hash = sender._logged_broadcast(raw, action_id, flight, fee, tip)
    except RpcError as error:
        if insufficient_funds(error.message):
            return Unfunded(TRANSFER_GAS * fee, sender.balance())
        return Refused(f"node rejected the nonce fill: {error.message}", None)
    flight.attempts.append(Attempt(tx_hash, fee, tip))
    return sender._wait(sender.address, b"", 0, flight, action_id, timeout=wait)


def take_nonce(
    sender: TxSender, to: str, data: bytes, *, action_id: str, stuck: Stuck
) -> Outcome | None:
    """Sends `data` to `to` as a same-nonce replacement of the key's `stuck` transaction (see
    the module docstring) and waits on it as `TxSender` does. None: the stuck nonce is used
    already (send the usual way). Simulated at the latest block (the pending one holds the
    stuck transaction this one replaces)."""
    with sender._lock:
        if already_done(sender, action_id):  # under the lock: see `TxSender.send_raw`
            return AlreadyDone(action_id)
        latest = sender._latest_nonce()
        if latest > stuck.nonce:
            return None
        if latest < stuck.nonce:
            # the key's next nonce is held by a transaction the keeper did not send (its own
            # flights drain lowest first): a replacement of the stuck flight would still wait
            # behind it, so the priority action takes that nonce (at the market's fees, bumped
            # while the node says they do not outbid it) and the stuck flight stays as it is
            log.warning("nonce %d of %s is held by a transaction this keeper did not send: "
                        "%s takes it", latest, sender.address, action_id)  # fmt: skip
            stuck = Stuck(latest, ())
        refusal = sender.simulate(to, data, 0, block="latest")
        if refusal is not None:
            return sender._refusal(action_id, *refusal)
        try:
            gas = sender.estimate_gas(to, data)
        except RpcError as error:
            return Refused(f"gas estimate failed: {error.message}", None)
        flight = Flight(stuck.nonce, with_margin(gas, sender.settings.gas_margin_bps))
        fees = _outbid(sender, stuck)
        for _ in range(3):
            if fees is None:
                return Refused(f"cannot outbid nonce {stuck.nonce} under the fee cap",
                               "FeeCapExceeded")  # fmt: skip
            try:
                raw = sender._sign(to, data, 0, flight, *fees)
                tx_hash = sender._logged_broadcast(raw, action_id, flight, *fees)
                break
            except RpcError as error:
                if nonce_too_low(error.message):
                    return None  # the stuck one mined meanwhile
                if insufficient_funds(error.message):
                    return Unfunded(flight.gas * fees[0], sender.balance())
                if not underpriced(error.message):
                    return Refused(f"node rejected the transaction: {error.message}", None)
                fees = sender._bump(*fees)
        else:
            return Refused(f"replacement of nonce {stuck.nonce} underpriced", None)
        flight.attempts.append(Attempt(tx_hash, *fees))
        log.warning("%s sent on nonce %d in place of %s", action_id, stuck.nonce,
                    stuck.tx_hashes[-1] if stuck.tx_hashes else "another's")  # fmt: skip
        superseded = _supersede(sender, stuck, action_id)
        outcome = sender._wait(to, data, 0, flight, action_id)
        if isinstance(outcome, Replaced) and sender.store is not None:
            for h in superseded:  # not ours on that nonce after all: settle them again
                sender.store.reopen(h, error=f"{action_id} did not take nonce {stuck.nonce}")
        return outcome


def cancel_flight(sender: TxSender, stuck: Stuck, action_id: str) -> str | Refused | None:
    """Broadcasts a 0-value transfer to the key itself on `stuck.nonce` (the key's own pending
    flight, `stuck.tx_hashes` its attempts) as its same-nonce replacement (see the module
    docstring); returns its hash (not waited on: the caller settles it like any flight).
    `Refused` ("FeeCapExceeded") when no replacement is priced under the fee cap, or the node
    rejected it; None when the nonce is used already (the flight mined before its cancel).
    The caller holds the key's lock."""
    if sender._latest_nonce() > stuck.nonce:
        return None
    fees = _outbid(sender, stuck)
    flight = Flight(stuck.nonce, TRANSFER_GAS)
    for _ in range(3):
        if fees is None:
            return Refused(
                f"a cancel of nonce {stuck.nonce} would need more than the fee cap "
                f"{sender.settings.max_fee_cap} wei (the replacement bump over "
                f"{stuck.tx_hashes[-1] if stuck.tx_hashes else 'it'})",
                "FeeCapExceeded",
            )
        try:
            raw = sender._sign(sender.address, b"", 0, flight, *fees)
            return sender._logged_broadcast(raw, action_id, flight, *fees)
        except RpcError as error:
            if nonce_too_low(error.message):
                return None  # mined meanwhile: the chain decides
            if not underpriced(error.message):
                return Refused(f"node rejected the cancel: {error.message}", None)
            fees = sender._bump(*fees)
    return Refused(f"cancel of nonce {stuck.nonce} underpriced", None)


def _outbid(sender: TxSender, stuck: Stuck) -> tuple[int, int] | None:
    """(max fee, tip): the current fees, and at least the replacement bump over every attempt
    of `stuck`; None above the fee cap."""
    fee, tip, _ = sender.fees()
    bump = sender.settings.fee_bump_bps
    for h in stuck.tx_hashes:
        record = sender.store.transaction(h) if sender.store is not None else None
        if record is None or record.max_fee is None:
            tx = sender._rpc("eth_getTransactionByHash", [h])
            if tx is None:
                continue
            old_fee = int(tx.get("maxFeePerGas") or tx.get("gasPrice") or "0x0", 16)
            old_tip = int(tx.get("maxPriorityFeePerGas") or tx.get("gasPrice") or "0x0", 16)
        else:
            old_fee, old_tip = record.max_fee, record.priority_fee or record.max_fee
        fee, tip = max(fee, bumped(old_fee, bump)), max(tip, bumped(old_tip, bump))
    if fee > sender.settings.max_fee_cap:
        return None
    return fee, min(tip, fee)


def _supersede(sender: TxSender, stuck: Stuck, action_id: str) -> list[str]:
    """Records the stuck attempts still `sent` as replaced by `action_id`; their hashes."""
    store = sender.store
    if store is None:
        return []
    superseded = []
    for h in stuck.tx_hashes:
        record = store.transaction(h)
        if record is not None and record.status == "sent":
            store.record_outcome(h, "replaced", error=f"superseded by {action_id}")
            superseded.append(h)
    return superseded
