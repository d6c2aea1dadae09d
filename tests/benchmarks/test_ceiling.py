"""The model-knowing ceiling of the hindsight goal (benchmarks/backtest/ceiling.py)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.backtest import ceiling
from benchmarks.backtest.families import split
from benchmarks.backtest.generate import SLEEVES
from benchmarks.backtest.simulate import local_vault
from benchmarks.backtest.splits import family_paths
from keepers.strategy import violations

GROWTH = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(GROWTH, GROWTH, GROWTH, GROWTH),
    st.lists(st.integers(0, 6_000), min_size=4, max_size=4),
)
def test_model_mix_is_the_allowed_constant_mix_of_highest_expected_growth(
    growth: tuple[float, ...], weights: list[int]
) -> None:
    vault = local_vault()
    g = dict(zip(SLEEVES, growth, strict=True))
    mix = ceiling.model_mix(g, vault)
    assert not violations(mix, mix, vault.bounds)
    assert all(w == 0 for w, s in zip(mix, SLEEVES, strict=True) if g[s] <= 0)  # idle earns 0
    other = tuple(min(w, c) for w, c in zip(weights, vault.caps_bps, strict=True))
    room = 10_000 - vault.idle_buffer_bps
    if sum(other) > room:
        other = tuple(w * room // sum(other) for w in other)
    assert not violations(other, other, vault.bounds)
    value = lambda w: sum(x * g[s] for x, s in zip(w, SLEEVES, strict=True))  # noqa: E731
    assert value(mix) >= value(other) - 1e-9


def test_the_model_is_learned_on_other_paths_than_the_reported_ones() -> None:
    model = ceiling.model_paths("calm_tight", 3, seed=1, days=40)
    reported = family_paths("calm_tight", 3, 1, 40)
    assert {p.nav["gold"] for p in model}.isdisjoint({p.nav["gold"] for p in reported})
    expected = ceiling.model_return(model)
    for s in SLEEVES:
        returns = [p.nav[s][p.history_days + p.days] / p.nav[s][p.history_days] - 1 for p in model]
        assert expected[s] == pytest.approx(statistics.fmean(returns))
    growth = ceiling.model_growth(model)
    for s in SLEEVES:
        assert math.expm1(growth[s]) <= expected[s] + 1e-12  # Jensen: mean of e^g >= e^(mean g)
    for empty in (ceiling.model_return, ceiling.model_growth):
        with pytest.raises(ValueError, match="at least one path"):
            empty(())


def test_cli_reports_each_family_and_refuses_bad_counts(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ceiling.json"
    args = ["--split", "test", "--paths-per-family", "1", "--model-paths", "2", "--out", str(out)]
    assert ceiling.main(args) == 0
    doc = json.loads(out.read_text())
    vault = local_vault()
    assert list(doc["per_family"]) == list(split("test"))
    for fam in doc["per_family"].values():
        mix = tuple(fam["model_mix_bps"][s] for s in SLEEVES)
        assert mix == ceiling.model_mix(fam["model_return"], vault)
        policies = fam["policies"]
        assert set(policies) == {
            "model_optimal", "train_mix", "train_growth_mix", "hindsight_optimal", "static_target"
        }  # fmt: skip
        assert policies["hindsight_optimal"]["share_of_hindsight"] in (None, pytest.approx(1.0))
    assert "model mix" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        ceiling.main(["--model-paths", "0"])
    assert e.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
