"""The risk steward's decisions (pure): chain reads → one `stewardSetBatch` with its rationale
document, plus a recommendation for the DAO when the target lies beyond the steward's bounds.

The rationale document is a replay receipt like the rebalancer's (`keepers.strategy.rationale`
encoding, `keepers.strategy.replay` rebuilding): `version` `ballast.steward/1`, `inputs` (the
registry's parameters, each collateral's oracle rounds and exit liquidity, the book, all read at
`inputs.block`), `settings` (every `StewardSettings` field), `steward` (name and `code`, the
keccak256 of this module and the math core) and `outcome` (batch, proposal, every move, the
volatilities). Its keccak256 is the `rationaleHash` of the batch (`StewardUpdate` event);
`replay_steward` re-runs the decision on it and names what differs.

A recommendation file (`recommendation`) carries the proposal's values, a one-paragraph
rationale (the proposal's description) and the block and time it was made at;
`check_recommendation` refuses a malformed, stale or unknown-parameter one in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from eth_utils import keccak

from ballast.parameters import is_known
from ballast.proposal_calls import description_gaps
from keepers.math.steward import (
    BookRisk,
    CollateralRisk,
    ParamState,
    StewardPlan,
    StewardSettings,
    plan,
)
from keepers.strategy.rationale import canonical, decode, encode, rationale_hash
from keepers.strategy.receipt import ReceiptError, rebuild

__all__ = [
    "RECOMMENDATION_VERSION",
    "VERSION",
    "RecommendationError",
    "StewardCall",
    "StewardDecision",
    "StewardInputs",
    "StewardReplay",
    "check_recommendation",
    "decide_steward",
    "recommendation",
    "replay_steward",
    "settings_differences",
    "steward_code_hash",
]

VERSION: Final = "ballast.steward/1"
RECOMMENDATION_VERSION: Final = "ballast.steward-recommendation/1"
STEWARD_NAME: Final = "ballast.steward"
_SOURCES: Final = (
    Path(__file__),
    Path(__file__).parent.parent / "math" / "steward.py",
    Path(__file__).parent.parent / "math" / "steward_liquidity.py",
    Path(__file__).parent.parent / "math" / "steward_rules.py",
)


@cache
def steward_code_hash() -> str:
    """keccak256 over the steward's source (this module, keepers/math/steward.py,
    keepers/math/steward_liquidity.py and keepers/math/steward_rules.py)."""
    root = Path(__file__).parent.parent
    h = b""
    for path in _SOURCES:
        h = keccak(h + path.relative_to(root).as_posix().encode() + keccak(path.read_bytes()))
    return "0x" + h.hex()


@dataclass(frozen=True)
class StewardInputs:
    """What the steward read at `block` (see `keepers.shell.steward`)."""

    block: int
    timestamp: int
    params: tuple[ParamState, ...]
    collaterals: tuple[CollateralRisk, ...]
    book: BookRisk
    # the registry's declared links, (rule, names, bound) (`IParameterRegistry.getLink`)
    links: tuple[tuple[int, tuple[str, ...], int], ...] = ()


@dataclass(frozen=True)
class StewardCall:
    """`stewardSetBatch(keys, values, rationaleHash, rationaleURI)` of `names`."""

    names: tuple[str, ...]
    values: tuple[int, ...]
    rationale: bytes
    digest: str  # 0x keccak256 of `rationale`
    uri: str

    def args(self) -> tuple[list[bytes], list[int], bytes, str]:
        keys = [keccak(text=n) for n in self.names]
        return keys, list(self.values), bytes.fromhex(self.digest[2:]), self.uri


@dataclass(frozen=True)
class StewardDecision:
    """The plan, its document, the call (None: nothing the steward may move now) and the
    recommendation for a proposal (None: nothing beyond the steward's bounds)."""

    plan: StewardPlan
    document: bytes
    call: StewardCall | None
    recommendation: dict[str, Any] | None


def _document(inputs: StewardInputs, settings: StewardSettings, result: StewardPlan) -> bytes:
    return encode(
        {
            "version": VERSION,
            "steward": {"name": STEWARD_NAME, "code": steward_code_hash()},
            "inputs": inputs,
            "settings": settings,
            "outcome": {
                "batch": [list(b) for b in result.batch],
                "proposal": [list(p) for p in result.proposal],
                "moves": result.moves,
                "vol": dict(sorted(result.vol.items())),
                "notes": result.notes,
            },
        }
    )


def decide_steward(
    inputs: StewardInputs, settings: StewardSettings, uri_base: str = "ballast://steward/"
) -> StewardDecision:
    """The steward's decision on `inputs` (pure)."""
    params = {p.name: p for p in inputs.params}
    result = plan(params, inputs.collaterals, inputs.book, settings, inputs.timestamp, inputs.links)
    document = _document(inputs, settings, result)
    digest = "0x" + rationale_hash(document).hex()
    call = None
    if result.batch:
        names, values = zip(*result.batch, strict=True)
        call = StewardCall(tuple(names), tuple(values), document, digest, uri_base + digest)
    rec = recommendation(inputs, result, digest, uri_base + digest) if result.proposal else None
    return StewardDecision(result, document, call, rec)


def _describe(inputs: StewardInputs, result: StewardPlan, digest: str, uri: str) -> str:
    params = {p.name: p for p in inputs.params}
    moves = {m.name: m for m in result.moves}
    parts = [
        f"{name} {params[name].value} -> {value} (model target {moves[name].target})"
        for name, value in result.proposal
    ]
    vols = ", ".join(f"{n} {v:.0%}/yr" for n, v in sorted(result.vol.items()))
    return (
        f"Risk steward recommendation (block {inputs.block}): set {'; '.join(parts)}. "
        f"These moves lie beyond the steward's on-chain bounds. Collateral volatility: {vols}; "
        f"book debt {inputs.book.debt}, bad debt {inputs.book.bad_debt}. "
        f"Rationale document keccak256 {digest} at {uri} (replay: ballast-keeper verify-steward "
        f"{digest} --replay)."
    )


def recommendation(
    inputs: StewardInputs, result: StewardPlan, digest: str, uri: str
) -> dict[str, Any]:
    """The recommendation file's data (JSON)."""
    return {
        "version": RECOMMENDATION_VERSION,
        "created": {"block": inputs.block, "timestamp": inputs.timestamp},
        "values": [list(pair) for pair in result.proposal],  # in a link-safe order
        "rationale": _describe(inputs, result, digest, uri),
        "rationale_hash": digest,
        "rationale_uri": uri,
    }


class RecommendationError(ValueError):
    """A recommendation file that must not become a proposal (one-line message)."""


def check_recommendation(
    data: Any, now: int, max_age: int, known: Any = is_known
) -> tuple[list[tuple[str, int]], str]:
    """The (name, value) changes, in order, and the description of a recommendation file's
    parsed JSON `data`, or `RecommendationError`: not an object of this version, values not a
    list of [name, non-negative int] with each name once, an unknown parameter (`known(name)`
    false), no rationale, a rationale that does not name every value as the values give it (the
    rationale is what voters read; the values are what executes), or created more than
    `max_age` seconds before `now`."""
    if not isinstance(data, dict) or data.get("version") != RECOMMENDATION_VERSION:
        raise RecommendationError(f"not a steward recommendation ({RECOMMENDATION_VERSION})")
    values = data.get("values")
    pairs_ok = (
        isinstance(values, list)
        and values
        and all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) for v in values)
    )
    if not pairs_ok:
        raise RecommendationError("its 'values' must be a non-empty list of [name, value]")
    if len({name for name, _ in values}) != len(values):
        raise RecommendationError("its 'values' name a parameter twice")
    for name, value in values:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise RecommendationError(f"{name}: value {value!r} is not a non-negative integer")
        if not known(name):
            raise RecommendationError(f"unknown parameter {name!r}")
    rationale = data.get("rationale")
    if not isinstance(rationale, str) or not rationale.strip():
        raise RecommendationError("it has no rationale (the proposal's description)")
    if gaps := description_gaps(rationale, [(name, value) for name, value in values]):
        raise RecommendationError(f"its rationale does not say what its values do: {gaps[0]}")
    created = data.get("created")
    stamp = created.get("timestamp") if isinstance(created, dict) else None
    if not isinstance(stamp, int) or isinstance(stamp, bool):
        raise RecommendationError("its 'created.timestamp' is missing")
    if now - stamp > max_age:
        raise RecommendationError(
            f"stale: made {now - stamp}s ago, more than the {max_age}s allowed"
        )
    return [(name, value) for name, value in values], rationale


def load_recommendation(path: Path) -> Any:
    """A recommendation file's JSON, or `RecommendationError` in one line."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RecommendationError(f"{path} not found") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise RecommendationError(f"{path} is not JSON: {err}".splitlines()[0]) from None
    except OSError as err:  # a folder, no permission, ...
        raise RecommendationError(f"{path} cannot be read: {err.strerror or err}") from None


# ------------------------------------------------------------------ replay


@dataclass(frozen=True)
class StewardReplay:
    """`ok`: the steward, re-run on the receipt's inputs and settings, wrote the same bytes;
    `differences`: what differs, in words; `inputs`: the receipt's inputs (for the chain
    cross-check); `settings`: the receipt's settings (for `settings_differences`: a replay
    re-runs the settings the receipt names, whatever they are)."""

    ok: bool
    differences: tuple[str, ...]
    inputs: StewardInputs
    code_matches: bool
    settings: StewardSettings = StewardSettings()


def settings_differences(recorded: StewardSettings, configured: StewardSettings) -> tuple[str, ...]:
    """Each setting the receipt decided with that is not the `configured` one (the steward
    settings the DAO delegated, as the verifier's `steward` section gives them), compared in the
    receipt's own encoding (reals to its fixed places). A replay alone proves only that the
    receipt's outcome follows from the receipt's settings: a steward that priced its batch with
    a z of its own choosing (or `loosen` on where the DAO delegated tighten-only) wrote a receipt
    that replays exactly. (Found in an outside review of the steward.)"""
    mine, theirs = canonical(recorded), canonical(configured)
    return tuple(
        f"settings.{name}: the receipt's {mine.get(name)!r}, configured {theirs.get(name)!r}"
        for name in sorted(set(mine) | set(theirs))
        if mine.get(name) != theirs.get(name)
    )


def replay_steward(document_bytes: bytes) -> StewardReplay:
    """Re-run the steward on the receipt `document_bytes`; `ReceiptError` if it is not one."""
    try:
        recorded = decode(document_bytes)
    except (UnicodeDecodeError, ValueError) as err:
        raise ReceiptError(f"the document is not canonical JSON: {err}") from None
    if recorded.get("version") != VERSION:
        raise ReceiptError(f"not a steward receipt ({VERSION})")
    for key in ("inputs", "settings", "outcome"):
        if key not in recorded:
            raise ReceiptError(f"the document has no {key!r}: it is not a replay receipt")
    inputs = rebuild(StewardInputs, recorded["inputs"], "inputs")
    settings = rebuild(StewardSettings, recorded["settings"], "settings")
    identity = recorded.get("steward")
    identity = identity if isinstance(identity, dict) else {}
    differences: list[str] = []
    code_matches = identity.get("code") == steward_code_hash()
    if not code_matches:
        differences.append(
            f"steward code: the receipt's {identity.get('code')} is not this keeper's "
            f"{steward_code_hash()}"
        )
    try:
        replayed = decode(decide_steward(inputs, settings).document)
    except (ArithmeticError, ValueError) as err:
        # settings or inputs no steward could have decided from (a volatility floor of 0 on a
        # flat price, an infinite or NaN setting, an amount beyond a float): not a receipt
        raise ReceiptError(f"the steward cannot run on its inputs and settings: "
                           f"{type(err).__name__}: {err}") from None  # fmt: skip
    before = recorded.get("outcome")
    before, after = (before if isinstance(before, dict) else {}), replayed["outcome"]
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            was, now = _short(before.get(key)), _short(after.get(key))
            differences.append(f"outcome.{key}: recorded {was}, replayed {now}")
    for key in sorted(set(recorded) | set(replayed)):
        if key not in ("steward", "outcome") and recorded.get(key) != replayed.get(key):
            differences.append(f"{key}: differs from the replay")
    same = encode(replayed) == document_bytes
    return StewardReplay(
        same and not differences, tuple(differences), inputs, code_matches, settings
    )


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 120 else text[:117] + "..."
