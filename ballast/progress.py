"""A labelled progress display for long runs of transactions (the deploy).

Each finished step is one line (its label); below them a spinner says what is under way and how
many transactions are confirmed. Ape logs ``INFO: Confirmed 0x… (total fees paid = …)`` for every
transaction and two more lines for every contract it deploys; while the display is open those
info lines are left out (the confirmations counted): warnings and errors still print, and
``-v DEBUG`` shows everything.
"""

from __future__ import annotations

import logging
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

APE_LOGGER = "ape"


class _CountConfirmed(logging.Filter):
    """Drops Ape's per-transaction info lines ("Confirmed 0x…", "Contract will be deployed
    at …", "Contract 'X' deployed to: …"), counting the confirmations; warnings and errors pass,
    and everything passes at ``-v DEBUG``."""

    def __init__(self, on_confirmed):
        super().__init__()
        self.on_confirmed = on_confirmed

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        if str(record.msg).startswith("Confirmed "):
            self.on_confirmed()
        return logging.getLogger(APE_LOGGER).isEnabledFor(logging.DEBUG)


class StepProgress:
    """``with StepProgress(console, "deploying") as progress: run(report=progress.step)``."""

    def __init__(self, console: Console, title: str):
        self.console = console
        self.title = title
        self.confirmed = 0
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("[dim]{task.fields[confirmed]} transactions confirmed"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task(title, confirmed=0)
        self._filter = _CountConfirmed(self._on_confirmed)

    def __enter__(self) -> StepProgress:
        logging.getLogger(APE_LOGGER).addFilter(self._filter)
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._progress.stop()
        logging.getLogger(APE_LOGGER).removeFilter(self._filter)

    def step(self, label: str) -> None:
        """A step is done: print its label, show it as the latest under the spinner."""
        self._progress.console.print(label, markup=False, highlight=False)
        self._progress.update(self._task, description=f"{self.title}: {label}")

    def _on_confirmed(self) -> None:
        self.confirmed += 1
        self._progress.update(self._task, confirmed=self.confirmed)
