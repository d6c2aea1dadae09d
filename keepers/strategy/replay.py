"""Replay receipts: a rationale document holds everything its decision was computed from, so
anyone can run the strategy again on it and check that it decides the same.

A document (`keepers.strategy.rationale`) records `inputs` (the vault as read at `inputs.block`,
including the return-index history the forecasts used), `params` (every setting) and `strategy`
(its name and `code`, the keccak256 of the strategy's source: `strategy_code_hash`). `replay`
rebuilds `StrategyInputs` and `StrategyParams` from the document (reals are read back from the
fixed-point strings they were written as), runs `decide` again and compares the document it
writes with the receipt, byte for byte; a difference is named by the top-level field where it
appears (the targets first). Pure: no chain I/O (the CLI cross-checks the chain inputs).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal, Union, get_args, get_origin

from eth_utils import keccak

from keepers.strategy.inputs import StrategyInputs, StrategyParams
from keepers.strategy.rationale import decode

__all__ = ["Replay", "ReceiptError", "StrategyUnavailable", "from_document", "replay",
           "strategy_code_hash"]  # fmt: skip

STRATEGY_NAME: Final = "ballast.statistical"
# The source the decision depends on: the strategy package and the keepers' fixed-point math.
_SOURCES: Final = (Path(__file__).parent, Path(__file__).parent.parent / "math")


class ReceiptError(ValueError):
    """The document is not a receipt this strategy can replay (one-line message)."""


class StrategyUnavailable(ReceiptError):
    """The receipt names a strategy this keeper cannot run: its entry point does not import
    here, or it now proposes targets the kit refuses (one-line message)."""


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


def _build(tp: Any, value: Any, where: str) -> Any:
    """`value` (canonical JSON data) as an instance of type `tp`."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _build(inner, value, where)
    if origin is Literal:
        if value not in get_args(tp):
            raise ReceiptError(f"{where}: {value!r} is not one of {get_args(tp)}")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list):
            raise ReceiptError(f"{where}: expected a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ReceiptError(f"{where}: expected {len(args)} items")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_build(a, v, f"{where}[{i}]") for i, (a, v) in pairs)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ReceiptError(f"{where}: expected an object")
        hints = typing.get_type_hints(tp)
        fields = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = set(value) - fields
        if unknown:
            raise ReceiptError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            return tp(**{k: _build(hints[k], v, f"{where}.{k}") for k, v in value.items()})
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
    inputs = _build(StrategyInputs, document["inputs"], "inputs")
    params = _build(StrategyParams, document["params"], "params")
    return inputs, params


@dataclass(frozen=True)
class Replay:
    """`ok`: running the strategy on the receipt's inputs and settings wrote the same document.
    `differences`: each top-level field that differs, said in words (targets first);
    `recorded_target`/`replayed_target`: the outcome's targets (None: no target computed);
    `code_matches`: the receipt's strategy code is this keeper's."""

    ok: bool
    differences: tuple[str, ...]
    recorded_target: tuple[int, ...] | None
    replayed_target: tuple[int, ...] | None
    code_matches: bool


def _target(document: dict[str, Any] | None) -> tuple[int, ...] | None:
    outcome = (document or {}).get("outcome") or {}
    target = outcome.get("target_bps")
    return tuple(int(b) for b in target) if isinstance(target, list) else None


def replay(document_bytes: bytes) -> Replay:
    """Re-run the strategy on the receipt `document_bytes` (see the module docstring): the
    statistical one, or the entry point the receipt names (`keepers.strategy.kit`)."""
    from keepers.strategy.kit import ProposalRefused, StrategyLoadError, decide_with
    from keepers.strategy.kit import strategy_source_hash as source_hash
    from keepers.strategy.pipeline import decide

    try:
        recorded = decode(document_bytes)
    except (UnicodeDecodeError, ValueError) as err:
        raise ReceiptError(f"the document is not canonical JSON: {err}") from None
    inputs, params = from_document(recorded)
    identity = recorded.get("strategy") or {}
    name, code = identity.get("name"), identity.get("code")
    differences: list[str] = []
    if name in (None, STRATEGY_NAME):
        expected, result = strategy_code_hash(), decide(inputs, params)
    else:
        try:
            expected, result = source_hash(name), decide_with(name, inputs, params)
        except (StrategyLoadError, ProposalRefused) as err:
            raise StrategyUnavailable(str(err)) from None
    code_matches = code == expected
    if not code_matches:
        differences.append(f"strategy code: the receipt's {code} is not this keeper's {expected}")
    replayed = decode(result.rationale) if result.rationale is not None else None
    before, after = _target(recorded), _target(replayed)
    if before != after:
        differences.append(f"targets: recorded {before}, replayed {after}")
    if replayed is None:
        differences.append(f"outcome: the replay stops early ({result.code}: {result.reason})")
    else:
        for key in sorted(set(recorded) | set(replayed)):
            if key != "strategy" and recorded.get(key) != replayed.get(key):
                differences.append(f"{key}: differs from the replay")
    ok = result.rationale == document_bytes
    return Replay(ok and not differences, tuple(differences), before, after, code_matches)
