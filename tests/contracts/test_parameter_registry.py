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
MAX_FREEZE = keccak(text="registry.maxFreezePeriod")
FREEZE = 5 * DAY  # registry.maxFreezePeriod in these tests (see `freezable`)


@ape.fixture(scope="session", chain_isolation=False)
def steward(accounts):
    return accounts[1]


@ape.fixture(scope="session", chain_isolation=False)
def guardian(accounts):
    return accounts[2]


@ape.fixture(scope="session", chain_isolation=False)
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


@pytest.fixture
def freezable(registry, deployer):
    """registry.maxFreezePeriod = 5 days in [1 day, 30 days], any step, no cooldown: freezes
    are possible (and last 5 days)."""
    registry.defineParameter("registry.maxFreezePeriod", FREEZE, DAY, 30 * DAY, 0, 0,
                             sender=deployer)  # fmt: skip
    return MAX_FREEZE


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
    # value, min, max, governanceValue, maxStepBps, cooldown, lastUpdate, lastGovernanceUpdate;
    # no steward, never frozen, exists
    at = receipt.timestamp
    expected = (1_000, 100, 10_000, 1_000, 1_000, DAY, at, at, 0, 0, 0, True)
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


def test_a_steward_update_does_not_restart_the_governance_cooldown(
    registry, deployer, steward, chain, stewarded
):
    """Governance's cooldown runs from its own last update (here the definition), so it may set
    the very second after a steward move."""
    start = defined_at(registry, stewarded)
    chain.pending_timestamp = start + 3 * DAY
    stewarded_at = registry.stewardSet(stewarded, 990, sender=steward).timestamp

    chain.pending_timestamp = stewarded_at + 1
    assert registry.check(stewarded, 1_000, False, block_id="pending") == OK
    receipt = registry.set(stewarded, 1_000, sender=deployer)
    assert only_event(receipt, registry.ParameterSet) == dict(
        key=stewarded, oldValue=990, newValue=1_000, by=deployer.address
    )
    param = registry.getParam(stewarded)
    assert (param.lastUpdate, param.lastGovernanceUpdate) == (receipt.timestamp,) * 2


def test_governance_cooldown_counts_only_governance_updates(
    registry, deployer, steward, chain, stewarded
):
    start = defined_at(registry, stewarded)
    chain.pending_timestamp = start + DAY
    governed_at = registry.set(stewarded, 1_050, sender=deployer).timestamp
    chain.pending_timestamp = governed_at + 3 * DAY
    registry.stewardSet(stewarded, 1_060, sender=steward)

    chain.pending_timestamp = governed_at + 3 * DAY + 1  # the steward's move restarted nothing
    assert registry.check(stewarded, 1_100, False, block_id="pending") == OK
    registry.set(stewarded, 1_100, sender=deployer)
    chain.pending_timestamp = governed_at + 3 * DAY + 2  # but governance's own update does
    ready = governed_at + 3 * DAY + 1 + DAY
    assert registry.check(stewarded, 1_110, False, block_id="pending") == (
        False, SELECTORS["Cooldown"]
    )  # fmt: skip
    with ape.reverts(registry.Cooldown, key=stewarded, readyAt=ready):
        registry.set(stewarded, 1_110, sender=deployer)


def test_governance_step_is_measured_from_its_own_last_value(
    registry, deployer, steward, chain, stewarded
):
    """The steward moves 1,000 → 980; governance's 10 % step still counts from 1,000: 1,100
    passes (12.2 % of the live 980) and 1,101 is refused naming 1,000 as the reference."""
    chain.pending_timestamp = defined_at(registry, stewarded) + 3 * DAY
    moved_at = registry.stewardSet(stewarded, 980, sender=steward).timestamp
    assert registry.getParam(stewarded).governanceValue == 1_000

    chain.pending_timestamp = moved_at + 1
    assert registry.check(stewarded, 1_101, False, block_id="pending") == (
        False, SELECTORS["StepTooLarge"]
    )  # fmt: skip
    error = registry.StepTooLarge
    with ape.reverts(error, key=stewarded, oldValue=1_000, newValue=1_101, maxStepBps=1_000):
        registry.set(stewarded, 1_101, sender=deployer)
    for value in (900, 1_100):  # both ends of governance's step, around 1,000 not 980
        assert registry.check(stewarded, value, False, block_id="pending") == OK
    registry.set(stewarded, 1_100, sender=deployer)
    param = registry.getParam(stewarded)
    assert (param.value, param.governanceValue) == (1_100, 1_100)


def test_the_steward_waits_its_cooldown_after_a_governance_update(
    registry, deployer, steward, chain, stewarded
):
    chain.pending_timestamp = defined_at(registry, stewarded) + DAY
    governed_at = registry.set(stewarded, 1_050, sender=deployer).timestamp

    chain.pending_timestamp = governed_at + 3 * DAY - 1
    assert registry.check(stewarded, 1_060, True, block_id="pending") == (
        False, SELECTORS["Cooldown"]
    )  # fmt: skip
    with ape.reverts(registry.Cooldown, key=stewarded, readyAt=governed_at + 3 * DAY):
        registry.stewardSet(stewarded, 1_060, sender=steward)
    chain.pending_timestamp = governed_at + 3 * DAY
    assert registry.check(stewarded, 1_060, True, block_id="pending") == OK
    registry.stewardSet(stewarded, 1_060, sender=steward)  # and steps from the live 1,050
    assert registry.getParam(stewarded).governanceValue == 1_050


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
    expected = (1_000, 1_000, 1_000_000, 1_000, 0, 60, start, start, 0, 0, 0, True)
    assert registry.getParam(ltv) == expected

    chain.pending_timestamp = start + 60  # new cooldown, no step limit
    registry.set(ltv, 1_000_000, sender=deployer)
    assert registry.get(ltv) == 1_000_000


@pytest.mark.parametrize(
    "bounds, error, inputs",
    [
        ((500, 499, 0, 0), "InvalidBounds", {"min": 500, "max": 499}),
        ((0, 2**256 - 1, 0, 0), "InvalidBounds", {"min": 0, "max": 2**256 - 1}),
        ((0, 10_000, 10_001, 0), "InvalidStep", {"stepBps": 10_001}),
    ],
)
def test_set_bounds_rejects_invalid_bounds(registry, deployer, ltv, bounds, error, inputs):
    with ape.reverts(getattr(registry, error), **inputs):
        registry.setBounds(ltv, *bounds, sender=deployer)
    assert registry.getParam(ltv).min == 100


@pytest.mark.parametrize(
    "bounds, moved_to, then_set",
    [((100, 1_010), 1_010, 1_005), ((1_030, 5_000), 1_030, 1_050)],
)
def test_set_bounds_moves_a_value_left_outside_to_the_nearest_bound(
    registry, deployer, steward, chain, stewarded, bounds, moved_to, then_set
):
    """The DAO voted new bounds around 1,000; during the timelock the steward stepped to 1,020,
    outside them. The queued setBounds executes all the same: the value goes to the nearest
    new bound (the DAO's range wins), the steward waits its cooldown from there, and governance's
    own history stands, so a `set` next in the proposal is judged as if nobody had moved."""
    start = defined_at(registry, stewarded)
    chain.pending_timestamp = start + 3 * DAY
    registry.stewardSet(stewarded, 1_020, sender=steward)
    receipt = registry.setBounds(stewarded, *bounds, 1_000, DAY, sender=deployer)
    assert [log.event_name for log in receipt.events] == ["ParameterSet", "BoundsSet"]
    assert only_event(receipt, registry.ParameterSet) == dict(
        key=stewarded, oldValue=1_020, newValue=moved_to, by=deployer.address
    )
    p = registry.getParam(stewarded)
    assert (registry.get(stewarded), p.min, p.max) == (moved_to, *bounds)
    assert (p.governanceValue, p.lastGovernanceUpdate) == (1_000, start)
    assert p.lastUpdate == receipt.timestamp
    assert tuple(registry.check(stewarded, moved_to, True)) == (False, SELECTORS["Cooldown"])
    # The proposal's next call, 5 % from governance's own 1,000, holds (its step and cooldown
    # count from governance's history, which the move did not touch).
    registry.set(stewarded, then_set, sender=deployer)
    assert registry.get(stewarded) == then_set


def test_new_bounds_never_leave_governance_unable_to_step_into_them(registry, deployer, chain, ltv):
    """risk.ltv was defined at 1,000 with a 10 % governance step. New bounds [2,000, 3,000] move
    it to 2,000; governance's own last value stays 1,000 but its step counts from that value
    brought into the bounds, 2,000: a 10 % step from there passes, one unit more does not
    (measured from 1,000, every value in the new range would have been refused)."""
    start = defined_at(registry, ltv)
    registry.setBounds(ltv, 2_000, 3_000, 1_000, DAY, sender=deployer)
    assert (registry.get(ltv), registry.getParam(ltv).governanceValue) == (2_000, 1_000)
    chain.pending_timestamp = start + DAY
    assert tuple(registry.check(ltv, 2_201, False, block_id="pending")) == (
        False, SELECTORS["StepTooLarge"]
    )  # fmt: skip
    assert tuple(registry.check(ltv, 2_200, False, block_id="pending")) == OK
    registry.set(ltv, 2_200, sender=deployer)
    assert registry.get(ltv) == 2_200


def test_set_bounds_never_moves_a_value_inside_the_new_range(registry, deployer, ltv):
    start = defined_at(registry, ltv)
    receipt = registry.setBounds(ltv, 1_000, 1_000, 0, 0, sender=deployer)  # exactly on it
    assert [log.event_name for log in receipt.events] == ["BoundsSet"]
    assert registry.getParam(ltv).lastUpdate == start


def test_set_bounds_moving_a_frozen_value_waits_for_the_freeze(
    registry, deployer, guardian, ltv, freezable
):
    """Moving the value is an update: refused while the key is frozen (the proposal unfreezes
    first, or waits for the freeze to end); bounds around the value are not."""
    registry.freeze(ltv, sender=guardian)
    with ape.reverts(registry.ParameterFrozen, key=ltv):
        registry.setBounds(ltv, 2_000, 5_000, 0, 0, sender=deployer)
    registry.setBounds(ltv, 500, 5_000, 0, 0, sender=deployer)
    assert (registry.get(ltv), registry.getParam(ltv).min) == (1_000, 500)
    registry.unfreeze(ltv, sender=deployer)
    registry.setBounds(ltv, 2_000, 5_000, 0, 0, sender=deployer)
    assert registry.get(ltv) == 2_000


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
    registry, deployer, steward, guardian, chain, stewarded, freezable
):
    receipt = registry.freeze(stewarded, sender=guardian)
    frozen_at = receipt.timestamp
    assert only_event(receipt, registry.Frozen) == {
        "key": stewarded, "frozenUntil": frozen_at + FREEZE
    }  # fmt: skip
    assert registry.freezeStatus(stewarded) == (True, frozen_at + FREEZE, frozen_at + 2 * FREEZE)
    chain.pending_timestamp = defined_at(registry, stewarded) + 3 * DAY
    with ape.reverts(registry.ParameterFrozen, key=stewarded):
        registry.set(stewarded, 1_010, sender=deployer)
    with ape.reverts(registry.ParameterFrozen, key=stewarded):
        registry.stewardSet(stewarded, 1_010, sender=steward)

    registry.setBounds(stewarded, 0, 50_000, 0, DAY, sender=deployer)  # bounds still change
    assert registry.getParam(stewarded).max == 50_000

    receipt = registry.unfreeze(stewarded, sender=deployer)
    assert only_event(receipt, registry.Unfrozen) == {"key": stewarded}
    assert registry.getParam(stewarded).frozenUntil == receipt.timestamp
    assert registry.freezeStatus(stewarded) == (
        False, receipt.timestamp, receipt.timestamp + FREEZE
    )  # fmt: skip
    registry.stewardSet(stewarded, 1_010, sender=steward)
    assert registry.get(stewarded) == 1_010


def test_freeze_needs_the_governed_maximum(registry, guardian, ltv):
    """No freeze without a governed end: registry.maxFreezePeriod must be defined."""
    with ape.reverts(registry.UnknownParameter, key=MAX_FREEZE):
        registry.freeze(ltv, sender=guardian)
    assert registry.MAX_FREEZE_PERIOD_KEY() == MAX_FREEZE
    assert registry.freezeStatus(ltv) == (False, 0, 0)


@pytest.mark.parametrize("by_steward", [False, True])
def test_a_freeze_expires_exactly_after_the_governed_maximum(
    registry, deployer, steward, guardian, chain, stewarded, freezable, by_steward
):
    """One second before `frozenUntil` both `check` and the update refuse; at `frozenUntil` both
    pass, without any unfreeze."""
    chain.pending_timestamp = defined_at(registry, stewarded) + 3 * DAY
    until = registry.freeze(stewarded, sender=guardian).timestamp + FREEZE
    update, caller = (registry.stewardSet, steward) if by_steward else (registry.set, deployer)

    chain.pending_timestamp = until - 1
    assert registry.check(stewarded, 1_010, by_steward, block_id="pending") == (
        False, SELECTORS["ParameterFrozen"]
    )  # fmt: skip
    with ape.reverts(registry.ParameterFrozen, key=stewarded):
        update(stewarded, 1_010, sender=caller)

    chain.pending_timestamp = until
    assert registry.check(stewarded, 1_010, by_steward, block_id="pending") == OK
    receipt = update(stewarded, 1_010, sender=caller)
    assert receipt.timestamp == until
    assert registry.get(stewarded) == 1_010
    assert registry.freezeStatus(stewarded) == (False, until, until + FREEZE)


def test_a_freeze_cannot_be_extended_or_renewed_at_once(
    registry, deployer, guardian, chain, ltv, freezable
):
    """While frozen, and for one period after the freeze ends, `freeze` reverts naming the key
    and the moment it may be frozen again; from that moment it passes."""
    frozen_at = registry.freeze(ltv, sender=guardian).timestamp
    until, again = frozen_at + FREEZE, frozen_at + 2 * FREEZE
    for when in (frozen_at + 1, until - 1, until, again - 1):
        chain.pending_timestamp = when
        with ape.reverts(registry.FreezeTooSoon, key=ltv, freezableAt=again):
            registry.freeze(ltv, sender=guardian)
        assert registry.getParam(ltv).frozenUntil == until

    chain.pending_timestamp = again
    receipt = registry.freeze(ltv, sender=guardian)
    assert only_event(receipt, registry.Frozen) == {"key": ltv, "frozenUntil": again + FREEZE}


def test_the_gap_counts_from_an_early_unfreeze_with_the_period_in_force(
    registry, deployer, guardian, chain, ltv, freezable
):
    frozen_at = registry.freeze(ltv, sender=guardian).timestamp
    chain.pending_timestamp = frozen_at + DAY
    lifted_at = registry.unfreeze(ltv, sender=deployer).timestamp
    registry.set(freezable, 2 * DAY, sender=deployer)  # governance shortens the period
    assert registry.freezeStatus(ltv) == (False, lifted_at, lifted_at + 2 * DAY)

    chain.pending_timestamp = lifted_at + 2 * DAY - 1
    with ape.reverts(registry.FreezeTooSoon, key=ltv, freezableAt=lifted_at + 2 * DAY):
        registry.freeze(ltv, sender=guardian)
    chain.pending_timestamp = lifted_at + 2 * DAY
    receipt = registry.freeze(ltv, sender=guardian)
    assert only_event(receipt, registry.Frozen)["frozenUntil"] == lifted_at + 4 * DAY


def test_unfreezing_a_parameter_that_is_not_frozen_changes_nothing(
    registry, deployer, guardian, chain, ltv, freezable
):
    """Never frozen, or its freeze ran out: `unfreeze` neither reverts (a proposal prepared
    during a freeze still executes) nor moves the end of the last freeze (the gap)."""
    receipt = registry.unfreeze(ltv, sender=deployer)
    assert not list(receipt.events.filter(registry.Unfrozen))
    assert registry.getParam(ltv).frozenUntil == 0

    until = registry.freeze(ltv, sender=guardian).timestamp + FREEZE
    chain.pending_timestamp = until + DAY
    receipt = registry.unfreeze(ltv, sender=deployer)
    assert not list(receipt.events.filter(registry.Unfrozen))
    assert registry.freezeStatus(ltv) == (False, until, until + FREEZE)


def test_no_bounds_let_a_freeze_outlast_the_timelocks_grace(
    registry, deployer, guardian, chain, ltv
):
    """A freeze must end while the change queued behind it can still execute: bounds for
    registry.maxFreezePeriod above 60 days (the timelock's 90-day grace less 30) are refused
    when defined and when re-bounded, naming the ceiling; nothing is written."""
    ceiling = 60 * DAY
    with ape.reverts(registry.FreezePeriodTooLong, max=ceiling + 1, ceiling=ceiling):
        registry.defineParameter(
            "registry.maxFreezePeriod", DAY, 0, ceiling + 1, 0, 0, sender=deployer
        )
    with ape.reverts(registry.UnknownParameter, key=MAX_FREEZE):
        registry.get(MAX_FREEZE)

    registry.defineParameter("registry.maxFreezePeriod", ceiling, 0, ceiling, 0, 0,
                             sender=deployer)  # fmt: skip
    with ape.reverts(registry.FreezePeriodTooLong, max=2**80, ceiling=ceiling):
        registry.setBounds(MAX_FREEZE, 0, 2**80, 0, 0, sender=deployer)
    assert registry.getParam(MAX_FREEZE).max == ceiling
    # the ceiling itself is allowed, and a freeze at it ends on time
    receipt = registry.freeze(ltv, sender=guardian)
    assert only_event(receipt, registry.Frozen)["frozenUntil"] == receipt.timestamp + ceiling
    chain.pending_timestamp = receipt.timestamp + ceiling
    registry.set(ltv, 1_010, sender=deployer)
    assert registry.get(ltv) == 1_010


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
    # the steward moved 1,000 -> 980 at 3 days: governance's step and cooldown ignore it,
    # the steward's own cooldown restarted
    (1_100, False, 3 * DAY + 1, "steward moved", LTV, None),
    (900, False, 3 * DAY + 1, "steward moved", LTV, None),
    (1_101, False, 3 * DAY + 1, "steward moved", LTV, "StepTooLarge"),
    (990, True, 3 * DAY + 1, "steward moved", LTV, "Cooldown"),
    (990, True, 6 * DAY, "steward moved", LTV, None),
    (1_000, True, 6 * DAY, "steward moved", LTV, "StepTooLarge"),  # 2 % of 980 is 19
]


@pytest.mark.parametrize(
    "case", CHECK_CASES, ids=lambda c: f"{c[5]}-{'steward' if c[1] else 'gov'}-{c[3]}"
)
def test_check_predicts_the_update(
    registry, deployer, steward, guardian, chain, stewarded, freezable, case
):
    value, by_steward, delay, setup, key, expected = case
    start = defined_at(registry, stewarded)
    if setup == "freeze":
        registry.freeze(stewarded, sender=guardian)
    elif setup == "no steward":
        registry.setStewardLimits(stewarded, 0, 0, sender=deployer)
    elif setup == "steward moved":
        chain.pending_timestamp = start + 3 * DAY
        registry.stewardSet(stewarded, 980, sender=steward)
    chain.pending_timestamp = start + delay
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
