"""The strategy backtest (benchmarks/backtest), pure Python: the scenario generator and its JSON
format, the simulator's contract rules (bounds, cooldown, liquidity, gas), the metrics on known
series, the baselines, and the CLI's one-line errors."""

from __future__ import annotations

import gzip
import json
import math
import re
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.backtest import __main__ as cli
from benchmarks.backtest import generate as gen
from benchmarks.backtest.baselines import (
    STATIC_TARGET,
    MaxApyChaser,
    equal_weight,
    fill,
    hindsight_optimal,
    realised_growth,
    static_target,
)
from benchmarks.backtest.generate import (
    SLEEVES,
    GeneratorParams,
    MarketPath,
    ScenarioError,
    from_json,
    generate,
    generate_path,
    to_json,
)
from benchmarks.backtest.keeper import KeeperStrategy, rebalancer_params
from benchmarks.backtest.metrics import max_drawdown, path_metrics, sharpe
from benchmarks.backtest.simulate import (
    GAS_SNAPSHOT,
    View,
    default_gas,
    execute,
    local_vault,
    rebalance_gas,
    simulate,
)
from keepers.config import RebalancerConfig
from keepers.strategy import violations

SHORT = GeneratorParams(history_days=20, days=60)


def calm_path(days: int = 30, history: int = 5, **changes: object) -> MarketPath:
    """A quiet market: each sleeve grows at a fixed yield, nothing freezes or defaults."""
    n = history + days + 1
    rates = {"tbill": 0.04, "gold": 0.0, "invoices": 0.08, "lending": 0.06}
    nav = {s: tuple((1 + r) ** (k / 365) for k in range(n)) for s, r in rates.items()}
    path = MarketPath(
        id=0,
        history_days=history,
        days=days,
        nav=nav,
        apy={s: (rates[s],) * n for s in ("tbill", "invoices", "lending")},
        frozen={},
        utilization=(0.8,) * n,
        health=(1.6,) * n,
        defaults=(),
        crashes=(),
        stress=(),
        base_fee_gwei=(10.0,) * n,
    )
    return replace(path, **changes)


class Fixed:
    """A policy that proposes `targets[j]` on its j-th day (None: nothing)."""

    def __init__(self, *targets: tuple[int, ...] | None) -> None:
        self.name = "fixed"
        self.targets = list(targets)

    def target(self, view: View) -> tuple[int, ...] | None:
        return self.targets.pop(0) if self.targets else None


# ------------------------------------------------------------------ generator and format


def test_generation_is_deterministic_and_per_path() -> None:
    a, b = generate(3, 5, SHORT), generate(3, 5, SHORT)
    assert a == b
    assert generate(1, 5, SHORT).paths[0] == a.paths[0]  # a path does not depend on the count
    assert a.paths[0] != a.paths[1]
    assert generate(1, 6, SHORT).paths[0] != a.paths[0]


def test_generated_paths_are_consistent() -> None:
    for path in generate(6, 11, GeneratorParams(days=200)).paths:
        assert all(len(path.nav[s]) == path.length for s in SLEEVES)
        assert all(v > 0 for s in SLEEVES for v in path.nav[s])
        assert all(0.2 <= u <= 0.97 for u in path.utilization)
        for day, drop in path.crashes:  # a crash is in gold's index (noise is ~1 % a day)
            assert path.nav["gold"][day] / path.nav["gold"][day - 1] < 1 - drop + 0.08
        for day, loss in path.defaults:  # a default takes its loss off the lending index
            growth = 1 + path.apy["lending"][day - 1] / 365
            ratio = path.nav["lending"][day] / path.nav["lending"][day - 1]
            assert ratio == pytest.approx(growth * (1 - loss), rel=1e-5)
        for name, spans in path.frozen.items():
            assert name in gen.FREEZABLE
            assert all(0 <= a < b <= path.length for a, b in spans)


def test_market_has_every_ingredient_over_many_paths() -> None:
    paths = generate(40, 1).paths
    assert sum(len(p.crashes) for p in paths) > 0
    assert sum(len(p.defaults) for p in paths) > 0
    assert sum(len(p.stress) for p in paths) > 0
    assert sum(len(p.frozen["tbill"]) + len(p.frozen["invoices"]) for p in paths) > 0
    # yield drift: the T-bill rate ends away from where it started on most paths
    assert statistics.median(abs(p.apy["tbill"][-1] - p.apy["tbill"][0]) for p in paths) > 0.002


def test_json_round_trip(tmp_path: Path) -> None:
    scenarios = generate(2, 3, SHORT)
    assert from_json(json.loads(json.dumps(to_json(scenarios)))) == scenarios
    for name in ("s.json", "s.json.gz"):
        gen.save(scenarios, tmp_path / name)
        assert gen.load(tmp_path / name) == scenarios
    with gzip.open(tmp_path / "s.json.gz", "rt") as f:
        assert json.load(f)["format"] == gen.FORMAT


def test_saved_files_are_byte_reproducible(tmp_path: Path) -> None:
    for name in ("a.json.gz", "b.json.gz"):
        gen.save(generate(2, 9, SHORT), tmp_path / name)
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()


def _broken(mutate) -> dict:
    doc = to_json(generate(1, 3, SHORT))
    mutate(doc)
    return doc


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="other/1"), "format must be"),
        (lambda d: d.update(paths=[]), "non-empty"),
        (lambda d: d["paths"][0]["nav"].pop("gold"), "missing sleeve gold"),
        (lambda d: d["paths"][0]["nav"]["tbill"].pop(), "expected a list of"),
        (lambda d: d["paths"][0]["nav"]["tbill"].__setitem__(3, -1.0), "not positive"),
        (lambda d: d["paths"][0]["utilization"].__setitem__(0, 1.5), "within [0, 1)"),
        (lambda d: d["paths"][0]["frozen"].update(gold=[[1, 2]]), "not a freezable sleeve"),
        (lambda d: d["paths"][0]["frozen"].update(tbill=[[5, 10_000]]), "intervals must lie"),
        (lambda d: d["paths"][0]["health"].__setitem__(0, "x"), "not a finite number"),
    ],
)
def test_malformed_scenarios_are_refused_in_one_line(mutate, message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)) as e:
        from_json(_broken(mutate))
    assert "\n" not in str(e.value)


def test_cli_errors_are_one_line_with_nonzero_exit(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "nope"}))
    for scenarios in (tmp_path / "missing.json", bad, wrong):
        with pytest.raises(SystemExit) as e:
            cli.main(["--scenarios", str(scenarios), "--out", str(tmp_path / "r.json")])
        assert e.value.code != 0
        err = capsys.readouterr().err
        assert err.startswith("Error: ") and err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        gen.main(["--paths", "0", "--out", str(tmp_path / "s.json")])
    assert e.value.code != 0
    assert capsys.readouterr().err.count("\n") == 1


def test_strategy_settings_follow_the_keeper_config() -> None:
    base = cli.strategy_config({})
    for key, value in cli.BACKTEST_SETTINGS.items():
        assert getattr(base, key) == value
    tuned = cli.strategy_config({"risk_aversion": "2", "gain_margin": "5"})
    assert (tuned.risk_aversion, tuned.gain_margin) == (2.0, 5.0)
    with pytest.raises(ValueError, match="not a strategy setting"):
        cli.strategy_config({"uri_base": "x"})
    with pytest.raises(ValueError, match="gain_margin") as e:
        cli.strategy_config({"gain_margin": "0.5"})  # the keeper refuses a margin below 1
    assert "\n" not in str(e.value)


def test_cli_runs_end_to_end(tmp_path: Path, capsys) -> None:
    scenarios = tmp_path / "s.json.gz"
    assert gen.main(["--paths", "2", "--seed", "4", "--days", "40", "--out", str(scenarios)]) == 0
    out = tmp_path / "results.json"
    assert cli.main(["--scenarios", str(scenarios), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["summary"]) == set(cli.POLICIES)
    assert len(doc["paths"]) == 2 * len(cli.POLICIES)
    assert set(doc["goals"]) == {
        "best_sharpe",
        "drawdown_vs_chaser",
        "excess_vs_hindsight",
        "no_breaches",
    }
    assert doc["vault"]["source"] == "deployments/config/local.yaml"
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "goal no_breaches" in capsys.readouterr().out
    assert doc["strategy_settings"]["changed_from_keeper_defaults"] == cli.BACKTEST_SETTINGS
    proposals = sum(doc["strategy_proposals"].values())
    assert doc["summary"]["strategy"]["rebalances"]["mean"] * 2 <= proposals


# ------------------------------------------------------------------ simulator


def test_vault_and_gas_come_from_the_config_and_the_snapshot() -> None:
    vault = local_vault()
    assert vault.sleeves == SLEEVES
    assert vault.caps_bps == (6_000, 3_000, 3_000, 3_000)
    assert (vault.idle_buffer_bps, vault.max_turnover_bps) == (500, 2_000)
    assert vault.cooldown_seconds == 86_400
    # issuers' daily limits in asset units: 2M tbill at 1.00, 500 gold at 2,400, 1M invoices
    assert vault.redeem_limit_assets[:3] == (2e12, 1.2e12, 1e12)
    assert vault.redeem_limit_assets[3] is None
    measured = json.loads(GAS_SNAPSHOT.read_text())
    rows = {n: measured.get(f"RWAVault, {n} sleeve{'s' if n != 1 else ''}", {}) for n in (1, 2, 3)}
    for n, row in rows.items():
        assert rebalance_gas(n) == row["rebalance"]


def test_rebalance_gas_extends_the_measured_rows(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot.json"
    rows = {"RWAVault, 1 sleeve": 400_000, "RWAVault, 2 sleeves": 520_000}
    rows["RWAVault, 3 sleeves"] = 640_000
    snapshot.write_text(json.dumps({k: {"rebalance": v} for k, v in rows.items()}))
    assert rebalance_gas(2, snapshot) == 520_000
    assert rebalance_gas(4, snapshot) == 760_000
    assert rebalance_gas(6, snapshot) == 1_000_000


def test_breaches_are_counted_and_refused() -> None:
    vault, path = local_vault(), calm_path()
    gas = default_gas(vault)
    cases = {
        (2_000, 0, 0, 0): None,  # legal: 20 % turnover
        (2_500, 0, 0, 0): "turnover",
        (0, 0, 0, 0): None,  # back to idle: legal
        (0, 3_500, 0, 0): "above ceiling",
    }
    for target, reason in cases.items():
        run = simulate(path, vault, Fixed(None, target), gas)
        if reason is None:
            assert (run.breaches, run.rebalances) == (0, 0 if not any(target) else 1)
        else:
            assert run.breaches == 1 and run.rebalances == 0 and run.gas_units == 0
            assert any(reason in r for r in run.breach_reasons)
            assert all(w == (0.0, 0.0, 0.0, 0.0) for w in run.weights)  # nothing moved
    full = replace(vault, max_turnover_bps=10_000)
    run = simulate(path, full, Fixed((6_000, 3_000, 1_000, 0)), gas)
    assert run.breaches == 1 and any("buffer" in r for r in run.breach_reasons)


def test_cooldown_refuses_a_second_rebalance() -> None:
    vault = replace(local_vault(), cooldown_seconds=2 * 86_400)
    run = simulate(
        calm_path(), vault, Fixed((1_000, 0, 0, 0), (2_000, 0, 0, 0)), default_gas(vault)
    )
    assert (run.rebalances, run.breaches, run.breach_reasons) == (1, 1, ("cooldown",))


def test_execution_follows_liquidity() -> None:
    vault = replace(local_vault(), trading_cost_bps=())  # no trading cost: moves at NAV
    frozen = calm_path(frozen={"tbill": ((0, 1_000),)})
    held, idle = [5e12, 0.0, 0.0, 4e12], 1e12  # NAV 10M
    # tbill frozen: its cut does not happen; lending pays out its cash share (1 - 0.8) only;
    # idle (1.8M) stays below its target (30 %), so invoices get nothing
    after, idle_after, _ = execute(frozen, vault, 10, held, idle, (3_000, 0, 2_000, 2_000))
    assert after == [5e12, 0.0, 0.0, pytest.approx(3.2e12)]
    assert idle_after == pytest.approx(1.8e12)
    # a daily redeem limit caps a cut: gold pays at most 500 tokens x 2,400 a day
    gold = [0.0, 3e12, 0.0, 0.0]
    after, _, _ = execute(calm_path(), vault, 10, gold, 7e12, (0, 0, 0, 0))
    assert after[1] == pytest.approx(3e12 - 1.2e12 * calm_path().nav["gold"][10])


def test_funding_keeps_idle_at_its_target() -> None:
    vault = replace(local_vault(), trading_cost_bps=())  # no trading cost: moves at NAV
    held, idle = [0.0, 0.0, 0.0, 0.0], 10e12
    after, idle_after, _ = execute(calm_path(), vault, 10, held, idle, (1_000, 1_000, 0, 500))
    assert after == [1e12, 1e12, 0.0, 0.5e12]
    assert idle_after == pytest.approx(7.5e12)
    # from 9M tbill + 1M idle to 30 % invoices: tbill pays 2M (its daily limit), idle then
    # holds 3M, and invoices get what idle holds above its 70 % target: nothing
    after, idle_after, _ = execute(calm_path(), vault, 10, [9e12, 0, 0, 0], 1e12, (0, 0, 3_000, 0))
    limit = 2e12 * calm_path().nav["tbill"][10]
    assert after == [pytest.approx(9e12 - limit), 0, 0, 0]
    assert idle_after == pytest.approx(1e12 + limit)
    # with room above the target, invoices are funded down to it
    after, idle_after, _ = execute(
        calm_path(), vault, 10, [6e12, 0, 0, 0], 4e12, (5_000, 0, 3_000, 0)
    )
    assert after == [pytest.approx(5e12), 0, pytest.approx(3e12), 0]
    assert idle_after == pytest.approx(2e12)


def test_gas_is_charged_per_rebalance_at_the_days_fee() -> None:
    # no trading cost: the second step is exactly the 20 % turnover limit at NAV
    vault = replace(local_vault(), trading_cost_bps=())
    gas = default_gas(vault)
    run = simulate(calm_path(), vault, Fixed((2_000, 0, 0, 0), (4_000, 0, 0, 0)), gas)
    assert run.rebalances == 2 and run.gas_units == 2 * gas.gas
    per = gas.gas * (10 * 10**9 + gas.priority_fee_wei) / 10**18 * gas.native_price * 10**6
    assert run.gas_cost == pytest.approx(2 * per)
    gross_growth = run.gross_end - run.net_nav[-1]
    assert gross_growth == pytest.approx(run.gas_cost)


def test_keeper_strategy_runs_the_rebalancer_settings() -> None:
    cfg = RebalancerConfig(risk_aversion=7.0, turnover_cost_bps=12.0, gain_margin=4.0)
    params = rebalancer_params(cfg)
    assert params.optimiser.risk_aversion == 7.0
    assert params.optimiser.turnover_cost_bps == 12.0
    assert params.gate.gain_margin == 4.0
    assert params.horizon_seconds == cfg.horizon_seconds


def test_keeper_strategy_never_breaches() -> None:
    vault = local_vault()
    gas = default_gas(vault)
    for path in generate(2, 21, GeneratorParams(history_days=30, days=90)).paths:
        keeper = KeeperStrategy(path, vault)
        run = simulate(path, vault, keeper, gas)
        assert run.breaches == 0
        assert run.rebalances > 0
        assert all(sum(w) <= 0.951 for w in run.weights)  # the idle buffer holds


# ------------------------------------------------------------------ metrics


def test_max_drawdown_of_known_series() -> None:
    assert max_drawdown([1.0, 1.2, 0.9, 1.3, 0.65, 1.0]) == pytest.approx(0.5)
    assert max_drawdown([1.0, 1.1, 1.2]) == 0.0
    assert max_drawdown([2.0, 1.0]) == pytest.approx(0.5)


def test_sharpe_of_known_series() -> None:
    series = [100.0]
    for r in (0.01, -0.005) * 10:
        series.append(series[-1] * (1 + r))
    r = [0.01, -0.005] * 10
    expected = statistics.fmean(r) / statistics.stdev(r) * math.sqrt(365)
    assert sharpe(series) == pytest.approx(expected)
    rf = 0.0365  # 1 bp a day
    assert sharpe(series, rf) == pytest.approx(
        (statistics.fmean(r) - 0.0001) / statistics.stdev(r) * math.sqrt(365)
    )
    assert sharpe([1.0, 1.0, 1.0]) == 0.0


def test_path_metrics_annualise() -> None:
    vault = local_vault()
    run = simulate(calm_path(days=73), vault, Fixed(), default_gas(vault))  # all idle
    m = path_metrics(run)
    assert (m.total_return, m.annual_return, m.max_drawdown, m.turnover) == (0.0, 0.0, 0.0, 0.0)


# ------------------------------------------------------------------ baselines


def test_equal_weight_splits_the_investable_share() -> None:
    vault = local_vault()
    assert equal_weight(calm_path(), vault).ideal == (2_375,) * 4
    run = simulate(
        calm_path(days=20), vault, equal_weight(calm_path(days=20), vault), default_gas(vault)
    )
    assert run.breaches == 0
    assert all(w == pytest.approx(0.2375, abs=0.002) for w in run.weights[-1])


def test_static_target_and_fill() -> None:
    vault = local_vault()
    assert static_target(calm_path(), vault).ideal == tuple(STATIC_TARGET[s] for s in SLEEVES)
    assert fill([2, 3, 0, 1], (6_000, 3_000, 3_000, 3_000), 9_500) == (3_500, 0, 3_000, 3_000)


def test_chaser_fills_by_shown_yield() -> None:
    vault = local_vault()
    path = calm_path()
    view = View(path, 10, vault, (0, 0, 0, 0), 10**13, default_gas(vault).market(10), None)
    # invoices 8 % > lending 6 % > tbill 4 %; gold's trailing return is 0: left out
    assert MaxApyChaser(vault).ideal(view) == (3_500, 0, 3_000, 3_000)


@given(weights=st.lists(st.integers(0, 6_000), min_size=4, max_size=4), seed=st.integers(0, 50))
def test_hindsight_ideal_is_the_best_allowed_constant_mix(weights: list[int], seed: int) -> None:
    vault = local_vault()
    path = generate_path(seed, 2, SHORT)
    ideal = hindsight_optimal(path, vault).ideal
    assert not violations(ideal, ideal, vault.bounds)
    other = tuple(min(w, c) for w, c in zip(weights, vault.caps_bps, strict=True))
    if sum(other) > 9_500:  # scale into the buffer: any allowed mix
        other = tuple(w * 9_500 // sum(other) for w in other)
    assert not violations(other, other, vault.bounds)
    g = realised_growth(path)
    value = lambda w: sum(x * g[s] for x, s in zip(w, SLEEVES, strict=True))  # noqa: E731
    assert value(ideal) >= value(other) - 1e-9


@pytest.mark.parametrize("split", [None, "test"])
def test_an_output_path_that_cannot_be_written_is_refused_before_the_run(
    tmp_path: Path, capsys, monkeypatch, split
) -> None:
    """`--out` in a folder that does not exist (or naming a folder) stops the command in one line
    before any path is simulated: the documented 200-path run takes minutes, and it used to fail
    only when writing its results (with a traceback under `--split`)."""
    from benchmarks.backtest import splits

    def must_not_run(*_a, **_k):
        raise AssertionError("the backtest ran although its results could not be written")

    monkeypatch.setattr(cli, "run", must_not_run)
    monkeypatch.setattr(splits, "run_split", must_not_run)
    extra = [] if split is None else ["--split", split, "--family", "calm_tight"]
    for out in (tmp_path / "missing" / "r.json", tmp_path):
        with pytest.raises(SystemExit) as e:
            cli.main(["--out", str(out), "--no-chart", "--paths", "1", *extra])
        assert e.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith(f"Error: --out {out}: ") and err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        cli.main(["--out", str(tmp_path / "r.json"), "--chart", str(tmp_path / "no" / "c.png")])
    assert e.value.code == 1
    assert capsys.readouterr().err.startswith(f"Error: --chart {tmp_path / 'no' / 'c.png'}: ")
