"""The scenario format (README: "Scenario format"): the path and file types, JSON, load/save.

Split from generate.py (which re-exports every name here). Optional fields added after the
first files were written (`family` of a file, `flows` and `events` of a path) are written only
when set, so a file without them (`scenarios-200.json.gz`) loads and saves to the same bytes.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from keepers.math import RateModel

FORMAT: Final = "ballast-backtest-scenarios/1"
DAY_SECONDS: Final = 86_400
SLEEVES: Final = ("tbill", "gold", "invoices", "lending")
RWA: Final = ("tbill", "gold", "invoices")
FREEZABLE: Final = ("tbill", "invoices")
LENDING: Final = "lending"
# lend.rate.* of deployments/config/local.yaml: 0 % base, 4 % slope to the 80 % kink, then 60 %.
RATE_MODEL: Final = RateModel(base_bps=0, slope1_bps=400, slope2_bps=6_000, kink_bps=8_000)
WAD: Final = 10**18
EVENT_SLEEVES: Final = (*SLEEVES, "vault")
# What the chain can hold: a `returnIndex` is a uint256 WAD of at least one wei (the keeper reads
# 0 as 1 wei), a base fee a uint256 of wei. Beyond them a path is no market a vault can see, and
# the simulator's arithmetic leaves the floats (an index of 1e300 times WAD is infinite).
MIN_INDEX: Final = 1 / WAD
MAX_INDEX: Final = (2**256 - 1) / WAD
MAX_BASE_FEE_GWEI: Final = (2**256 - 1) / 10**9
# Depositor flows and index moves compound: redemptions of 90 % of the shares every day for a
# year leave 1e-330 of them, below what a float holds (the simulator divided by 0); a sleeve
# jumping between 1e-18 and 1e59, bought low each time, multiplies the vault by 1e77 a round
# (OverflowError). A vault's shares and assets are uint256 units: from one deposit they span
# less than 1e77 either way; 1e60 (for the flows, and for the index moves) keeps floats finite.
MAX_SHARE_EXP: Final = 60
MAX_SHARE_FACTOR: Final = 10.0**MAX_SHARE_EXP


class ScenarioError(ValueError):
    """A scenario file that does not follow the format (one-line message)."""


@dataclass(frozen=True)
class MarketPath:
    """One generated market. Day `k` runs over `0..history_days + days` (the run starts at
    `k = history_days`); every series has `history_days + days + 1` entries.

    `nav`: each sleeve's index (its `returnIndex`, 1.0 at `k = 0`; the lending index is the
    supply index net of default losses); `apy`: the stated annual yield of tbill and invoices
    and the lending supply rate, in force from day `k` to `k + 1`; `frozen`: `[start, end)` day
    intervals during which the issuer redeems nothing; `utilization`, `health`: the lending
    book's utilization and its borrowers' median health factor; `defaults`: `(day, fraction of
    the book lost)`; `crashes`: `(day, drop)` of gold (informational, already in `nav`);
    `stress`: `[start, end)` intervals of the stress regime; `base_fee_gwei`: the day's base
    fee; `flows` (optional): `(day, fraction)` depositor flows, a deposit of `fraction` of the
    vault's NAV (> 0) or a redemption request of `-fraction` of its shares (< 0), on a
    simulated day; `events` (optional, informational): `(day, sleeve, kind, size)` labels of
    what a family put in the path (a bad print, a mark-down and its recovery, a gate)."""

    id: int
    history_days: int
    days: int
    nav: Mapping[str, tuple[float, ...]]
    apy: Mapping[str, tuple[float, ...]]
    frozen: Mapping[str, tuple[tuple[int, int], ...]]
    utilization: tuple[float, ...]
    health: tuple[float, ...]
    defaults: tuple[tuple[int, float], ...]
    crashes: tuple[tuple[int, float], ...]
    stress: tuple[tuple[int, int], ...]
    base_fee_gwei: tuple[float, ...]
    flows: tuple[tuple[int, float], ...] = ()
    events: tuple[tuple[int, str, str, float], ...] = ()

    @property
    def length(self) -> int:
        """Number of entries of every series: `history_days + days + 1`."""
        return self.history_days + self.days + 1

    def is_frozen(self, sleeve: str, day: int) -> bool:
        """The sleeve's issuer redeems nothing on `day`."""
        return any(a <= day < b for a, b in self.frozen.get(sleeve, ()))


@dataclass(frozen=True)
class Scenarios:
    seed: int | None
    params: Mapping[str, Any]
    paths: tuple[MarketPath, ...]
    family: str | None = None


# ------------------------------------------------------------------------------ JSON format


def to_json(scenarios: Scenarios) -> dict[str, Any]:
    """The document (README: "Scenario format")."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "seed": scenarios.seed,
        "generator": dict(scenarios.params),
        "day_seconds": DAY_SECONDS,
        "sleeves": list(SLEEVES),
        "paths": [
            {
                "id": p.id,
                "history_days": p.history_days,
                "days": p.days,
                "nav": {k: list(v) for k, v in p.nav.items()},
                "apy": {k: list(v) for k, v in p.apy.items()},
                "frozen": {k: [list(i) for i in v] for k, v in p.frozen.items()},
                "utilization": list(p.utilization),
                "health": list(p.health),
                "defaults": [list(d) for d in p.defaults],
                "crashes": [list(c) for c in p.crashes],
                "stress": [list(i) for i in p.stress],
                "base_fee_gwei": list(p.base_fee_gwei),
            }
            | ({"flows": [list(f) for f in p.flows]} if p.flows else {})
            | ({"events": [list(e) for e in p.events]} if p.events else {})
            for p in scenarios.paths
        ],
    }
    if scenarios.family is not None:
        doc["family"] = scenarios.family
    return doc


def _series(doc: Mapping[str, Any], key: str, n: int, where: str, positive: bool,
            within: tuple[float, float] | None = None) -> tuple:  # fmt: skip
    values = doc.get(key)
    if not isinstance(values, list) or len(values) != n:
        raise ScenarioError(f"{where}.{key}: expected a list of {n} numbers")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ScenarioError(f"{where}.{key}: {v!r} is not a finite number")
        if positive and v <= 0:
            raise ScenarioError(f"{where}.{key}: {v!r} is not positive")
        if within is not None and not within[0] <= v <= within[1]:
            raise ScenarioError(
                f"{where}.{key}: {v!r} is not within [{within[0]:.6g}, {within[1]:.6g}] (what "
                "a chain can hold)"
            )
        out.append(float(v))
    return tuple(out)


def _pairs(values: Any, where: str, kind: type) -> tuple[tuple[int, Any], ...]:
    if not isinstance(values, list):
        raise ScenarioError(f"{where}: expected a list of pairs")
    out = []
    for v in values:
        ok = isinstance(v, list) and len(v) == 2 and type(v[0]) is int
        accepted = (int, float) if kind is float else (kind,)
        if not ok or isinstance(v[1], bool) or not isinstance(v[1], accepted):
            raise ScenarioError(f"{where}: {v!r} is not a [day, {kind.__name__}] pair")
        out.append((v[0], kind(v[1])))
    return tuple(out)


def _path(doc: Any, i: int) -> MarketPath:
    where = f"paths[{i}]"
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where}: expected an object")
    h, d = doc.get("history_days"), doc.get("days")
    if not isinstance(h, int) or not isinstance(d, int) or h < 2 or d < 1:
        raise ScenarioError(f"{where}: history_days (>= 2) and days (>= 1) must be integers")
    n = h + d + 1
    for key in ("nav", "apy", "frozen"):
        if not isinstance(doc.get(key), dict):
            raise ScenarioError(f"{where}.{key}: expected an object")
    missing = [s for s in SLEEVES if s not in doc["nav"]]
    if missing:
        raise ScenarioError(f"{where}.nav: missing sleeve {missing[0]}")
    index = (MIN_INDEX, MAX_INDEX)
    nav = {s: _series(doc["nav"], s, n, f"{where}.nav", True, index) for s in SLEEVES}
    up = down = 0.0  # log10 of what a holding moved each day into the sleeve that rises (falls)
    for k in range(1, n):  # most could grow (shrink) by: the simulator's floats must hold it
        moves = [math.log10(nav[s][k] / nav[s][k - 1]) for s in SLEEVES]
        up, down = up + max(max(moves), 0.0), down + min(min(moves), 0.0)
    if up > MAX_SHARE_EXP or down < -MAX_SHARE_EXP:
        raise ScenarioError(
            f"{where}.nav: a holding moved each day into the sleeve that rises (falls) most "
            f"would grow by 1e{up:.0f} (shrink by 1e{down:.0f}): beyond 1e{MAX_SHARE_EXP} either "
            "way, more than a vault's assets span"
        )
    apy_names = ("tbill", "invoices", LENDING)
    missing = [s for s in apy_names if s not in doc["apy"]]
    if missing:
        raise ScenarioError(f"{where}.apy: missing sleeve {missing[0]}")
    apy = {s: _series(doc["apy"], s, n, f"{where}.apy", False) for s in apy_names}
    frozen = {}
    for s, spans in doc["frozen"].items():
        if s not in FREEZABLE:
            raise ScenarioError(f"{where}.frozen: {s!r} is not a freezable sleeve {FREEZABLE}")
        pairs = _pairs(spans, f"{where}.frozen.{s}", int)
        if any(not 0 <= a < b <= n for a, b in pairs):
            raise ScenarioError(f"{where}.frozen.{s}: intervals must lie within [0, {n}]")
        frozen[s] = pairs
    util = _series(doc, "utilization", n, where, False)
    if any(not 0 <= u < 1 for u in util):
        raise ScenarioError(f"{where}.utilization: values must lie within [0, 1)")
    defaults = _pairs(doc.get("defaults", []), f"{where}.defaults", float)
    if any(not 0 <= loss < 1 for _, loss in defaults):
        raise ScenarioError(f"{where}.defaults: losses must lie within [0, 1)")
    flows = _pairs(doc.get("flows", []), f"{where}.flows", float)
    if any(not h < day < n or not -1 < f < 10 or f == 0 for day, f in flows):
        raise ScenarioError(f"{where}.flows: days within ({h}, {n}), fractions in (-1, 10), != 0")
    kept = math.prod(1 + f for _, f in flows if f < 0)  # at most this share of the shares left
    grown = math.prod(1 + f for _, f in flows if f > 0)
    if kept < 1 / MAX_SHARE_FACTOR:
        raise ScenarioError(
            f"{where}.flows: redemptions that leave {kept:.3g} of the shares, below "
            f"1e-{MAX_SHARE_EXP}: more than a vault's shares span"
        )
    if grown > MAX_SHARE_FACTOR:
        raise ScenarioError(
            f"{where}.flows: deposits that multiply the shares by {grown:.3g}, above "
            f"1e{MAX_SHARE_EXP}: more than a vault's shares span"
        )
    return MarketPath(
        id=int(doc.get("id", i)),
        history_days=h,
        days=d,
        nav=nav,
        apy=apy,
        frozen=frozen,
        utilization=util,
        health=_series(doc, "health", n, where, True, (0.0, MAX_INDEX)),  # a WAD uint256 too
        defaults=defaults,
        crashes=tuple((k, float(v)) for k, v in _pairs(doc.get("crashes", []), where, float)),
        stress=_pairs(doc.get("stress", []), f"{where}.stress", int),
        base_fee_gwei=_series(doc, "base_fee_gwei", n, where, False, (0.0, MAX_BASE_FEE_GWEI)),
        flows=flows,
        events=_events(doc.get("events", []), f"{where}.events", n),
    )


def _events(values: Any, where: str, n: int) -> tuple[tuple[int, str, str, float], ...]:
    if not isinstance(values, list):
        raise ScenarioError(f"{where}: expected a list of [day, sleeve, kind, size]")
    out = []
    for v in values:
        ok = isinstance(v, list) and len(v) == 4 and type(v[0]) is int and 0 <= v[0] < n
        ok = ok and v[1] in EVENT_SLEEVES and isinstance(v[2], str) and v[2] != ""
        if not ok or isinstance(v[3], bool) or not isinstance(v[3], int | float):
            raise ScenarioError(f"{where}: {v!r} is not a [day, sleeve, kind, size] event")
        out.append((v[0], v[1], v[2], float(v[3])))
    return tuple(out)


def from_json(doc: Any) -> Scenarios:
    """Parse and validate a document; `ScenarioError` (one line) on anything malformed."""
    if not isinstance(doc, dict):
        raise ScenarioError("scenario file: expected a JSON object")
    if doc.get("format") != FORMAT:
        raise ScenarioError(f"scenario file: format must be {FORMAT!r}, got {doc.get('format')!r}")
    if doc.get("day_seconds", DAY_SECONDS) != DAY_SECONDS:
        raise ScenarioError(f"scenario file: day_seconds must be {DAY_SECONDS}")
    if list(doc.get("sleeves", [])) != list(SLEEVES):
        raise ScenarioError(f"scenario file: sleeves must be {list(SLEEVES)}")
    paths = doc.get("paths")
    if not isinstance(paths, list) or not paths:
        raise ScenarioError("scenario file: paths must be a non-empty list")
    seed, family = doc.get("seed"), doc.get("family")
    if family is not None and not isinstance(family, str):
        raise ScenarioError("scenario file: family must be a string")
    return Scenarios(
        seed if isinstance(seed, int) else None,
        dict(doc.get("generator") or {}),
        tuple(_path(p, i) for i, p in enumerate(paths)),
        family,
    )


def save(scenarios: Scenarios, path: Path) -> None:
    """Write compact JSON (gzip-compressed when the name ends in `.gz`), byte-reproducible."""
    data = json.dumps(to_json(scenarios), separators=(",", ":")).encode()
    if path.suffix == ".gz":  # no name, no time in the header: the same scenarios, same bytes
        with path.open("wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as f:
            f.write(data)
    else:
        path.write_bytes(data)


def load(path: Path) -> Scenarios:
    """Read a scenario file (`.json` or `.json.gz`); `ScenarioError` with a one-line message
    when it cannot be read or does not follow the format."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as f:
                text = f.read()
        else:
            text = path.read_text()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ScenarioError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from e
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScenarioError(f"{path}: not JSON: {e.msg} at line {e.lineno}") from e
    return from_json(doc)


__all__ = [
    "DAY_SECONDS",
    "FORMAT",
    "FREEZABLE",
    "LENDING",
    "RATE_MODEL",
    "RWA",
    "SLEEVES",
    "WAD",
    "MarketPath",
    "ScenarioError",
    "Scenarios",
    "from_json",
    "load",
    "save",
    "to_json",
]
