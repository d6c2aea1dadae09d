"""The keeper's `status` dashboard, pure half: the `Status` values `keepers.dashboard` reads from
the chain and the store, and their rendering as rich tables. Nothing here touches the chain.

Amounts are shown in whole units of the vault's asset (its decimals), shares in the vault's
share decimals, health factors rounded down to three decimals (a position at 0.9999 never shows
as 1.000), weights in percent. Chain times (veto windows, the rebalance cooldown) are shown
against the status block's timestamp, never the local clock; the store's send times are the
keeper host's clock and are shown as UTC dates.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ballast.agent import Units, format_reputation, format_shares, plural, show_time, when
from keepers.funding import Funding
from keepers.store import TxRecord

__all__ = [
    "HEALTH_LABELS",
    "AgentLine",
    "BorrowerLine",
    "HealthBucket",
    "JobCursor",
    "SettlementLine",
    "SleeveLine",
    "SlashLine",
    "Status",
    "VaultLine",
    "format_bps",
    "format_health",
    "health_buckets",
    "render_status",
]

BPS: Final = 10_000
WAD: Final = 10**18
# Bucket i holds HEALTH_EDGES[i-1] <= health < HEALTH_EDGES[i]: 1.0 exactly is not liquidatable.
HEALTH_EDGES: Final = (WAD, 11 * WAD // 10, 15 * WAD // 10)
HEALTH_LABELS: Final = ("< 1.0", "1.0 – 1.1", "1.1 – 1.5", "≥ 1.5")
LOWEST_SHOWN: Final = 5  # borrowers listed one by one, lowest health first


# ------------------------------------------------------------------ the status


@dataclass(frozen=True)
class SleeveLine:
    """A sleeve: assets held, its weight (`currentBps`) and its cap (`vault.maxSleeveBps.*`)."""

    name: str
    held: int
    bps: int
    cap_bps: int


@dataclass(frozen=True)
class VaultLine:
    """The vault: NAV, idle, shares, automation and its sleeves in the vault's order."""

    nav: int
    idle: int
    idle_buffer_bps: int
    total_supply: int
    share_price: int  # asset base units one whole share redeems for
    automation_paused: bool
    is_shutdown: bool
    next_rebalance_at: int
    sleeves: tuple[SleeveLine, ...]
    loans_due_at: int = 0  # the lending book's called loans fall due (0: not called, or no book)

    @property
    def idle_bps(self) -> int:
        """Idle's weight: what the sleeves' weights leave (the vault's own rule)."""
        return BPS - sum(s.bps for s in self.sleeves)


@dataclass(frozen=True)
class BorrowerLine:
    address: str
    health: int  # WAD; max uint without debt
    debt: int
    liquidatable: bool  # `liquidationTrigger` says act


@dataclass(frozen=True)
class HealthBucket:
    label: str
    count: int
    debt: int


@dataclass(frozen=True)
class SettlementLine:
    """ERC-7540 requests and NAV strikes: what waits for a strike, what waits for its claim,
    the strikes so far and the vault's `strikeTrigger()`, and the donations still locked."""

    pending_deposits: int  # assets of deposit requests no strike settled (`pendingDeposits()`)
    pending_redemptions: int  # escrowed shares not yet filled (`pendingRedemptions()`)
    pending_redemptions_assets: int  # what those shares are worth now
    claimable_redemptions: int  # assets set aside for filled redemptions (`claimableRedemptions()`)
    strike_count: int
    last_strike_block: int | None  # the newest `StrikeSettled`; None: no strike yet
    last_strike_at: int | None
    strikable: bool  # `strikeTrigger()` says a strike would settle something
    reason: str  # why not, when not
    locked_donations: int
    locked_until: int
    # the trigger is true, but the strike run as an eth_call would fill and settle nothing
    # (the settler's `futile_strike` line, which it then sends no strike for); "" otherwise
    futile: str = ""


@dataclass(frozen=True)
class AgentLine:
    address: str
    active: bool
    stake: int
    unbonding: int
    reputation: int  # bps × WAD
    open_decisions: int
    pending_slashes: int
    slashed: int
    suspended: bool = False  # by the guardian or governance (`AgentRegistry.setSuspended`)


@dataclass(frozen=True)
class SlashLine:
    slash_id: int
    agent: str
    decision_id: int
    amount: int
    veto_ends_at: int
    registry: str | None = None  # an AgentRegistry the vault left; None: the vault's now


@dataclass(frozen=True)
class JobCursor:
    job: str
    last_block: int | None  # None: the job never ran with this store


@dataclass(frozen=True)
class Status:
    """Everything the dashboard shows, read at one block."""

    block: int
    timestamp: int
    keeper: str | None  # the keeper's address; None for a read-only keeper
    asset: Units
    shares: Units
    vault: VaultLine
    borrowers: tuple[BorrowerLine, ...] | None  # None: the vault has no lending book
    settlement: SettlementLine
    agents: tuple[AgentLine, ...]
    open_decisions: int
    due_decisions: int
    slashes: tuple[SlashLine, ...]
    actions: tuple[TxRecord, ...]  # newest first
    jobs: tuple[JobCursor, ...]
    sentinel_tripped: bool | None  # None: the sentinel never ran with this store
    failures: Mapping[str, str] = field(default_factory=dict)
    funding: Funding | None = None  # the key's gas coin and inventory (None: read-only)
    state: str = ""  # the state file and the chain it is bound to


# ------------------------------------------------------------------ pure helpers


def health_buckets(borrowers: Iterable[BorrowerLine]) -> tuple[HealthBucket, ...]:
    """Count and debt of the borrowers with debt in each health band of `HEALTH_LABELS`."""
    counts, debts = [0] * len(HEALTH_LABELS), [0] * len(HEALTH_LABELS)
    for b in borrowers:
        if b.debt > 0:
            i = bisect_right(HEALTH_EDGES, b.health)
            counts[i] += 1
            debts[i] += b.debt
    return tuple(HealthBucket(*row) for row in zip(HEALTH_LABELS, counts, debts, strict=True))


def format_health(health: int) -> str:
    """WAD → three decimals, rounded down; "∞" for no debt (max uint)."""
    if health >= 2**255:
        return "∞"
    return f"{health // WAD:,}.{health % WAD * 1_000 // WAD:03d}"


def format_bps(bps: int) -> str:
    """Basis points → percent with two decimals: 1234 → "12.34%"."""
    sign = "-" if bps < 0 else ""
    whole, frac = divmod(abs(bps), 100)
    return f"{sign}{whole}.{frac:02d}%"


def _short_hash(tx_hash: str) -> str:
    if not tx_hash.startswith("0x"):
        return "-"  # a lost race found by simulation: no transaction was sent
    return f"{tx_hash[:10]}…{tx_hash[-6:]}"


def _share(part: int, whole: int) -> str:
    return format_bps(part * BPS // whole) if whole else "-"


def _plain(units: Units, amount: int) -> str:
    """An amount without its symbol (the column header names it)."""
    return units(amount).removesuffix(f" {units.symbol}")


def _shares(s: Status, amount: int) -> str:
    """Shares shown to the asset's decimals ("~" when that rounds them down)."""
    return format_shares(amount, s.shares.decimals, s.shares.symbol, s.asset.decimals)


def _next_rebalance(ready_at: int, now: int) -> str:
    return "allowed now (cooldown over)" if ready_at <= now else when(ready_at, now)


def _table(title: str, *columns: str) -> Table:
    """A titled table; a column named with a leading ">" holds numbers (right-justified)."""
    table = Table(title=title, title_justify="left", expand=False)
    for column in columns:
        number = column.startswith(">")
        table.add_column(column.removeprefix(">"), justify="right" if number else "left")
    return table


def _empty(title: str, message: str) -> Panel:
    return Panel(Text(message, style="dim"), title=title, title_align="left", expand=False)


# ------------------------------------------------------------------ sections


def _header(s: Status) -> Panel:
    who = s.keeper or "read-only (no account)"
    jobs = ", ".join(
        f"{j.job} never" if j.last_block is None else f"{j.job} @{j.last_block}" for j in s.jobs
    )
    sentinel = {None: "never ran", True: "TRIPPED", False: "armed"}[s.sentinel_tripped]
    lines = [
        f"block {s.block:,} at {show_time(s.timestamp)}",
        f"keeper {who}",
        *([f"funds: {s.funding.describe()}"] if s.funding is not None else []),
        *([f"state: {s.state}"] if s.state else []),
        f"jobs' last blocks: {jobs or '-'}",
        f"sentinel: {sentinel}",
    ]
    return Panel("\n".join(lines), title="Ballast keeper status", title_align="left")


def _vault(s: Status) -> Table:
    v, units = s.vault, s.asset
    table = Table(title="Vault", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value")
    automation = "paused" if v.automation_paused else "running"
    rows = (
        ("NAV", units(v.nav)),
        ("share price", f"{units(v.share_price)} per {s.shares.symbol}"),
        ("shares", _shares(s, v.total_supply)),
        ("automation", "SHUT DOWN" if v.is_shutdown else automation),
        ("next rebalance", _next_rebalance(v.next_rebalance_at, s.timestamp)),
    )
    if v.loans_due_at:  # after a shutdown's `callLoans`: every loan liquidatable in full once due
        due = v.loans_due_at <= s.timestamp
        state = "called, DUE: liquidatable in full" if due else "called, due"
        rows += (("loans", f"{state} {when(v.loans_due_at, s.timestamp)}"),)
    for label, value in rows:
        table.add_row(label, value)
    return table


def _allocation(s: Status) -> Table:
    v = s.vault
    table = _table("Allocation", "sleeve", f">held ({s.asset.symbol})", ">weight", "bound", "check")
    for sl in v.sleeves:
        over = sl.bps > sl.cap_bps
        check = Text("OVER CAP", style="bold red") if over else Text("ok", style="green")
        table.add_row(sl.name, _plain(s.asset, sl.held),
                      format_bps(sl.bps), f"cap {format_bps(sl.cap_bps)}", check)  # fmt: skip
    short = v.idle_bps < v.idle_buffer_bps
    check = Text("BELOW BUFFER", style="bold red") if short else Text("ok", style="green")
    table.add_row("idle", _plain(s.asset, v.idle), format_bps(v.idle_bps),
                  f"buffer {format_bps(v.idle_buffer_bps)}", check)  # fmt: skip
    return table


def _borrowers(s: Status) -> RenderableType:
    if s.borrowers is None:
        return _empty("Borrowers", "no lending book")
    if not s.borrowers:
        return _empty("Borrowers", "no borrowers")
    indebted = [b for b in s.borrowers if b.debt > 0]
    free = [b for b in s.borrowers if b.debt == 0]  # collateral only: not yet borrowing, repaid
    if not indebted:
        return _without_debt(s, free, f"{plural(len(free), 'position')}, none borrowing")
    total = sum(b.debt for b in indebted)
    buckets = _table("Borrowers by health", "health", ">borrowers", f">debt ({s.asset.symbol})",
                     ">of debt")  # fmt: skip
    for bucket in health_buckets(indebted):
        style = "bold red" if bucket.label == HEALTH_LABELS[0] and bucket.count else ""
        buckets.add_row(Text(bucket.label, style=style), str(bucket.count),
                        _plain(s.asset, bucket.debt), _share(bucket.debt, total))  # fmt: skip
    buckets.add_row("total", str(len(indebted)), _plain(s.asset, total), "")
    lowest = _table(f"Lowest health (of {len(indebted)})", "borrower", ">health",
                    f">debt ({s.asset.symbol})", "liquidatable")  # fmt: skip
    for b in sorted(indebted, key=lambda b: (b.health, b.address))[:LOWEST_SHOWN]:
        flag = Text("yes", style="bold red") if b.liquidatable else Text("no")
        lowest.add_row(b.address, format_health(b.health), _plain(s.asset, b.debt), flag)
    if not free:
        return Group(buckets, lowest)
    return Group(buckets, lowest, _without_debt(s, free, plural(len(free), "position")))


def _without_debt(s: Status, free: Sequence[BorrowerLine], count: str) -> Table:
    """The positions with collateral and no debt (health infinite), a few by address."""
    table = _table(f"Without debt: {count}", "borrower", ">health", f">debt ({s.asset.symbol})")
    for b in sorted(free, key=lambda b: b.address)[:LOWEST_SHOWN]:
        table.add_row(b.address, f"{format_health(b.health)} (no debt)", _plain(s.asset, 0))
    if len(free) > LOWEST_SHOWN:
        table.add_row(f"… and {len(free) - LOWEST_SHOWN} more (--json lists every position)")
    return table


def _settlement(s: Status) -> Table:
    r = s.settlement
    table = Table(title="Requests and strikes", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("pending deposits", s.asset(r.pending_deposits))
    table.add_row(
        "pending redemptions",
        f"{_shares(s, r.pending_redemptions)} (worth {s.asset(r.pending_redemptions_assets)})",
    )
    table.add_row("claimable redemptions", s.asset(r.claimable_redemptions))
    if r.strike_count == 0:
        strikes = "none yet"
    elif r.last_strike_block is None or r.last_strike_at is None:
        strikes = str(r.strike_count)
    else:
        last = f"block {r.last_strike_block:,}, {when(r.last_strike_at, s.timestamp)}"
        strikes = f"{r.strike_count:,} (last: {last})"
    table.add_row("strikes", strikes)
    if not r.strikable:
        trigger = f"not now: {r.reason}"
    elif r.futile:
        trigger = f"true, but no settler strikes: {r.futile}"
    else:
        trigger = "ready: strike()"
    table.add_row("strike trigger", trigger)
    locked = (
        f"{s.asset(r.locked_donations)}, unlocked by {when(r.locked_until, s.timestamp)}"
        if r.locked_donations
        else "none"
    )
    table.add_row("locked donations", locked)
    return table


def _agents(s: Status) -> RenderableType:
    footer = f"{plural(s.open_decisions, 'open decision')}, {s.due_decisions} due for evaluation"
    if not s.agents:
        return _empty("Agents", f"no registered agents; {footer}")
    table = _table("Agents", "agent", "active", f">stake ({s.asset.symbol})", ">unbonding",
                   ">reputation", ">open decisions", ">pending slashes", ">slashed")  # fmt: skip
    table.caption, table.caption_justify = footer, "left"
    for a in s.agents:
        active = Text("yes", style="green") if a.active else Text("no", style="yellow")
        if a.suspended:
            active = Text("no: suspended", style="red")
        table.add_row(a.address, active, _plain(s.asset, a.stake), _plain(s.asset, a.unbonding),
                      format_reputation(a.reputation), str(a.open_decisions),
                      str(a.pending_slashes), _plain(s.asset, a.slashed))  # fmt: skip
    return table


def _slashes(s: Status) -> RenderableType:
    if not s.slashes:
        return _empty("Pending slashes", "no pending slashes")
    # slash ids count from 0 in each AgentRegistry: one the vault left is named beside its own
    left = any(sl.registry is not None for sl in s.slashes)
    table = _table("Pending slashes", "id", "agent", "decision", f">amount ({s.asset.symbol})",
                   "veto ends", *(("AgentRegistry",) if left else ()))  # fmt: skip
    for sl in s.slashes:
        ends = when(sl.veto_ends_at, s.timestamp)
        if sl.veto_ends_at <= s.timestamp:
            ends += ": executable"
        where = () if not left else (sl.registry or "the vault's",)
        table.add_row(f"#{sl.slash_id}", sl.agent, f"#{sl.decision_id}",
                      _plain(s.asset, sl.amount), ends, *where)  # fmt: skip
    return table


_STATUS_STYLES: Final = {"mined": "green", "lost-race": "cyan", "sent": "yellow"}


def _actions(s: Status) -> RenderableType:
    if not s.actions:
        return _empty("Last actions", "no transactions recorded")
    table = _table(f"Last {len(s.actions)} actions", "sent (UTC)", "job", "action", "status",
                   "hash", "block", "error")  # fmt: skip
    for tx in s.actions:
        status = Text(tx.status, style=_STATUS_STYLES.get(tx.status, "red"))
        block = "-" if tx.block is None else f"{tx.block:,} ({_blocks_ago(tx.block, s.block)})"
        table.add_row(show_time(int(tx.sent_at)).removesuffix(" UTC"), tx.job, tx.action_id,
                      status, _short_hash(tx.tx_hash), block, tx.error or "")  # fmt: skip
    return table


def _blocks_ago(block: int, head: int) -> str:
    return "this block" if block >= head else f"{head - block:,} ago"


def _failures(failures: Mapping[str, str]) -> Sequence[RenderableType]:
    if not failures:
        return ()
    table = _table("Reads that failed (values shown as defaults)", "call", "reason")
    for label, reason in failures.items():
        table.add_row(label, Text(reason, style="red"))
    return (table,)


def render_status(status: Status) -> Group:
    """The dashboard: a header, then one table (or an empty-state panel) per section."""
    return Group(
        _header(status),
        _vault(status),
        _allocation(status),
        _borrowers(status),
        _settlement(status),
        _agents(status),
        _slashes(status),
        _actions(status),
        *_failures(status.failures),
    )
