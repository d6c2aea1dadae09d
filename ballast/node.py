"""Which node a command talks to, checked before Ape connects.

ape-foundry starts a private anvil whenever the host it is given does not answer (or none is
named), and stops it when the command ends: a deploy against a mistyped port would "succeed" on
a node that is gone a second later. Commands that act on a deployment therefore check first:
the node must be named (``APE_FOUNDRY_HOST`` or ``foundry.host``) and must answer, unless the user
asks for a private node explicitly (``BALLAST_PRIVATE_NODE=1``, or ``foundry.host: auto`` for
commands that are meant to run on one, such as the demo).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path
from typing import Any

PRIVATE_NODE_VARIABLE = "BALLAST_PRIVATE_NODE"
PROBE_TIMEOUT = 5.0


class NodeError(Exception):
    """The named node cannot be used; the message is one line for the user."""


def probe(uri: str, timeout: float = PROBE_TIMEOUT) -> int:
    """The chain id the JSON-RPC node at `uri` answers with; NodeError when it does not answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    try:  # a malformed URL ("http://[::1", a space) is refused here too, never a traceback
        request = urllib.request.Request(uri, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
            answer = json.loads(response.read())
        return int(answer["result"], 16)
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError, HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise NodeError(f"cannot reach node at {uri}: {reason}") from None


def forget_dead_nodes(data_folder: Path | None = None) -> int:
    """Drops from Ape's map of the nodes it started (``<data folder>/processes/nodes.json``) every
    entry whose process is gone; returns how many.

    Ape adds an anvil it starts to that map and removes it only when it stops the node itself,
    so every killed run leaves an entry for good. Each connect and disconnect then checks every
    entry against its provider, rebuilding the provider's settings three times an entry (34 ms
    an entry here): 687 stale entries made every command connecting to a node 20 s slower. An
    entry names a process Ape started on this machine, so a PID no process has is stale. The map
    is rewritten whole (a new file moved into place), as Ape writes it.
    """
    if data_folder is None:
        from ape import config, networks

        data_folder = config.DATA_FOLDER
        networks.__dict__.pop("running_nodes", None)  # a map this process read: read it again
    path = Path(data_folder) / "processes" / "nodes.json"
    try:
        document = json.loads(path.read_text())
        nodes = document["nodes"]
        alive = {pid: node for pid, node in nodes.items() if _running(int(pid))}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0  # no map, or one Ape itself would discard: nothing to do
    if len(alive) == len(nodes):
        return 0
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        staged.write_text(json.dumps({**document, "nodes": alive}))
        os.replace(staged, path)
    except OSError:
        with contextlib.suppress(OSError):
            staged.unlink()
        return 0  # a read-only data folder: Ape is merely slower
    return len(nodes) - len(alive)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _http(host: str) -> str:
    """The URL ape-foundry makes of a configured ``foundry.host``: http for a local one, https
    for any other."""
    if host.startswith(("http://", "https://")):
        return host
    local = "127.0.0.1" in host or "localhost" in host
    return f"{'http' if local else 'https'}://{host}"


def require_node(provider: Any, private_ok: bool = False) -> None:
    """Refuse (NodeError) unless `provider` will reach a node that is running.

    For ape-foundry on a local network: the host comes from ``APE_FOUNDRY_HOST``, else the
    config's ``foundry.host``; none (or ``auto``) means a private anvil, allowed only when
    `private_ok` or ``BALLAST_PRIVATE_NODE=1``. Other providers are probed at their URI when
    they have an HTTP one.
    """
    private_asked = os.environ.get(PRIVATE_NODE_VARIABLE, "") not in ("", "0")
    if getattr(provider, "name", None) == "test":  # ape-test: an in-memory chain, never a node
        if private_ok or private_asked:
            return
        raise NodeError(
            "the `test` provider is an in-memory chain that ends with this command (whatever "
            "answers on its URI): use --network ethereum:local:foundry with APE_FOUNDRY_HOST, or "
            f"{PRIVATE_NODE_VARIABLE}=1 for a throwaway chain"
        )
    if (
        getattr(provider, "name", None) == "foundry"
        and getattr(provider.network, "name", "") == "local"
    ):
        variable = os.environ.get("APE_FOUNDRY_HOST")
        host = variable or provider.settings.host
        spaced = variable is not None and variable != "".join(variable.split())
        if variable and (spaced or not variable.startswith(("http://", "https://"))):
            # ape-foundry takes the variable as it is: without a scheme it cannot reach it and
            # starts a private anvil on 127.0.0.1:8545 instead (and deploys there)
            raise NodeError(
                f"APE_FOUNDRY_HOST={variable!r} is not an http:// or https:// URL: e.g. "
                f"export APE_FOUNDRY_HOST=http://{variable.strip().split('://')[-1]}"
            )
        if host in (None, "", "auto"):
            if private_ok or private_asked:
                return
            raise NodeError(
                "no node named: export APE_FOUNDRY_HOST=http://127.0.0.1:8545 (your anvil), or "
                f"{PRIVATE_NODE_VARIABLE}=1 for a private anvil that stops when this command ends"
            )
        uri = _http(host)
        try:
            probe(uri)
        except NodeError as err:
            if private_asked:
                return  # asked for a private anvil: ape-foundry starts one on that host
            raise NodeError(
                f"{err}; start the node or point APE_FOUNDRY_HOST at a running one "
                f"(a private anvil only with {PRIVATE_NODE_VARIABLE}=1)"
            ) from None
        return
    try:
        uri = getattr(provider, "uri", None)
    except Exception:  # noqa: BLE001 - a provider that cannot say before connecting: Ape decides
        return
    if isinstance(uri, str) and uri.startswith(("http://", "https://")):
        probe(uri)
