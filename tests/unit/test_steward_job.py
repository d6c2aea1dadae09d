"""The steward job's pure part (keepers.jobs.steward): its document hashes to the call's
rationale hash and replays to the same bytes; a tampered document is named; a recommendation
file that is malformed, stale or names an unknown parameter is refused in one line."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from keepers.config import StewardConfig
from keepers.jobs.steward import (
    RECOMMENDATION_VERSION,
    RecommendationError,
    StewardInputs,
    check_recommendation,
    decide_steward,
    replay_steward,
    settings_differences,
)
from keepers.math.steward import StewardSettings
from keepers.strategy.rationale import decode, encode, rationale_hash, verify
from keepers.strategy.replay import ReceiptError
from tests.unit.test_steward_math import CALM, NOW, _book_params, _gold


def _inputs(vol: float = 0.04) -> StewardInputs:
    return StewardInputs(123, NOW, tuple(_book_params().values()), (_gold(vol),), CALM)


def test_a_shock_gives_a_batch_and_a_recommendation_with_the_documents_hash():
    decision = decide_steward(_inputs(), StewardSettings(), "ballast://steward/")
    call, rec = decision.call, decision.recommendation
    assert call is not None and rec is not None
    assert "lend.ltvBps.gold" in call.names
    assert verify(decision.document, call.digest)
    keys, values, digest, uri = call.args()
    assert digest == rationale_hash(decision.document) and uri.endswith(call.digest)
    assert len(keys) == len(values) == len(call.names)
    assert rec["rationale_hash"] == call.digest and rec["created"]["block"] == 123
    assert dict(rec["values"])["lend.ltvBps.gold"] < values[call.names.index("lend.ltvBps.gold")]
    assert "lend.ltvBps.gold" in rec["rationale"]


def test_replay_of_its_own_document_is_exact():
    decision = decide_steward(_inputs(), StewardSettings())
    result = replay_steward(decision.document)
    assert result.ok and result.differences == () and result.code_matches
    assert result.inputs == _inputs()


def test_the_jump_and_rate_premium_settings_are_in_the_receipt_and_replay():
    """A steward configured with `jump_fall` and `risk_rate_gain` records them; the replay uses
    the recorded settings (a calm collateral is still cut, for the gap), and a receipt whose
    settings were edited replays to a different outcome."""
    s = StewardSettings(loosen=False, jump_fall=0.3, risk_rate_gain=4.0)
    decision = decide_steward(_inputs(0.005), s)
    document = decode(decision.document)
    assert float(document["settings"]["jump_fall"]) == 0.3
    assert float(document["settings"]["risk_rate_gain"]) == 4.0
    assert decision.call is not None and "lend.liqThresholdBps.gold" in decision.call.names
    assert replay_steward(decision.document).ok
    document["settings"]["jump_fall"] = "0.000000000000"  # calm gold, no gap: nothing to cut
    assert not replay_steward(encode(document)).ok


def test_an_anchored_rate_premium_is_in_the_receipt_and_replays():
    """`steward.rate_reference_*` from the keeper's settings reach the model as (collateral,
    LTV) pairs, are recorded in the receipt, and the receipt replays; an LTV reference outside
    (0, 10000] is refused with its name."""
    config = StewardConfig(loosen=False, jump_fall=0.3, risk_rate_gain=4.0,
                           rate_reference_ltv_bps={"gold": 7_000},
                           rate_reference_slope1_bps=400)  # fmt: skip
    s = config.model()
    assert s.rate_reference_ltv_bps == (("gold", 7_000),) and s.rate_reference_slope1_bps == 400
    decision = decide_steward(_inputs(0.005), s)
    document = decode(decision.document)
    assert document["settings"]["rate_reference_ltv_bps"] == [["gold", 7_000]]
    assert replay_steward(decision.document).ok
    with pytest.raises(ValidationError, match="rate_reference_ltv_bps.gold: 0 is not in"):
        StewardConfig(rate_reference_ltv_bps={"gold": 0}, rate_reference_slope1_bps=400)
    for half in ({"rate_reference_ltv_bps": {"gold": 7_000}}, {"rate_reference_slope1_bps": 400}):
        with pytest.raises(ValidationError, match="set both or neither"):
            StewardConfig(**half)


def test_a_tampered_input_or_outcome_is_named():
    document = decode(decide_steward(_inputs(), StewardSettings()).document)
    rounds = document["inputs"]["collaterals"][0]["rounds"]
    document["inputs"]["collaterals"][0]["rounds"] = [[t, 2_000 * 10**8] for t, _ in rounds]
    result = replay_steward(encode(document))  # calm prices: the steward would decide otherwise
    assert not result.ok
    assert any(d.startswith("outcome.batch") for d in result.differences)

    document = decode(decide_steward(_inputs(), StewardSettings()).document)
    document["outcome"]["batch"][0][1] -= 1
    result = replay_steward(encode(document))
    assert not result.ok and any("outcome.batch: recorded" in d for d in result.differences)


def test_a_document_that_is_not_a_steward_receipt_is_refused():
    with pytest.raises(ReceiptError, match="not a steward receipt"):
        replay_steward(encode({"version": "ballast.rationale/2"}))
    with pytest.raises(ReceiptError, match="not canonical JSON"):
        replay_steward(b"{not json")


def _rec(**over):
    data = {
        "version": RECOMMENDATION_VERSION,
        "created": {"block": 1, "timestamp": NOW},
        "values": [["lend.ltvBps.gold", 6_400], ["lend.liqThresholdBps.gold", 7_000]],
        "rationale": "tighten gold: set lend.ltvBps.gold 7000 -> 6400 (model target 6400); "
        "lend.liqThresholdBps.gold 7500 -> 7000 (model target 7000)",
    }
    data.update(over)
    return json.loads(json.dumps(data))


def test_recommendation_checks():
    values, text = check_recommendation(_rec(), now=NOW + 60, max_age=3_600)
    assert values == [("lend.ltvBps.gold", 6_400), ("lend.liqThresholdBps.gold", 7_000)]
    assert text == _rec()["rationale"]
    cases = {
        "not a steward recommendation": _rec(version="x"),
        "non-empty list": _rec(values={"lend.ltvBps.gold": 1}),
        "twice": _rec(values=[["lend.ltvBps.gold", 1], ["lend.ltvBps.gold", 2]]),
        "not a non-negative integer": _rec(values=[["lend.ltvBps.gold", -1]]),
        "unknown parameter 'lend.ltvBps'": _rec(values=[["lend.ltvBps", 1]]),
        "no rationale": _rec(rationale=" "),
        "created.timestamp": _rec(created={}),
    }
    for message, data in cases.items():
        with pytest.raises(RecommendationError, match=message):
            check_recommendation(data, now=NOW, max_age=3_600)
    with pytest.raises(RecommendationError, match="stale: made 3601s ago"):
        check_recommendation(_rec(), now=NOW + 3_601, max_age=3_600)


def test_a_receipt_decided_with_other_settings_than_configured_is_named():
    """Steward review (steward2): a replay re-runs the receipt's own settings, so a receipt
    priced with a z or a `loosen` of the steward's choosing replays exactly; `verify-steward`
    names each setting that is not the configured one (`settings_differences`)."""
    configured = StewardConfig().model()
    own = StewardSettings(**{**configured.__dict__, "z": 3.0, "loosen": True})
    result = replay_steward(decide_steward(_inputs(), own).document)
    assert result.ok and result.settings == own  # the replay alone: exact
    assert settings_differences(result.settings, configured) == (
        "settings.loosen: the receipt's True, configured False",
        "settings.z: the receipt's '3.000000000000', configured '10.000000000000'",
    )
    mine = replay_steward(decide_steward(_inputs(), configured).document)
    assert mine.ok and settings_differences(mine.settings, configured) == ()
    # compared in the receipt's encoding: a real that rounds to the same places is the same
    near = StewardSettings(**{**configured.__dict__, "z": 10.0 + 1e-15})
    assert settings_differences(near, configured) == ()


def _flat_gold_document() -> dict:
    document = decode(decide_steward(_inputs(), StewardSettings()).document)
    (gold,) = document["inputs"]["collaterals"]
    gold["rounds"] = [[t, 100] for t, _ in gold["rounds"]]
    document["settings"]["vol_floor"] = "0"
    return document


def _set(path: str, value):
    def edit(document: dict) -> dict:
        *parents, last = path.split(".")
        node = document
        for part in parents:
            node = node[part] if not part.isdigit() else node[int(part)]
        node[int(last) if last.isdigit() else last] = value
        return document

    return edit


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: _flat_gold_document(), "ZeroDivisionError"),
        (_set("settings.z", "1e400"), "cannot encode non-finite number inf"),
        (_set("settings.cap_exit_days", "1e308"), "OverflowError"),
        (_set("inputs.collaterals.0.daily_exit", 10**400), "OverflowError"),
        (_set("inputs.collaterals.0.rounds.9.1", 10**400), "OverflowError"),
    ],
    ids=["zero-volatility", "infinite-z", "infinite-cap", "huge-exit", "huge-price"],
)
def test_a_receipt_the_steward_cannot_run_on_is_refused_not_a_crash(edit, reason):
    """Steward review (steward2): a receipt whose inputs or settings the steward cannot decide
    from raised ZeroDivisionError, ValueError or OverflowError out of `replay_steward`, a
    traceback in `verify-steward` instead of exit 4 with the reason: now a `ReceiptError`."""
    document = edit(decode(decide_steward(_inputs(), StewardSettings()).document))
    with pytest.raises(ReceiptError, match=f"the steward cannot run on its inputs and settings: "
                                           f".*{reason}"):  # fmt: skip
        replay_steward(encode(document))


def test_a_steward_entry_or_outcome_that_is_not_an_object_is_named():
    document = decode(decide_steward(_inputs(), StewardSettings()).document)
    document["steward"] = "ballast.steward"
    document["outcome"] = ["not", "an", "object"]
    result = replay_steward(encode(document))
    assert not result.ok
    assert result.differences[0].startswith("steward code: the receipt's None is not")
    assert any(d.startswith("outcome.batch: recorded null") for d in result.differences)


class _Console:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, text: str, **_: object) -> None:
        self.lines.append(text)


class _RefusingNode:
    """A node that serves nothing at or below a pruned height (`missing trie node`)."""

    class eth:  # noqa: N801 - web3's attribute name
        @staticmethod
        def get_block(block: int) -> dict:
            raise ValueError(f"missing trie node at block {block} (pruned)\nmore detail")


def test_a_receipt_block_the_node_cannot_serve_never_verifies():
    """Steward review (steward2): `verify-steward --replay` read the node at the receipt's block
    outside any guard: a node that cannot serve it (pruned, an RPC error) ended in a traceback.
    Now one line, a difference, never a pass; a block before the deployment is named unread."""
    from types import SimpleNamespace

    from keepers.cli_verify import _steward_chain

    keeper = SimpleNamespace(protocol=SimpleNamespace(block=100), web3=_RefusingNode())
    console = _Console()
    found = _steward_chain(console, keeper, _inputs(), 200, 3_600)  # the receipt's block: 123
    assert found == [
        "chain inputs: cannot be checked at block 123: ValueError: missing trie node at block "
        "200 (pruned)"
    ]
    assert not [line for line in console.lines if "agrees" in line or "no managed" in line]
    early = SimpleNamespace(protocol=SimpleNamespace(block=124), web3=_RefusingNode())
    assert _steward_chain(console, early, _inputs(), 200, 3_600) == [
        "receipt: its inputs are read at block 123, before the deployment's block 124: nothing "
        "there to check them against"
    ]
