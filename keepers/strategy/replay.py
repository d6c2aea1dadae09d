"""Replay receipts: a rationale document holds everything its decision was computed from, so
anyone can run the strategy again on it and check that it decides the same.

A document (`keepers.strategy.rationale`) records `inputs` (the vault as read at `inputs.block`,
including the return-index history the forecasts used), `params` (every setting) and `strategy`
(its name and `code`, the keccak256 of the strategy's source: `strategy_code_hash`). `replay`
rebuilds `StrategyInputs` and `StrategyParams` from the document (reals are read back from the
fixed-point strings they were written as), runs `decide` again and compares the document it
writes with the receipt; a difference is named by the top-level field where it appears (the
targets first). Pure: no chain I/O (the CLI cross-checks the chain inputs).

Trust: the receipt is the agent's document, and the strategy it names is code. The replay runs
it only when the caller trusts it (`trusted`: `kit.trusted_strategies`, by default the shipped
strategies); any other entry point is refused (`StrategyUntrusted`, one line naming it and the
`--strategy` that would run it) before anything of it is imported.

Comparison: the targets, every integer and every word exactly; a real (a fixed-point string,
`rationale.DECIMALS` places) to within `REAL_TOLERANCE` of the receipt's, relative to its size
(absolute below 1). The optimiser's answer is floating point: the same code on another CPU
(NumPy's BLAS picks its kernels by CPU) may differ in its last digits — a committed receipt's
continuous solution moved by 1e-12 bps between two machines, the same targets — and that is not
a different decision. `exact` says whether the bytes are identical too.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final

from keepers.strategy.kit import (
    BUILTIN,
    ENTRY_POINT,
    SHIPPED,
    ProposalRefused,
    StrategyLoadError,
    decide_with,
)
from keepers.strategy.kit import strategy_source_hash as source_hash
from keepers.strategy.rationale import MAX_DOCUMENT_BYTES, decode
from keepers.strategy.receipt import (
    STRATEGY_NAME,
    ReceiptError,
    StrategyUnavailable,
    StrategyUntrusted,
    from_document,
    strategy_code_hash,
)

__all__ = ["REAL_TOLERANCE", "VAULT_MAX_SLEEVES", "Replay", "ReceiptError", "StrategyUnavailable",
           "StrategyUntrusted", "from_document", "replay", "require_trusted", "same",
           "strategy_code_hash"]  # fmt: skip

REAL_TOLERANCE: Final = 1e-9
# RWAVault.MAX_SLEEVES: a receipt with more sleeves is no vault's (and the optimiser's work grows
# as the cube of their number: 800 made one replay take 38 s and 380 MB).
VAULT_MAX_SLEEVES: Final = 10
_REAL: Final = re.compile(r"-?[0-9]+\.[0-9]+")  # rationale.fixed's form; integers have no point


@dataclass(frozen=True)
class Replay:
    """`ok`: running the strategy on the receipt's inputs and settings wrote the same document
    (reals within `REAL_TOLERANCE`, see the module docstring) with the same strategy code.
    `differences`: each top-level field that differs, said in words (targets first);
    `recorded_target`/`replayed_target`: the outcome's targets (None: no target computed);
    `code_matches`: the receipt's strategy code is this keeper's; `exact`: the replay wrote the
    receipt's very bytes."""

    ok: bool
    differences: tuple[str, ...]
    recorded_target: tuple[int, ...] | None
    replayed_target: tuple[int, ...] | None
    code_matches: bool
    exact: bool = False


def same(recorded: Any, replayed: Any) -> bool:
    """Whether two decoded document values agree: the same shape, words and integers exactly,
    reals (fixed-point strings) to within `REAL_TOLERANCE` relative to the larger (absolute
    below 1)."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        return recorded.keys() == replayed.keys() and all(
            same(v, replayed[k]) for k, v in recorded.items()
        )
    if isinstance(recorded, list) and isinstance(replayed, list):
        return len(recorded) == len(replayed) and all(map(same, recorded, replayed))
    if (
        isinstance(recorded, str)
        and isinstance(replayed, str)
        and _REAL.fullmatch(recorded)
        and _REAL.fullmatch(replayed)
    ):
        a, b = float(recorded), float(replayed)
        return abs(a - b) <= REAL_TOLERANCE * max(1.0, abs(a), abs(b))
    return type(recorded) is type(replayed) and recorded == replayed


def _target(document: dict[str, Any] | None) -> tuple[int, ...] | None:
    outcome = (document or {}).get("outcome") or {}
    target = outcome.get("target_bps")
    return tuple(int(b) for b in target) if isinstance(target, list) else None


def _without_code(identity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in identity.items() if k != "code"}


def require_trusted(name: str, trusted: Collection[str]) -> None:
    """`StrategyUntrusted` (one line) unless the entry point `name` a receipt names is one of
    `trusted` (exactly). Imports nothing."""
    if name in trusted:
        return
    if ENTRY_POINT.fullmatch(name):
        raise StrategyUntrusted(
            f"strategy {name!r} is not one this verifier trusts (the shipped strategies, "
            f"rebalancer.strategy, --strategy): nothing of it was imported; pass --strategy "
            f"{name} to run it"
        )
    raise StrategyUntrusted(
        f"strategy {name!r} is not one this verifier trusts, nor an entry point "
        f"(package.module:function): nothing of it was imported"
    )


def replay(
    document_bytes: bytes, time_limit: float | None = None, trusted: Collection[str] = SHIPPED
) -> Replay:
    """Re-run the strategy on the receipt `document_bytes` (see the module docstring): the
    statistical one, or the entry point the receipt names (`keepers.strategy.kit`; within
    `time_limit` seconds when it is set) when it is one of `trusted` (`require_trusted`: any
    other is `StrategyUntrusted`, nothing of it imported). A receipt that cannot be re-run
    (malformed, or settings the strategy cannot run with) is a `ReceiptError` in one line,
    whatever fails inside. Bounded whatever the receipt (it is the agent's document): one over
    `MAX_DOCUMENT_BYTES` or with more sleeves than a vault holds (`VAULT_MAX_SLEEVES`) is a
    `ReceiptError` before anything runs, and the statistical strategy, like any, runs within
    `time_limit` (`StrategyUnavailable` when it does not return in time)."""
    if len(document_bytes) > MAX_DOCUMENT_BYTES:
        raise ReceiptError(f"the receipt is {len(document_bytes):,} bytes, above the "
                           f"{MAX_DOCUMENT_BYTES:,} a rationale document may be")  # fmt: skip
    try:
        return _replay(document_bytes, time_limit, trusted)
    except ReceiptError:
        raise
    except Exception as err:  # noqa: BLE001 - a malformed receipt: one line, never a traceback
        text = str(err).strip().splitlines()[0] if str(err).strip() else "(no message)"
        reason = f"{type(err).__name__}: {text}"
        raise ReceiptError(f"the receipt cannot be replayed: {reason}") from None


def _replay(document_bytes: bytes, time_limit: float | None, trusted: Collection[str]) -> Replay:
    try:
        recorded = decode(document_bytes)
    except (UnicodeDecodeError, ValueError) as err:
        raise ReceiptError(f"the document is not canonical JSON: {err}") from None
    inputs, params = from_document(recorded)
    if len(inputs.sleeves) > VAULT_MAX_SLEEVES:
        raise ReceiptError(f"inputs.sleeves: {len(inputs.sleeves)} sleeves, more than a vault "
                           f"holds ({VAULT_MAX_SLEEVES})")  # fmt: skip
    identity = recorded.get("strategy") or {}
    if not isinstance(identity, dict):
        raise ReceiptError("strategy: expected an object")
    name, code = identity.get("name"), identity.get("code")
    if name is not None and not isinstance(name, str):
        raise ReceiptError("strategy.name: expected a string")
    differences: list[str] = []
    if name in (None, STRATEGY_NAME):
        expected = strategy_code_hash()
        try:  # the statistical strategy, within the time limit too
            result = decide_with(BUILTIN, inputs, params, time_limit)
        except ProposalRefused as err:
            raise StrategyUnavailable(str(err)) from None
    else:
        require_trusted(name, trusted)  # before anything of it is imported
        try:
            result = decide_with(name, inputs, params, time_limit)
            # the identity the run computed (within the time limit); an empty vault's run
            # writes no document
            identity = (decode(result.rationale).get("strategy") or {}) if result.rationale else {}
            expected = identity.get("code") or source_hash(name)
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
            a, b = recorded.get(key), replayed.get(key)
            if key == "strategy" and isinstance(a, dict) and isinstance(b, dict):
                a, b = _without_code(a), _without_code(b)  # the code is named above
            if not same(a, b):
                differences.append(f"{key}: differs from the replay")
    exact = result.rationale == document_bytes
    return Replay(not differences, tuple(differences), before, after, code_matches, exact)
