"""tests/lean_http.py: the test process's requests to the nodes Ape started go over a kept-alive
socket instead of web3's `requests` session, and a caller of web3's HTTPProvider sees what it saw
through `requests`: the reply, a `requests.HTTPError` for a status other than 200, a
`requests.ConnectionError` for a node that is not there or hangs up, a `requests.ReadTimeout` for
one that does not answer in time (and no late reply answering the next request). Any other URL
keeps `requests`, and so does a node's URL once Ape stopped it."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import requests
from ape.api.providers import SubprocessProvider
from web3 import Web3
from web3.providers.rpc import HTTPProvider

import tests.lean_http as lean
from tests.ports import free_port


class Node:
    """A JSON-RPC server on 127.0.0.1 whose `method` says how it answers; it counts the
    connections it accepted and the requests it served. `closed` is set when it has closed a
    connection; a `stall` is answered only once `release` is set, then `late_reply_sent` is."""

    def __init__(self) -> None:
        node = self
        self.connections = 0
        self.served = 0
        self.closed = threading.Event()
        self.release = threading.Event()
        self.late_reply_sent = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as anvil

            def setup(self) -> None:
                node.connections += 1
                super().setup()

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                call = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.served += 1
                if isinstance(call, list):  # a batch: each call answered with its method
                    method = "batch"
                    answer = [{"jsonrpc": "2.0", "id": c["id"], "result": c["method"]}
                              for c in call]  # fmt: skip
                else:
                    method = call["method"]
                    answer = {"jsonrpc": "2.0", "id": call["id"], "result": method}
                body = json.dumps(answer).encode()
                if method == "stall":
                    node.release.wait(30)
                if method == "http-502":
                    self.send_response(502)
                    self.send_header("Content-Length", "7")
                    self.end_headers()
                    self.wfile.write(b"gateway")
                    return
                if method == "hang-up":
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if method == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for part in (body[:5], body[5:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    with contextlib.suppress(OSError):  # a stalled client may have gone
                        self.wfile.write(body)
                if method == "stall":
                    node.late_reply_sent.set()
                if method == "close-after":  # the node drops the idle connection
                    self.close_connection = True

            def log_message(self, format, *args) -> None:  # noqa: A002 - the base's name
                pass

        class Server(ThreadingHTTPServer):
            def shutdown_request(self, request) -> None:
                super().shutdown_request(request)
                node.closed.set()

        self.server = Server(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def json_rpc_node():
    served = Node()
    lean._lean_nodes.add(served.url)
    try:
        yield served
    finally:
        lean._lean_nodes.discard(served.url)
        lean._close(served.url)
        served.close()


def provider(url: str, timeout: float = 30) -> HTTPProvider:
    return Web3(HTTPProvider(url, request_kwargs={"timeout": timeout})).provider


@pytest.fixture
def posts(monkeypatch) -> list[str]:
    """The URLs `requests` sessions posted to, in order."""
    posted: list[str] = []
    post = requests.Session.post

    def counted(self, *args, **kwargs):
        posted.append(args[0])
        return post(self, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "post", counted)
    return posted


@pytest.fixture
def no_requests(monkeypatch):
    """`requests` sessions refuse to post: a request that reaches one fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a request went through a requests session")

    monkeypatch.setattr(requests.Session, "post", refuse)


def test_a_started_node_is_reached_over_one_kept_socket(json_rpc_node, no_requests):
    web3 = provider(json_rpc_node.url)
    assert [web3.make_request(m, [])["result"] for m in ("a", "chunked", "b")] == [
        "a", "chunked", "b"]  # fmt: skip
    batch = web3.make_batch_request([("x", []), ("y", [])])
    assert [answer["result"] for answer in batch] == ["x", "y"]
    assert json_rpc_node.connections == 1


def test_a_node_that_dropped_the_idle_connection_is_reached_on_a_new_one(
    json_rpc_node, no_requests
):
    web3 = provider(json_rpc_node.url)
    assert web3.make_request("close-after", [])["result"] == "close-after"
    assert json_rpc_node.closed.wait(30)  # the server closed its end
    assert web3.make_request("again", [])["result"] == "again"
    assert json_rpc_node.connections == 2


def test_a_status_other_than_200_is_requests_http_error(json_rpc_node, no_requests):
    with pytest.raises(requests.HTTPError) as raised:
        provider(json_rpc_node.url).make_request("http-502", [])
    assert raised.value.response.status_code == 502
    assert raised.value.response.content == b"gateway"


def test_a_hang_up_or_no_node_is_requests_connection_error(json_rpc_node, no_requests):
    web3 = provider(json_rpc_node.url)
    with pytest.raises(requests.ConnectionError):
        web3.make_request("hang-up", [])
    assert web3.make_request("after", [])["result"] == "after"  # a new connection serves
    gone = f"http://127.0.0.1:{free_port()}"
    lean._lean_nodes.add(gone)
    try:
        with pytest.raises(requests.ConnectionError):
            provider(gone).make_request("x", [])
    finally:
        lean._lean_nodes.discard(gone)


def test_a_late_reply_is_a_read_timeout_and_never_answers_the_next_request(
    json_rpc_node, no_requests
):
    web3 = provider(json_rpc_node.url, timeout=0.5)
    with pytest.raises(requests.ReadTimeout):
        web3.make_request("stall", [])  # answered only once released: always late
    json_rpc_node.release.set()
    assert json_rpc_node.late_reply_sent.wait(30)  # the reply reached the abandoned socket
    assert web3.make_request("next", [])["result"] == "next"


def test_a_forked_child_opens_its_own_connection(json_rpc_node, no_requests):
    web3 = provider(json_rpc_node.url)
    assert web3.make_request("parent", [])["result"] == "parent"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into pytest
        try:
            ok = web3.make_request("child", [])["result"] == "child"
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert web3.make_request("parent-again", [])["result"] == "parent-again"
    assert json_rpc_node.connections == 2


def test_another_url_keeps_requests(json_rpc_node, posts):
    lean._lean_nodes.discard(json_rpc_node.url)
    assert provider(json_rpc_node.url).make_request("plain", [])["result"] == "plain"
    assert posts == [json_rpc_node.url]


def test_a_node_ape_stops_is_forgotten(json_rpc_node, posts):
    """Whatever listens on a stopped node's port later (a fault proxy, say) keeps `requests`."""
    started = SimpleNamespace(process=None, is_stopping=False)  # already stopped: stop() returns
    lean._started[id(started)] = json_rpc_node.url
    SubprocessProvider.stop(started)
    assert json_rpc_node.url not in lean._lean_nodes and id(started) not in lean._started
    assert provider(json_rpc_node.url).make_request("later", [])["result"] == "later"
    assert posts == [json_rpc_node.url]
