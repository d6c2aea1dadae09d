"""Logging for keeper processes: human lines (rich) or one JSON object per line.

Structured fields passed with `extra=` (job, action_id, outcome, tx_hash, block, alert,
severity) become JSON keys, so a log pipeline can count outcomes or follow one action.
"""

from __future__ import annotations

import json
import logging
import sys
import time

__all__ = ["JsonFormatter", "configure_logging"]

FIELDS = ("job", "action_id", "outcome", "tx_hash", "block", "alert", "severity")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = value
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(doc, separators=(",", ":"))


def configure_logging(json_lines: bool = False, level: int = logging.INFO) -> None:
    """Routes the `keepers` loggers to stderr (JSON lines or rich text)."""
    logger = logging.getLogger("keepers")
    logger.handlers.clear()
    logger.setLevel(level)
    logger.propagate = False
    if json_lines:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    else:
        from rich.console import Console
        from rich.logging import RichHandler

        console = Console(stderr=True)
        if not console.is_terminal:  # systemd, docker, pipes: one entry per line, not 80 columns
            console = Console(stderr=True, width=240)
        handler = RichHandler(console=console, show_path=False, markup=False)
    logger.addHandler(handler)
