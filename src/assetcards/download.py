"""The checkpoint cache: from a card's `checkpoint` field to verified files on local disk.

`fetch_checkpoint(card)` (and its short form `download_checkpoint(card)`) returns where the
checkpoint of a card lives on this machine:

- `file://` URIs and paths relative to the card file are used in place, never copied;
- `http://` and `https://` URIs are downloaded into one cache entry per URI under
  `Locations.cache` (`<cache>/checkpoints/<sha256 of the URI, 32 hex digits>/`).

A file enters the cache only once complete: it is downloaded to a temporary file unique to the
process, checked against the card's `checkpoint_sha256` when there is one, then renamed into
place. One file lock per entry makes two processes download it once; the second one waits and
says for whom (through the `on_event` callback and `logging`, never by printing). A dropped
connection resumes with an HTTP Range request, or restarts from the first byte when the server
cannot resume. See docs/checkpoints.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import string
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import Any, BinaryIO

from filelock import FileLock, Timeout

from .card import AssetCard
from .errors import AssetCardError, DownloadError, LockTimeoutError
from .locations import Locations

_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")
CHECKSUM_FIELD = "checkpoint_sha256"
SHARDS_FIELD = "num_shards"
SHARD_PLACEHOLDER = "shard_idx"
OFFLINE_ENV = "FAIRSEQ2_OFFLINE"
NO_PROGRESS_ENV = "FAIRSEQ2_NO_PROGRESS"
TIMEOUT_ENV = "FAIRSEQ2_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
CACHE_SUBDIR = "checkpoints"
ENTRY_FILE = "entry.json"
LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.holder"
PART_SUFFIX = ".part"
CHUNK_SIZE = 1 << 20
USER_AGENT = "assetcards/0.1"
REMOTE_SCHEMES = ("http", "https")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadOptions:
    """How to fetch: what the CLI flags and the environment variables decide."""

    force: bool = False  # download again even when cached
    verify: bool = False  # re-hash cached (and local) files against their checksum
    offline: bool = False  # never touch the network; fail naming what is missing
    progress: bool = False  # a tqdm bar on stderr while downloading
    timeout: float = DEFAULT_TIMEOUT  # seconds to connect, and between two reads
    lock_timeout: float = -1  # seconds to wait for another process; negative: forever
    retries: int = 3  # how many times a dropped connection is resumed

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **changes: Any) -> DownloadOptions:
        """Options from FAIRSEQ2_OFFLINE, FAIRSEQ2_NO_PROGRESS and FAIRSEQ2_DOWNLOAD_TIMEOUT,
        then CHANGES. The progress bar is on only when stderr is a terminal."""
        env = os.environ if environ is None else environ
        options = cls(
            offline=is_truthy(env.get(OFFLINE_ENV)),
            progress=sys.stderr.isatty() and not is_truthy(env.get(NO_PROGRESS_ENV)),
            timeout=_timeout_from(env),
        )
        return replace(options, **changes)


def is_truthy(value: str | None) -> bool:
    """Whether an environment variable is set to something that means yes."""
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def _timeout_from(env: Mapping[str, str]) -> float:
    text = env.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise DownloadError(f"{TIMEOUT_ENV} must be a positive number of seconds, not {text!r}.")
    return value


@dataclass(frozen=True)
class DownloadEvent:
    """Something a user may want to hear about: waiting for a lock, a resumed download..."""

    kind: str  # waiting | downloading | resuming | restarting | stale | corrupt | verified
    card: str
    uri: str
    message: str
    holder: int | None = None  # for "waiting": the pid of the process holding the lock


EventCallback = Callable[[DownloadEvent], None]


@dataclass(frozen=True)
class Checkpoint:
    """Where a card's checkpoint is on this machine."""

    card: str
    uri: str  # as the card gives it (with its `{shard_idx}` placeholder when sharded)
    files: tuple[Path, ...]  # one per shard, in shard order
    path: Path  # the file; for a sharded checkpoint, the directory of the shards
    cached: bool  # False for file:// checkpoints, which are used in place
    downloaded: bool  # whether anything was downloaded by this call


@dataclass(frozen=True)
class _Source:
    """One file of a checkpoint: its URI, its name in the cache entry, its expected digest."""

    uri: str
    name: str
    sha256: str | None


@dataclass
class _Context:
    card: str
    uri: str
    options: DownloadOptions
    on_event: EventCallback | None = None
    downloaded: bool = field(default=False)

    def emit(self, kind: str, message: str, holder: int | None = None) -> None:
        log.info(message)
        if self.on_event is not None:
            self.on_event(DownloadEvent(kind, self.card, self.uri, message, holder))

    def error(self, uri: str, reason: str) -> DownloadError:
        return DownloadError(
            f"Cannot fetch the checkpoint of the card {self.card!r} from {uri}: {reason}")


# -- the public entry points ----------------------------------------------------------------


def download_checkpoint(
    card: AssetCard,
    *,
    locations: Locations | None = None,
    options: DownloadOptions | None = None,
    on_event: EventCallback | None = None,
) -> Path:
    """The local path of CARD's checkpoint, downloading it first if needed.

    For a sharded checkpoint, the directory that holds every shard."""
    return fetch_checkpoint(card, locations=locations, options=options, on_event=on_event).path


def fetch_checkpoint(
    card: AssetCard,
    *,
    locations: Locations | None = None,
    options: DownloadOptions | None = None,
    on_event: EventCallback | None = None,
) -> Checkpoint:
    """CARD's checkpoint on local disk: every shard, verified, downloaded if needed."""
    options = options if options is not None else DownloadOptions.from_env()
    template = checkpoint_uri(card)
    ctx = _Context(card.name, template, options, on_event)
    if options.force and options.offline:
        raise ctx.error(template, "a forced download is impossible in offline mode.")
    sources = checkpoint_sources(card, template)
    scheme = urllib.parse.urlsplit(template).scheme.lower()
    if scheme == "file":
        return _local_checkpoint(ctx, sources)
    if scheme not in REMOTE_SCHEMES:
        raise ctx.error(template, f"the scheme {scheme!r} is not supported "
                                  "(use file://, http://, https:// or a relative path).")
    locations = locations if locations is not None else Locations.from_env()
    entry = cache_entry(locations, template)
    files = _remote_checkpoint(ctx, sources, entry)
    path = files[0] if len(files) == 1 and not _is_sharded(card, template) else entry
    return Checkpoint(card.name, template, tuple(files), path, True, ctx.downloaded)


def checkpoint_uri(card: AssetCard) -> str:
    """The card's `checkpoint` as a URI (relative paths become file:// URIs)."""
    checkpoint = card.field("checkpoint")
    if not checkpoint.exists():
        raise DownloadError(f"The card {card.name!r} has no 'checkpoint' field, so there is "
                            f"nothing to fetch (card from {card.provenance}).")
    _check_inside(card)
    return checkpoint.as_uri()


def _check_inside(card: AssetCard) -> None:
    """Refuse a relative checkpoint path that leads outside the card's store or directory.
    Validation refuses such a card, but a card is also read unvalidated (a loose file, a
    commit pinned from a lock file), and a fetch must never read outside on its behalf."""
    from .validate import checkpoint_problem

    owner = next((c for c in card.base_chain() if "checkpoint" in c.metadata), None)
    value = owner.metadata["checkpoint"] if owner is not None else None
    if owner is None or not isinstance(value, str) or _URI_SCHEME.match(value):
        return
    if value.startswith(("/", "~")):
        return
    where = owner.provenance
    file = where.file  # relative to the store root; for a directory, absolute: make it relative
    if where.kind == "directory" and os.path.isabs(file):
        file = os.path.relpath(file, where.source)
    problem = checkpoint_problem(value, file.replace(os.sep, "/"))
    if problem is not None and "leads outside" in problem:
        raise DownloadError(f"The card {card.name!r} cannot be fetched: its {problem} "
                            f"(card from {owner.provenance}).")


def cache_entry(locations: Locations, uri: str) -> Path:
    """The cache directory of one checkpoint URI."""
    key = hashlib.sha256(uri.encode("utf-8")).hexdigest()[:32]
    return locations.cache / CACHE_SUBDIR / key


# -- shards and checksums -------------------------------------------------------------------


def _placeholders(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:  # an unmatched brace: a plain URI, not a template
        return set()


def _template_text(template: str) -> str:
    """The text to format: file:// URIs are unquoted first, since as_uri() quoted the braces."""
    if urllib.parse.urlsplit(template).scheme.lower() == "file":
        return urllib.parse.unquote(template)
    return template


def _is_sharded(card: AssetCard, template: str) -> bool:
    return bool(_placeholders(_template_text(template))) or card.field(SHARDS_FIELD).exists()


def _shard_count(card: AssetCard, template: str) -> int:
    text = _template_text(template)
    names = _placeholders(text)
    if names - {SHARD_PLACEHOLDER}:
        raise AssetCardError(
            f"The checkpoint of the card {card.name!r} has the placeholder(s) "
            f"{', '.join(sorted(names - {SHARD_PLACEHOLDER}))}; only {{shard_idx}} is "
            f"supported ({card.provenance}).")
    count = card.field(SHARDS_FIELD).get_as_(int)
    if names and count is None:
        raise AssetCardError(
            f"The checkpoint of the card {card.name!r} has a {{shard_idx}} placeholder but the "
            f"card has no {SHARDS_FIELD!r} field ({card.provenance}).")
    if count is not None and count < 1:
        raise AssetCardError(f"The field {SHARDS_FIELD!r} of the card {card.name!r} must be at "
                             f"least 1, not {count} ({card.provenance}).")
    if not names and count not in (None, 1):
        raise AssetCardError(
            f"The card {card.name!r} has {SHARDS_FIELD}: {count}, but its checkpoint has no "
            f"{{shard_idx}} placeholder ({card.provenance}).")
    return count if names and count is not None else 1


def checkpoint_sources(card: AssetCard, template: str) -> list[_Source]:
    """One source per shard: its URI, its file name in the cache entry, its digest."""
    count = _shard_count(card, template)
    digests = _expected_digests(card, count)
    if count == 1 and not _placeholders(_template_text(template)):
        return [_Source(template, _file_name(template, "checkpoint"), digests[0])]
    text = _template_text(template)
    if urllib.parse.urlsplit(template).scheme.lower() == "file":
        local = urllib.request.url2pathname(urllib.parse.urlsplit(template).path)
        uris = [Path(local.format(shard_idx=index)).as_uri() for index in range(count)]
    else:
        uris = [text.format(shard_idx=index) for index in range(count)]
    names = [_file_name(uri, f"shard-{index}") for index, uri in enumerate(uris)]
    if len(set(names)) != len(names):
        names = [f"shard-{index}-{name}" for index, name in enumerate(names)]
    return [_Source(uri, name, digest) for uri, name, digest in
            zip(uris, names, digests, strict=True)]


def _file_name(uri: str, default: str) -> str:
    name = urllib.parse.unquote(urllib.parse.urlsplit(uri).path.rsplit("/", 1)[-1])
    if not name or name in (".", "..") or name.startswith(".") or name == ENTRY_FILE:
        return default
    return name


def _expected_digests(card: AssetCard, count: int) -> list[str | None]:
    value = card.field(CHECKSUM_FIELD).get_as_(object)
    if value is None:
        return [None] * count
    if isinstance(value, str) and count == 1:
        return [_digest(card, value, CHECKSUM_FIELD)]
    if isinstance(value, list) and len(value) == count:
        return [_digest(card, v, f"{CHECKSUM_FIELD}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return _digests_by_shard(card, value, count)
    shape = "a SHA-256 hex digest" if count == 1 else (
        f"a list of {count} SHA-256 hex digests or a mapping from shard index to digest")
    raise AssetCardError(f"The field {CHECKSUM_FIELD!r} of the card {card.name!r} must be "
                         f"{shape}, not {value!r:.80} ({card.provenance}).")


def _digests_by_shard(card: AssetCard, value: Mapping[Any, Any], count: int) -> list[str | None]:
    digests: list[str | None] = [None] * count
    for key, digest in value.items():
        index = int(key) if isinstance(key, int) or str(key).isdigit() else -1
        if not 0 <= index < count:
            raise AssetCardError(
                f"The field {CHECKSUM_FIELD!r} of the card {card.name!r} has the key {key!r}, "
                f"which is not a shard index from 0 to {count - 1} ({card.provenance}).")
        digests[index] = _digest(card, digest, f"{CHECKSUM_FIELD}[{key}]")
    return digests


def _digest(card: AssetCard, value: Any, where: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise AssetCardError(f"The field {where!r} of the card {card.name!r} must be a SHA-256 "
                             f"digest (64 hex digits), not {value!r:.80} ({card.provenance}).")
    return text


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, as 64 lowercase hex digits."""
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _mismatch(expected: str, got: str) -> str:
    return f"its SHA-256 is {got}, but the card's {CHECKSUM_FIELD} is {expected}"


# -- local files ----------------------------------------------------------------------------


def _local_checkpoint(ctx: _Context, sources: list[_Source]) -> Checkpoint:
    files = [_local_file(ctx, source) for source in sources]
    if len(files) == 1 and sources[0].uri == ctx.uri:
        path = files[0]
    else:
        path = Path(os.path.commonpath([f.parent for f in files]))
    return Checkpoint(ctx.card, ctx.uri, tuple(files), path, False, False)


def _local_file(ctx: _Context, source: _Source) -> Path:
    parts = urllib.parse.urlsplit(source.uri)
    if parts.netloc not in ("", "localhost"):
        raise ctx.error(source.uri, f"file:// URIs on another host ({parts.netloc}) are not "
                                    "supported.")
    path = Path(urllib.request.url2pathname(parts.path))
    if not path.is_file():
        raise ctx.error(source.uri, f"there is no file {path}.")
    if ctx.options.verify and source.sha256 is not None:
        got = sha256_of(path)
        if got != source.sha256:
            raise ctx.error(source.uri, _mismatch(source.sha256, got) + ".")
        ctx.emit("verified", f"Verified {path} (sha256 {got}).")
    return path


# -- the cache ------------------------------------------------------------------------------


def _read_entry(entry: Path) -> dict[str, Any]:
    try:
        data = json.loads((entry / ENTRY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else {}


def _record(entry: Path, uri: str, source: _Source, digest: str, size: int) -> None:
    """Note a complete file in the entry's index, atomically. Best effort: on a full disk the
    note is skipped, and the file, complete and verified, is hashed again when next used."""
    with suppress(OSError):
        _write_record(entry, uri, source, digest, size)


def _write_record(entry: Path, uri: str, source: _Source, digest: str, size: int) -> None:
    data = _read_entry(entry) or {"uri": uri, "files": {}}
    if data["files"].get(source.name) == {"uri": source.uri, "sha256": digest, "size": size}:
        return
    data["files"][source.name] = {"uri": source.uri, "sha256": digest, "size": size}
    tmp = entry / f"{ENTRY_FILE}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, entry / ENTRY_FILE)
    finally:
        tmp.unlink(missing_ok=True)


def _forget(entry: Path, source: _Source) -> None:
    (entry / source.name).unlink(missing_ok=True)


def _is_cached(entry: Path, source: _Source, index: Mapping[str, Any]) -> bool:
    """Complete, of the recorded size, and of the digest the card asks for (if any)."""
    info = index.get(source.name)
    path = entry / source.name
    if not isinstance(info, dict) or not path.is_file():
        return False
    if path.stat().st_size != info.get("size"):
        return False
    return source.sha256 is None or source.sha256 == info.get("sha256")


def _missing(entry: Path, sources: list[_Source]) -> list[_Source]:
    index = _read_entry(entry).get("files", {})
    return [s for s in sources if not _is_cached(entry, s, index)]


def _remote_checkpoint(ctx: _Context, sources: list[_Source], entry: Path) -> list[Path]:
    options = ctx.options
    if not options.force and not options.verify and not _missing(entry, sources):
        return [entry / s.name for s in sources]
    if options.offline and not options.verify:
        _fail_offline(ctx, entry, _missing(entry, sources))
    with _entry_lock(ctx, entry):
        for source in sources:
            _ensure(ctx, entry, source)
    return [entry / s.name for s in sources]


def _fail_offline(ctx: _Context, entry: Path, missing: list[_Source]) -> None:
    if not missing:
        return
    what = ", ".join(s.uri for s in missing)
    shards = f" ({len(missing)} file(s))" if len(missing) > 1 else ""
    raise DownloadError(
        f"Cannot fetch the checkpoint of the card {ctx.card!r}: offline mode is on "
        f"({OFFLINE_ENV}=1 or --offline) and the cache has no copy of {what}{shards}; "
        f"cache entry: {entry}.")


def _ensure(ctx: _Context, entry: Path, source: _Source) -> None:
    """Make one file of the entry complete and valid; called with the entry's lock held."""
    options = ctx.options
    # With --force the cached copy stays until the new one is complete and replaces it: a
    # download that fails (a full disk, a dropped connection) leaves the old copy in place.
    if not options.force and (entry / source.name).is_file() and _keep(ctx, entry, source):
        return
    if options.offline:
        _fail_offline(ctx, entry, [source])
    digest, size = _download(ctx, entry, source)
    _record(entry, ctx.uri, source, digest, size)


def _keep(ctx: _Context, entry: Path, source: _Source) -> bool:
    """Whether the cached file can stay (re-hashed on --verify); if not, it is deleted."""
    path = entry / source.name
    index = _read_entry(entry).get("files", {})
    if not ctx.options.verify and _is_cached(entry, source, index):
        return True
    got = sha256_of(path)
    expected = source.sha256 or index.get(source.name, {}).get("sha256") or got
    if got == expected:
        _record(entry, ctx.uri, source, got, path.stat().st_size)
        ctx.emit("verified", f"Verified {path} (sha256 {got}).")
        return True
    _forget(entry, source)
    if ctx.options.offline:
        raise ctx.error(source.uri, f"the cached copy does not match: {_mismatch(expected, got)}"
                                    "; it was deleted, and offline mode is on.")
    ctx.emit("corrupt", f"The cached {path} does not match: {_mismatch(expected, got)}; "
                        "downloading it again.")
    return False


# -- the lock -------------------------------------------------------------------------------


@contextmanager
def _entry_lock(ctx: _Context, entry: Path) -> Iterator[None]:
    """Hold the entry's file lock; if another process holds it, say so and wait."""
    lock = FileLock(str(entry / LOCK_FILE), thread_local=False)
    try:
        entry.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:
        _wait(ctx, entry, lock)
    except OSError as exc:
        raise ctx.error(ctx.uri, f"cannot write the cache entry {entry} "
                                 f"({exc.strerror or exc}).") from None
    try:
        with suppress(OSError):  # only to say who holds the lock; not worth failing for
            _write_holder(entry / HOLDER_FILE)
        yield
    finally:
        (entry / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()


def _write_holder(path: Path) -> None:
    """Write who holds the lock, never through a symlink someone planted in a shared cache."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()} {socket.gethostname()}\n")


def lock_holder(entry: Path) -> tuple[int, str] | None:
    """The pid and host of the process holding ENTRY's lock, as it wrote them."""
    try:
        pid, _, host = (entry / HOLDER_FILE).read_text().strip().partition(" ")
        return int(pid), host
    except (OSError, ValueError):
        return None


def _wait(ctx: _Context, entry: Path, lock: FileLock) -> None:
    holder = lock_holder(entry)
    who = f"process {holder[0]} on {holder[1]}" if holder else "another process"
    ctx.emit("waiting", f"Waiting for {who}, which is fetching {ctx.uri} "
                        f"(lock {entry / LOCK_FILE}).", holder[0] if holder else None)
    try:
        lock.acquire(timeout=ctx.options.lock_timeout)
    except Timeout:
        raise LockTimeoutError(
            f"Gave up waiting after {ctx.options.lock_timeout:g} s for {who}, which is fetching "
            f"the checkpoint of the card {ctx.card!r} from {ctx.uri} "
            f"(lock {entry / LOCK_FILE}).") from None


# -- HTTP -----------------------------------------------------------------------------------


def _claim_partial(entry: Path, source: _Source) -> Path:
    """A temporary file unique to this process; it takes over the largest partial download
    left by a process that died (we hold the lock, so no live process is writing one)."""
    mine = entry / f"{source.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{PART_SUFFIX}"
    found = list(entry.glob(f"{source.name}.*{PART_SUFFIX}"))
    for planted in [p for p in found if p.is_symlink()]:
        planted.unlink(missing_ok=True)  # never resume into a file a symlink points at
    leftovers = sorted((p for p in found if not p.is_symlink() and p.is_file()),
                       key=lambda p: p.stat().st_size, reverse=True)
    for index, leftover in enumerate(leftovers):
        if index == 0:
            os.replace(leftover, mine)
        else:
            leftover.unlink(missing_ok=True)
    return mine


def _download(ctx: _Context, entry: Path, source: _Source) -> tuple[str, int]:
    """Download SOURCE into the entry: temporary file, verify, rename. The digest and size."""
    part = _claim_partial(entry, source)
    try:
        digest, size = _transfer(ctx, source, part)
    except OSError as exc:  # writing: a full disk, a file size limit (reading is handled)
        kept = part.stat().st_size if part.exists() else 0
        raise ctx.error(source.uri, f"cannot write {exc.filename or part}: "
                        f"{exc.strerror or exc}; the {kept} bytes downloaded so far are kept in "
                        f"{part} (run again to resume, or delete it to free the space)."
                        ) from None
    if source.sha256 is not None and digest != source.sha256:
        part.unlink(missing_ok=True)
        raise ctx.error(source.uri, _mismatch(source.sha256, digest)
                        + "; the download was deleted.")
    os.replace(part, entry / source.name)
    ctx.downloaded = True
    return digest, size


def _rehash(part: Path) -> tuple[Any, int]:
    hasher = hashlib.sha256()
    size = 0
    if part.exists():
        with part.open("rb") as f:
            for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
                hasher.update(chunk)
                size += len(chunk)
    return hasher, size


def _transfer(ctx: _Context, source: _Source, part: Path) -> tuple[str, int]:
    """Fill PART from SOURCE, resuming with Range after a drop. The digest and the size."""
    hasher, offset = _rehash(part)
    verb = f"Resuming {source.uri} at byte {offset}." if offset else f"Downloading {source.uri}."
    ctx.emit("resuming" if offset else "downloading", verb)
    total: int | None = None
    for attempt in range(ctx.options.retries + 1):
        if attempt:
            ctx.emit("resuming", f"The connection dropped after {offset} of {total} bytes; "
                                 f"resuming {source.uri} (attempt {attempt + 1}).")
        response, offset, hasher = _start(ctx, source.uri, part, offset, hasher)
        with response:
            total = _total_size(response, offset)
            offset = _copy(ctx, source, response, part, offset, total, hasher)
        if total is None or offset >= total:
            return hasher.hexdigest(), offset
    raise ctx.error(source.uri, f"the connection dropped after {offset} of {total} bytes, "
                                f"{ctx.options.retries + 1} times; run again to resume.")


def _start(ctx: _Context, uri: str, part: Path, offset: int,
           hasher: Any) -> tuple[HTTPResponse, int, Any]:
    """The response to continue PART from OFFSET; from byte 0 if the server cannot resume."""
    if offset:
        response = _open(ctx, uri, offset)
        if response is not None and _resumes_at(response, offset):
            return response, offset, hasher
        if response is not None:
            response.close()
        ctx.emit("restarting", f"The server cannot resume {uri} at byte {offset}; "
                               "restarting from the first byte.")
        part.write_bytes(b"")
    response = _open(ctx, uri, 0)
    assert response is not None  # only a ranged request is refused with None
    return response, 0, hashlib.sha256()


def _resumes_at(response: HTTPResponse, offset: int) -> bool:
    content_range = response.headers.get("Content-Range", "")
    return response.status == 206 and content_range.startswith(f"bytes {offset}-")


def _open(ctx: _Context, uri: str, offset: int) -> HTTPResponse | None:
    """The response to a GET from OFFSET; None when the server refuses that range (416)."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(uri, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=ctx.options.timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return None
        raise ctx.error(uri, f"HTTP {exc.code} {exc.reason}.") from None
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        raise ctx.error(uri, _network_reason(ctx, exc)) from None
    assert isinstance(response, HTTPResponse)
    return response


def _network_reason(ctx: _Context, exc: BaseException) -> str:
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"no response within {ctx.options.timeout:g} seconds."
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused."
    if isinstance(reason, socket.gaierror):
        return f"the host name could not be resolved ({reason.strerror})."
    return f"{reason}."


def _total_size(response: HTTPResponse, offset: int) -> int | None:
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _copy(ctx: _Context, source: _Source, response: HTTPResponse, part: Path, offset: int,
          total: int | None, hasher: Any) -> int:
    """Append the body to PART; the new size. A dropped connection just ends the copy."""
    bar = _progress_bar(ctx, source, total, offset)
    try:
        with part.open("ab") as out:
            while True:
                try:
                    chunk = response.read(CHUNK_SIZE)
                except TimeoutError:
                    raise ctx.error(source.uri, f"no data for {ctx.options.timeout:g} seconds "
                                                f"after {offset} bytes.") from None
                except (HTTPException, ConnectionError):
                    break
                if not chunk:
                    break
                offset += _write(out, chunk, hasher)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return offset


def _write(out: BinaryIO, chunk: bytes, hasher: Any) -> int:
    out.write(chunk)
    hasher.update(chunk)
    return len(chunk)


def _progress_bar(ctx: _Context, source: _Source, total: int | None, offset: int) -> Any:
    """A tqdm bar on stderr when the options ask for one (on a terminal only, by default)."""
    if not ctx.options.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                desc=source.name, file=sys.stderr, leave=False, dynamic_ncols=True)
