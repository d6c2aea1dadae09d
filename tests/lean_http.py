"""The test process's JSON-RPC requests to its own anvil over one kept-alive socket per thread,
without `requests`.

Imported by tests/conftest.py for its side effect; only the test process is affected (keepers and
scripts in their own processes keep web3's `requests` session). web3's HTTPProvider posts every
request through a `requests` session: building the request, urllib3's pool and http.client's
header parsing cost about 1 ms of Python a request on this machine, several times what anvil takes
to answer an `eth_chainId` (a loop of them: 3.98 ms a request through web3, 0.25 ms over a raw
socket, on a loaded machine). A test sends thousands.

Only the nodes Ape started in this process (the worker's anvil, `foundry.host: auto`) are reached
this way, by URL, until Ape stops them: a fault proxy (tests/rpc_fault_proxy.py), a restartable
node of a drill (tests/node_restart_support.py) or any other endpoint keeps `requests`, so what a
keeper sees when its endpoint misbehaves is what it sees in production. What a caller of
`HTTPSessionManager.make_post_request` gets stays the same: the body's bytes for a 200; for
another status, the `requests.HTTPError` that `raise_for_status()` raises; a connection that
cannot be made or breaks is `requests.ConnectionError`, a reply later than the request's timeout
`requests.ReadTimeout` (the socket is then closed: a late reply must not answer the next request).
A kept socket the node closed while idle is noticed before a request is written on it, and a new
one is opened.
"""

from __future__ import annotations

import functools
import os
import select
import socket
import threading
from urllib.parse import urlsplit

import requests
from ape.api.providers import SubprocessProvider
from ape_ethereum.provider import Web3Provider
from web3._utils.http_session_manager import HTTPSessionManager

_lean_nodes: set[str] = set()  # URLs of the nodes Ape started in this process, until stopped
_started: dict[int, str] = {}  # id of the provider that started one -> its URL
_local = threading.local()  # (pid, URL) -> socket file, per thread

_make_post_request = HTTPSessionManager.make_post_request


class _Broken(Exception):
    """The connection closed or failed before a whole reply arrived."""


def _connection(url: str, timeout: float | None):
    sockets = _local.__dict__.setdefault("sockets", {})
    key = (os.getpid(), url)  # a forked child never shares its parent's socket
    kept = sockets.get(key)
    if kept is not None:
        sock, stream = kept
        idle = select.poll()  # (poll, not select: a descriptor may be above 1,023)
        idle.register(sock, select.POLLIN)
        # idle and open (a reply is only ever read whole, so nothing is pending): keep it
        if not idle.poll(0):
            sock.settimeout(timeout)
            return sock, stream
        _close(url)  # the node closed it (EOF is readable)
    parts = urlsplit(url)
    try:
        sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
    except OSError as exc:
        raise requests.ConnectionError(f"{url}: {exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sockets[key] = (sock, sock.makefile("rb"))
    return sockets[key]


def _close(url: str) -> None:
    kept = _local.__dict__.get("sockets", {}).pop((os.getpid(), url), None)
    if kept is not None:
        sock, stream = kept
        stream.close()
        sock.close()


def _line(stream) -> bytes:
    line = stream.readline(65_537)
    if not line.endswith(b"\r\n"):
        raise _Broken("the connection closed inside the reply's head")
    return line[:-2]


def _exactly(stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise _Broken("the connection closed inside the reply's body")
    return data


def _reply(stream) -> tuple[int, str, dict[bytes, bytes], bytes]:
    version, _, rest = _line(stream).partition(b" ")
    if not version.startswith(b"HTTP/1."):
        raise _Broken(f"not an HTTP reply: {version[:40]!r}")
    code, _, reason = rest.partition(b" ")
    headers: dict[bytes, bytes] = {}
    while line := _line(stream):
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunks = []
        while size := int(_line(stream).split(b";")[0], 16):
            chunks.append(_exactly(stream, size))
            _line(stream)
        while _line(stream):  # trailers
            pass
        body = b"".join(chunks)
    elif b"content-length" in headers:
        body = _exactly(stream, int(headers[b"content-length"]))
    else:
        raise _Broken("a reply with neither a length nor chunks")
    return int(code), reason.decode("latin-1"), headers, body


def _post(url: str, data: bytes, timeout: float | None) -> bytes:
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()  # fmt: skip
    sock, stream = _connection(url, timeout)
    try:
        sock.sendall(head + data)
        code, reason, headers, body = _reply(stream)
    except TimeoutError as exc:
        _close(url)
        raise requests.ReadTimeout(f"{url}: no reply within {timeout} s") from exc
    except (OSError, _Broken, ValueError) as exc:
        _close(url)
        raise requests.ConnectionError(f"{url}: {exc}") from exc
    if headers.get(b"connection", b"").lower() == b"close":
        _close(url)
    if code != 200:
        response = requests.Response()
        response.status_code, response.reason, response.url = code, reason, url
        response._content = body
        response.raise_for_status()
    return body


@functools.wraps(_make_post_request)
def _make_post_request_lean(self, endpoint_uri, data, **kwargs):
    if (endpoint_uri not in _lean_nodes or not isinstance(data, bytes | str)
            or kwargs.get("stream")):  # fmt: skip
        return _make_post_request(self, endpoint_uri, data, **kwargs)
    timeout = kwargs.get("timeout", 30)
    if isinstance(timeout, tuple):
        timeout = max(t for t in timeout if t is not None) if any(timeout) else None
    return _post(endpoint_uri, data.encode() if isinstance(data, str) else data, timeout)


_post_connect = Web3Provider._post_connect


@functools.wraps(_post_connect)
def _post_connect_lean(self, *args, **kwargs):
    if getattr(self, "process", None) is not None:  # a node this process started
        uri = getattr(self, "http_uri", None) or getattr(self, "uri", None)
        if isinstance(uri, str) and uri.startswith("http://"):
            _lean_nodes.add(uri)
            _started[id(self)] = uri
    return _post_connect(self, *args, **kwargs)


_stop = SubprocessProvider.stop


@functools.wraps(_stop)
def _stop_lean(self, *args, **kwargs):
    """A node Ape stops is forgotten: whatever listens on its port later keeps `requests`."""
    uri = _started.pop(id(self), None)
    if uri is not None:
        _lean_nodes.discard(uri)
        _close(uri)
    return _stop(self, *args, **kwargs)


if os.environ.get("BALLAST_TEST_LEAN_HTTP", "1") != "0":  # =0: web3's requests session, as shipped
    HTTPSessionManager.make_post_request = _make_post_request_lean
    Web3Provider._post_connect = _post_connect_lean
    SubprocessProvider.stop = _stop_lean
