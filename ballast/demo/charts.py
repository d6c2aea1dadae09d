"""The demo's PNG charts, drawn from a recorded `DemoRecord` with matplotlib's Agg backend.

Figures are built with the object API on an explicit `FigureCanvasAgg` (no pyplot, so no GUI
backend, no global figure registry and nothing left open) and saved at a fixed size
(FIGSIZE at DPI, no tight bounding box), so every chart is FIGSIZE * DPI pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import matplotlib

matplotlib.use("Agg")  # non-interactive; harmless where pyplot is never imported

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ballast.demo.record import DemoRecord  # noqa: E402

__all__ = [
    "CHART_FILES",
    "DPI",
    "FIGSIZE",
    "HEALTH_CLIP",
    "write_charts",
]

FIGSIZE: Final = (10.0, 5.0)  # inches
DPI: Final = 100
HEALTH_CLIP: Final = 3.0  # health factors above this (and infinite ones) are drawn at it
HEALTH_BINS: Final = 30
CHART_FILES: Final = ("share_price.png", "allocation.png", "health.png")
# PNG metadata without the matplotlib version, so the bytes depend only on the record.
_METADATA: Final = {"Software": None}


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png", dpi=DPI, metadata=_METADATA)
    fig.clear()
    return path


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} recorded", ha="center", va="center", transform=ax.transAxes)


def _mark_crash(ax: Axes, crash_day: int | None) -> None:
    if crash_day is not None:
        ax.axvline(crash_day, color="tab:red", linestyle="--", linewidth=1, label="crash")


# ------------------------------------------------------------------ share price


def _share_price(record: DemoRecord, path: Path) -> Path:
    fig, ax = _figure()
    ax.set_title(f"Share price ({record.asset_symbol} per share), seed {record.seed}")
    ax.set_xlabel("day")
    if record.days:
        days = [d.day for d in record.days]
        ax.plot(days, [d.share_price for d in record.days], label="vault", linewidth=2)
        ax.plot(
            days,
            [d.static_share_price for d in record.days],
            label="static allocation",
            linestyle=":",
            linewidth=2,
        )
        _mark_crash(ax, record.crash_day)
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    else:
        _no_data(ax, "days")
    fig.tight_layout()
    return _save(fig, path)


# ------------------------------------------------------------------ allocation


def _weight_names(record: DemoRecord) -> list[str]:
    names = list(record.sleeves)
    for day in record.days:
        names.extend(n for n in day.weights if n not in names and n != "idle")
    return [*names, "idle"]


def allocation_steps(
    days: Sequence[int], stacks: Sequence[Sequence[float]]
) -> tuple[list[int], list[list[float]]]:
    """Stacked step edges: each day's weights hold from that day until the next (a position held
    for one day is one day wide, not a ramp across three). Returns the x edges (one more than
    the days) and, per stack, its cumulative top at each edge (the last day's value repeated)."""
    xs = [*days, days[-1] + 1]
    tops, running = [], [0.0] * len(days)
    for stack in stacks:
        running = [r + v for r, v in zip(running, stack, strict=True)]
        tops.append([*running, running[-1]])
    return xs, tops


def _allocation(record: DemoRecord, path: Path) -> Path:
    fig, ax = _figure()
    ax.set_title("Allocation (% of NAV, held from each day to the next)")
    ax.set_xlabel("day")
    if record.days:
        days = [d.day for d in record.days]
        names = _weight_names(record)
        stacks = [[d.weights.get(n, 0.0) * 100 for d in record.days] for n in names]
        xs, tops = allocation_steps(days, stacks)
        below = [0.0] * len(xs)
        for name, top in zip(names, tops, strict=True):
            ax.fill_between(xs, below, top, step="post", alpha=0.85, label=name, linewidth=0)
            below = top
        _mark_crash(ax, record.crash_day)
        ax.set_ylim(0, 100)
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylabel("%")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    else:
        _no_data(ax, "days")
    fig.tight_layout()
    return _save(fig, path)


# ------------------------------------------------------------------ health


def _clipped(values: Sequence[float]) -> list[float]:
    """Finite-or-infinite health factors, NaN dropped, each capped at HEALTH_CLIP."""
    return [min(v, HEALTH_CLIP) for v in values if not math.isnan(v)]


HEALTH_SERIES: Final = (
    ("before the crash", "tab:blue"),
    ("end of crash day, still indebted", "tab:orange"),
    ("liquidated on crash day (health before)", "tab:red"),
)


def _health(record: DemoRecord, path: Path) -> Path:
    fig, ax = _figure()
    crash = "" if record.crash_day is None else f" (crash day {record.crash_day})"
    ax.set_title(f"Borrower health factors before vs after the crash{crash}")
    ax.set_xlabel(
        f"health factor (values ≥ {HEALTH_CLIP:g}, incl. no debt, shown at {HEALTH_CLIP:g})"
    )
    ax.set_ylabel("borrowers")
    series = [
        _clipped(record.health_before),
        _clipped(record.health_after),
        _clipped(record.health_liquidated),
    ]
    shown = [
        (values, name, colour)
        for values, (name, colour) in zip(series, HEALTH_SERIES, strict=True)
        if values
    ]
    if shown:
        bins = [HEALTH_CLIP * i / HEALTH_BINS for i in range(HEALTH_BINS + 1)]
        # side by side in each bin (never overlapping: every bar has its legend's colour)
        ax.hist(
            [values for values, _, _ in shown],
            bins=bins,
            color=[colour for _, _, colour in shown],
            label=[f"{name} ({len(values)})" for values, name, _ in shown],
        )
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        _no_data(ax, "health factors")
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1, label="liquidatable below 1.0")
    ax.legend(loc="best")
    ax.set_xlim(0, HEALTH_CLIP)
    fig.tight_layout()
    return _save(fig, path)


# ------------------------------------------------------------------ all of them


def write_charts(record: DemoRecord, out_dir: Path) -> list[Path]:
    """Write CHART_FILES into `out_dir` (created if missing); returns their paths in that order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    share, allocation, health = (out_dir / name for name in CHART_FILES)
    return [
        _share_price(record, share),
        _allocation(record, allocation),
        _health(record, health),
    ]
