"""The rationale document: canonical JSON whose keccak256 goes on chain as `rationaleHash`.

A decision's document records what it saw and why it acted: inputs (the vault as read at a
block, with the return-index history), every setting, the strategy's identity (name and code
hash), forecasts, constraints, the solution and the expected gain: a replay receipt anyone can
re-run (`keepers.strategy.replay`). `RWAVault.rebalance` takes its hash (`Rebalanced` emits
it); the body is kept locally under that hash, and anyone holding the body can check it with
`verify`.

Canonical encoding (so that the same inputs always give the same bytes, hence the same hash):

- JSON, UTF-8, keys sorted, no whitespace (`,` and `:` separators), ASCII only (`\\uXXXX`
  escapes);
- integers as JSON integers (bps, amounts, wei, WAD indices, timestamps: exact, any size);
- real numbers never as JSON floats: as decimal strings with exactly `DECIMALS` places, rounded
  half-even, without exponent (`"0.050000000000"`); `-0` is written as `0`; NaN and infinities
  are refused;
- tuples as arrays, dataclasses as objects of their fields, bytes as `0x` hex, None as null;
  a dataclass field marked `OMIT_AT_DEFAULT` in its metadata (a setting added after receipts
  were written, whose default is how those receipts decided) is left out while at its default,
  so an older receipt, which lacks it, re-encodes to its own bytes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any, Final

from eth_utils import keccak

VERSION: Final = "ballast.rationale/2"  # 2: a replay receipt (strategy identity, block)
DECIMALS: Final = 12
_QUANTUM: Final = Decimal(1).scaleb(-DECIMALS)
_CONTEXT: Final = Context(prec=400)  # every finite float (up to ~1.8e308) to DECIMALS places
OMIT_AT_DEFAULT: Final = "omit_at_default"  # field metadata key: left out while at its default
# The largest document a verifier reads and a replay runs (and so a keeper sends: its own replay
# refuses one above it). The keeper's receipts are far below it (ten sleeves' 2,000 readings
# each: about 0.6 MiB; a lending book adds about 70 bytes a borrower); a document is the agent's,
# and one of hundreds of megabytes would hold gigabytes of the verifier's memory.
MAX_DOCUMENT_BYTES: Final = 16 * 2**20
# The deepest nesting a verifier decodes. The keeper's receipts nest 7 deep; Python's C JSON
# decoder recurses once per level, and a process that imported py_ecc (every Ape process: it
# raises the recursion limit to 100,000) overflows the C stack long before RecursionError:
# `[` 100,000 deep killed the verifier with a segmentation fault (found in this project's CI).
MAX_DEPTH: Final = 100
_STRUCTURE: Final = re.compile(rb'[\[\]{}"\\]')


def nesting_within(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether no array or object in the JSON text `data` is nested more than `limit` deep
    (brackets inside strings not counted), read without decoding it."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return True
    depth, in_string, escaped = 0, False, -1
    for match in _STRUCTURE.finditer(data):
        at = match.start()
        if at == escaped:
            continue
        c = data[at]
        if in_string:
            if c == 0x5C:  # a backslash: the next byte is escaped
                escaped = at + 1
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return False
        elif c in (0x5D, 0x7D):
            depth -= 1
    return True


def fixed(x: float) -> str:
    """`x` as a decimal string with exactly `DECIMALS` places (half-even); finite only."""
    if not math.isfinite(x):
        raise ValueError(f"cannot encode non-finite number {x!r}")
    exact = Decimal(x).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=_CONTEXT)
    text = format(exact, "f")
    return text[1:] if text.startswith("-") and Decimal(text) == 0 else text


def canonical(value: Any) -> Any:
    """`value` as plain JSON data under the rules above (ints kept, reals as fixed strings)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return fixed(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return canonical(value.item())
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: canonical(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.metadata.get(OMIT_AT_DEFAULT) and getattr(value, f.name) == f.default)
        }
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("rationale object keys must be strings")
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    raise TypeError(f"cannot encode {type(value).__name__} in a rationale")


def encode(document: Mapping[str, Any]) -> bytes:
    """The canonical bytes of `document`."""
    text = json.dumps(
        canonical(document),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return text.encode("ascii")


def rationale_hash(document_bytes: bytes) -> bytes:
    """`keccak256(document_bytes)`: the 32 bytes sent as `rationaleHash`."""
    return keccak(document_bytes)


def is_canonical(document_bytes: bytes) -> bool:
    """The bytes are a JSON object already in canonical form (decoding and re-encoding them
    gives them back). Never raises: a document nested deeper than the decoder or the encoder
    walks is not canonical (found in an outside review: `[` 5,000 deep, the document an agent
    published under its decision's hash, ended `verify-decision` in a RecursionError)."""
    if not nesting_within(document_bytes):
        return False
    try:
        parsed = json.loads(document_bytes.decode("ascii"), parse_float=_refuse_float)
        return isinstance(parsed, dict) and encode(parsed) == document_bytes
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested beyond what either walks
        return False


def _refuse_float(text: str) -> Any:
    raise ValueError(f"JSON float {text} in a rationale")


def verify(document_bytes: bytes, expected_hash: bytes | str) -> bool:
    """The document is canonical and hashes to `expected_hash` (32 bytes or `0x` hex)."""
    if isinstance(expected_hash, str):
        text = expected_hash.removeprefix("0x").removeprefix("0X")
        try:
            expected_hash = bytes.fromhex(text)
        except ValueError:
            return False
    if len(expected_hash) != 32:
        return False
    return rationale_hash(document_bytes) == expected_hash and is_canonical(document_bytes)


def decode(document_bytes: bytes) -> dict[str, Any]:
    """The document's data (reals stay the fixed strings they were written as). `ValueError`
    (or `UnicodeDecodeError`) for anything else, a document nested deeper than the decoder walks
    included (a RecursionError ended `verify-steward` with a traceback)."""
    if not nesting_within(document_bytes):
        raise ValueError(f"a rationale nested deeper than {MAX_DEPTH} levels")
    try:
        parsed = json.loads(document_bytes.decode("ascii"), parse_float=_refuse_float)
    except RecursionError:
        raise ValueError("a rationale nested deeper than a JSON decoder walks") from None
    if not isinstance(parsed, dict):
        raise ValueError("a rationale is a JSON object")
    return parsed
