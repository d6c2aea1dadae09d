"""Pure logic behind `ape run params` and the deploy config: parsing and explanations."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_utils import function_signature_to_4byte_selector as selector
from hypothesis import given
from hypothesis import strategies as st

from ballast import parameters
from ballast.params import (
    InputError,
    ParamView,
    bound_to_proposer,
    explain,
    parse_changes,
    parse_proposal_id,
    parse_value,
    show_freeze,
    show_time,
)

IDLE = ParamView(value=500, min=100, max=5_000, max_step_bps=5_000, cooldown=86_400,
                 last_update=1_000)  # fmt: skip
DAY = 86_400
OUT_OF_BOUNDS = selector("OutOfBounds(bytes32,uint256,uint256,uint256)")
STEP = selector("StepTooLarge(bytes32,uint256,uint256,uint16)")
COOLDOWN = selector("Cooldown(bytes32,uint256)")
FROZEN = selector("ParameterFrozen(bytes32)")
UNKNOWN = selector("UnknownParameter(bytes32)")
PASS = b"\x00" * 4


def test_explains_bounds_in_words():
    assert explain(OUT_OF_BOUNDS, "vault.idleBufferBps", 12_000, IDLE, 0) == (
        "vault.idleBufferBps: 12,000 is above its maximum 5,000"
    )
    assert explain(OUT_OF_BOUNDS, "vault.idleBufferBps", 50, IDLE, 0) == (
        "vault.idleBufferBps: 50 is below its minimum 100"
    )


def test_step_explanation_gives_the_reachable_range():
    sentence = explain(STEP, "vault.idleBufferBps", 2_000, IDLE, 0)
    assert "500 → 2,000 is a larger step than 5000 bps" in sentence
    assert "within [250, 750]" in sentence


def test_step_from_zero_is_measured_against_the_maximum():
    at_zero = ParamView(0, 0, 1_000, 5_000, 0, 0)
    assert "within [0, 500]" in explain(STEP, "lend.rate.baseBps", 900, at_zero, 0)


def test_cooldown_that_ends_before_execution_is_no_reason_to_refuse():
    ready = IDLE.last_update + IDLE.cooldown
    assert explain(COOLDOWN, "vault.idleBufferBps", 600, IDLE, executes_at=ready) is None
    assert "in cooldown until" in explain(COOLDOWN, "vault.idleBufferBps", 600, IDLE, ready - 1)


def test_frozen_unknown_and_passing():
    frozen = replace(IDLE, frozen_until=40 * DAY)
    sentence = explain(FROZEN, "vault.idleBufferBps", 600, frozen, 40 * DAY - 1)
    assert f"frozen by the guardian until {show_time(40 * DAY)}" in sentence
    assert "unknown parameter 'x'" in explain(UNKNOWN, "x", 1, None, 0)
    assert explain(PASS, "vault.idleBufferBps", 600, IDLE, 0) is None


def test_a_freeze_that_expires_before_execution_hides_no_other_rule():
    """`check` stops at the freeze; once it has run out by the execution, bounds and step
    are judged here as the registry will judge them."""
    frozen = replace(IDLE, frozen_until=40 * DAY, last_update=DAY)
    assert explain(FROZEN, "vault.idleBufferBps", 600, frozen, executes_at=40 * DAY) is None
    assert explain(FROZEN, "vault.idleBufferBps", 12_000, frozen, 40 * DAY) == (
        "vault.idleBufferBps: 12,000 is above its maximum 5,000"
    )
    assert "within [250, 750]" in explain(FROZEN, "vault.idleBufferBps", 900, frozen, 40 * DAY)


def test_a_freeze_the_proposal_lifts_hides_no_other_rule():
    """With `--unfreeze` the proposal unfreezes first: a freeze lasting past the execution is
    no refusal, and bounds and step are judged behind it as the registry will judge them."""
    frozen = replace(IDLE, frozen_until=40 * DAY, last_update=DAY)
    assert explain(FROZEN, "vault.idleBufferBps", 600, frozen, 39 * DAY, unfreezes=True) is None
    assert explain(FROZEN, "vault.idleBufferBps", 12_000, frozen, 39 * DAY, unfreezes=True) == (
        "vault.idleBufferBps: 12,000 is above its maximum 5,000"
    )
    refused = explain(FROZEN, "vault.idleBufferBps", 600, frozen, 39 * DAY)
    assert refused.endswith("governance must unfreeze it first (--unfreeze)")


def test_governance_step_and_cooldown_ignore_the_steward():
    """The steward moved 500 -> 400 at day 30; governance last set 500 at day 10: its step
    counts from 500 and its cooldown from day 10."""
    moved = replace(IDLE, value=400, last_update=30 * DAY, governance_value=500,
                    last_governance_update=10 * DAY)  # fmt: skip
    sentence = explain(STEP, "vault.idleBufferBps", 800, moved, 0)
    assert "500 → 800 is a larger step than 5000 bps" in sentence
    assert "within [250, 750]" in sentence
    assert "the steward has moved it to 400 since" in sentence
    assert explain(COOLDOWN, "vault.idleBufferBps", 600, moved, executes_at=11 * DAY) is None
    assert "in cooldown until" in explain(COOLDOWN, "vault.idleBufferBps", 600, moved, 11 * DAY - 1)


def test_the_freeze_cell_shows_the_expiry_and_the_next_freeze():
    assert show_freeze(0, 0, now=5) == ""
    assert show_freeze(100, 150, now=99) == f"FROZEN until {show_time(100)}"
    assert show_freeze(100, 150, now=100) == f"thawed; freezable again from {show_time(150)}"
    assert show_freeze(100, 150, now=150) == ""


def test_durations_show_as_durations():
    assert "above its maximum 14d" in explain(
        OUT_OF_BOUNDS, "agent.unbondingPeriod", 30 * 86_400,
        ParamView(7 * 86_400, 3 * 86_400, 14 * 86_400, 0, 0, 0), 0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [("vault.idleBufferBps", "600", 600), ("vault.depositCap", "1_000_000", 1_000_000),
     ("agent.vetoWindow", "3d", 259_200), ("agent.vetoWindow", "90", 90)],
)  # fmt: skip
def test_parse_value(name, text, value):
    assert parse_value(name, text) == value


@pytest.mark.parametrize(
    ("name", "text"), [("vault.idleBufferBps", "3d"), ("vault.idleBufferBps", "-1"), ("x", "1.5")]
)
def test_parse_value_refuses(name, text):
    with pytest.raises(InputError, match=name):
        parse_value(name, text)


def test_parse_changes_and_ids():
    assert parse_changes(("a.b", "1", "c.d", "2")) == [("a.b", "1"), ("c.d", "2")]
    assert parse_proposal_id("0x7b") == parse_proposal_id("123") == 123
    for bad in ((), ("a.b",)):
        with pytest.raises(InputError, match="NAME VALUE pairs"):
            parse_changes(bad)
    with pytest.raises(InputError, match="not a proposal ID"):
        parse_proposal_id("12a")


@given(st.integers(min_value=0, max_value=10**12))
def test_durations_round_trip(seconds):
    assert parameters.parse_duration(parameters.format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("name", "known"),
    [("vault.idleBufferBps", True), ("vault.maxSleeveBps.tbill", True), ("lend.ltvBps.gold", True),
     ("vault.maxSleeveBps.", False), ("vault.maxSleeveBps.a b", False), ("vault.idle", False)],
)  # fmt: skip
def test_known_parameter_names(name, known):
    assert parameters.is_known(name) is known


def test_amount_parameters_in_the_assets_whole_units():
    """vault.depositCap, agent.minStake, lend.borrowCap.*, lend.minDebt: entered and shown in
    whole units with the symbol while the asset's units are known; other parameters unchanged."""
    from ballast.agent import Units
    from ballast.params import amounts_in, parse_value, show_value

    usdc = Units(6, "mUSDC")
    with amounts_in(usdc):
        assert parse_value("agent.minStake", "20000") == 20_000 * 10**6
        assert parse_value("lend.borrowCap.gold", "1_500_000.5") == 1_500_000_500_000
        assert parse_value("lend.minDebt", "0") == 0
        assert show_value("vault.depositCap", 10_000_000 * 10**6) == "10,000,000 mUSDC"
        assert parse_value("vault.idleBufferBps", "600") == 600  # not an amount
        assert show_value("agent.vetoWindow", 3 * 86_400) == "3d"
        with pytest.raises(InputError, match="agent.minStake: 1.0000001: the asset has 6 decimals"):
            parse_value("agent.minStake", "1.0000001")
        with pytest.raises(InputError, match="agent.minStake: the amount must be positive, not -5"):
            parse_value("agent.minStake", "-5")
    assert parse_value("agent.minStake", "20000") == 20_000  # --base-units: plain integers
    assert show_value("vault.depositCap", 10**13) == "10,000,000,000,000"


def test_a_proposal_description_is_bound_to_its_proposer_once():
    me = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    bound = bound_to_proposer("More idle", me)
    assert bound == f"More idle #proposer={me}"
    assert bound_to_proposer(bound, me) == bound  # already bound: kept as it is
    assert bound.endswith(f"#proposer={me}") and len(bound[bound.index("#proposer=") :]) == 52


def test_a_description_that_only_mentions_a_proposer_is_still_bound():
    """Found in a governance review after stop 39: a `#proposer=` anywhere in the last 52
    characters was taken as binding, though OpenZeppelin honours only a well-formed suffix at
    exactly len - 52 bytes; such a proposal went out unbound, for anyone to copy and cancel."""
    me = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    loose = "Idle buffer to 6% (steward recommendation #proposer=risk-desk)"
    assert bound_to_proposer(loose, me) == f"{loose} #proposer={me}"
    lower = f"More idle #proposer={me.lower()}"  # any case of hex digits binds
    assert bound_to_proposer(lower, me) == lower
    accented = f"Idle à 6 % #proposer={me}"  # bytes, not characters, count
    assert bound_to_proposer(accented, me) == accented
    short = f"#proposer={me}"[1:]  # 51 bytes: binds nothing
    assert bound_to_proposer(short, me) == f"{short} #proposer={me}"
    other = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
    with pytest.raises(InputError, match=f"bound to proposer {other}"):
        bound_to_proposer(f"Mine #proposer={other}", me)
