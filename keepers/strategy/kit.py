"""The agent kit: bring your own strategy to the rebalancer.

A strategy is any Python callable named by an entry point `"package.module:function"`:

    def my_strategy(inputs: StrategyInputs) -> Proposal

`inputs` is what the keeper read (`keepers.strategy.inputs.StrategyInputs`: NAV, each sleeve's
weight, cap and return-index history, the lending book, the idle buffer, the turnover limit,
gas, the block); the `Proposal` is the target weights in bps (one per sleeve, in the vault's
order; idle takes the rest) with a reason and any notes the operator wants on record. Set
`rebalancer.strategy: "package.module:function"` in the keeper's settings; the default is the
statistical strategy shipped here (`keepers.strategy.decide`, `BUILTIN`).

The kit does the rest, the same for every strategy:

- `load_strategy` imports the entry point when the keeper starts; a name that does not import or
  is not callable is refused in one line (`StrategyLoadError`), so nothing is ever sent.
- `decide_with` runs it (on a copy of the inputs) and checks the proposal against the vault's
  bounds exactly as the vault will (`bounds.violations`: caps, idle buffer, turnover): a
  proposal outside them, with targets that are not plain integers or notes the receipt cannot
  hold (or a receipt over `MAX_RECEIPT_BYTES`), or a strategy that raises (anything: a
  `BaseException` such as `asyncio.CancelledError` too; or whose `strategy_identity_extra`
  raises, or whose answer's own methods do), is refused in one line (`ProposalRefused`), never
  sent;
  a proposal that moves less than `GateParams.min_turnover_bps` is no action, and so is the
  current weights themselves (staying put sends nothing, even when the weights have drifted
  past a cap or the buffer).
- a keeper runs an operator's strategy, its identity and the recording of its answer (its
  reason and notes, encoded for the receipt: `_recorded`) under a time limit
  (`rebalancer.strategy_time_limit_seconds`; `verify-decision --replay` too): one that does not
  return in time is refused in one line and the keeper's pass goes on (its other jobs wait on
  that pass: liquidations, the sentinel); the call left running is never used, and while it
  runs every later proposal is refused, so a strategy that hangs holds at most one thread.
  The statistical strategy runs under the same limit when one is set (`decide_with`): a replay
  receipt's inputs and settings are the agent's, and its replay must end too.
- the rationale document is a replay receipt (`keepers.strategy.replay`): the inputs, the
  proposal, and the strategy's identity (its entry point and the keccak256 of its module's
  source), so `verify-decision --replay` re-runs it as it does the statistical one — when the
  verifier trusts it (`trusted_strategies`: the shipped ones, its own `rebalancer.strategy`, the
  ones it names with `--strategy`). A receipt is the agent's document: the entry point it names
  is never imported on its word alone.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from eth_utils import keccak

from keepers.math import BPS
from keepers.strategy.bounds import Bounds, min_turnover_bps, turnover_bps, violations
from keepers.strategy.inputs import StrategyInputs, StrategyParams
from keepers.strategy.pipeline import Decision, NoAction, decide
from keepers.strategy.rationale import VERSION, canonical, encode, rationale_hash

__all__ = ["BUILTIN", "ENTRY_POINT", "LEARNED", "SHIPPED", "Proposal", "ProposalRefused",
           "StrategyLoadError", "decide_with", "load_strategy", "strategy_source_hash",
           "trusted_strategies"]  # fmt: skip

BUILTIN: Final = "keepers.strategy:decide"
LEARNED: Final = "keepers.strategy.learned:decide"
# The strategies this repository ships: a verifier trusts them without being told.
SHIPPED: Final = frozenset({BUILTIN, LEARNED})
# An entry point's form (as `rebalancer.strategy`'s setting): package.module:function.
ENTRY_POINT: Final = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
# The largest receipt an operator's strategy may produce (its inputs, with 2,000 readings of ten
# sleeves' histories, take about 0.6 MiB): notes or a reason beyond it are refused, never stored,
# published or sent.
MAX_RECEIPT_BYTES: Final = 4 * 2**20


@dataclass(frozen=True)
class Proposal:
    """A strategy's answer: `target_bps` per sleeve (vault order), `reason` in words, `notes`
    (any JSON-able data: forecasts, scores, model outputs) kept in the receipt."""

    target_bps: tuple[int, ...]
    reason: str
    notes: dict[str, Any] = field(default_factory=dict)


class StrategyLoadError(ValueError):
    """The entry point cannot be used (one-line message)."""


class ProposalRefused(ValueError):
    """The strategy proposed targets the vault would refuse (one-line message)."""


def load_strategy(entry_point: str) -> Callable[[StrategyInputs], Proposal]:
    """The callable `entry_point` ("package.module:function") names, or `StrategyLoadError`."""
    module_name, sep, attribute = entry_point.partition(":")
    if not sep or not module_name or not attribute:
        raise StrategyLoadError(f"strategy {entry_point!r}: expected 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except KeyboardInterrupt:  # the operator's Ctrl-C while it imports
        raise
    except BaseException as err:  # noqa: BLE001 - any import failure is the operator's to fix
        # (a SystemExit too: a script's module-level argparse parsing the keeper's own argv)
        first = _first_line(err)  # "Type: message"; an import error's message alone, as ever
        if isinstance(err, Exception) and ": " in first:
            first = first.split(": ", 1)[1]
        raise StrategyLoadError(f"strategy {entry_point!r} does not import: {first}") from None
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise StrategyLoadError(f"strategy {entry_point!r}: {module_name} has no {attribute}")
    if not callable(target):
        raise StrategyLoadError(f"strategy {entry_point!r} is not callable")
    return target


def trusted_strategies(configured: str = BUILTIN, named: Iterable[str] = ()) -> frozenset[str]:
    """The entry points a verifier runs when a receipt names them: the shipped strategies
    (`SHIPPED`), its own `rebalancer.strategy` (`configured`) and those it `named`
    (`verify-decision --strategy`). Any other is refused before anything is imported (a receipt
    is the agent's document: found in an outside review, a receipt naming `this:s` printed the
    Zen of Python, an import's side effect, and any installed callable was called)."""
    return SHIPPED | {configured} | frozenset(named)


def strategy_source_hash(entry_point: str) -> str:
    """keccak256 of the source of the entry point's module (followed by what its
    `strategy_identity_extra()` returns, if it has one: a model's weights hash), as `0x` hex;
    `StrategyLoadError` when the module does not import (e.g. replaying another operator's
    receipt without their module on `PYTHONPATH`)."""
    load_strategy(entry_point)  # the one-line refusal when the entry point cannot be used
    module = importlib.import_module(entry_point.partition(":")[0])
    try:
        source = inspect.getsource(module).encode()
    except (OSError, TypeError):  # no source: the module's own file (a .pyc, a compiled .so)
        source = _module_file(module) or entry_point.encode()
    extra = getattr(module, "strategy_identity_extra", None)
    if callable(extra):  # e.g. a learned model's weights hash (keepers.strategy.learned)
        source += b"\n" + str(extra()).encode()
    return "0x" + keccak(source).hex()


def _module_file(module: Any) -> bytes | None:
    """The bytes of the file `module` was loaded from (None: none, or unreadable). (Found in an
    outside review: a strategy shipped without its source, a .pyc or a compiled extension, was
    identified by its entry point's name alone, so every version of it had one identity.)"""
    try:
        return (
            Path(str(module.__file__)).read_bytes() if getattr(module, "__file__", None) else None
        )
    except OSError:
        return None


def _identity(entry_point: str) -> str:
    """`strategy_source_hash`, or `ProposalRefused` in one line when the module's
    `strategy_identity_extra` (the operator's code) raises."""
    try:
        return strategy_source_hash(entry_point)
    except StrategyLoadError as err:
        raise ProposalRefused(str(err)) from None
    except (Exception, SystemExit) as err:  # noqa: BLE001 - the operator's code: never sent
        raise ProposalRefused(
            f"strategy {entry_point!r}: its identity (strategy_identity_extra) raised "
            f"{_first_line(err)}"
        ) from None


def _document(inputs: StrategyInputs, params: StrategyParams, entry_point: str, code: str,
              proposal: dict[str, Any], outcome: dict[str, Any]) -> bytes:  # fmt: skip
    return encode(
        {
            "version": VERSION,
            "strategy": {"name": entry_point, "code": code},
            "timestamp": inputs.timestamp,
            "inputs": inputs,
            "params": params,
            "proposal": proposal,
            "outcome": outcome,
        }
    )


def _first_line(err: BaseException) -> str:
    try:
        text = str(err).strip()
    except Exception:  # noqa: BLE001 - the operator's exception: its type names it
        text = ""
    line = text.splitlines()[0] if text else ""
    if len(line) > 160:  # a message, not the operator's whole state
        line = line[:157] + "..."
    return f"{type(err).__name__}: {line}" if line else type(err).__name__


# The one call of an operator's strategy that outran its time limit and has not returned yet
# (a thread cannot be stopped; its answer is never used).
_overdue: threading.Thread | None = None


def _call(strategy: Callable[[StrategyInputs], Proposal], inputs: StrategyInputs,
          entry_point: str, time_limit: float | None) -> Any:  # fmt: skip
    """`strategy(inputs)`, in a thread of its own when `time_limit` (seconds) is set:
    `ProposalRefused` when it does not return within the limit, or while an earlier call that
    did not is still running. Whatever it raises is raised here."""
    global _overdue
    if time_limit is None:
        return strategy(inputs)
    if _overdue is not None and _overdue.is_alive():
        raise ProposalRefused(
            f"strategy {entry_point!r}: an earlier call that outran its time limit has not "
            f"returned yet"
        )
    answer: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            answer.append((True, strategy(inputs)))
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread below
            answer.append((False, err))

    worker = threading.Thread(target=run, name=f"strategy {entry_point}", daemon=True)
    worker.start()
    worker.join(time_limit)
    if worker.is_alive():
        _overdue = worker
        raise ProposalRefused(
            f"strategy {entry_point!r} did not return within {time_limit:g} s "
            f"(rebalancer.strategy_time_limit_seconds)"
        )
    ok, value = answer[0]
    if not ok:
        if not isinstance(value, Exception | SystemExit):
            # KeyboardInterrupt, asyncio.CancelledError, GeneratorExit, a library's own
            # BaseException: the strategy's (no signal reaches this thread), refused as any raise
            raise ProposalRefused(f"strategy {entry_point!r} raised {_first_line(value)}")
        raise value
    return value


def _recorded(answer: Any) -> tuple[Any, Any] | str:
    """A `Proposal`'s reason and notes as its receipt holds them (plain JSON data, `canonical`),
    or why they cannot be held (one phrase): a value the receipt cannot encode, or more than
    `MAX_RECEIPT_BYTES`. Run in the strategy's own call, under its time limit: notes a strategy
    builds in a moment (a list of 10**8 floats) take the encoder minutes."""
    if not isinstance(answer, Proposal):
        return "not a Proposal"
    try:
        reason, notes = canonical(answer.reason), canonical(answer.notes)
        size = len(encode({"notes": notes, "reason": reason}))
    except Exception as err:  # noqa: BLE001 - NaN, an object, notes holding themselves
        return f"its proposal cannot be recorded: {_first_line(err)}"
    if size > MAX_RECEIPT_BYTES:
        return (f"its proposal is {size:,} bytes, above {MAX_RECEIPT_BYTES:,} (its notes or "
                "reason are too large to publish)")  # fmt: skip
    return reason, notes


def _propose(
    entry_point: str, inputs: StrategyInputs, time_limit: float | None = None
) -> tuple[Proposal, tuple[int, ...], str, tuple[Any, Any] | str]:
    """The strategy's proposal, its targets as plain integers, its identity (`_identity`) and
    its reason and notes as the receipt holds them (`_recorded`), or `ProposalRefused`. It runs
    on a copy of `inputs`: what it changes there reaches neither the bounds nor the receipt;
    with `time_limit`, under that limit (`_call`), its identity (the module's
    `strategy_identity_extra`, the operator's code too) and the recording of its answer within
    the same limit."""
    strategy = load_strategy(entry_point)

    def with_identity(given: StrategyInputs) -> tuple[Any, str, tuple[Any, Any] | str]:
        answer = strategy(given)
        return answer, _identity(entry_point), _recorded(answer)

    try:
        proposal, code, recorded = _call(
            with_identity, copy.deepcopy(inputs), entry_point, time_limit
        )
    except (ProposalRefused, KeyboardInterrupt):  # a Ctrl-C of this thread is the operator's
        raise
    except BaseException as err:  # noqa: BLE001 - the operator's code: never sent
        raise ProposalRefused(f"strategy {entry_point!r} raised {_first_line(err)}") from None
    if not isinstance(proposal, Proposal):
        raise ProposalRefused(
            f"strategy {entry_point!r} returned {type(proposal).__name__}, not a Proposal"
        )
    try:  # the operator's objects: a property or an `__iter__` of theirs may raise
        if not isinstance(proposal.target_bps, tuple | list):
            kind = type(proposal.target_bps).__name__
            raise ProposalRefused(f"strategy {entry_point!r}: target_bps is a {kind}, not a tuple")
        target = tuple(proposal.target_bps)
    except ProposalRefused:
        raise
    except Exception as err:  # noqa: BLE001 - the operator's code: never sent
        raise ProposalRefused(
            f"strategy {entry_point!r}: its targets cannot be read: {_first_line(err)}"
        ) from None
    if len(target) != len(inputs.sleeves):
        raise ProposalRefused(
            f"strategy {entry_point!r} proposed {len(target)} targets for "
            f"{len(inputs.sleeves)} sleeves"
        )
    for i, t in enumerate(target):
        if type(t) is not int:  # bool, float, numpy and str targets: the vault takes uint16
            raise ProposalRefused(
                f"strategy {entry_point!r} proposed {_shown(target)}: sleeve {i}: target "
                f"{_brief(t)} is not an integer"
            )
        if t.bit_length() > 64:  # beyond any bound; and printed, beyond str()'s digit limit
            raise ProposalRefused(
                f"strategy {entry_point!r} proposed {_shown(target)}: sleeve {i}: target "
                f"{_brief(t)} is not a uint16"
            )
    return proposal, target, code, recorded


def _brief(value: Any) -> str:
    """`repr(value)` for a message, in a few words whatever the operator's value: an integer
    of any size, an object whose `repr` raises or is long."""
    if type(value) is int and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - the operator's object
        return f"a {type(value).__name__}"
    return text if len(text) <= 24 and "\n" not in text else f"a {type(value).__name__}"


def _shown(target: tuple[Any, ...]) -> str:
    """The targets for a message: one per sleeve, each `_brief`."""
    return "[" + ", ".join(_brief(t) for t in target) + "]"


def decide_with(
    entry_point: str,
    inputs: StrategyInputs,
    params: StrategyParams,
    time_limit: float | None = None,
) -> Decision | NoAction:
    """Run the strategy `entry_point` on `inputs` (the built-in one with `params`) within
    `time_limit` seconds when it is set (`_call`): an operator's, and the built-in one too
    (a replay receipt's inputs and settings are the agent's: found in an outside review, a
    receipt of 800 sleeves held `verify-decision --replay` 38 s, the optimiser's work growing
    as the cube of their number)."""
    if entry_point == BUILTIN:
        if time_limit is None:
            return decide(inputs, params)
        return _call(lambda given: decide(given, params), inputs, entry_point, time_limit)
    if inputs.nav <= 0 or not inputs.sleeves:
        return NoAction("empty vault or no sleeves: nothing to allocate", "empty")
    proposal, target, code, recorded = _propose(entry_point, inputs, time_limit)
    current = inputs.current_bps
    bounds = Bounds(inputs.caps_bps, inputs.idle_buffer_bps, inputs.max_turnover_bps)
    # The vault lets a decision turn over what meeting the caps and the buffer needs.
    need = min_turnover_bps(current, bounds)
    bounds = Bounds(bounds.ceilings_bps, bounds.idle_buffer_bps, max(bounds.max_turnover_bps, need))
    # Staying put sends nothing: the current weights as the proposal are no action even when
    # they drifted past a cap or the buffer (a `rebalance` to them would revert; none is sent).
    broken = () if target == current else violations(target, current, bounds)
    if broken:
        raise ProposalRefused(f"strategy {entry_point!r} proposed {_shown(target)}: {broken[0]}")
    if isinstance(recorded, str):
        raise ProposalRefused(f"strategy {entry_point!r}: {recorded}")
    # The reason and notes as recorded in the strategy's call (plain data, within the size
    # cap): the receipt's as they are, never encoded again from the operator's objects here.
    reason, notes = recorded
    moved = turnover_bps(current, target)
    act = moved >= max(params.gate.min_turnover_bps, 1)
    outcome = {
        "act": act,
        "code": "act" if act else "min-change",
        "reason": reason,
        "target_bps": target,
        "idle_bps": BPS - sum(target),
        "turnover_bps": moved,
    }
    held = {"target_bps": target, "reason": reason, "notes": notes}
    doc = _document(inputs, params, entry_point, code, held, outcome)
    if len(doc) > MAX_RECEIPT_BYTES:
        raise ProposalRefused(
            f"strategy {entry_point!r}: its receipt is {len(doc):,} bytes, above "
            f"{MAX_RECEIPT_BYTES:,} (its notes or reason are too large to publish)"
        )
    if not act:
        why = f"moves {moved} bps, under the minimum {params.gate.min_turnover_bps}"
        return NoAction(why, "min-change", doc)
    return Decision(
        target_bps=target,
        current_bps=current,
        turnover_bps=moved,
        expected_gain=0.0,
        risk_off=(),
        reason=proposal.reason,
        rationale=doc,
        rationale_hash=rationale_hash(doc),
    )
