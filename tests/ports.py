"""Ports for the servers a test starts itself (anvil, redis-server, a fault proxy).

Asking the kernel for a free port (bind to 0) and releasing it races: until the test's server
binds it, the kernel may give the same port to another test worker asking the same way or to an
outgoing connection, and ape-foundry may pick it for a worker's own anvil (at random in
49152-60999). Each xdist worker draws from a range of its own below the kernel's ephemeral ports
(32768-60999 on Linux), so two workers never draw the same port and the kernel hands none of
them out by itself.
"""

from __future__ import annotations

import itertools
import os
import socket

FIRST = 20000
PER_WORKER = 1000
WORKERS = 12  # ranges 20000-31999: below the ephemeral ports

_drawn = itertools.count()


def worker_index() -> int:
    """This xdist worker's number (gw2 -> 2); 0 outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


def free_port() -> int:
    """A port of this worker's range that nothing listens on now (bound, then released); the
    next call draws the next port, so a server that stopped does not get its port back."""
    base = FIRST + PER_WORKER * (worker_index() % WORKERS)
    for _ in range(PER_WORKER):
        port = base + next(_drawn) % PER_WORKER
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # in use, or still in TIME_WAIT: the next one
                continue
            return port
    raise RuntimeError(f"no free port in {base}-{base + PER_WORKER - 1}")
