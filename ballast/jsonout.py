"""Status views as JSON (`--json` on every status command): dataclasses, tuples, enums, bytes and
paths become plain JSON types; amounts stay integers in base units, as read on chain."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any


def plain(value: Any) -> Any:
    """`value` as JSON types (dataclasses and mappings as objects, bytes as 0x-hex, anything
    else as str)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):  # a dict, or a read-only view of one (MappingProxyType)
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def document(version: str, **fields: Any) -> str:
    """One JSON document: `version` first, then `fields` as plain JSON."""
    return json.dumps({"version": version, **plain(fields)}, indent=2)
