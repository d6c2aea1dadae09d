"""What a transaction the keepers' sender (`keepers.tx.TxSender`) handled came to — one typed
outcome per send — and the JSON-RPC errors it raises and reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hexbytes import HexBytes


@dataclass(frozen=True)
class Mined:
    """The transaction succeeded. `replaced`: earlier hashes of the same nonce it superseded."""

    tx_hash: str
    receipt: dict[str, Any]
    nonce: int
    max_fee: int
    priority_fee: int
    replaced: tuple[str, ...] = ()

    @property
    def gas_used(self) -> int:
        return int(self.receipt["gasUsed"], 16)

    @property
    def block(self) -> int:
        return int(self.receipt["blockNumber"], 16)


@dataclass(frozen=True)
class Reverted:
    """Mined but reverted, for a reason that is not a lost race."""

    tx_hash: str
    receipt: dict[str, Any]
    reason: str
    error_name: str | None


@dataclass(frozen=True)
class Refused:
    """Not sent: the simulation reverted (or the node rejected it, or fees are above the cap)."""

    reason: str
    error_name: str | None


@dataclass(frozen=True)
class LostRace:
    """Another keeper did it first. `tx_hash` is None when the simulation already saw it."""

    reason: str
    error_name: str
    tx_hash: str | None = None


@dataclass(frozen=True)
class Replaced:
    """Our nonce was consumed by a transaction that is none of ours (another process)."""

    nonce: int
    tx_hashes: tuple[str, ...]


@dataclass(frozen=True)
class Stuck:
    """Still pending after `receipt_timeout` (status stays `sent` in the store). `behind`: the
    key's lowest unused nonce when a transaction the keeper did not send holds it (an operator's,
    by hand, or another process's) — the one this waits behind; None when none does."""

    nonce: int
    tx_hashes: tuple[str, ...]
    behind: int | None = None

    def why(self) -> str:
        """`nonce N still pending`, and what it waits behind when that is not the keeper's."""
        held = "" if self.behind is None else (
            f" behind nonce {self.behind}, held by a transaction this keeper did not send"
        )  # fmt: skip
        return f"nonce {self.nonce} still pending{held}"


@dataclass(frozen=True)
class AlreadyDone:
    """The store says this action was done (mined or lost race) before."""

    action_id: str


@dataclass(frozen=True)
class Unfunded:
    """Not sent: the key's balance (`have`, wei, pending state) is below what the transaction
    may cost (`need`: gas limit × max fee + value), or the node said "insufficient funds"."""

    need: int
    have: int


Outcome = Mined | Reverted | Refused | LostRace | Replaced | Stuck | AlreadyDone | Unfunded


# ---------------------------------------------------------------------- errors


class RpcError(Exception):
    """A JSON-RPC error: message, revert data (when any) and code (when the node gave one)."""

    def __init__(self, message: str, data: bytes = b"", code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        self.code = code


class BroadcastUnknown(Exception):
    """Whether a broadcast reached the node cannot be told (the lookup of its hash failed)."""


def error_data(error: dict[str, Any]) -> bytes:
    data = error.get("data")
    if isinstance(data, dict):  # some nodes nest it
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes(HexBytes(data))
        except ValueError:
            return b""
    return b""
