"""What a replay receipt is made of, apart from re-running it: the strategy's identity (its name
and the keccak256 of its source, `strategy_code_hash`) that every decision document records,
and rebuilding the dataclasses a document was computed from out of its canonical JSON
(`rebuild`, `from_document`; reals are read back from the fixed-point strings they were written
as). The decision pipeline imports the identity from here, and `keepers.strategy.replay` — which
runs the pipeline or a kit strategy again — imports both, so neither imports the other.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal, Union, get_args, get_origin

from eth_utils import keccak

from keepers.strategy.inputs import StrategyInputs, StrategyParams

__all__ = ["ReceiptError", "StrategyUnavailable", "StrategyUntrusted", "from_document", "rebuild",
           "strategy_code_hash", "strategy_identity"]  # fmt: skip

STRATEGY_NAME: Final = "ballast.statistical"
# The source the decision depends on: the strategy package and the keepers' fixed-point math.
_SOURCES: Final = (Path(__file__).parent, Path(__file__).parent.parent / "math")


class ReceiptError(ValueError):
    """The document is not a receipt this strategy can replay (one-line message)."""


class StrategyUnavailable(ReceiptError):
    """The receipt names a strategy this keeper cannot run: its entry point does not import
    here, or it now proposes targets the kit refuses (one-line message)."""


class StrategyUntrusted(StrategyUnavailable):
    """The receipt names a strategy the verifier does not trust (`kit.trusted_strategies`):
    nothing of it was imported or run (one-line message)."""


@cache
def strategy_code_hash() -> str:
    """keccak256 over the strategy's source files (path relative to `keepers/`, then bytes, in
    path order) as `0x` hex: the identity a receipt records."""
    root = Path(__file__).parent.parent
    h = b""
    for folder in _SOURCES:
        for path in sorted(folder.glob("*.py")):
            h = keccak(h + path.relative_to(root).as_posix().encode() + keccak(path.read_bytes()))
    return "0x" + h.hex()


def strategy_identity() -> dict[str, str]:
    """The `strategy` field of a document."""
    return {"name": STRATEGY_NAME, "code": strategy_code_hash()}


def rebuild(tp: Any, value: Any, where: str) -> Any:
    """`value` (canonical JSON data) as an instance of type `tp`."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return rebuild(inner, value, where)
    if origin is Literal:
        if value not in get_args(tp):
            raise ReceiptError(f"{where}: {value!r} is not one of {get_args(tp)}")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list):
            raise ReceiptError(f"{where}: expected a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(rebuild(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ReceiptError(f"{where}: expected {len(args)} items")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(rebuild(a, v, f"{where}[{i}]") for i, (a, v) in pairs)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ReceiptError(f"{where}: expected an object")
        hints = typing.get_type_hints(tp)
        fields = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = set(value) - fields
        if unknown:
            raise ReceiptError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            return tp(**{k: rebuild(hints[k], v, f"{where}.{k}") for k, v in value.items()})
        except (TypeError, ValueError) as err:
            raise ReceiptError(f"{where}: {err}") from None
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ReceiptError(f"{where}: expected a fixed-point string")
        try:
            return float(value)
        except ValueError:
            raise ReceiptError(f"{where}: {value!r} is not a number") from None
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ReceiptError(f"{where}: expected an integer")
        return value
    if tp is str or tp is bool:
        if not isinstance(value, tp):
            raise ReceiptError(f"{where}: expected a {tp.__name__}")
        return value
    raise ReceiptError(f"{where}: cannot rebuild a {tp!r}")


def from_document(document: dict[str, Any]) -> tuple[StrategyInputs, StrategyParams]:
    """The inputs and settings a decision document was computed from."""
    for key in ("inputs", "params"):
        if key not in document:
            raise ReceiptError(f"the document has no {key!r}: it is not a replay receipt")
    inputs = rebuild(StrategyInputs, document["inputs"], "inputs")
    params = rebuild(StrategyParams, document["params"], "params")
    return inputs, params
