"""Replay receipts (`keepers.strategy.replay`): every document the strategy writes can be re-run
from itself to the same bytes; a receipt whose inputs, settings or outcome were altered is named
as a mismatch; a document that is not a receipt is refused in one line."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings

from keepers.strategy import Decision, StrategyParams, decide
from keepers.strategy.rationale import decode, encode
from keepers.strategy.replay import (
    REAL_TOLERANCE,
    ReceiptError,
    from_document,
    replay,
    same,
    strategy_code_hash,
)
from tests.unit.test_strategy import PARAMS, random_vaults, vault


def _tamper(document: bytes, edit) -> bytes:
    data = decode(document)
    edit(data)
    return encode(data)


def test_a_decision_replays_to_the_same_bytes_and_targets():
    outcome = decide(vault(), PARAMS)
    assert isinstance(outcome, Decision)
    result = replay(outcome.rationale)
    assert result.ok, result.differences
    assert result.exact  # on the machine that wrote it: the very bytes
    assert result.replayed_target == result.recorded_target == outcome.target_bps
    assert result.code_matches
    inputs, params = from_document(decode(outcome.rationale))
    assert inputs == vault() and params == PARAMS


@settings(max_examples=40, deadline=None)
@given(random_vaults())
def test_every_document_the_strategy_writes_replays(inputs):
    outcome = decide(inputs, PARAMS)
    if outcome.rationale is None:
        return  # an empty vault: no document, nothing to replay
    result = replay(outcome.rationale)
    assert result.ok, result.differences


def test_non_default_settings_are_part_of_the_receipt():
    params = replace(PARAMS, horizon_seconds=3 * 86_400, turnover_headroom_bps=40)
    params = replace(params, optimiser=replace(params.optimiser, risk_aversion=7.5))
    outcome = decide(vault(), params)
    assert replay(outcome.rationale).ok
    assert from_document(decode(outcome.rationale))[1] == params


def _nudge(real: str, by: float) -> str:
    """A fixed-point string moved by `by` (relative), in the document's own form."""
    places = len(real.split(".")[1])
    return f"{float(real) * (1 + by):.{places}f}"


def test_a_receipt_whose_reals_differ_in_their_last_digits_verifies_as_the_same_decision():
    # Written on another CPU, the optimiser's continuous answer can differ in its last digits
    # (a committed receipt's moved by 1e-12 bps between two machines): the same decision.
    outcome = decide(vault(), PARAMS)
    assert isinstance(outcome, Decision)

    def last_digits(doc):
        bps = doc["solution"]["continuous_bps"]
        bps[0] = _nudge(bps[0], 1e-14) if float(bps[0]) else "0.000000000001"

    body = _tamper(outcome.rationale, last_digits)
    assert body != outcome.rationale
    result = replay(body)
    assert result.ok and not result.exact and not result.differences
    assert result.replayed_target == result.recorded_target == outcome.target_bps

    def visibly(doc):  # a real moved beyond the tolerance is a mismatch, named by its field
        bps = doc["solution"]["continuous_bps"]
        bps[1] = _nudge(bps[1], 1_000 * REAL_TOLERANCE) if float(bps[1]) else "0.001000000000"

    result = replay(_tamper(outcome.rationale, visibly))
    assert not result.ok and result.differences == ("solution: differs from the replay",)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("1000.000000000000", "999.999999999999", True),  # 1e-12 on 1,000: within 1e-9 relative
        ("0.000000000000", "0.000000000500", True),  # below 1: absolute
        ("0.000000000000", "0.000000002000", False),
        ("2495.000000000002", "2495.000100000000", False),
        ("1000", "999", False),  # integers (no point): exact
        (1000, 999, False),
        (1, "1.000000000000", False),  # a number never equals a real's string
        ("gold", "gold", True),
        ({"a": ["1.000000000000", 2]}, {"a": ["1.000000000001", 2]}, True),
        ({"a": ["1.0"]}, {"a": ["1.0", "1.0"]}, False),
        ({"a": 1}, {"b": 1}, False),
        (None, "0.000000000000", False),
    ],
)
def test_reals_compare_within_the_tolerance_and_everything_else_exactly(a, b, equal):
    assert same(a, b) is equal and same(b, a) is equal


def test_an_altered_input_is_a_mismatch_naming_what_differs():
    outcome = decide(vault(gold_deviation=900), PARAMS)  # a risk-off cut of gold

    def calm_gold(doc):
        doc["inputs"]["sleeves"][1]["oracle_deviation_bps"] = 0

    result = replay(_tamper(outcome.rationale, calm_gold))
    assert not result.ok
    assert result.recorded_target == outcome.target_bps != result.replayed_target
    assert result.differences[0].startswith("targets: recorded")
    assert any(d.startswith("risk:") for d in result.differences)


def test_an_altered_outcome_is_a_mismatch():
    outcome = decide(vault(), PARAMS)

    def other_target(doc):
        doc["outcome"]["target_bps"] = [0, 0, 0]

    result = replay(_tamper(outcome.rationale, other_target))
    assert not result.ok and result.replayed_target == outcome.target_bps
    assert "targets: recorded (0, 0, 0)" in result.differences[0]


def test_a_receipt_of_other_strategy_code_is_named():
    outcome = decide(vault(), PARAMS)

    def other_code(doc):
        doc["strategy"]["code"] = "0x" + "00" * 32

    result = replay(_tamper(outcome.rationale, other_code))
    assert not result.ok and not result.code_matches
    assert result.differences[0].startswith("strategy code:")
    assert strategy_code_hash() in result.differences[0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not canonical JSON"),
        (json.dumps({"version": "x"}).encode(), "no 'inputs'"),
        (encode({"inputs": {"nav": 1}, "params": {}}), "inputs"),
        (encode({"inputs": {}, "params": {"horizon_seconds": "soon"}}), "inputs"),
    ],
    ids=["not-json", "no-inputs", "incomplete-inputs", "bad-setting"],
)
def test_a_document_that_is_not_a_receipt_is_refused_in_one_line(body, message):
    with pytest.raises(ReceiptError, match=message) as err:
        replay(body)
    assert "\n" not in str(err.value)


def test_default_settings_round_trip():
    outcome = decide(vault(), StrategyParams())
    assert from_document(decode(outcome.rationale))[1] == StrategyParams()


def test_the_chain_cross_check_names_every_input_the_node_disagrees_with():
    from keepers.reads import AllocationRead, SleeveRead
    from keepers.strategy import weights_bps
    from keepers.verify import chain_differences

    inputs = vault()
    held = [w * inputs.nav // 10_000 for w in inputs.current_bps]
    assert tuple(weights_bps(held, inputs.nav)) == inputs.current_bps

    def node(nav=inputs.nav, cap_gold=3_000, index_tbill=None, buffer=500):
        last = [s.history.indices[-1] for s in inputs.sleeves]
        if index_tbill is not None:
            last[0] = index_tbill
        caps = [6_000, cap_gold, 4_000]
        sleeves = tuple(
            SleeveRead(s.name, f"0x{i + 1:040x}", h, c, x)
            for i, (s, h, c, x) in enumerate(zip(inputs.sleeves, held, caps, last, strict=True))
        )
        return AllocationRead(1, inputs.timestamp, nav, sleeves, buffer, 1_500, 0, False, False, 0)

    assert chain_differences(inputs, node()) == ()
    found = chain_differences(inputs, node(cap_gold=2_500, index_tbill=1, buffer=400))
    assert found == (
        "vault.idleBufferBps: receipt 500, node 400",
        f"tbill returnIndex: receipt {inputs.sleeves[0].history.indices[-1]}, node 1",
        "gold cap_bps: receipt 3000, node 2500",
    )


def _set(path, value):
    def edit(doc):
        *parents, last = path
        for key in parents:
            doc = doc[key]
        doc[last] = value

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        _set(("outcome",), "x"),
        _set(("outcome", "target_bps", 0), "x"),
        _set(("strategy", "name"), 0),
        _set(("strategy",), ["x"]),
        _set(("inputs", "max_turnover_bps"), -1),
        _set(("inputs", "asset_decimals"), 256),
        _set(("params", "optimiser", "max_iterations"), 10**30),
        _set(("params", "forecast", "prior_volatility"), "1e400"),
    ],
    ids=[
        "outcome-text",
        "target-text",
        "name-number",
        "strategy-list",
        "negative-limit",
        "decimals-past-uint8",
        "huge-iterations",
        "infinite-setting",
    ],  # fmt: skip
)
def test_a_malformed_receipt_is_refused_in_one_line_never_a_traceback(edit):
    """Found by the fault drill (every field of a receipt set to a wrong value): these escaped
    `replay` as AttributeError, TypeError, ValueError or SystemError — a traceback out of
    `verify-decision --replay` instead of exit 4 with the reason — and decimals of 10**30 hung
    it (10**decimals in the gas cost)."""
    body = _tamper(decide(vault(), PARAMS).rationale, edit)
    with pytest.raises(ReceiptError) as err:
        replay(body)
    assert "\n" not in str(err.value)


def _verification(block=20, tx_hash="0x" + "ab" * 32):
    from keepers.verify import Verification

    return Verification(0, "0x" + "11" * 20, block, "0x" + "22" * 32, "", "store", "0x" + "22" * 32,
                        True, tx_hash)  # fmt: skip


VAULT = "0x" + "33" * 20


def _rebalance_tx(targets, to=VAULT):
    from eth_abi import encode as abi_encode

    from keepers.verify import REBALANCE_SELECTOR

    args = abi_encode(["uint16[]", "bytes32", "string"], [list(targets), b"\x22" * 32, "uri"])
    return {"to": to, "input": REBALANCE_SELECTOR + args}


def test_the_targets_the_decision_sent_must_be_the_receipts():
    """Found by the fault drill: `verify-decision --replay` compared the receipt with its own
    replay and its inputs with the node, never with what the decision sent: an agent could send
    any targets with the hash of a receipt that replays, and it verified (exit 0)."""
    from keepers.verify import decision_differences

    sent = _rebalance_tx((4_000, 2_000, 2_000))
    assert decision_differences((4_000, 2_000, 2_000), 19, _verification(), VAULT, sent) == ()
    assert decision_differences((3_000, 2_000, 2_000), 19, _verification(), VAULT, sent) == (
        "targets: the transaction sent [4000, 2000, 2000], the receipt's outcome "
        "[3000, 2000, 2000]",
    )
    assert decision_differences(None, 19, _verification(), VAULT, sent)[0].endswith(
        "the receipt's outcome None"
    )
    (later,) = decision_differences((4_000, 2_000, 2_000), 20, _verification(), VAULT, sent)
    assert later == "block: the receipt reads block 20, not before the decision's block 20"
    elsewhere = _rebalance_tx((4_000, 2_000, 2_000), to="0x" + "44" * 20)
    (other,) = decision_differences((4_000, 2_000, 2_000), 19, _verification(), VAULT, elsewhere)
    assert other.endswith("is not a rebalance call to the vault: the targets it sent cannot be "
                          "checked")  # fmt: skip


def test_a_receipt_whose_chain_inputs_cannot_be_checked_does_not_verify():
    """Found by the fault drill: a receipt naming no block, or a block the node does not serve
    (one far in the future, say), skipped the chain cross-check and verified (exit 0) whatever
    inputs it recorded."""
    from keepers.verify import ReplayCheck

    result = replay(decide(vault(), PARAMS).rationale)
    assert result.ok
    assert ReplayCheck(_verification(), result, (), "").ok
    assert not ReplayCheck(_verification(), result, None, "block 10**9 not served: no such").ok
    assert not ReplayCheck(_verification(), result, None, "the receipt names no block").ok
    assert not ReplayCheck(_verification(), result, (), "", ("targets: …",)).ok


def test_a_receipt_that_drops_its_latest_return_index_is_a_chain_mismatch():
    """Found by the fault drill: the cross-check compared a sleeve's return index only when the
    receipt's history ended at its timestamp, so a receipt that dropped (or moved) its latest
    reading escaped it with any earlier history."""
    from keepers.reads import AllocationRead, SleeveRead
    from keepers.strategy import ReturnHistory
    from keepers.verify import chain_differences

    inputs = vault()
    held = [w * inputs.nav // 10_000 for w in inputs.current_bps]
    sleeves = tuple(
        SleeveRead(s.name, f"0x{i + 1:040x}", h, s.cap_bps, s.history.indices[-1])
        for i, (s, h) in enumerate(zip(inputs.sleeves, held, strict=True))
    )
    node = AllocationRead(1, inputs.timestamp, inputs.nav, sleeves, 500, 1_500, 0, False, False, 0)
    assert chain_differences(inputs, node) == ()
    tbill = inputs.sleeves[0]
    cut = ReturnHistory(tbill.history.timestamps[:-1], tbill.history.indices[:-1])
    dropped = replace(inputs, sleeves=(replace(tbill, history=cut), *inputs.sleeves[1:]))
    assert chain_differences(dropped, node) == (
        f"tbill returnIndex: the receipt has no reading at its timestamp, node "
        f"{tbill.history.indices[-1]}",
    )


def test_every_reading_of_the_history_is_checked_at_a_block_of_its_time():
    """Found in an agent review (tests/attacks/test_agent_receipts.py): only the latest reading
    was compared with the node, so any earlier history, the forecast's input, verified."""
    from keepers.verify import history_differences

    inputs = vault()
    names = [s.name for s in inputs.sleeves]
    times = sorted({t for s in inputs.sleeves for t in s.history.timestamps} - {inputs.timestamp})
    block_of = {t: 100 + i for i, t in enumerate(times)}
    truth = {
        (s.name, t): v
        for s in inputs.sleeves
        for t, v in zip(s.history.timestamps, s.history.indices, strict=True)
    }

    def blocks_at(t):
        return (block_of[t],) if t in block_of else ()

    def indices_at(chain=truth):
        def read(block):
            t = next(t for t, b in block_of.items() if b == block)
            return {n: chain.get((n, t)) for n in names}

        return read

    assert history_differences(inputs, blocks_at, indices_at()) == ()
    gold = inputs.sleeves[1]
    t0 = gold.history.timestamps[0]
    lied = {**truth, (gold.name, t0): truth[(gold.name, t0)] + 1}
    assert history_differences(inputs, blocks_at, indices_at(lied)) == (
        f"{gold.name} returnIndex history at {t0}: receipt {truth[(gold.name, t0)]}, node "
        f"{truth[(gold.name, t0)] + 1} (block {block_of[t0]})",
    )
    assert history_differences(inputs, lambda t: (), indices_at()) == tuple(
        f"{s.name} returnIndex history: no block at its reading's time {s.history.timestamps[0]}"
        for s in inputs.sleeves
        if s.history.timestamps[0] != inputs.timestamp
    )


def test_blocks_at_a_time_are_found_by_bisection():
    from keepers.verify import blocks_at

    stamps = [10, 12, 12, 12, 20, 30, 30, 41]  # block i at stamps[i]
    for t, expected in [(12, (3, 2, 1)), (10, (0,)), (11, ()), (30, (6, 5)), (41, (7,)),
                        (9, ()), (50, ())]:  # fmt: skip
        assert blocks_at(lambda b: stamps[b], 0, len(stamps) - 1, t) == expected
    assert blocks_at(lambda b: stamps[b], 2, 5, 12) == (3, 2)


def test_the_risk_off_input_is_checked_against_the_router():
    from keepers.verify import oracle_differences

    inputs = vault(gold_deviation=900)
    names = [s.name for s in inputs.sleeves]
    node = {names[1]: 900, "collateral": 40}
    assert oracle_differences(inputs, node, None) == ()
    calm = {names[1]: 0}
    assert oracle_differences(inputs, calm, None) == (
        f"{names[1]} oracle_deviation_bps: receipt 900, node 0",
    )
    book = names[2]  # as the lending sleeve: the largest move of every feed
    assert oracle_differences(inputs, node, book) == (
        f"{book} oracle_deviation_bps: receipt 0, node 900",
    )


def _sleeves(count: int):
    """An edit giving the receipt `count` sleeves (copies of its first, weight 0)."""

    def edit(doc):
        first = doc["inputs"]["sleeves"][0]
        doc["inputs"]["sleeves"] = [
            {**first, "name": f"s{i}", "current_bps": 0, "cap_bps": 1_000, "lending": None}
            for i in range(count)
        ]

    return edit


def test_a_receipt_beyond_what_a_vault_holds_is_refused_before_it_runs(monkeypatch):
    """Found in an outside review (verify9): a receipt is the agent's document, and the
    statistical replay ran on whatever it held: 800 sleeves (a vault holds 10, RWAVault.MAX_SLEEVES)
    took 38 s and 380 MB, the optimiser's work growing as the cube of their number; a receipt of
    hundreds of megabytes held gigabytes. One with more sleeves than a vault holds, or larger than
    `MAX_DOCUMENT_BYTES`, is now refused in one line before anything runs."""
    from keepers.strategy import kit
    from keepers.strategy import replay as replay_module

    ran: list[int] = []

    def counted(inputs, params):
        ran.append(1)
        return decide(inputs, params)

    monkeypatch.setattr(kit, "decide", counted)
    monkeypatch.setattr(replay_module, "decide", counted, raising=False)  # where it was called
    base = decide(vault(), PARAMS).rationale
    ten = replay(_tamper(base, _sleeves(10)))  # as many as a vault holds: replayed
    assert not ten.ok and ten.replayed_target is not None and ran == [1]
    with pytest.raises(ReceiptError) as refused:
        replay(_tamper(base, _sleeves(11)))
    assert str(refused.value) == "inputs.sleeves: 11 sleeves, more than a vault holds (10)"
    monkeypatch.setattr(replay_module, "MAX_DOCUMENT_BYTES", len(base) - 1, raising=False)
    with pytest.raises(ReceiptError) as refused:
        replay(base)
    assert str(refused.value) == (
        f"the receipt is {len(base):,} bytes, above the {len(base) - 1:,} a rationale document "
        "may be"
    )
    assert ran == [1]  # neither refused receipt ran


def test_the_replays_sleeve_limit_is_the_vaults():
    """`VAULT_MAX_SLEEVES` is `RWAVault.MAX_SLEEVES`: a replay never refuses a vault's receipt."""
    import re
    from pathlib import Path

    from keepers.strategy.replay import VAULT_MAX_SLEEVES

    source = (Path(__file__).parents[2] / "contracts" / "vault" / "RWAVault.sol").read_text()
    (limit,) = re.findall(r"uint256 public constant MAX_SLEEVES = (\d+);", source)
    assert int(limit) == VAULT_MAX_SLEEVES


def test_the_decisions_sleeves_must_be_the_receipts():
    """Targets are per index: the sleeves behind the decision's indices (as the vault recorded
    them) must be those the receipt decided over, in order (addresses compared, any case)."""
    from keepers.verify import sleeve_set_differences

    then = [("tbill", "0x" + "a1" * 20), ("gold", "0x" + "b2" * 20)]
    assert sleeve_set_differences(then, [(n, a.upper().replace("0X", "0x")) for n, a in then]) == ()
    swapped = [("gold", "0x" + "b2" * 20), ("tbill2", "0x" + "c3" * 20)]
    assert sleeve_set_differences(then, swapped) == (
        "sleeves: the decision moved ['gold', 'tbill2'], the receipt decided over ['tbill', "
        "'gold']: its targets went to other sleeves",
    )
    assert sleeve_set_differences(then, then[::-1])  # the same sleeves in another order


def test_a_latest_reading_the_node_cannot_read_is_a_chain_mismatch():
    """Found in an outside review (verify9): the latest reading (the one at the receipt's
    timestamp, which the history check leaves to this one) was compared only when the node
    read an index there; a sleeve whose `returnIndexStatus()` reverts at the receipt's block (a
    dead feed: `tryPrice` reverts) had its latest reading pass as whatever the agent wrote. The
    keeper records no reading it could not take, so such a reading is the agent's word."""
    from keepers.reads import AllocationRead, SleeveRead
    from keepers.verify import chain_differences

    inputs = vault()
    held = [w * inputs.nav // 10_000 for w in inputs.current_bps]
    unread = tuple(
        SleeveRead(
            s.name, f"0x{i + 1:040x}", h, s.cap_bps, None if i == 1 else s.history.indices[-1]
        )
        for i, (s, h) in enumerate(zip(inputs.sleeves, held, strict=True))
    )
    node = AllocationRead(1, inputs.timestamp, inputs.nav, unread, 500, 1_500, 0, False, False, 0)
    gold = inputs.sleeves[1]
    assert chain_differences(inputs, node) == (  # was: () whatever the reading
        f"gold returnIndex: receipt {gold.history.indices[-1]}, node unread (the sleeve's index "
        "cannot be read at the receipt's block)",
    )


SOURCELESS = """
from keepers.strategy.kit import Proposal

VERSION = {version}


def decide(inputs):
    return Proposal(inputs.current_bps, "version {version}")
"""


def test_a_strategy_shipped_without_its_source_is_identified_by_its_compiled_code(
    tmp_path, monkeypatch
):
    """Found in an outside review (verify9): a receipt's strategy identity is the keccak256 of
    its module's source, and a module shipped without it (a .pyc, a compiled extension: a
    closed-source agent) was identified by its entry point's name alone, so two versions of it
    had one identity and a receipt of either "matched" the other's code. The module's file is
    hashed instead."""
    import py_compile
    import sys

    from keepers.strategy.kit import strategy_source_hash

    codes = []
    for version in (1, 2):
        folder = tmp_path / f"v{version}"
        folder.mkdir()
        source = folder / "sourceless_agent.py"
        source.write_text(SOURCELESS.format(version=version))
        py_compile.compile(str(source), cfile=str(folder / "sourceless_agent.pyc"), doraise=True)
        source.unlink()  # shipped compiled only
        monkeypatch.syspath_prepend(str(folder))
        monkeypatch.delitem(sys.modules, "sourceless_agent", raising=False)
        codes.append(strategy_source_hash("sourceless_agent:decide"))
        monkeypatch.delitem(sys.modules, "sourceless_agent")
        sys.path.remove(str(folder))
    assert codes[0] != codes[1]  # was: both keccak256("sourceless_agent:decide")
