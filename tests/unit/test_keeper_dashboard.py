"""keepers.dashboard_render: the `status` dashboard rendered from hand-built `Status` values."""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import replace

import pytest
from rich.console import Console

from ballast.agent import Units
from keepers.dashboard_json import status_json
from keepers.dashboard_render import (
    HEALTH_LABELS,
    LOWEST_SHOWN,
    AgentLine,
    BorrowerLine,
    JobCursor,
    SettlementLine,
    SlashLine,
    SleeveLine,
    Status,
    VaultLine,
    format_bps,
    format_health,
    health_buckets,
    render_status,
)
from keepers.store import TxRecord

WAD = 10**18
USDC = 10**6
NOW = 1_750_000_000  # the status block's timestamp
DAY = 86_400
MAX_UINT = 2**256 - 1
ALICE = "0x00000000000000000000000000000000000A11cE"
BOB = "0x0000000000000000000000000000000000000B0B"
CAROL = "0x00000000000000000000000000000000000CA201"
AGENT = "0x00000000000000000000000000000000000a9e47"
RIVAL = "0x00000000000000000000000000000000000123A1"
HASH = "0x" + "ab" * 32


def borrower(address: str, health: int, debt: int, liquidatable: bool = False) -> BorrowerLine:
    return BorrowerLine(address, health, debt, liquidatable)


def tx(status: str = "mined", **fields) -> TxRecord:
    values = dict(
        tx_hash=HASH, job="liquidator", action_id="liquidate:0xabc:90", sender=ALICE, nonce=3,
        status=status, max_fee=None, priority_fee=None, gas_used=90_000,
        effective_gas_price=None, block=90, error=None, sent_at=float(NOW - 600),
        updated_at=float(NOW - 590),
    )  # fmt: skip
    return TxRecord(**(values | fields))


SETTLEMENT = SettlementLine(
    pending_deposits=20_000 * USDC,
    pending_redemptions=3_000 * WAD,
    pending_redemptions_assets=3_000 * USDC,
    claimable_redemptions=1_500 * USDC,
    strike_count=12,
    last_strike_block=88,
    last_strike_at=NOW - 3_600,
    strikable=True,
    reason="",
    locked_donations=15_000 * USDC,
    locked_until=NOW + 6 * DAY,
)


def status(**fields) -> Status:
    """A healthy system: 1M NAV, three sleeves inside their caps, idle above its buffer."""
    vault = VaultLine(
        nav=1_000_000 * USDC,
        idle=100_000 * USDC,
        idle_buffer_bps=500,
        total_supply=1_000_000 * WAD,
        share_price=1_000_000,
        automation_paused=False,
        is_shutdown=False,
        next_rebalance_at=NOW + DAY,
        sleeves=(
            SleeveLine("tbill", 300_000 * USDC, 3_000, 6_000),
            SleeveLine("gold", 100_000 * USDC, 1_000, 4_000),
            SleeveLine("lending", 500_000 * USDC, 5_000, 9_000),
        ),
    )
    values = dict(
        block=100,
        timestamp=NOW,
        keeper=ALICE,
        asset=Units(6, "mUSDC"),
        shares=Units(18, "bRWA"),
        vault=vault,
        borrowers=(borrower(BOB, 3 * WAD // 2, 5_000 * USDC),),
        settlement=SETTLEMENT,
        agents=(AgentLine(AGENT, True, 10_000 * USDC, 0, -168 * WAD, 1, 0, 0),),
        open_decisions=1,
        due_decisions=0,
        slashes=(),
        actions=(),
        jobs=(JobCursor("liquidator", 95), JobCursor("evaluator", None)),
        sentinel_tripped=False,
        failures={},
    )
    return Status(**(values | fields))


def render(s: Status, width: int = 160) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(render_status(s))
    return console.export_text()


def row(text: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is `first`."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{text}")


# ------------------------------------------------------------------ health buckets


@pytest.mark.parametrize(
    ("health", "label"),
    [
        (0, "< 1.0"),
        (WAD - 1, "< 1.0"),
        (WAD, "1.0 – 1.1"),
        (11 * WAD // 10 - 1, "1.0 – 1.1"),
        (11 * WAD // 10, "1.1 – 1.5"),
        (15 * WAD // 10 - 1, "1.1 – 1.5"),
        (15 * WAD // 10, "≥ 1.5"),
        (MAX_UINT - 1, "≥ 1.5"),
    ],
)
def test_each_health_falls_in_its_band_lower_edge_included(health, label):
    buckets = {b.label: (b.count, b.debt) for b in health_buckets([borrower(BOB, health, 7)])}
    assert buckets == {name: (1, 7) if name == label else (0, 0) for name in HEALTH_LABELS}


def test_buckets_sum_debt_and_leave_out_borrowers_without_debt():
    lines = [
        borrower(ALICE, WAD // 2, 100 * USDC),
        borrower(BOB, WAD * 9 // 10, 250 * USDC),
        borrower(CAROL, MAX_UINT, 0),  # repaid: no debt, infinite health
    ]
    counts = [(b.count, b.debt) for b in health_buckets(lines)]
    assert counts == [(2, 350 * USDC), (0, 0), (0, 0), (0, 0)]


def test_the_bucket_table_shows_count_debt_and_share_of_debt():
    lines = (
        borrower(ALICE, WAD - 1, 7_900 * USDC, liquidatable=True),
        borrower(BOB, WAD, 2_100 * USDC),
        borrower(CAROL, 2 * WAD, 0),
    )
    text = render(status(borrowers=lines))
    assert row(text, "< 1.0") == ["< 1.0", "1", "7,900", "79.00%"]
    assert row(text, "1.0 – 1.1") == ["1.0 – 1.1", "1", "2,100", "21.00%"]
    assert row(text, "1.1 – 1.5") == ["1.1 – 1.5", "0", "0", "0.00%"]
    assert row(text, "total") == ["total", "2", "10,000", ""]
    assert "Lowest health (of 2)" in text
    assert row(text, ALICE) == [ALICE, "0.999", "7,900", "yes"]  # rounded down, never 1.000
    assert row(text, BOB) == [BOB, "1.000", "2,100", "no"]
    # no debt: not a borrower to watch, but a position its holder finds (below the lowest)
    assert text.index(CAROL) > text.index(BOB) and "Without debt: 1 position" in text
    assert row(text, CAROL)[1:] == ["2.000 (no debt)", "0"]


def test_only_the_lowest_health_borrowers_are_listed_lowest_first():
    lines = tuple(
        borrower(f"0x{i + 1:040x}", WAD + i * WAD // 100, USDC) for i in reversed(range(8))
    )
    text = render(status(borrowers=lines))
    listed = [
        line for line in text.splitlines() if "0x000000000000000000000000000000000000000" in line
    ]
    assert len(listed) == LOWEST_SHOWN
    assert [row(text, f"0x{i + 1:040x}")[1] for i in range(LOWEST_SHOWN)] == [
        "1.000", "1.010", "1.020", "1.030", "1.040"
    ]  # fmt: skip
    assert "0x0000000000000000000000000000000000000006" not in text


# ------------------------------------------------------------------ formatting


@pytest.mark.parametrize(
    ("health", "shown"),
    [(0, "0.000"), (WAD - 1, "0.999"), (WAD, "1.000"), (1_234_999 * WAD // 1_000_000, "1.234"),
     (12_345 * WAD, "12,345.000"), (MAX_UINT, "∞")],
)  # fmt: skip
def test_format_health(health, shown):
    assert format_health(health) == shown


@pytest.mark.parametrize(("bps", "shown"), [(0, "0.00%"), (5, "0.05%"), (1_234, "12.34%"),
                                            (10_000, "100.00%"), (-250, "-2.50%")])  # fmt: skip
def test_format_bps(bps, shown):
    assert format_bps(bps) == shown


def test_amounts_use_the_asset_and_share_decimals():
    vault = replace(
        status().vault, nav=1_234_567_890_123, share_price=1_000_123, total_supply=15 * WAD // 10
    )
    text = render(status(vault=vault))
    assert "1,234,567.890123 mUSDC" in text
    assert "1.000123 mUSDC per bRWA" in text
    assert "1.5 bRWA" in text
    odd = replace(vault, total_supply=20_618_449_638_072_566_141_800)
    assert "~20,618.449638 bRWA" in render(status(vault=odd))  # shown to the asset's decimals
    eight = render(status(vault=vault, asset=Units(8, "WBTC")))
    assert "12,345.67890123 WBTC" in eight


def test_allocation_flags_a_sleeve_over_its_cap_and_idle_below_its_buffer():
    text = render(status())
    assert row(text, "tbill") == ["tbill", "300,000", "30.00%", "cap 60.00%", "ok"]
    assert row(text, "idle") == ["idle", "100,000", "10.00%", "buffer 5.00%", "ok"]
    sleeves = (SleeveLine("tbill", 650_000 * USDC, 6_500, 6_000),
               SleeveLine("lending", 320_000 * USDC, 3_200, 9_000))  # fmt: skip
    vault = replace(status().vault, idle=30_000 * USDC, sleeves=sleeves)
    text = render(status(vault=vault))
    assert row(text, "tbill") == ["tbill", "650,000", "65.00%", "cap 60.00%", "OVER CAP"]
    assert row(text, "lending")[-1] == "ok"
    assert row(text, "idle") == ["idle", "30,000", "3.00%", "buffer 5.00%", "BELOW BUFFER"]


def test_vault_times_are_relative_to_the_status_block():
    text = render(status())
    assert "next rebalance" in text and "(in 1d)" in text
    ready = replace(status().vault, next_rebalance_at=NOW - 5)
    assert "allowed now (cooldown over)" in render(status(vault=ready))
    shut = replace(status().vault, is_shutdown=True, automation_paused=True)
    assert "SHUT DOWN" in render(status(vault=shut))
    assert "paused" in render(status(vault=replace(status().vault, automation_paused=True)))


def test_called_loans_show_when_they_fall_due():
    """After a shutdown's `callLoans`: the book's due time, and once it is past, that every loan
    may be liquidated in full (the borrowers' health no longer protects them)."""
    assert "called" not in render(status())  # not called: no row
    shut = replace(status().vault, is_shutdown=True, loans_due_at=NOW + 7 * DAY)
    assert row(render(status(vault=shut)), "loans")[1].startswith("called, due ")
    assert "(in 7d)" in row(render(status(vault=shut)), "loans")[1]
    due = replace(shut, loans_due_at=NOW - 60)
    cells = row(render(status(vault=due)), "loans")
    assert cells[1].startswith("called, DUE: liquidatable in full") and "ago)" in cells[1]


# ------------------------------------------------------------------ empty states


def test_empty_states_are_said_in_words():
    text = render(status(borrowers=(), slashes=(), actions=(), agents=()))
    assert "no borrowers" in text
    assert "no pending slashes" in text
    assert "no transactions recorded" in text
    assert "no registered agents; 1 open decision, 0 due for evaluation" in text
    assert "Reads that failed" not in text
    assert "no lending book" in render(status(borrowers=None))


def test_positions_without_debt_are_counted_not_called_no_borrowers():
    # a borrower who repaid keeps a position (collateral only): the book is not empty
    one = render(status(borrowers=(borrower(BOB, MAX_UINT, 0),)))
    assert "1 position, none borrowing" in one
    assert "no borrowers" not in one
    two = render(status(borrowers=(borrower(BOB, MAX_UINT, 0), borrower(CAROL, MAX_UINT, 0))))
    assert "2 positions, none borrowing" in two
    assert row(two, BOB) == [BOB, "∞ (no debt)", "0"] and row(two, CAROL)[1] == "∞ (no debt)"


def test_positions_without_debt_are_listed_beside_the_borrowers():
    # collateral posted, nothing borrowed: the holder finds the position, with infinite health
    text = render(status(borrowers=(borrower(ALICE, 2 * WAD, 100 * USDC),
                                    borrower(BOB, MAX_UINT, 0))))  # fmt: skip
    assert "Without debt: 1 position" in text and "none borrowing" not in text
    assert row(text, BOB) == [BOB, "∞ (no debt)", "0"]
    assert row(text, "total")[1] == "1"  # the buckets count the debt's borrowers
    many = tuple(borrower(f"0x{i:040x}", MAX_UINT, 0) for i in range(1, 8))
    text = render(status(borrowers=many))
    assert "7 positions, none borrowing" in text
    assert "… and 2 more (--json lists every position)" in text


# ------------------------------------------------------------------ requests, agents, slashes


def test_requests_and_strikes_show_what_waits_the_strikes_the_trigger_and_locked_donations():
    text = render(status())
    assert "Requests and strikes" in text
    assert row(text, "pending deposits") == ["pending deposits", "20,000 mUSDC"]
    assert row(text, "pending redemptions") == [
        "pending redemptions", "3,000 bRWA (worth 3,000 mUSDC)"
    ]  # fmt: skip
    assert row(text, "claimable redemptions") == ["claimable redemptions", "1,500 mUSDC"]
    assert row(text, "strikes") == [
        "strikes", "12 (last: block 88, 2025-06-15 14:06:40 UTC (1h ago))"
    ]  # fmt: skip
    assert row(text, "strike trigger") == ["strike trigger", "ready: strike()"]
    assert row(text, "locked donations") == [
        "locked donations", "15,000 mUSDC, unlocked by 2025-06-21 15:06:40 UTC (in 6d)"
    ]  # fmt: skip
    waiting = replace(
        SETTLEMENT, strikable=False, reason="prices not newer than requests", locked_donations=0
    )
    text = render(status(settlement=waiting))
    assert row(text, "strike trigger") == [
        "strike trigger",
        "not now: prices not newer than requests",
    ]
    assert row(text, "locked donations") == ["locked donations", "none"]
    futile = replace(SETTLEMENT, futile="run at block 88 (eth_call), a strike would fill none")
    assert row(render(status(settlement=futile)), "strike trigger") == [
        "strike trigger",
        "true, but no settler strikes: run at block 88 (eth_call), a strike would fill none",
    ]
    never = replace(
        SETTLEMENT, strike_count=0, last_strike_block=None, last_strike_at=None,
        pending_deposits=0, pending_redemptions=0, pending_redemptions_assets=0,
        claimable_redemptions=0, reason="no request", strikable=False,
    )  # fmt: skip
    text = render(status(settlement=never))
    assert row(text, "strikes") == ["strikes", "none yet"]
    assert row(text, "pending deposits") == ["pending deposits", "0 mUSDC"]
    assert row(text, "strike trigger") == ["strike trigger", "not now: no request"]


def test_agents_show_stake_reputation_and_activity():
    idle_agent = AgentLine(
        RIVAL, False, 9_000 * USDC, 1_000 * USDC, 25 * WAD // 2, 0, 1, 500 * USDC
    )
    text = render(status(agents=(status().agents[0], idle_agent), due_decisions=1))
    assert row(text, AGENT) == [AGENT, "yes", "10,000", "0", "-168.00 bps", "1", "0", "0"]
    assert row(text, RIVAL) == [RIVAL, "no", "9,000", "1,000", "12.50 bps", "0", "1", "500"]
    assert "1 open decision, 1 due for evaluation" in text
    suspended = dataclasses.replace(status().agents[0], active=False, suspended=True)
    text = render(status(agents=(suspended,)))
    assert row(text, AGENT)[:2] == [AGENT, "no: suspended"]  # said, not a bare "no"


def test_pending_slashes_show_the_veto_deadline_against_the_block_time():
    open_ = SlashLine(0, AGENT, 3, 1_000 * USDC, NOW + 3 * DAY - 1)
    over = SlashLine(1, AGENT, 4, 250 * USDC, NOW - 3_600)
    text = render(status(slashes=(open_, over)))
    first = row(text, "#0")
    assert first[:4] == ["#0", AGENT, "#3", "1,000"]
    assert first[4].endswith("(in 2d 23h)")
    second = row(text, "#1")
    assert second[:4] == ["#1", AGENT, "#4", "250"]
    assert second[4].endswith("(1h ago): executable")
    assert "no pending slashes" not in text
    assert "AgentRegistry" not in text  # every slash is the vault's registry's: no column


def test_a_slash_of_a_registry_the_vault_left_is_named_beside_its_registry():
    """Slash ids count from 0 in each AgentRegistry: after governance moved the vault to
    another, a pending slash of the first is shown with that registry's address."""
    left = "0x" + "ab" * 20
    ours = SlashLine(0, AGENT, 3, 1_000 * USDC, NOW + DAY)
    theirs = SlashLine(0, AGENT, 1, 250 * USDC, NOW + DAY, registry=left)
    text = render(status(slashes=(ours, theirs)), width=240)
    cells = [[c.strip() for c in line.strip().strip("│").split("│")] for line in text.splitlines()]
    rows = [c for c in cells if c[0] == "#0"]
    assert [(r[2], r[-1]) for r in rows] == [("#3", "the vault's"), ("#1", left)], text
    document = json.loads(status_json(status(slashes=(theirs,))))
    assert document["slashes"][0]["registry"] == left


# ------------------------------------------------------------------ header, actions, failures


def test_last_actions_show_job_action_status_and_hash():
    lost = tx("lost-race", tx_hash="lost:evaluate:3:0xabc", job="evaluator", action_id="evaluate:3",
              block=None, error="AlreadyEvaluated(decisionId=3)")  # fmt: skip
    sent = tx("sent", block=None, action_id="strike:4@99", job="settler")
    text = render(status(actions=(sent, lost, tx())))
    assert "Last 3 actions" in text
    assert row(text, "2025-06-15 14:56:40")[1:] == [
        "settler", "strike:4@99", "sent", "0xabababab…ababab", "-", ""
    ]  # fmt: skip
    lines = [line for line in text.splitlines() if "2025-06-15 14:56:40" in line]
    cells = [[c.strip() for c in line.strip().strip("│").split("│")] for line in lines]
    assert cells[1][1:] == [
        "evaluator", "evaluate:3", "lost-race", "-", "-", "AlreadyEvaluated(decisionId=3)"
    ]  # fmt: skip
    assert cells[2][1:] == [
        "liquidator", "liquidate:0xabc:90", "mined", "0xabababab…ababab", "90 (10 ago)", ""
    ]  # fmt: skip


def test_header_names_the_block_keeper_jobs_and_sentinel():
    text = render(status())
    assert "block 100 at 2025-06-15 15:06:40 UTC" in text
    assert f"keeper {ALICE}" in text
    assert "jobs' last blocks: liquidator @95, evaluator never" in text
    assert "sentinel: armed" in text
    text = render(status(keeper=None, sentinel_tripped=True, jobs=()))
    assert "keeper read-only (no account)" in text
    assert "sentinel: TRIPPED" in text
    assert "jobs' last blocks: -" in text
    assert "sentinel: never ran" in render(status(sentinel_tripped=None))


def test_failed_reads_are_listed():
    text = render(status(failures={"slashInfo(7)": "UnknownSlash(slashId=7)"}))
    assert row(text, "slashInfo(7)") == ["slashInfo(7)", "UnknownSlash(slashId=7)"]


def test_failed_reads_are_an_object_in_the_json_document():
    """`collect_status` hands `failures` over as a read-only mapping: the document must carry
    it as a JSON object of call → reason, not as the mapping's Python text."""
    from types import MappingProxyType

    failed = MappingProxyType({"slashInfo(7)": "UnknownSlash(slashId=7)"})
    document = json.loads(status_json(status(failures=failed)))
    assert document["failures"] == {"slashInfo(7)": "UnknownSlash(slashId=7)"}
