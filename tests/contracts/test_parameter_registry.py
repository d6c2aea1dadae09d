"""ParameterRegistry: every rule and error of IParameterRegistry.

Time is driven explicitly: `chain.pending_timestamp = t` makes the next transaction run at `t`,
and `check(..., block_id="pending")` evaluates at that same timestamp.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

DAY = 86_400
OK = (True, b"\x00" * 4)
SIGNATURES = {
    "UnknownParameter": "UnknownParameter(bytes32)",
    "ParameterFrozen": "ParameterFrozen(bytes32)",
    "StewardDisabled": "StewardDisabled(bytes32)",
    "OutOfBounds": "OutOfBounds(bytes32,uint256,uint256,uint256)",
    "StepTooLarge": "StepTooLarge(bytes32,uint256,uint256,uint16)",
    "Cooldown": "Cooldown(bytes32,uint256)",
}
SELECTORS = {name: keccak(text=sig)[:4] for name, sig in SIGNATURES.items()}
UNKNOWN = keccak(text="never.defined")
LTV = keccak(text="risk.ltv")


@pytest.fixture(scope="session")
def steward(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def guardian(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def outsider(accounts):
    return accounts[3]


@pytest.fixture(scope="module")
def registry(project, deployer, steward, guardian):
    registry = deployer.deploy(project.ParameterRegistry, deployer)
    registry.grantRole(registry.STEWARD_ROLE(), steward, sender=deployer)
    registry.grantRole(registry.GUARDIAN_ROLE(), guardian, sender=deployer)
    return registry


@pytest.fixture
def ltv(registry, deployer):
    """risk.ltv = 1000 in [100, 10_000], governance step 10 %, cooldown 1 day, no steward."""
    registry.defineParameter("risk.ltv", 1_000, 100, 10_000, 1_000, DAY, sender=deployer)
    return LTV


@pytest.fixture
def stewarded(registry, deployer, ltv):
    """risk.ltv with a steward allowed 2 % steps every 3 days."""
    registry.setStewardLimits(ltv, 200, 3 * DAY, sender=deployer)
    return ltv


def only_event(receipt, event) -> dict:
    (log,) = receipt.events.filter(event)
    return dict(log.event_arguments)


def defined_at(registry, key) -> int:
    return registry.getParam(key).lastUpdate


def define(registry, deployer, name, *rules) -> bytes:
    return registry.defineParameter(name, *rules, sender=deployer).return_value


def unauthorized(registry, account, role):
    error = registry.AccessControlUnauthorizedAccount
    return ape.reverts(error, account=account.address, neededRole=role)


# ------------------------------------------------------------------ roles


def test_constructor_gives_admin_and_governance_to_admin(registry, deployer, steward):
    assert registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), deployer)
    assert registry.hasRole(registry.GOVERNANCE_ROLE(), deployer)
    assert not registry.hasRole(registry.STEWARD_ROLE(), deployer)
    assert not registry.hasRole(registry.GOVERNANCE_ROLE(), steward)


@pytest.mark.parametrize(
    "method, args, who, role",
    [
        ("defineParameter", ("x", 1, 0, 10, 0, 0), "steward", "GOVERNANCE_ROLE"),
        ("defineParameter", ("x", 1, 0, 10, 0, 0), "outsider", "GOVERNANCE_ROLE"),
        ("set", (LTV, 1_010), "steward", "GOVERNANCE_ROLE"),
        ("set", (LTV, 1_010), "guardian", "GOVERNANCE_ROLE"),
        ("setBounds", (LTV, 0, 20_000, 1_000, DAY), "guardian", "GOVERNANCE_ROLE"),
        ("setStewardLimits", (LTV, 100, 3 * DAY), "steward", "GOVERNANCE_ROLE"),
        ("unfreeze", (LTV,), "guardian", "GOVERNANCE_ROLE"),
        ("stewardSet", (LTV, 1_010), "deployer", "STEWARD_ROLE"),
        ("stewardSet", (LTV, 1_010), "outsider", "STEWARD_ROLE"),
        ("freeze", (LTV,), "deployer", "GUARDIAN_ROLE"),
        ("freeze", (LTV,), "steward", "GUARDIAN_ROLE"),
    ],
)
def test_each_action_requires_its_role(
    registry, request, chain, stewarded, method, args, who, role
):
    before = registry.getParam(stewarded)
    chain.pending_timestamp = before.lastUpdate + 3 * DAY  # every rule but the role passes
    account = request.getfixturevalue(who)
    with unauthorized(registry, account, getattr(registry, role)()):
        getattr(registry, method)(*args, sender=account)
    assert registry.getParam(stewarded) == before
    assert registry.keys() == [LTV]


# ------------------------------------------------------------------ defineParameter


def test_define_stores_the_parameter_and_emits_event(registry, deployer):
    receipt = registry.defineParameter("risk.ltv", 1_000, 100, 10_000, 1_000, DAY, sender=deployer)
    idle = define(registry, deployer, "vault.idleBufferBps", 0, 0, 500, 0, 0)

    assert receipt.return_value == LTV
    assert only_event(receipt, registry.ParameterDefined) == dict(
        key=LTV, name="risk.ltv", value=1_000, min=100, max=10_000, maxStepBps=1_000, cooldown=DAY
    )
    # value, min, max, maxStepBps, cooldown, lastUpdate; no steward, not frozen, exists
    expected = (1_000, 100, 10_000, 1_000, DAY, receipt.timestamp, 0, 0, False, True)
    assert registry.getParam(LTV) == expected
    assert registry.get(LTV) == 1_000
    assert registry.nameOf(LTV) == "risk.ltv"
    assert registry.keys() == [LTV, idle] == [LTV, keccak(text="vault.idleBufferBps")]

    fixed = define(registry, deployer, "fixed", 7, 7, 7, 10_000, 0)  # min == max, step 100 %
    assert registry.getParam(fixed).maxStepBps == 10_000


def test_largest_value_reads_back_through_get(registry, deployer):
    top = 2**256 - 2  # the largest max the registry accepts
    key = define(registry, deployer, "risk.top", top, 0, top, 0, 0)
    assert registry.get(key) == top
    registry.set(key, 0, sender=deployer)
    assert registry.get(key) == 0
    assert registry.getParam(key).value == 0


def test_define_rejects_empty_name_and_second_definition(registry, deployer, ltv):
    with ape.reverts(registry.EmptyName):
        registry.defineParameter("", 1, 0, 10, 0, 0, sender=deployer)
    with ape.reverts(registry.AlreadyDefined, key=ltv):
        registry.defineParameter("risk.ltv", 5, 0, 10, 0, 0, sender=deployer)
    assert registry.keys() == [ltv]
    assert registry.get(ltv) == 1_000


@pytest.mark.parametrize(
    "rules, error, inputs",
    [
        ((5, 10, 9, 0, 0), "InvalidBounds", {"min": 10, "max": 9}),
        # max must stay below 2**256 - 1 (get() keeps value + 1 in one slot)
        ((5, 0, 2**256 - 1, 0, 0), "InvalidBounds", {"min": 0, "max": 2**256 - 1}),
        ((5, 0, 10, 10_001, 0), "InvalidStep", {"stepBps": 10_001}),
        ((4, 5, 10, 0, 0), "OutOfBounds", {"key": LTV, "value": 4, "min": 5, "max": 10}),
        ((11, 5, 10, 0, 0), "OutOfBounds", {"key": LTV, "value": 11, "min": 5, "max": 10}),
    ],
)
def test_define_rejects_invalid_rules(registry, deployer, rules, error, inputs):
    with ape.reverts(getattr(registry, error), **inputs):
        registry.defineParameter("risk.ltv", *rules, sender=deployer)
    assert registry.keys() == []


@pytest.mark.parametrize(
    "method, who, args",
    [
        ("get", None, ()),
        ("getParam", None, ()),
        ("nameOf", None, ()),
        ("set", "deployer", (1,)),
        ("stewardSet", "steward", (1,)),
        ("setBounds", "deployer", (0, 10, 0, 0)),
        ("setStewardLimits", "deployer", (0, 0)),
        ("freeze", "guardian", ()),
        ("unfreeze", "deployer", ()),
    ],
)
def test_unknown_key_reverts(registry, request, ltv, method, who, args):
    kwargs = {"sender": request.getfixturevalue(who)} if who else {}
    with ape.reverts(registry.UnknownParameter, key=UNKNOWN):
        getattr(registry, method)(UNKNOWN, *args, **kwargs)


# ------------------------------------------------------------------ set


def test_set_updates_value_and_emits_event(registry, deployer, chain, ltv):
    chain.pending_timestamp = defined_at(registry, ltv) + DAY
    receipt = registry.set(ltv, 1_100, sender=deployer)

    assert only_event(receipt, registry.ParameterSet) == dict(
        key=ltv, oldValue=1_000, newValue=1_100, by=deployer.address
    )
    assert registry.get(ltv) == 1_100
    assert registry.getParam(ltv).lastUpdate == receipt.timestamp


@pytest.mark.parametrize("value", [99, 10_001])
def test_set_rejects_values_outside_bounds(registry, deployer, ltv, value):
    registry.setBounds(ltv, 100, 10_000, 0, 0, sender=deployer)  # only bounds can refuse
    with ape.reverts(registry.OutOfBounds, key=ltv, value=value, min=100, max=10_000):
        registry.set(ltv, value, sender=deployer)


@pytest.mark.parametrize(
    "old, max_, new, ok",
    [
        (1_000, 10_000, 1_100, True),  # 10 % of the old value, up or down
        (1_000, 10_000, 900, True),
        (1_000, 10_000, 1_101, False),
        (1_000, 10_000, 899, False),
        (0, 10_000, 1_000, True),  # from 0: 10 % of max
        (0, 10_000, 1_001, False),
        (0, 20_000, 2_000, True),
    ],
)
def test_step_rule(registry, deployer, old, max_, new, ok):
    key = define(registry, deployer, "fee", old, 0, max_, 1_000, 0)
    if ok:
        registry.set(key, new, sender=deployer)
        assert registry.get(key) == new
    else:
        error = registry.StepTooLarge
        with ape.reverts(error, key=key, oldValue=old, newValue=new, maxStepBps=1_000):
            registry.set(key, new, sender=deployer)


def test_zero_max_step_allows_any_value_within_bounds(registry, deployer):
    key = define(registry, deployer, "cap", 1, 0, 10**30, 0, 0)
    for value in (10**30, 0, 10**30):  # back-to-back too: cooldown 0
        registry.set(key, value, sender=deployer)
        assert registry.get(key) == value


def test_definition_counts_as_first_update_for_the_cooldown(registry, deployer, chain, ltv):
    start = defined_at(registry, ltv)
    chain.pending_timestamp = start + DAY - 1
    with ape.reverts(registry.Cooldown, key=ltv, readyAt=start + DAY):
        registry.set(ltv, 1_050, sender=deployer)

    chain.pending_timestamp = start + DAY
    registry.set(ltv, 1_050, sender=deployer)

    chain.pending_timestamp = start + 2 * DAY - 1  # the update restarted the cooldown
    with ape.reverts(registry.Cooldown, key=ltv, readyAt=start + 2 * DAY):
        registry.set(ltv, 1_100, sender=deployer)


# ------------------------------------------------------------------ stewardSet


def test_steward_is_disabled_until_governance_sets_limits(registry, deployer, steward, chain, ltv):
    chain.pending_timestamp = defined_at(registry, ltv) + 10 * DAY
    with ape.reverts(registry.StewardDisabled, key=ltv):
        registry.stewardSet(ltv, 1_010, sender=steward)

    registry.setStewardLimits(ltv, 200, 3 * DAY, sender=deployer)
    registry.stewardSet(ltv, 1_010, sender=steward)
    assert registry.get(ltv) == 1_010


def test_steward_step_is_tighter_than_governance(registry, steward, chain, stewarded):
    chain.pending_timestamp = defined_at(registry, stewarded) + 3 * DAY
    assert registry.check(stewarded, 1_100, False, block_id="pending") == OK
    error = registry.StepTooLarge
    with ape.reverts(error, key=stewarded, oldValue=1_000, newValue=1_021, maxStepBps=200):
        registry.stewardSet(stewarded, 1_021, sender=steward)

    receipt = registry.stewardSet(stewarded, 1_020, sender=steward)
    assert only_event(receipt, registry.ParameterSet)["by"] == steward.address
    assert registry.get(stewarded) == 1_020


def test_steward_cooldown_is_longer_than_governance(registry, steward, chain, stewarded):
    start = defined_at(registry, stewarded)
    chain.pending_timestamp = start + 3 * DAY - 1
    assert registry.check(stewarded, 1_010, False, block_id="pending") == OK
    with ape.reverts(registry.Cooldown, key=stewarded, readyAt=start + 3 * DAY):
        registry.stewardSet(stewarded, 1_010, sender=steward)

    chain.pending_timestamp = start + 3 * DAY
    registry.stewardSet(stewarded, 1_010, sender=steward)
    assert registry.get(stewarded) == 1_010


def test_steward_update_restarts_the_governance_cooldown(
    registry, deployer, steward, chain, stewarded
):
    chain.pending_timestamp = defined_at(registry, stewarded) + 3 * DAY
    stewarded_at = registry.stewardSet(stewarded, 990, sender=steward).timestamp

    chain.pending_timestamp = stewarded_at + DAY - 1
    with ape.reverts(registry.Cooldown, key=stewarded, readyAt=stewarded_at + DAY):
        registry.set(stewarded, 1_000, sender=deployer)
    chain.pending_timestamp = stewarded_at + DAY
    registry.set(stewarded, 1_000, sender=deployer)
    assert registry.get(stewarded) == 1_000


# ------------------------------------------------------------------ setStewardLimits


@pytest.mark.parametrize("step, cooldown", [(1_000, DAY + 1), (1, 10 * DAY), (0, 0)])
def test_set_steward_limits_stores_and_emits(registry, deployer, ltv, step, cooldown):
    receipt = registry.setStewardLimits(ltv, step, cooldown, sender=deployer)
    assert only_event(receipt, registry.StewardLimitsSet) == dict(
        key=ltv, stewardStepBps=step, stewardCooldown=cooldown
    )
    param = registry.getParam(ltv)
    assert (param.stewardStepBps, param.stewardCooldown) == (step, cooldown)


@pytest.mark.parametrize("step, cooldown", [(1_001, 2 * DAY), (200, DAY), (200, DAY - 1)])
def test_set_steward_limits_refuses_looser_than_governance(registry, deployer, ltv, step, cooldown):
    error = registry.StewardLimitsTooLoose
    with ape.reverts(error, key=ltv, stewardStepBps=step, stewardCooldown=cooldown):
        registry.setStewardLimits(ltv, step, cooldown, sender=deployer)


def test_steward_step_is_free_when_governance_step_is_unlimited(registry, deployer):
    key = define(registry, deployer, "cap", 5, 0, 10, 0, 60)
    registry.setStewardLimits(key, 10_000, 61, sender=deployer)
    with ape.reverts(registry.StewardLimitsTooLoose, key=key, stewardStepBps=10_000):
        registry.setStewardLimits(key, 10_000, 60, sender=deployer)  # cooldown still binds
    with ape.reverts(registry.InvalidStep, stepBps=10_001):
        registry.setStewardLimits(key, 10_001, 61, sender=deployer)  # 100% is the ceiling


# ------------------------------------------------------------------ setBounds


def test_set_bounds_stores_emits_and_applies(registry, deployer, chain, ltv):
    start = defined_at(registry, ltv)
    receipt = registry.setBounds(ltv, 1_000, 1_000_000, 0, 60, sender=deployer)
    assert only_event(receipt, registry.BoundsSet) == dict(
        key=ltv, min=1_000, max=1_000_000, maxStepBps=0, cooldown=60
    )
    assert registry.getParam(ltv) == (1_000, 1_000, 1_000_000, 0, 60, start, 0, 0, False, True)

    chain.pending_timestamp = start + 60  # new cooldown, no step limit
    registry.set(ltv, 1_000_000, sender=deployer)
    assert registry.get(ltv) == 1_000_000


@pytest.mark.parametrize(
    "bounds, error, inputs",
    [
        ((500, 499, 0, 0), "InvalidBounds", {"min": 500, "max": 499}),
        ((0, 2**256 - 1, 0, 0), "InvalidBounds", {"min": 0, "max": 2**256 - 1}),
        ((0, 10_000, 10_001, 0), "InvalidStep", {"stepBps": 10_001}),
        ((1_001, 5_000, 0, 0), "OutOfBounds", {"key": LTV, "value": 1_000, "min": 1_001}),
        ((0, 999, 0, 0), "OutOfBounds", {"key": LTV, "value": 1_000, "max": 999}),
    ],
)
def test_set_bounds_rejects_invalid_or_stranding_bounds(
    registry, deployer, ltv, bounds, error, inputs
):
    with ape.reverts(getattr(registry, error), **inputs):
        registry.setBounds(ltv, *bounds, sender=deployer)
    assert registry.getParam(ltv).min == 100


@pytest.mark.parametrize(
    "step, cooldown, ok",
    [(199, DAY, False), (200, 3 * DAY, False), (200, 3 * DAY - 1, True), (0, 3 * DAY - 1, True)],
)
def test_set_bounds_cannot_loosen_the_steward(registry, deployer, stewarded, step, cooldown, ok):
    if ok:
        registry.setBounds(stewarded, 100, 10_000, step, cooldown, sender=deployer)
        assert registry.getParam(stewarded).maxStepBps == step
    else:
        error = registry.StewardLimitsTooLoose
        with ape.reverts(error, key=stewarded, stewardStepBps=200, stewardCooldown=3 * DAY):
            registry.setBounds(stewarded, 100, 10_000, step, cooldown, sender=deployer)


# ------------------------------------------------------------------ freeze / unfreeze


def test_frozen_parameter_accepts_no_update_until_unfrozen(
    registry, deployer, steward, guardian, chain, stewarded
):
    receipt = registry.freeze(stewarded, sender=guardian)
    assert only_event(receipt, registry.Frozen) == {"key": stewarded}
    chain.pending_timestamp = defined_at(registry, stewarded) + 3 * DAY
    with ape.reverts(registry.ParameterFrozen, key=stewarded):
        registry.set(stewarded, 1_010, sender=deployer)
    with ape.reverts(registry.ParameterFrozen, key=stewarded):
        registry.stewardSet(stewarded, 1_010, sender=steward)

    registry.setBounds(stewarded, 0, 50_000, 0, DAY, sender=deployer)  # bounds still change
    assert registry.getParam(stewarded).max == 50_000

    receipt = registry.unfreeze(stewarded, sender=deployer)
    assert only_event(receipt, registry.Unfrozen) == {"key": stewarded}
    assert not registry.getParam(stewarded).frozen
    registry.stewardSet(stewarded, 1_010, sender=steward)
    assert registry.get(stewarded) == 1_010


# ------------------------------------------------------------------ check

# (value, steward?, seconds after definition, setup, key, expected error or None);
# risk.ltv = 1000 in [100, 10_000], governance 10 % / 1 day, steward 2 % / 3 days.
CHECK_CASES = [
    (1_100, False, DAY, None, LTV, None),
    (1_020, True, 3 * DAY, None, LTV, None),
    (1_100, False, DAY, None, UNKNOWN, "UnknownParameter"),
    (1_010, False, DAY, "freeze", LTV, "ParameterFrozen"),
    (1_010, True, 3 * DAY, "freeze", LTV, "ParameterFrozen"),
    (1_010, True, 3 * DAY, "no steward", LTV, "StewardDisabled"),
    (1_010, False, DAY, "no steward", LTV, None),
    (99, False, DAY, None, LTV, "OutOfBounds"),
    (10_001, True, 3 * DAY, None, LTV, "OutOfBounds"),
    (1_101, False, DAY, None, LTV, "StepTooLarge"),
    (1_021, True, 3 * DAY, None, LTV, "StepTooLarge"),
    (1_010, False, DAY - 1, None, LTV, "Cooldown"),
    (1_010, True, 3 * DAY - 1, None, LTV, "Cooldown"),
]


@pytest.mark.parametrize(
    "case", CHECK_CASES, ids=lambda c: f"{c[5]}-{'steward' if c[1] else 'gov'}-{c[3]}"
)
def test_check_predicts_the_update(registry, deployer, steward, guardian, chain, stewarded, case):
    value, by_steward, delay, setup, key, expected = case
    if setup == "freeze":
        registry.freeze(stewarded, sender=guardian)
    elif setup == "no steward":
        registry.setStewardLimits(stewarded, 0, 0, sender=deployer)
    chain.pending_timestamp = defined_at(registry, stewarded) + delay
    ok, reason = registry.check(key, value, by_steward, block_id="pending")
    assert (ok, reason) == ((False, SELECTORS[expected]) if expected else OK)

    update = registry.stewardSet if by_steward else registry.set
    caller = steward if by_steward else deployer
    if expected is None:
        update(key, value, sender=caller)
        assert registry.get(key) == value
    else:
        with ape.reverts(getattr(registry, expected)):
            update(key, value, sender=caller)
