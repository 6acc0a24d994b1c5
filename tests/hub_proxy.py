"""An HTTP proxy on loopback in front of the test hub (olah): it answers as the Hugging Face Hub does
where olah does not, counts requests by kind, adds latency and injects faults when asked.

- Range requests get 206 with the slice (olah answers 200 with the whole file);
- a missing file, or the tree of a missing folder, answers 404 with `X-Error-Code: EntryNotFound`
  (olah: 401 on HEAD, 500 on GET);
- `GET /api/datasets/<id>` without a revision is sent to `/revision/main` (olah refuses it offline);
- GET answers carry `Content-Length` (olah's lack it).

Faults are a queue of `Fault`s matched by path substring: each matching request takes one (a fault with
`times=n` fires n times). `limit(api=, resolves=, window_s=)` meters requests in fixed windows as the
hub does: every answer carries `RateLimit` / `RateLimit-Policy` for its kind, and a request past the
quota is answered 429 with them (r=0, t = seconds to the window's end). Every socket operation has a
timeout, so nothing here can hang a test.
"""

from __future__ import annotations

import http.client
import math
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM_TIMEOUT_S = 30
KINDS = ("api", "resolve", "other")


@dataclass
class Fault:
    """One injected failure for requests whose path contains `match` (and whose method is `method`,
    if given): "503", "500", "429" (with `Retry-After: retry_after`), "drop" (close without an
    answer), "cut" (half the body, `Content-Length` of the whole), "cut_nolength" (half the body, no
    length, connection closed)."""

    match: str
    kind: str
    times: int = 1
    method: str | None = None
    retry_after: float | None = 0.2


@dataclass
class FixedWindows:
    """The hub's fixed-window quotas per kind ("api", "resolves"), windows counted from the first
    request after `HubProxy.limit`."""

    quotas: dict[str, int]
    window_s: float
    start: float | None = None
    window: int = -1
    used: Counter | None = None

    def take(self, kind: str, now: float) -> tuple[bool, dict[str, str]]:
        """(allowed, the ratelimit headers of the answer) for one request of `kind`."""
        if self.start is None:
            self.start = now
        index = int((now - self.start) // self.window_s)
        if index != self.window:
            self.window, self.used = index, Counter()
        quota = self.quotas[kind]
        allowed = self.used[kind] < quota
        self.used[kind] += allowed
        reset = self.start + (index + 1) * self.window_s - now
        return allowed, {
            "RateLimit": f'"{kind}";r={quota - self.used[kind]};t={max(1, math.ceil(reset))}',
            "RateLimit-Policy": f'"fixed window";"{kind}";q={quota};w={self.window_s:g}',
        }


def request_kind(path: str) -> str:
    if path.startswith("/api/"):
        return "api"
    if "/resolve/" in path:
        return "resolve"
    return "other"


class HubProxy:
    """The proxy's state: counters, latency and faults, read by its handler threads."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.latency_s = 0.0
        self.faults: list[Fault] = []
        self.fault_rate, self.fault_kinds, self.rng = 0.0, ("503",), random.Random(0)
        self.counts: Counter = Counter()
        self.windows: FixedWindows | None = None
        self.paths: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HubProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.paths.clear()
            self.faults.clear()
            self.latency_s = 0.0
            self.fault_rate = 0.0
            self.windows = None

    def limit(self, api: int, resolves: int, window_s: float) -> None:
        """Meter requests as the hub does: `api` calls and `resolves` of files per fixed window."""
        with self.lock:
            self.windows = FixedWindows({"api": api, "resolves": resolves}, window_s)

    def rate(self, path: str) -> tuple[bool, dict[str, str]]:
        """(allowed, ratelimit headers) of a request under `limit`, counting 429s by kind."""
        kind = {"api": "api", "resolve": "resolves"}.get(request_kind(path))
        with self.lock:
            if self.windows is None or kind is None:
                return True, {}
            allowed, headers = self.windows.take(kind, time.monotonic())
            if not allowed:
                self.counts["429"] += 1
                self.counts[f"429_{kind}"] += 1
            return allowed, headers

    def random_faults(self, rate: float, kinds: tuple[str, ...], seed: int = 0) -> None:
        """Fail a `rate` share of requests (seeded), with a kind drawn from `kinds` each time."""
        with self.lock:
            self.fault_rate, self.fault_kinds, self.rng = rate, kinds, random.Random(seed)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.match in path and (fault.method is None or fault.method == method):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
            if self.fault_rate and self.rng.random() < self.fault_rate:
                self.counts["faults"] += 1
                return Fault("", self.rng.choice(self.fault_kinds))
        return None

    def count(self, method: str, path: str, sent: int) -> None:
        with self.lock:
            self.counts[request_kind(path)] += 1
            self.counts["bytes"] += sent
            self.paths.append((method, path))


def _handler(proxy: HubProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = UPSTREAM_TIMEOUT_S

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self.forward("GET")

        def do_HEAD(self) -> None:
            self.forward("HEAD")

        def forward(self, method: str) -> None:
            if proxy.latency_s:
                time.sleep(proxy.latency_s)
            path = self.path
            if re.fullmatch(r"/api/datasets/[^/]+/[^/?]+", path.split("?")[0]):
                path = path.split("?")[0] + "/revision/main"
            allowed, limits = proxy.rate(path)
            if not allowed:
                proxy.count(method, path, 0)
                return self.fail(Fault(path, "429", retry_after=None), limits)
            fault = proxy.take_fault(method, path)
            if fault is not None and fault.kind in ("503", "500", "429", "408", "drop"):
                proxy.count(method, path, 0)
                return self.fail(fault)
            status, headers, body = self.upstream(method, path)
            headers.update(limits)
            missing_entry = "/resolve/" in path or re.search(r"/tree/[^/?]+/[^?]+", path)
            if status in (401, 500) and missing_entry:
                status, body = 404, b'{"error": "Entry not found"}'
                headers = {"X-Error-Code": "EntryNotFound", "Content-Type": "application/json"}
            status, headers, body = self.ranged(status, headers, body)
            proxy.count(method, path, 0 if method == "HEAD" else len(body))
            self.answer(method, status, headers, body, fault)

        def upstream(self, method: str, path: str) -> tuple[int, dict, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=UPSTREAM_TIMEOUT_S)
            try:
                keep = ("authorization", "user-agent", "accept")
                conn.request(
                    method, path, headers={k: v for k, v in self.headers.items() if k.lower() in keep}
                )
                resp = conn.getresponse()
                body = resp.read()
                drop = (
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "content-encoding",
                    "date",
                    "server",
                )
                headers = {k: v for k, v in resp.getheaders() if k.lower() not in drop}
                length = resp.getheader("content-length")
                if method == "HEAD" and length is not None:
                    headers["Content-Length"] = length
                return resp.status, headers, body
            finally:
                conn.close()

        def ranged(self, status: int, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "") or "")
            if status != 200 or match is None or self.command == "HEAD":
                return status, headers, body
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else len(body) - 1, len(body) - 1)
            if start >= len(body):
                return 416, {"Content-Range": f"bytes */{len(body)}"}, b""
            return (
                206,
                {**headers, "Content-Range": f"bytes {start}-{end}/{len(body)}"},
                body[start : end + 1],
            )

        def answer(self, method: str, status: int, headers: dict, body: bytes, fault: Fault | None) -> None:
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() != "content-length":
                    self.send_header(k, v)
            cut = fault is not None and fault.kind in ("cut", "cut_nolength") and method == "GET" and body
            if cut and fault.kind == "cut_nolength":
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
            self.end_headers()
            if method == "GET":
                self.wfile.write(body[: len(body) // 2] if cut else body)
            if cut:
                self.close_connection = True

        def fail(self, fault: Fault, headers: dict | None = None) -> None:
            if fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            self.send_response(int(fault.kind))
            if fault.retry_after is not None:
                self.send_header("Retry-After", f"{fault.retry_after:g}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            body = b'{"error": "injected"}'
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler
