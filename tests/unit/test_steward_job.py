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
