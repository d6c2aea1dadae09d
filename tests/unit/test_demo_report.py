"""ballast.demo.report and ballast.demo.charts: the end-of-run report and charts from a
hand-built `DemoRecord` (no chain)."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from ballast.demo.charts import CHART_FILES, DPI, FIGSIZE, write_charts
from ballast.demo.record import Claim, Day, Decision, DemoRecord, Event, Liquidation, Strike
from ballast.demo.report import (
    TIMELINE_LIMIT,
    claim_summary,
    format_amount,
    max_drawdown,
    milestones,
    move_summary,
    queue_days,
    render_report,
    short_hash,
    strike_summary,
    summary_lines,
)

SLEEVES = ("TBILL", "GOLD", "CREDIT")
CRASH = 12
PNG = b"\x89PNG\r\n\x1a\n"
SLASHED_HASH = "0x" + "5a" * 32
OTHER_HASH = "0x" + "c0" * 32
# The redemption queue: 900 shares requested on day 5, filled 300 on day 6 and 600 on day 8.
QUEUE = {5: 900.0, 6: 600.0, 7: 600.0}
CLAIMABLE = {6: 0.0, 8: 0.0}


def _share_price(day: int) -> float:
    """1.0 up 0.01 a day to 1.11 (day 11), 0.999 on the crash day, then up 0.003 a day."""
    if day < CRASH:
        return 1.0 + 0.01 * day
    return 0.999 + 0.003 * (day - CRASH)


def _static_price(day: int) -> float:
    """Flat 1.0 until the crash, 0.8 from then on: a 20% drawdown."""
    return 1.0 if day < CRASH else 0.8


def _weights(day: int) -> dict[str, float]:
    gold = 0.3 if day < CRASH else 0.1
    return {"TBILL": 0.4, "GOLD": gold, "CREDIT": 0.2, "idle": 0.4 - gold + 0.0}


def _day(day: int) -> Day:
    return Day(
        day=day,
        timestamp=1_750_000_000 + day * 86_400,
        block=100 + day,
        share_price=_share_price(day),
        static_share_price=_static_price(day),
        nav=1_000_000 * _share_price(day),
        weights=_weights(day),
        prices={"GOLD": 1.0 if day < CRASH else 0.7},
        pending_deposits=0.0,
        pending_redemptions=QUEUE.get(day, 0.0),
        claimable_redemptions=CLAIMABLE.get(day, 0.0),
        strikes=sum(k.day <= day for k in _strikes()),
        automation_paused=day == CRASH,
    )


def _liquidations() -> list[Liquidation]:
    return [
        Liquidation(
            day=CRASH,
            borrower=f"0x{i:040x}",
            keeper="keeper-a" if i % 2 else "keeper-b",
            collateral="GOLD" if i < 4 else "CREDIT",
            repaid=10_000.0 + i,
            seized=12_000.0,
            tx_hash=f"0x{i:064x}",
        )
        for i in range(5)
    ]


def _strikes() -> list[Strike]:
    """The settler keeper strikes on days 1 and 8; on day 6 (the keeper down) a depositor does."""

    def strike(sid: int, day: int, by: str, deposits: float, shares: float) -> Strike:
        return Strike(sid, day, 1_750_000_000 + day * 86_400, by, deposits,
                      deposits, shares, shares * 1.02, 1.0, 1.02, bool(deposits), 0,
                      1_750_000_000 + day * 86_400 - 60)  # fmt: skip

    return [strike(0, 1, "settler", 1_000_000.0, 0.0), strike(1, 6, "depositor 0", 0.0, 300.0),
            strike(2, 8, "settler", 0.0, 600.0)]  # fmt: skip


def _claims() -> list[Claim]:
    """What the strikes settled, claimed: by the settler for its operators, else by each one."""
    return [
        Claim(1, "settler", "deposit", "depositor 0", 600_000.0, 600_000.0),
        Claim(1, "depositor 4", "deposit", "depositor 4", 400_000.0, 400_000.0),
        Claim(6, "depositor 0", "redeem", "depositor 0", 306.0, 300.0),
        Claim(8, "settler", "redeem", "depositor 0", 612.0, 600.0),
    ]


def _decisions() -> list[Decision]:
    old, new = _weights(0), _weights(CRASH)
    return [
        Decision(1, "agent-a", 3, old, old, OTHER_HASH, excess_bps=25, evaluated_day=10),
        Decision(
            2,
            "agent-b",
            8,
            old,
            new,
            SLASHED_HASH,
            excess_bps=-340,
            evaluated_day=15,
            slash_id=7,
            slash_amount=12_500.0,
            slash_executed_day=19,
        ),
        Decision(3, "agent-a", 25, new, old, OTHER_HASH),
    ]


def _events() -> list[Event]:
    return [
        Event(0, "deposit", "alice deposits 500,000 mUSDC"),
        Event(5, "governance", "idle buffer raised to 5%"),
        Event(CRASH, "market", "GOLD falls 30%"),
        Event(CRASH, "guardian", "automation paused"),
        Event(CRASH, "alert", "3 borrowers below 1.0"),
        Event(CRASH, "liquidation", "keeper-a liquidates 0x1"),
        Event(19, "slash", "agent-b slashed 12,500 mUSDC"),
    ]


def _record(**changes: object) -> DemoRecord:
    record = DemoRecord(
        seed=42,
        weeks=4,
        asset_symbol="mUSDC",
        sleeves=SLEEVES,
        days=[_day(d) for d in range(30)],
        events=_events(),
        liquidations=_liquidations(),
        strikes=_strikes(),
        claims=_claims(),
        decisions=_decisions(),
        bad_debt=0.0,
        keeper_gas={"keeper-a": 1_234_567, "keeper-b": 89_000},
        keeper_actions={"keeper-a": {"ok": 3, "reverted": 1}, "keeper-b": {"ok": 2}},
        health_before=[1.05, 1.2, 1.4, 2.5, float("inf")],
        health_after=[0.0, 1.1, 1.3, 5.0],
        crash_day=CRASH,
        wall_seconds=87.25,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def _text(record: DemoRecord) -> str:
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render_report(record))
    return console.export_text()


# ------------------------------------------------------------------ numbers


def test_max_drawdown_on_known_series() -> None:
    assert max_drawdown([]) == 0.0
    assert max_drawdown([1.0, 1.1, 1.2]) == 0.0
    assert max_drawdown([1.0, 2.0, 1.5, 3.0, 1.5, 2.0]) == pytest.approx(0.5)
    assert max_drawdown(_share_price(d) for d in range(30)) == pytest.approx(1 - 0.999 / 1.11)
    assert max_drawdown(_static_price(d) for d in range(30)) == pytest.approx(0.2)


def test_format_amount() -> None:
    assert format_amount(123_456.4, "mUSDC") == "123,456 mUSDC"
    assert format_amount(12.5, "mUSDC") == "12.50 mUSDC"
    assert format_amount(0, "mUSDC") == "0 mUSDC"


def test_short_hash_and_move_summary() -> None:
    assert short_hash(SLASHED_HASH) == "0x5a5a5a5a…"
    assert short_hash("0xab") == "0xab"
    assert move_summary(_weights(0), _weights(CRASH)) == "GOLD -20.0pp, idle +20.0pp"
    assert move_summary(_weights(0), _weights(0)) == "no change"


def test_milestones() -> None:
    labels = [(label, day.day) for label, day in milestones(_record())]
    assert labels == [("start", 0), ("before crash", 11), ("after crash", 12), ("end", 29)]
    assert [label for label, _ in milestones(_record(crash_day=None))] == ["start", "end"]
    assert milestones(_record(days=[])) == []


# ------------------------------------------------------------------ the report


def test_report_contains_the_key_numbers() -> None:
    text = _text(_record())
    assert "seed 42" in text and "4 weeks" in text and "87.2 s" in text
    assert "final share price 1.0500 vs static allocation 0.8000 (+31.25%)" in text
    assert "max drawdown: vault 10.00%, static 20.00%" in text
    assert "Liquidations: 5 (repaid 50,010 mUSDC) · bad debt none" in text
    assert "keeper-a" in text and "GOLD" in text and "48,000.00" in text  # 4 GOLD x 12,000
    assert "0x5a5a5a5a…" in text and "-340 bps" in text
    assert "12,500 mUSDC (day 19)" in text
    assert "1,234,567" in text and "reverted 1" in text
    assert "GOLD falls 30%" in text and "idle buffer raised" in text
    assert "alice deposits" not in text  # deposits are not key events
    assert "before crash" in text and "after crash" in text
    assert "pending" in text  # decision 3 not yet evaluated


def test_strikes_and_the_queue() -> None:
    record = _record()
    assert strike_summary(record) == (
        "strikes 3 (by settler ×2, depositor 0 ×1): deposits 1,000,000 mUSDC settled "
        "(1 strikes), redemptions 918.00 mUSDC filled (2 strikes, 900 shares); queue peak 900 "
        "shares, at the end 0"
    )
    assert claim_summary(record) == (
        "claims 4 (by settler ×2, depositor 0 ×1, depositor 4 ×1): 1,000,000 shares, "
        "918.00 mUSDC of filled redemptions"
    )
    assert [d.day for d in queue_days(record)] == [5, 6, 7, 8, 9]
    # what rounding leaves set aside (nobody can claim it) is no queue; a real claim waiting is
    dust = [replace(d, claimable_redemptions=3e-6) if d.day >= 9 else d for d in record.days]
    assert [d.day for d in queue_days(_record(days=dust))] == [5, 6, 7, 8, 9]
    waiting = [replace(d, claimable_redemptions=5.0) if d.day == 12 else d for d in dust]
    assert [d.day for d in queue_days(_record(days=waiting))] == [5, 6, 7, 8, 9, 12, 13]
    text = _text(record)
    assert "Redemption queue (end of day)" in text
    assert "306.00 mUSDC" in text and "612.00 mUSDC" in text  # filled on days 6 and 8
    assert "Claims: claims 4 (by settler ×2" in text
    assert strike_summary(record) in summary_lines(record)
    assert claim_summary(record) in summary_lines(record)
    quiet = _record(strikes=[], claims=[],
                    days=[replace(_day(d), pending_redemptions=0.0) for d in range(3)])  # fmt: skip
    assert queue_days(quiet) == []
    assert "Redemption queue" not in _text(quiet)
    assert "strikes 0: deposits 0 mUSDC settled (0 strikes)" in strike_summary(quiet)
    assert claim_summary(quiet) == "claims 0: 0 shares, 0 mUSDC of filled redemptions"


def test_summary_lines() -> None:
    lines = summary_lines(_record(bad_debt=321.0))
    assert "share price: 1.0500 vs static 0.8000 (+31.25%)" in lines
    assert "max drawdown: vault 10.00%, static 20.00%" in lines
    assert "crash day: 12" in lines
    assert "liquidations: 5 (repaid 50,010 mUSDC), bad debt 321.00 mUSDC" in lines
    assert "decisions: 3 (evaluated 2, slashed 1)" in lines
    assert "keepers: gas 1,323,567, actions ok 5, reverted 1" in lines


def test_report_edge_cases_say_none() -> None:
    record = _record(
        liquidations=[],
        decisions=[],
        crash_day=None,
        health_before=[],
        health_after=[],
        events=[],
        keeper_gas={},
        keeper_actions={},
    )
    text = _text(record)
    assert "crash none" in text
    assert "Liquidations: none · bad debt none" in text
    assert "Decisions: none" in text and "Keepers: none" in text and "Timeline: none" in text
    assert "before crash" not in text
    lines = summary_lines(record)
    assert "crash day: none" in lines
    assert "liquidations: 0 (repaid 0 mUSDC), bad debt 0 mUSDC" in lines


def test_report_with_no_days() -> None:
    text = _text(_record(days=[]))
    assert "no days recorded" in text and "Allocation: none" in text
    assert summary_lines(_record(days=[]))[0] == "share price: none (no days recorded)"


def test_timeline_is_capped() -> None:
    events = [Event(d % 30, "market", f"move {d}") for d in range(TIMELINE_LIMIT + 5)]
    text = _text(_record(events=events))
    assert "… and 5 more" in text


# ------------------------------------------------------------------ charts


def _assert_pngs(paths: list[Path], out_dir: Path) -> None:
    assert [p.name for p in paths] == list(CHART_FILES)
    for path in paths:
        assert path.parent == out_dir
        data = path.read_bytes()
        assert data.startswith(PNG)
        # IHDR width and height: the fixed figure size in pixels.
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        assert (width, height) == (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))


def test_write_charts(tmp_path: Path) -> None:
    out_dir = tmp_path / "charts"
    record = _record(days=[_day(d) for d in range(60)])
    # CPU seconds of this process, not the wall clock: on CI's busy cores the wall clock also
    # counts the time other processes had them.
    start = time.process_time()
    paths = write_charts(record, out_dir)
    assert time.process_time() - start < 5  # generous: ~0.5 s on a laptop
    _assert_pngs(paths, out_dir)


def test_write_charts_edge_cases(tmp_path: Path) -> None:
    record = _record(crash_day=None, health_before=[], health_after=[])
    _assert_pngs(write_charts(record, tmp_path), tmp_path)
    empty = _record(days=[], health_before=[float("nan")], health_after=[])
    _assert_pngs(write_charts(empty, tmp_path / "empty"), tmp_path / "empty")


def test_allocation_is_drawn_as_steps_one_day_wide() -> None:
    """A position held for one day is one day wide (no ramp from the day before to the day after),
    and the stacks add up to the whole at every edge."""
    from ballast.demo.charts import allocation_steps

    xs, tops = allocation_steps([3, 4, 5], [[0.0, 40.0, 0.0], [100.0, 60.0, 100.0]])
    assert xs == [3, 4, 5, 6]
    assert tops == [[0.0, 40.0, 0.0, 0.0], [100.0, 100.0, 100.0, 100.0]]


def test_health_chart_draws_the_liquidated_positions(tmp_path: Path) -> None:
    record = _record(health_liquidated=[0.95, 1.02])
    _assert_pngs(write_charts(record, tmp_path), tmp_path)
