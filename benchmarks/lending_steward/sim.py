"""The lending book under one collateral's price path, with static parameters or the steward.

Hourly steps over a path. The book lends `SUPPLY` against one collateral (gold, the parameters
and steward limits of deployments/config/local.yaml). Borrowers:

- each holds a fixed amount of collateral and wants a debt of `u_i × LTV × value × demand`,
  `u_i` drawn in [0.55, 0.97] (the book's health distribution), `demand` falling with the
  borrow rate (`elasticity` per unit of annual rate above the initial rate, at least 20 %);
  once a day each borrows up to that (within the borrow cap) and, if `active` (`active_share`,
  half of them), repays down to it — the others never repay: only a liquidation de-levers them;
- a position is liquidatable when `debt > value × threshold`; a liquidator repays the close
  factor's share (all of it below `lend.fullCloseHealthBps`) and seizes that much collateral
  plus the bonus, but sells it at most at the issuer's hourly exit (`daily_exit / 24`, 0 while
  the issuer is gated): what it cannot sell it does not liquidate;
- bad debt: debt left on a position with no collateral, plus at the end of the path every
  debt above its collateral's value (marked to market);
- `early_liquidated`: debt repaid by liquidating positions the starting threshold (the DAO's)
  would still call healthy: what a tighter threshold costs borrowers (they pay the bonus).

Interest earned: Σ debt × rate × dt with the book's kinked rate model (`keepers.math.RateModel`).
The steward (`keepers.math.steward.plan`, the keeper's own code) runs every `steward_every`
hours on the last 48 hourly oracle rounds, the exit liquidity (the collateral liquidations could
seize — per position at most its debt × (1 + bonus), `seizable_exposure`, as the keeper counts
it — against the issuer's daily exit), the health distribution, bad debt and utilization; each
batch is checked here against the registry's rules (bounds, steward step from the live value,
cooldown, links: `bound_breaches`, `link_breaches`) before it applies, and costs `batch_gas`
gas (subtracted from interest at `gas_price_gwei` and `eth_price`).

The DAO's slow path (`slow`, a `SlowPath`): what `plan` leaves beyond the steward's bounds (its
`proposal`) is drafted as one proposal when none is in flight and, adopted, executed as drafted
`delay` seconds later (local.yaml's voting delay + voting period + timelock delay); the registry
checks it then as `setBatch` does (bounds, governance's step from its own last value, its
cooldown, the freeze; the links on the values after the batch): a proposal breaking any is
refused whole (`refused_bound`, `refused_link`). With `adopt_every` 2 the DAO votes down every
other proposal (the next one is drafted when the vote ends). Gas: propose + votes, and queue +
execute for an adopted one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from keepers.math import RateModel
from keepers.math.liquidation import effective_bonus_bps
from keepers.math.steward import (
    BookRisk,
    CollateralRisk,
    ParamState,
    StewardSettings,
    governance_reach,
    link_violations,
    plan,
)
from keepers.math.steward_liquidity import seizable_exposure

HOUR = 3_600
BPS = 10_000
USD = 10**6
SUPPLY = 2_500_000 * USD
GOLD = "gold"
MANAGED = (
    "lend.ltvBps.gold", "lend.liqThresholdBps.gold", "lend.liqBonusBps.gold",
    "lend.borrowCap.gold", "vault.maxSleeveBps.gold", "lend.rate.baseBps",
    "lend.rate.slope1Bps", "lend.rate.slope2Bps", "lend.rate.kinkBps",
    "lend.closeFactorBps", "lend.fullCloseHealthBps",
)  # fmt: skip


def local_params() -> dict[str, ParamState]:
    """The managed parameters as deployments/config/local.yaml defines them (at time 0)."""
    from pathlib import Path

    from ballast.config import DeployConfig

    root = Path(__file__).resolve().parents[2]
    config = DeployConfig.load(root / "deployments/config/local.yaml")
    out = {}
    for s in config.parameters:
        if s.name in MANAGED:
            out[s.name] = ParamState(
                s.name, int(s.value), int(s.min), int(s.max), s.step_bps, int(s.cooldown),
                int(s.value), -10**9, s.steward_step_bps, int(s.steward_cooldown), -10**9,
            )  # fmt: skip
    return out


@dataclass(frozen=True)
class Path_:
    """One market path: hourly collateral prices (asset units per token, float) and the
    issuer's daily exit (asset units) each hour (0: gated)."""

    family: str
    prices: np.ndarray
    daily_exit: np.ndarray
    seed: int


@dataclass(frozen=True)
class Borrowers:
    tokens: np.ndarray  # collateral held, tokens
    u: np.ndarray  # target share of the LTV
    active: np.ndarray  # repays down to its target


def borrowers(
    rng: np.random.Generator, price: float, count: int = 300, active_share: float = 0.5
) -> Borrowers:
    value = rng.lognormal(mean=math.log(7_000 * USD), sigma=1.0, size=count)
    u = rng.uniform(0.55, 0.97, count)
    return Borrowers(value / price, u, rng.random(count) < active_share)


@dataclass
class Outcome:
    bad_debt: float = 0.0
    interest: float = 0.0
    gas_cost: float = 0.0
    liquidated: float = 0.0
    early_liquidated: float = 0.0
    updates: int = 0
    bound_breaches: int = 0
    link_breaches: int = 0
    mean_debt: float = 0.0
    slope1_max_bps: int = 0  # the highest `lend.rate.slope1Bps` of the path
    ltv_path: list[int] = field(default_factory=list)
    # the DAO's slow path
    proposals: int = 0  # drafted
    executed: int = 0
    rejected: int = 0  # voted down (`adopt_every`)
    refused_bound: int = 0  # adopted but refused at execution: a bound, step or cooldown
    refused_link: int = 0  # ... or a linked constraint
    dao_gas_cost: float = 0.0
    dao_log: list[tuple[int, int, str]] = field(default_factory=list)  # (drafted, resolved, how)
    # early liquidations below the DAO's threshold of the hour (not local.yaml's): the steward's
    # own; the rest of `early_liquidated` is what the adopted cuts caused
    early_beyond_dao: float = 0.0

    @property
    def net_interest(self) -> float:
        return self.interest - self.gas_cost - self.dao_gas_cost


@dataclass(frozen=True)
class Costs:
    # a gold batch on anvil uses less (tests/keepers/test_steward.py asserts it)
    batch_gas: int = 250_000
    gas_price_gwei: float = 30.0
    eth_price: float = 3_000.0
    steward_every: int = 6  # hours between steward passes
    elasticity: float = 4.0
    active_share: float = 0.5  # borrowers who repay down to their target (the rest never do)


def _local_delay() -> int:
    from pathlib import Path

    from ballast.config import DeployConfig

    g = DeployConfig.load(Path(__file__).resolve().parents[2] / "deployments/config/local.yaml")
    return g.governance.voting_delay + g.governance.voting_period + g.governance.timelock_delay


def _local_vote() -> int:
    from pathlib import Path

    from ballast.config import DeployConfig

    g = DeployConfig.load(Path(__file__).resolve().parents[2] / "deployments/config/local.yaml")
    return g.governance.voting_delay + g.governance.voting_period


@dataclass(frozen=True)
class SlowPath:
    """The DAO adopting the steward's drafted proposals (see the module docstring). Gas: the
    deployed governor's, measured on anvil for a 4-key gold batch voted by local.yaml's three
    holders (tests/benchmarks/test_lending_steward_dao_gas.py asserts these cover it)."""

    delay: int = field(default_factory=_local_delay)  # drafting to execution, seconds
    vote: int = field(default_factory=_local_vote)  # drafting to the vote's end, seconds
    adopt_every: int = 1  # 1: every proposal adopted; 2: every other one voted down
    vote_gas: int = 400_000  # propose + three castVote: 129,637 + 83,411 + 2 × 66,311 measured
    enact_gas: int = 450_000  # queue + execute: 151,337 + 270,190 measured


def _dao_refusal(params: dict[str, ParamState], batch, now: int) -> str | None:
    """Why the registry refuses `batch` as a governance `setBatch` at `now` ("bound", "link")
    or None: every entry against the pre-batch state, the links on the values after it."""
    for name, value in batch:
        p = params[name]
        late = now < p.last_governance_update + p.cooldown or now < p.frozen_until
        if governance_reach(p, value) != value or late:
            return "bound"
    after = {n: p.value for n, p in params.items()} | dict(batch)
    return "link" if link_violations(after) else None


def _registry_breaches(params: dict[str, ParamState], batch, now: int) -> tuple[int, int]:
    """(bound or step or cooldown breaches, link breaches) of `batch` against the registry's
    rules (each entry against the pre-batch state; links after every entry)."""
    bound = 0
    state = {n: p.value for n, p in params.items()}
    before = set(link_violations(state))
    links = 0
    for name, value in batch:
        p = params[name]
        ref = p.value or p.max
        outside = not (p.min <= value <= p.max) or p.steward_step_bps == 0
        too_far = abs(value - p.value) * BPS > ref * p.steward_step_bps
        too_soon = now < p.last_update + p.steward_cooldown or now < p.frozen_until
        if outside or too_far or too_soon:
            bound += 1
        state[name] = value
        links += len(set(link_violations(state)) - before)
    return bound, links


def simulate(
    path: Path_,
    steward: StewardSettings | None,
    costs: Costs = Costs(),
    params: dict[str, ParamState] | None = None,
    slow: SlowPath | None = None,
) -> Outcome:
    """One path under static parameters (`steward` None) or the steward (with `slow`, its
    drafted proposals adopted by the DAO)."""
    params = dict(params or local_params())
    rng = np.random.default_rng(path.seed)
    prices = path.prices
    b = borrowers(rng, float(prices[0]), active_share=costs.active_share)
    n = len(b.tokens)
    tokens = b.tokens.copy()
    debt = np.zeros(n)
    out = Outcome()
    r0 = None
    gov_thr = params["lend.liqThresholdBps.gold"].governance_value / BPS
    hours = len(prices)
    debt_sum = 0.0
    pending = None  # (batch, due, adopted, drafted) of the proposal in flight
    gas_usd = costs.gas_price_gwei * 1e-9 * costs.eth_price * USD
    for t in range(hours):
        now = t * HOUR
        price = float(prices[t])
        if pending is not None and slow is not None and now >= pending[1]:
            batch, _, adopted, drafted = pending
            pending, refusal = None, "rejected"
            if adopted:
                out.dao_gas_cost += slow.enact_gas * gas_usd
                refusal = _dao_refusal(params, batch, now)
                if refusal is None:
                    out.executed += 1
                    for name, new in batch:
                        params[name] = replace(
                            params[name], value=new, governance_value=new,
                            last_update=now, last_governance_update=now,
                        )  # fmt: skip
                elif refusal == "bound":
                    out.refused_bound += 1
                else:
                    out.refused_link += 1
            else:
                out.rejected += 1
            out.dao_log.append((drafted, now, refusal or "executed"))
        v = {k: p.value for k, p in params.items()}
        out.slope1_max_bps = max(out.slope1_max_bps, v["lend.rate.slope1Bps"])
        model = RateModel(v["lend.rate.baseBps"], v["lend.rate.slope1Bps"],
                          v["lend.rate.slope2Bps"], v["lend.rate.kinkBps"])  # fmt: skip
        total = float(debt.sum())
        cash = max(SUPPLY - total, 0.0)
        rate = model.borrow_rate(int(cash), int(total)) / 1e18
        if r0 is None:
            r0 = max(rate, 0.02)
        interest = debt * rate / (365 * 24)
        debt += interest
        out.interest += float(interest.sum())
        value = tokens * price
        # borrowers adjust once a day
        if t % 24 == 0:
            demand = max(0.2, 1.0 - costs.elasticity * max(0.0, rate - r0))
            want = b.u * v["lend.ltvBps.gold"] / BPS * value * demand
            room = max(0.0, v["lend.borrowCap.gold"] - float(debt.sum()))
            room = min(room, max(0.0, SUPPLY - float(debt.sum())))
            extra = np.clip(want - debt, 0.0, None)
            if extra.sum() > room and extra.sum() > 0:
                extra *= room / extra.sum()
            debt += extra
            repay = np.where(b.active & (debt > want * 1.1), debt - want, 0.0)
            debt -= repay
        # liquidations within the hour's exit capacity
        capacity = float(path.daily_exit[t]) / 24
        thr, bonus = v["lend.liqThresholdBps.gold"] / BPS, v["lend.liqBonusBps.gold"] / BPS
        dao_thr = params["lend.liqThresholdBps.gold"].governance_value / BPS
        unhealthy = np.nonzero((debt > value * thr) & (debt > 0))[0]
        if len(unhealthy) and capacity > 0:
            worst_first = np.argsort(debt[unhealthy] / np.maximum(value[unhealthy], 1e-9))[::-1]
            order = unhealthy[worst_first]
            for i in order:
                if capacity <= 0:
                    break
                health = value[i] * thr / debt[i]
                full = health < v["lend.fullCloseHealthBps"] / BPS
                share = 1.0 if full else v["lend.closeFactorBps"] / BPS
                repay = min(debt[i] * share, value[i] / (1 + bonus), capacity / (1 + bonus))
                seized = repay * (1 + bonus) / price
                tokens[i] -= seized
                debt[i] -= repay
                capacity -= repay * (1 + bonus)
                out.liquidated += repay
                if debt[i] + repay <= value[i] * gov_thr:
                    out.early_liquidated += repay
                if debt[i] + repay <= value[i] * dao_thr:
                    out.early_beyond_dao += repay
                if tokens[i] <= 1e-12 and debt[i] > 0:  # nothing left: the rest is bad debt
                    out.bad_debt += debt[i]
                    debt[i] = 0.0
                    tokens[i] = 0.0
            value = tokens * price
        debt_sum += float(debt.sum())
        # the steward
        if steward is not None and t % costs.steward_every == 0 and t >= 48:
            rounds = tuple(
                (int((t - 47 + k) * HOUR), int(prices[t - 47 + k] * 1e8)) for k in range(48)
            )
            with_debt = debt > 0
            health = tuple(
                (int(d), int(min(10**9, val * thr * BPS / d)))
                for d, val in zip(debt[with_debt], value[with_debt], strict=True)
            )
            book = BookRisk(int(cash), int(debt.sum()), int(out.bad_debt), health)
            # what liquidations could seize, as the keeper counts it: per position at most its
            # debt × (1 + the effective bonus), never the collateral above that
            bonus_bps = effective_bonus_bps(
                v["lend.liqBonusBps.gold"], v["lend.liqThresholdBps.gold"]
            )
            exposure = seizable_exposure(
                (int(d), ((GOLD, int(val), bonus_bps),))
                for d, val in zip(debt[with_debt], value[with_debt], strict=True)
            ).get(GOLD, 0)
            coll = CollateralRisk(GOLD, rounds, exposure, int(debt.sum()),
                                  int(path.daily_exit[t]), GOLD)  # fmt: skip
            result = plan(params, [coll], book, steward, now)
            if result.batch:
                bound, links = _registry_breaches(params, result.batch, now)
                out.bound_breaches += bound
                out.link_breaches += links
                for name, new in result.batch:
                    params[name] = replace(params[name], value=new, last_update=now)
                out.updates += 1
                out.gas_cost += costs.batch_gas * gas_usd
            if slow is not None and pending is None and result.proposal:
                adopted = out.proposals % slow.adopt_every == 0
                due = now + (slow.delay if adopted else slow.vote)
                pending = (result.proposal, due, adopted, now)
                out.proposals += 1
                out.dao_gas_cost += slow.vote_gas * gas_usd
        if t % 24 == 0:
            out.ltv_path.append(params["lend.ltvBps.gold"].value)
    final = tokens * float(prices[-1])
    out.bad_debt += float(np.clip(debt - final, 0.0, None).sum())
    out.mean_debt = debt_sum / hours
    return out
