"""docs/agent-operator.md's "your own strategy in 30 lines", executed without a node: the module
it shows is the file the repository ships (examples/my_agent.py, which the page's shell
walkthrough runs as a keeper and backtests), at most 30 lines; it loads through the kit by its
entry point, proposes targets the vault would accept, and its rationale replays; the kit refuses
what the page says it refuses. The page's shell and console blocks run on a node in
tests/docs/test_docs_walkthroughs.py."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from keepers.strategy import Decision, StrategyParams
from keepers.strategy.bounds import Bounds, violations
from keepers.strategy.kit import Proposal, ProposalRefused, decide_with, load_strategy
from keepers.strategy.rationale import decode
from keepers.strategy.replay import replay
from tests.unit.test_strategy import vault

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "agent-operator.md"
SHIPPED = ROOT / "examples" / "my_agent.py"
MARKER = "<!-- agent-kit: my_agent.py -->"


def page_module() -> str:
    text = PAGE.read_text()
    assert MARKER in text, "docs/agent-operator.md lost its agent-kit walkthrough"
    block = re.search(r"```python\n(.*?)```", text[text.index(MARKER) :], re.S)
    assert block is not None
    return block.group(1)


@pytest.fixture(scope="module")
def my_agent(tmp_path_factory):
    folder = tmp_path_factory.mktemp("agent")
    (folder / "my_agent.py").write_text(page_module())
    sys.path.insert(0, str(folder))
    yield "my_agent:momentum"
    sys.path.remove(str(folder))
    sys.modules.pop("my_agent", None)


def test_the_walkthrough_is_thirty_lines():
    assert len(page_module().splitlines()) <= 30


def test_the_shipped_example_is_the_module_the_page_shows():
    assert SHIPPED.read_text() == page_module(), "examples/my_agent.py drifted from the page"


def test_the_page_names_the_shipped_file_on_pythonpath():
    text = PAGE.read_text()
    assert "PYTHONPATH=examples" in text and "my_agent:momentum" in text


def test_the_page_agent_decides_within_bounds_and_replays(my_agent):
    inputs = vault(current=(3000, 1000, 2000))  # 4,000 idle: 3,500 above the 500 buffer
    outcome = decide_with(my_agent, inputs, StrategyParams())
    assert isinstance(outcome, Decision)
    bounds = Bounds(inputs.caps_bps, inputs.idle_buffer_bps, inputs.max_turnover_bps)
    assert violations(outcome.target_bps, inputs.current_bps, bounds) == ()
    assert outcome.target_bps != inputs.current_bps
    document = decode(outcome.rationale)
    assert document["strategy"]["name"] == my_agent
    assert document["proposal"]["reason"].endswith("grew most over 30 days")
    result = replay(outcome.rationale, trusted={my_agent})  # verify-decision --strategy
    assert result.ok, result.differences


def test_a_fully_invested_vault_is_no_action(my_agent):
    outcome = decide_with(my_agent, vault(current=(6000, 1500, 2000)), StrategyParams())
    assert not isinstance(outcome, Decision) and outcome.code == "min-change"


def greedy(inputs):
    """A strategy that ignores the caps."""
    return Proposal(tuple(10_000 // len(inputs.sleeves) for _ in inputs.sleeves), "all in")


def not_a_proposal(inputs):
    return list(inputs.current_bps)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (f"{__name__}:greedy", "proposed [3333, 3333, 3333]: "),
        (f"{__name__}:not_a_proposal", "returned list, not a Proposal"),
    ],
)
def test_a_proposal_the_vault_would_refuse_is_refused_in_one_line(entry, message):
    with pytest.raises(ProposalRefused, match=re.escape(message)) as err:
        decide_with(entry, vault(), StrategyParams())
    assert "\n" not in str(err.value)


def test_an_altered_receipt_of_a_custom_strategy_is_a_mismatch(my_agent):
    outcome = decide_with(my_agent, vault(current=(3000, 1000, 2000)), StrategyParams())
    document = decode(outcome.rationale)
    document["inputs"]["idle_buffer_bps"] = 3_000
    from keepers.strategy.rationale import encode

    result = replay(encode(document), trusted={my_agent})
    assert not result.ok and result.differences[0].startswith("targets: recorded")


def test_settings_reach_the_custom_strategy_receipt(my_agent):
    params = replace(StrategyParams(), gate=replace(StrategyParams().gate, min_turnover_bps=5_000))
    outcome = decide_with(my_agent, vault(current=(3000, 1000, 2000)), params)
    assert not isinstance(outcome, Decision)  # 3,500 bps is under the 5,000 asked
    assert replay(outcome.rationale, trusted={my_agent}).ok


def test_load_strategy_names_the_problem():
    assert callable(load_strategy("keepers.strategy:decide"))
    with pytest.raises(ValueError, match="expected 'package.module:function'"):
        load_strategy("keepers.strategy.decide")


def test_the_page_agent_backtests_with_one_command(my_agent, tmp_path, capsys):
    from benchmarks.backtest.__main__ import main

    out = tmp_path / "results.json"
    assert main(["--strategy", my_agent, "--paths", "1", "--out", str(out), "--no-chart"]) == 0
    printed = capsys.readouterr().out
    assert "strategy " in printed and "breaches" in printed
    assert out.is_file()


@pytest.mark.parametrize(
    ("entry", "first"),
    [
        ("greedy", "proposed [2500, 2500, 2500, 2500]: "),
        ("raises", "raised RuntimeError: the model is not loaded"),
    ],
)
def test_a_strategy_the_keeper_would_refuse_backtests_as_breaches(entry, first, tmp_path, capsys):
    """The page: a strategy that proposes outside the bounds counts as a breach. The kit refused
    such a proposal before the simulator saw it and the backtest held instead: an all-in
    strategy, or one that raised on every call, backtested as 0 breaches, `goal no_breaches:
    met`, exit 0 (a hold every day), while the keeper refuses it at start-up."""
    from benchmarks.backtest.__main__ import main

    out = tmp_path / "results.json"
    args = ["--strategy", f"{__name__}:{entry}", "--paths", "1", "--out", str(out), "--no-chart"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    row = next(r for r in printed.splitlines() if r.startswith("strategy ") and "%" in r)
    assert int(row.split()[-1]) > 0, printed  # the breaches column
    assert "goal no_breaches: MISSED" in printed
    assert "proposals refused, each a breach" in printed and first in printed
    doc = json.loads(out.read_text())
    assert doc["strategy_refusals"]["count"] == doc["summary"]["strategy"]["breaches"]["total"]
    assert doc["breach_reasons"]["strategy"]["refused"] == doc["strategy_refusals"]["count"]


def test_the_backtest_refuses_a_strategy_that_does_not_import(capsys):
    from benchmarks.backtest.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["--strategy", "nowhere.agent:decide", "--paths", "1", "--no-chart"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: strategy 'nowhere.agent:decide' does not import")
    assert "\n" not in err


def test_a_receipt_whose_strategy_is_not_here_says_so_in_one_line(my_agent, monkeypatch):
    """The page's `verify-decision --replay` without the operator's module: a one-line reason
    (the CLI prints `cannot replay here: …`, exit 4), never a traceback."""
    from keepers.strategy.replay import StrategyUnavailable

    outcome = decide_with(my_agent, vault(current=(3000, 1000, 2000)), StrategyParams())
    here = [p for p in sys.path if not (Path(p) / "my_agent.py").is_file()]
    monkeypatch.setattr(sys, "path", here)
    monkeypatch.delitem(sys.modules, "my_agent")
    with pytest.raises(StrategyUnavailable) as err:
        replay(outcome.rationale, trusted={my_agent})  # trusted (--strategy), not installed
    assert str(err.value) == (
        "strategy 'my_agent:momentum' does not import: No module named 'my_agent'"
    )


# ------------------------------------------- bad outputs: refused in one line, never sent


def _one_more_tbill(inputs):
    return (inputs.current_bps[0] + 100, *inputs.current_bps[1:])


def raises(inputs):
    raise RuntimeError("the model is not loaded\n  (a second line)")


def exits(inputs):
    raise SystemExit(0)


def no_targets(inputs):
    return Proposal(None, "none")


def text_targets(inputs):
    return Proposal(tuple("1" for _ in inputs.sleeves), "text")


def bool_targets(inputs):
    return Proposal((True, *inputs.current_bps[1:]), "a bool is not a bps")


def nan_notes(inputs):
    return Proposal(_one_more_tbill(inputs), "nan", {"score": float("nan")})


def object_reason(inputs):
    return Proposal(_one_more_tbill(inputs), object())


def huge_notes(inputs):
    return Proposal(_one_more_tbill(inputs), "verbose", {"dump": "x" * (5 * 2**20)})


def widens_its_caps(inputs):
    """Raises the caps and the limits it was given, then proposes within the widened ones."""
    for sleeve in inputs.sleeves:
        object.__setattr__(sleeve, "cap_bps", 10_000)
    object.__setattr__(inputs, "idle_buffer_bps", 0)
    object.__setattr__(inputs, "max_turnover_bps", 10_000)
    return Proposal((10_000, *(0 for _ in inputs.sleeves[1:])), "all in")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("raises", "raised RuntimeError: the model is not loaded"),
        ("exits", "raised SystemExit: 0"),
        ("no_targets", "target_bps is a NoneType, not a tuple"),
        ("text_targets", "sleeve 0: target '1' is not an integer"),
        ("bool_targets", "sleeve 0: target True is not an integer"),
        ("nan_notes", "cannot be recorded: ValueError: cannot encode non-finite number nan"),
        ("object_reason", "cannot be recorded: TypeError: cannot encode object in a rationale"),
        ("widens_its_caps", "proposed [10000, 0, 0]: sleeve 0: target 10000 above ceiling 6000"),
        ("huge_notes", "bytes, above 4,194,304 (its notes or reason are too large to publish)"),
    ],
)
def test_a_strategy_that_fails_or_returns_bad_types_is_refused_in_one_line(entry, message):
    """Found by the fault drill: these escaped `decide_with` as raw exceptions (a traceback out
    of `verify-decision --replay`), a bool passed as a target, and a strategy that widened the
    caps it was given proposed past the vault's real ones (the kit checked the widened ones)."""
    inputs = vault(current=(3000, 1000, 2000))
    with pytest.raises(ProposalRefused, match=re.escape(message)) as err:
        decide_with(f"{__name__}:{entry}", inputs, StrategyParams())
    assert "\n" not in str(err.value)
    assert inputs == vault(current=(3000, 1000, 2000))  # the keeper's inputs are untouched


_draws = iter(range(100, 10_000, 7))


def drifting(inputs):
    """A strategy reading a source that changes between runs (a clock, a random generator)."""
    return Proposal((inputs.current_bps[0] + next(_draws) % 300, *inputs.current_bps[1:]), "drift")


def test_a_decision_that_does_not_replay_is_never_planned():
    """Found by the fault drill: a nondeterministic strategy's decision was planned and sent,
    and its receipt then failed `verify-decision --replay`. The keeper replays a decision's
    receipt before it plans the call."""
    from keepers.jobs import plan_rebalance
    from tests.unit.test_keeper_jobs import snapshot

    with pytest.raises(ProposalRefused, match="its receipt does not replay: targets: recorded"):
        plan_rebalance(snapshot(held=(3_000, 1_000, 2_000)), strategy=f"{__name__}:drifting")
