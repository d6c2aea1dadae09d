"""The deploy's progress display: one line per step, Ape's per-transaction info lines left out
(confirmations counted), warnings still shown."""

from __future__ import annotations

import io
import logging

from ape.logging import logger
from rich.console import Console

from ballast.progress import StepProgress


def _console(buffer: io.StringIO) -> Console:
    return Console(file=buffer, width=200, force_terminal=False)


def test_steps_are_lines_and_apes_chatter_is_counted_not_shown(caplog):
    out = io.StringIO()
    caplog.set_level(logging.INFO, logger="ape")
    with StepProgress(_console(out), "deploying") as progress:
        logger.info("Contract will be deployed at: 0x5FbDB2315678afecb367f032d93F642f64180aa3")
        logger.info("Confirmed 0xabc (total fees paid = 1)")
        progress.step("asset: deployed MockStablecoin mUSDC at 0x5FbD…")
        logger.info("Confirmed 0xdef (total fees paid = 1)")
        logger.warning("the node is slow")
        progress.step("parameters[x]: 43 defined")  # brackets are text, not markup
    assert progress.confirmed == 2
    assert out.getvalue().strip().splitlines() == [
        "asset: deployed MockStablecoin mUSDC at 0x5FbD…",
        "parameters[x]: 43 defined",
    ]
    shown = [r.getMessage() for r in caplog.records]
    assert shown == ["the node is slow"]


def test_apes_lines_come_back_once_the_display_is_closed(caplog):
    caplog.set_level(logging.INFO, logger="ape")
    with StepProgress(_console(io.StringIO()), "deploying"):
        pass
    logger.info("Confirmed 0x123 (total fees paid = 1)")
    assert [r.getMessage() for r in caplog.records] == ["Confirmed 0x123 (total fees paid = 1)"]
