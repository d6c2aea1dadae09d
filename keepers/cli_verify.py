"""`ballast-keeper verify-decision` and `verify-steward`: a decision's or a steward batch's
rationale document checked against the hash on chain, and with --replay re-run (registered on
`keepers.cli.main`; exit status 4 when the document is missing or does not match); and
`steward-moves`: every steward move with its batch's rationale hash (exit 4: a move without one).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ballast.cli import NegativeNumbers, make_console
from keepers.cli_common import Fail, connected, keeper_for

# `verify-steward --replay`'s default for `--max-age`: the steward sends its batch right after
# its read (`tx.receipt_timeout` 180 s, with replacements); an hour covers a slow inclusion.
STEWARD_RECEIPT_MAX_AGE = 3_600
# `verify-decision --replay`'s (keepers.verify.DECISION_RECEIPT_MAX_AGE: the same hour).
DECISION_RECEIPT_MAX_AGE = 3_600


class DecisionId(click.IntRange):
    """A decision ID, 0 to 2^256 - 1; a signed zero (`-0`) is refused, not read as decision 0."""

    def __init__(self) -> None:
        super().__init__(min=0, max=2**256 - 1)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if isinstance(value, str) and value.strip().startswith("-"):
            self.fail(f"{value} is not a decision ID: a whole number without a sign", param, ctx)
        return number


def _entry_points(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    """`--strategy`'s values: each an entry point (package.module:function), else one line."""
    from keepers.strategy.kit import ENTRY_POINT

    for entry in value:
        if not ENTRY_POINT.fullmatch(entry):
            raise click.BadParameter(f"{entry!r} is not an entry point (package.module:function)")
    return value


# NegativeNumbers: `-1` is an ID the type explains; a mistyped option (`--replya`) is named
@click.command("verify-decision", cls=NegativeNumbers)
@click.argument("decision_id", type=DecisionId())
@click.option(
    "--replay",
    "replay_it",
    is_flag=True,
    help="Also re-run the strategy on the document and cross-check its chain inputs at its block.",
)
@click.option(
    "--max-age",
    type=click.IntRange(min=0),
    default=DECISION_RECEIPT_MAX_AGE,
    show_default=True,
    help="With --replay: the most seconds the receipt's inputs may precede the decision.",
)
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    callback=_entry_points,
    metavar="MODULE:CALLABLE",
    help="With --replay: a strategy you trust to run when a receipt names it (repeatable; the "
    "shipped strategies and rebalancer.strategy are trusted already).",
)
@click.pass_context
def verify_decision_command(
    ctx: click.Context,
    decision_id: int,
    replay_it: bool,
    max_age: int,
    strategies: tuple[str, ...],
) -> None:
    """Re-hash DECISION_ID's stored rationale and compare it with the on-chain hash; with
    --replay, re-run the strategy on it (an operator's within its time limit,
    rebalancer.strategy_time_limit_seconds), check its inputs against the node at its block and
    that they are at most --max-age seconds older than the decision, with no decision of the
    vault between them (exit 4 names the input or output that differs). The strategy runs only
    if you trust it: a shipped one, your rebalancer.strategy, or one named by --strategy; any
    other a receipt names is refused, nothing of it imported (exit 4)."""
    from keepers.strategy.kit import trusted_strategies
    from keepers.verify import DecisionNotFound, replay_decision, verify_decision

    if strategies and not replay_it:  # it would trust nothing: the hash check runs no strategy
        raise click.UsageError("--strategy applies only with --replay")
    with connected(ctx.obj["network"]):
        keeper = keeper_for(ctx)
        dir_ = keeper.settings.rebalancer.rationale_dir
        chunk = keeper.settings.liquidator.scan_chunk
        try:
            if replay_it:
                limit = keeper.settings.rebalancer.strategy_time_limit_seconds
                trusted = trusted_strategies(keeper.settings.rebalancer.strategy, strategies)
                check = replay_decision(keeper.multicall, keeper.protocol, decision_id,
                                        keeper.store, dir_, chunk, limit, max_age,
                                        trusted)  # fmt: skip
                result = check.verification
            else:
                result = verify_decision(keeper.protocol, decision_id, keeper.store, dir_, chunk)
        except DecisionNotFound as err:
            raise Fail(str(err)) from None
        console = _Shown(make_console())
        console.print(f"decision {decision_id} by {result.agent} at block {result.block}")
        console.print(f"  on-chain hash {result.onchain_hash}  uri {result.uri}", markup=False)
        console.print(f"  {result.verdict}", markup=False)
        ok = result.ok
        if replay_it:
            _print_replay(console, check)
            ok = check.ok
    if not ok:
        sys.exit(4)


@click.command("verify-steward")
@click.argument("rationale_hash")
@click.option(
    "--replay",
    "replay_it",
    is_flag=True,
    help="Also re-run the steward on the document and cross-check its chain inputs.",
)
@click.option(
    "--document",
    type=click.Path(path_type=Path),
    help="The rationale document (default: the keeper's store or rationale_dir).",
)
@click.option(
    "--max-age",
    type=click.IntRange(min=0),
    default=STEWARD_RECEIPT_MAX_AGE,
    show_default=True,
    help="With --replay: the most seconds the receipt's inputs may precede the batch.",
)
@click.pass_context
def verify_steward_command(
    ctx: click.Context, rationale_hash: str, replay_it: bool, document: Path | None, max_age: int
) -> None:
    """Check the steward batch whose StewardUpdate carries RATIONALE_HASH: the document re-hashes
    to it and lists the batch's keys and values, and no other batch carries the hash; with
    --replay, the steward re-run on it decides the same, the node agrees with its inputs at its
    block, and that block is just before the batch's: no parameter changed in between and at most
    --max-age seconds passed (exit 4 names what differs)."""
    import re

    from keepers.jobs.steward import settings_differences
    from keepers.shell.steward import find_steward_updates
    from keepers.strategy.rationale import decode as decode_doc
    from keepers.strategy.rationale import verify as verify_hash
    from keepers.strategy.replay import ReceiptError

    digest = rationale_hash.lower()
    if not re.fullmatch(r"0x[0-9a-f]{64}", digest):
        raise Fail(f"{rationale_hash!r} is not a rationale hash (0x and 64 hex digits)")
    with connected(ctx.obj["network"]):
        keeper = keeper_for(ctx)
        found = find_steward_updates(keeper, digest)
        if not found:
            raise Fail(f"no StewardUpdate with rationale hash {digest} on this registry")
        block, tx, uri, keys, values = found[0]
        # every line printable: the URI and the document's words are the steward key's text
        console = _Shown(make_console())
        console.print(f"steward batch {tx} at block {block}, uri {uri}", markup=False)
        problems: list[str] = []
        if len(found) > 1:  # one document, one batch: a reused hash vouches for none after it
            others = ", ".join(f"{t} at block {b}" for b, t, *_ in found[1:])
            problems.append(f"rationale hash: {len(found)} steward batches carry it (also "
                            f"{others}); a receipt describes one batch")  # fmt: skip
        body = _steward_document(keeper, digest, document)
        if body is None:
            for problem in problems:
                console.print(f"  MISMATCH: {problem}", markup=False)
            console.print("  MISMATCH: the document is not in the store, the rationale "
                          "folder or --document")  # fmt: skip
            sys.exit(4)
        if not verify_hash(body, digest):
            problems.append("document: its keccak256 is not the on-chain rationale hash "
                            "(or it is not canonical)")  # fmt: skip
        else:
            console.print("  document: keccak256 matches the on-chain hash")
        try:
            batch = decode_doc(body).get("outcome", {}).get("batch", [])
            listed = [(_key(n), int(v)) for n, v in batch]
        except (ValueError, TypeError, AttributeError):
            listed = None
        if listed != list(zip(keys, values, strict=True)):
            problems.append(
                "outcome.batch: the document's batch is not the event's keys and values"
            )
        if replay_it:
            try:
                from keepers.jobs.steward import replay_steward

                result = replay_steward(body)
            except ReceiptError as err:
                problems.append(f"replay: {err}")
            else:
                problems += [f"replay: {d}" for d in result.differences]
                if result.ok:
                    console.print("  replay: same document")
                # the settings the DAO delegated (this keeper's `steward` section), not only
                # those the receipt names: a replay re-runs whatever settings it records
                configured = keeper.settings.steward.model()
                settings = settings_differences(result.settings, configured)
                problems += list(settings)
                if not settings:
                    console.print("  settings: the configured steward settings")
                problems += _steward_chain(console, keeper, result.inputs, block, max_age)
        for problem in problems:
            console.print(f"  MISMATCH: {problem}", markup=False)
    if problems:
        sys.exit(4)


@click.command("steward-moves")
@click.pass_context
def steward_moves_command(ctx: click.Context) -> None:
    """List every steward move on the registry (each parameter change by an account without
    GOVERNANCE_ROLE) with the rationale hash of its batch; exit 4 when any carries none (a
    `stewardSet`: a move with no document to check)."""
    from keepers.errors import one_line
    from keepers.shell.steward import steward_moves

    with connected(ctx.obj["network"]):
        keeper = keeper_for(ctx)
        try:
            moves = steward_moves(keeper)
        except Exception as err:  # noqa: BLE001 - a node that cannot serve the history: one line
            raise Fail(f"steward-moves: cannot read the chain: {one_line(err)}") from None
        console = make_console()
        console.print(f"{len(moves)} steward moves since block {keeper.protocol.block}")
        unexplained = [m for m in moves if m.rationale is None]
        for m in moves:
            what = f"block {m.block} tx {m.tx}: {m.name} {m.old} -> {m.new} by {m.by}"
            if m.rationale is not None:
                console.print(f"  {what}, rationale {m.rationale}", markup=False, soft_wrap=True)
            else:
                console.print(f"  UNEXPLAINED: {what}: no StewardUpdate carries it "
                              "(stewardSet carries no rationale)", markup=False,
                              soft_wrap=True)  # fmt: skip
    if unexplained:
        sys.exit(4)


def _steward_chain(console: Any, keeper: Any, inputs: Any, block: int, max_age: int) -> list[str]:
    """The receipt's inputs against the node at its block and its timing against the batch's
    (`shell.steward.chain_differences`, `receipt_timing`). The receipt's block first: one at or
    after the batch's (the future, even) or before the deployment's is named, not read; a block
    the node does not serve (pruned, a node error) is a difference, never a pass."""
    from keepers.errors import one_line
    from keepers.shell.steward import chain_differences, read_steward_inputs, receipt_timing

    deployed = int(keeper.protocol.block)
    if inputs.block < deployed:
        return [f"receipt: its inputs are read at block {inputs.block}, before the deployment's "
                f"block {deployed}: nothing there to check them against"]  # fmt: skip
    problems: list[str] = []
    try:
        timing = receipt_timing(keeper, inputs, block, max_age)
        if inputs.block < block:
            chain = chain_differences(inputs, read_steward_inputs(keeper, inputs.block))
            problems += [f"chain inputs: {d}" for d in chain]
            if not chain:
                console.print("  chain inputs: the node agrees at the receipt's block")
    except Exception as err:  # noqa: BLE001 - any node refusal: the inputs cannot be checked
        return problems + [f"chain inputs: cannot be checked at block {inputs.block}: "
                           f"{one_line(err)}"]  # fmt: skip
    if not timing:
        console.print(f"  receipt: read at block {inputs.block}, no managed "
                      f"parameter changed before the batch at {block}")  # fmt: skip
    return problems + timing


def _key(name: str) -> bytes:
    from eth_utils import keccak

    return keccak(text=name)


def _steward_document(keeper: Any, digest: str, document: Path | None) -> bytes | None:
    """The batch's document: `--document`, else the store's, else `<digest>.json` in the
    steward's rationale folder; a file is read only when it is a regular file of at most
    `MAX_DOCUMENT_BYTES` (as `verify-decision` reads: a FIFO or a device never holds the
    checker, a huge file is never read whole), else one line and exit 1."""
    from keepers.verify import DocumentRefused, read_document

    try:
        if document is not None:
            body = read_document(Path(document), f"--document {document}")
            if body is None:
                raise Fail(f"cannot read {document}: no such file")
            return body
        body = keeper.store.rationale(digest)
        folder = keeper.settings.steward.rationale_dir
        if body is None and folder is not None:
            body = read_document(folder / f"{digest}.json", f"{folder / digest}.json")
    except DocumentRefused as err:
        raise Fail(printable(str(err))) from None
    return body


def printable(text: str) -> str:
    """`text` with every character a terminal acts on or hides (a line break, an escape
    sequence, a direction override: whatever `str.isprintable` refuses) written as its Python
    escape (`\\n`, `\\x1b`, `\\u202e`)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class _Shown:
    """A console whose every line is `printable`: what `verify-decision` prints is the agent's
    words (its URI, its receipt's field names, sleeve names and strategy code). Found in an
    outside review: a URI of `\\x1b[2J`, a line break and `  verified: …` cleared the checker's
    screen and printed a verdict of the agent's own above the real one, and `\\x1b[8m` hid
    every MISMATCH line after it. Each line is one line, however long."""

    def __init__(self, console: Any) -> None:
        self._console = console

    def print(self, text: str, **kwargs: Any) -> None:
        kwargs.setdefault("soft_wrap", True)  # one line, however long (the agent's URI)
        self._console.print(printable(text), **kwargs)


def _print_replay(console: Any, check: Any) -> None:
    from keepers.strategy.replay import REAL_TOLERANCE  # loaded already: the replay ran

    replay = check.replay
    if replay is None:
        # one line however long (a receipt's entry point is the agent's text)
        console.print(f"  replay: not run: {check.note}", markup=False, soft_wrap=True)
        return
    if replay.ok:
        same = (
            "same document"
            if replay.exact
            else f"same decision (reals within {REAL_TOLERANCE:g} of the receipt's: another CPU's "
            "floating point)"
        )
        console.print(f"  replay: {same}, targets {list(replay.replayed_target or ())}")
    for difference in replay.differences:
        console.print(f"  replay MISMATCH: {difference}", markup=False)
    if check.node is None:  # a receipt whose inputs the node cannot check does not verify
        console.print(f"  chain inputs MISMATCH: cannot be checked: {check.note}", markup=False)
    elif not check.node:
        console.print("  chain inputs: the node agrees at the receipt's block")
    for difference in check.node or ():
        console.print(f"  chain inputs MISMATCH: {difference}", markup=False)
    if not check.decision:
        console.print("  chain decision: the transaction sent the receipt's targets")
    for difference in check.decision:
        console.print(f"  chain decision MISMATCH: {difference}", markup=False)
    if not check.timing:
        console.print("  receipt timing: read within --max-age of the decision, no decision "
                      "between")  # fmt: skip
    for difference in check.timing:
        console.print(f"  receipt timing MISMATCH: {difference}", markup=False)
