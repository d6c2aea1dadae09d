"""Pure helpers for `ape run agent`: amounts, times, status rows, errors in words.

Bonds are in the vault's asset (a 6-decimal stablecoin): users type whole units ("10000",
"12.5", "10_000", "10,000") and read them back the same way; this module converts both ways
with the asset's decimals. Times are shown as a UTC date with the wait from now
(`ballast.parameters.format_duration` for exact spans).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from eth_utils import to_checksum_address

from ballast.parameters import UINT256_MAX, format_duration, short_number

# Digits with an optional fraction; `_` anywhere between digits, or `,` in groups of three.
_PLAIN = re.compile(r"^\d+(?:_\d+)*(?:\.\d+)?$")
_GROUPED = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")

PARAMETERS = (
    "agent.minStake", "agent.activationDelay", "agent.unbondingPeriod", "agent.evalWindow",
    "agent.vetoWindow",
)  # fmt: skip
WAD = 10**18
# IAgentRegistry.SlashStatus, in order.
SLASH_STATUSES = ("None", "Pending", "Vetoed", "Executed")
LISTED = 3  # decisions or slashes named one by one in a status row; more are counted


class InputError(ValueError):
    """Bad user input; the message is one line."""


def parse_amount(text: str, decimals: int, symbol: str = "") -> int:
    """Whole units of the asset ("10000", "12.5", "10_000", "10,000") → base units (> 0)."""
    unit = f" {symbol}" if symbol else ""
    cleaned = text.strip()
    if cleaned.startswith("-") and _is_amount(cleaned[1:]):
        raise InputError(f"the amount must be positive, not {text}")
    if not _is_amount(cleaned):
        raise InputError(f"not an amount: {text!r} (give whole{unit} units, e.g. 10000 or 12.5)")
    # Exact integer arithmetic on the digits (a Decimal would round past 28 digits).
    whole, _, frac = cleaned.replace("_", "").replace(",", "").partition(".")
    frac = frac.rstrip("0")
    if len(frac) > decimals:
        raise InputError(f"{text}: the asset has {decimals} decimals, no finer amounts")
    base = int(whole) * 10**decimals + int(frac.ljust(decimals, "0") or "0")
    if base == 0:
        raise InputError("the amount must be more than zero")
    if base > UINT256_MAX:
        most = short_number(str(UINT256_MAX // 10**decimals))
        raise InputError(f"{short_number(text)}{unit}: too large (at most {most} whole units)")
    return base


URI_SCHEMES = ("https://", "http://", "ipfs://", "ar://", "data:")


def check_metadata_uri(uri: str) -> str:
    """An agent card's URI as given, or InputError: not blank, no spaces, a known scheme."""
    if not uri.strip():
        raise InputError("the metadata URI is blank: give the URI of the agent's card")
    if any(c.isspace() for c in uri):
        raise InputError(f"the metadata URI {uri!r} contains spaces")
    if not uri.startswith(URI_SCHEMES):
        raise InputError(f"the metadata URI {uri!r} has no known scheme ({', '.join(URI_SCHEMES)})")
    return uri


def _is_amount(text: str) -> bool:
    return bool(_PLAIN.match(text) or _GROUPED.match(text))


def format_amount(base_units: int, decimals: int, symbol: str = "") -> str:
    """Base units → whole units with thousands separators and no trailing zeros."""
    whole, frac = divmod(base_units, 10**decimals)
    text = f"{whole:,}"
    if frac:
        text += "." + f"{frac:0{decimals}d}".rstrip("0")
    return f"{text} {symbol}" if symbol else text


def show_time(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def format_span(seconds: int) -> str:
    """A wait: the exact unit when there is one (format_duration: "7d", "90m"), else the two
    largest units ("6d 23h", "59m 48s")."""
    seconds = max(0, int(seconds))
    if seconds % 60 == 0:
        return format_duration(seconds)
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count or parts:
            parts.append(f"{count}{unit}")
    parts = [p for p in parts[:2] if not p.startswith("0")]
    return " ".join(parts)


def when(timestamp: int, now: int) -> str:
    """ "2025-01-08 12:00:00 UTC (in 7d)" or "... (2h ago)" or "... (now)"."""
    if timestamp > now:
        return f"{show_time(timestamp)} (in {format_span(timestamp - now)})"
    if timestamp < now:
        return f"{show_time(timestamp)} ({format_span(now - timestamp)} ago)"
    return f"{show_time(timestamp)} (now)"


@dataclass(frozen=True)
class Units:
    """How the asset's amounts are shown."""

    decimals: int
    symbol: str

    def __call__(self, base_units: int) -> str:
        return format_amount(base_units, self.decimals, self.symbol)


@dataclass(frozen=True)
class AgentParams:
    """The agent.* parameters the registry reads when used."""

    min_stake: int
    activation_delay: int
    unbonding_period: int
    eval_window: int = 0
    veto_window: int = 0


@dataclass(frozen=True)
class AgentView:
    """One agent as the registry sees it (IAgentRegistry.Agent plus the views)."""

    address: str
    registered: bool
    metadata_uri: str
    stake: int
    unbonding: int
    unbond_ready_at: int
    bonded_since: int
    active: bool
    active_from: int
    open_decisions: int = 0
    pending_slashes: int = 0
    reputation: int = 0  # EWMA of excess return, bps × WAD
    slashed: int = 0
    slash_pending: int = 0  # Σ its pending slashes (they count as gone for activation)
    suspended: bool = False  # by the guardian or governance (IAgentRegistry, "Suspension")


@dataclass(frozen=True)
class DecisionView:
    """A decision reported for evaluation (IAgentRegistry.DecisionRecord)."""

    id: int
    agent: str
    due_at: int
    evaluated: bool = False


@dataclass(frozen=True)
class SlashView:
    """A slash (IAgentRegistry.Slash)."""

    id: int
    agent: str
    amount: int
    veto_ends_at: int
    decision_id: int
    status: str = "Pending"
    # an AgentRegistry the vault left (slash ids restart in each); None: the vault's own
    registry: str | None = None


def activation(agent: AgentView, params: AgentParams, now: int, units: Units) -> str:
    """Whether the agent is active, and if not, when it will be or what it lacks."""
    if not agent.registered:
        return "no: not registered"
    if agent.suspended:
        return "no: suspended by the guardian (or governance), which alone can lift it"
    if agent.active:
        return f"yes, since {when(agent.active_from, now)}"
    if agent.active_from:
        return f"not yet: from {when(agent.active_from, now)}"
    if (
        agent.bonded_since
        and params.min_stake <= agent.stake < params.min_stake + agent.slash_pending
    ):
        missing = units(params.min_stake + agent.slash_pending - agent.stake)
        return (
            f"paused: pending slashes of {units(agent.slash_pending)} count as gone "
            f"({missing} more stake, or their veto or execution, ends the pause)"
        )
    # Pending slashes count as gone beyond the clock too: starting it is not enough to be active
    # (found in an agent review: with a second slash pending after the first executed, the
    # status named only what starts the clock).
    gone = ""
    if agent.slash_pending:
        more = units(max(params.min_stake + agent.slash_pending - agent.stake, 0))
        gone = (
            f"; active only with {more} more in all: pending slashes of "
            f"{units(agent.slash_pending)} count as gone"
        )
    if agent.stake < params.min_stake:
        missing = units(params.min_stake - agent.stake)
        if agent.bonded_since:
            # Governance raised the minimum after the clock started: the clock is kept (only
            # an unbond or a slash below the minimum resets it), so topping up reactivates.
            return (
                f"no: bonded stake is below agent.minStake, raised since its clock started "
                f"({missing} more makes it active again, its clock kept{gone})"
            )
        return f"no: bonded stake is below agent.minStake ({missing} more starts the clock{gone})"
    # At the minimum without a clock: the minimum was lowered after the last stake.
    return f"no: stake again (any amount) to start the activation clock{gone}"


def unbonding_state(agent: AgentView, now: int, units: Units) -> str:
    if not agent.unbonding:
        return "-"
    amount = units(agent.unbonding)
    if agent.unbond_ready_at > now:
        return f"{amount}, withdrawable from {when(agent.unbond_ready_at, now)}"
    return f"{amount}, withdrawable now (since {show_time(agent.unbond_ready_at)})"


def agent_rows(
    agent: AgentView, params: AgentParams, now: int, units: Units
) -> list[tuple[str, str]]:
    """The agent's part of `status`, as (label, value) rows."""
    rows = [("agent", agent.address), ("registered", "yes" if agent.registered else "no")]
    if not agent.registered:
        rows.append(("active", activation(agent, params, now, units)))
        return rows
    rows += [
        ("metadata URI", agent.metadata_uri or "-"),
        ("bonded stake", units(agent.stake)),
        ("unbonding", unbonding_state(agent, now, units)),
        ("active", activation(agent, params, now, units)),
    ]
    if agent.bonded_since:
        rows.append(("at the minimum since", show_time(agent.bonded_since)))
    return rows


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """ "1 decision", "2 decisions", "1 slash", "2 slashes"."""
    return f"{count} {noun if count == 1 else plural_noun or noun + 's'}"


def format_reputation(reputation: int) -> str:
    """bps × WAD → bps with two decimals, rounded half away from zero: "-168.25 bps"."""
    hundredths = (abs(reputation) * 100 + WAD // 2) // WAD
    sign = "-" if reputation < 0 and hundredths else ""
    whole, frac = divmod(hundredths, 100)
    return f"{sign}{whole:,}.{frac:02d} bps"


def format_shares(shares: int, decimals: int, symbol: str, shown: int) -> str:
    """Vault shares rounded down to `shown` decimals, "~" in front when that dropped digits."""
    drop = max(0, decimals - shown)
    text = format_amount(shares // 10**drop, decimals - drop, symbol)
    return f"~{text}" if shares % 10**drop else text


def rewards_text(shares: int, assets: int, share_units: Units, units: Units) -> str:
    """Claimable vault shares and what they are worth: "~1,669.4 bUSD (worth 400 mUSDC)"."""
    if not shares:
        return f"0 {share_units.symbol}"
    shown = format_shares(shares, share_units.decimals, share_units.symbol, units.decimals)
    return f"{shown} (worth {units(assets)})"


def decisions_state(decisions: list[DecisionView], now: int) -> str:
    """Open decisions in a status row: "-" or "2: #4 evaluable now; #5 evaluable from ..."."""
    if not decisions:
        return "-"
    parts = [_evaluable(d, now) for d in decisions[:LISTED]]
    if len(decisions) > LISTED:
        parts.append(f"and {len(decisions) - LISTED} more")
    return f"{len(decisions)}: " + "; ".join(parts)


def _evaluable(decision: DecisionView, now: int) -> str:
    if decision.due_at <= now:
        return f"#{decision.id} evaluable now"
    return f"#{decision.id} evaluable from {when(decision.due_at, now)}"


def slash_line(slash: SlashView, now: int, units: Units) -> str:
    """ "#0: 1,100 mUSDC, veto window ends ... (in 3d)", or "... ended ...: anyone may ..."."""
    return f"#{slash.id}: {units(slash.amount)}, {slash_deadline(slash, now)}"


def slash_deadline(slash: SlashView, now: int) -> str:
    """Where a slash stands: its veto window, or what became of it."""
    if slash.status != "Pending":
        return slash.status.lower()
    if now < slash.veto_ends_at:
        return f"veto window ends {when(slash.veto_ends_at, now)}"
    return f"veto window ended {when(slash.veto_ends_at, now)}: anyone may execute it"


def slashes_state(slashes: list[SlashView], now: int, units: Units) -> str:
    if not slashes:
        return "-"
    parts = [slash_line(s, now, units) for s in slashes[:LISTED]]
    if len(slashes) > LISTED:
        parts.append(f"and {len(slashes) - LISTED} more")
    return "; ".join(parts)


def standing_rows(
    agent: AgentView,
    decisions: list[DecisionView],
    slashes: list[SlashView],
    now: int,
    units: Units,
) -> list[tuple[str, str]]:
    """What the agent's decisions earned it: reputation, open decisions, slashes."""
    return [
        ("reputation", format_reputation(agent.reputation)),
        ("open decisions", decisions_state(decisions, now)),
        ("pending slashes", slashes_state(slashes, now, units)),
        ("slashed in total", units(agent.slashed)),
    ]


def reward_rows(points: int, debt: int, units: Units) -> list[tuple[str, str]]:
    """The agent's net value added not paid yet (IAgentRegistry, "Rewards: net value added"):
    its points in the open reward round (value, in the asset) and its reward debt (losses its
    later gains must make up before it earns again)."""
    return [
        ("reward points this round", units(points) if points else "-"),
        ("reward debt", f"{units(debt)} to make up before earning again" if debt else "-"),
    ]


def withdrawal_lock(open_decisions: int, pending_slashes: int) -> str:
    """ "2 decisions await evaluation; 1 slash is pending" ("" when nothing locks)."""
    parts = []
    if open_decisions:
        verb = "awaits" if open_decisions == 1 else "await"
        parts.append(f"{plural(open_decisions, 'decision')} {verb} evaluation")
    if pending_slashes:
        verb = "is" if pending_slashes == 1 else "are"
        parts.append(f"{plural(pending_slashes, 'slash', 'slashes')} {verb} pending")
    return "; ".join(parts)


def lock_message(
    agent: AgentView,
    decisions: list[DecisionView],
    slashes: list[SlashView],
    now: int,
    units: Units,
) -> str:
    """Why `withdrawUnbonded` would revert WithdrawalLocked, what unlocks it and when."""
    details = []
    if decisions:
        noun = "decision" if len(decisions) == 1 else "decisions"
        shown = [_evaluable(d, now) for d in decisions[:LISTED]]
        details.append(f"{noun} " + ", ".join(shown))
    if slashes:
        noun = "slash" if len(slashes) == 1 else "slashes"
        details.append(f"{noun} " + "; ".join(slash_line(s, now, units) for s in slashes[:LISTED]))
    detail = ("; ".join(details) + ". ") if details else ""
    return (
        f"withdrawal locked: {withdrawal_lock(agent.open_decisions, agent.pending_slashes)}. "
        f"{detail[:1].upper()}{detail[1:]}"
        f"The {units(agent.unbonding)} unbonding stays in the registry, slashable, until every "
        "decision is evaluated (anyone may, once due) and every slash vetoed or executed"
    )


def registry_rows(
    params: AgentParams, staked: int, unbonding: int, slashed: int, units: Units
) -> list[tuple[str, str]]:
    """The registry's part of `status`: the agent.* parameters and the totals."""
    return [
        ("agent.minStake", units(params.min_stake)),
        ("agent.activationDelay", format_duration(params.activation_delay)),
        ("agent.unbondingPeriod", format_duration(params.unbonding_period)),
        ("agent.evalWindow", format_duration(params.eval_window)),
        ("agent.vetoWindow", format_duration(params.veto_window)),
        ("total bonded", units(staked)),
        ("total unbonding", units(unbonding)),
        ("total slashed", units(slashed)),
    ]


def explain_error(name: str, inputs: dict, now: int, units: Units) -> str:
    """A contract custom error (AgentRegistry's or the asset's) in words."""
    if name == "ZeroAmount":
        return "the amount must be more than zero"
    if name == "AlreadyRegistered":
        return (
            f"{inputs.get('agent')} is already registered (use `update-metadata` to change its URI)"
        )
    if name == "EmptyMetadataURI":
        return "the metadata URI is blank: give the URI of the agent's card"
    if name == "NotRegistered":
        return f"{inputs.get('agent')} is not registered: run `ape run agent register URI` first"
    if name == "InsufficientStake":
        return (
            f"cannot unbond {units(inputs['requested'])}: the bonded stake is "
            f"{units(inputs['stake'])}"
        )
    if name == "NothingToWithdraw":
        return "nothing to withdraw: request an unbond first (`ape run agent unbond AMOUNT`)"
    if name == "UnbondingNotReady":
        return f"the unbonding stake is not withdrawable before {when(inputs['readyAt'], now)}"
    if name == "WithdrawalLocked":
        lock = withdrawal_lock(inputs["openDecisions"], inputs["pendingSlashes"])
        return f"withdrawal locked: {lock} (see `ape run agent status`)"
    if name == "NoRewards":
        return f"nothing to claim: {inputs.get('agent')} has no rewards"
    if name == "NoRoundPoints":
        return "the open reward round has no points: nothing to close"
    if name == "NotShutdown":
        return "the vault is not shut down: its next performance fee closes the reward round"
    if name == "NotAllowlisted":
        return f"{inputs.get('account')} is not on the vault's allowlist: it cannot hold shares"
    if name == "ERC20InsufficientBalance":
        return (
            f"insufficient balance: {inputs.get('sender')} holds {units(inputs['balance'])}, "
            f"{units(inputs['needed'])} needed"
        )
    if name == "ERC20InsufficientAllowance":
        return (
            f"the registry may take only {units(inputs['allowance'])} of your asset, "
            f"{units(inputs['needed'])} needed"
        )
    args = ", ".join(f"{k}={v}" for k, v in inputs.items())
    return f"{name}({args})"


@dataclass(frozen=True)
class HeldElsewhere:
    """What an agent holds in another AgentRegistry of the same vault (base units; rewards in
    vault shares)."""

    registry: str
    vaults_now: bool  # the vault's registry now (else one it left)
    stake: int
    unbonding: int
    rewards: int


def elsewhere_rows(
    held: list[HeldElsewhere], units: Units, share_units: Units
) -> list[tuple[str, str]]:
    """One `status` row per other AgentRegistry of the vault the agent holds something in."""
    rows = []
    for h in held:
        parts = [f"{units(h.stake)} bonded", f"{units(h.unbonding)} unbonding"]
        if h.rewards:
            parts.append(f"{share_units(h.rewards)} rewards")
        which = "the vault's now" if h.vaults_now else "one the vault left"
        rows.append(
            (
                "held in another registry",
                f"{h.registry}: {', '.join(parts)} ({which}: add --registry {h.registry} to "
                "act there)",
            )
        )
    return rows


def settling_order(now: str, named: Iterable[str], manifest: str) -> list[str]:
    """Every AgentRegistry of one vault, each once: `now` (the vault's `agentRegistry()`),
    then those its `AgentRegistrySet` logs `named` (in chain order) before it, the latest
    first, then the manifest's. Those after the first are registries the vault left: their
    open decisions are still evaluated there and their pending slashes executed or vetoed.
    The zero address (a vault not wired yet) is left out; `now` too when zero, and the
    manifest's then comes first."""
    order: dict[str, None] = {}
    for address in (now, *reversed(list(named)), manifest):
        checksummed = to_checksum_address(address)
        if int(checksummed, 16) != 0:
            order[checksummed] = None
    return list(order)
