"""Commands that act on a deployment check their node before Ape connects: a node that does not
answer, or none named, is one line and exit 1, never a private anvil that vanishes with the
command (ape-foundry's silent fallback) and a manifest for a chain that no longer exists."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from ballast.node import PRIVATE_NODE_VARIABLE, NodeError, probe, require_node
from tests.cli_forkserver import forked
from tests.ports import free_port

KEEPER = Path(sys.executable).with_name("ballast-keeper")


def _dead_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    return free_port()


def _foundry(host: str | None) -> SimpleNamespace:
    """The parts of an ape-foundry provider require_node reads."""
    return SimpleNamespace(
        name="foundry", network=SimpleNamespace(name="local"), settings=SimpleNamespace(host=host)
    )


def test_a_named_node_that_answers_passes_and_its_chain_id_is_read(chain, monkeypatch):
    monkeypatch.setenv("APE_FOUNDRY_HOST", chain.provider.uri)
    require_node(_foundry("auto"))
    assert probe(chain.provider.uri) == chain.chain_id


@pytest.mark.parametrize("host", [None, "auto"])
def test_no_node_named_is_refused_unless_a_private_node_is_asked_for(host, monkeypatch):
    monkeypatch.delenv("APE_FOUNDRY_HOST", raising=False)
    monkeypatch.delenv(PRIVATE_NODE_VARIABLE, raising=False)
    with pytest.raises(NodeError, match="no node named: export APE_FOUNDRY_HOST"):
        require_node(_foundry(host))
    require_node(_foundry(host), private_ok=True)  # the demo: meant for a private anvil
    monkeypatch.setenv(PRIVATE_NODE_VARIABLE, "1")
    require_node(_foundry(host))


def test_the_in_memory_test_provider_is_refused_even_with_a_node_on_its_uri(chain, monkeypatch):
    """`--network ethereum:local:test` runs on ape-test's in-memory chain; its URI
    (localhost:8545 by default) may well answer, being where anvil listens by default, so probing
    it proves nothing: refused like a private anvil unless asked for."""
    monkeypatch.delenv(PRIVATE_NODE_VARIABLE, raising=False)
    local = SimpleNamespace(name="local")
    test = SimpleNamespace(name="test", network=local, uri=chain.provider.uri)  # it answers
    with pytest.raises(NodeError, match="the `test` provider is an in-memory chain"):
        require_node(test)
    require_node(test, private_ok=True)
    monkeypatch.setenv(PRIVATE_NODE_VARIABLE, "1")
    require_node(test)


def test_a_named_node_that_does_not_answer_is_refused(monkeypatch):
    monkeypatch.setenv("APE_FOUNDRY_HOST", f"http://127.0.0.1:{_dead_port()}")
    monkeypatch.delenv(PRIVATE_NODE_VARIABLE, raising=False)
    with pytest.raises(NodeError, match=r"cannot reach node at http://127\.0\.0\.1:\d+"):
        require_node(_foundry("auto"))
    with pytest.raises(NodeError, match="cannot reach node"):
        require_node(_foundry("auto"), private_ok=True)  # named: must answer, even for the demo


@pytest.mark.parametrize(
    "form", ["{host}", "localhost:{port}", " http://{host}", "http://{host} ", "http://[::1"]
)
def test_a_host_that_is_not_a_url_is_refused_even_when_the_node_answers(chain, monkeypatch, form):
    """ape-foundry takes APE_FOUNDRY_HOST as it is: `127.0.0.1:8545` (no scheme) it cannot
    reach, so it starts a private anvil on 127.0.0.1:8545 instead, even though a node answers
    at the named address; a stray space fails its connection after 20 s. Refused in one line
    before Ape connects (the probe alone would have found the node and let it through)."""
    host = chain.provider.uri.removeprefix("http://")
    variable = form.format(host=host, port=host.split(":")[-1])
    monkeypatch.setenv("APE_FOUNDRY_HOST", variable)
    monkeypatch.delenv(PRIVATE_NODE_VARIABLE, raising=False)
    with pytest.raises(NodeError) as err:
        require_node(_foundry("auto"))
    message = str(err.value)
    assert "\n" not in message
    if "[" in form:
        assert message.startswith("cannot reach node at http://[::1: Invalid IPv6 URL")
        return
    bare = variable.strip().removeprefix("http://")
    assert message == (
        f"APE_FOUNDRY_HOST={variable!r} is not an http:// or https:// URL: e.g. export "
        f"APE_FOUNDRY_HOST=http://{bare}"
    )


def test_a_host_without_scheme_starts_no_private_anvil(repo_root, chain, tmp_path):
    """The real wrapper: `params status` with the node named as host:port stops in one line;
    no anvil is started (on 127.0.0.1:8545, another node, or nothing)."""
    env = {**os.environ, "APE_FOUNDRY_HOST": chain.provider.uri.removeprefix("http://"),
           "NO_COLOR": "1"}  # fmt: skip
    env.pop(PRIVATE_NODE_VARIABLE, None)
    result = _run(
        ["ape", "run", "params", "status", "--network", "ethereum:local:foundry",
         "--manifest", str(tmp_path / "none.json")],
        env, repo_root,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: APE_FOUNDRY_HOST='{env['APE_FOUNDRY_HOST']}' is not an http")


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    args, env = forked(args, env)
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_deploy_against_a_dead_node_sends_nothing_and_writes_no_manifest(repo_root, tmp_path):
    manifest = tmp_path / "ethereum-local.json"
    env = {**os.environ, "APE_FOUNDRY_HOST": f"http://127.0.0.1:{_dead_port()}", "NO_COLOR": "1"}
    env.pop(PRIVATE_NODE_VARIABLE, None)
    result = _run(
        ["ape", "run", "deploy", "--network", "ethereum:local:foundry", "--account", "TEST::0",
         "--manifest", str(manifest)],
        env, repo_root,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: cannot reach node at http://127.0.0.1:")
    assert "Traceback" not in result.stdout + result.stderr
    assert not manifest.exists()


def test_the_keeper_without_a_named_node_refuses_in_one_line(repo_root, tmp_path):
    env = {
        k: v for k, v in os.environ.items() if k not in ("APE_FOUNDRY_HOST", PRIVATE_NODE_VARIABLE)
    }
    result = _run(
        [str(KEEPER), "--state-dir", str(tmp_path), "once", "--job", "sentinel"],
        {**env, "NO_COLOR": "1"}, repo_root,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: no node named: export APE_FOUNDRY_HOST=")


def test_other_providers_are_probed_at_their_uri_and_never_crash_the_check():
    class Unsure:  # a provider that cannot name its URI before connecting: Ape decides
        name, network = "node", SimpleNamespace(name="sepolia")

        @property
        def uri(self):
            raise RuntimeError("not configured")

    require_node(Unsure())
    dead = SimpleNamespace(
        name="node", network=SimpleNamespace(name="sepolia"), uri=f"http://127.0.0.1:{_dead_port()}"
    )
    with pytest.raises(NodeError, match="cannot reach node at http://127.0.0.1:"):
        require_node(dead)


class _NotAnvil(http.server.BaseHTTPRequestHandler):
    """A JSON-RPC node that answers, on chain 31337, but is not anvil (says Geth)."""

    ANSWERS: ClassVar[dict[str, str]] = {
        "eth_chainId": "0x7a69", "net_version": "31337", "web3_clientVersion": "Geth/v1.13.0",
        "eth_blockNumber": "0x1",
    }  # fmt: skip

    def do_POST(self):  # noqa: N802 - http.server's name
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        batch = request if isinstance(request, list) else [request]
        answers = [{"jsonrpc": "2.0", "id": r["id"], "result": self.ANSWERS.get(r["method"])}
                   for r in batch]  # fmt: skip
        body = json.dumps(answers if isinstance(request, list) else answers[0]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


def test_a_node_that_answers_but_is_not_anvil_is_one_line(repo_root, tmp_path):
    """ape-foundry refuses a node that is not anvil (FoundryProviderError) while connecting: one
    line and exit 1, not a traceback."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotAnvil)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "NO_COLOR": "1",
               "APE_FOUNDRY_HOST": f"http://127.0.0.1:{server.server_address[1]}"}  # fmt: skip
        env.pop(PRIVATE_NODE_VARIABLE, None)
        result = _run(
            ["ape", "run", "params", "status", "--network", "ethereum:local:foundry",
             "--manifest", str(tmp_path / "none.json")],
            env, repo_root,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: cannot use the node: ")
    assert "isn't an Anvil node" in line
