"""A small Hugging Face Hub on 127.0.0.1 for the `hg://` tests, run from threads.

It implements the part of the Hub's HTTP API that `huggingface_hub` calls for
`hf_hub_download` and `snapshot_download` of a model repository, reached through
`HF_ENDPOINT=hub.endpoint`:

- `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}`: the repository's info at a
  revision (`sha` is the commit, `siblings` its files; older clients list files from these);
- `GET /api/models/{repo}/tree/{rev}[/{path}]`: the tree listing newer clients take files from;
- `HEAD`/`GET /{repo}/resolve/{rev}/{file}`: a small file is served here (200, `ETag` the git
  blob id); a large one (LFS: `*.safetensors`, `*.bin`, `*.pt`, ...) answers with a 302 to a
  second server on another port, standing for the Hub's CDN, with `X-Linked-Etag` (its
  SHA-256) and `X-Linked-Size`. Every answer carries `X-Repo-Commit`. `Range` is honoured.

Revisions are branch names or 40-hex commit ids; `hub.commit()` adds a commit and moves a branch.
A gated repository answers its files with 401 (no token) or 403 (a token not granted access)
and the Hub's error headers (`X-Error-Code: GatedRepo`). Unknown repository, revision or file
get `RepoNotFound`, `RevisionNotFound` and `EntryNotFound`. Every request is recorded
(method, path; and the `Range` of each GET) so that a test can assert that nothing was
downloaded twice. `hub.drops = N` cuts the next N file bodies half-way (an interrupted download).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.model", "*.gguf")
_COMMIT = re.compile(r"[0-9a-f]{40}")


def git_blob_id(body: bytes) -> str:
    """The id git gives a blob: what the Hub sends as the ETag of a small file."""
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def is_lfs(path: str) -> bool:
    return any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in LFS_PATTERNS)


@dataclass
class Repo:
    """A model repository: its commits (id -> files) and branches (name -> commit id)."""

    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    gated: bool = False
    granted: set[str] = field(default_factory=set)  # tokens allowed into a gated repo

    def resolve(self, rev: str) -> str | None:
        if rev in self.branches:
            return self.branches[rev]
        return rev if rev in self.commits else None


@dataclass
class Hub:
    """What the servers serve and what they were asked; tests change it while they run."""

    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path without query)
    ranges: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range) of GETs
    drops: int = 0  # the next DROPS file bodies send half their bytes, then close the connection
    headers: list[dict[str, str]] = field(default_factory=list)  # the headers of each request
    lock: threading.Lock = field(default_factory=threading.Lock)
    endpoint: str = ""  # http://127.0.0.1:PORT, the Hub (HF_ENDPOINT)
    cdn: str = ""  # http://127.0.0.1:PORT2, where large files are redirected to

    def commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main",
               gated: bool = False) -> str:
        """Add a commit holding FILES to REPO_ID (created if new); move BRANCH to it."""
        with self.lock:
            repo = self.repos.setdefault(repo_id, Repo(gated=gated))
            parent = repo.branches.get(branch, "")
            listing = "".join(f"{p}\0{git_blob_id(b)}\n" for p, b in sorted(files.items()))
            commit_id = hashlib.sha1(f"{repo_id}\n{parent}\n{listing}".encode()).hexdigest()
            repo.commits[commit_id] = dict(files)
            repo.branches[branch] = commit_id
            return commit_id

    def count(self, path: str | None = None, method: str | None = None) -> int:
        with self.lock:
            return len([1 for m, p in self.requests
                        if (path is None or p == path) and (method is None or m == method)])

    def resolve_path(self, repo_id: str, rev: str, filename: str) -> str:
        return f"/{repo_id}/resolve/{quote(rev, safe='')}/{filename}"

    def lfs_path(self, body: bytes) -> str:
        return f"/lfs/{sha256(body)}"

    def downloads(self, body: bytes, repo_id: str = "", filename: str = "") -> int:
        """How many GETs fetched BODY: from the CDN for a large file, else from resolve."""
        if is_lfs(filename):
            return self.count(self.lfs_path(body), "GET")
        with self.lock:
            return len([1 for m, p in self.requests if m == "GET"
                        and p.startswith(f"/{repo_id}/resolve/") and p.endswith(f"/{filename}")])


class _HubError(Exception):
    def __init__(self, status: int, code: str, message: str, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.commit = status, code, message, commit


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        hub = self.server.hub
        path = urlsplit(self.path).path
        with hub.lock:
            hub.requests.append((self.command, path))
            hub.headers.append({k.lower(): v for k, v in self.headers.items()})
            if self.command == "GET":
                hub.ranges.append((path, self.headers.get("Range")))
        try:
            if self.server.role == "cdn":
                self._cdn(path, body)
            elif path.startswith("/api/models/"):
                self._api(path[len("/api/models/"):])
            elif "/resolve/" in path:
                self._resolve(path, body)
            else:
                raise _HubError(404, "", "Not Found")
        except _HubError as error:
            self._error(error)

    # -- the API -------------------------------------------------------------------------------

    def _api(self, rest: str) -> None:
        for repo_id in self._repo_ids_longest_first():
            if rest == repo_id:
                self._info(repo_id, "main")
                return
            for kind in ("revision", "tree"):
                prefix = f"{repo_id}/{kind}/"
                if rest.startswith(prefix):
                    rev, _, sub = rest[len(prefix):].partition("/")
                    if kind == "revision":
                        self._info(repo_id, unquote(rev))
                    else:
                        self._tree(repo_id, unquote(rev), unquote(sub))
                    return
        raise _HubError(401, "RepoNotFound", "Repository not found")

    def _info(self, repo_id: str, rev: str) -> None:
        repo, commit = self._revision(repo_id, rev)
        files = repo.commits[commit]
        self._json({"id": repo_id, "modelId": repo_id, "sha": commit, "private": False,
                    "gated": "manual" if repo.gated else False, "disabled": False,
                    "tags": [], "downloads": 0, "likes": 0,
                    "lastModified": "2025-01-01T00:00:00.000Z",
                    "siblings": [{"rfilename": p} for p in sorted(files)]})

    def _tree(self, repo_id: str, rev: str, sub: str) -> None:
        repo, commit = self._revision(repo_id, rev)
        query = urlsplit(self.path).query.lower()
        recursive = "recursive=true" in query or "recursive=1" in query
        prefix = f"{sub.strip('/')}/" if sub.strip("/") else ""
        entries: dict[str, dict[str, Any]] = {}
        for path, data in sorted(repo.commits[commit].items()):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split("/")
            for depth in range(1, len(parts)):
                folder = prefix + "/".join(parts[:depth])
                if depth == 1 or recursive:
                    entries.setdefault(folder, {"type": "directory", "path": folder,
                                                "oid": git_blob_id(folder.encode()), "size": 0})
            if len(parts) == 1 or recursive:
                entries[path] = self._file_entry(path, data)
        if prefix and not entries:
            raise _HubError(404, "EntryNotFound", f"{sub} does not exist on \"{rev}\"", commit)
        self._json(list(entries.values()))

    @staticmethod
    def _file_entry(path: str, data: bytes) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(data),
                                 "oid": git_blob_id(data)}
        if is_lfs(path):
            entry["lfs"] = {"oid": sha256(data), "size": len(data), "pointerSize": 134}
        return entry

    # -- files ---------------------------------------------------------------------------------

    def _resolve(self, path: str, body: bool) -> None:
        for repo_id in self._repo_ids_longest_first():
            prefix = f"/{repo_id}/resolve/"
            if path.startswith(prefix):
                rev, _, filename = path[len(prefix):].partition("/")
                self._file(repo_id, unquote(rev), unquote(filename), body)
                return
        raise _HubError(401, "RepoNotFound", "Repository not found")

    def _file(self, repo_id: str, rev: str, filename: str, body: bool) -> None:
        repo, commit = self._revision(repo_id, rev)
        self._check_access(repo_id, repo)
        data = repo.commits[commit].get(filename)
        if data is None:
            raise _HubError(404, "EntryNotFound", "Entry not found", commit)
        if is_lfs(filename):
            self.send_response(302)
            self.send_header("Location", f"{self.server.hub.cdn}/lfs/{sha256(data)}")
            self.send_header("X-Repo-Commit", commit)
            self.send_header("X-Linked-Etag", f'"{sha256(data)}"')
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("ETag", f'"{git_blob_id(data)}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._bytes(data, f'"{git_blob_id(data)}"', body, {"X-Repo-Commit": commit})

    def _cdn(self, path: str, body: bool) -> None:
        digest = path[len("/lfs/"):] if path.startswith("/lfs/") else ""
        hub = self.server.hub
        with hub.lock:
            found = [data for repo in hub.repos.values() for files in repo.commits.values()
                     for data in files.values() if sha256(data) == digest]
        if not found:
            raise _HubError(404, "", "Not Found")
        self._bytes(found[0], f'"{digest}"', body, {})

    def _bytes(self, data: bytes, etag: str, body: bool, extra: dict[str, str]) -> None:
        start, end = self._range(len(data))
        self.send_response(206 if (start, end) != (0, len(data)) else 200)
        if (start, end) != (0, len(data)):
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.send_header("Content-Length", str(end - start))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if body and self._drop():
            self.wfile.write(data[start:start + (end - start) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif body:
            self.wfile.write(data[start:end])

    def _drop(self) -> bool:
        hub = self.server.hub
        with hub.lock:
            drop = hub.drops > 0
            hub.drops -= 1 if drop else 0
            return drop

    def _range(self, size: int) -> tuple[int, int]:
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if match is None:
            return 0, size
        start = int(match.group(1))
        end = min(int(match.group(2)) + 1, size) if match.group(2) else size
        if start >= size or start >= end:
            raise _HubError(416, "", "Range Not Satisfiable")
        return start, end

    # -- shared --------------------------------------------------------------------------------

    def _repo_ids_longest_first(self) -> list[str]:
        with self.server.hub.lock:
            return sorted(self.server.hub.repos, key=len, reverse=True)

    def _revision(self, repo_id: str, rev: str) -> tuple[Repo, str]:
        with self.server.hub.lock:
            repo = self.server.hub.repos[repo_id]
            commit = repo.resolve(rev)
        if commit is None:
            raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return repo, commit

    def _check_access(self, repo_id: str, repo: Repo) -> None:
        if not repo.gated:
            return
        auth = self.headers.get("Authorization") or ""
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if token in repo.granted:
            return
        if not token:
            raise _HubError(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must "
                            "have access to it and be authenticated to access it. Please log in.")
        raise _HubError(403, "GatedRepo", f"Access to model {repo_id} is restricted and you are not "
                        f"in the authorized list. Visit {self.server.hub.endpoint}/{repo_id} "
                        "to ask for access.")

    def _json(self, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, error: _HubError) -> None:
        data = json.dumps({"error": error.message}).encode()
        self.send_response(error.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        if error.code:
            self.send_header("X-Error-Code", error.code)
        self.send_header("X-Error-Message", error.message)
        if error.commit:
            self.send_header("X-Repo-Commit", error.commit)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: Hub, role: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hub = hub
        self.role = role

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def serve_hub() -> Iterator[Hub]:
    """Start the Hub and its CDN on two free ports of 127.0.0.1; stop both on exit."""
    hub = Hub()
    servers = [_Server(hub, "hub"), _Server(hub, "cdn")]
    hub.endpoint, hub.cdn = servers[0].url, servers[1].url
    threads = [threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True)
               for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield hub
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
