"""Which node a command talks to, checked before Ape connects.

ape-foundry starts a private anvil whenever the host it is given does not answer (or none is
named), and stops it when the command ends: a deploy against a mistyped port would "succeed" on
a node that is gone a second later. Commands that act on a deployment therefore check first:
the node must be named (``APE_FOUNDRY_HOST`` or ``foundry.host``) and must answer, unless the user
asks for a private node explicitly (``BALLAST_PRIVATE_NODE=1``, or ``foundry.host: auto`` for
commands that are meant to run on one, such as the demo).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from http.client import HTTPException
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
