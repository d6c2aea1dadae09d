"""The governance review's CLI and steward findings, in pure Python (branch `gov`; the on-chain
half is tests/attacks/test_governance_review.py).

1. What a voter reads is the description; what executes is the calls
   (`ballast.proposal_calls`): every call decoded, one warning for each thing the description
   leaves out or contradicts.
2. A steward recommendation file's values and its rationale were taken independently by `params
   propose --from-recommendation`: a file whose values were edited after the steward wrote it
   (shared through a chat or a repository) became a proposal whose description, the steward's
   rationale, says "lend.liqThresholdBps.gold 7500 -> 7435" while the call sets 5000. It is now
   refused in one line.
3. The steward's `governance_reach` measured governance's step from `governanceValue` as it is;
   the registry measures it from that value brought into the bounds (`_stepFrom`), so after the
   DAO raised a minimum past governance's last value the steward recommended a value below the
   new minimum, which `params propose` refuses: the recommendation could never be proposed.
"""

from __future__ import annotations

import json

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak

from ballast import proposal_calls as C
from keepers.jobs.steward import RECOMMENDATION_VERSION, RecommendationError, check_recommendation
from keepers.math.steward_rules import ParamState, governance_reach

REGISTRY = "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707"
TIMELOCK = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
STRANGER = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
NAMES = ("vault.idleBufferBps", "lend.liqThresholdBps.gold", "lend.ltvBps.gold", "agent.vetoWindow")
KEYS = {keccak(text=n): n for n in NAMES}


def _fn(name: str, *types: str) -> dict:
    return {
        "type": "function",
        "name": name,
        "inputs": [{"name": f"a{i}", "type": t} for i, t in enumerate(types)],
    }


ABI = [
    _fn("set", "bytes32", "uint256"),
    _fn("setBatch", "bytes32[]", "uint256[]"),
    _fn("unfreeze", "bytes32"),
    _fn("grantRole", "bytes32", "address"),
    _fn("setBounds", "bytes32", "uint256", "uint256", "uint16", "uint32"),
]
CONTRACTS = {REGISTRY.lower(): ("ParameterRegistry", ABI), TIMELOCK.lower(): ("Timelock", [])}


def data(signature: str, types: list[str], args: list) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, args)


def calls_of(*raw: tuple[str, bytes] | tuple[str, bytes, int]) -> list[C.Call]:
    return [C.decode_call(r[0], r[2] if len(r) > 2 else 0, r[1], CONTRACTS) for r in raw]


def set_batch(pairs: list[tuple[str, int]]) -> bytes:
    return data(
        "setBatch(bytes32[],uint256[])",
        ["bytes32[]", "uint256[]"],
        [[keccak(text=n) for n, _ in pairs], [v for _, v in pairs]],
    )


def test_a_description_that_leaves_out_a_change_or_a_role_grant_is_warned_about():
    calls = calls_of(
        (REGISTRY, set_batch([("vault.idleBufferBps", 600), ("lend.liqThresholdBps.gold", 6_750)])),
        (
            REGISTRY,
            data(
                "grantRole(bytes32,address)",
                ["bytes32", "address"],
                [keccak(text="STEWARD_ROLE"), STRANGER],
            ),
        ),
    )
    shown = [C.show_call(c, KEYS.get) for c in calls]
    assert shown == [
        "ParameterRegistry.setBatch(vault.idleBufferBps = 600, lend.liqThresholdBps.gold = 6,750)",
        f"ParameterRegistry.grantRole(STEWARD_ROLE, {STRANGER})",
    ]
    assert C.warnings("Set vault.idleBufferBps = 600", calls, KEYS.get) == [
        "ParameterRegistry.grantRole is not a parameter change: read it before voting",
        "it sets lend.liqThresholdBps.gold to 6,750, which the description does not mention",
    ]


def test_a_description_stating_another_value_than_the_call_is_warned_about():
    calls = calls_of((REGISTRY, set_batch([("lend.ltvBps.gold", 6_000)])))
    assert C.warnings("Set lend.ltvBps.gold = 6,930", calls, KEYS.get) == [
        "the description gives lend.ltvBps.gold as 6,930; the call sets 6,000"
    ]
    assert C.warnings("lend.ltvBps.gold 7000 -> 6930 (target 6000)", calls, KEYS.get) == [
        "the description gives lend.ltvBps.gold as 6930; the call sets 6,000"
    ]


@pytest.mark.parametrize(
    "description",
    [
        "Set vault.idleBufferBps = 650, agent.vetoWindow = 4d #proposer=0x" + "ab" * 20,
        "More idle (changes: vault.idleBufferBps = 650, agent.vetoWindow = 4d)",
        "Risk steward: set vault.idleBufferBps 500 -> 650 (model target 700); "
        "agent.vetoWindow 259200 -> 345600 (model target 345600).",
    ],
)
def test_descriptions_params_propose_and_the_steward_write_draw_no_warning(description):
    calls = calls_of(
        (REGISTRY, data("unfreeze(bytes32)", ["bytes32"], [keccak(text="vault.idleBufferBps")])),
        (REGISTRY, set_batch([("vault.idleBufferBps", 650), ("agent.vetoWindow", 4 * 86_400)])),
    )
    assert C.warnings(description, calls, KEYS.get) == []


def test_calls_outside_the_deployment_ether_and_unknown_keys_are_warned_about():
    calls = calls_of(
        (STRANGER, b"\x12\x34\x56\x78", 5),
        (TIMELOCK, b"\xde\xad\xbe\xef"),
        (REGISTRY, data("set(bytes32,uint256)", ["bytes32", "uint256"], [keccak(text="x"), 1])),
        (
            REGISTRY,
            data(
                "setBounds(bytes32,uint256,uint256,uint16,uint32)",
                ["bytes32", "uint256", "uint256", "uint16", "uint32"],
                [keccak(text="lend.ltvBps.gold"), 0, 9_999, 0, 0],
            ),
        ),
    )
    assert C.show_call(calls[0], KEYS.get).startswith(f"{STRANGER} (not a contract of this")
    assert C.show_call(calls[3], KEYS.get) == (
        "ParameterRegistry.setBounds(lend.ltvBps.gold, 0, 9,999, 0, 0)"
    )
    assert C.warnings("x", calls, KEYS.get) == [
        f"a call sends 5 wei to {STRANGER}",
        f"it calls {STRANGER}, which is not a contract of this deployment",
        "it calls Timelock with data no function of it decodes",
        "ParameterRegistry.setBounds is not a parameter change: read it before voting",
        f"it sets 0x{keccak(text='x').hex()}, which is no parameter of the registry",
    ]


def _recommendation(values, rationale):
    return json.loads(
        json.dumps(
            {
                "version": RECOMMENDATION_VERSION,
                "created": {"block": 1, "timestamp": 1_000},
                "values": values,
                "rationale": rationale,
            }
        )
    )


def test_a_recommendation_whose_values_were_edited_after_its_rationale_is_refused():
    rationale = (
        "Risk steward recommendation (block 9): set lend.liqThresholdBps.gold 7500 -> 7435 "
        "(model target 6094). These moves lie beyond the steward's on-chain bounds."
    )
    honest = _recommendation([["lend.liqThresholdBps.gold", 7_435]], rationale)
    assert check_recommendation(honest, now=1_000, max_age=60)[0] == [
        ("lend.liqThresholdBps.gold", 7_435)
    ]
    edited = _recommendation(
        [["lend.liqThresholdBps.gold", 5_000], ["lend.ltvBps.gold", 4_900]], rationale
    )
    with pytest.raises(RecommendationError, match="the call sets 5,000"):
        check_recommendation(edited, now=1_000, max_age=60)
    added = _recommendation(
        [["lend.liqThresholdBps.gold", 7_435], ["lend.ltvBps.gold", 4_900]], rationale
    )
    with pytest.raises(RecommendationError, match="lend.ltvBps.gold to 4,900, which the desc"):
        check_recommendation(added, now=1_000, max_age=60)


def test_the_stewards_governance_reach_steps_from_its_last_value_brought_into_the_bounds():
    """The DAO raised vault.idleBufferBps' minimum to 1,000 (setBounds moved the value there)
    while governance's last value is 500: the registry lets a set step 50 % from 1,000 (to
    1,500), the steward recommended 750, below the minimum."""
    p = ParamState(
        name="vault.idleBufferBps", value=1_000, min=1_000, max=5_000, max_step_bps=5_000,
        cooldown=86_400, governance_value=500, last_governance_update=0, steward_step_bps=2_000,
        steward_cooldown=3 * 86_400, last_update=0,
    )  # fmt: skip
    assert governance_reach(p, 4_000) == 1_500
    assert governance_reach(p, 100) == 1_000
    zero = ParamState(**{**p.__dict__, "governance_value": 0, "min": 200, "value": 200})
    assert governance_reach(zero, 4_000) == 300  # from 200 (the bound), not from max 5,000


def test_a_set_batch_of_uneven_lengths_is_shown_whole_and_warned_about():
    uneven = data(
        "setBatch(bytes32[],uint256[])",
        ["bytes32[]", "uint256[]"],
        [[keccak(text="vault.idleBufferBps"), keccak(text="lend.ltvBps.gold")], [600]],
    )
    (call,) = calls_of((REGISTRY, uneven))
    assert C.show_call(call, KEYS.get) == (
        "ParameterRegistry.setBatch(vault.idleBufferBps = 600; 2 keys for 1 values)"
    )
    assert C.warnings("Set vault.idleBufferBps = 600", [call], KEYS.get) == [
        "a setBatch gives keys and values of different lengths (it reverts)"
    ]
