"""Parse once per commit: an index of a tree's cards, kept on disk and reused.

A tree's cards never change, so what was parsed for it is written once to a small SQLite file
named by the tree id (and card directory) and never modified again; readers open it with
`immutable=1`, which takes no lock. A cold lookup of one card reads one row, not the store.
Building the index of a new tree reuses the parse of every blob the previous tree's index
already holds (blob ids are content hashes), so a sync parses only the files that changed.

The index lives beside the store (ROOT/.assetcards/index) when the writer can write there, and
in the user's cache otherwise (a system store read by a user). A damaged or truncated file is
detected (SQLite errors, a missing completion mark) and rebuilt.

The cache does not grow without bound: opening an index marks it used (its mtime, refreshed
at most daily), and each build in the cache removes the indexes nobody used for UNUSED_DAYS,
the earlier listings of the same directory, and what a killed build left behind. The store's
own index directory is pruned by the store (its current and previous pins are kept).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from ..card.parse import CardDoc, ParsedFile
from ..errors import Problem
from .source import CardSource, SourceFile, parse_files

FORMAT = "2"
UNUSED_DAYS = 30  # an index in a cache that nobody opened for this long is removed
_DAY = 86400.0


def _version_tag() -> str:
    from .._version import __version__

    return f"{FORMAT}/{__version__}/{yaml.__version__}"


def index_name(tree: str, card_dir: str) -> str:
    digest = hashlib.sha256(f"{_version_tag()}\0{card_dir}".encode()).hexdigest()[:12]
    return f"{tree}-{digest}.sqlite"


def listing_index_name(label: str, files: Sequence[SourceFile]) -> str:
    """The index name of a directory's cards: its files' paths and content keys (size and
    modification time) decide it, so an edited, added or removed file names a new index. The
    name starts with a digest of the directory alone, so its earlier listings can be found."""
    digest = hashlib.sha256(f"{_version_tag()}\0{label}".encode("utf-8", "surrogateescape"))
    for f in files:
        digest.update(f"\0{f.path}\0{f.key}".encode("utf-8", "surrogateescape"))
    return f"{_listing_prefix(label)}{digest.hexdigest()[:40]}.sqlite"


def _listing_prefix(label: str) -> str:
    return f"dir-{hashlib.sha256(label.encode('utf-8', 'surrogateescape')).hexdigest()[:12]}-"


def _refuse(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON")


def entry_of(parsed: ParsedFile) -> str | None:
    """A file's parse as JSON, or None when JSON cannot carry it exactly (a date, a
    non-string key): such a file is parsed again from its blob when asked for."""
    entry = {
        "cards": [[d.name, d.metadata, d.line, d.col, d.key_lines] for d in parsed.cards],
        "problems": [[p.line, p.col, p.card, p.message, p.key, p.code] for p in parsed.problems],
    }
    try:
        # No date, bytes, NaN or other value JSON lacks: dumps refuses them.
        text = json.dumps(entry, separators=(",", ":"), allow_nan=False, default=_refuse)
        # Non-string keys would come back as strings; only a round trip can tell, unless the
        # parser vouches that every key is a string.
        if not all(d.string_keys for d in parsed.cards) and json.loads(text) != entry:
            return None
    except (TypeError, ValueError):
        return None
    return text


def parsed_of(entry: str, file: str) -> ParsedFile:
    data = json.loads(entry)
    cards = [CardDoc(name, metadata, file, line, col, key_lines, True)
             for name, metadata, line, col, key_lines in data["cards"]]
    problems = [Problem(file, line, col, card, message, key, code)
                for line, col, card, message, key, code in data["problems"]]
    return ParsedFile(file, cards, problems)


class TreeIndex:
    """A read-only view of one tree's index file."""

    def __init__(self, path: Path, source: CardSource) -> None:
        self.path = path
        self.source = source
        uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'complete'").fetchone()
        if row is None or row[0] != _version_tag():
            self.close()
            raise sqlite3.DatabaseError("index is incomplete or from another version")
        self._files: list[ParsedFile] | None = None  # set by build_index: no need to decode
        self._by_blob: dict[str, ParsedFile] | None = None  # the same, by blob id

    def close(self) -> None:
        self._db.close()

    def lookup(self, name: str) -> list[CardDoc]:
        rows = self._db.execute(
            "SELECT f.path, f.oid, f.entry, n.pos FROM names n JOIN files f ON f.path = n.path "
            "WHERE n.name = ? ORDER BY f.path, n.pos", (name,)).fetchall()
        return [self._file(path, oid, entry).cards[pos] for path, oid, entry, pos in rows]

    def names(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT name FROM names ORDER BY name")]

    def duplicate_names(self) -> list[str]:
        rows = self._db.execute("SELECT name FROM names GROUP BY name HAVING COUNT(*) > 1 "
                                "ORDER BY name")
        return [r[0] for r in rows]

    def broken_files(self) -> list[str]:
        """The files with problems (cheap: an indexed column, nothing is decoded)."""
        return [r[0] for r in self._db.execute(
            "SELECT path FROM files WHERE bad = 1 ORDER BY path")]

    def problems(self) -> list[Problem]:
        rows = self._db.execute("SELECT path, oid, entry FROM files WHERE bad = 1").fetchall()
        return [p for path, oid, entry in rows for p in self._file(path, oid, entry).problems]

    def files(self) -> list[ParsedFile]:
        if self._files is not None:
            return self._files
        rows = self._db.execute("SELECT path, oid, entry FROM files ORDER BY path").fetchall()
        return [self._file(path, oid, entry) for path, oid, entry in rows]

    def parsed_by_blob(self) -> dict[str, ParsedFile] | None:
        """Blob id -> its parse, when this process built the index (nothing to decode)."""
        return self._by_blob

    def entries(self) -> dict[str, str]:
        """blob id -> entry, for reuse by the index of another tree."""
        rows = self._db.execute("SELECT oid, entry FROM files WHERE entry IS NOT NULL")
        return dict(rows.fetchall())

    def _file(self, path: str, oid: str, entry: str | None) -> ParsedFile:
        if entry is not None:
            return parsed_of(entry, path)
        return parse_files(self.source, [SourceFile(path, oid)])[0]


def write_index(path: Path, parsed: Sequence[tuple[SourceFile, ParsedFile]],
                known: dict[str, str] | None = None) -> None:
    """Write an index file atomically: built under a temporary name, then renamed. KNOWN: the
    entries already encoded (by blob id), written as they are."""
    known = known or {}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        db = sqlite3.connect(tmp)
        try:
            db.executescript(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                "CREATE TABLE files (path TEXT PRIMARY KEY, oid TEXT, entry TEXT, bad INTEGER);"
                "CREATE TABLE names (name TEXT, path TEXT, pos INTEGER);")
            db.executemany("INSERT INTO files VALUES (?, ?, ?, ?)",
                           ((f.path, f.key, known.get(f.key) or entry_of(p),
                             1 if p.problems else 0) for f, p in parsed))
            db.executemany("INSERT INTO names VALUES (?, ?, ?)",
                           ((d.name, f.path, pos) for f, p in parsed
                            for pos, d in enumerate(p.cards)))
            db.execute("CREATE INDEX names_by_name ON names (name)")
            db.execute("CREATE INDEX files_bad ON files (bad)")
            db.execute("INSERT INTO meta VALUES ('complete', ?)", (_version_tag(),))
            db.commit()
        finally:
            db.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def parse_reusing(source: CardSource, files: Sequence[SourceFile],
                  known: dict[str, str]) -> list[tuple[SourceFile, ParsedFile]]:
    """Parse FILES, taking the parse of every blob id in KNOWN instead of parsing it again."""
    fresh = [f for f in files if f.key not in known]
    parsed = {p.file: p for p in parse_files(source, fresh)}
    out = []
    for f in files:
        if f.key in known:
            out.append((f, parsed_of(known[f.key], f.path)))
        elif f.path in parsed:
            out.append((f, parsed[f.path]))
    return out


def open_index(name: str, dirs: Iterable[Path], source: CardSource) -> TreeIndex | None:
    """The first readable index called NAME in DIRS; a damaged one is removed if we can."""
    for directory in dirs:
        path = directory / name
        try:
            modified = path.stat().st_mtime
        except OSError:
            continue
        try:
            index = TreeIndex(path, source)
        except sqlite3.Error:
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        if time.time() - modified > _DAY:  # mark it used (at most daily; best effort)
            with contextlib.suppress(OSError):
                os.utime(path)
        return index
    return None


def find_listing(directory: Path, label: str, source: CardSource) -> TreeIndex | None:
    """The newest readable index in DIRECTORY of a listing of LABEL (whatever its files were
    then): its parses serve every blob it shares with the files now."""
    prefix = _listing_prefix(label)
    found = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name.endswith(".sqlite"):
            with contextlib.suppress(OSError):  # removed meanwhile by another process
                found.append((entry.stat().st_mtime, entry.name))
    for _, name in sorted(found, reverse=True):
        index = open_index(name, [directory], source)
        if index is not None:
            return index
    return None


def prune_cache(directory: Path, built: str, now: float | None = None) -> list[str]:
    """Remove from DIRECTORY, a cache of indexes where BUILT was just written, the indexes
    nobody opened for UNUSED_DAYS, the other listings of BUILT's directory (if BUILT is a
    listing) and the temporary files of builds killed over a day ago. Another process that
    still reads a removed index keeps its open file; one that looks for it builds it again.
    Returns the names removed."""
    now = time.time() if now is None else now
    sibling = built[:len(_listing_prefix(""))] if built.startswith("dir-") else None
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if name == built:
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if name.endswith(".sqlite"):
            doomed = age > UNUSED_DAYS * _DAY or (sibling is not None and name.startswith(sibling))
        else:
            doomed = name.startswith(".") and name.endswith(".tmp") and age > _DAY
        if doomed:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(name)
    return removed


def build_index(name: str, dirs: Sequence[Path], source: CardSource,
                reuse: Iterable[TreeIndex] = (),
                files: Sequence[SourceFile] | None = None,
                caches: Iterable[Path] | None = None) -> TreeIndex:
    """Parse SOURCE (its FILES, default all; reusing what REUSE already parsed) and write its
    index to the first of DIRS that can be written. Of DIRS, CACHES (default: all) are shared
    caches, pruned after a write (see prune_cache)."""
    shared = set(dirs if caches is None else caches)
    known: dict[str, str] = {}
    for other in reuse:
        with contextlib.suppress(sqlite3.Error):
            known.update(other.entries())
    parsed = parse_reusing(source, source.list_files() if files is None else files, known)
    last_error: OSError | None = None
    for directory in dirs:
        try:
            write_index(directory / name, parsed, known)
            index = TreeIndex(directory / name, source)
            if directory in shared:
                prune_cache(directory, name)
            index._files = sorted((p for _, p in parsed), key=lambda p: p.file)
            index._by_blob = {f.key: p for f, p in parsed}
            return index
        except (OSError, sqlite3.OperationalError) as exc:  # sqlite: "database is full"
            last_error = exc if isinstance(exc, OSError) else OSError(
                errno.EIO, str(exc), str(directory / name))
    raise last_error or OSError("no directory to write the index to")

