"""The steward's slow path through the real governor: the opt-in posture (keeper.example.yaml:
tighten only, a 40 % gap, the rate premium anchored at the DAO's gold LTV 70 % and slope1 4 %)
moves gold by its own step and drafts the rest, a gold LTV cut that carries the slope1 its LTVs
price. The benchmark (benchmarks/lending_steward) counts drafts the DAO executes with the
registry's rules as keepers.math.steward_rules mirrors them; here the draft is proposed, voted,
queued and executed on the deployed governor, timelock and registry, with a steward move landing
during the timelock, and the premium stays once the DAO has adopted the cut."""

from __future__ import annotations

import math

from ballast.parameters import key_of
from keepers.config import StewardConfig
from keepers.math.steward import SLOPE1, BookRisk, CollateralRisk, plan
from keepers.math.steward_rules import ParamState, steward_reach
from tests.governance_support import Proposal

GOLD_LTV, GOLD_THR = "lend.ltvBps.gold", "lend.liqThresholdBps.gold"
COLLATERALS = ("tbill", "gold", "invoices")
# keeper.example.yaml's opt-in posture, as an operator sets it
POSTURE = StewardConfig(
    loosen=False, z=10, jump_fall=0.4, risk_rate_gain=8,
    rate_reference_ltv_bps={"gold": 7_000}, rate_reference_slope1_bps=400,
).model()  # fmt: skip
USD = 10**6


def managed(registry) -> dict[str, ParamState]:
    """Every lend.* parameter as the steward job reads it (keepers/shell/steward.py)."""
    out = {}
    for key in registry.keys():
        name = registry.nameOf(key)
        if not name.startswith("lend."):
            continue
        p = registry.getParam(key)
        out[name] = ParamState(
            name, p.value, p.min, p.max, p.maxStepBps, p.cooldown, p.governanceValue,
            p.lastGovernanceUpdate, p.stewardStepBps, p.stewardCooldown, p.lastUpdate,
            p.frozenUntil,
        )  # fmt: skip
    return out


def links(registry) -> tuple:
    out = []
    for i in range(registry.linkCount()):
        link = registry.getLink(i)
        out.append((link.rule, tuple(registry.nameOf(k) for k in link.keys), link.bound))
    return tuple(out)


def market(now: int, gold_swing: float) -> tuple[list[CollateralRisk], BookRisk]:
    """Gold swinging by `gold_swing` an hour for two days (tbill and invoices calm), 6M of debt
    against gold, none against the others, the book half lent."""
    rounds = {}
    for name, swing in (("tbill", 0.0005), ("gold", gold_swing), ("invoices", 0.0005)):
        price, rs = 100.0, []
        for i in range(48):
            price *= math.exp(swing if i % 2 else -swing)
            rs.append((now - (48 - i) * 3_600, int(price * 10**8)))
        rounds[name] = tuple(rs)
    debt = {"tbill": 0, "gold": 6_000_000 * USD, "invoices": 0}
    collaterals = [
        CollateralRisk(n, rounds[n], collateral_value=debt[n] * 3 // 2, debt=debt[n],
                       daily_exit=10_000_000 * USD, sleeve=n)
        for n in COLLATERALS
    ]  # fmt: skip
    book = BookRisk(cash=6_000_000 * USD, debt=6_000_000 * USD, bad_debt=0,
                    health=((6_000_000 * USD, 15_000),))  # fmt: skip
    return collaterals, book


def test_a_drafted_ltv_cut_with_its_slope1_executes_and_the_premium_stays(gov, chain, voter):
    reg = gov.registry
    chain.mine(1, deltatime=4 * 86_400)  # past the steward's 3-day cooldown from deployment
    now = chain.blocks.head.timestamp
    collaterals, book = market(now, gold_swing=0.04)
    params = managed(reg)
    assert params[GOLD_LTV].value == 7_000 and params[SLOPE1].value == 400  # the anchor's values
    drafted = plan(params, collaterals, book, POSTURE, now, links(reg))

    # the steward's own step on gold now, the rest drafted: a deeper gold cut (the posture's 5 %
    # volatility floor cuts the calm collaterals too) priced with slope1, within its step
    batch, proposal = dict(drafted.batch), dict(drafted.proposal)
    assert batch[GOLD_LTV] < 7_000
    assert proposal[GOLD_LTV] < batch[GOLD_LTV]
    assert 400 < proposal[SLOPE1] <= 400 * 15_000 // 10_000
    reg.stewardSetBatch([key_of(n) for n in batch], list(batch.values()), b"\x01" * 32,
                        "ipfs://steward", sender=gov.steward)  # fmt: skip
    assert {n: reg.get(key_of(n)) for n in batch} == batch

    # the DAO proposes the draft as one setBatch (as `params propose --from-recommendation`)
    call = (reg, reg.setBatch.encode_input([key_of(n) for n in proposal], list(proposal.values())))
    dao = Proposal(gov, [call], "steward draft: gold LTV cut, priced")
    dao.propose(voter)
    chain.mine(1, deltatime=gov.governor.votingDelay() + 1)
    gov.governor.castVote(dao.id, 1, sender=voter)
    chain.mine(1, deltatime=gov.governor.votingPeriod() + 1)
    dao.queue(voter)

    # during the timelock the steward takes its next step on gold's threshold: steps count from
    # governance's own values, so the queued batch still executes
    ready = reg.getParam(key_of(GOLD_THR)).lastUpdate + 3 * 86_400 + 1
    chain.pending_timestamp = max(ready, chain.blocks.head.timestamp + 1)
    thr = reg.get(key_of(GOLD_THR))
    reg.stewardSet(key_of(GOLD_THR), thr - thr * 65 // 10_000, sender=gov.steward)
    chain.mine(1, deltatime=gov.timelock.getMinDelay() + 1)
    dao.execute(voter)
    assert {n: reg.get(key_of(n)) for n in proposal} == proposal
    adopted = managed(reg)
    assert adopted[SLOPE1].governance_value == proposal[SLOPE1]
    assert adopted[GOLD_LTV].governance_value == proposal[GOLD_LTV]

    # gold calms down. The LTVs stay at or below where the DAO put them (the posture only
    # tightens; its 5 % volatility floor still asks a little more), and their premium is still
    # priced from the LTVs against the anchor (70 %), not against governance's LTVs, which the
    # DAO has just moved to the draft's: the steward keeps raising slope1 toward
    # 4 % x (1 + 8 x the cut below 70 %) by its own step, and the registry takes the batch.
    chain.mine(1, deltatime=4 * 86_400)
    later = chain.blocks.head.timestamp
    calm = plan(adopted, *market(later, gold_swing=0.0005), POSTURE, later, links(reg))
    calm_batch = dict(calm.batch)
    limits = {n: v for n, v in calm_batch.items() if n.startswith(("lend.ltvBps.", "lend.liqThr"))}
    assert limits and all(v <= adopted[n].value for n, v in limits.items())  # only tightened
    premium = int(400 * (1 + 8 * (7_000 - adopted[GOLD_LTV].value) / 7_000))  # live LTVs
    assert premium > proposal[SLOPE1]
    assert calm_batch[SLOPE1] == steward_reach(adopted[SLOPE1], premium, later + 1)[0]
    assert calm_batch[SLOPE1] > proposal[SLOPE1]
    reg.stewardSetBatch([key_of(n) for n in calm_batch], list(calm_batch.values()), b"\x02" * 32,
                        "ipfs://steward-2", sender=gov.steward)  # fmt: skip
    assert {n: reg.get(key_of(n)) for n in calm_batch} == calm_batch
