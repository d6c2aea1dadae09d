"""keepers.strategy.decide end to end (no chain): decisions, risk-off, gating, rationale."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from eth_utils import keccak
from hypothesis import event, given
from hypothesis import strategies as st

from keepers.math import WAD, RateModel
from keepers.strategy import (
    BorrowerExposure,
    Bounds,
    Decision,
    GasMarket,
    LendingBookState,
    NoAction,
    ReturnHistory,
    SleeveState,
    StrategyInputs,
    StrategyParams,
    decide,
    encode,
    is_canonical,
    min_turnover_bps,
    rationale_hash,
    turnover_bps,
    verify,
    violations,
)
from keepers.strategy.rationale import decode, fixed

DAY = 86_400
T0 = 1_700_000_000
USDC = 10**6
NAV = 10_000_000 * USDC
MODEL = RateModel(base_bps=100, slope1_bps=400, slope2_bps=6_000, kink_bps=8_000)
GAS = GasMarket(base_fee_wei=20 * 10**9, priority_fee_wei=10**9, native_price_wad=3_000 * WAD)
PARAMS = StrategyParams()
EWMA = replace(PARAMS, forecast=replace(PARAMS.forecast, estimator="ewma"))


def history(rate: float, vol: float = 0.0, days: int = 60, seed: int = 0, shock: float = 0.0):
    """Daily `returnIndex` readings: annual log drift `rate`, volatility `vol`, and a last-day
    move `shock` (simple return)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(rate / 365, vol / math.sqrt(365), days)
    if days:
        steps[-1] += math.log1p(shock)
    level = np.exp(np.concatenate([[0.0], np.cumsum(steps)]))
    return ReturnHistory(
        tuple(T0 + i * DAY for i in range(days + 1)), tuple(int(WAD * x) for x in level)
    )


def book() -> LendingBookState:
    borrowers = (
        BorrowerExposure(300_000 * USDC, int(1.05 * WAD), 8_000),
        BorrowerExposure(300_000 * USDC, 2 * WAD, 8_000),
    )
    return LendingBookState(400_000 * USDC, 600_000 * USDC, MODEL, borrowers)


def vault(
    *,
    gold_shock: float = 0.0,
    gold_deviation: int = 0,
    current: tuple[int, int, int] = (3000, 2000, 2000),
    caps: tuple[int, int, int] = (6000, 3000, 4000),
    buffer: int = 500,
    turnover: int = 1500,
    nav: int = NAV,
    gas: GasMarket = GAS,
) -> StrategyInputs:
    sleeves = (
        SleeveState("tbill", current[0], caps[0], history(0.05, 0.002, seed=1)),
        SleeveState(
            "gold",
            current[1],
            caps[1],
            history(0.08, 0.01, seed=2, shock=gold_shock),
            oracle_deviation_bps=gold_deviation,
        ),
        SleeveState("lending", current[2], caps[2], history(0.03, 0.0005, seed=3), book()),
    )
    return StrategyInputs(T0 + 60 * DAY, nav, 6, sleeves, buffer, turnover, gas)


def within_bounds(inputs: StrategyInputs, target: tuple[int, ...]) -> tuple[str, ...]:
    bounds = Bounds(inputs.caps_bps, inputs.idle_buffer_bps, inputs.max_turnover_bps)
    return violations(target, inputs.current_bps, bounds)


# ---------------------------------------------------------------------------------- decisions


def test_decide_moves_toward_the_better_sleeve_within_bounds():
    inputs = vault()
    decision = decide(inputs, PARAMS)
    assert isinstance(decision, Decision), decision
    assert decision.target_bps[1] == 3000  # gold, the best forecast, up to its cap
    assert within_bounds(inputs, decision.target_bps) == ()
    assert decision.turnover_bps <= inputs.max_turnover_bps - PARAMS.turnover_headroom_bps
    assert decision.risk_off == () and decision.expected_gain > 0
    assert verify(decision.rationale, decision.rationale_hash)
    doc = decode(decision.rationale)
    assert doc["outcome"]["target_bps"] == list(decision.target_bps)
    assert {"inputs", "forecasts", "constraints", "solution", "expected_gain"} <= set(doc)


def test_a_decision_once_applied_is_not_churned():
    inputs = vault(turnover=5000)
    first = decide(inputs, PARAMS)
    assert isinstance(first, Decision)
    moved = replace(
        inputs,
        sleeves=tuple(
            replace(s, current_bps=t) for s, t in zip(inputs.sleeves, first.target_bps, strict=True)
        ),
    )
    again = decide(moved, PARAMS)
    assert isinstance(again, NoAction) and again.code in {"no-change", "min-change", "gas"}


def test_decide_is_deterministic():
    a, b = decide(vault(), PARAMS), decide(vault(), PARAMS)
    assert a == b
    assert isinstance(a, Decision) and a.rationale == b.rationale
    assert a.rationale_hash == keccak(a.rationale)


def test_a_fresh_process_writes_the_same_bytes():
    # Another interpreter (fresh imports, fresh numpy state) must produce the identical document.
    script = (
        "from tests.unit.test_strategy import vault, PARAMS\n"
        "from keepers.strategy import decide\n"
        "print(decide(vault(gold_shock=-0.08), PARAMS).rationale_hash.hex())\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    here = decide(vault(gold_shock=-0.08), PARAMS)
    assert isinstance(here, Decision)
    assert out.stdout.strip() == here.rationale_hash.hex()


def test_volatility_spike_cuts_the_sleeve_even_when_gas_is_dear():
    # The EWMA estimator reads one large day as a volatility spike (the robust one clips it as a
    # jump: tests/unit/test_strategy_robust.py; the oracle-deviation rule still cuts on it).
    dear = GasMarket(900 * 10**9, 10**9, 3_000 * WAD)
    inputs = vault(gold_shock=-0.08, gas=dear, nav=50_000 * USDC, turnover=3000)
    decision = decide(inputs, EWMA)
    assert isinstance(decision, Decision), decision
    assert decision.risk_off == ("gold",)
    assert decision.target_bps[1] == 0
    assert "volatility-spike" in decision.reason
    assert within_bounds(inputs, decision.target_bps) == ()


def test_oracle_deviation_cuts_as_far_as_turnover_allows():
    inputs = vault(gold_deviation=1_200, turnover=1000)
    decision = decide(inputs, PARAMS)
    assert isinstance(decision, Decision), decision
    assert decision.risk_off == ("gold",)
    # 995 bps of turnover after the headroom: gold can lose at most that much now.
    assert decision.target_bps[1] == 2000 - 995
    assert "oracle-deviation" in decision.reason


def test_no_action_reasons():
    assert decide(vault(nav=0), PARAMS).code == "empty"
    # Further from the caps than one turnover: the vault lets a decision turn over what meeting
    # them needs (RebalanceModule._checkBounds), and the strategy takes that move, no more.
    drifted = vault(current=(7000, 2000, 500), caps=(5000, 3000, 4000), turnover=500)
    back = decide(drifted, PARAMS)
    assert isinstance(back, Decision), back
    assert all(t <= c for t, c in zip(back.target_bps, (5000, 3000, 4000), strict=True))
    assert back.turnover_bps == 2000  # the least that meets the caps
    assert back.rationale is not None and is_canonical(back.rationale)
    small = decide(vault(nav=20_000 * USDC), PARAMS)
    assert isinstance(small, NoAction) and small.code == "gas"
    assert "gas" in small.reason
    dear = decide(vault(gas=GasMarket(500 * 10**9, 10**9, 3_000 * WAD)), PARAMS)
    assert isinstance(dear, NoAction) and dear.code == "base-fee"


def test_a_broken_cap_is_fixed_whatever_the_gas():
    dear = GasMarket(900 * 10**9, 10**9, 3_000 * WAD)
    inputs = vault(current=(3000, 4000, 1000), gas=dear, nav=10_000 * USDC)
    decision = decide(inputs, PARAMS)
    assert isinstance(decision, Decision), decision
    assert decision.target_bps[1] <= 3000
    assert within_bounds(inputs, decision.target_bps) == ()


def test_drift_past_a_cap_within_the_tolerance_waits_for_the_gas_gate():
    # gold 40 bps over its 3000 cap (its price rose): the contract checks caps on targets only,
    # so this is no reason to pay 900 gwei gas
    dear = GasMarket(900 * 10**9, 10**9, 3_000 * WAD)
    inputs = vault(current=(3000, 3040, 2000), gas=dear, nav=10_000 * USDC)
    held = decide(inputs, PARAMS)
    assert isinstance(held, NoAction) and held.code == "base-fee", held
    # the same drift with no tolerance is a forced fix, as a cap cut by governance would be
    strict = decide(inputs, replace(PARAMS, drift_tolerance_bps=0))
    assert isinstance(strict, Decision), strict
    assert strict.target_bps[1] <= 3000


def test_a_thin_idle_buffer_forces_a_move_only_beyond_the_tolerance():
    dear = GasMarket(900 * 10**9, 10**9, 3_000 * WAD)
    slightly = vault(current=(3000, 2000, 4550), caps=(6000, 3000, 5000), gas=dear)
    assert isinstance(decide(slightly, PARAMS), NoAction)  # idle 450 against a 500 buffer
    drained = vault(current=(3000, 2000, 4900), caps=(6000, 3000, 5000), gas=dear)
    decision = decide(drained, PARAMS)  # idle 100: withdrawals drained it
    assert isinstance(decision, Decision), decision
    assert sum(decision.target_bps) <= 9_500


# ---------------------------------------------------------------------------------- properties


@st.composite
def random_vaults(draw) -> StrategyInputs:
    n = draw(st.integers(1, 4))
    raw = draw(st.lists(st.integers(0, 10_000), min_size=n + 1, max_size=n + 1))
    total = sum(raw) or 1
    current = [r * 10_000 // total for r in raw[:n]]
    sleeves = []
    for i in range(n):
        rate = draw(st.floats(-0.1, 0.2))
        vol = draw(st.sampled_from([0.0, 0.01, 0.1, 0.4]))
        shock = draw(st.sampled_from([0.0, 0.0, -0.1, 0.05]))
        lending = book() if i == 0 and draw(st.booleans()) else None
        sleeves.append(
            SleeveState(
                name=f"s{i}",
                current_bps=current[i],
                cap_bps=draw(st.integers(0, 10_000)),
                history=history(rate, vol, days=draw(st.integers(0, 40)), seed=i, shock=shock),
                lending=lending,
                oracle_deviation_bps=draw(st.sampled_from([0, 100, 800])),
            )
        )
    gas = GasMarket(draw(st.integers(0, 300 * 10**9)), 10**9, 3_000 * WAD)
    buffer = draw(st.integers(0, 3_000))
    caps = tuple(s.cap_bps for s in sleeves)
    need = min_turnover_bps(current, Bounds(caps, buffer, 0))
    return StrategyInputs(
        timestamp=T0 + 60 * DAY,
        nav=draw(st.integers(1, 10**8)) * USDC,
        asset_decimals=6,
        sleeves=tuple(sleeves),
        idle_buffer_bps=buffer,
        max_turnover_bps=max(need + draw(st.integers(-100, 5_000)), 0),
        gas=gas,
    )


@given(random_vaults())
def test_decisions_always_meet_the_bounds_and_repeat_exactly(inputs):
    outcome = decide(inputs, PARAMS)
    assert decide(inputs, PARAMS) == outcome
    event(type(outcome).__name__ + ("" if isinstance(outcome, Decision) else f": {outcome.code}"))
    if isinstance(outcome, NoAction):
        if outcome.rationale is not None:
            assert is_canonical(outcome.rationale)
        return
    assert within_bounds(inputs, outcome.target_bps) == ()
    bounds = Bounds(inputs.caps_bps, inputs.idle_buffer_bps, inputs.max_turnover_bps)
    limit = max(
        inputs.max_turnover_bps - PARAMS.turnover_headroom_bps,
        min_turnover_bps(inputs.current_bps, bounds),
    )
    assert turnover_bps(inputs.current_bps, outcome.target_bps) <= limit
    assert verify(outcome.rationale, outcome.rationale_hash)
    assert verify(outcome.rationale, outcome.rationale_hash_hex)


# ---------------------------------------------------------------------------------- rationale


def test_encoding_is_canonical():
    data = {"b": 1.5, "a": [1, 2**200, -0.0, None, True], "c": {"y": "x", "x": b"\x01\xff"}}
    out = encode(data)
    assert out == (
        b'{"a":[1,' + str(2**200).encode() + b',"0.000000000000",null,true],'
        b'"b":"1.500000000000","c":{"x":"0x01ff","y":"x"}}'
    )
    assert encode(data) == out and is_canonical(out)


def test_encoding_refuses_ambiguous_numbers():
    with pytest.raises(ValueError):
        encode({"x": math.nan})
    with pytest.raises(ValueError):
        encode({"x": math.inf})
    with pytest.raises(TypeError):
        encode({"x": {1: 2}})
    assert fixed(1e25) == "10000000000000000905969664.000000000000"
    assert fixed(2.5e-13) == "0.000000000000" and fixed(1.5e-12) == "0.000000000002"


def test_verify_rejects_tampering():
    decision = decide(vault(), PARAMS)
    assert isinstance(decision, Decision)
    doc, digest = decision.rationale, decision.rationale_hash
    assert verify(doc, digest) and verify(doc, "0x" + digest.hex())
    tampered = doc.replace(b'"target_bps":[', b'"target_bps":[1')
    assert not verify(tampered, digest)
    assert not verify(doc, b"\x00" * 32)
    assert not verify(doc, "0xzz")
    spaced = json.dumps(json.loads(doc), sort_keys=True).encode()
    assert not is_canonical(spaced)
    assert not verify(spaced, rationale_hash(spaced))  # right hash, not canonical
