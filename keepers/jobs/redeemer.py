"""Redeemer job, decision part: whether to call `processRedeemQueue(maxRequests)`.

`RWAVault.redeemQueueTrigger()` returns `(true, abi.encodeCall(processRedeemQueue, (count)))`
or `(false, bytes(reason))` ("queue empty", "no liquidity"). `decode_redeem_trigger` turns that
into a `RedeemTrigger`; `plan_redeem` applies the operator's settings:

- a false trigger is a skip with its reason;
- `count < min_batch` waits (skip "batch too small") unless the oldest request has waited
  `max_wait_seconds`;
- a base fee above `max_base_fee_wei` waits (skip "base fee") under the same exception;
- otherwise `RedeemCall(max_requests=min(count, max_requests_cap))`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from eth_utils import keccak

PROCESS_SELECTOR: Final = keccak(text="processRedeemQueue(uint256)")[:4]


@dataclass(frozen=True)
class RedeemTrigger:
    """`redeemQueueTrigger()` decoded: `count` requests to process when `ok`, else `reason`."""

    ok: bool
    count: int = 0
    reason: str = ""


def decode_redeem_trigger(ok: bool, data: bytes) -> RedeemTrigger:
    """Decode the trigger's `(bool, bytes)`; malformed call data raises ValueError."""
    data = bytes(data)
    if not ok:
        return RedeemTrigger(False, 0, data.decode("utf-8", errors="replace"))
    if len(data) != 36 or data[:4] != PROCESS_SELECTOR:
        raise ValueError(f"not a processRedeemQueue(uint256) call: 0x{data.hex()}")
    return RedeemTrigger(True, int.from_bytes(data[4:], "big"))


@dataclass(frozen=True)
class RedeemerSettings:
    """`max_requests_cap`: most requests per call (gas bound); `min_batch`: fewest worth a tx;
    `max_wait_seconds`: a request older than this is processed regardless of batch size and
    base fee; `max_base_fee_wei`: None for no ceiling."""

    max_requests_cap: int = 50
    min_batch: int = 1
    max_wait_seconds: int = 3_600
    max_base_fee_wei: int | None = None

    def __post_init__(self) -> None:
        if self.max_requests_cap < 1 or self.min_batch < 1 or self.max_wait_seconds < 0:
            raise ValueError("cap and minimum batch must be >= 1, wait non-negative")


@dataclass(frozen=True)
class RedeemCall:
    """Send `processRedeemQueue(max_requests)`; `forced` when only the wait limit made it go."""

    max_requests: int
    forced: bool = False


@dataclass(frozen=True)
class RedeemSkip:
    reason: str


def plan_redeem(
    trigger: RedeemTrigger,
    base_fee_wei: int,
    settings: RedeemerSettings | None = None,
    oldest_wait_seconds: int | None = None,
) -> RedeemCall | RedeemSkip:
    """The redeemer's move for this block (see the module docstring)."""
    settings = settings or RedeemerSettings()
    if not trigger.ok:
        return RedeemSkip(trigger.reason or "trigger false")
    if trigger.count == 0:
        return RedeemSkip("nothing to process")
    overdue = oldest_wait_seconds is not None and oldest_wait_seconds >= settings.max_wait_seconds
    n = min(trigger.count, settings.max_requests_cap)
    if trigger.count < settings.min_batch and not overdue:
        return RedeemSkip(f"batch too small: {trigger.count} < {settings.min_batch}")
    ceiling = settings.max_base_fee_wei
    if ceiling is not None and base_fee_wei > ceiling and not overdue:
        return RedeemSkip(f"base fee {base_fee_wei} above {ceiling}")
    forced = overdue and (
        trigger.count < settings.min_batch or (ceiling is not None and base_fee_wei > ceiling)
    )
    return RedeemCall(n, forced)


__all__ = [
    "PROCESS_SELECTOR",
    "RedeemCall",
    "RedeemSkip",
    "RedeemTrigger",
    "RedeemerSettings",
    "decode_redeem_trigger",
    "plan_redeem",
]
