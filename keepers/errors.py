"""Revert data in words: Error(string), Panic(uint256), or a custom error of the contracts a
keeper talks to. One decoder for the sender (simulations, replays) and the snapshots.

A revert may come from a contract other than the one called (the book calls the oracle router,
the vault its sleeves and their issuers): `project_error_types()` are the contract types of every
contract the project compiles, whose errors name any of them (a library's errors are listed in
the ABI of each contract that uses it)."""

from __future__ import annotations

import functools
import re
from typing import Any, Final

from eth_abi import decode as abi_decode
from eth_utils import keccak

ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)

# Custom errors a user meets by calling the contracts as ERC-4626 or ERC-7540 clients do, in words.
SENTENCES: Final[dict[str, str]] = {
    "PreviewUnavailable": (
        "the vault has no previews: it prices deposits and redemptions at a future strike "
        "(ERC-7540); request one (requestDeposit, requestRedeem), then claim what maxDeposit "
        "and maxRedeem show"
    ),
}

# anvil: "custom error 0x8de06bce: 0000…0090" (the selector, then the ABI-encoded arguments)
_RAW_CUSTOM_ERROR = re.compile(
    r"custom error 0x((?:[0-9a-fA-F]{2}){4,})(?::\s*((?:[0-9a-fA-F]{2})*)(?![0-9a-fA-F]))?"
)


def revert_data_in(message: str) -> bytes | None:
    """The revert data in an `eth_call`'s error message as anvil words a custom error (``custom
    error 0x7dc53e1c``): Ape passes such a call's message on with the error unnamed (it names the
    custom errors of transactions), with its arguments when the message gives them (``custom error
    0x8de06bce: 0000…``). None when the message holds none."""
    found = _RAW_CUSTOM_ERROR.search(message)
    return bytes.fromhex(found.group(1) + (found.group(2) or "")) if found else None


class ErrorDecoder:
    """Names revert data from the custom errors of the given ABIs (Ape contract types)."""

    def __init__(self, *contract_types: Any) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for contract_type in contract_types:
            self.add(contract_type)

    def add(self, contract_type: Any) -> None:
        for abi in getattr(contract_type, "errors", []):
            selector = keccak(text=abi.selector)[:4]
            types = [i.canonical_type for i in abi.inputs]
            self._errors[selector] = (abi.name, types, [i.name or "" for i in abi.inputs])

    def decode(self, data: bytes) -> tuple[str | None, str]:
        """(error name or None, human reason)."""
        if not data:
            return None, "reverted without data"
        selector, body = data[:4], data[4:]
        if selector == ERROR_STRING:
            try:
                (message,) = abi_decode(["string"], body)
                return "Error", str(message)
            except Exception:  # noqa: BLE001 - malformed: fall through to the raw form
                pass
        if selector == PANIC:
            try:
                (code,) = abi_decode(["uint256"], body)
                return "Panic", f"Panic(0x{code:02x})"
            except Exception:  # noqa: BLE001
                pass
        if selector in self._errors:
            name, types, names = self._errors[selector]
            try:
                values = abi_decode(types, body)
                args = ", ".join(f"{n}={_show(v)}" for n, v in zip(names, values, strict=True))
                return name, f"{name}({args})"
            except Exception:  # noqa: BLE001
                return name, name
        return None, "0x" + data.hex()

    def in_words(self, data: bytes) -> str:
        """The revert as one phrase: a known custom error's name and sentence (`SENTENCES`),
        else `decode`'s reason."""
        name, reason = self.decode(data)
        return f"{name}: {SENTENCES[name]}" if name in SENTENCES else reason


@functools.cache
def project_error_types() -> tuple[Any, ...]:
    """The contract types of every contract of the compiled project (Ape's `project`: the keepers
    and scripts run from the project folder)."""
    from ape import project

    return tuple(project.contracts.values())


@functools.cache
def project_decoder() -> ErrorDecoder:
    """A decoder of the custom errors of every contract of the project (`project_error_types`)."""
    return ErrorDecoder(*project_error_types())


def revert_in_words(err: Any) -> str:
    """A revert (Ape's `ContractLogicError`) as one phrase. A call's custom error reaches us
    unnamed (Ape: ``custom error 0x7dc53e1c``; it names a transaction's): it is named from the
    project's contracts, with a sentence for the ones a user meets (``PreviewUnavailable: the
    vault has no previews: …``, `SENTENCES`); a named one gets its sentence too; else the node's
    message."""
    from ape.exceptions import CustomError

    if isinstance(err, CustomError):
        if err.name in SENTENCES:
            return f"{err.name}: {SENTENCES[err.name]}"
        return repr(err)
    data = revert_data_in(err.message or "")
    if data is None:
        return err.message or "reverted without a reason"
    return project_decoder().in_words(data)


def one_line(err: BaseException) -> str:
    """`Type: first line` of an error; a contract's revert in words (`revert_in_words`), its
    custom error named, never a raw selector."""
    from ape.exceptions import ContractLogicError

    text = revert_in_words(err) if isinstance(err, ContractLogicError) else str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else '(no message)'}"


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)
