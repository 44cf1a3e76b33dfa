"""A counting HTTP/1.1 reverse proxy on loopback, for the benchmark.

    python bench/proxy.py --listen 127.0.0.1:0 --upstream http://127.0.0.1:18080 --port-file F

Forwards every request unchanged to the upstream (keep-alive on both sides)
and counts requests per label and kind. Control endpoints (not forwarded):
``POST /__bench/label/<label>`` starts counting under a new label and
``GET /__bench/stats`` returns ``{label: {kind: {"n": int, "upstream_s": float}}}``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"}
SECRET_PATH = re.compile(r"/clients/[^/]+/secrets(/[^/]+)?$")


def kind(method: str, path: str) -> str:
    path = path.split("?", 1)[0].rstrip("/")
    if path.endswith("/oauth/token"):
        return "token"
    if method == "POST":
        if path.endswith("/clients"):
            return "POST clients"
        if SECRET_PATH.search(path):
            return "POST secrets"
    if method == "DELETE":
        return "DELETE secret" if SECRET_PATH.search(path) else "DELETE client"
    if method in ("GET", "PUT"):
        return method
    return f"other {method}"


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.label = "unlabelled"
        self.stats: dict[str, dict[str, dict[str, float]]] = {}

    def count(self, k: str, seconds: float) -> None:
        with self.lock:
            entry = self.stats.setdefault(self.label, {}).setdefault(k, {"n": 0, "upstream_s": 0.0})
            entry["n"] += 1
            entry["upstream_s"] += seconds


def make_handler(upstream: str, state: State) -> type[BaseHTTPRequestHandler]:
    up = urlsplit(upstream)
    import time

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        upstream_conn: http.client.HTTPConnection | None = None

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self) -> None:
            if self.path.startswith("/__bench/"):
                if self.command == "POST" and self.path.startswith("/__bench/label/"):
                    with state.lock:
                        state.label = self.path[len("/__bench/label/"):]
                        state.stats.pop(state.label, None)
                    self._reply(200, b"{}")
                else:
                    with state.lock:
                        body = json.dumps(state.stats).encode()
                    self._reply(200, body)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            headers["Host"] = up.netloc
            started = time.perf_counter()
            # A kept-alive upstream connection may have been closed: resend once, but only
            # requests that are safe to repeat (a POST could be applied twice).
            tries = (1, 2) if self.command in ("GET", "PUT", "DELETE", "HEAD") else (2,)
            for attempt in tries:
                if self.upstream_conn is None:
                    self.upstream_conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=60)
                try:
                    self.upstream_conn.request(self.command, self.path, body=body, headers=headers)
                    resp = self.upstream_conn.getresponse()
                    data = resp.read()
                    break
                except (http.client.HTTPException, OSError):
                    self.upstream_conn.close()
                    self.upstream_conn = None
                    if attempt == 2:
                        self._reply(502, b'{"errorMessage":"bench proxy: upstream failed"}')
                        return
            state.count(kind(self.command, self.path), time.perf_counter() - started)
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--upstream", required=True, help="the gateway, e.g. http://127.0.0.1:18080")
    parser.add_argument("--port-file")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the bench proxy listens on loopback only")
    server = ThreadingHTTPServer((host, int(port)), make_handler(args.upstream, State()))
    server.daemon_threads = True
    if args.port_file:
        with open(args.port_file, "w") as out:
            out.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
