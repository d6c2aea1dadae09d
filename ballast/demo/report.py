"""The demo's end-of-run report: rich tables drawn from a recorded `DemoRecord`, nothing else.

Pure: no chain, no clock, no files. Amounts are whole asset units shown with thousands
separators and the asset's symbol; share prices to four decimals; weights in percent; drawdowns
as a positive percent fall from the running peak.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ballast.demo.record import Day, Decision, DemoRecord, Event

__all__ = [
    "TIMELINE_KINDS",
    "TIMELINE_LIMIT",
    "claim_summary",
    "format_amount",
    "max_drawdown",
    "milestones",
    "move_summary",
    "render_report",
    "queue_days",
    "short_hash",
    "strike_summary",
    "summary_lines",
    "timeline_events",
]

TIMELINE_KINDS: Final = ("market", "keeper", "governance", "steward", "guardian", "alert",
                         "bad-debt", "slash")  # fmt: skip
TIMELINE_LIMIT: Final = 40  # events listed before "… and N more"
NONE: Final = "none"
# Assets still set aside for filled redemptions below this (whole units; the table's "0.00") are
# the rounding of pro-rata fills nobody can claim (IRWAVault), not a queue.
CLAIMABLE_DUST: Final = 0.005
DASH: Final = "—"


# ------------------------------------------------------------------ numbers


def format_amount(amount: float, symbol: str) -> str:
    """`1,234,567 mUSDC`; below 1,000 two decimals are kept (`12.50 mUSDC`), zero is `0`."""
    if amount == 0:
        return f"0 {symbol}"
    if abs(amount) >= 1_000:
        return f"{amount:,.0f} {symbol}"
    return f"{amount:,.2f} {symbol}"


def max_drawdown(series: Iterable[float]) -> float:
    """The largest fall from a running peak, as a fraction of that peak (0.0 if it never falls)."""
    peak: float | None = None
    worst = 0.0
    for value in series:
        if peak is None or value > peak:
            peak = value
        elif peak > 0:
            worst = max(worst, (peak - value) / peak)
    return worst


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.2f}%"


def _signed_pct(fraction: float) -> str:
    return f"{fraction * 100:+.2f}%"


def short_hash(value: str, keep: int = 10) -> str:
    """`0xabcdef12…` (the first `keep` characters), or the whole value when it is that short."""
    return value if len(value) <= keep else value[:keep] + "…"


def _outperformance(final: Day) -> float:
    """The vault's final share price against the static allocation's, as a fraction."""
    if final.static_share_price == 0:
        return 0.0
    return final.share_price / final.static_share_price - 1


# ------------------------------------------------------------------ headline


def _headline(record: DemoRecord) -> Panel:
    crash = NONE if record.crash_day is None else f"day {record.crash_day}"
    lines = [
        f"seed {record.seed} · {record.weeks} weeks · {len(record.days)} days recorded · "
        f"wall time {record.wall_seconds:,.1f} s · crash {crash}",
    ]
    if record.days:
        final = record.days[-1]
        lines.append(
            f"final share price {final.share_price:.4f} vs static allocation "
            f"{final.static_share_price:.4f} ({_signed_pct(_outperformance(final))})"
        )
        lines.append(
            f"max drawdown: vault {_pct(max_drawdown(d.share_price for d in record.days))}, "
            f"static {_pct(max_drawdown(d.static_share_price for d in record.days))} · "
            f"final NAV {format_amount(final.nav, record.asset_symbol)}"
        )
    else:
        lines.append("no days recorded")
    return Panel(Text("\n".join(lines)), title="Ballast demo", expand=False)


# ------------------------------------------------------------------ allocation


def milestones(record: DemoRecord) -> list[tuple[str, Day]]:
    """Start, before the crash, after the crash and end; a day is shown once, first label wins."""
    days = record.days
    if not days:
        return []
    picks: list[tuple[str, Day]] = [("start", days[0])]
    if record.crash_day is not None:
        before = [d for d in days if d.day < record.crash_day]
        after = [d for d in days if d.day >= record.crash_day]
        if before:
            picks.append(("before crash", before[-1]))
        if after:
            picks.append(("after crash", after[0]))
    picks.append(("end", days[-1]))
    seen: set[int] = set()
    unique: list[tuple[str, Day]] = []
    for label, day in picks:
        if day.day not in seen:
            seen.add(day.day)
            unique.append((label, day))
    return unique


def _weight_names(record: DemoRecord) -> list[str]:
    names = list(record.sleeves)
    for day in record.days:
        names.extend(n for n in day.weights if n not in names and n != "idle")
    return [*names, "idle"]


def _allocation_table(record: DemoRecord) -> RenderableType:
    points = milestones(record)
    if not points:
        return Text("Allocation: none")
    table = Table(title="Allocation (% of NAV)", title_justify="left")
    table.add_column("sleeve")
    for label, day in points:
        table.add_column(f"{label}\nday {day.day}", justify="right")
    for name in _weight_names(record):
        table.add_row(name, *(_pct(day.weights.get(name, 0.0)) for _, day in points))
    table.add_row(
        "NAV", *(format_amount(day.nav, record.asset_symbol) for _, day in points), style="bold"
    )
    table.add_row("share price", *(f"{day.share_price:.4f}" for _, day in points))
    return table


# ------------------------------------------------------------------ liquidations


def _liquidation_table(record: DemoRecord) -> RenderableType:
    symbol = record.asset_symbol
    total = sum(liq.repaid for liq in record.liquidations)
    head = Text(
        f"Liquidations: {len(record.liquidations) or NONE}"
        + (f" (repaid {format_amount(total, symbol)})" if record.liquidations else "")
        + f" · bad debt {format_amount(record.bad_debt, symbol) if record.bad_debt else NONE}"
    )
    if not record.liquidations:
        return head
    table = Table(show_header=True)
    table.add_column("by")
    table.add_column("name")
    table.add_column("count", justify="right")
    table.add_column("repaid", justify="right")
    table.add_column("seized (tokens)", justify="right")
    for by, attr in (("collateral", "collateral"), ("keeper", "keeper")):
        groups: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        for liq in record.liquidations:
            row = groups[getattr(liq, attr)]
            row[0] += 1
            row[1] += liq.repaid
            row[2] += liq.seized
        for name in sorted(groups):
            count, repaid, seized = groups[name]
            seized_text = f"{seized:,.2f}" if by == "collateral" else DASH
            table.add_row(by, name, f"{int(count)}", format_amount(repaid, symbol), seized_text)
    return Group(head, table)


# ------------------------------------------------------------------ strikes and the queue


def _senders(names: Iterable[str]) -> str:
    """` (by settler ×11, depositor 0 ×1)`: who sent how many, most first; empty for none."""
    counts = Counter(names)
    if not counts:
        return ""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return " (by " + ", ".join(f"{name} ×{n}" for name, n in ranked) + ")"


def strike_summary(record: DemoRecord) -> str:
    """`strikes 12 (by settler ×11, depositor 0 ×1): deposits 3,000,000 mUSDC settled (5
    strikes), redemptions 1,400,000 mUSDC filled (6 strikes, 1,350,000 shares); queue peak
    900,000 shares, at the end 0`."""
    symbol = record.asset_symbol
    strikes = record.strikes
    deposits = [k for k in strikes if k.deposit_assets]
    redeems = [k for k in strikes if k.redeem_shares]
    peak = max((d.pending_redemptions for d in record.days), default=0.0)
    end = record.days[-1].pending_redemptions if record.days else 0.0
    return (
        f"strikes {len(strikes)}{_senders(k.by for k in strikes)}: deposits "
        f"{format_amount(sum(k.deposit_assets for k in deposits), symbol)} settled "
        f"({len(deposits)} strikes), redemptions "
        f"{format_amount(sum(k.redeem_assets for k in redeems), symbol)} filled "
        f"({len(redeems)} strikes, {sum(k.redeem_shares for k in redeems):,.0f} shares); "
        f"queue peak {peak:,.0f} shares, at the end {end:,.0f}"
    )


def claim_summary(record: DemoRecord) -> str:
    """`claims 20 (by settler ×14, depositor 4 ×3, depositor 5 ×3): 3,000,000 shares, 1,400,000
    mUSDC of filled redemptions`."""
    claims = record.claims
    shares = sum(c.shares for c in claims if c.kind == "deposit")
    paid = sum(c.assets for c in claims if c.kind == "redeem")
    return (
        f"claims {len(claims)}{_senders(c.by for c in claims)}: {shares:,.0f} shares, "
        f"{format_amount(paid, record.asset_symbol)} of filled redemptions"
    )


def queue_days(record: DemoRecord) -> list[Day]:
    """The days the redemption queue moved: shares pending or assets awaiting a claim at the end
    of the day (more than CLAIMABLE_DUST), or redemptions filled that day, plus the first quiet
    day after each stretch."""
    filled = {k.day for k in record.strikes if k.redeem_shares}
    out: list[Day] = []
    busy_before = False
    for day in record.days:
        waiting = day.claimable_redemptions >= CLAIMABLE_DUST
        busy = bool(day.pending_redemptions or waiting or day.day in filled)
        if busy or busy_before:
            out.append(day)
        busy_before = busy
    return out


def _strike_table(record: DemoRecord) -> RenderableType:
    head = Text(f"Strikes: {strike_summary(record)}\nClaims: {claim_summary(record)}")
    days = queue_days(record)
    if not days:
        return head
    by_day: dict[int, list] = defaultdict(list)
    for k in record.strikes:
        by_day[k.day].append(k)
    symbol = record.asset_symbol
    table = Table(title="Redemption queue (end of day)", title_justify="left")
    for name in ("day", "strikes", "filled", "pending (shares)", "claimable"):
        table.add_column(name, justify="right")
    for day in days:
        filled = sum(k.redeem_assets for k in by_day.get(day.day, ()))
        table.add_row(
            str(day.day),
            f"{day.strikes:,}",
            format_amount(filled, symbol) if filled else DASH,
            f"{day.pending_redemptions:,.0f}",
            format_amount(day.claimable_redemptions, symbol),
        )
    return Group(head, table)


# ------------------------------------------------------------------ decisions


def move_summary(old: Mapping[str, float], new: Mapping[str, float], top: int = 3) -> str:
    """The largest weight changes in percentage points: `Gold +5.0pp, idle -5.0pp`."""
    names = sorted(set(old) | set(new))
    moves = [(n, new.get(n, 0.0) - old.get(n, 0.0)) for n in names]
    moves = [(n, d) for n, d in moves if abs(d) >= 5e-5]
    moves.sort(key=lambda m: (-round(abs(m[1]), 9), m[0]))  # ties by name
    if not moves:
        return "no change"
    text = ", ".join(f"{n} {d * 100:+.1f}pp" for n, d in moves[:top])
    return text + (f" (+{len(moves) - top} more)" if len(moves) > top else "")


def _slash_cell(decision: Decision, symbol: str) -> str:
    if decision.slash_id is None and decision.slash_amount is None:
        return DASH
    amount = format_amount(decision.slash_amount or 0.0, symbol)
    if decision.slash_executed_day is None:
        return f"{amount} (pending)"
    return f"{amount} (day {decision.slash_executed_day})"


def _excess_cell(decision: Decision) -> str:
    if decision.excess_bps is None:
        return "pending"
    return f"{decision.excess_bps:+d} bps"


def _decision_table(record: DemoRecord) -> RenderableType:
    if not record.decisions:
        return Text("Decisions: none")
    table = Table(title="Decisions", title_justify="left")
    for name, justify in (
        ("id", "right"),
        ("agent", "left"),
        ("day", "right"),
        ("move", "left"),
        ("rationale", "left"),
        ("excess", "right"),
        ("slash", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for d in sorted(record.decisions, key=lambda d: d.decision_id):
        table.add_row(
            str(d.decision_id),
            d.agent,
            str(d.day),
            move_summary(d.old_weights, d.new_weights),
            short_hash(d.rationale_hash),
            _excess_cell(d),
            _slash_cell(d, record.asset_symbol),
        )
    return table


# ------------------------------------------------------------------ keepers


def _outcomes(actions: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(actions.items())) or NONE


def _keeper_table(record: DemoRecord) -> RenderableType:
    names = sorted(set(record.keeper_gas) | set(record.keeper_actions))
    if not names:
        return Text("Keepers: none")
    table = Table(title="Keepers", title_justify="left")
    table.add_column("keeper")
    table.add_column("gas used", justify="right")
    table.add_column("actions", justify="right")
    table.add_column("by outcome")
    for name in names:
        actions = record.keeper_actions.get(name, {})
        table.add_row(
            name,
            f"{record.keeper_gas.get(name, 0):,}",
            f"{sum(actions.values()):,}",
            _outcomes(actions),
        )
    return table


# ------------------------------------------------------------------ timeline


def timeline_events(events: Sequence[Event]) -> list[Event]:
    """The key events (TIMELINE_KINDS) in day order, recording order kept within a day."""
    return sorted((e for e in events if e.kind in TIMELINE_KINDS), key=lambda e: e.day)


def _timeline(record: DemoRecord) -> RenderableType:
    events = timeline_events(record.events)
    if not events:
        return Text("Timeline: none")
    table = Table(title="Timeline", title_justify="left")
    table.add_column("day", justify="right")
    table.add_column("kind")
    table.add_column("what")
    for e in events[:TIMELINE_LIMIT]:
        table.add_row(str(e.day), e.kind, e.text)
    if len(events) > TIMELINE_LIMIT:
        table.add_row("", "", f"… and {len(events) - TIMELINE_LIMIT} more")
    return table


# ------------------------------------------------------------------ the report


def render_report(record: DemoRecord) -> Group:
    """The whole end-of-run report, top to bottom."""
    return Group(
        _headline(record),
        _allocation_table(record),
        _liquidation_table(record),
        _strike_table(record),
        _decision_table(record),
        _keeper_table(record),
        _timeline(record),
    )


def summary_lines(record: DemoRecord) -> list[str]:
    """A few one-line facts for logs and the scenario test."""
    symbol = record.asset_symbol
    lines: list[str] = []
    if record.days:
        final = record.days[-1]
        lines.append(
            f"share price: {final.share_price:.4f} vs static {final.static_share_price:.4f} "
            f"({_signed_pct(_outperformance(final))})"
        )
        lines.append(
            f"max drawdown: vault {_pct(max_drawdown(d.share_price for d in record.days))}, "
            f"static {_pct(max_drawdown(d.static_share_price for d in record.days))}"
        )
    else:
        lines.append("share price: none (no days recorded)")
    lines.append(f"crash day: {NONE if record.crash_day is None else record.crash_day}")
    repaid = sum(liq.repaid for liq in record.liquidations)
    lines.append(
        f"liquidations: {len(record.liquidations)} (repaid {format_amount(repaid, symbol)}), "
        f"bad debt {format_amount(record.bad_debt, symbol)}"
    )
    lines.append(strike_summary(record))
    lines.append(claim_summary(record))
    evaluated = sum(d.excess_bps is not None for d in record.decisions)
    slashed = sum(d.slash_id is not None or d.slash_amount is not None for d in record.decisions)
    lines.append(f"decisions: {len(record.decisions)} (evaluated {evaluated}, slashed {slashed})")
    outcomes: Counter[str] = Counter()
    for actions in record.keeper_actions.values():
        outcomes.update(actions)
    lines.append(f"keepers: gas {sum(record.keeper_gas.values()):,}, actions {_outcomes(outcomes)}")
    return lines
