"""How `ape test -n N --dist loadscope` hands test scopes to its workers (a pytest-xdist plugin,
registered by tests/conftest.py).

xdist's loadscope keeps a module (or a class: each hypothesis state machine is one) on one
worker, so module fixtures deploy once per module, but it queues the scopes by their number of
tests, largest first. That puts the slowest scopes last: a state machine or a scenario is one
test that runs for minutes, so it started when the other worker had nothing left to take, and
the run waited on one worker alone. Each worker also took up to two scopes ahead of the one it
was running, so the last long scopes could pile up on one worker.

This scheduler orders the scopes by their measured time instead (`scope_costs.json`, seconds
per scope from a whole run: `python tools/scope_costs.py <junit.xml>` regenerates it), longest
first, so the long scopes start at once and the short ones fill the gaps at the end; a scope
missing from the table counts `DEFAULT_COST_PER_TEST` seconds a test. A worker is given its
next scope only when the one it runs has one test left (the fewest pytest needs to keep
going). Which tests run, where their fixtures live and what they assert are unchanged.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

COSTS_FILE = Path(__file__).with_name("scope_costs.json")
DEFAULT_COST_PER_TEST = 1.0


def load_costs(path: Path = COSTS_FILE) -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def order_by_cost(
    workqueue: OrderedDict[str, dict[str, bool]], costs: dict[str, float]
) -> OrderedDict[str, dict[str, bool]]:
    """The same scopes, the most expensive first (ties keep their order)."""

    def cost(item: tuple[str, dict[str, bool]]) -> float:
        scope, tests = item
        return costs.get(scope, DEFAULT_COST_PER_TEST * len(tests))

    return OrderedDict(sorted(workqueue.items(), key=cost, reverse=True))


class CostOrderedScheduling(LoadScopeScheduling):
    """Loadscope with the queue ordered by measured cost (see the module docstring)."""

    costs = load_costs()
    _order_queue = False

    def schedule(self) -> None:
        # The first call builds the queue and assigns the first scopes: order it in between.
        self._order_queue = self.collection is None
        super().schedule()

    def _assign_work_unit(self, node) -> None:
        if self._order_queue:
            self.workqueue = order_by_cost(self.workqueue, self.costs)
            self._order_queue = False
        super()._assign_work_unit(node)

    def _reschedule(self, node) -> None:
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        # One test left: give it the next scope (a worker needs two to run the first).
        if self._pending_of(self.assigned_work[node]) > 1:
            return
        self._assign_work_unit(node)


def make_scheduler(config, log):
    """The scheduler for `--dist loadscope`; None leaves every other mode to xdist."""
    if config.getvalue("dist") != "loadscope":
        return None
    return CostOrderedScheduling(config, log)
