"""Pure logic behind `ape run agent`: amounts, waits, status rows, errors in words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ballast.agent import (
    AgentParams,
    AgentView,
    DecisionView,
    HeldElsewhere,
    InputError,
    SlashView,
    Units,
    activation,
    agent_rows,
    decisions_state,
    elsewhere_rows,
    explain_error,
    format_amount,
    format_reputation,
    format_shares,
    format_span,
    lock_message,
    parse_amount,
    registry_rows,
    reward_rows,
    rewards_text,
    slash_line,
    standing_rows,
    when,
    withdrawal_lock,
)
from ballast.guardian import suspended_agents

USDC = Units(6, "mUSDC")
SHARES = Units(18, "bUSD")
PARAMS = AgentParams(min_stake=10_000 * 10**6, activation_delay=3 * 86_400,
                     unbonding_period=7 * 86_400, eval_window=7 * 86_400,
                     veto_window=3 * 86_400)  # fmt: skip
WAD = 10**18
NOW = 1_700_000_000
ME = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"


def agent(**changes) -> AgentView:
    fields = dict(address=ME, registered=True, metadata_uri="ipfs://card", stake=0, unbonding=0,
                  unbond_ready_at=0, bonded_since=0, active=False, active_from=0)  # fmt: skip
    return AgentView(**{**fields, **changes})


@pytest.mark.parametrize(
    ("text", "base"),
    [
        ("10000", 10_000_000_000),
        ("12.5", 12_500_000),
        ("10_000", 10_000_000_000),
        ("10,000.25", 10_000_250_000),
        ("1,000,000", 1_000_000_000_000),
        ("0.000001", 1),
        (" 7 ", 7_000_000),
        ("007.50", 7_500_000),
    ],
)
def test_amounts_in_whole_units(text, base):
    assert parse_amount(text, 6) == base


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "the amount must be more than zero"),
        ("0.000", "the amount must be more than zero"),
        ("-5", "the amount must be positive, not -5"),
        ("-0.5", "the amount must be positive, not -0.5"),
        ("0.0000001", "the asset has 6 decimals, no finer amounts"),
        ("ten", "not an amount: 'ten' (give whole mUSDC units"),
        ("1e5", "not an amount"),
        ("12,5", "not an amount"),  # a decimal comma is refused, not read as 125
        ("1,0000", "not an amount"),
        (".5", "not an amount"),
        ("5.", "not an amount"),
        ("", "not an amount"),
        ("nan", "not an amount"),
        ("Infinity", "not an amount"),
        ("--account", "not an amount"),
        ("0x10", "not an amount"),
    ],
)
def test_bad_amounts_are_refused_in_one_line(text, message):
    with pytest.raises(InputError, match=None) as err:
        parse_amount(text, 6, "mUSDC")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@given(st.integers(min_value=1, max_value=10**30), st.integers(min_value=0, max_value=18))
def test_an_amount_shown_parses_back_to_itself(base, decimals):
    assert parse_amount(format_amount(base, decimals), decimals) == base


def test_amounts_are_shown_as_users_type_them():
    assert format_amount(10_000_500_000, 6, "mUSDC") == "10,000.5 mUSDC"
    assert format_amount(1, 6) == "0.000001"
    assert format_amount(0, 6, "mUSDC") == "0 mUSDC"
    assert format_amount(1_234_567_000_000, 6) == "1,234,567"


def test_waits_exact_when_they_can_be_and_rounded_to_two_units_otherwise():
    assert format_span(7 * 86_400) == "7d"  # format_duration's exact units
    assert format_span(5_400) == "90m"
    assert format_span(7 * 86_400 - 12) == "6d 23h"
    assert format_span(3_600 + 1) == "1h"
    assert format_span(59 * 60 + 48) == "59m 48s"
    assert format_span(45) == "45s"
    assert format_span(0) == "0s"
    assert format_span(-5) == "0s"


def test_when_is_a_date_with_the_wait():
    assert when(NOW + 7 * 86_400, NOW) == "2023-11-21 22:13:20 UTC (in 7d)"
    assert when(NOW - 3_600, NOW) == "2023-11-14 21:13:20 UTC (1h ago)"
    assert when(NOW, NOW) == "2023-11-14 22:13:20 UTC (now)"


def test_activation_in_every_state():
    assert activation(agent(registered=False), PARAMS, NOW, USDC) == "no: not registered"
    assert activation(agent(stake=4_000 * 10**6), PARAMS, NOW, USDC) == (
        "no: bonded stake is below agent.minStake (6,000 mUSDC more starts the clock)"
    )
    pending = agent(stake=PARAMS.min_stake, bonded_since=NOW, active_from=NOW + 3 * 86_400)
    assert activation(pending, PARAMS, NOW, USDC).startswith("not yet: from ")
    assert activation(pending, PARAMS, NOW, USDC).endswith("(in 3d)")
    live = agent(stake=PARAMS.min_stake, bonded_since=NOW - 4 * 86_400, active=True,
                 active_from=NOW - 86_400)  # fmt: skip
    assert activation(live, PARAMS, NOW, USDC).startswith("yes, since ")
    # Pending slashes count as gone: at the minimum, a pending 1,000 pauses the agent.
    paused = agent(stake=PARAMS.min_stake, bonded_since=NOW - 4 * 86_400, slash_pending=10**9)
    assert activation(paused, PARAMS, NOW, USDC) == (
        "paused: pending slashes of 1,000 mUSDC count as gone (1,000 mUSDC more stake, or their"
        " veto or execution, ends the pause)"
    )
    # The minimum was lowered after the last stake: the clock starts at the next stake.
    no_clock = agent(stake=PARAMS.min_stake)
    assert activation(no_clock, PARAMS, NOW, USDC) == (
        "no: stake again (any amount) to start the activation clock"
    )


def test_a_suspended_agent_is_told_who_lifts_it_whatever_its_bond():
    bonded = dict(stake=PARAMS.min_stake, bonded_since=NOW - 4 * 86_400, active_from=0)
    assert activation(agent(suspended=True, **bonded), PARAMS, NOW, USDC) == (
        "no: suspended by the guardian (or governance), which alone can lift it"
    )


def test_the_suspended_agents_are_those_whose_last_log_suspended_them():
    a, b, c = "0xA", "0xB", "0xC"
    logs = [(a, True), (b, True), (a, False), (c, True), (a, True)]
    assert suspended_agents(logs) == [b, c, a]
    assert suspended_agents([(a, True), (a, False)]) == []


def test_activation_below_the_minimum_names_the_pending_slashes_too():
    """Found in an agent review: an agent at the minimum with two 1,000 slashes pending, the
    first executed (stake 9,000, clock reset), was told 1,000 more starts the clock; staking it
    started the clock and left the agent paused by the second slash. The status names the
    2,000 it takes to be active."""
    after_one = agent(stake=9_000 * 10**6, slash_pending=10**9)
    assert activation(after_one, PARAMS, NOW, USDC) == (
        "no: bonded stake is below agent.minStake (1,000 mUSDC more starts the clock; active"
        " only with 2,000 mUSDC more in all: pending slashes of 1,000 mUSDC count as gone)"
    )
    lowered = agent(stake=PARAMS.min_stake, slash_pending=10**9)
    assert activation(lowered, PARAMS, NOW, USDC) == (
        "no: stake again (any amount) to start the activation clock; active only with"
        " 1,000 mUSDC more in all: pending slashes of 1,000 mUSDC count as gone"
    )


def test_activation_below_a_raised_minimum_keeps_the_clock():
    """Governance raised agent.minStake above a clocked agent's stake: `activeFrom` is 0 but
    `bondedSince` stays, so topping up makes it active again at once (it was told the top-up
    "starts the clock")."""
    raised = agent(stake=8_000 * 10**6, bonded_since=NOW - 10 * 86_400)
    assert activation(raised, PARAMS, NOW, USDC) == (
        "no: bonded stake is below agent.minStake, raised since its clock started "
        "(2,000 mUSDC more makes it active again, its clock kept)"
    )


def test_status_rows():
    rows = dict(agent_rows(agent(registered=False, metadata_uri=""), PARAMS, NOW, USDC))
    assert rows == {"agent": ME, "registered": "no", "active": "no: not registered"}

    unbonding = agent(stake=9_000 * 10**6, unbonding=3_000 * 10**6,
                      unbond_ready_at=NOW + 86_400)  # fmt: skip
    rows = dict(agent_rows(unbonding, PARAMS, NOW, USDC))
    assert rows["bonded stake"] == "9,000 mUSDC"
    assert rows["unbonding"] == "3,000 mUSDC, withdrawable from 2023-11-15 22:13:20 UTC (in 1d)"
    assert rows["metadata URI"] == "ipfs://card"
    assert "at the minimum since" not in rows

    ready = agent(unbonding=10**6, unbond_ready_at=NOW - 1, bonded_since=NOW - 10)
    rows = dict(agent_rows(ready, PARAMS, NOW, USDC))
    assert rows["unbonding"] == "1 mUSDC, withdrawable now (since 2023-11-14 22:13:19 UTC)"
    assert rows["at the minimum since"] == "2023-11-14 22:13:10 UTC"

    assert registry_rows(PARAMS, 25_000 * 10**6, 500_000, 1_100 * 10**6, USDC) == [
        ("agent.minStake", "10,000 mUSDC"),
        ("agent.activationDelay", "3d"),
        ("agent.unbondingPeriod", "7d"),
        ("agent.evalWindow", "7d"),
        ("agent.vetoWindow", "3d"),
        ("total bonded", "25,000 mUSDC"),
        ("total unbonding", "0.5 mUSDC"),
        ("total slashed", "1,100 mUSDC"),
    ]


@pytest.mark.parametrize(
    ("reputation", "shown"),
    [
        (0, "0.00 bps"),
        (40 * WAD, "40.00 bps"),
        (-148 * WAD, "-148.00 bps"),
        (12_345 * WAD // 1_000, "12.35 bps"),  # 12.345: half away from zero
        (-12_345 * WAD // 1_000, "-12.35 bps"),
        (-4 * WAD // 1_000, "0.00 bps"),  # no "-0.00"
        (-5 * WAD // 1_000, "-0.01 bps"),
        (1, "0.00 bps"),
        (123_456_789 * WAD, "123,456,789.00 bps"),
    ],
)
def test_reputation_in_bps_with_two_decimals(reputation, shown):
    assert format_reputation(reputation) == shown


def test_rewards_in_shares_and_what_they_are_worth():
    assert format_shares(392_927_308_123_456_789_012, 18, "bUSD", 6) == "~392.927308 bUSD"
    assert format_shares(392_927_308 * 10**12, 18, "bUSD", 6) == "392.927308 bUSD"
    assert format_shares(5, 6, "x", 6) == "0.000005 x"
    assert rewards_text(0, 0, SHARES, USDC) == "0 bUSD"
    assert rewards_text(10**18, 10**6, SHARES, USDC) == "1 bUSD (worth 1 mUSDC)"
    assert rewards_text(392_927_308_123_456_789_012, 364_431_372, SHARES, USDC) == (
        "~392.927308 bUSD (worth 364.431372 mUSDC)"
    )


def test_decisions_and_slashes_in_status():
    due_now, due_later = DecisionView(4, ME, NOW - 10), DecisionView(5, ME, NOW + 3 * 86_400)
    assert decisions_state([], NOW) == "-"
    assert decisions_state([due_now, due_later], NOW) == (
        "2: #4 evaluable now; #5 evaluable from 2023-11-17 22:13:20 UTC (in 3d)"
    )
    many = [DecisionView(i, ME, NOW) for i in range(5)]
    assert decisions_state(many, NOW).endswith("#2 evaluable now; and 2 more")
    pending = SlashView(0, ME, 1_100 * 10**6, NOW + 86_400, 1)
    assert slash_line(pending, NOW, USDC) == (
        "#0: 1,100 mUSDC, veto window ends 2023-11-15 22:13:20 UTC (in 1d)"
    )
    assert slash_line(pending, NOW + 86_400, USDC) == (
        "#0: 1,100 mUSDC, veto window ended 2023-11-15 22:13:20 UTC (now): anyone may execute it"
    )
    assert slash_line(SlashView(2, ME, 10**6, NOW, 3, "Vetoed"), NOW, USDC) == "#2: 1 mUSDC, vetoed"
    standing = agent(reputation=-168 * WAD, slashed=10**6, open_decisions=1, pending_slashes=1)
    assert dict(standing_rows(standing, [due_now], [pending], NOW, USDC)) == {
        "reputation": "-168.00 bps",
        "open decisions": "1: #4 evaluable now",
        "pending slashes": "#0: 1,100 mUSDC, veto window ends 2023-11-15 22:13:20 UTC (in 1d)",
        "slashed in total": "1 mUSDC",
    }


def test_reward_rows_show_the_open_rounds_points_and_the_debt():
    assert dict(reward_rows(0, 0, USDC)) == {"reward points this round": "-", "reward debt": "-"}
    assert dict(reward_rows(2_500 * 10**6, 0, USDC))["reward points this round"] == "2,500 mUSDC"
    assert dict(reward_rows(0, 10**6, USDC))["reward debt"] == (
        "1 mUSDC to make up before earning again"
    )


def test_what_an_agent_holds_in_another_registry_of_the_vault_is_one_row_each():
    """A registry swap leaves stake behind: `status` names each other registry that holds some
    of the agent's stake, unbonding or rewards, and the option that reaches it."""
    shares = Units(18, "bUSD")
    left, now = "0x" + "aB" * 20, "0x" + "Cd" * 20
    assert elsewhere_rows([], USDC, shares) == []
    rows = elsewhere_rows(
        [HeldElsewhere(left, False, 12_000 * 10**6, 0, 5 * 10**18),
         HeldElsewhere(now, True, 0, 500 * 10**6, 0)],
        USDC, shares,
    )  # fmt: skip
    assert rows == [
        ("held in another registry", f"{left}: 12,000 mUSDC bonded, 0 mUSDC unbonding, 5 bUSD "
         f"rewards (one the vault left: add --registry {left} to act there)"),
        ("held in another registry", f"{now}: 0 mUSDC bonded, 500 mUSDC unbonding (the vault's "
         f"now: add --registry {now} to act there)"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("decisions", "slashes", "words"),
    [
        (0, 0, ""),
        (1, 0, "1 decision awaits evaluation"),
        (2, 0, "2 decisions await evaluation"),
        (0, 1, "1 slash is pending"),
        (2, 1, "2 decisions await evaluation; 1 slash is pending"),
        (1, 3, "1 decision awaits evaluation; 3 slashes are pending"),
    ],
)
def test_what_locks_a_withdrawal_in_words(decisions, slashes, words):
    assert withdrawal_lock(decisions, slashes) == words


def test_the_withdrawal_lock_explained():
    locked = agent(unbonding=1_000 * 10**6, open_decisions=2, pending_slashes=1)
    decisions = [DecisionView(4, ME, NOW - 10), DecisionView(5, ME, NOW + 86_400)]
    slashes = [SlashView(0, ME, 1_100 * 10**6, NOW + 3 * 86_400, 1)]
    assert lock_message(locked, decisions, slashes, NOW, USDC) == (
        "withdrawal locked: 2 decisions await evaluation; 1 slash is pending. Decisions #4 "
        "evaluable now, #5 evaluable from 2023-11-15 22:13:20 UTC (in 1d); slash #0: "
        "1,100 mUSDC, veto window ends 2023-11-17 22:13:20 UTC (in 3d). The 1,000 mUSDC "
        "unbonding stays in the registry, slashable, until every decision is evaluated (anyone "
        "may, once due) and every slash vetoed or executed"
    )
    only_slash = agent(unbonding=10**6, pending_slashes=1)
    assert lock_message(only_slash, [], slashes, NOW, USDC).startswith(
        "withdrawal locked: 1 slash is pending. Slash #0: 1,100 mUSDC, veto window ends"
    )


@pytest.mark.parametrize(
    ("name", "inputs", "sentence"),
    [
        ("ZeroAmount", {}, "the amount must be more than zero"),
        ("EmptyMetadataURI", {}, "the metadata URI is blank"),
        ("AlreadyRegistered", {"agent": ME}, f"{ME} is already registered"),
        ("NotRegistered", {"agent": ME}, f"{ME} is not registered: run `ape run agent register"),
        (
            "InsufficientStake",
            {"requested": 20_000 * 10**6, "stake": 10**10},
            "cannot unbond 20,000 mUSDC: the bonded stake is 10,000 mUSDC",
        ),
        ("NothingToWithdraw", {"agent": ME}, "nothing to withdraw: request an unbond first"),
        (
            "UnbondingNotReady",
            {"readyAt": NOW + 7 * 86_400},
            "not withdrawable before 2023-11-21 22:13:20 UTC (in 7d)",
        ),
        (
            "ERC20InsufficientBalance",
            {"sender": ME, "balance": 10**6, "needed": 2 * 10**6},
            f"insufficient balance: {ME} holds 1 mUSDC, 2 mUSDC needed",
        ),
        (
            "ERC20InsufficientAllowance",
            {"spender": ME, "allowance": 0, "needed": 10**6},
            "may take only 0 mUSDC of your asset, 1 mUSDC needed",
        ),
        (
            "WithdrawalLocked",
            {"openDecisions": 2, "pendingSlashes": 1},
            "withdrawal locked: 2 decisions await evaluation; 1 slash is pending",
        ),
        ("NoRewards", {"agent": ME}, f"nothing to claim: {ME} has no rewards"),
        ("NotAllowlisted", {"account": ME}, f"{ME} is not on the vault's allowlist"),
        ("SafeERC20FailedOperation", {"token": ME}, f"SafeERC20FailedOperation(token={ME})"),
    ],
)
def test_contract_errors_in_words(name, inputs, sentence):
    assert sentence in explain_error(name, inputs, NOW, USDC)
