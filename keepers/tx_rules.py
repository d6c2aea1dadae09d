"""The rules of the keepers' transaction sender, pure: no node, no clock, no store
(`keepers.tx.TxSender` is the shell that reads the node and acts on them).

- `Attempt`, `Flight`: one nonce's signed transactions, oldest first, each with its fees.
- `price(base_fee, settings)`: a new transaction's (max fee, tip): base fee × multiplier + tip,
  capped by `max_fee_cap`, the tip never above the max fee.
- `with_margin(estimate, margin_bps)`: the gas limit of a node's gas estimate.
- `bumped`, `bump`, `at_least`: a replacement's fees — at least `fee_bump_bps` (≥ 12.5 %, what
  nodes require of a same-nonce replacement) and 1 wei above the last attempt's, never above
  the cap.
- `insufficient_funds`, `already_known`, `nonce_too_low`, `underpriced`: what the node's refusal
  of a broadcast says.
- `poll_delay(looks, poll_interval)`: the pause before the next look for a receipt.
- `after_look(...)`: what a wait does when a look found no receipt of the flight — look again,
  replace it, call it replaced (its nonce used by another transaction) or stuck.
- `mined`, `succeeded`, `receipt_facts`: what a receipt says.
- `race_reason(reason, name, evidence)`: a lost race's one-line reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, TypeGuard

from keepers.settings import TxSettings

FIRST_POLL = 0.01
"""Seconds before the second look for a receipt; each later wait doubles, up to the settings'
`poll_interval` (`TxSender._pause`)."""

Contested = Callable[[int], "str | None"]
"""A job's race check: given a block, why another address already did the action by then
(a one-line reason), or None."""


# ---------------------------------------------------------------------- flights


@dataclass
class Attempt:
    """One signed transaction of a flight: its hash and the fees it was signed with."""

    tx_hash: str
    max_fee: int
    priority_fee: int


@dataclass
class Flight:
    """One nonce's transaction: its gas limit, its attempts (each a replacement of the one
    before, oldest first) and the job's race check (`Contested`)."""

    nonce: int
    gas: int
    attempts: list[Attempt] = field(default_factory=list)
    contested: Contested | None = None

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(a.tx_hash for a in self.attempts)


# ---------------------------------------------------------------------- prices


def price(base_fee: int, settings: TxSettings) -> tuple[int, int]:
    """(max fee, tip) per gas of a new transaction over a block of `base_fee`: max fee = base
    fee × multiplier + tip, capped by `max_fee_cap`; the tip never above the max fee."""
    tip = settings.priority_fee
    max_fee = min(math.ceil(base_fee * settings.base_fee_multiplier) + tip, settings.max_fee_cap)
    return max_fee, min(tip, max_fee)


def with_margin(estimate: int, margin_bps: int) -> int:
    """The gas limit for a node's gas `estimate`: × (1 + `margin_bps`), rounded down."""
    return estimate * (10_000 + margin_bps) // 10_000


def bumped(fee: int, bump_bps: int) -> int:
    """`fee` raised by at least `bump_bps` (rounded up, and by at least 1 wei)."""
    return max(-(-fee * (10_000 + bump_bps) // 10_000), fee + 1)  # integer ceiling: exact


def bump(fee: int, tip: int, settings: TxSettings) -> tuple[int, int] | None:
    """The (max fee, tip) of a replacement of an attempt priced (`fee`, `tip`): each `bumped` by
    `fee_bump_bps`, the tip never above the max fee; None when the max fee would pass the cap."""
    new_fee = bumped(fee, settings.fee_bump_bps)
    new_tip = bumped(tip, settings.fee_bump_bps)
    if new_fee > settings.max_fee_cap:
        return None
    return new_fee, min(new_tip, new_fee)


def at_least(fees: tuple[int, int], floor: tuple[int, int], cap: int) -> tuple[int, int]:
    """(max fee, tip) `fees` raised to `floor` (the current market's fees, when they are above a
    resumed flight's bump), the max fee never above `cap` and the tip never above the max fee."""
    fee = min(max(fees[0], floor[0]), cap)
    return fee, min(max(fees[1], floor[1]), fee)


# ---------------------------------------------------------------------- node errors


def insufficient_funds(message: str) -> bool:
    """The node's words for a sender that cannot pay (geth, anvil, reth, erigon)."""
    return "insufficient funds" in message.lower()


def already_known(message: str) -> bool:
    """The node already holds these very bytes: the broadcast counts as sent."""
    message = message.lower()
    return "already known" in message or "already imported" in message


NODE_FAILURE_CODES: Final = frozenset({-32700, -32600, -32601, -32602, -32002, -32005, 429})
"""JSON-RPC error codes that say the node (or the provider in front of it) did not run the
call: parse error, invalid request, method not found, invalid params, resource unavailable,
limit exceeded (EIP-1474), and 429 (too many requests, as some providers put it)."""

NODE_FAILURE_WORDS: Final = ("rate limit", "limit exceeded", "too many requests", "timed out",
                             "timeout", "header not found", "unavailable",
                             "internal error")  # fmt: skip
"""Words of a node's (or provider's) failure; "internal error" is JSON-RPC's own message for
-32603 without revert data, which hosted providers answer when a backend fails the call (the
EVM's refusals say "execution reverted", or name the halt: "EVM error OutOfGas", "out of gas",
"gas required exceeds allowance")."""


def node_failure(error: Any) -> bool:
    """Whether an `RpcError` answering a call or gas estimate is the node failing to run it (a
    rate limit, a timeout, a backend without the block), not the EVM refusing the call: no
    revert data, and a code or words that say so. A refusal of the EVM — a revert, "EVM error
    OutOfGas", "gas required exceeds allowance" (anvil puts these under -32603 too) — is not."""
    if getattr(error, "data", b""):
        return False
    if getattr(error, "code", None) in NODE_FAILURE_CODES:
        return True
    message = str(getattr(error, "message", "")).lower()
    if "revert" in message or "evm error" in message:
        return False
    return any(word in message for word in NODE_FAILURE_WORDS)


def nonce_too_low(message: str) -> bool:
    """The nonce is used already (by one of ours or by another transaction)."""
    return "nonce too low" in message.lower()


def underpriced(message: str) -> bool:
    """The pool holds a transaction of this nonce that the fees do not outbid enough."""
    return "underpriced" in message.lower()


def held_elsewhere(latest: int, pending: int, own: Collection[int]) -> bool:
    """Whether the key's next nonce (`latest`: the lowest the chain has not used) is held in
    the node's pool by a transaction the keeper did not send (an operator's, by hand): the pool
    counts one there (`pending` above it) and none of the keeper's records in flight (`own`:
    their nonces) has it. No later nonce of the key can mine before that transaction."""
    return pending > latest and latest not in own


# ---------------------------------------------------------------------- waits


def poll_delay(looks: int, poll_interval: float) -> float:
    """Seconds before the next look for a receipt after `looks` looks: `FIRST_POLL`, doubling up
    to `poll_interval` (never overflowing, however long the wait)."""
    return min(FIRST_POLL * 2 ** min(looks, 16), poll_interval)


class WaitStep(Enum):
    """What a wait does after a look that found no receipt of its flight."""

    LOOK = "look"  # pause, then look again
    REPLACE = "replace"  # re-send the nonce with bumped fees, then look again
    REPLACED = "replaced"  # another transaction took the nonce: `Replaced`
    STUCK = "stuck"  # the wait is over: `Stuck`


def after_look(
    *,
    waited: float,
    since_sent: float,
    nonce_used_for: float | None,
    attempts: int,
    limit: float,
    settings: TxSettings,
) -> WaitStep:
    """The wait's next step: `waited` seconds since it began, `since_sent` since its last
    broadcast, `nonce_used_for` seconds since the chain first showed the flight's nonce used
    (None: not used at this look), `attempts` sent, `limit` seconds to wait in all.

    A used nonce is looked at for `receipt_grace` (a node may report the nonce before the
    receipt of the transaction that used it), then the flight is `REPLACED`, whatever the time
    left; else `STUCK` after `limit`; else `REPLACE` when the last attempt is `replace_after`
    old and `max_replacements` leaves room; else `LOOK`."""
    if nonce_used_for is not None:
        return WaitStep.LOOK if nonce_used_for < settings.receipt_grace else WaitStep.REPLACED
    if waited >= limit:
        return WaitStep.STUCK
    if since_sent >= settings.replace_after and attempts <= settings.max_replacements:
        return WaitStep.REPLACE
    return WaitStep.LOOK


# ---------------------------------------------------------------------- receipts


def mined(receipt: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    """Whether `receipt` (the node's answer, None while pending) is of a mined transaction."""
    return receipt is not None and bool(receipt.get("blockNumber"))


def succeeded(receipt: dict[str, Any]) -> bool:
    """Whether a mined transaction's receipt says it succeeded (one without a status does)."""
    return int(receipt.get("status", "0x1"), 16) == 1


def receipt_facts(receipt: dict[str, Any]) -> dict[str, int]:
    """What the store records of a mined transaction: gas used, effective gas price, block."""
    return {
        "gas_used": int(receipt["gasUsed"], 16),
        "effective_gas_price": int(receipt.get("effectiveGasPrice") or "0x0", 16),
        "block": int(receipt["blockNumber"], 16),
    }


def race_reason(reason: str, name: str, evidence: str) -> str:
    """A lost race's reason: the revert's `reason`, and the `evidence` that another address
    acted unless the evidence is the error `name` itself."""
    return reason if evidence == name else f"{reason}; {evidence}"
