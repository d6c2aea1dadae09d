"""Names and units of Ballast's governance-bounded parameters (DESIGN.md §ParameterRegistry).

The names are the public API: contracts read ``keccak256(bytes(name))`` from the registry.
Per-sleeve and per-token parameters end in ``.<sleeve>`` or ``.<token>``.
"""

from __future__ import annotations

import re

from eth_utils import keccak

# IParameterRegistry.LinkRule (0 is NONE, a removed link).
LESS_THAN, PRODUCT_WITH_BONUS_AT_MOST, SUM_AT_LEAST, RATIO_AT_MOST = 1, 2, 3, 4

GLOBAL_PARAMETERS: frozenset[str] = frozenset(
    {
        "vault.idleBufferBps",
        "vault.maxTurnoverBps",
        "vault.rebalanceCooldown",
        "vault.depositCap",
        "vault.performanceFeeBps",
        "vault.unlockPeriod",
        "vault.strikeMaxWait",
        "vault.staleHaircutBps",
        "lend.closeFactorBps",
        "lend.fullCloseHealthBps",
        "lend.minDebt",
        "lend.callNoticePeriod",
        "lend.rate.baseBps",
        "lend.rate.slope1Bps",
        "lend.rate.slope2Bps",
        "lend.rate.kinkBps",
        "oracle.maxStaleness",
        "oracle.maxDeviationBps",
        "oracle.confirmDelay",
        "agent.minStake",
        "agent.activationDelay",
        "agent.unbondingPeriod",
        "agent.evalWindow",
        "agent.toleranceBps",
        "agent.maxSlashBps",
        "agent.vetoWindow",
        "agent.rewardShareBps",
        "registry.maxFreezePeriod",
    }
)

SCOPED_PREFIXES: tuple[str, ...] = (
    "vault.maxSleeveBps.",
    "lend.ltvBps.",
    "lend.liqThresholdBps.",
    "lend.liqBonusBps.",
    "lend.borrowCap.",
)

_SCOPE = re.compile(r"^[A-Za-z0-9_-]+$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


def is_known(name: str) -> bool:
    """True for a DESIGN.md parameter name (a scoped one needs a non-empty scope)."""
    if name in GLOBAL_PARAMETERS:
        return True
    for prefix in SCOPED_PREFIXES:
        if name.startswith(prefix):
            return bool(_SCOPE.match(name.removeprefix(prefix)))
    return False


def key_of(name: str) -> bytes:
    """The registry key of a parameter: keccak256(bytes(name))."""
    return keccak(text=name)


AMOUNTS = ("vault.depositCap", "agent.minStake", "lend.minDebt")

# Parts of a whole, in bps: the contracts read them as at most 10,000 (a reward share above the
# whole fee made every fee-charging strike revert; a close factor above the whole debt every
# partial liquidation). The contracts clamp the two that reverted; the deploy config refuses
# bounds above 10,000 for all of them.
SHARES = (
    "vault.idleBufferBps",
    "vault.maxTurnoverBps",
    "vault.performanceFeeBps",
    "vault.staleHaircutBps",
    "lend.closeFactorBps",
    "lend.rate.kinkBps",
    "oracle.maxDeviationBps",
    "agent.maxSlashBps",
    "agent.rewardShareBps",
)
SHARE_PREFIXES = ("vault.maxSleeveBps.", "lend.ltvBps.", "lend.liqThresholdBps.")


def is_share(name: str) -> bool:
    """Parameters that are a part of a whole (at most 10,000 bps)."""
    return name in SHARES or name.startswith(SHARE_PREFIXES)


def is_amount(name: str) -> bool:
    """Parameters measured in the vault's asset (shown and entered in its whole units)."""
    return name in AMOUNTS or name.startswith("lend.borrowCap.")


def is_duration(name: str) -> bool:
    """Parameters measured in seconds (shown as durations)."""
    return name.endswith(("Cooldown", "Staleness", "Delay", "Period", "Window", "Wait"))


def parse_duration(value: int | str) -> int:
    """Seconds from an int or a string: ``"90"``, ``"45s"``, ``"12h"``, ``"3d"``, ``"2w"``."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative duration: {value}")
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use seconds or e.g. 45s, 30m, 12h, 3d, 2w)")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def format_duration(seconds: int) -> str:
    """The largest exact unit up to days: 1209600 → "14d", 5400 → "90m", 61 → "61s"."""
    for unit in ("d", "h", "m"):
        size = _SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


UINT256_MAX = 2**256 - 1


def short_number(text: str) -> str:
    """A number as typed, cut to its first digits when it is longer than a line should be."""
    text = text.strip()
    return text if len(text) <= 24 else f"{text[:12]}… ({len(text)} digits)"
