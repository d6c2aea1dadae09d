"""Pure helpers for `ape run params`: parse user input, explain registry rejections in words.

The registry's `check(key, value, steward)` returns the selector of the error an update would
revert with; `explain` turns it into the sentence a DAO member reads before any proposal is sent.
Links between parameters (IParameterRegistry.LinkRule) are judged on the values after the whole
proposal by `explain_link`, which names both parameters.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from eth_utils import function_signature_to_4byte_selector

from ballast import parameters
from ballast.agent import InputError as AmountError
from ballast.agent import Units, parse_amount
from ballast.parameters import (
    LESS_THAN,
    PRODUCT_WITH_BONUS_AT_MOST,
    RATIO_AT_MOST,
    SUM_AT_LEAST,
    UINT256_MAX,
    short_number,
)

# The asset's units for amount parameters (parameters.is_amount): shown and parsed in whole
# units with the symbol while set (`amounts_in`); base units (plain integers) when not.
_AMOUNT_UNITS: ContextVar[Units | None] = ContextVar("amount_units", default=None)


@contextmanager
def amounts_in(units: Units | None) -> Iterator[None]:
    """Show and parse amount parameters in `units` (None: base units) for the duration."""
    token = _AMOUNT_UNITS.set(units)
    try:
        yield
    finally:
        _AMOUNT_UNITS.reset(token)


SELECTORS: dict[bytes, str] = {
    function_signature_to_4byte_selector(sig): sig.split("(")[0]
    for sig in (
        "UnknownParameter(bytes32)",
        "OutOfBounds(bytes32,uint256,uint256,uint256)",
        "StepTooLarge(bytes32,uint256,uint256,uint16)",
        "Cooldown(bytes32,uint256)",
        "ParameterFrozen(bytes32)",
        "StewardDisabled(bytes32)",
        "FreezeTooSoon(bytes32,uint256)",
        "LinkViolated(bytes32,bytes32,uint8)",
    )
}

BPS = 10_000

SUPPORT = {"against": 0, "for": 1, "abstain": 2}

# OZ IGovernor.ProposalState, in order.
PROPOSAL_STATES = (
    "Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed",
)  # fmt: skip


class InputError(ValueError):
    """Bad user input; the message is one line."""


@dataclass(frozen=True)
class ParamView:
    """What `explain` needs of a registry parameter (IParameterRegistry.Param).

    Governance's rules read governance's own history: its step is measured from
    `governance_value` (the value of its last update) and its cooldown runs from
    `last_governance_update`; both default to the live value and `last_update` (the same when
    the steward has not moved the parameter since)."""

    value: int
    min: int
    max: int
    max_step_bps: int
    cooldown: int
    last_update: int
    frozen_until: int = 0  # frozen while now < frozen_until; 0 = never frozen
    governance_value: int | None = None
    last_governance_update: int | None = None

    @property
    def step_from(self) -> int:
        """Governance's step reference: its own last value, brought into the bounds (as the
        registry's `_stepFrom`: new bounds never leave governance unable to step into them)."""
        g = self.value if self.governance_value is None else self.governance_value
        return min(max(g, self.min), self.max)

    @property
    def governance_ready_at(self) -> int:
        since = self.last_update if self.last_governance_update is None else (
            self.last_governance_update
        )  # fmt: skip
        return since + self.cooldown


@dataclass(frozen=True)
class LinkView:
    """A live link of the registry (IParameterRegistry.Link) with its keys' names."""

    rule: int
    names: tuple[str, ...]
    bound: int


def link_holds(link: LinkView, values: Mapping[str, int]) -> bool:
    """ParameterRegistry._holds, written again: does `link` hold on `values` (by name)?"""
    v = [values[name] for name in link.names]
    if link.rule == LESS_THAN:
        return v[0] < v[1]
    if link.rule == PRODUCT_WITH_BONUS_AT_MOST:
        return v[0] * (BPS + v[1]) <= link.bound * BPS
    if link.rule == SUM_AT_LEAST:
        return sum(v) >= link.bound
    if link.rule == RATIO_AT_MOST:
        return v[0] <= link.bound * v[1]
    return True  # NONE: a removed link


def explain_link(link: LinkView, values: Mapping[str, int]) -> str | None:
    """One sentence naming both parameters when `values` (after the proposal) break `link`."""
    if link_holds(link, values):
        return None
    a, b = link.names[0], link.names[1]
    va, vb = values[a], values[b]
    if link.rule == LESS_THAN:
        return (
            f"{a} {show_value(a, va)} must stay below {b} {show_value(b, vb)}: "
            "change both in one proposal"
        )
    if link.rule == PRODUCT_WITH_BONUS_AT_MOST:
        product = va * (BPS + vb) / BPS
        return (
            f"{a} {show_value(a, va)} x (1 + {b} {show_value(b, vb)} bps) = {product:,.0f} is "
            f"above {show_value(a, link.bound)}: lower one of the two"
        )
    if link.rule == RATIO_AT_MOST:
        return (
            f"{a} {show_value(a, va)} must stay at most {link.bound:,} x {b} "
            f"{show_value(b, vb)}: lower {a} or raise {b} in the same proposal"
        )
    total = sum(values[name] for name in link.names)
    return (
        f"{a} + {' + '.join(link.names[1:])} = {total:,} would fall below {link.bound:,}: "
        f"raise another of them in the same proposal"
    )


def describe_link(link: LinkView) -> str:
    """A link as `params show` lists it, e.g. "lend.ltvBps.gold < lend.liqThresholdBps.gold"."""
    a, b = link.names[0], link.names[1]
    if link.rule == LESS_THAN:
        return f"{a} < {b}"
    if link.rule == PRODUCT_WITH_BONUS_AT_MOST:
        return f"{a} x (1 + {b} / 10,000) <= {link.bound:,}"
    if link.rule == RATIO_AT_MOST:
        return f"{a} <= {link.bound:,} x {b}"
    return f"{' + '.join(link.names)} >= {link.bound:,}"


def explain_links(links: list[LinkView], values: Mapping[str, int]) -> list[str]:
    """The sentence of every link that `values` (the live values with the proposal applied)
    break."""
    return [sentence for link in links if (sentence := explain_link(link, values))]


def parse_value(name: str, text: str) -> int:
    """A proposed value: an integer (``_`` allowed), a duration for time parameters, or an amount
    in the asset's whole units ("20000", "12.5") for amount parameters while `amounts_in` is set."""
    value = _parse_value(name, text)
    if value > UINT256_MAX:
        raise InputError(f"{name}: {short_number(text)} is too large (at most 2^256 - 1)")
    return value


def _parse_value(name: str, text: str) -> int:
    units = _AMOUNT_UNITS.get()
    if units is not None and parameters.is_amount(name):
        if text.strip().replace("_", "").replace(",", "") in ("0", "0.0"):
            return 0
        try:
            return parse_amount(text, units.decimals, units.symbol)
        except AmountError as err:
            raise InputError(f"{name}: {err}") from None
    cleaned = text.replace("_", "").strip()
    if cleaned.isdigit():
        return int(cleaned)
    if parameters.is_duration(name):
        try:
            return parameters.parse_duration(cleaned)
        except ValueError as err:
            raise InputError(f"{name}: {err}") from None
    raise InputError(f"{name}: not a non-negative whole number: {text!r}")


def parse_proposal_id(text: str) -> int:
    """A proposal ID in decimal or 0x-hex, as `propose` and `status` print it."""
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise InputError(f"not a proposal ID: {text!r} (decimal or 0x-hex)") from None
    if not 0 <= value <= UINT256_MAX:
        raise InputError(f"not a proposal ID: {short_number(text)!r} (0 to 2^256 - 1)")
    return value


def parse_changes(pairs: tuple[str, ...]) -> list[tuple[str, str]]:
    """NAME VALUE [NAME VALUE ...] → [(name, value text)], each name at most once."""
    if not pairs or len(pairs) % 2:
        raise InputError("give NAME VALUE pairs, e.g. `propose vault.idleBufferBps 600`")
    changes = list(zip(pairs[0::2], pairs[1::2], strict=True))
    names = [name for name, _ in changes]
    for name in names:
        if names.count(name) > 1:
            raise InputError(f"{name} appears twice in one proposal")
    return changes


PROPOSER_SUFFIX = "#proposer="


def bound_to_proposer(description: str, proposer: str) -> str:
    """`description` ending in OpenZeppelin's `#proposer=<address>` (Governor 5.x,
    `_isValidDescriptionForProposer`): only `proposer` may submit a proposal with it. Without
    it anyone holding the threshold could copy the proposal from the mempool, land it first
    and cancel it while Pending: that exact proposal could then never be made again.

    The governor's rule, in bytes: the last 52 bytes of the UTF-8 description are
    `#proposer=0x` and 40 hex digits. A description whose suffix is valid and names `proposer`
    is kept as it is; one naming another address is refused (the governor would refuse this
    proposer); anything else, such as a `#proposer=` that is not exactly that, gets the suffix
    appended."""
    tail = description.encode()[-52:]
    named = _suffix_address(tail) if len(tail) == 52 else None
    if named is None:
        return f"{description} {PROPOSER_SUFFIX}{proposer}"
    if named.lower() != proposer.lower():
        raise InputError(
            f"the description is bound to proposer {named}: only that account may submit it"
        )
    return description


def _suffix_address(tail: bytes) -> str | None:
    """The address a 52-byte description tail binds the proposal to, or None when it binds
    nothing (OpenZeppelin reads `#proposer=0x` then 40 hex digits of either case)."""
    marker = (PROPOSER_SUFFIX + "0x").encode()
    if not tail.startswith(marker):
        return None
    digits = tail[len(marker) :]
    if any(chr(b) not in "0123456789abcdefABCDEF" for b in digits):
        return None
    return "0x" + digits.decode()


def show_value(name: str, value: int) -> str:
    """A value as users think of it: durations as 3d/12h, amounts in the asset's whole units
    with its symbol (while `amounts_in` is set), others with thousands separators."""
    if parameters.is_duration(name):
        return parameters.format_duration(value)
    units = _AMOUNT_UNITS.get()
    if units is not None and parameters.is_amount(name):
        return units(value)
    return f"{value:,}"


def show_time(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def show_freeze(frozen_until: int, freezable_at: int, now: int) -> str:
    """The `frozen` cell of `params show` from `registry.freezeStatus`: a freeze with its
    expiry, or the time from which the guardian may freeze the parameter again."""
    if now < frozen_until:
        return f"FROZEN until {show_time(frozen_until)}"
    if now < freezable_at:
        return f"thawed; freezable again from {show_time(freezable_at)}"
    return ""


def rule_after_freeze(param: ParamView, value: int) -> str | None:
    """The governance rule after the freeze (ParameterRegistry._violation's order: bounds, step,
    cooldown) that `value` breaks, or None."""
    if not param.min <= value <= param.max:
        return "OutOfBounds"
    origin = param.step_from
    if param.max_step_bps and abs(value - origin) * 10_000 > param.max_step_bps * (
        origin or param.max
    ):
        return "StepTooLarge"
    return "Cooldown"  # explained as no reason to refuse when it ends before execution


def explain(
    reason: bytes,
    name: str,
    value: int,
    param: ParamView | None,
    executes_at: int,
    unfreezes: bool = False,
) -> str | None:
    """Why the registry would refuse `value` for `name` when the proposal executes.

    Returns None when the update would pass. A cooldown or a freeze that ends before
    `executes_at` (the earliest time a proposal made now could execute) is no reason to refuse,
    nor is a freeze the proposal itself lifts (`unfreezes`: `unfreeze(key)` before the change).
    """
    kind = SELECTORS.get(bytes(reason)[:4])
    if kind == "UnknownParameter" or param is None:
        return f"unknown parameter {name!r} (see `ape run params show`)"
    if kind == "ParameterFrozen":
        if param.frozen_until > executes_at and not unfreezes:
            return (
                f"{name}: frozen by the guardian until {show_time(param.frozen_until)}, after "
                "this proposal could execute; governance must unfreeze it first (--unfreeze)"
            )
        # The freeze expires or is lifted before the change executes; the registry's `check`
        # stops at the freeze, so the rules behind it are applied here.
        kind = rule_after_freeze(param, value)
    if kind is None or kind == "LinkViolated":
        # Every value rule passed; links are judged on the whole proposal (`explain_links`).
        return None
    shown = show_value(name, value)
    if kind == "OutOfBounds":
        if value > param.max:
            return f"{name}: {shown} is above its maximum {show_value(name, param.max)}"
        return f"{name}: {shown} is below its minimum {show_value(name, param.min)}"
    if kind == "StepTooLarge":
        # Governance's step is measured from the value of its own last update, not from a
        # steward's move since (IParameterRegistry: the steward never blocks governance).
        origin = param.step_from
        ref = origin or param.max
        allowed = ref * param.max_step_bps // 10_000
        low, high = max(param.min, origin - allowed), min(param.max, origin + allowed)
        since = "" if origin == param.value else (
            f" (governance's step counts from {show_value(name, origin)}, its last set value; "
            f"the steward has moved it to {show_value(name, param.value)} since)"
        )  # fmt: skip
        return (
            f"{name}: {show_value(name, origin)} → {shown} is a larger step than "
            f"{param.max_step_bps} bps allows in one change; this proposal may move it within "
            f"[{show_value(name, low)}, {show_value(name, high)}]{since}"
        )
    if kind == "Cooldown":
        ready = param.governance_ready_at
        if ready <= executes_at:
            return None
        return f"{name}: in cooldown until {show_time(ready)}, after this proposal could execute"
    return f"{name}: refused by the registry ({kind})"


def explain_governor_error(name: str, inputs: Mapping[str, Any]) -> str:
    """A governor or timelock custom error in words (the ones a DAO member's command can still
    meet after its pre-checks: another transaction got in first)."""
    if name == "GovernorAlreadyCastVote":
        return f"{inputs.get('voter')} has already voted on this proposal (a vote is final)"
    if name == "GovernorUnexpectedProposalState":
        state = PROPOSAL_STATES[inputs["current"]] if inputs["current"] < 8 else inputs["current"]
        return f"proposal {inputs.get('proposalId')} is {state}"
    if name == "GovernorNonexistentProposal":
        return f"no proposal {inputs.get('proposalId')}"
    if name == "GovernorInsufficientProposerVotes":
        return f"{inputs.get('proposer')} has too few votes to propose"
    shown = (f"0x{bytes(v).hex()}" if isinstance(v, (bytes, bytearray)) else str(v)
             for v in inputs.values())  # fmt: skip
    return f"{name}({', '.join(f'{k}={v}' for k, v in zip(inputs, shown, strict=True))})"
