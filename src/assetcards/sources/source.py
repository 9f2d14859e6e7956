"""Where card files come from: a directory, a commit's tree, or the git index.

Parsing and validation are written once over this abstraction. Each file carries a content key
(a blob id, or size and mtime on disk) so that what was parsed for it can be reused.
"""

from __future__ import annotations

import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from ..card.parse import MAX_FILE_BYTES, ParsedFile, is_card_path, parse_file
from ..errors import Problem, ProblemCode
from ..fsutil import is_printable_name, printable_name
from ..git import Repo, TreeEntry

# A directory holding this marker is a git store's checkout: its cards are read from the
# store's pinned commit, never as loose files of the root above it.
STORE_MARKER = ".assetcards-store"


class SourceFile(NamedTuple):  # a tuple: a store lists thousands, built fast
    path: str  # relative to the source root, with '/' separators
    key: str  # content key: a blob id, or "size:mtime_ns" on disk
    size: int = -1


class CardSource(ABC):
    """A set of card files that can be listed and read."""

    kind: str = "source"

    @property
    @abstractmethod
    def label(self) -> str: ...

    @property
    @abstractmethod
    def base_dir(self) -> Path | None:
        """The directory file paths are relative to on disk (for relative checkpoints)."""

    @abstractmethod
    def list_files(self) -> list[SourceFile]: ...

    @abstractmethod
    def read(self, files: Sequence[SourceFile]) -> Iterator[tuple[SourceFile, bytes]]: ...

    def parse(self) -> list[ParsedFile]:
        return parse_files(self, self.list_files())

    def refusal(self, file: SourceFile) -> str | None:
        """Why FILE is not read although listed (a FIFO, a device...), if it is not."""
        return None


def file_name_problem(path: str) -> Problem | None:
    """What is wrong with the name of the card file PATH, as listed (see
    fsutil.printable_name): bytes that are not UTF-8, control characters or a backslash. Such
    a name cannot be printed, stored or read back the same everywhere: the file is never read
    as a card."""
    if is_printable_name(path):
        return None
    return Problem(path, 1, 1, message="file name holds bytes that are not UTF-8, control "
                   "characters or a backslash (shown escaped as \\xNN); rename the file",
                   code=ProblemCode.BAD_FILE_NAME)


def parse_files(source: CardSource, files: Sequence[SourceFile]) -> list[ParsedFile]:
    """Parse files in order; one too large to read, or whose name is not plain text, is
    reported without reading it."""
    bad_names = {f.path: p for f in files if (p := file_name_problem(f.path)) is not None}
    readable = [f for f in files if f.size <= MAX_FILE_BYTES and f.path not in bad_names]
    parsed = {f.path: parse_file(data, f.path) for f, data in source.read(readable)}
    results = []
    for f in files:
        if f.path in bad_names:
            results.append(ParsedFile(f.path, problems=[bad_names[f.path]]))
        elif f.path in parsed:
            results.append(parsed[f.path])
        elif f.size > MAX_FILE_BYTES:
            message = f"file is {f.size} bytes, over the limit of {MAX_FILE_BYTES}"
            results.append(ParsedFile(f.path, problems=[Problem(f.path, 1, 1, message=message,
                                                                code=ProblemCode.TOO_LARGE)]))
        elif (refused := source.refusal(f)) is not None:  # listed, never opened
            results.append(ParsedFile(f.path, problems=[Problem(f.path, 0, 0, message=refused,
                                                                code=ProblemCode.SPECIAL_FILE)]))
    return results


# -- special files (FIFOs, sockets, devices): listed, so that they are reported, never opened --

_SPECIAL_KEY = "special:"  # the content key of a special file: what it is
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISDIR, "a directory"))


def special_kind(mode: int) -> str | None:
    """What a file of MODE is when it is not a regular file ("a FIFO", ...), else None."""
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def special_message(kind: str) -> str:
    return f"not a regular file ({kind}): skipped without opening it; remove it or replace it " \
           "with a card file"


def _file_entry(rel: str, st: os.stat_result) -> SourceFile:
    kind = special_kind(st.st_mode)
    if kind is not None:
        return SourceFile(rel, _SPECIAL_KEY + kind, -1)
    return SourceFile(rel, f"{st.st_size}:{st.st_mtime_ns}", st.st_size)


class SpecialFileError(OSError):
    """A path that was to be read as a card file is a FIFO, a device, a socket..."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path}: {special_message(kind)}")
        self.kind = kind


def read_regular_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """At most MAX_BYTES + 1 bytes of the regular file at PATH. The file is opened without
    blocking (a FIFO would wait for a writer) and checked to be a regular file before a byte
    is read: SpecialFileError otherwise (also when it was swapped after being listed)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        kind = special_kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise SpecialFileError(str(path), kind)
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(max_bytes + 1)
    finally:
        os.close(fd)


class DirectorySource(CardSource):
    """Loose card files under a directory (fairseq2's layout). Hidden directories and git store
    checkouts below the root are not scanned; symlinks leading outside the root are skipped."""

    kind = "directory"

    def __init__(self, root: Path | str, paths: Sequence[Path] | None = None) -> None:
        self.root = Path(root)
        self._paths = list(paths) if paths is not None else None
        self._refused: dict[str, str] = {}  # path -> what it turned out to be when opened

    @property
    def label(self) -> str:
        return str(self.root)

    @property
    def base_dir(self) -> Path | None:
        return self.root

    def list_files(self) -> list[SourceFile]:
        if self._paths is not None:
            return [self._stat(p) for p in self._paths]
        files: list[SourceFile] = []
        if not self.root.is_dir():
            return files
        real_root = os.path.realpath(self.root)
        for dirpath, dirnames, filenames in os.walk(self.root, onerror=None):
            keep = []
            for d in sorted(dirnames):
                full = os.path.join(dirpath, d)
                if d.startswith(".") or _is_store_checkout(full):
                    continue
                if os.path.islink(full) and not _inside(full, real_root):
                    continue
                keep.append(d)
            dirnames[:] = keep
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                rel = printable_name(os.path.relpath(full, self.root).replace(os.sep, "/"))
                if not is_card_path(rel):
                    continue
                if os.path.islink(full) and not _inside(full, real_root):
                    continue
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                files.append(_file_entry(rel, st))
        return files

    def entry(self, rel: str) -> SourceFile:
        """The file at REL (relative to the root) as listed: stat follows a symlink, and a
        special file is marked so that it is reported, never opened."""
        return _file_entry(rel, os.stat(self.root / rel))

    def _stat(self, path: Path) -> SourceFile:
        full = path if path.is_absolute() else self.root / path
        try:
            rel = printable_name(full.relative_to(self.root).as_posix())
        except ValueError:
            rel = printable_name(str(full))
        if not is_printable_name(rel):  # never read (see file_name_problem), maybe escaped
            return SourceFile(rel, "0:0", 0)
        st = full.stat()
        return SourceFile(rel, f"{st.st_size}:{st.st_mtime_ns}", st.st_size)

    def read(self, files: Sequence[SourceFile]) -> Iterator[tuple[SourceFile, bytes]]:
        for f in files:
            if f.key.startswith(_SPECIAL_KEY):
                continue
            full = Path(f.path) if os.path.isabs(f.path) else self.root / f.path
            try:
                data = read_regular_file(full)
            except SpecialFileError as exc:
                self._refused[f.path] = exc.kind
                continue
            except OSError:
                continue
            yield f, data

    def refusal(self, file: SourceFile) -> str | None:
        kind = (file.key[len(_SPECIAL_KEY):] if file.key.startswith(_SPECIAL_KEY)
                else self._refused.get(file.path))
        return special_message(kind) if kind is not None else None


def _is_store_checkout(path: str) -> bool:
    return os.path.exists(os.path.join(path, STORE_MARKER)) or os.path.exists(
        os.path.join(path, ".git")
    )


def _inside(path: str, real_root: str) -> bool:
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def card_files(entries: Sequence[TreeEntry], subdir: str = "") -> list[SourceFile]:
    """The card files among git tree or index ENTRIES under SUBDIR. Regular files only: a
    symlink (120000) or a submodule (160000) is never a card."""
    prefix = subdir.strip("/") + "/" if subdir.strip("/") else ""
    return [SourceFile(e.path, e.oid, e.size) for e in entries
            if e.mode in ("100644", "100755") and e.path.startswith(prefix)
            and is_card_path(e.path)]


class _GitSource(CardSource):
    def __init__(self, repo: Repo, subdir: str = "", base_dir: Path | None = None) -> None:
        self.repo = repo
        self.subdir = subdir.strip("/")
        self._base_dir = base_dir

    @property
    def base_dir(self) -> Path | None:
        return self._base_dir

    def _files_from(self, entries: Sequence[TreeEntry]) -> list[SourceFile]:
        return card_files(entries, self.subdir)

    def read(self, files: Sequence[SourceFile]) -> Iterator[tuple[SourceFile, bytes]]:
        by_oid: dict[str, list[SourceFile]] = {}
        for f in files:
            by_oid.setdefault(f.key, []).append(f)
        for oid, data in self.repo.read_blobs(by_oid):
            for f in by_oid[oid]:
                yield f, data


class TreeSource(_GitSource):
    """The card files of one commit's tree."""

    kind = "tree"

    def __init__(self, repo: Repo, commit: str, subdir: str = "",
                 base_dir: Path | None = None) -> None:
        super().__init__(repo, subdir, base_dir)
        self.commit = commit

    @property
    def label(self) -> str:
        return f"{self.repo.path}@{self.commit[:12]}"

    def list_files(self) -> list[SourceFile]:
        return self._files_from(self.repo.ls_tree(self.commit, self.subdir))


class IndexSource(_GitSource):
    """The card files staged in a repository's index (what a commit would record)."""

    kind = "index"

    @property
    def label(self) -> str:
        return f"{self.repo.path} (staged)"

    def list_files(self) -> list[SourceFile]:
        return self._files_from(self.repo.ls_staged())
