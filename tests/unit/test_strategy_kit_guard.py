"""The kit's guard around an operator's strategy (`keepers.strategy.kit`), on what the
walkthrough's bad strategies (tests/docs/test_agent_kit_walkthrough.py) do not try: exceptions
that are not `Exception`s, notes that refer to themselves, and answers whose own methods raise.
Each is the operator's code: refused in one line (`ProposalRefused`), which the keeper's pass
reports as a skip and its start-up as a refusal, never an exception out of the keeper."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keepers.jobs import RebalanceCall, RebalanceSkip, plan_rebalance, strategy_inputs
from keepers.strategy import Bounds, Decision, kit, violations
from keepers.strategy.kit import (
    Proposal,
    ProposalRefused,
    StrategyLoadError,
    decide_with,
    load_strategy,
)
from keepers.strategy.replay import replay
from tests.unit.test_keeper_jobs import snapshot
from tests.unit.test_strategy_extremes import KEEPER

LIMIT = 600.0  # the keeper always runs an operator's strategy under a limit; never reached here
SNAP = snapshot(held=(3_000, 1_000, 2_000))  # 3,500 bps of idle above the 500 buffer


def one_more_tbill(inputs) -> tuple[int, ...]:
    """The current weights with 100 bps more in the first sleeve (within every bound)."""
    return (inputs.current_bps[0] + 100, *inputs.current_bps[1:])


class ModelAborted(BaseException):
    """A library's own `BaseException` (as trio's `Cancelled`, gevent's `GreenletExit`)."""


def cancelled(inputs):
    raise asyncio.CancelledError("the model's event loop was shut down")


def generator_exit(inputs):
    raise GeneratorExit("closed")


def interrupted(inputs):
    """`KeyboardInterrupt` raised by the strategy's own code in the kit's thread: no signal
    reaches that thread, so it is never the operator's Ctrl-C."""
    raise KeyboardInterrupt("raised by the model")


def aborted(inputs):
    raise ModelAborted("model aborted")


def self_notes(inputs):
    """Notes that hold themselves (a model's state dict keeping a reference to its parent)."""
    notes: dict[str, Any] = {"model": "ridge"}
    notes["state"] = {"parent": notes}
    return Proposal(one_more_tbill(inputs), "move", notes)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def unprintable(inputs):
    raise Unprintable()


class Targets(list):
    def __iter__(self):
        raise RuntimeError("targets are computed lazily and the model is gone")


def lazy_targets(inputs):
    return Proposal(Targets(one_more_tbill(inputs)), "lazy")


class Notes(dict):
    def items(self):
        raise RuntimeError("notes are computed lazily and the model is gone")


def lazy_notes(inputs):
    return Proposal(one_more_tbill(inputs), "lazy", Notes(score=1))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("cancelled", "raised CancelledError: the model's event loop was shut down"),
        ("generator_exit", "raised GeneratorExit: closed"),
        ("interrupted", "raised KeyboardInterrupt: raised by the model"),
        ("aborted", "raised ModelAborted: model aborted"),
        ("unprintable", "raised Unprintable"),
    ],
)
def test_a_strategy_raising_a_base_exception_is_refused_in_one_line(entry, message):
    """Found by fuzzing the kit (fuzz8): the kit refused a strategy that raised an `Exception`
    or `SystemExit`, but an `asyncio.CancelledError` (a `BaseException` since Python 3.8, what
    a model run on an event loop raises when that loop is shut down), a `GeneratorExit`, a
    `KeyboardInterrupt` raised in the kit's own thread or a library's `BaseException` came out
    of `decide_with`, `plan_rebalance` and the keeper's start-up trial raw: past the CLI's and
    the bot's `except Exception` (a traceback at start-up, the bot's rebalancer task cancelled).
    An exception whose `str` raises escaped from the refusal's own message."""
    with pytest.raises(ProposalRefused) as refused:
        decide_with(f"{__name__}:{entry}", strategy_inputs(SNAP), KEEPER, time_limit=LIMIT)
    assert str(refused.value) == f"strategy '{__name__}:{entry}' {message}"
    with pytest.raises(ProposalRefused, match=message):  # the keeper's pass: a skip
        plan_rebalance(SNAP, KEEPER, strategy=f"{__name__}:{entry}", time_limit=LIMIT)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("self_notes", "its proposal cannot be recorded: RecursionError"),
        ("lazy_targets", "its targets cannot be read: RuntimeError: targets are computed lazily"),
        ("lazy_notes", "its proposal cannot be recorded: RuntimeError: notes are computed lazily"),
    ],
)
def test_an_answer_the_kit_cannot_read_or_record_is_refused_in_one_line(entry, message):
    """Found by fuzzing the kit (fuzz8): notes that refer to themselves overflowed the
    receipt's encoder (`RecursionError`), and targets or notes whose own methods raise raised
    out of `decide_with` raw, past the kit's promise (notes the receipt cannot hold: refused)."""
    with pytest.raises(ProposalRefused, match=message) as refused:
        decide_with(f"{__name__}:{entry}", strategy_inputs(SNAP), KEEPER, time_limit=LIMIT)
    assert "\n" not in str(refused.value)


# ---------------------------------------------------------------------------------- property

_ANSWER: list[Any] = [None]


def answer(inputs):
    """Whatever the test put in `_ANSWER` (a Proposal, its targets, or an exception to raise)."""
    value = _ANSWER[0]
    if isinstance(value, BaseException):
        raise value
    return value


TARGET = st.one_of(
    st.integers(-2, 10_001),
    st.sampled_from([0, 500, 1000, 2000, 3000, 6000, 10_000, 2**16, 2**256]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.text(max_size=3),
)
ANSWERS = st.one_of(
    st.builds(Proposal, st.lists(TARGET, min_size=0, max_size=5).map(tuple), st.text(max_size=5)),
    st.builds(Proposal, st.lists(st.integers(0, 6000), min_size=3, max_size=3).map(tuple),
              st.just("ints"), st.dictionaries(st.text(max_size=3), TARGET, max_size=3)),
    st.lists(st.integers(0, 6000), min_size=3, max_size=3),
    st.sampled_from([None, 3000, "3000", Proposal((), ""), Proposal(None, "x")]),
    st.sampled_from([asyncio.CancelledError("c"), GeneratorExit(), ValueError("v"),
                     ModelAborted("m"), KeyboardInterrupt("k"), SystemExit(2)]),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(ANSWERS)
def test_whatever_a_strategy_answers_is_sent_within_bounds_or_refused_in_one_line(value):
    """The keeper's decision path (`plan_rebalance`) on any answer of an operator's strategy:
    a call within every bound whose receipt replays, a skip, or a one-line `ProposalRefused`."""
    _ANSWER[0] = value
    try:
        call = plan_rebalance(SNAP, KEEPER, strategy=f"{__name__}:answer", time_limit=LIMIT)
    except ProposalRefused as err:
        assert "\n" not in str(err)
        return
    inputs = strategy_inputs(SNAP)
    if isinstance(call, RebalanceSkip):
        assert call.code == "min-change"
        return
    assert isinstance(call, RebalanceCall)
    bounds = Bounds(inputs.caps_bps, inputs.idle_buffer_bps, inputs.max_turnover_bps)
    assert violations(call.target_bps, inputs.current_bps, bounds) == ()
    assert all(type(t) is int for t in call.target_bps)
    assert replay(call.rationale, trusted={f"{__name__}:answer"}).ok


# ---------------------------------------------------------------------------------- import

SCRIPT = """import argparse
parser = argparse.ArgumentParser(description="my agent's backtest")
parser.add_argument("--paths", type=int, required=True)
ARGS = parser.parse_args()


def decide(inputs):
    raise AssertionError("never called")
"""


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (SCRIPT, "does not import: SystemExit: 2"),
        ("import asyncio\nraise asyncio.CancelledError('loop closed')\n",
         "does not import: CancelledError: loop closed"),
    ],
    ids=["module-level-argparse", "cancelled"],
)  # fmt: skip
def test_a_strategy_module_that_exits_while_it_imports_is_refused_in_one_line(
    tmp_path, monkeypatch, source, message
):
    """Found by fuzzing the kit (fuzz8): `load_strategy` refused a module whose import raised an
    `Exception` only. A strategy file that is also its operator's script (argparse at module
    level) parsed the keeper's own command line when imported and raised `SystemExit(2)`: every
    keeper command (`run`, `status`, `verify-decision`, which all load the strategy's settings)
    exited with argparse's usage for the keeper's arguments instead of the one-line refusal,
    and `verify-decision --replay` the same way. Now any failure of the import is
    `StrategyLoadError` (start-up: `StartupError`; a replay: `StrategyUnavailable`)."""
    (tmp_path / "script_agent.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("sys.argv", ["ballast-keeper", "run", "rebalancer"])
    entry = "script_agent:decide"
    with pytest.raises(StrategyLoadError) as refused:
        load_strategy(entry)
    assert str(refused.value) == f"strategy {entry!r} {message}"
    with pytest.raises(StrategyLoadError, match=re.escape(message)):  # a pass, or a replay
        decide_with(entry, strategy_inputs(SNAP), KEEPER, time_limit=LIMIT)


# ---------------------------------------------------------------------------------- time limit

RELEASE = threading.Event()
HELD = 10.0  # seconds the notes' encoding takes unless released: far beyond the 0.05 s limit


class SlowNotes(dict):
    """Notes whose encoding takes as long as the test wants: what a dump of a few million
    floats costs the receipt's encoder (2,000,000 took 2.3 s; [0.5] * 10**8, built in 0.4 s,
    minutes and gigabytes)."""

    def items(self):
        RELEASE.wait(HELD)  # bounded: without the limit the caller's own thread waits here
        return super().items()


def slow_notes(inputs):
    return Proposal(one_more_tbill(inputs), "dump", SlowNotes(samples=[0.5]))


def test_recording_a_proposal_is_part_of_the_strategys_time_limit():
    """Found by fuzzing the kit (fuzz8): the time limit covered the strategy's call and its
    identity, but the receipt's encoding of what it answered ran after, in the keeper's pass:
    notes a strategy builds in a fraction of its limit (a list of 10**8 floats) held the pass
    (and the liquidator and sentinel behind it) for minutes before the size cap refused them.
    Now the answer's reason and notes are recorded in the strategy's own call, under its limit:
    one that outruns it is refused as a strategy that does not return is."""
    RELEASE.clear()
    try:
        with pytest.raises(ProposalRefused, match=r"did not return within 0\.05 s"):
            decide_with(f"{__name__}:slow_notes", strategy_inputs(SNAP), KEEPER, time_limit=0.05)
    finally:
        RELEASE.set()
        late = kit._overdue
        if late is not None:
            late.join(LIMIT)
            assert not late.is_alive()
        kit._overdue = None
    # released at once, the same notes are recorded and sent
    outcome = decide_with(f"{__name__}:slow_notes", strategy_inputs(SNAP), KEEPER, LIMIT)
    assert isinstance(outcome, Decision) and b'"samples":["0.500000000000"]' in outcome.rationale


# ---------------------------------------------------------------------------------- messages


class Unrepresentable(float):
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def million_targets(inputs):
    return Proposal((0,) * 1_000_000, "one per tick")


def huge_integer(inputs):
    return Proposal((2**20_000, *inputs.current_bps[1:]), "overflowed")


def shouts(inputs):
    raise RuntimeError("the model's whole state: " + "0.5, " * 2_000_000)


def unrepresentable(inputs):
    return Proposal((Unrepresentable(3000.0), *inputs.current_bps[1:]), "float")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("million_targets", "proposed 1000000 targets for 3 sleeves"),
        ("huge_integer", "sleeve 0: target an integer of 20001 bits is not a uint16"),
        ("unrepresentable", "sleeve 0: target a Unrepresentable is not an integer"),
        ("shouts", "raised RuntimeError: the model's whole state: 0.5, 0.5,"),
    ],
)
def test_a_refusal_names_what_was_proposed_in_one_short_line(entry, message):
    """Found by fuzzing the kit (fuzz8): the refusal printed the whole proposal. A target of
    2**20000 raised `ValueError: Exceeds the limit (4300 digits) for integer string conversion`
    out of the bounds check (not a refusal: the pass failed), a target whose `repr` raises
    escaped the same way, and a million targets made a refusal (and a log line, every pass) of
    seven megabytes (as an exception's ten-megabyte message did)."""
    with pytest.raises(ProposalRefused) as refused:
        decide_with(f"{__name__}:{entry}", strategy_inputs(SNAP), KEEPER, time_limit=LIMIT)
    text = str(refused.value)
    assert message in text and "\n" not in text and len(text) < 300, text[:400]
