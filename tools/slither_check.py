"""Static analysis gate: slither over contracts/, every finding fixed or justified.

    python tools/slither_check.py            # analyse, compare with the triage file, gate
    python tools/slither_check.py --report   # also print every finding, triaged or not

slither reaches the compiler through the solc stand-in (tools/bin/solc-v0.8.28, solcjs): a
standard-JSON input naming every source under contracts/ is written to .build/slither/ and
slither reads it with `--compile-force-framework solc-json` (slither's directory mode does not
recurse into sub-folders). node_modules (OpenZeppelin, also Ape's copy of it in
contracts/.cache) and contracts/mocks are filtered out: mocks never ship.

Each finding is keyed by its detector and where it sits (Contract.function, or
Contract.function.variable for a local variable; a detector may report several findings at one
key, e.g. two strict equalities in one function). security/slither-triage.yaml justifies keys:

    - check: incorrect-equality
      where: [RWAVault.deposit, RWAVault.redeem]
      verdict: false-positive        # or: accepted-risk
      why: ...

A Low or Informational detector may be justified as a whole with `where: "*"`; a High or
Medium finding must be named. The gate fails (exit 1) on any High or Medium finding that the
triage file does not name, and on triage entries that no longer match a finding (so the file
stays true after a fix). Exit 2: slither could not run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TRIAGE = ROOT / "security" / "slither-triage.yaml"
WORK = ROOT / ".build" / "slither"
SOLC = ROOT / "tools" / "bin" / "solc-v0.8.28"
GATED = ("High", "Medium")
VERDICTS = ("false-positive", "accepted-risk")


class TriageError(Exception):
    """The triage file is malformed."""


@dataclass(frozen=True)
class Finding:
    check: str
    impact: str
    where: str
    text: str


@dataclass(frozen=True)
class Entry:
    check: str
    where: tuple[str, ...]  # ("*",) for a whole detector
    verdict: str
    why: str


def standard_json_input() -> dict:
    sources = sorted(
        path.as_posix()
        for path in (p.relative_to(ROOT) for p in (ROOT / "contracts").rglob("*.sol"))
        if not any(part.startswith(".") for part in path.parts)  # Ape's contracts/.cache copies
    )
    return {
        "language": "Solidity",
        "sources": {path: {"urls": [path]} for path in sources},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "cancun",
            "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
        },
    }


def run_slither() -> list[dict]:
    WORK.mkdir(parents=True, exist_ok=True)
    source = WORK / "input.json"
    output = WORK / "results.json"
    source.write_text(json.dumps(standard_json_input(), indent=1))
    output.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "slither",
        source.relative_to(ROOT).as_posix(),
        "--compile-force-framework",
        "solc-json",
        "--solc",
        str(SOLC),
        "--filter-paths",
        r"node_modules|contracts/mocks|contracts/\.cache",
        "--json",
        output.relative_to(ROOT).as_posix(),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if not output.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError("slither did not run: " + " | ".join(tail))
    report = json.loads(output.read_text())
    if not report.get("success"):
        raise RuntimeError(f"slither failed: {report.get('error')}")
    return report.get("results", {}).get("detectors", [])


def _where(element: dict) -> str:
    names = [element["name"]]
    parent = element.get("type_specific_fields", {}).get("parent")
    while parent:
        names.append(parent["name"])
        parent = parent.get("type_specific_fields", {}).get("parent")
    return ".".join(reversed(names))


def findings_of(results: list[dict]) -> list[Finding]:
    found = []
    for result in results:
        first = result["elements"][0] if result["elements"] else {"name": "?"}
        found.append(
            Finding(
                check=result["check"],
                impact=result["impact"],
                where=_where(first),
                text=result["description"].strip().splitlines()[0],
            )
        )
    return found


def load_triage(path: Path = TRIAGE) -> list[Entry]:
    raw = yaml.safe_load(path.read_text()) or []
    if not isinstance(raw, list):
        raise TriageError(f"{path.name}: expected a list of entries")
    entries = []
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict) or not {"check", "where", "verdict", "why"} <= set(item):
            raise TriageError(f"{path.name} entry {n}: needs check, where, verdict and why")
        if item["verdict"] not in VERDICTS:
            raise TriageError(f"{path.name} entry {n}: verdict must be one of {VERDICTS}")
        if not str(item["why"]).strip():
            raise TriageError(f"{path.name} entry {n}: an empty justification")
        where = item["where"]
        where = (where,) if isinstance(where, str) else tuple(str(w) for w in where)
        entries.append(Entry(item["check"], where, item["verdict"], str(item["why"]).strip()))
    return entries


def gate(found: list[Finding], entries: list[Entry]) -> tuple[list[Finding], list[str]]:
    """Untriaged High/Medium findings, and triage keys that match nothing any more."""
    named = {(e.check, w) for e in entries for w in e.where if w != "*"}
    whole = {e.check for e in entries if "*" in e.where}
    untriaged = [
        f
        for f in found
        if f.impact in GATED
        and (f.check, f.where) not in named
        or f.impact not in GATED
        and f.check not in whole
        and (f.check, f.where) not in named
    ]
    gated_whole = {f.check for f in found if f.impact in GATED} & whole
    stale = [f"{c}: '*' cannot justify a High/Medium detector" for c in sorted(gated_whole)]
    present = {(f.check, f.where) for f in found}
    checks = {f.check for f in found}
    stale += [f"{c} at {w}" for c, w in sorted(named - present)]
    stale += [f"{c} (whole detector)" for c in sorted(whole - checks)]
    return untriaged, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="print every finding")
    args = parser.parse_args(argv)
    try:
        entries = load_triage()
        found = findings_of(run_slither())
    except (TriageError, RuntimeError, OSError, yaml.YAMLError) as exc:
        print(f"slither check: {exc}", file=sys.stderr)
        return 2
    if args.report:
        order = {"High": 0, "Medium": 1, "Low": 2}
        for f in sorted(found, key=lambda f: (order.get(f.impact, 3), f.check, f.where)):
            print(f"[{f.impact}] {f.check} {f.where}: {f.text}")
    untriaged, stale = gate(found, entries)
    counts = Counter(f.impact for f in found)
    summary = ", ".join(f"{counts[i]} {i}" for i in ("High", "Medium", "Low", "Informational"))
    print(f"slither: {len(found)} findings ({summary}); triage file: {len(entries)} entries")
    blocking = [f for f in untriaged if f.impact in GATED]
    for f in untriaged:
        mark = "NEW" if f.impact in GATED else "note"
        print(f"  {mark} [{f.impact}] {f.check} at {f.where}: {f.text}")
    for s in stale:
        print(f"  STALE triage entry: {s}")
    if blocking or stale:
        print(
            f"slither check failed: {len(blocking)} untriaged High/Medium finding(s), "
            f"{len(stale)} stale triage entr(y/ies); fix the code or justify it in "
            f"{TRIAGE.relative_to(ROOT)}",
            file=sys.stderr,
        )
        return 1
    print("slither check passed: every High/Medium finding is fixed or justified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
