"""Pure logic behind `ape run guardian`: slash ids, timelock operation ids, refusals in words."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_bytes, to_checksum_address

from ballast.agent import SlashView, Units, settling_order
from ballast.guardian import (
    InputError,
    cancel_refusal,
    explain_error,
    operation_id,
    parse_slash_id,
    slash_rows,
    timelock_salt,
    vault_rows,
    veto_refusal,
)
from ballast.params import PROPOSAL_STATES

USDC = Units(6, "mUSDC")
NOW = 1_700_000_000
AGENT = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
GOVERNOR = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"


def slash(**changes) -> SlashView:
    fields = dict(id=0, agent=AGENT, amount=1_100 * 10**6, veto_ends_at=NOW + 3 * 86_400,
                  decision_id=1, status="Pending")  # fmt: skip
    return SlashView(**{**fields, **changes})


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("3", 3), ("#12", 12), (" 7 ", 7)])
def test_slash_ids(text, value):
    assert parse_slash_id(text) == value


@pytest.mark.parametrize("text", ["x", "-1", "1.5", "", "#", "0x1"])
def test_bad_slash_ids_are_refused_in_one_line(text):
    with pytest.raises(InputError) as err:
        parse_slash_id(text)
    assert str(err.value).startswith(f"not a slash id: {text!r}")


def test_the_timelock_salt_is_the_governor_xored_into_the_description_hash():
    description_hash = keccak(text="More idle liquidity")
    salt = timelock_salt(GOVERNOR, description_hash)
    assert salt[20:] == description_hash[20:]
    unmasked = bytes(a ^ b for a, b in zip(salt[:20], description_hash[:20], strict=True))
    assert unmasked == to_bytes(hexstr=GOVERNOR)
    assert timelock_salt(GOVERNOR.lower(), description_hash) == salt


def test_operation_id_is_the_timelocks_hash_operation_batch():
    """The vector is TimelockController.hashOperationBatch (OZ 5.4) on anvil, with the salt
    GovernorTimelockControl derives; tests/scripts/test_guardian_cli.py checks a real queue."""
    targets = ["0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9", "0x" + "00" * 19 + "01"]
    values = [0, 5]
    calldatas = [bytes.fromhex("273f4940"), b""]
    description_hash = keccak(text="More idle liquidity")
    assert timelock_salt(GOVERNOR, description_hash).hex() == (
        "9532031ad7faa484e7f4fa109697e33e79a6466bed29aeb9ab23eefcfe166370"
    )
    assert operation_id(targets, values, calldatas, description_hash, GOVERNOR).hex() == (
        "1e4a2df19a03b71adf1c1c39ef7d007da59020770a9744ef12aab32512f4c91a"
    )


def test_veto_refusals():
    assert veto_refusal(0, 1, slash(), NOW) is None
    assert veto_refusal(0, 1, slash(), NOW + 3 * 86_400 - 1) is None  # strictly before the end
    assert veto_refusal(4, 0, None, NOW) == "no slash #4: the registry has opened no slash yet"
    assert veto_refusal(4, 1, None, NOW) == "no slash #4: the registry has opened #0"
    assert veto_refusal(4, 3, None, NOW) == "no slash #4: the registry has opened #0 to #2"
    assert veto_refusal(0, 1, slash(status="Vetoed"), NOW) == "slash #0 is already vetoed"
    assert veto_refusal(0, 1, slash(status="Executed"), NOW).startswith(
        "slash #0 was already executed"
    )
    late = veto_refusal(0, 1, slash(), NOW + 3 * 86_400)
    assert late == (
        "too late to veto slash #0: its veto window closed 2023-11-17 22:13:20 UTC (now); "
        "anyone may execute it now"
    )


@pytest.mark.parametrize("state", PROPOSAL_STATES)
def test_only_a_queued_proposal_can_be_cancelled(state):
    refusal = cancel_refusal(42, state)
    if state == "Queued":
        assert refusal is None
    else:
        assert refusal.startswith(f"proposal 42 is {state}: ")
        assert "\n" not in refusal


def test_cancel_refusals_say_what_to_do():
    assert "once queued, the guardian can cancel it" in cancel_refusal(1, "Succeeded")
    assert "too late" in cancel_refusal(1, "Executed")
    assert "already cancelled" in cancel_refusal(1, "Canceled")
    assert "nothing to cancel" in cancel_refusal(1, "Defeated")


def test_status_rows():
    assert vault_rows(False, False) == [("automation", "running"), ("shut down", "no")]
    paused, shut = vault_rows(True, True)
    assert paused[1].startswith("paused: rebalances are refused (and the vault is shut down")
    assert shut[1].startswith("yes: deposits and rebalances stopped for good")
    assert slash_rows([], NOW, USDC) == [("pending slashes", "none")]
    rows = slash_rows([slash(id=1, veto_ends_at=NOW - 60), slash()], NOW, USDC)
    assert [label for label, _ in rows] == ["slash #1", "slash #0"]  # earliest deadline first
    assert rows[0][1] == (
        f"1,100 mUSDC of agent {AGENT} (decision #1), veto window ended "
        "2023-11-14 22:12:20 UTC (1m ago): anyone may execute it"
    )
    assert rows[1][1].endswith("veto window ends 2023-11-17 22:13:20 UTC (in 3d)")
    left = "0x" + "Ab" * 20
    (row,) = slash_rows([slash(registry=left)], NOW, USDC)  # ids restart in each registry
    assert row[0] == "slash #0 (a registry left)"
    assert row[1].endswith(
        f"(in 3d); in the AgentRegistry {left}, which the vault left (veto with --registry {left})"
    )


def test_the_registries_of_a_vault_are_its_own_first_then_those_it_left_latest_first():
    """ballast.agent.settling_order, shared by the guardian's CLI and the keepers: every
    AgentRegistry the vault named, each once; one named again takes its latest place; the
    zero address (a vault not wired yet) is never one."""
    a, b, c, m = (to_checksum_address("0x" + ch * 40) for ch in "abcd")
    zero = "0x" + "0" * 40
    assert settling_order(c, [a, b, c], m) == [c, b, a, m]
    assert settling_order(a.lower(), [a, b, a], a) == [a, b]  # the manifest's is the vault's
    assert settling_order(zero, [], m) == [m]  # not wired: the manifest's alone
    assert settling_order(b, [zero, a, b], zero) == [b, a]
    assert settling_order(c, [a, b, a, c], m) == [c, a, b, m]  # `a` named again after `b`


@pytest.mark.parametrize(
    ("name", "inputs", "sentence"),
    [
        ("NotGuardian", {"caller": AGENT}, f"{AGENT} is not the vault's guardian"),
        ("UnknownSlash", {"slashId": 9}, "no slash #9"),
        ("SlashNotPending", {"slashId": 2, "status": 2}, "slash #2 is no longer pending"),
        ("VetoWindowOver", {"slashId": 2, "vetoEndsAt": NOW}, "too late to veto slash #2"),
        ("VaultIsShutdown", {}, "the vault is already shut down"),
        (
            "TimelockUnexpectedOperationState",
            {"operationId": b"\x01" * 32, "expectedStates": b"\x00" * 32},
            "the timelock operation 0x0101",
        ),
        ("Other", {"x": 1}, "Other(x=1)"),
    ],
)
def test_contract_errors_in_words(name, inputs, sentence):
    assert sentence in explain_error(name, inputs, NOW, USDC)
