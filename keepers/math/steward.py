"""The risk steward's functional core: from chain reads to bounded parameter moves (pure).

`recommend` turns what the steward job read (each collateral's oracle rounds, the liquidity the
issuer or market offers for it, the book's health distribution, bad debt and utilization) into a
target value for every risk knob it manages:

- `lend.liqThresholdBps.<c>`: a position at the threshold must survive a `z`-sigma price fall
  over the time a liquidation takes (`liquidation_days` plus the days needed to sell the
  collateral liquidations could seize — per position at most its debt × (1 + bonus) — at the
  issuer's daily limit), bonus included:
  `threshold × (1 + bonus) ≤ 1 − max(z·σ·√h, jump_fall)` — `jump_fall` the gap (a fall
  within hours, no warning in the volatility) a position at the threshold must survive; with
  `jump_threshold` False the gap bounds only the LTV (a new loan at the LTV survives it, bonus
  included) and never lowers the threshold under open positions;
- `lend.ltvBps.<c>`: the threshold less a `z`-sigma fall over `borrow_buffer_days` (a new loan
  at the LTV is not liquidated by ordinary noise), and at least `min_gap_bps` below it;
- a collateral with fewer than `min_rounds` oracle rounds is left alone (no history to judge);
- both tightened by `stress_tighten_bps` when the book is stressed (bad debt, or more than
  `stress_share_bps` of the debt below `stress_health_bps`), and loosened only when calm;
- while the collateral's issuer is gated (`daily_exit` 0) the threshold is held and the LTV
  kept below it (`gate_holds_threshold`; `keepers.math.steward_liquidity`);
- `lend.borrowCap.<c>`: the debt the collateral's daily exit can clear in `cap_exit_days` (the
  debt itself while gated: no new borrowing);
- `lend.rate.slope1Bps`: nudged toward the kink (up above it, down below `kink − band`), and
  at least governance's slope × (1 + `risk_rate_gain` × the debt-weighted share by which the
  live LTVs lie below governance's): less lent against riskier collateral, priced higher; with
  an anchor (`rate_reference_ltv_bps`, `rate_reference_slope1_bps`: the LTVs and slope1 the
  DAO priced together) the premium is measured from the anchor instead, so it is a function of
  the LTVs alone (it neither vanishes when the DAO adopts a cut nor compounds over several),
  and a drafted proposal cutting LTVs carries the slope1 its LTVs price;
- `vault.maxSleeveBps.<s>` of a collateral that is also a sleeve: `sleeve_vol_budget / σ`;
- with `loosen` False, none of the LTVs, thresholds or caps rises above governance's last value
  (the steward only tightens; loosening stays the DAO's).

`plan` splits the targets into what the steward may send now (`ParameterRegistry`'s steward
rule: within [min, max], within `stewardStepBps` of the live value, after `stewardCooldown`,
not frozen) and what only a DAO proposal can do (the target within bounds and governance's own
step), and keeps every linked constraint — LTV < threshold and threshold × (1 + bonus) ≤ 100 %
per collateral — in the final state and after every prefix of the batch (tightening lowers the
LTV before the threshold, loosening raises the threshold first); the registry's rules it plans
against are `keepers.math.steward_rules`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from keepers.math.steward_liquidity import exit_days, gate_targets, is_gated
from keepers.math.steward_rules import (
    BONUS,
    LTV,
    THRESHOLD,
    Link,
    ParamState,
    beyond_steward,
    culprit_of,
    governance_reach,
    link_safe_order,
    link_violations,
    prefix_violation,
    steward_reach,
)

BPS: Final = 10_000
YEAR: Final = 365 * 86_400
DAY: Final = 86_400

BORROW_CAP: Final = "lend.borrowCap."
SLEEVE_CAP: Final = "vault.maxSleeveBps."
SLOPE1: Final = "lend.rate.slope1Bps"
KINK: Final = "lend.rate.kinkBps"

__all__ = [
    "BookRisk",
    "CollateralRisk",
    "Move",
    "ParamState",
    "StewardPlan",
    "StewardSettings",
    "annual_volatility",
    "governance_reach",
    "Link",
    "link_violations",
    "plan",
    "recommend",
    "steward_reach",
]


@dataclass(frozen=True)
class CollateralRisk:
    """One collateral as read: `rounds` its oracle's (updatedAt, answer), oldest first;
    `collateral_value` what liquidations could seize of it (asset units: per position at most
    its debt × (1 + the bonus), `steward_liquidity.seizable_exposure`; never collateral parked
    above that) and `debt` the debt it backs (asset units);
    `daily_exit` the asset value the issuer redeems (or the market absorbs) a day, 0 = gated;
    `sleeve` the vault sleeve holding the same token, if any."""

    name: str
    rounds: tuple[tuple[int, int], ...]
    collateral_value: int
    debt: int
    daily_exit: int
    sleeve: str | None = None


@dataclass(frozen=True)
class BookRisk:
    """The book: cash and debt (asset units), bad debt written off so far, and each borrower's
    (debt, health in bps)."""

    cash: int
    debt: int
    bad_debt: int
    health: tuple[tuple[int, int], ...] = ()

    def utilization_bps(self) -> int:
        total = self.cash + self.debt
        return self.debt * BPS // total if total else 0

    def stressed_share_bps(self, below_bps: int) -> int:
        """Share of the debt whose health is below `below_bps`."""
        if self.debt <= 0:
            return 0
        weak = sum(d for d, h in self.health if h < below_bps)
        return min(BPS, weak * BPS // self.debt)


@dataclass(frozen=True)
class StewardSettings:
    """The steward's model (see the module docstring); chosen on the benchmark's train paths
    (benchmarks/lending_steward)."""

    z: float = 2.33
    liquidation_days: float = 1.0
    borrow_buffer_days: float = 7.0
    min_gap_bps: int = 300
    vol_floor: float = 0.05
    stress_health_bps: int = 11_000
    stress_share_bps: int = 1_500
    stress_tighten_bps: int = 200
    cap_exit_days: float = 10.0
    kink_band_bps: int = 1_000
    rate_gain: float = 1.0
    sleeve_vol_budget: float = 0.03
    min_move_bps: int = 5  # moves smaller than this (of the value) are not worth a transaction
    loosen: bool = True  # False: LTVs, thresholds and caps never rise above governance's values
    min_rounds: int = 8  # fewer oracle rounds than this: the collateral is left alone
    jump_fall: float = 0.0  # the gap a position at the threshold survives (0: volatility only)
    jump_threshold: bool = True  # False: the gap bounds the LTV only, not the threshold
    risk_rate_gain: float = 0.0  # slope1 premium per unit of LTV cut below governance's
    # The premium's anchor: the LTVs (per collateral) and the slope1 the DAO priced together.
    # Set (both), the premium is `rate_reference_slope1_bps` × (1 + gain × the debt-weighted cut
    # of the LTVs below these), a function of the LTVs alone, and a drafted proposal that cuts
    # LTVs carries the slope1 of its own LTVs. Empty (the default): measured from governance's
    # LTV, the premium vanishes when the DAO adopts the cut.
    rate_reference_ltv_bps: tuple[tuple[str, int], ...] = ()  # (collateral, LTV bps) pairs
    rate_reference_slope1_bps: int = 0
    # gated issuer: hold the threshold (steward_liquidity). False here so that a receipt written
    # before the field existed replays as it was decided; the keeper's settings default to True.
    gate_holds_threshold: bool = False


@dataclass(frozen=True)
class Move:
    """One parameter: its live value, the model's target, the steward's reachable value now
    (None: it cannot move it now, `why`), and the value a proposal would set (None: the steward
    reaches the target)."""

    name: str
    current: int
    target: int
    steward: int | None
    proposal: int | None
    why: str = ""


@dataclass(frozen=True)
class StewardPlan:
    """`batch`: (name, value) pairs for one `stewardSetBatch`, in a link-safe order;
    `proposal`: (name, value) pairs beyond the steward's bounds, for a DAO vote; `moves`: every
    parameter considered; `vol`: each collateral's annualised volatility."""

    batch: tuple[tuple[str, int], ...]
    proposal: tuple[tuple[str, int], ...]
    moves: tuple[Move, ...]
    vol: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


# ------------------------------------------------------------------ the model


def annual_volatility(rounds: Sequence[tuple[int, int]], floor: float) -> float:
    """Annualised volatility of log price changes between oracle rounds (time-weighted:
    Σ r² / Σ Δt), at least `floor`. Rounds with no positive price or no elapsed time are
    skipped."""
    points = [(t, p) for t, p in rounds if p > 0]
    squares, years = 0.0, 0.0
    for (t0, p0), (t1, p1) in zip(points, points[1:], strict=False):
        if t1 <= t0:
            continue
        r = math.log(p1 / p0)
        squares += r * r
        years += (t1 - t0) / YEAR
    if years <= 0:
        return floor
    return max(floor, math.sqrt(squares / years))


def _fall(z: float, vol: float, days: float) -> float:
    return min(0.9, z * vol * math.sqrt(max(days, 0.0) / 365.0))


def _clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))


def recommend(
    params: Mapping[str, ParamState],
    collaterals: Sequence[CollateralRisk],
    book: BookRisk,
    s: StewardSettings,
) -> tuple[dict[str, int], dict[str, float]]:
    """Target values (within each parameter's [min, max], links kept) for every managed
    parameter present in `params`, and each collateral's volatility."""
    targets: dict[str, int] = {}
    vols: dict[str, float] = {}
    weak = book.stressed_share_bps(s.stress_health_bps)
    stressed = book.bad_debt > 0 or weak > s.stress_share_bps
    for c in collaterals:
        if sum(1 for _, price in c.rounds if price > 0) < s.min_rounds:
            continue  # too little price history to judge: leave its parameters alone
        vol = annual_volatility(c.rounds, s.vol_floor)
        vols[c.name] = vol
        ltv_p, thr_p = params.get(LTV + c.name), params.get(THRESHOLD + c.name)
        bonus_p = params.get(BONUS + c.name)
        if ltv_p is not None and thr_p is not None and bonus_p is not None:
            bonus = bonus_p.value
            h = s.liquidation_days + exit_days(c.collateral_value, c.daily_exit)
            jump = min(0.9, s.jump_fall)
            fall = max(_fall(s.z, vol, h), jump if s.jump_threshold else 0.0)
            thr = int(BPS * (1.0 - fall) / (1.0 + bonus / BPS))
            ltv = int(thr * (1.0 - _fall(s.z, vol, s.borrow_buffer_days)))
            if not s.jump_threshold:  # a new loan at the LTV survives the gap, bonus included
                ltv = min(ltv, int(BPS * (1.0 - jump) / (1.0 + bonus / BPS)))
            if stressed:
                thr, ltv = thr - s.stress_tighten_bps, ltv - s.stress_tighten_bps
            if s.gate_holds_threshold and is_gated(c.collateral_value, c.daily_exit):
                thr, ltv = gate_targets(thr_p.value, ltv_p.value, ltv, s.min_gap_bps)
            thr_cap = BPS * BPS // (BPS + bonus)  # threshold × (1 + bonus) ≤ 100 %
            thr = _clamp(thr, thr_p.min, min(thr_p.max, thr_cap))
            ltv = _clamp(ltv, ltv_p.min, min(ltv_p.max, thr - s.min_gap_bps))
            if ltv < thr:  # bounds may make the pair infeasible: then leave both alone
                targets[THRESHOLD + c.name], targets[LTV + c.name] = thr, ltv
        cap_p = params.get(BORROW_CAP + c.name)
        if cap_p is not None:
            ltv_bps = targets.get(LTV + c.name, ltv_p.value if ltv_p else 0)
            cap = int(c.daily_exit * s.cap_exit_days * ltv_bps / BPS)
            if c.daily_exit <= 0:
                cap = c.debt  # gated: no new borrowing against it
            targets[BORROW_CAP + c.name] = _clamp(max(cap, c.debt), cap_p.min, cap_p.max)
        sleeve_p = params.get(SLEEVE_CAP + c.sleeve) if c.sleeve else None
        if sleeve_p is not None:
            cap_bps = int(BPS * min(1.0, s.sleeve_vol_budget / vol))
            targets[sleeve_p.name] = _clamp(cap_bps, sleeve_p.min, sleeve_p.max)
    if not s.loosen:  # tighten only: governance's last values are ceilings
        for name in targets:
            if name.startswith((LTV, THRESHOLD, BORROW_CAP, SLEEVE_CAP)):
                targets[name] = min(targets[name], params[name].governance_value)
    slope, kink = params.get(SLOPE1), params.get(KINK)
    if slope is not None and kink is not None and book.cash + book.debt > 0:
        u, k = book.utilization_bps(), kink.value
        gap = u - k if u > k else min(0, u - (k - s.kink_band_bps))
        if gap and k:
            scaled = int(slope.value * (1.0 + s.rate_gain * gap / k))
            targets[SLOPE1] = _clamp(scaled, slope.min, slope.max)
        if _anchored(s):
            floor = _clamp(priced_slope1(s, params, collaterals), slope.min, slope.max)
            targets[SLOPE1] = max(targets.get(SLOPE1, slope.value), floor)
        elif s.risk_rate_gain > 0 and (cut := _ltv_cut(params, collaterals)) > 0:
            premium = int(slope.governance_value * (1.0 + s.risk_rate_gain * cut))
            floor = _clamp(premium, slope.min, slope.max)
            targets[SLOPE1] = max(targets.get(SLOPE1, slope.value), floor)
    return targets, vols


def _anchored(s: StewardSettings) -> bool:
    return (
        s.risk_rate_gain > 0 and s.rate_reference_slope1_bps > 0 and bool(s.rate_reference_ltv_bps)
    )


def priced_slope1(
    s: StewardSettings,
    params: Mapping[str, ParamState],
    collaterals: Sequence[CollateralRisk],
    ltvs: Mapping[str, int] | None = None,
) -> int:
    """The anchored premium (`rate_reference_*`): the reference slope1 × (1 + gain × the
    debt-weighted share by which the LTVs — `ltvs` where it names them, else the live ones — lie
    below their references). Collaterals without a reference or debt count as no cut."""
    weighted, debt = 0.0, 0
    for c in collaterals:
        p = params.get(LTV + c.name)
        if p is None or c.debt <= 0:
            continue
        ref = dict(s.rate_reference_ltv_bps).get(c.name, 0)
        ltv = (ltvs or {}).get(p.name, p.value)
        weighted += c.debt * (max(0.0, (ref - ltv) / ref) if ref > 0 else 0.0)
        debt += c.debt
    cut = weighted / debt if debt else 0.0
    return int(s.rate_reference_slope1_bps * (1.0 + s.risk_rate_gain * cut))


def _ltv_cut(params: Mapping[str, ParamState], collaterals: Sequence[CollateralRisk]) -> float:
    """The debt-weighted share by which the live LTVs lie below governance's (0 when none
    does, or there is no debt)."""
    weighted, debt = 0.0, 0
    for c in collaterals:
        p = params.get(LTV + c.name)
        if p is None or p.governance_value <= 0 or c.debt <= 0:
            continue
        weighted += c.debt * max(0.0, (p.governance_value - p.value) / p.governance_value)
        debt += c.debt
    return weighted / debt if debt else 0.0


def plan(
    params: Mapping[str, ParamState],
    collaterals: Sequence[CollateralRisk],
    book: BookRisk,
    s: StewardSettings,
    now: int,
    links: Sequence[Link] = (),
) -> StewardPlan:
    """The steward's batch and the proposal beyond it (see the module docstring); `links`: the
    registry's declared links, kept like the by-name ones."""
    targets, vols = recommend(params, collaterals, book, s)
    live = {n: p.value for n, p in params.items()}
    notes: list[str] = []
    moves: dict[str, Move] = {}
    for name in sorted(targets):
        p, target = params[name], targets[name]
        reach, why = steward_reach(p, target, now)
        if reach is not None and abs(reach - p.value) * BPS < s.min_move_bps * max(p.value, 1):
            reach, why = None, "move too small" if target != p.value else "at target"
        proposal = None
        if beyond_steward(p, target):  # no steward move, however long it waits, gets there
            gov = governance_reach(p, target)
            proposal = gov if gov != (reach if reach is not None else p.value) else None
        moves[name] = Move(name, p.value, target, reach, proposal, why)

    batch = {
        n: m.steward for n, m in moves.items() if m.steward is not None and m.steward != m.current
    }
    # links: a pair the steward cannot keep linked is left out (current values are linked)
    while True:
        final = {**live, **batch}
        was = link_violations(live, links)
        broken = [v for v in link_violations(final, links) if v not in was]
        culprit = culprit_of(broken[0], batch) if broken else None
        if culprit is None:
            violation = prefix_violation(link_safe_order(batch, live), live, links)
            culprit = culprit_of(violation, batch) if violation else None
            if culprit is None:
                break
        notes.append(f"{culprit}: steward move left out to keep links")
        m = moves[culprit]
        moves[culprit] = Move(culprit, m.current, m.target, None, m.proposal, "link")
        del batch[culprit]
    proposal = {n: m.proposal for n, m in moves.items() if m.proposal is not None}
    if _anchored(s) and SLOPE1 in params and any(n.startswith(LTV) for n in proposal):
        # the LTV cut the DAO is asked for comes priced: slope1 at the proposal's LTVs
        slope = params[SLOPE1]
        priced = governance_reach(slope, priced_slope1(s, params, collaterals, proposal))
        if priced > max(slope.governance_value, proposal.get(SLOPE1, 0)):
            proposal[SLOPE1] = priced
    after = {**live, **batch, **proposal}
    for v in link_violations(after, links):
        if v not in link_violations(live, links):
            notes.append(f"proposal dropped: {v}")
            proposal = {}
            break
    return StewardPlan(
        batch=tuple(link_safe_order(batch, live)),
        proposal=tuple(link_safe_order(proposal, {**live, **batch})),
        moves=tuple(moves.values()),
        vol=vols,
        notes=tuple(notes),
    )
