"""`python -m benchmarks.lending_steward [--paths N] [--step-scale X ...] [--out FILE]`: static
parameters against the risk steward on the lending book, same paths, net of the steward's gas.

1. Tuning on the train split (`paths.SEEDS["train"]`): every `GRID` setting of the steward's
   model runs on N paths of each family; "chosen" has the lowest total bad debt among those
   whose net interest is at least the static book's (none: the lowest bad debt); "safest" the
   lowest bad debt of all, whatever it earns. Both are reported on the test split.
2. Report on the test split (disjoint seeds), per family: bad debt, interest net of gas, the
   number of batches, and the registry-rule breaches (bounds, steps, cooldowns, links) of every
   batch, checked as the registry would.

`--step-scale X` also reports the steward with every `stewardStepBps` multiplied by X (what the
DAO would have to grant for a larger effect; the deployed limits are scale 1).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from benchmarks.cli import OneLineParser
from benchmarks.lending_steward.paths import DAYS, FAMILIES, paths
from benchmarks.lending_steward.sim import Costs, Outcome, local_params, simulate
from keepers.math.steward import StewardSettings

HERE = Path(__file__).resolve().parent
GRID: dict[str, tuple[Any, ...]] = {
    "loosen": (True, False),
    "z": (3.0, 6.0, 10.0),
    "kink_band_bps": (1_000, 10_000),  # 10_000: never lower slope1 below the kink
    "rate_gain": (1.0, 3.0),
}


def _scaled(scale: float) -> dict:
    params = local_params()
    return {
        n: replace(p, steward_step_bps=min(10_000, int(p.steward_step_bps * scale)))
        for n, p in params.items()
    }


def _run(split: str, count: int, settings: StewardSettings | None, scale: float = 1.0):
    params = _scaled(scale)
    return {f: [simulate(p, settings, Costs(), params) for p in paths(split, f, count)]
            for f in FAMILIES}  # fmt: skip


def _total(outcomes: dict[str, list[Outcome]], attr: str) -> float:
    return sum(getattr(o, attr) for runs in outcomes.values() for o in runs)


def tune(count: int, log) -> tuple[StewardSettings, StewardSettings, list[dict]]:
    """(the setting with the lowest bad debt among those earning at least the static book's
    net interest, the lowest bad debt of all, every setting's train totals)."""
    static = _run("train", count, None)
    base_bad, base_int = _total(static, "bad_debt"), _total(static, "net_interest")
    rows = []
    for values in itertools.product(*GRID.values()):
        settings = StewardSettings(**dict(zip(GRID, values, strict=True)))
        runs = _run("train", count, settings)
        bad, interest = _total(runs, "bad_debt"), _total(runs, "net_interest")
        rows.append({"settings": dict(zip(GRID, values, strict=True)), "bad_debt": bad,
                     "net_interest": interest, "interest_ok": interest >= base_int})  # fmt: skip
        log(f"train {rows[-1]['settings']}: bad debt {bad / 1e6:,.0f} (static "
            f"{base_bad / 1e6:,.0f}), net interest {interest / 1e6:,.0f} (static "
            f"{base_int / 1e6:,.0f})")  # fmt: skip
    eligible = [r for r in rows if r["interest_ok"]] or rows
    best = min(eligible, key=lambda r: (r["bad_debt"], -r["net_interest"]))
    safest = min(rows, key=lambda r: (r["bad_debt"], -r["net_interest"]))
    return StewardSettings(**best["settings"]), StewardSettings(**safest["settings"]), rows


def _family_rows(static: dict, steward: dict) -> list[dict]:
    rows = []
    for f in FAMILIES:
        a, b = static[f], steward[f]
        bad_a, bad_b = sum(o.bad_debt for o in a), sum(o.bad_debt for o in b)
        int_a, int_b = sum(o.net_interest for o in a), sum(o.net_interest for o in b)
        rows.append({
            "family": f, "paths": len(a),
            "static_bad_debt_usd": round(bad_a / 1e6), "steward_bad_debt_usd": round(bad_b / 1e6),
            "bad_debt_change_pct": round(100 * (bad_b - bad_a) / bad_a, 1) if bad_a else None,
            "static_interest_usd": round(int_a / 1e6),
            "steward_net_interest_usd": round(int_b / 1e6),
            "steward_gas_usd": round(sum(o.gas_cost for o in b) / 1e6),
            "interest_change_pct": round(100 * (int_b - int_a) / int_a, 1),
            "batches": sum(o.updates for o in b),
            "bound_breaches": sum(o.bound_breaches for o in b),
            "link_breaches": sum(o.link_breaches for o in b),
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="python -m benchmarks.lending_steward")
    ap.add_argument("--paths", type=int, default=6, help="paths per family and split")
    ap.add_argument("--step-scale", type=float, action="append", default=[],
                    help="also report the steward with its step limits × this")  # fmt: skip
    ap.add_argument("--out", type=Path, default=HERE / "snapshot.json")
    args = ap.parse_args(argv)
    if args.paths < 1 or any(s <= 0 for s in args.step_scale):
        ap.fail("--paths and --step-scale must be positive")
    if not args.out.parent.is_dir():  # refused now, not after minutes of simulation
        ap.fail(f"--out {args.out}: no folder {args.out.parent}")
    started = time.monotonic()

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    chosen, safest, grid = tune(args.paths, log)
    static = _run("test", args.paths, None)
    report: dict[str, Any] = {
        "command": "python -m benchmarks.lending_steward " + " ".join(argv or sys.argv[1:]),
        "days": DAYS, "paths_per_family": args.paths, "costs": asdict(Costs()),
        "chosen_on_train": {k: getattr(chosen, k) for k in GRID},
        "safest_on_train": {k: getattr(safest, k) for k in GRID}, "train_grid": grid,
        "test": {},
    }  # fmt: skip
    for scale in (1.0, *args.step_scale):
        steward = _run("test", args.paths, chosen, scale)
        report["test"][f"chosen, step_scale_{scale:g}"] = _family_rows(static, steward)
    report["test"]["safest, step_scale_1"] = _family_rows(static, _run("test", args.paths, safest))
    report["seconds"] = round(time.monotonic() - started)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for scale, rows in report["test"].items():
        print(f"test split, {scale}: family, bad debt static -> steward (change), net interest "
              "static -> steward (change), batches, breaches bound/link")  # fmt: skip
        for r in rows:
            pct = r["bad_debt_change_pct"]
            change = "n/a" if pct is None else f"{pct:+.1f}%"
            print(f"  {r['family']:13s} {r['static_bad_debt_usd']:>10,} -> "
                  f"{r['steward_bad_debt_usd']:>10,} ({change})  {r['static_interest_usd']:>8,} -> "
                  f"{r['steward_net_interest_usd']:>8,} ({r['interest_change_pct']:+.1f}%)  "
                  f"{r['batches']:>4}  {r['bound_breaches']}/{r['link_breaches']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
