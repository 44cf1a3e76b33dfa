"""A loopback HTTP fault proxy for end-to-end tests.

Forwards to the local stack's gateway and, per rule, answers 429/503 itself,
resets the connection before forwarding (nothing reached the server), resets it
after forwarding (the server applied the request but the answer is lost: the
ambiguous case), or delays. Counts requests per ``METHOD path``.

    with FaultProxy() as proxy:
        proxy.add("POST", r"/clients$", "429", times=2, retry_after="0")
        env = {"FORMANCE_ENDPOINT": proxy.endpoint}

Listens on 127.0.0.1, on an ephemeral port; ``stop()`` (or leaving the ``with``)
shuts it down. Every connection is closed after one exchange (``Connection:
close``), so a reset never hits a pooled connection by surprise.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx

def local_gateway() -> str:
    """The local stack's gateway (scheme://host:port), from .local/formance.json, so port overrides hold."""
    endpoint = json.loads((Path(__file__).resolve().parents[2] / ".local" / "formance.json").read_text())["endpoint"]
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


ACTIONS = ("429", "503", "reset_before", "reset_after", "delay")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection", "host", "content-length"}


@dataclass
class Rule:
    method: str
    path: re.Pattern[str]
    action: str
    times: int | None  # None: forever
    retry_after: str | None = None
    delay: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and bool(self.path.search(path)) and (self.times is None or self.hits < self.times)


@dataclass
class FaultProxy:
    upstream: str = field(default_factory=local_gateway)
    rules: list[Rule] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, what happened)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=self.upstream, timeout=60, trust_env=False)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="faultproxy", daemon=True)

    # ------------------------------------------------------------ control
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/auth"

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, method: str, path: str, action: str, *, times: int | None = 1, retry_after: str | None = None, delay: float = 0.0) -> Rule:
        """Add a rule; ``path`` is a regex searched in the path without the /api/auth prefix."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        rule = Rule(method.upper(), re.compile(path), action, times, retry_after, delay)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.log.clear()

    def count(self, method: str, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        with self._lock:
            return sum(n for key, n in self.counts.items() if key.split(" ", 1)[0] == method.upper() and pattern.search(key.split(" ", 1)[1]))

    # ------------------------------------------------------------ serving
    @staticmethod
    def _short(path: str) -> str:
        path = path.split("?", 1)[0]
        return path[len("/api/auth"):] if path.startswith("/api/auth") else path

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        method, short = h.command, self._short(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self._lock:
            self.counts[f"{method} {short}"] += 1
            rule = next((r for r in self.rules if r.matches(method, short)), None)
            if rule is not None:
                rule.hits += 1
        action = rule.action if rule else "forward"
        with self._lock:
            self.log.append((method, short, action))
        h.close_connection = True
        if action in ("429", "503"):
            payload = b'{"errorCode":"INJECTED","errorMessage":"injected by faultproxy"}'
            h.send_response(int(action))
            if rule.retry_after is not None:
                h.send_header("Retry-After", rule.retry_after)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(payload)
            return
        if action == "reset_before":
            self._reset(h)
            return
        if action == "delay":
            time.sleep(rule.delay)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_HEADERS}
        try:
            upstream = self._http.request(method, h.path, content=body, headers=headers)
        except httpx.HTTPError:
            self._reset(h)  # the gateway is down or reset us: pass that on
            return
        if action == "reset_after":
            self._reset(h)
            return
        h.send_response(upstream.status_code)
        for k, v in upstream.headers.items():
            if k.lower() not in HOP_HEADERS and k.lower() != "content-encoding":
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(upstream.content)))
        h.send_header("Connection", "close")
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(upstream.content)

    @staticmethod
    def _reset(h: BaseHTTPRequestHandler) -> None:
        """Close with RST (SO_LINGER 0): the client sees a reset with no answer."""
        h.close_connection = True
        try:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            h.connection.close()
        except OSError:
            pass
        h.wfile = _Sink()  # the handler framework may still flush


class _Sink:
    closed = True

    def write(self, _data: bytes) -> int:
        return 0

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
