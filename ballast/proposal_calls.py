"""What a proposal executes, in words (pure): its calls decoded against the ABIs of the
deployment's contracts, and what the proposer's description leaves out or contradicts.

A proposal's description is the proposer's free text; what the timelock runs is its calls. A
voter (`ape run params status ID`, `params vote`) and the guardian are shown both: every call
decoded (parameter keys by name, roles by name), and one line for each thing the description does
not say: a call that is not a parameter change (`set`, `setBatch` or `unfreeze` on the
ParameterRegistry, all that `params propose` makes), a target that is no contract of the
deployment, ether sent, a parameter changed that the description never names, or a value the
description states (``name = value``, ``name old -> value``) that differs from the call's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import function_abi_to_4byte_selector, keccak, to_checksum_address
from eth_utils.abi import collapse_if_tuple

from ballast import params as P

REGISTRY = "ParameterRegistry"
# What `ape run params propose` makes: value changes, and lifting a freeze before them.
PARAMETER_CALLS = frozenset({"set", "setBatch", "unfreeze"})
ROLE_NAMES: dict[bytes, str] = {
    b"\x00" * 32: "DEFAULT_ADMIN_ROLE",
    **{
        keccak(text=role): role
        for role in (
            "GOVERNANCE_ROLE",
            "STEWARD_ROLE",
            "GUARDIAN_ROLE",
            "ALLOWLIST_ROLE",
            "PROPOSER_ROLE",
            "EXECUTOR_ROLE",
            "CANCELLER_ROLE",
        )  # fmt: skip
    },
}

NameOf = Callable[[bytes], "str | None"]  # a registry key's parameter name, None if unknown


@dataclass(frozen=True)
class Call:
    """One call of a proposal: `contract` None when the target is no contract of the
    deployment, `function` None when no function of its ABI has the data's selector."""

    target: str
    value: int
    data: bytes
    contract: str | None = None
    function: str | None = None
    args: tuple[tuple[str, str, Any], ...] = ()  # (name, ABI type, value)


def decode_call(
    target: str, value: int, data: bytes, contracts: Mapping[str, tuple[str, Sequence[dict]]]
) -> Call:
    """`data` sent to `target` decoded against `contracts` (lower-case address → (name, ABI))."""
    target, data = to_checksum_address(target), bytes(data)
    known = contracts.get(target.lower())
    if known is None:
        return Call(target, value, data)
    name, abi = known
    for entry in abi:
        if entry.get("type") != "function" or function_abi_to_4byte_selector(entry) != data[:4]:
            continue
        types = [collapse_if_tuple(i) for i in entry.get("inputs", [])]
        try:
            decoded = decode(types, data[4:])
        except (DecodingError, ValueError, OverflowError):
            break
        names = [i.get("name") or f"arg{n}" for n, i in enumerate(entry.get("inputs", []))]
        args = tuple(zip(names, types, decoded, strict=True))
        return Call(target, value, data, name, entry["name"], args)
    return Call(target, value, data, name)


def parameter_changes(calls: Sequence[Call]) -> list[tuple[bytes, int]]:
    """The (key, value) of every `set` and `setBatch` on the registry, in call order."""
    out: list[tuple[bytes, int]] = []
    for call in calls:
        if call.contract != REGISTRY or call.function not in ("set", "setBatch"):
            continue
        first, second = call.args[0][2], call.args[1][2]
        batch = call.function == "setBatch"
        pairs = zip(first, second, strict=False) if batch else [(first, second)]
        out += [(bytes(k), int(v)) for k, v in pairs]
    return out


def _label(key: bytes, name_of: NameOf) -> str:
    return name_of(key) or ROLE_NAMES.get(key) or "0x" + key.hex()


def _show_arg(abi_type: str, value: Any, name_of: NameOf) -> str:
    if abi_type.endswith("]"):
        inner = abi_type[: abi_type.rindex("[")]
        return "[" + ", ".join(_show_arg(inner, v, name_of) for v in value) + "]"
    if abi_type == "bytes32":
        return _label(bytes(value), name_of)
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith(("uint", "int")):
        return f"{value:,}"
    if abi_type.startswith("bytes"):
        return "0x" + bytes(value).hex()
    if abi_type == "string":
        return repr(value)
    return str(value)


def show_call(call: Call, name_of: NameOf) -> str:
    """One call as a voter reads it, e.g.
    ``ParameterRegistry.setBatch(vault.idleBufferBps = 600, agent.vetoWindow = 4d)``."""
    sent = f", sending {call.value:,} wei" if call.value else ""
    if call.contract is None:
        return f"{call.target} (not a contract of this deployment): data 0x{call.data.hex()}{sent}"
    if call.function is None:
        return f"{call.contract}: no function of it has selector 0x{call.data[:4].hex()}{sent}"
    if call.contract == REGISTRY and call.function in ("set", "setBatch"):
        changes = parameter_changes([call])
        shown = ", ".join(
            f"{_label(k, name_of)} = {P.show_value(_label(k, name_of), v)}" for k, v in changes
        )
        if call.function == "setBatch" and len(call.args[0][2]) != len(call.args[1][2]):
            shown += f"; {len(call.args[0][2])} keys for {len(call.args[1][2])} values"
        return f"{REGISTRY}.{call.function}({shown}){sent}"
    args = ", ".join(_show_arg(t, v, name_of) for _, t, v in call.args)
    return f"{call.contract}.{call.function}({args}){sent}"


def _mentions(description: str, name: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", description) is not None


def _stated_values(description: str, name: str) -> list[str]:
    """The values `description` gives `name`: ``name = X`` (`params propose`), ``name old -> X``
    (the steward's recommendations)."""
    pattern = rf"(?<![\w.]){re.escape(name)}(?![\w.])\s*(?:=|[^\s,;=]*\s*(?:->|→))\s*([^\s;()]+)"
    return [m.group(1).rstrip(",.") for m in re.finditer(pattern, description)]


def _reads_as(name: str, text: str, value: int) -> bool:
    """Does `text`, stated for `name` in a description, read as `value` (as shown, in the
    asset's units or base units, with or without thousands separators)?"""
    plain = text.replace(",", "").replace("_", "")
    if plain.isdigit() and int(plain) == value:
        return True
    try:
        return P.parse_value(name, text) == value
    except P.InputError:
        return False


def description_gaps(description: str, changes: Sequence[tuple[str, int]]) -> list[str]:
    """One line for each change `description` does not name, or names with another value."""
    out: list[str] = []
    for name, value in changes:
        shown = P.show_value(name, value)
        if not _mentions(description, name):
            out.append(f"it sets {name} to {shown}, which the description does not mention")
            continue
        for stated in _stated_values(description, name):
            if not _reads_as(name, stated, value):
                out.append(f"the description gives {name} as {stated}; the call sets {shown}")
    return out


def warnings(description: str, calls: Sequence[Call], name_of: NameOf) -> list[str]:
    """One line for each thing the description does not say about the calls."""
    out: list[str] = []
    for call in calls:
        if call.value:
            out.append(f"a call sends {call.value:,} wei to {call.contract or call.target}")
        if call.contract is None:
            out.append(f"it calls {call.target}, which is not a contract of this deployment")
        elif call.function is None:
            out.append(f"it calls {call.contract} with data no function of it decodes")
        elif call.contract != REGISTRY or call.function not in PARAMETER_CALLS:
            out.append(
                f"{call.contract}.{call.function} is not a parameter change: read it before voting"
            )
        elif call.function == "setBatch" and len(call.args[0][2]) != len(call.args[1][2]):
            out.append("a setBatch gives keys and values of different lengths (it reverts)")
    named: list[tuple[str, int]] = []
    for key, value in parameter_changes(calls):
        name = name_of(key)
        if name is None:
            out.append(f"it sets 0x{key.hex()}, which is no parameter of the registry")
        else:
            named.append((name, value))
    return out + description_gaps(description, named)
