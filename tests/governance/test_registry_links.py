"""ParameterRegistry links: constraints between parameters, declared by governance, enforced on
every `set`, `stewardSet`, `setBatch` and `stewardSetBatch`; `check` and `checkBatch` report them.

The parameters mirror the lending book and the vault (gold's LTV, liquidation threshold and
bonus, the idle buffer and two sleeve caps), linked as deploy links them."""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

DAY = 86_400
LESS_THAN, PRODUCT, SUM, RATIO = 1, 2, 3, 4
LTV, THR, BONUS = (
    keccak(text=f"lend.{n}.gold") for n in ("ltvBps", "liqThresholdBps", "liqBonusBps")
)
IDLE = keccak(text="vault.idleBufferBps")
CAP_A, CAP_B = keccak(text="vault.maxSleeveBps.a"), keccak(text="vault.maxSleeveBps.b")
ALL = (LTV, THR, BONUS, IDLE, CAP_A, CAP_B)
LINK_VIOLATED = keccak(text="LinkViolated(bytes32,bytes32,uint8)")[:4]
NO_LINK = 2**256 - 1
RATIONALE, URI = keccak(text="why"), "ipfs://why"


@ape.fixture(scope="session", chain_isolation=False)
def steward(accounts):
    return accounts[1]


@pytest.fixture(scope="module")
def registry(project, deployer, steward):
    registry = deployer.deploy(project.ParameterRegistry, deployer)
    registry.grantRole(registry.STEWARD_ROLE(), steward, sender=deployer)
    return registry


def define_all(registry, deployer):
    """gold: LTV 8900 < threshold 9000; 9000 x (1 + 10 %) = 9900 <= 100 %; idle 500 + caps
    6000 + 3550 = 10 050 >= 100 %. Governance: 25 % steps, no cooldown; steward: 2 % every
    3 days."""
    for name, value, lo, hi in (
        ("lend.ltvBps.gold", 8_900, 0, 9_500), ("lend.liqThresholdBps.gold", 9_000, 5_000, 9_500),
        ("lend.liqBonusBps.gold", 1_000, 100, 3_000), ("vault.idleBufferBps", 500, 100, 5_000),
        ("vault.maxSleeveBps.a", 6_000, 0, 9_000), ("vault.maxSleeveBps.b", 3_550, 0, 9_000),
    ):  # fmt: skip
        key = registry.defineParameter(name, value, lo, hi, 2_500, 0, sender=deployer).return_value
        registry.setStewardLimits(key, 200, 3 * DAY, sender=deployer)


@pytest.fixture
def linked(registry, deployer, chain):
    """The six parameters and links 0 (LTV < threshold), 1 (threshold x (1 + bonus) <= 100 %),
    2 (idle + caps >= 100 %); the next transaction runs when the steward may move them all."""
    define_all(registry, deployer)
    registry.addLink(LESS_THAN, [LTV, THR], 0, sender=deployer)
    registry.addLink(PRODUCT, [THR, BONUS], 10_000, sender=deployer)
    registry.addLink(SUM, [IDLE, CAP_A, CAP_B], 10_000, sender=deployer)
    chain.pending_timestamp = registry.getParam(CAP_B).lastUpdate + 3 * DAY
    return registry


def live(registry):
    return [registry.get(k) for k in ALL]


BEFORE = [8_900, 9_000, 1_000, 500, 6_000, 3_550]

# (who, key, value, link id, LinkViolated arguments): every value is within its bounds and its
# step, so the link is the only rule broken.
BREAKS = {
    "ltv up to threshold (governance)": (False, LTV, 9_000, 0, (LTV, THR, LESS_THAN)),
    "ltv up to threshold (steward)": (True, LTV, 9_000, 0, (LTV, THR, LESS_THAN)),
    "threshold down to ltv (governance)": (False, THR, 8_900, 0, (LTV, THR, LESS_THAN)),
    "threshold down to ltv (steward)": (True, THR, 8_850, 0, (LTV, THR, LESS_THAN)),
    "bonus too large for threshold (governance)": (False, BONUS, 1_200, 1, (THR, BONUS, PRODUCT)),
    "threshold too large for bonus (steward)": (True, THR, 9_100, 1, (THR, BONUS, PRODUCT)),
    "cap cut below feasibility (governance)": (False, CAP_B, 3_400, 2, (IDLE, CAP_B, SUM)),
    "cap cut below feasibility (steward)": (True, CAP_B, 3_479, 2, (IDLE, CAP_B, SUM)),
    "other cap cut (steward)": (True, CAP_A, 5_880, 2, (IDLE, CAP_A, SUM)),
    "idle buffer cut below feasibility (governance)": (False, IDLE, 400, 2, (IDLE, CAP_A, SUM)),
}


def send(registry, who, keys, values, entry, deployer, steward):
    if entry == "single":
        (key,), (value,) = keys, values
        if who:
            return registry.stewardSet(key, value, sender=steward)
        return registry.set(key, value, sender=deployer)
    if who:
        return registry.stewardSetBatch(keys, values, RATIONALE, URI, sender=steward)
    return registry.setBatch(keys, values, sender=deployer)


@pytest.mark.parametrize("entry", ["single", "batch"])
@pytest.mark.parametrize("case", list(BREAKS))
def test_each_link_is_refused_on_every_update_path(linked, deployer, steward, case, entry):
    who, key, value, link, (a, b, rule) = BREAKS[case]
    # the pre-checks see it first, naming the link
    assert linked.check(key, value, who, block_id="pending") == (False, LINK_VIOLATED)
    assert linked.checkBatch([key], [value], who, block_id="pending") == (
        False,
        LINK_VIOLATED,
        a,
        link,
    )
    got = linked.getLink(link)
    assert (got.rule, [bytes(k) for k in got.keys][:1]) == (rule, [a])

    with ape.reverts(linked.LinkViolated, a=a, b=b, rule=rule):
        send(linked, who, [key], [value], entry, deployer, steward)
    assert live(linked) == BEFORE


# Batches that make a move legal by moving the linked parameter with it (each entry within its
# own step from the value before the batch).
FOLLOWS = {
    "ltv and threshold up together (governance)": (False, [LTV, THR], [9_000, 9_050]),
    "threshold and ltv down together (steward)": (True, [THR, LTV], [8_850, 8_800]),
    "bonus up, threshold and ltv down (governance)": (
        False,
        [BONUS, THR, LTV],
        [1_200, 8_900, 8_800],
    ),
    "one cap down, the other up (steward)": (True, [CAP_B, CAP_A], [3_479, 6_120]),
    "idle down, a cap up (governance)": (False, [IDLE, CAP_A], [400, 6_100]),
}


@pytest.mark.parametrize("case", list(FOLLOWS))
def test_a_batch_moves_linked_parameters_together(linked, deployer, steward, case):
    who, keys, values = FOLLOWS[case]
    assert linked.checkBatch(keys, values, who, block_id="pending") == (
        True,
        b"\x00" * 4,
        b"\x00" * 32,
        NO_LINK,
    )
    send(linked, who, keys, values, "batch", deployer, steward)
    assert [linked.get(k) for k in keys] == values


def test_links_are_checked_on_the_values_after_the_batch(linked, deployer, steward):
    # alone, each entry keeps LTV below the threshold; together they cross
    for key, value in ((LTV, 8_950), (THR, 8_940)):
        assert linked.check(key, value, False, block_id="pending") == (True, b"\x00" * 4)
    assert linked.checkBatch([LTV, THR], [8_950, 8_940], False, block_id="pending")[:2] == (
        False,
        LINK_VIOLATED,
    )
    with ape.reverts(linked.LinkViolated, a=LTV, b=THR, rule=LESS_THAN):
        linked.setBatch([LTV, THR], [8_950, 8_940], sender=deployer)
    assert live(linked) == BEFORE


def test_value_rules_come_before_links(linked, deployer):
    # LTV 9600 is out of bounds and above the threshold: the bound is reported
    with ape.reverts(linked.OutOfBounds, key=LTV, value=9_600, min=0, max=9_500):
        linked.set(LTV, 9_600, sender=deployer)


def test_set_bounds_cannot_move_a_value_across_a_link(linked, deployer):
    """New LTV bounds [9 200, 9 500] would move LTV 8 900 to 9 200, above the 9 000 threshold:
    the move a setBounds makes is checked like any update. Nothing changes; with the threshold
    (and the bonus, for the other link) moved first, it passes."""
    with ape.reverts(linked.LinkViolated, a=LTV, b=THR, rule=LESS_THAN):
        linked.setBounds(LTV, 9_200, 9_500, 2_500, 0, sender=deployer)
    assert (live(linked), linked.getParam(LTV).min) == (BEFORE, 0)
    linked.setBatch([THR, BONUS], [9_300, 750], sender=deployer)  # 9 300 x 1.075 <= 100 %
    linked.setBounds(LTV, 9_200, 9_500, 2_500, 0, sender=deployer)
    assert linked.get(LTV) == 9_200


def test_add_link_validates_and_records(registry, deployer):
    define_all(registry, deployer)
    with ape.reverts(registry.InvalidLink, rule=0, keys=2):
        registry.addLink(0, [LTV, THR], 0, sender=deployer)
    with ape.reverts(registry.InvalidLink, rule=LESS_THAN, keys=3):
        registry.addLink(LESS_THAN, [LTV, THR, BONUS], 0, sender=deployer)
    with ape.reverts(registry.InvalidLink, rule=SUM, keys=1):
        registry.addLink(SUM, [IDLE], 100, sender=deployer)
    with ape.reverts(registry.DuplicateKey, key=CAP_A):
        registry.addLink(SUM, [IDLE, CAP_A, CAP_A], 10_000, sender=deployer)
    unknown = keccak(text="never.defined")
    with ape.reverts(registry.UnknownParameter, key=unknown):
        registry.addLink(LESS_THAN, [LTV, unknown], 0, sender=deployer)
    # a link must hold when declared: threshold < LTV does not
    with ape.reverts(registry.LinkViolated, a=THR, b=LTV, rule=LESS_THAN):
        registry.addLink(LESS_THAN, [THR, LTV], 0, sender=deployer)
    with ape.reverts(registry.LinkViolated, a=IDLE, b=CAP_A, rule=SUM):
        registry.addLink(SUM, [IDLE, CAP_A, CAP_B], 10_051, sender=deployer)
    assert registry.linkCount() == 0

    receipt = registry.addLink(SUM, [IDLE, CAP_A, CAP_B], 10_050, sender=deployer)  # exactly met
    assert receipt.return_value == 0
    (event,) = receipt.events.filter(registry.LinkAdded)
    assert (event.id, event.rule, event.bound) == (0, SUM, 10_050)
    link = registry.getLink(0)
    assert (link.rule, [bytes(k) for k in link.keys], link.bound) == (
        SUM,
        [IDLE, CAP_A, CAP_B],
        10_050,
    )
    assert [registry.linksOf(k) for k in (IDLE, CAP_A, CAP_B, LTV)] == [[0], [0], [0], []]
    with ape.reverts(registry.UnknownLink, id=1):
        registry.getLink(1)


def test_removed_link_is_no_longer_enforced(linked, deployer, steward):
    with ape.reverts(linked.AccessControlUnauthorizedAccount, account=steward.address,
                     neededRole=linked.GOVERNANCE_ROLE()):  # fmt: skip
        linked.removeLink(0, sender=steward)
    with ape.reverts(linked.AccessControlUnauthorizedAccount, account=steward.address,
                     neededRole=linked.GOVERNANCE_ROLE()):  # fmt: skip
        linked.addLink(LESS_THAN, [LTV, THR], 0, sender=steward)

    receipt = linked.removeLink(0, sender=deployer)
    assert [e.id for e in receipt.events.filter(linked.LinkRemoved)] == [0]
    assert linked.getLink(0).rule == 0
    linked.set(LTV, 9_000, sender=deployer)  # LTV == threshold: no longer refused
    with ape.reverts(linked.UnknownLink, id=0):
        linked.removeLink(0, sender=deployer)
    with ape.reverts(linked.UnknownLink, id=3):
        linked.removeLink(3, sender=deployer)
    # the other links still hold sway
    with ape.reverts(linked.LinkViolated, a=THR, b=BONUS, rule=PRODUCT):
        linked.set(BONUS, 1_200, sender=deployer)


def test_product_link_is_exact_at_the_edge_and_for_huge_values(registry, deployer):
    top = 2**256 - 2
    a = registry.defineParameter("x.a", 0, 0, top, 0, 0, sender=deployer).return_value
    b = registry.defineParameter("x.b", 0, 0, top, 0, 0, sender=deployer).return_value
    registry.addLink(PRODUCT, [a, b], 10_000, sender=deployer)
    registry.set(b, top, sender=deployer)  # 0 x anything fits
    with ape.reverts(registry.LinkViolated, a=a, b=b, rule=PRODUCT):
        registry.set(a, 1, sender=deployer)
    registry.setBatch(
        [b, a], [2_500, 8_000], sender=deployer
    )  # 8000 x 1.25 = 10 000: exactly 100 %
    with ape.reverts(registry.LinkViolated, a=a, b=b, rule=PRODUCT):
        registry.set(b, 2_501, sender=deployer)
    s = registry.defineParameter("x.s", top, 0, top, 0, 0, sender=deployer).return_value
    registry.addLink(SUM, [s, a, b], top, sender=deployer)  # summing huge values cannot overflow
    registry.set(b, 0, sender=deployer)


def test_ratio_link_bounds_a_window_by_its_cooldowns(registry, deployer, steward):
    """RATIO_AT_MOST, as deploy links the evaluation window to the rebalance cooldown (at most
    120 decisions inside one window): whatever bounds governance sets, a window beyond 120
    cooldowns is refused, by either side's move, and both may move together."""
    window = registry.defineParameter("agent.evalWindow", 400_000, DAY, 30 * DAY, 2_500, 0,
                                      sender=deployer).return_value  # fmt: skip
    cooldown = registry.defineParameter("vault.rebalanceCooldown", 3_600, 600, DAY, 2_500, 0,
                                        sender=deployer).return_value  # fmt: skip
    with ape.reverts(registry.InvalidLink, rule=RATIO, keys=3):
        registry.addLink(RATIO, [window, cooldown, LTV], 120, sender=deployer)
    with ape.reverts(registry.LinkViolated, a=window, b=cooldown, rule=RATIO):
        registry.addLink(RATIO, [window, cooldown], 111, sender=deployer)  # 400,000 > 399,600
    link = registry.addLink(RATIO, [window, cooldown], 120, sender=deployer).return_value

    with ape.reverts(registry.LinkViolated, a=window, b=cooldown, rule=RATIO):
        registry.set(window, 120 * 3_600 + 1, sender=deployer)
    registry.set(window, 120 * 3_600, sender=deployer)  # exactly 120 cooldowns
    assert registry.checkBatch([cooldown], [3_599], False, block_id="pending") == (
        False, LINK_VIOLATED, window, link
    )  # fmt: skip
    with ape.reverts(registry.LinkViolated, a=window, b=cooldown, rule=RATIO):
        registry.set(cooldown, 3_599, sender=deployer)
    # New bounds do not lift it: the link reads the live values.
    registry.setBounds(cooldown, 60, DAY, 2_500, 0, sender=deployer)
    with ape.reverts(registry.LinkViolated, a=window, b=cooldown, rule=RATIO):
        registry.set(cooldown, 2_700, sender=deployer)
    registry.setBatch([window, cooldown], [324_000, 2_700], sender=deployer)  # both together
    assert (registry.get(window), registry.get(cooldown)) == (324_000, 2_700)


def test_ratio_link_is_exact_for_huge_values(registry, deployer):
    top = 2**256 - 2  # the largest value a parameter may hold
    a = registry.defineParameter("x.a", 0, 0, top, 0, 0, sender=deployer).return_value
    b = registry.defineParameter("x.b", 1, 0, top, 0, 0, sender=deployer).return_value
    registry.addLink(RATIO, [a, b], 2**256 - 1, sender=deployer)  # bound x b overflows 256 bits
    registry.set(a, top, sender=deployer)  # top <= (2^256 - 1) x 1
    registry.set(b, top, sender=deployer)  # a product in 512 bits
    with ape.reverts(registry.LinkViolated, a=a, b=b, rule=RATIO):
        registry.set(b, 0, sender=deployer)  # top > bound x 0
