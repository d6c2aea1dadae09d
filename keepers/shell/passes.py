"""The job passes by name: `RUNNERS[job](keeper) -> JobReport`; the jobs' race checks of a sent
action by its id, for records settled after the pass that sent them: `RACE_CHECKS[job]`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from keepers.shell.evaluator import run_evaluator
from keepers.shell.liquidator import liquidation_race_check, run_liquidator
from keepers.shell.rebalancer import run_rebalancer
from keepers.shell.reports import JobReport
from keepers.shell.sentinel import run_sentinel
from keepers.shell.settler import run_settler
from keepers.shell.steward import run_steward

if TYPE_CHECKING:
    from keepers.shell.keeper import Keeper
    from keepers.tx_rules import Contested

RUNNERS: dict[str, Callable[[Keeper], JobReport]] = {
    "liquidator": run_liquidator,
    "evaluator": run_evaluator,
    "settler": run_settler,
    "sentinel": run_sentinel,
    "rebalancer": run_rebalancer,
    "steward": run_steward,
}

RACE_CHECKS: dict[str, Callable[[Keeper, str], Contested | None]] = {
    "liquidator": liquidation_race_check,
}
"""Jobs whose lost race may show only as a chain fact (another address acted first, while the
revert names no lost-race error); the others' races are their lost-race errors."""
