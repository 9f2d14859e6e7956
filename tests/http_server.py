"""A real HTTP server on 127.0.0.1 for the download tests, run from a thread.

It serves bytes by path, honours `Range` (unless told not to), counts requests, and can
misbehave on purpose: drop the connection half-way, hold a response at a gate, or hang.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Plan:
    """What the server does; tests change it while it runs."""

    files: dict[str, bytes] = field(default_factory=dict)
    ranges: bool = True  # honour Range requests
    drops: int = 0  # the next DROPS responses send half their body, then close
    hang: bool = False  # accept requests and never answer them
    gate: threading.Event | None = None  # hold each body half-way until the gate opens
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    released: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        plan = self.server.plan
        with self.server.lock:
            plan.requests.append((self.path, self.headers.get("Range")))
        if plan.hang:
            plan.released.wait(30)
            return
        body = plan.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = self._range_start(plan, len(body))
        if start is None:
            return
        self._send(plan, body, start)

    def _range_start(self, plan: Plan, size: int) -> int | None:
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if not plan.ranges or match is None:
            return 0
        start = int(match.group(1))
        if start >= size:
            self.send_error(416, "Range Not Satisfiable")
            return None
        return start

    def _send(self, plan: Plan, body: bytes, start: int) -> None:
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        rest = body[start:]
        half = len(rest) // 2
        self.wfile.write(rest[:half])
        self.wfile.flush()
        with self.server.lock:
            drop = plan.drops > 0
            plan.drops -= 1 if drop else 0
        if drop:
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if plan.gate is not None:
            plan.gate.wait(30)
        self.wfile.write(rest[half:])


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, plan: Plan) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.plan = plan
        self.lock = threading.Lock()


class FileServer:
    """The running server: its plan, its URLs and what it was asked."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self.plan = server.plan

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def count(self, path: str | None = None) -> int:
        return len([p for p, _ in self.plan.requests if path is None or p == path])

    def ranges(self, path: str) -> list[str | None]:
        return [r for p, r in self.plan.requests if p == path]


@contextmanager
def serve(files: dict[str, bytes] | None = None) -> Iterator[FileServer]:
    server = _Server(Plan(files=dict(files or {})))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield FileServer(server)
    finally:
        server.plan.released.set()
        if server.plan.gate is not None:
            server.plan.gate.set()
        server.shutdown()
        server.server_close()


def refused_url(path: str = "/x") -> str:
    """A URL on 127.0.0.1 whose port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
