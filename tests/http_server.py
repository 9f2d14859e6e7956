"""A real HTTP server on 127.0.0.1 for the download tests, run from a thread.

It serves bytes by path with an ETag and a Last-Modified (or either, or neither), honours
`Range` and `If-Range` (unless told not to), counts requests, and can misbehave on purpose:
drop the connection half-way (and change the file then), hold a response at a gate, hang,
send more bytes than its Content-Length, send an endless body, or redirect anywhere.
"""

from __future__ import annotations

import email.utils
import hashlib
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
    validators: tuple[str, ...] = ("etag",)  # which of "etag", "last-modified" to send
    if_range: bool = True  # honour If-Range (False: a 206 of whatever is there now)
    after_drop: dict[str, bytes] = field(default_factory=dict)  # files changed by a drop
    extra: bytes = b""  # sent after the body, beyond its Content-Length
    endless: bool = False  # a body without Content-Length that never ends
    lengths: bool = True  # send Content-Length
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location (302)
    if_ranges: list[str | None] = field(default_factory=list)  # If-Range of each request
    endless_sent: int = 0  # bytes of endless body written before the client went away


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        plan = self.server.plan
        with self.server.lock:
            plan.requests.append((self.path, self.headers.get("Range")))
            plan.if_ranges.append(self.headers.get("If-Range"))
        if plan.hang:
            plan.released.wait(30)
            return
        if self.path in plan.redirects:
            self.send_response(302)
            self.send_header("Location", plan.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if plan.endless:
            self._send_endless(plan)
            return
        body = plan.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = self._range_start(plan, body)
        if start is None:
            return
        self._send(plan, body, start)

    @staticmethod
    def _validators(plan: Plan, body: bytes) -> dict[str, str]:
        digest = hashlib.sha256(body).hexdigest()
        found = {"ETag": f'"{digest[:16]}"',
                 "Last-Modified": email.utils.formatdate(int(digest[:7], 16), usegmt=True)}
        return {k: v for k, v in found.items() if k.lower() in plan.validators}

    def _range_start(self, plan: Plan, body: bytes) -> int | None:
        size = len(body)
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if not plan.ranges or match is None:
            return 0
        if_range = self.headers.get("If-Range")
        if plan.if_range and if_range is not None and (
                if_range not in self._validators(plan, body).values()):
            return 0  # changed since: the whole new file, as RFC 9110 says
        start = int(match.group(1))
        if start >= size:
            self.send_error(416, "Range Not Satisfiable")
            return None
        return start

    def _send(self, plan: Plan, body: bytes, start: int) -> None:
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        if plan.lengths:
            self.send_header("Content-Length", str(len(body) - start))
        for name, value in self._validators(plan, body).items():
            self.send_header(name, value)
        self.end_headers()
        rest = body[start:]
        half = len(rest) // 2
        self.wfile.write(rest[:half])
        self.wfile.flush()
        with self.server.lock:
            drop = plan.drops > 0
            plan.drops -= 1 if drop else 0
            if drop:
                plan.files.update(plan.after_drop)
        if drop:
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if plan.gate is not None:
            plan.gate.wait(30)
        self.wfile.write(rest[half:] + plan.extra)

    def _send_endless(self, plan: Plan) -> None:
        """200 and bytes until the client hangs up (or 30 s pass, or the server stops)."""
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"\0" * (1 << 16)
        self.connection.settimeout(30)
        try:
            while not plan.released.is_set():
                self.wfile.write(chunk)
                with self.server.lock:
                    plan.endless_sent += len(chunk)
        except OSError:
            pass


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

    def validators(self, body: bytes) -> dict[str, str]:
        """The ETag and Last-Modified the server sends for BODY (whichever the plan says)."""
        return _Handler._validators(self.plan, body)


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
