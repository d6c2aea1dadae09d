"""ParameterRegistry batches: `setBatch` (governance) and `stewardSetBatch` (the steward, with a
rationale). Every entry follows the single-update rules measured from the state before the batch,
all or nothing."""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

DAY = 86_400
LTV = keccak(text="risk.ltv")
CAP = keccak(text="risk.cap")
RATIONALE = keccak(text="rationale document")
URI = "ipfs://rationale"


@ape.fixture(scope="session", chain_isolation=False)
def steward(accounts):
    return accounts[1]


@pytest.fixture(scope="module")
def registry(project, deployer, steward):
    registry = deployer.deploy(project.ParameterRegistry, deployer)
    registry.grantRole(registry.STEWARD_ROLE(), steward, sender=deployer)
    return registry


@pytest.fixture
def params(registry, deployer):
    """risk.ltv = 1000 and risk.cap = 5000: governance steps 10 %, no cooldown; steward steps
    2 % every 3 days."""
    registry.defineParameter("risk.ltv", 1_000, 100, 10_000, 1_000, 0, sender=deployer)
    registry.defineParameter("risk.cap", 5_000, 0, 100_000, 1_000, 0, sender=deployer)
    for key in (LTV, CAP):
        registry.setStewardLimits(key, 200, 3 * DAY, sender=deployer)
    return LTV, CAP


def steward_ready(registry, chain) -> int:
    """The next transaction runs once the steward may move both parameters (defined in two
    blocks, maybe a second apart)."""
    ready = max(registry.getParam(k).lastUpdate for k in (LTV, CAP)) + 3 * DAY
    chain.pending_timestamp = ready
    return ready


def values(registry, *keys):
    return [registry.get(k) for k in keys]


def test_steward_batch_applies_every_entry_and_emits_its_rationale(
    registry, steward, chain, params
):
    steward_ready(registry, chain)
    receipt = registry.stewardSetBatch([LTV, CAP], [1_020, 4_900], RATIONALE, URI, sender=steward)

    assert values(registry, LTV, CAP) == [1_020, 4_900]
    sets = [
        (bytes(e.key), e.oldValue, e.newValue) for e in receipt.events.filter(registry.ParameterSet)
    ]
    assert sets == [(LTV, 1_000, 1_020), (CAP, 5_000, 4_900)]
    (update,) = receipt.events.filter(registry.StewardUpdate)
    assert update.rationaleHash == RATIONALE and update.rationaleURI == URI
    assert [bytes(k) for k in update.keys] == [LTV, CAP] and update["values"] == [1_020, 4_900]
    # the steward's cooldown now runs for both
    assert all(registry.getParam(k).lastUpdate == receipt.timestamp for k in (LTV, CAP))


def test_governance_batch_moves_linked_values_together(registry, deployer, params):
    receipt = registry.setBatch([LTV, CAP], [1_100, 5_500], sender=deployer)
    assert values(registry, LTV, CAP) == [1_100, 5_500]
    for key, value in ((LTV, 1_100), (CAP, 5_500)):
        p = registry.getParam(key)
        assert (p.governanceValue, p.lastGovernanceUpdate) == (value, receipt.timestamp)


def test_a_batch_cannot_walk_a_parameter_in_several_steps(registry, deployer, params):
    # two 10 % steps would reach 1 210; the second names the key again and is refused
    with ape.reverts(registry.DuplicateKey, key=LTV):
        registry.setBatch([LTV, CAP, LTV], [1_100, 5_000, 1_210], sender=deployer)
    assert values(registry, LTV, CAP) == [1_000, 5_000]


def test_steps_are_measured_from_the_values_before_the_batch(registry, steward, chain, params):
    steward_ready(registry, chain)
    # 2 % of 1000 is 20: 1 021 is one too many, whatever else the batch holds
    with ape.reverts(
        registry.StepTooLarge, key=LTV, oldValue=1_000, newValue=1_021, maxStepBps=200
    ):
        registry.stewardSetBatch([CAP, LTV], [5_100, 1_021], RATIONALE, URI, sender=steward)
    assert values(registry, LTV, CAP) == [1_000, 5_000]  # all or nothing: CAP did not move


def test_a_second_steward_batch_waits_for_the_cooldown(registry, steward, chain, params):
    start = steward_ready(registry, chain)
    registry.stewardSetBatch([LTV], [1_020], RATIONALE, URI, sender=steward)
    with ape.reverts(registry.Cooldown, key=LTV, readyAt=start + 3 * DAY):
        registry.stewardSetBatch([LTV], [1_040], RATIONALE, URI, sender=steward)
    assert registry.get(LTV) == 1_020


@pytest.mark.parametrize("batch", [([], []), ([LTV], []), ([LTV, CAP], [1_000])])
def test_malformed_batches_are_refused(registry, deployer, params, batch):
    keys, vals = batch
    with ape.reverts(registry.InvalidBatch, keys=len(keys), values=len(vals)):
        registry.setBatch(keys, vals, sender=deployer)


def test_batches_require_their_roles(registry, deployer, steward, params):
    with ape.reverts(registry.AccessControlUnauthorizedAccount, account=steward.address,
                     neededRole=registry.GOVERNANCE_ROLE()):  # fmt: skip
        registry.setBatch([LTV], [1_010], sender=steward)
    with ape.reverts(registry.AccessControlUnauthorizedAccount, account=deployer.address,
                     neededRole=registry.STEWARD_ROLE()):  # fmt: skip
        registry.stewardSetBatch([LTV], [1_010], RATIONALE, URI, sender=deployer)
    assert registry.get(LTV) == 1_000
