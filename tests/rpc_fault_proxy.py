"""A JSON-RPC HTTP proxy in front of a node that injects faults on command, for testing how the
keepers behave when their RPC endpoint misbehaves (stdlib only: `http.server` in a thread).

    with FaultProxy(chain.provider.uri, seed=7) as proxy:
        proxy.inject("http-502", "eth_getLogs", times=3)              # the next 3 eth_getLogs
        proxy.inject("stall-after", "eth_sendRawTransaction", times=1)  # lands, never answered
        proxy.inject("rpc-error", probability=0.1)                     # any method, seeded RNG
        ... point a client at proxy.url ...
        proxy.down()  # the node is gone: connection refused on the proxy's port
        proxy.up()    # back, same port

Faults (`FAULTS`), each applied to a whole HTTP request (a JSON-RPC batch matches a rule when any
of its calls does):

- `http-500` / `http-502`: that status with a plain-text body; nothing forwarded;
- `rpc-error`: a JSON-RPC error object (code -32603, or the rule's `code` and `message`: a
  provider's rate limit is -32005 "limit exceeded") for every call of the request; nothing
  forwarded;
- `drop`: the connection closed with no response; nothing forwarded;
- `drop-after`: forwarded to the node (so it takes effect), then the connection closed with no
  response;
- `stall`: held for `stall_seconds` (meant to exceed the client's timeout), then closed;
  nothing forwarded;
- `stall-after`: forwarded, then held for `stall_seconds` and closed unanswered: the node acted,
  the client times out;
- `rpc-error-after`: forwarded to the node (so it takes effect), then answered with the
  `rpc-error` fault's JSON-RPC error objects: a gateway that accepted the call upstream and
  reported a failure anyway (a backend timing out after the pool took the transaction);
- `null`: answered `"result": null` for every call of the request; nothing forwarded: an index
  behind the state (a receipt not served yet while the nonce it used already is).

Rules are tried in the order given; the first whose method matches and has uses left decides,
its `probability` drawn from one RNG seeded at construction (so a run's faults are reproducible
for the same sequence of requests). `received` counts requests by method (every call of a batch),
`forwarded` those that reached the node, `injected` the faults by (method, fault) and
`raw_transactions` lists the payload of every `eth_sendRawTransaction` that reached the node.
Connections are closed after every response (HTTP/1.0), so `down()` refuses every later request.

A lagging node (`lag(block)`, `catch_up()`): while pinned, the proxy answers as a node whose head
is `block` — a load-balanced endpoint whose read backend is behind the one that takes the
broadcasts. `eth_blockNumber` says `block`; a `latest` / `pending` tag (calls, nonces, balances,
blocks, logs) reads `block`; a transaction or receipt mined above it is unknown (null).
`eth_sendRawTransaction` still reaches the node (the synced backend).

Something else happening on chain at an exact point of a keeper's pass (`before(method, action)`):
`action()` runs once (`times`), in the proxy, just before the next request calling `method` is
forwarded — a rival's transaction mined between a keeper's read and its broadcast, say.
"""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

__all__ = ["FAULTS", "FaultProxy", "Rule"]

FAULTS: Final = ("http-500", "http-502", "rpc-error", "drop", "drop-after", "stall", "stall-after",
                  "rpc-error-after", "null")  # fmt: skip
FORWARDING: Final = frozenset({"drop-after", "stall-after", "rpc-error-after"})
UPSTREAM_TIMEOUT: Final = 60.0


@dataclass
class Rule:
    """Inject `fault` on requests calling `method` (None: any), `times` more times (None:
    without limit), each with `probability`."""

    fault: str
    method: str | None = None
    times: int | None = None
    probability: float = 1.0
    code: int = -32603
    message: str | None = None  # None: "injected fault: <method> failed"

    def matches(self, methods: list[str]) -> bool:
        live = self.times is None or self.times > 0
        return live and (self.method is None or self.method in methods)


class FaultProxy:
    """The proxy, listening on 127.0.0.1 (a free port unless `port` is given) and forwarding to
    `upstream`. A context manager: started on entry, stopped on exit."""

    def __init__(
        self, upstream: str, *, seed: int = 0, stall_seconds: float = 3.0, port: int = 0
    ) -> None:
        self.upstream = upstream
        self.stall_seconds = stall_seconds
        self.received: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self.injected: Counter[tuple[str, str]] = Counter()
        self.raw_transactions: list[str] = []
        self.pinned: int | None = None
        self._hooks: list[list[Any]] = []
        self._rules: list[Rule] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.up()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def up(self) -> None:
        """Listens (again) on the proxy's port."""
        if self._server is not None:
            return
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fault-proxy-{self.port}", daemon=True)  # fmt: skip
        self._thread.start()

    def down(self) -> None:
        """Stops listening: every request is refused until `up()`."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(5)

    def close(self) -> None:
        self._closing.set()  # releases stalled requests
        self.down()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ faults

    def inject(
        self,
        fault: str,
        method: str | None = None,
        *,
        times: int | None = None,
        probability: float = 1.0,
        code: int = -32603,
        message: str | None = None,
    ) -> Rule:
        """Adds a rule (after the existing ones); returns it (its `times` counts down)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; faults are {', '.join(FAULTS)}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability {probability} is not in [0, 1]")
        rule = Rule(fault, method, times, probability, code, message)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Removes every rule: requests are forwarded untouched."""
        with self._lock:
            self._rules.clear()

    def before(self, method: str, action: Callable[[], None], *, times: int = 1) -> None:
        """Runs `action()` before forwarding the next `times` requests calling `method`."""
        with self._lock:
            self._hooks.append([method, times, action])

    def _run_hooks(self, methods: list[str]) -> None:
        with self._lock:
            due = [h for h in self._hooks if h[1] > 0 and h[0] in methods]
            for hook in due:
                hook[1] -= 1
        for _, _, action in due:
            action()

    def lag(self, block: int) -> None:
        """Answers as a node whose head is `block` until `catch_up()` (see the module)."""
        self.pinned = block

    def catch_up(self) -> None:
        self.pinned = None

    def _choose(self, methods: list[str]) -> Rule | None:
        """The rule of the fault for a request calling `methods` (and the bookkeeping), or
        None."""
        with self._lock:
            self.received.update(methods)
            for rule in self._rules:
                if not rule.matches(methods):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    return None
                if rule.times is not None:
                    rule.times -= 1
                for method in methods:
                    self.injected[(method, rule.fault)] += 1
                return rule
            return None

    # ------------------------------------------------------------------ forwarding

    def _forward(self, body: bytes, calls: list[dict[str, Any]]) -> tuple[int, bytes]:
        request = urllib.request.Request(self.upstream, body, {"Content-Type": "application/json"})
        with self._lock:
            self.forwarded.update(str(c.get("method")) for c in calls)
            self.raw_transactions += [
                str(c["params"][0])
                for c in calls
                if c.get("method") == "eth_sendRawTransaction" and c.get("params")
            ]
        try:
            with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def _stall(self) -> None:
        self._closing.wait(self.stall_seconds)


def _calls(body: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The JSON-RPC calls of a request body, and whether it is a batch."""
    try:
        doc = json.loads(body)
    except ValueError:
        return [], False
    if isinstance(doc, list):
        return [c for c in doc if isinstance(c, dict)], True
    return ([doc] if isinstance(doc, dict) else []), False


# where each method takes its block tag (index in params)
_TAG_AT: Final = {"eth_call": 1, "eth_getTransactionCount": 1, "eth_getBalance": 1,
                  "eth_getBlockByNumber": 0, "eth_estimateGas": 1, "eth_getCode": 1,
                  "eth_getStorageAt": 2}  # fmt: skip
_LATEST: Final = ("latest", "pending", "safe", "finalized")


def _pin_call(call: dict[str, Any], pinned: int) -> dict[str, Any]:
    """`call` as a node whose head is `pinned` would read it."""
    method, params = call.get("method"), list(call.get("params") or [])
    at = _TAG_AT.get(str(method))
    if at is not None:
        while len(params) <= at:
            params.append("latest")
        tag = params[at]
        if tag in _LATEST or (isinstance(tag, str) and tag.startswith("0x")
                              and int(tag, 16) > pinned):  # fmt: skip
            params[at] = hex(pinned)
    elif method == "eth_getLogs" and params and isinstance(params[0], dict):
        query = dict(params[0])
        for key in ("fromBlock", "toBlock"):
            tag = query.get(key, "latest")
            if tag in _LATEST or (isinstance(tag, str) and tag.startswith("0x")
                                  and int(tag, 16) > pinned):  # fmt: skip
                query[key] = hex(pinned)
        params[0] = query
    return {**call, "params": params}


def _pin_one(answer: dict[str, Any], method: str, pinned: int) -> dict[str, Any]:
    result = answer.get("result")
    if method == "eth_blockNumber" and isinstance(result, str):
        return {**answer, "result": hex(min(int(result, 16), pinned))}
    if method in ("eth_getTransactionReceipt", "eth_getTransactionByHash") and isinstance(
        result, dict
    ):
        mined_at = result.get("blockNumber")
        if mined_at is None or int(mined_at, 16) > pinned:
            return {**answer, "result": None}  # not seen yet (or broadcast elsewhere)
    return answer


def _pin_answer(answer: bytes, calls: list[dict[str, Any]], pinned: int) -> bytes:
    """The node's `answer` to `calls` as a node whose head is `pinned` would give it."""
    try:
        doc = json.loads(answer)
    except ValueError:
        return answer
    methods = {c.get("id"): str(c.get("method")) for c in calls}
    if isinstance(doc, list):
        doc = [_pin_one(a, methods.get(a.get("id"), ""), pinned) for a in doc]
    elif isinstance(doc, dict) and calls:
        doc = _pin_one(doc, str(calls[0].get("method")), pinned)
    return json.dumps(doc).encode()


def _rpc_errors(calls: list[dict[str, Any]], batch: bool, rule: Rule) -> bytes:
    errors = [
        {
            "jsonrpc": "2.0",
            "id": c.get("id"),
            "error": {
                "code": rule.code,
                "message": rule.message or f"injected fault: {c.get('method')} failed",
            },
        }
        for c in calls
    ]
    return json.dumps(errors if batch else errors[0]).encode()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: down() refuses the next

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            calls, batch = _calls(body)
            rule = proxy._choose([str(c.get("method")) for c in calls])
            fault = None if rule is None else rule.fault
            if fault in ("http-500", "http-502"):
                status = 500 if fault == "http-500" else 502
                self._reply(status, f"injected fault: HTTP {status}".encode(), "text/plain")
            elif fault == "rpc-error" and rule is not None and calls:
                self._reply(200, _rpc_errors(calls, batch, rule))
            elif fault == "null" and calls:
                nulls = [{"jsonrpc": "2.0", "id": c.get("id"), "result": None} for c in calls]
                self._reply(200, json.dumps(nulls if batch else nulls[0]).encode())
            elif fault in ("drop", "stall"):
                if fault == "stall":
                    proxy._stall()
                self.close_connection = True  # no response: the client sees a closed socket
            else:
                proxy._run_hooks([str(c.get("method")) for c in calls])
                pinned = proxy.pinned
                if pinned is not None and calls:
                    body = json.dumps([_pin_call(c, pinned) for c in calls] if batch
                                      else _pin_call(calls[0], pinned)).encode()  # fmt: skip
                status, answer = proxy._forward(body, calls)
                if pinned is not None and status == 200:
                    answer = _pin_answer(answer, calls, pinned)
                if fault == "rpc-error-after" and rule is not None and calls:
                    self._reply(200, _rpc_errors(calls, batch, rule))
                    return
                if fault in FORWARDING:
                    if fault == "stall-after":
                        proxy._stall()
                    self.close_connection = True
                    return
                self._reply(status, answer)

        def _reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
            return  # quiet: tests read the counters instead

    return Handler
