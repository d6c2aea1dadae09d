"""Market families, depositor flows and the train/test split (benchmarks/backtest/families.py,
simulate.Depositors, splits.py): determinism, each family's named property, money conservation,
old files unchanged, one-line refusals."""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks.backtest import __main__ as cli
from benchmarks.backtest import generate as gen
from benchmarks.backtest.families import FAMILIES, SPLITS, generate_family
from benchmarks.backtest.generate import GeneratorParams, ScenarioError, from_json, to_json
from benchmarks.backtest.simulate import default_gas, local_vault, simulate
from tests.benchmarks.test_backtest import Fixed, calm_path

COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks/backtest/scenarios-200.json.gz"


def paths(name: str, n: int = 4, seed: int = 1, days: int = 365):
    return generate_family(name, n, seed, days).paths


def run_slice(p, sleeve: str) -> np.ndarray:
    return np.array(p.nav[sleeve][p.history_days :])


@pytest.mark.parametrize("name", list(FAMILIES))
def test_each_family_is_deterministic(name: str, tmp_path: Path) -> None:
    a, b = generate_family(name, 2, 5, 90), generate_family(name, 2, 5, 90)
    assert to_json(a) == to_json(b)
    assert to_json(generate_family(name, 1, 6, 90))["paths"][0] != to_json(a)["paths"][0]
    # path i does not depend on how many paths are drawn; the file is byte-reproducible
    assert to_json(generate_family(name, 1, 5, 90))["paths"][0] == to_json(a)["paths"][0]
    gen.save(a, tmp_path / "a.json.gz")
    gen.save(b, tmp_path / "b.json.gz")
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()
    again = gen.load(tmp_path / "a.json.gz")
    assert again.family == name and again.paths == a.paths


def test_registry_and_split() -> None:
    assert len(FAMILIES) >= 8
    assert all(len(f.description) > 20 and "\n" not in f.description for f in FAMILIES.values())
    train, test = set(SPLITS["train"]), set(SPLITS["test"])
    assert len(train) >= 5 and len(test) >= 4 and not train & test
    assert train | test == set(FAMILIES)


def test_noisy_nav_jitters_around_the_true_index() -> None:
    f = FAMILIES["noisy_nav"]
    for i, p in enumerate(paths("noisy_nav", 3)):
        true = gen.generate_path(i, f.seed(1), GeneratorParams())
        ratio = np.array(p.nav["invoices"]) / np.array(true.nav["invoices"]) - 1
        assert 0.0005 < np.std(ratio) < 0.02  # jittered ...
        assert abs(np.mean(ratio)) < 0.003  # ... around the true index, not drifting from it
        bad = [(k, x) for k, s, e, x in p.events if e == "bad_print" and s == "invoices"]
        assert bad and all(abs(ratio[k]) > 0.7 * abs(x) for k, x in bad)


@pytest.mark.parametrize(("name", "longest"), [("mark_reversal", 7), ("stale_marks", 12)])
def test_marks_recover_within_days(name: str, longest: int) -> None:
    # The test family and its train sibling: every mark-down is taken back within `longest`
    # days (unless the path ends first).
    seen = 0
    for p in paths(name, 3):
        nav = p.nav["invoices"]
        marks = [(k, x) for k, s, e, x in p.events if s == "invoices" and e == "markdown"]
        back = {k: x for k, s, e, x in p.events if s == "invoices" and e == "recovered"}
        for k, x in marks:
            assert nav[k] / nav[k - 1] < 1 - 0.8 * x  # marked down ...
            end = next((e for e in sorted(back) if e > k), None)
            if end is not None:
                assert end - k <= longest and nav[end] >= nav[k - 1]  # ... and back within days
                seen += 1
    assert seen >= 5


def test_the_train_split_holds_a_reversing_mark_family_unlike_the_tests() -> None:
    # The split change of issue 19: train has reversals of its own, with settings of its own.
    assert "stale_marks" in SPLITS["train"] and "mark_reversal" in SPLITS["test"]
    train, test = FAMILIES["stale_marks"].params, FAMILIES["mark_reversal"].params
    assert train["marks"] != test["marks"] and "gold" not in train["marks"]


def test_default_wave_gates_redemptions_while_defaults_happen() -> None:
    for p in paths("default_wave", 4):
        defaults = [(k, x) for k, s, e, x in p.events if s == "invoices" and e == "default"]
        assert len(defaults) >= 2
        gated = [k for k, _ in defaults if p.is_frozen("invoices", k)]
        assert gated, "some invoice defaults fall inside the issuer's gate"
        nav = p.nav["invoices"]
        assert all(nav[k] / nav[k - 1] < 1 - 0.8 * x for k, x in defaults)
        assert any(f < 0 for _, f in p.flows)  # depositors leave during the wave


def test_rate_cut_takes_the_tbill_yield_from_5_to_half_a_percent() -> None:
    for p in paths("rate_cut", 4):
        tb = p.apy["tbill"]
        assert tb[p.history_days] >= 0.048 and 0.002 <= tb[-1] <= 0.0085
        assert np.mean(run_slice(p, "tbill")[-30:]) > 0  # the index still accrues


def test_stagflation_raises_rates_and_widens_spreads() -> None:
    for p in paths("stagflation", 3):
        tb, inv, h = p.apy["tbill"], p.apy["invoices"], p.history_days
        assert tb[h] <= 0.047 and tb[-1] >= 0.063
        assert (inv[-1] - tb[-1]) - (inv[h] - tb[h]) > 0.01


def test_joint_freeze_run_freezes_issuers_together_while_depositors_leave() -> None:
    for p in paths("joint_freeze_run", 4):
        frozen = [k for k in range(p.length) if p.is_frozen("tbill", k)]
        both = [k for k in frozen if p.is_frozen("invoices", k)]
        assert both
        assert any(f < 0 and min(both) - 3 <= k <= max(both) + 21 for k, f in p.flows)
        assert max(p.utilization[k] for k in both) >= 0.94


@pytest.mark.parametrize(("name", "sign"), [("gold_bull", 1), ("gold_bear", -1)])
def test_gold_trends(name: str, sign: int) -> None:
    growth = [math.log(p.nav["gold"][-1] / p.nav["gold"][p.history_days]) for p in paths(name, 6)]
    assert sign * np.mean(growth) > 0.15


def test_calm_wide_is_calm_with_yield_gaps_of_up_to_a_point_and_a_half() -> None:
    # The train sibling of calm_tight (the split change of issue 19's seventh selection round).
    assert "calm_wide" in SPLITS["train"] and "calm_tight" in SPLITS["test"]
    gaps = []
    for p in paths("calm_wide", 6):
        h = p.history_days
        tb = np.array(p.apy["tbill"][h:])
        invoices = np.mean(np.array(p.apy["invoices"][h:]) - tb)
        lending = np.mean(np.array(p.apy["lending"][h:]) - tb)
        assert 0.004 - 1e-9 <= invoices <= 0.015 + 1e-9  # a constant spread over the T-bill
        assert -0.014 <= lending <= 0.004  # the gap's range, the book's utilization noise around it
        assert not p.crashes and not p.defaults
        assert all(b <= h for a, b in p.stress)
        gaps.append(max(invoices, abs(lending)))
    assert max(gaps) > 0.006  # wider than calm_tight's tenths of a point


def test_calm_tight_has_tiny_yield_differences() -> None:
    for p in paths("calm_tight", 4):
        h = p.history_days
        tb = np.array(p.apy["tbill"][h:])
        for other in ("invoices", "lending"):
            assert np.mean(np.abs(np.array(p.apy[other][h:]) - tb)) < 0.006
        assert not p.crashes and not p.defaults
        assert all(b <= h for a, b in p.stress)


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("days", [1, 2])
def test_short_runs_of_every_family_load_back(name: str, days: int) -> None:
    """A family's file of a one- or two-day run is one its own loader takes (depositor_churn's
    entry was put on the history's last day of a one-day run: refused as a flow)."""
    scenarios = generate_family(name, 3, 4242, days=days)
    assert from_json(json.loads(json.dumps(to_json(scenarios)))) == scenarios


def test_depositor_churn_has_entries_and_exits() -> None:
    for p in paths("depositor_churn", 3):
        assert any(f < 0 for _, f in p.flows) and any(f >= 0.1 for _, f in p.flows)


# ------------------------------------------------------------------ depositor flows


def flat_path(days: int = 30, **changes: object):
    p = calm_path(days)
    return replace(p, nav={s: (1.0,) * p.length for s in p.nav}, **changes)


def test_flows_conserve_money() -> None:
    vault, gas = local_vault(), default_gas(local_vault())
    p = flat_path(flows=((7, 0.2), (9, -0.8), (12, -0.1), (20, 0.05)))
    hold = simulate(p, vault, Fixed(), gas)
    invest = simulate(p, vault, Fixed((800, 0, 500, 500), None, (1200, 0, 800, 800)), gas)
    for run in (hold, invest):
        assert run.deposited > 0 and run.redeemed > 0
        # a flat market: what is in the vault is what came in less what went out and what
        # the moves paid in trading costs (rebalances and forced sales) ...
        money = vault.deposit + run.deposited - run.redeemed - run.trading_cost
        assert run.gross_end == pytest.approx(money, rel=1e-12)
        # ... and a share keeps its value (less its part of the gas and costs), whoever
        # comes and goes
        assert max(run.net_nav) <= vault.deposit * (1 + 1e-12)
        assert run.net_nav[-1] >= vault.deposit - 2 * (run.gas_cost + run.trading_cost)
    assert hold.net_nav == pytest.approx([vault.deposit] * len(hold.net_nav), rel=1e-12)
    assert invest.rebalances == 2 and invest.forced_sales > 0
    assert hold.trading_cost == 0 and invest.trading_cost > 0


def test_redemptions_respect_issuer_freezes() -> None:
    # no trading cost: each step of `invest` is exactly the 20 % turnover limit at NAV
    vault, gas = replace(local_vault(), trading_cost_bps=()), default_gas(local_vault())
    invest = [(1000 * j, 0, min(1000 * j, 3000), 0) for j in range(1, 6)]  # turnover <= 20 %
    p = flat_path(frozen={"tbill": ((14, 36),), "invoices": ((14, 36),)}, flows=((15, -0.9),))
    run = simulate(p, vault, Fixed(*invest), gas)
    held_before = run.weights[8]  # day 13 of the path, before the freeze
    assert run.forced_sales == 0  # nothing could be pulled from the frozen issuers
    assert run.pending_end > 0 and run.redeemed < 0.5 * vault.deposit
    assert run.weights[-1][0] > held_before[0]  # the tbill holding stayed (a larger share)
    open_ = simulate(replace(p, frozen={}), vault, Fixed(*invest), gas)
    assert open_.forced_sales > 0 and open_.pending_end < run.pending_end


def test_paths_without_flows_run_as_before() -> None:
    vault, gas = local_vault(), default_gas(local_vault())
    p = calm_path()
    run = simulate(p, vault, Fixed((800, 0, 500, 500)), gas)
    assert run.rebalances == 1 and run.deposited == run.redeemed == run.pending_end == 0
    assert run.net_nav[-1] == pytest.approx(run.gross_end - run.gas_cost, abs=1e-6)


# ------------------------------------------------------------------ format and CLI


def test_the_committed_file_loads_and_saves_unchanged(tmp_path: Path) -> None:
    data = gen.load(COMMITTED)
    assert data.family is None and all(not p.flows and not p.events for p in data.paths)
    gen.save(data, tmp_path / "again.json.gz")
    assert (tmp_path / "again.json.gz").read_bytes() == COMMITTED.read_bytes()
    doc = json.loads(gzip.decompress(COMMITTED.read_bytes()))
    fresh = to_json(gen.generate(2, 1))
    assert fresh["paths"] == doc["paths"][:2]  # the base generator is unchanged


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.update(flows=[[3, -0.1]]), "flows"),
        (lambda p: p.update(flows=[[70, -1.5]]), "flows"),
        (lambda p: p.update(events=[[3, "bonds", "x", 1]]), "events"),
    ],
)
def test_malformed_flows_and_events_are_refused(mutate, message: str) -> None:
    doc = to_json(generate_family("depositor_churn", 1, 1, 30))
    mutate(doc["paths"][0])
    with pytest.raises(ScenarioError, match=message) as e:
        from_json(doc)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["--split", "nope"],
        ["--split", "test", "--family", "rate_cut"],
        ["--split", "train", "--family", "bogus"],
        ["--family", "rate_cut"],
    ],
)
def test_bad_split_or_family_is_refused_in_one_line(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and err.count("\n") == 1


def test_generate_refuses_an_unknown_family(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        gen.main(["--family", "tulips", "--out", str(tmp_path / "x.json")])
    assert e.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert gen.main(["--list-families"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(FAMILIES)


def test_split_cli_reports_per_family(tmp_path: Path, capsys) -> None:
    out = tmp_path / "split.json"
    argv = ["--split", "train", "--family", "depositor_churn", "--family", "rate_cut"]
    assert cli.main([*argv, "--paths-per-family", "1", "--days", "40", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["families"] == ["depositor_churn", "rate_cut"]
    for rep in [*doc["per_family"].values(), doc["overall"]]:
        assert set(rep["policies"]) == set(cli.POLICIES)
        row = rep["policies"]["strategy"]
        for key in (
            "annual_return",
            "sharpe",
            "max_drawdown",
            "share_of_hindsight",
            "turnover",
            "gas_cost",
        ):
            assert key in row
        assert rep["policies"]["hindsight_optimal"]["share_of_hindsight"] in (None, 1.0)
    assert "| depositor_churn | `strategy` |" in capsys.readouterr().out
