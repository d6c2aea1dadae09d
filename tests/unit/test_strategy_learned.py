"""The learned strategy: reproducible training, weights refused unless their hash is the recorded
one, the entry point through the kit, and receipts that replay."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.backtest.train import ridge, train
from keepers.strategy import StrategyParams
from keepers.strategy.kit import decide_with, load_strategy, strategy_source_hash
from keepers.strategy.model import FEATURES, MODEL, ModelError, load_model
from keepers.strategy.replay import replay
from tests.unit.test_strategy import vault

REPO = Path(__file__).resolve().parents[2]
TINY = {"risk_aversion": 30.0, "displacement_hazard": 0.0, "exit_rebalances": 0}
ENTRY = "keepers.strategy.learned:decide"


def tiny() -> bytes:
    return train(1, 5, 40, 10, 5, TINY, ["rate_cut"])


def test_training_is_reproducible():
    a, b = tiny(), tiny()
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()
    doc = json.loads(a)
    assert doc["features"] == list(FEATURES) and doc["train"]["split"] == "train"
    assert doc["train"]["families"] == ["rate_cut"]
    other = train(1, 6, 40, 10, 5, TINY, ["rate_cut"])
    assert other != a  # another seed, other paths, other weights


def test_ridge_recovers_a_linear_rule():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    y = 0.5 + x @ np.array([1.0, -2.0, 0.0])
    mean, scale, coef, b = ridge(x, y, 1e-9)
    assert coef / scale == pytest.approx([1.0, -2.0, 0.0], abs=1e-6)
    assert float(b) + ((x - mean) / scale) @ coef == pytest.approx(y)
    heavy = ridge(x, y, 1e9)  # all penalty: the mean of the targets, whatever the features
    assert np.abs(heavy[2]).max() < 1e-5 and float(heavy[3]) == pytest.approx(y.mean())


def test_the_committed_model_matches_its_recorded_hash():
    recorded = MODEL.with_name(MODEL.name + ".sha256").read_text().split()[0]
    assert hashlib.sha256(MODEL.read_bytes()).hexdigest() == recorded
    assert load_model().sha256 == recorded
    assert json.loads(MODEL.read_text())["train"]["split"] == "train"


def test_weights_whose_hash_differs_are_refused_in_one_line(tmp_path):
    model = tmp_path / "learned.json"
    data = json.loads(MODEL.read_text())
    data["coef"][0] += 1.0  # tampered weights
    model.write_text(json.dumps(data))
    recorded = MODEL.with_name(MODEL.name + ".sha256").read_text()
    (tmp_path / "learned.json.sha256").write_text(recorded)
    with pytest.raises(ModelError) as err:
        load_model(model)
    message = str(err.value)
    assert "\n" not in message and "is not the recorded" in message
    (tmp_path / "learned.json.sha256").unlink()
    with pytest.raises(ModelError, match="cannot read"):
        load_model(model)


def test_a_keeper_on_tampered_weights_does_not_start(tmp_path):
    # A copy of the package with one weight changed: the kit refuses the entry point in one line.
    pkg = tmp_path / "keepers"
    subprocess.run(["cp", "-r", str(REPO / "keepers"), str(pkg)], check=True)
    model = pkg / "strategy" / "models" / "learned.json"
    data = json.loads(model.read_text())
    data["intercept"] += 0.01
    model.write_text(json.dumps(data))
    code = (
        "from keepers.strategy.kit import load_strategy, StrategyLoadError\n"
        "try:\n    load_strategy('keepers.strategy.learned:decide')\n"
        "except StrategyLoadError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)  # fmt: skip
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and "does not import" in lines[0] and "sha256" in lines[0]


def test_the_learned_strategy_decides_within_bounds_and_replays():
    load_strategy(ENTRY)
    outcome = decide_with(ENTRY, vault(current=(3000, 1000, 2000)), StrategyParams())
    assert outcome.rationale is not None
    result = replay(outcome.rationale)
    assert result.ok, result.differences
    document = json.loads(outcome.rationale)
    assert document["strategy"]["code"] == strategy_source_hash(ENTRY)
    assert document["proposal"]["notes"]["model_sha256"] == load_model().sha256


@pytest.mark.parametrize(
    ("module", "argv", "message"),
    [
        ("train", ["--family", "mark_reversal"], "not a train family"),
        ("train", ["--paths-per-family", "0"], "counts must be positive"),
        ("select", ["--candidate", "robust/ra1"], "unknown candidate robust/ra1"),
    ],
)
def test_the_selection_and_training_commands_refuse_bad_input(module, argv, message, capsys):
    # Test families are never trained or selected on: refused in one line, exit 2.
    from benchmarks.backtest import select as select_cli
    from benchmarks.backtest import train as train_cli

    main = {"train": train_cli.main, "select": select_cli.main}[module]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
