"""One sending process per keeper state file: an exclusive advisory lock (`flock`) on
`<state file>.lock`, taken when a keeper that may send opens (`ballast-keeper once`, the bot's
worker) and released when its state closes or the process ends, however it ends (the kernel
drops the lock of a killed process).

Why: a state file is one key on one chain and deployment. Two processes of one key that share
it would each settle, resume and bump the other's transactions in flight and send the same
action twice wherever the chain does not refuse a repeat; the node-level defences (the
pending-block simulation, nonces) narrow that, this refuses it before anything is read or sent.
Views (`status`, `verify-*`) and dry runs send nothing and take no lock. The Redis broker's key
lease does the same across hosts (keepers/bots/README.md); this covers one host without Redis,
e.g. a cron `once` started beside a running bot. The lock file holds the holder's pid, for the
message only.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StateInUse(RuntimeError):
    """Another process holds the state file's lock; one line for the operator."""


def lock_path(state: Path) -> Path:
    return state.with_name(state.name + ".lock")


def hold(state: Path) -> int:
    """Takes the lock of `state` without waiting and returns its file descriptor (close it to
    release); `StateInUse` naming the holder's pid when another process holds it."""
    path = lock_path(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StateInUse(
            f"keeper state {state} is in use by another keeper process (pid {holder}) of this "
            "key: run one sending process per key (stop the other, or use `status` to watch it)"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release(fd: int | None) -> None:
    """Releases a lock `hold` returned (None: nothing held). Once per lock: the descriptor's
    number may be reused after it is closed."""
    if fd is not None:
        os.close(fd)
