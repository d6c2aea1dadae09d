"""The replay's allow-list (`keepers.strategy.replay.require_trusted`, `kit.trusted_strategies`).

Found in an outside review: a replay receipt is the agent's document (published at its rationale
URI), and `verify-decision --replay` imported whatever `module:callable` it named and called it:
a receipt naming `this:s` printed the Zen of Python (an import's side effect) before it was
refused, and any installed callable was called with the receipt's inputs. A verifier now runs
only a strategy it trusts — the shipped ones, its own `rebalancer.strategy`, those it names with
`--strategy` — and refuses any other in one line before anything of it is imported.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from keepers.strategy import Decision, decide
from keepers.strategy.kit import BUILTIN, LEARNED, SHIPPED, trusted_strategies
from keepers.strategy.rationale import decode, encode
from keepers.strategy.receipt import STRATEGY_NAME
from keepers.strategy.replay import (
    StrategyUnavailable,
    StrategyUntrusted,
    replay,
    require_trusted,
)
from tests.unit.test_strategy import PARAMS, vault

MARKER_MODULE = """
from pathlib import Path

Path({marker!r}).write_text("imported")  # the side effect a verifier must never run


def decide(inputs):
    Path({marker!r}).write_text("called")
"""


def _receipt_naming(name: str) -> bytes:
    """A statistical decision's receipt, its strategy renamed (the agent writes the document)."""
    outcome = decide(vault(), PARAMS)
    assert isinstance(outcome, Decision)
    document = decode(outcome.rationale)
    document["strategy"]["name"] = name
    return encode(document)


@pytest.fixture
def marker_module(tmp_path, monkeypatch):
    """An importable module (on sys.path, as any installed package is) whose import writes a
    marker file: (its entry point, the marker's path)."""
    name = f"ballast_marker_{uuid.uuid4().hex[:12]}"
    marker = tmp_path / "imported.txt"
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / f"{name}.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(folder))
    yield f"{name}:decide", marker
    sys.modules.pop(name, None)


def test_the_trusted_strategies_are_the_shipped_the_configured_and_the_named():
    assert trusted_strategies() == SHIPPED == {BUILTIN, LEARNED}
    assert trusted_strategies("my_agent:momentum") == {BUILTIN, LEARNED, "my_agent:momentum"}
    named = trusted_strategies(BUILTIN, ["a.b:c", "d:e"])
    assert named == {BUILTIN, LEARNED, "a.b:c", "d:e"}


def test_a_receipt_naming_an_untrusted_module_is_refused_without_importing_it(marker_module):
    entry, marker = marker_module
    with pytest.raises(StrategyUntrusted) as err:
        replay(_receipt_naming(entry))
    assert str(err.value) == (
        f"strategy {entry!r} is not one this verifier trusts (the shipped strategies, "
        f"rebalancer.strategy, --strategy): nothing of it was imported; pass --strategy {entry} "
        "to run it"
    )
    assert not marker.exists()  # its import never ran
    assert entry.partition(":")[0] not in sys.modules
    # the verifier's own configured strategy, or another it names, does not trust this one
    with pytest.raises(StrategyUntrusted):
        replay(_receipt_naming(entry), trusted=trusted_strategies("my_agent:momentum", ["x:y"]))
    assert not marker.exists()


def test_a_trusted_module_is_run(marker_module):
    """Control: the same receipt, its strategy named by the verifier (`--strategy`), runs."""
    entry, marker = marker_module
    with pytest.raises(StrategyUnavailable, match="returned NoneType, not a Proposal"):
        replay(_receipt_naming(entry), trusted=trusted_strategies(named=[entry]))
    assert marker.read_text() == "called"


def test_a_receipt_naming_this_prints_no_zen(monkeypatch, capsys):
    """The review's proof of concept: `this:s` (the Zen of Python, printed on import)."""
    monkeypatch.delitem(sys.modules, "this", raising=False)
    with pytest.raises(StrategyUntrusted, match=r"pass --strategy this:s to run it$"):
        replay(_receipt_naming("this:s"))
    assert "this" not in sys.modules
    assert "Beautiful is better than ugly" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "name",
    [
        "keepers.strategy.kit:load_strategy",  # another callable of a trusted module
        "keepers.strategy:decide ",  # not the exact entry point
        "keepers.strategy.learned:MODEL",
        "os:system",
    ],
)
def test_only_the_exact_trusted_entry_point_runs(name):
    with pytest.raises(StrategyUntrusted, match=f"pass --strategy {name.strip()}|nor an entry"):
        require_trusted(name, trusted_strategies())


@pytest.mark.parametrize("name", ["os:system\nreplay: same document", "\x1b[2J:x", "a;b:c"])
def test_a_name_that_is_no_entry_point_is_refused_in_one_line(name):
    with pytest.raises(StrategyUntrusted) as err:
        replay(_receipt_naming(name))
    message = str(err.value)
    assert "\n" not in message and "\x1b" not in message
    assert message.endswith("nor an entry point (package.module:function): nothing of it was "
                            "imported")  # fmt: skip


def test_the_statistical_strategy_runs_unnamed():
    assert replay(_receipt_naming(STRATEGY_NAME)).ok
    # its entry point, as a receipt may name it: run (the document it writes names the strategy
    # as the statistical one, a difference in `strategy`, not a refusal)
    result = replay(_receipt_naming(BUILTIN))
    assert result.replayed_target == result.recorded_target
    assert result.differences == ("strategy: differs from the replay",)


def test_the_shipped_learned_strategy_needs_no_option():
    require_trusted(LEARNED, trusted_strategies())  # no StrategyUntrusted
    require_trusted("my_agent:momentum", trusted_strategies("my_agent:momentum"))


def test_the_page_agent_is_refused_unless_trusted(tmp_path):
    """The agent-operator page's `verify-decision --replay` names `--strategy my_agent:momentum`:
    without it (and without the verifier's `rebalancer.strategy` naming it) the replay refuses."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "agent-operator.md").read_text()
    assert 'verify-decision "$ID" --replay --strategy my_agent:momentum' in page
    with pytest.raises(StrategyUntrusted, match="pass --strategy my_agent:momentum to run it"):
        replay(_receipt_naming("my_agent:momentum"))
