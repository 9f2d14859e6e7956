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

Everything that comes from a card, a server or the environment is checked before use: URIs,
shard templates and sizes by the parser and limits of `uris` (which validation uses too), and
every path in the cache by `_inside`, which keeps it inside its entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import select
import shutil
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from http.client import HTTPException, HTTPMessage, HTTPResponse
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

from filelock import FileLock, Timeout

from ..card import uris
from ..card.model import AssetCard
from ..errors import AssetCardError, DownloadError, LockTimeoutError
from ..fsutil import atomic_write_json
from ..locations import Locations

CHECKSUM_FIELD = "checkpoint_sha256"
SHARDS_FIELD = "num_shards"
SIZE_FIELD = uris.SIZE_FIELD
SHARD_PLACEHOLDER = uris.SHARD_PLACEHOLDER
OFFLINE_ENV = "FAIRSEQ2_OFFLINE"
NO_PROGRESS_ENV = "FAIRSEQ2_NO_PROGRESS"
TIMEOUT_ENV = "FAIRSEQ2_DOWNLOAD_TIMEOUT"
MAX_BYTES_ENV = uris.MAX_DOWNLOAD_BYTES_ENV
DEFAULT_TIMEOUT = 60.0
CACHE_SUBDIR = "checkpoints"
ENTRY_FILE = "entry.json"
LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.holder"
PART_SUFFIX = ".part"
VALIDATOR_SUFFIX = ".validator"  # beside a .part: the ETag or Last-Modified it was cut from
CHUNK_SIZE = 1 << 20
USER_AGENT = "assetcards/0.1"
REMOTE_SCHEMES = tuple(sorted(uris.REMOTE_SCHEMES))

_MAX_VALIDATOR = 1024  # characters of an ETag or Last-Modified we record and send back
_HEADER_VALUE = re.compile(rf"[\x20-\x7e]{{1,{_MAX_VALIDATOR}}}")
_GRACE = 0.2  # seconds to wait for bytes after a complete body; a closed connection: none

log = logging.getLogger(__name__)
_T = TypeVar("_T")


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
    max_bytes: int = uris.DEFAULT_MAX_DOWNLOAD_BYTES  # a body of unknown size stops here

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **changes: Any) -> DownloadOptions:
        """Options from FAIRSEQ2_OFFLINE, FAIRSEQ2_NO_PROGRESS, FAIRSEQ2_DOWNLOAD_TIMEOUT and
        ASSETCARDS_MAX_DOWNLOAD_BYTES, then CHANGES. The progress bar is on only when stderr
        is a terminal."""
        env = os.environ if environ is None else environ
        options = cls(
            offline=is_truthy(env.get(OFFLINE_ENV)),
            progress=sys.stderr.isatty() and not is_truthy(env.get(NO_PROGRESS_ENV)),
            timeout=_setting(env, TIMEOUT_ENV, uris.seconds, DEFAULT_TIMEOUT),
            max_bytes=_setting(env, MAX_BYTES_ENV, uris.byte_count,
                               uris.DEFAULT_MAX_DOWNLOAD_BYTES),
        )
        return replace(options, **changes)


def is_truthy(value: str | None) -> bool:
    """Whether an environment variable is set to something that means yes."""
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def _setting(env: Mapping[str, str], name: str, parse: Callable[[str, str], _T],
             default: _T) -> _T:
    """The environment variable NAME read by PARSE (one of the checks of `uris`), or
    DEFAULT when it is unset or empty; a bad value is an error naming the variable."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return parse(text, name)
    except ValueError as exc:
        raise DownloadError(str(exc)) from None


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
    size: int | None = None  # as the card declares it (`checkpoint_size`)


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
    _check_checkpoint(card)
    return checkpoint.as_uri()


def _check_checkpoint(card: AssetCard) -> None:
    """Refuse a checkpoint that validation would refuse: a relative path that leads outside
    the card's store or directory, a malformed URI, a bad shard template. Validation refuses
    such a card, but a card is also read unvalidated (a loose file, a commit pinned from a
    lock file), and a fetch must never read outside, or crash, on its behalf. Absolute paths
    are allowed by both, as in fairseq2: the file is read where it is, never moved or deleted."""
    owner = next((c for c in card.base_chain() if "checkpoint" in c.metadata), None)
    if owner is None:
        return
    where = card.path_provenance  # the file a relative path resolves against, as in fairseq2
    file = where.file  # relative to the store root; for a directory, absolute: make it relative
    if where.kind == "directory" and os.path.isabs(file):
        file = os.path.relpath(file, where.source)
    problem = uris.checkpoint_problem(owner.metadata["checkpoint"], file.replace(os.sep, "/"))
    if problem is not None:
        raise DownloadError(f"The card {card.name!r} cannot be fetched: its {problem.message} "
                            f"(card from {owner.provenance}).")


def cache_entry(locations: Locations, uri: str) -> Path:
    """The cache directory of one checkpoint URI."""
    key = hashlib.sha256(uri.encode("utf-8")).hexdigest()[:32]
    return locations.cache / CACHE_SUBDIR / key


# -- shards and checksums -------------------------------------------------------------------


def _placeholders(template: str) -> set[str]:
    return {name for name, _, _ in uris.placeholders(template)}


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
    count = card.field(SHARDS_FIELD).get_as_(object)
    problem = uris.template_problem(text) or (
        uris.num_shards_problem(count) if count is not None else None)
    if problem is not None:
        raise AssetCardError(f"The card {card.name!r} cannot be fetched: its {problem.message} "
                             f"({card.provenance}).")
    if names and count is None:
        raise AssetCardError(
            f"The checkpoint of the card {card.name!r} has a {{shard_idx}} placeholder but the "
            f"card has no {SHARDS_FIELD!r} field ({card.provenance}).")
    if not names and count not in (None, 1):
        raise AssetCardError(
            f"The card {card.name!r} has {SHARDS_FIELD}: {count}, but its checkpoint has no "
            f"{{shard_idx}} placeholder ({card.provenance}).")
    return count if names and isinstance(count, int) else 1


def checkpoint_sources(card: AssetCard, template: str) -> list[_Source]:
    """One source per shard: its URI, its file name in the cache entry, its digest."""
    count = _shard_count(card, template)
    digests = _expected_digests(card, count)
    sizes = _expected_sizes(card, count)
    if count == 1 and not _placeholders(_template_text(template)):
        return [_Source(template, uris.cache_file_name(template, "checkpoint"), digests[0],
                        sizes[0])]
    text = _template_text(template)
    if urllib.parse.urlsplit(template).scheme.lower() == "file":
        local = urllib.request.url2pathname(urllib.parse.urlsplit(template).path)
        shards = [Path(local.format(shard_idx=index)).as_uri() for index in range(count)]
    else:
        shards = [text.format(shard_idx=index) for index in range(count)]
    names = [uris.cache_file_name(uri, f"shard-{index}") for index, uri in enumerate(shards)]
    if len(set(names)) != len(names):
        names = [f"shard-{index}-{name}" for index, name in enumerate(names)]
    return [_Source(uri, name, digest, size) for uri, name, digest, size in
            zip(shards, names, digests, sizes, strict=True)]


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
        digests[_shard_index(card, CHECKSUM_FIELD, key, count)] = _digest(
            card, digest, f"{CHECKSUM_FIELD}[{key}]")
    return digests


def _shard_index(card: AssetCard, field_name: str, key: Any, count: int) -> int:
    """KEY of a per-shard mapping as a shard index, or an error naming the field."""
    text = str(key) if type(key) is int or isinstance(key, str) else ""
    index = int(text) if text.isascii() and text.isdigit() and len(text) < 10 else -1
    if not 0 <= index < count:
        raise AssetCardError(
            f"The field {field_name!r} of the card {card.name!r} has the key {key!r:.40}, "
            f"which is not a shard index from 0 to {count - 1} ({card.provenance}).")
    return index


def _expected_sizes(card: AssetCard, count: int) -> list[int | None]:
    """The size of each shard as the card declares it (`checkpoint_size`: a number, a list
    or a mapping from shard index, as for checksums), None where it does not."""
    value = card.field(SIZE_FIELD).get_as_(object)
    if value is None:
        return [None] * count
    problem = uris.size_problem(value)
    if problem is None and type(value) is int and count == 1:
        return [value]
    if problem is None and isinstance(value, list) and len(value) == count:
        return list(value)
    if problem is None and isinstance(value, Mapping):
        sizes: list[int | None] = [None] * count
        for key, size in value.items():
            sizes[_shard_index(card, SIZE_FIELD, key, count)] = size
        return sizes
    reason = problem.message if problem is not None else (
        f"{SIZE_FIELD!r} must give one size per shard ({count})")
    raise AssetCardError(f"The card {card.name!r} cannot be fetched: its {reason} "
                         f"({card.provenance}).")


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
    atomic_write_json(entry / ENTRY_FILE, data)


def _inside(entry: Path, name: str) -> Path:
    """ENTRY/NAME, once NAME is known to be one plain file name, so that the path stays in
    the entry: the check before every path in the cache is read, replaced or deleted."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
            or os.sep in name or len(os.fsencode(name)) > 255):
        raise DownloadError(f"Refusing the cache file name {name!r:.300}: it could name a "
                            f"file outside the cache entry {entry}.")
    return entry / name


def _is_regular(path: Path) -> bool:
    """A regular file that is not a symlink (one planted in a shared cache is never read)."""
    return not path.is_symlink() and path.is_file()


def _forget(entry: Path, source: _Source) -> None:
    _inside(entry, source.name).unlink(missing_ok=True)


def _is_cached(entry: Path, source: _Source, index: Mapping[str, Any]) -> bool:
    """Complete, of the recorded size, and of the digest the card asks for (if any)."""
    info = index.get(source.name)
    path = _inside(entry, source.name)
    if not isinstance(info, dict) or not _is_regular(path):
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
        return [_inside(entry, s.name) for s in sources]
    if options.offline and not options.verify:
        _fail_offline(ctx, entry, _missing(entry, sources))
    with _entry_lock(ctx, entry):
        for source in sources:
            _ensure(ctx, entry, source)
    return [_inside(entry, s.name) for s in sources]


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
    path = _inside(entry, source.name)
    if path.is_symlink():  # planted: never read through, replaced by the download
        path.unlink()
    if not options.force and _is_regular(path) and _keep(ctx, entry, source):
        return
    if options.offline:
        _fail_offline(ctx, entry, [source])
    digest, size = _download(ctx, entry, source)
    _record(entry, ctx.uri, source, digest, size)


def _keep(ctx: _Context, entry: Path, source: _Source) -> bool:
    """Whether the cached file can stay as it is (re-hashed on --verify). It is deleted only
    when it no longer matches the digest recorded when it was downloaded (damaged on disk).
    A file intact but of another digest than this card's, such as one another card with the
    same URI verified, stays until a download that matches this card replaces it."""
    path = _inside(entry, source.name)
    index = _read_entry(entry).get("files", {})
    if not ctx.options.verify and _is_cached(entry, source, index):
        return True
    got = sha256_of(path)
    info = index.get(source.name)
    recorded = info.get("sha256") if isinstance(info, dict) else None
    expected = source.sha256 or recorded or got
    if got == expected:
        _record(entry, ctx.uri, source, got, path.stat().st_size)
        ctx.emit("verified", f"Verified {path} (sha256 {got}).")
        return True
    damaged = recorded is not None and recorded != got
    if damaged:
        _forget(entry, source)
    if ctx.options.offline:
        what = "it was deleted" if damaged else "it was kept"
        raise ctx.error(source.uri, f"the cached copy does not match: {_mismatch(expected, got)}"
                                    f"; {what}, and offline mode is on.")
    if damaged:
        ctx.emit("corrupt", f"The cached {path} does not match: {_mismatch(expected, got)}; "
                            "downloading it again.")
    else:
        ctx.emit("stale", f"The cached {path} does not match: {_mismatch(expected, got)}; "
                          "downloading it again (the cached copy stays until a download "
                          "matches).")
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


class _BadBody(DownloadError):
    """A response whose body cannot be the file (too long, or not of the declared size):
    the partial download is deleted, never resumed."""


def _claim_partial(entry: Path, source: _Source) -> Path:
    """A temporary file unique to this process; it takes over the largest partial download
    left by a process that died (we hold the lock, so no live process is writing one), and
    the validator of the file it was cut from."""
    mine = _inside(entry, f"{source.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{PART_SUFFIX}")
    found = list(entry.glob(f"{source.name}.*{PART_SUFFIX}"))
    for planted in [p for p in found if p.is_symlink()]:
        planted.unlink(missing_ok=True)  # never resume into a file a symlink points at
    leftovers = sorted((p for p in found if not p.is_symlink() and p.is_file()),
                       key=lambda p: p.stat().st_size, reverse=True)
    for index, leftover in enumerate(leftovers):
        if index == 0:
            os.replace(leftover, mine)
            if _is_regular(_validator_path(leftover)):
                os.replace(_validator_path(leftover), _validator_path(mine))
        else:
            leftover.unlink(missing_ok=True)
    for note in entry.glob(f"{source.name}.*{PART_SUFFIX}{VALIDATOR_SUFFIX}"):
        if note.name != _validator_path(mine).name:
            note.unlink(missing_ok=True)
    return mine


def _validator_path(part: Path) -> Path:
    return _inside(part.parent, part.name + VALIDATOR_SUFFIX)


def _read_validator(part: Path) -> str | None:
    """The ETag or Last-Modified recorded when PART was started, if any (never through a
    symlink: what we read is sent to the server)."""
    try:
        fd = os.open(_validator_path(part), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        text = f.read(_MAX_VALIDATOR + 2).decode("ascii", "replace").strip()
    return text if _HEADER_VALUE.fullmatch(text) else None


def _save_validator(part: Path, validator: str | None) -> None:
    path = _validator_path(part)
    path.unlink(missing_ok=True)
    if validator is None:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(validator + "\n")


def _drop_partial(part: Path) -> None:
    part.unlink(missing_ok=True)
    _validator_path(part).unlink(missing_ok=True)


def _download(ctx: _Context, entry: Path, source: _Source) -> tuple[str, int]:
    """Download SOURCE into the entry: temporary file, verify, rename. The digest and size."""
    part = _claim_partial(entry, source)
    try:
        digest, size = _transfer(ctx, source, part)
    except _BadBody:
        _drop_partial(part)
        raise
    except DownloadError:
        if not part.exists() or part.stat().st_size == 0:
            _drop_partial(part)  # nothing to resume: leave nothing behind
        raise
    except OSError as exc:  # writing: a full disk, a file size limit (reading is handled)
        kept = part.stat().st_size if part.exists() else 0
        raise ctx.error(source.uri, f"cannot write {exc.filename or part}: "
                        f"{exc.strerror or exc}; the {kept} bytes downloaded so far are kept in "
                        f"{part} (run again to resume, or delete it to free the space)."
                        ) from None
    if source.sha256 is not None and digest != source.sha256:
        _drop_partial(part)
        raise ctx.error(source.uri, _mismatch(source.sha256, digest)
                        + "; the download was deleted.")
    os.replace(part, _inside(entry, source.name))
    _validator_path(part).unlink(missing_ok=True)
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


@dataclass
class _Progress:
    """Where a download stands: bytes in the .part file, their hash, the file's validator."""

    offset: int
    hasher: Any
    validator: str | None


def _transfer(ctx: _Context, source: _Source, part: Path) -> tuple[str, int]:
    """Fill PART from SOURCE, resuming with Range after a drop while the file is still the
    one PART was cut from. The digest and the size."""
    hasher, offset = _rehash(part)
    state = _Progress(offset, hasher, _read_validator(part) if offset else None)
    verb = f"Resuming {source.uri} at byte {offset}." if offset else f"Downloading {source.uri}."
    ctx.emit("resuming" if offset else "downloading", verb)
    total: int | None = None
    for attempt in range(ctx.options.retries + 1):
        if attempt:
            ctx.emit("resuming", f"The connection dropped after {state.offset} of {total} "
                                 f"bytes; resuming {source.uri} (attempt {attempt + 1}).")
        with _start(ctx, source.uri, part, state) as response:
            total = _total_size(ctx, source, response, state.offset)
            _check_space(ctx, source, part, total, state.offset)
            state.offset = _copy(ctx, source, response, part, state, total)
        if total is None or state.offset >= total:
            _check_declared_size(ctx, source, state.offset)
            return state.hasher.hexdigest(), state.offset
    raise ctx.error(source.uri, f"the connection dropped after {state.offset} of {total} "
                                f"bytes, {ctx.options.retries + 1} times; run again to resume.")


def _start(ctx: _Context, uri: str, part: Path, state: _Progress) -> HTTPResponse:
    """The response to continue PART from STATE.offset, sent with If-Range and checked to be
    of the same file (its validator); else the whole file from the first byte."""
    offset, validator = state.offset, state.validator
    if offset and validator is not None:
        response = _open(ctx, uri, offset, validator)
        if response is not None and _resumes_at(response, offset, validator):
            return response
        now = _validator_of(response) if response is not None else None
        if response is not None and response.status == 200:
            _say_restart(ctx, uri, offset, validator, now)
            return _restart(ctx, uri, part, state, response)
        if response is not None:
            response.close()
        _say_restart(ctx, uri, offset, validator, now)
    elif offset:
        ctx.emit("restarting", f"Cannot resume {uri} at byte {offset}: no ETag or "
                               "Last-Modified was recorded to prove the file is still the "
                               "same; restarting from the first byte.")
    return _restart(ctx, uri, part, state, _open(ctx, uri, 0, None))


def _say_restart(ctx: _Context, uri: str, offset: int, was: str, now: str | None) -> None:
    if now is not None and now != was:
        ctx.emit("restarting", f"{uri} changed since its first {offset} bytes were downloaded "
                               f"({was} then, {now} now); restarting from the first byte.")
    else:
        ctx.emit("restarting", f"The server cannot resume {uri} at byte {offset}; "
                               "restarting from the first byte.")


def _restart(ctx: _Context, uri: str, part: Path, state: _Progress,
             response: HTTPResponse | None) -> HTTPResponse:
    """Start PART over with RESPONSE, a whole file (200), and record its validator."""
    if response is None or response.status != 200:
        status = response.status if response is not None else 416
        if response is not None:
            response.close()
        raise ctx.error(uri, f"the server answered HTTP {status} to a request for the whole "
                             "file.")
    state.offset, state.hasher = 0, hashlib.sha256()
    state.validator = _validator_of(response)
    try:
        part.write_bytes(b"")
        _save_validator(part, state.validator)
    except OSError:
        response.close()
        raise
    return response


def _validator_of(response: HTTPResponse) -> str | None:
    """What If-Range may carry for this response: its strong ETag, else its Last-Modified."""
    etag = (response.headers.get("ETag") or "").strip()
    if _HEADER_VALUE.fullmatch(etag) and not etag.startswith("W/"):
        return etag
    modified = (response.headers.get("Last-Modified") or "").strip()
    return modified if _HEADER_VALUE.fullmatch(modified) else None


def _resumes_at(response: HTTPResponse, offset: int, validator: str) -> bool:
    """A 206 from OFFSET of the same file (a server may ignore If-Range: check it)."""
    content_range = response.headers.get("Content-Range", "")
    return (response.status == 206 and content_range.startswith(f"bytes {offset}-")
            and _validator_of(response) == validator)


class _RefusedRedirect(Exception):
    """A redirect we do not follow: to anything but http(s), or to a malformed URL."""


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow at most MAX_REDIRECTS redirects, and only to URLs the download accepts."""

    max_redirections = uris.MAX_REDIRECTS

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                         msg: str, headers: HTTPMessage,
                         newurl: str) -> urllib.request.Request | None:
        problem = uris.remote_problem(newurl)
        if problem is not None:
            raise _RefusedRedirect(f"the server redirected to {newurl!r:.200}, which is "
                                   "refused: only http:// and https:// URLs are followed.")
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                       msg: str, headers: HTTPMessage) -> Any:
        try:
            return super().http_error_302(req, fp, code, msg, headers)
        except ValueError as exc:
            raise _RefusedRedirect(f"the server redirected to a malformed URL ({exc}).") from None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _open(ctx: _Context, uri: str, offset: int, validator: str | None) -> HTTPResponse | None:
    """The response to a GET from OFFSET (with If-Range: VALIDATOR); None when the server
    refuses that range (416)."""
    problem = uris.remote_problem(uri)
    if problem is not None:
        raise ctx.error(uri, f"{problem.message}.")
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator is not None:
            headers["If-Range"] = validator
    try:
        request = urllib.request.Request(uri, headers=headers)
        response = urllib.request.build_opener(_Redirects).open(
            request, timeout=ctx.options.timeout)
    except _RefusedRedirect as exc:
        raise ctx.error(uri, str(exc)) from None
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return None
        raise ctx.error(uri, f"HTTP {exc.code} {exc.reason}.") from None
    except (urllib.error.URLError, OSError, HTTPException, ValueError) as exc:
        raise ctx.error(uri, _network_reason(ctx, exc)) from None
    if not isinstance(response, HTTPResponse):
        response.close()
        raise ctx.error(uri, "the answer is not an HTTP response.")
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


def _total_size(ctx: _Context, source: _Source, response: HTTPResponse,
                offset: int) -> int | None:
    """The size of the whole file, from Content-Length (None when the server does not say);
    it must be the size the card declares, if it declares one."""
    length = response.length  # http.client's reading of Content-Length: a number, or None
    total = offset + length if length is not None else None
    if total is not None and source.size is not None and total != source.size:
        raise _BadBody(ctx.error(source.uri, f"the server says the file has {total} bytes, but "
                                             f"the card's {SIZE_FIELD} is {source.size}."))
    return total


def _check_declared_size(ctx: _Context, source: _Source, size: int) -> None:
    if source.size is not None and size != source.size:
        raise _BadBody(ctx.error(source.uri, f"the server sent {size} bytes, but the card's "
                                             f"{SIZE_FIELD} is {source.size}; the download was "
                                             "deleted."))


def _check_space(ctx: _Context, source: _Source, part: Path, total: int | None,
                 offset: int) -> None:
    """Fail at once when the rest of a file of known size cannot fit on the disk."""
    known = total if total is not None else source.size
    needed = known - offset if known is not None else 0
    if needed <= 0:
        return
    try:
        free = shutil.disk_usage(part.parent).free
    except OSError:
        return
    if needed > free:
        raise ctx.error(source.uri, f"the download needs {_size_text(needed)}, "
                                    f"{_size_text(free)} free in {part.parent}.")


def _size_text(size: int) -> str:
    value, unit = float(size), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            break
        value /= 1024
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def _limit(ctx: _Context, source: _Source, total: int | None) -> tuple[int, str]:
    """The most bytes the body may have, and what to say when it has more."""
    if total is not None:
        return total, f"the server sent more than the {total} bytes its Content-Length announced"
    if source.size is not None:
        return source.size, (f"the server sent more than the {source.size} bytes of the card's "
                             f"{SIZE_FIELD}")
    cap = ctx.options.max_bytes
    return cap, (f"the server sent more than {cap} bytes without saying how many (the limit "
                 f"for a checkpoint of unknown size; set {MAX_BYTES_ENV} or the card's "
                 f"{SIZE_FIELD} to change it)")


def _copy(ctx: _Context, source: _Source, response: HTTPResponse, part: Path,
          state: _Progress, total: int | None) -> int:
    """Append the body to PART; the new size. A dropped connection just ends the copy; a
    body longer than its Content-Length, the card's size or the limit is an error."""
    limit, too_long = _limit(ctx, source, total)
    offset = state.offset
    read = _reader(response, total is not None)
    bar = _progress_bar(ctx, source, total, offset)
    try:
        with part.open("ab") as out:
            while True:
                if offset == total:  # all of it: read no more, but look for more
                    if _more_follows(response):
                        raise _BadBody(ctx.error(source.uri, f"{too_long}; the download was "
                                                             "deleted."))
                    break
                try:
                    chunk = read(CHUNK_SIZE)
                except TimeoutError:
                    raise ctx.error(source.uri, f"no data for {ctx.options.timeout:g} seconds "
                                                f"after {offset} bytes.") from None
                except (HTTPException, ConnectionError):
                    break
                if not chunk:
                    break
                if offset + len(chunk) > limit:
                    raise _BadBody(ctx.error(source.uri, f"{too_long}; the download was "
                                                         "deleted."))
                offset += _write(out, chunk, state.hasher)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return offset


def _reader(response: HTTPResponse, sized: bool) -> Callable[[int], bytes]:
    """How to read the body. With a Content-Length (and no chunked coding), from the socket
    itself: http.client would stop at the announced length and hide any bytes after it."""
    fp = response.fp
    if sized and not response.chunked and fp is not None:
        return fp.read1
    return response.read


def _more_follows(response: HTTPResponse) -> bool:
    """Whether bytes follow a body that has all of its Content-Length. Waits a moment at
    most; a server that closes the connection (urllib asks it to) answers at once."""
    fp = response.fp
    if fp is None or response.chunked:
        return False
    try:
        ready, _, _ = select.select([fp], [], [], _GRACE)
        return bool(ready) and bool(fp.read1(1))
    except (OSError, ValueError):
        return False


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
