"""The results chart (matplotlib, Agg backend): mean net NAV over the paths per strategy, and
the distribution over paths of annual return, Sharpe ratio and max drawdown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from benchmarks.backtest.metrics import PathMetrics  # noqa: E402


def render(
    out: Path,
    mean_nav: Mapping[str, Sequence[float]],
    by_policy: Mapping[str, Sequence[PathMetrics]],
    title: str,
) -> None:
    """Write the 2x2 chart to `out` (PNG)."""
    names = list(by_policy)
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    ax = axes[0][0]
    for name in names:
        curve = mean_nav[name]
        ax.plot(range(len(curve)), [100 * (v - 1) for v in curve], label=name)
    ax.set_title("mean net NAV over paths (gas deducted)")
    ax.set_xlabel("day")
    ax.set_ylabel("cumulative return, %")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    panels = (
        (axes[0][1], "annual_return", "annual return, %", 100.0),
        (axes[1][0], "sharpe", "annualised Sharpe (rf = 0)", 1.0),
        (axes[1][1], "max_drawdown", "max drawdown, %", 100.0),
    )
    for ax, field, label, scale in panels:
        data = [[scale * getattr(m, field) for m in by_policy[n]] for n in names]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=20, fontsize=8)
        ax.set_title(f"{label} per path")
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


__all__ = ["render"]
