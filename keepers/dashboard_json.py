"""The dashboard as one JSON document (`ballast-keeper status --json`), for scripts and monitors.

Amounts are integers in base units, as read on chain, next to the token's decimals and symbol
(`asset`, `shares`); health factors are WAD integers (a borrower without debt has max uint256);
times are unix seconds. The document carries its own version: `ballast.status/1`.
"""

from __future__ import annotations

import json
from typing import Any

from ballast.jsonout import plain
from keepers.dashboard_render import Status

VERSION = "ballast.status/1"


def status_document(status: Status) -> dict[str, Any]:
    """`status` as plain JSON types, with the document's version first."""
    return {"version": VERSION, **plain(status)}


def status_json(status: Status) -> str:
    return json.dumps(status_document(status), indent=2)
