"""Revert data in words: Error(string), Panic(uint256), or a custom error of the contracts a
keeper talks to. One decoder for the sender (simulations, replays) and the snapshots."""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


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


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)
