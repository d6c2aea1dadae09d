"""The job passes by name: `RUNNERS[job](keeper) -> JobReport`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from keepers.shell.evaluator import run_evaluator
from keepers.shell.liquidator import run_liquidator
from keepers.shell.rebalancer import run_rebalancer
from keepers.shell.reports import JobReport
from keepers.shell.sentinel import run_sentinel
from keepers.shell.settler import run_settler
from keepers.shell.steward import run_steward

if TYPE_CHECKING:
    from keepers.shell.keeper import Keeper

RUNNERS: dict[str, Callable[[Keeper], JobReport]] = {
    "liquidator": run_liquidator,
    "evaluator": run_evaluator,
    "settler": run_settler,
    "sentinel": run_sentinel,
    "rebalancer": run_rebalancer,
    "steward": run_steward,
}
