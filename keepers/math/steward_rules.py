"""The parameter registry's rules, as the risk steward plans against them (pure): a parameter's
state as `getParam` returns it (`ParamState`), how far a `stewardSet` or a governance `set` may
move it (`steward_reach`, `governance_reach`: bounds, step from the live or the last governance
value, cooldown, freeze), and the linked constraints (`link_violations`: the registry's declared
links, and LTV < threshold and threshold × (1 + bonus) ≤ 100 % by name), with the link-safe order
of a batch and the first prefix of a batch that breaks a link. `keepers.math.steward` builds its
plan on these; `contracts/governance/ParameterRegistry.sol` is what they mirror.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ballast.parameters import LESS_THAN, PRODUCT_WITH_BONUS_AT_MOST, RATIO_AT_MOST, SUM_AT_LEAST
from ballast.params import LinkView, link_holds

BPS: Final = 10_000
LTV: Final = "lend.ltvBps."
THRESHOLD: Final = "lend.liqThresholdBps."
BONUS: Final = "lend.liqBonusBps."

__all__ = [
    "Link",
    "ParamState",
    "beyond_steward",
    "culprit_of",
    "governance_reach",
    "link_safe_order",
    "link_violations",
    "prefix_violation",
    "steward_reach",
]


def _clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))


@dataclass(frozen=True)
class ParamState:
    """One registry parameter as `getParam` returns it (times in seconds)."""

    name: str
    value: int
    min: int
    max: int
    max_step_bps: int
    cooldown: int
    governance_value: int
    last_governance_update: int
    steward_step_bps: int
    steward_cooldown: int
    last_update: int
    frozen_until: int = 0


def steward_reach(p: ParamState, target: int, now: int) -> tuple[int | None, str]:
    """The value nearest `target` a `stewardSet(p, ·)` may set at `now` (the registry's
    `_violation` rule), or None and why not."""
    if now < p.frozen_until:
        return None, "frozen"
    if p.steward_step_bps == 0:
        return None, "steward disabled"
    if now < p.last_update + p.steward_cooldown:
        return None, f"cooldown until {p.last_update + p.steward_cooldown}"
    ref = p.value if p.value else p.max
    step = ref * p.steward_step_bps // BPS
    return _clamp(_clamp(target, p.value - step, p.value + step), p.min, p.max), ""


def beyond_steward(p: ParamState, target: int) -> bool:
    """`target` lies outside the steward's bounds or step from the live value (a cooldown or a
    freeze only delays a move; this no steward move can make)."""
    if p.steward_step_bps == 0:
        return target != p.value
    ref = p.value if p.value else p.max
    step = ref * p.steward_step_bps // BPS
    return not (p.min <= target <= p.max and abs(target - p.value) <= step)


def governance_reach(p: ParamState, target: int) -> int:
    """The value nearest `target` a governance `set` may set (bounds and its step from the last
    governance value brought into the bounds, the registry's `_stepFrom`: new bounds that left
    it outside never leave governance unable to step into them; its cooldown is the proposal's
    delay)."""
    v = _clamp(target, p.min, p.max)
    if p.max_step_bps:
        origin = _clamp(p.governance_value, p.min, p.max)
        ref = origin if origin else p.max
        step = ref * p.max_step_bps // BPS
        v = _clamp(v, origin - step, origin + step)
    return v


Link = tuple[int, tuple[str, ...], int]  # (rule, parameter names, bound) as `getLink` declares


def link_violations(values: Mapping[str, int], links: Sequence[Link] = ()) -> list[str]:
    """Each linked constraint `values` break, in one sentence each: the registry's declared
    `links` (those whose parameters are all in `values`) and, by name, LTV < threshold and
    threshold × (1 + bonus) ≤ 100 % of every collateral."""
    out = []
    for rule, names, bound in links:
        if not all(n in values for n in names):
            continue
        if link_holds(LinkView(rule, tuple(names), bound), values):  # the registry's rule
            continue
        v = [values[n] for n in names]
        if rule == LESS_THAN:
            out.append(f"{names[0]} {v[0]} is not below {names[1]} {v[1]}")
        elif rule == PRODUCT_WITH_BONUS_AT_MOST:
            out.append(f"{names[0]} {v[0]} × (1 + {names[1]} {v[1]}) is above {bound} bps")
        elif rule == SUM_AT_LEAST:
            out.append(f"{' + '.join(names)} = {sum(v)} is below {bound}")
        elif rule == RATIO_AT_MOST:
            out.append(f"{names[0]} {v[0]} is above {bound} × {names[1]} {v[1]}")
    for name, ltv in values.items():
        if not name.startswith(LTV):
            continue
        scope = name.removeprefix(LTV)
        thr = values.get(THRESHOLD + scope)
        if thr is not None and ltv >= thr:
            out.append(f"{name} {ltv} is not below {THRESHOLD + scope} {thr}")
    for name, thr in values.items():
        if not name.startswith(THRESHOLD):
            continue
        scope = name.removeprefix(THRESHOLD)
        bonus = values.get(BONUS + scope)
        if bonus is not None and thr * (BPS + bonus) > BPS * BPS:
            out.append(f"{name} {thr} × (1 + {BONUS + scope} {bonus}) is above 100%")
    return out


def link_safe_order(batch: Mapping[str, int], live: Mapping[str, int]) -> list[tuple[str, int]]:
    """Link-safe order: every decrease of an LTV first, then thresholds, then the rest, then
    increases of LTVs last."""

    def rank(item: tuple[str, int]) -> tuple[int, str]:
        name, value = item
        if name.startswith(LTV):
            return (0 if value < live[name] else 3, name)
        if name.startswith(THRESHOLD):
            return (1, name)
        return (2, name)

    return sorted(batch.items(), key=rank)


def prefix_violation(
    ordered: Sequence[tuple[str, int]], live: Mapping[str, int], links: Sequence[Link]
) -> str | None:
    state = dict(live)
    before = set(link_violations(state, links))
    for name, value in ordered:
        state[name] = value
        new = [v for v in link_violations(state, links) if v not in before]
        if new:
            return new[0]
    return None


def culprit_of(violation: str, batch: Mapping[str, int]) -> str | None:
    """The batched parameter a violation sentence names (the threshold first, then the LTV)."""
    names = [w.strip("()") for w in violation.split() if w.strip("()") in batch]
    thresholds = [n for n in names if n.startswith(THRESHOLD)]
    return (thresholds or names or [None])[0]
