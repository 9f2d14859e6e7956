"""A store's checkout: the card files of its pinned commit, written where fairseq2 reads.

Only card files (and other non-YAML files of the card directory) are written, never a symlink,
a hidden path or a path leaving the directory; the new tree is built aside, in the store's own
staging directory, checked against the commit's tree, and swapped in one step. A marker beside
the files records the commit and every file's size and modification time, so that a hand
edit, a deleted or an added file shows and sync can rewrite the tree. What the checkout must
hold comes from the commit's tree, never from what was written: a file lost while writing is
an error, and a deep check compares the files on disk with the tree (their content, when
asked: `cards sync --verify`).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..card.parse import is_card_path
from ..errors import StoreError
from ..fsutil import is_printable_name, replace_dir
from ..git import Repo, TreeEntry, blob_id, is_oid
from ..sources.source import STORE_MARKER

if TYPE_CHECKING:
    from .state import StorePaths


def is_own_checkout(paths: StorePaths) -> bool:
    """Whether the store's checkout directory is one we wrote for this store (its marker names
    the store), and not a symlink or someone's directory."""
    if paths.checkout.is_symlink() or not paths.checkout.is_dir():
        return False
    try:
        info = json.loads((paths.checkout / STORE_MARKER).read_text())
        return isinstance(info, dict) and info.get("store") == paths.name
    except (OSError, ValueError):
        return False


def checkout_commit(paths: StorePaths) -> str | None:
    """The commit the files in the checkout are, from its marker (None if absent or damaged)."""
    try:
        info = json.loads((paths.checkout / STORE_MARKER).read_text())
        commit = info.get("commit")
        return commit if isinstance(commit, str) and is_oid(commit) else None
    except (OSError, ValueError, AttributeError):
        return None


def checkout_entries(repo: Repo, commit: str, card_dir: str) -> list[TreeEntry]:
    """The files of COMMIT a checkout holds (see _materializable), from the commit's tree."""
    return [e for e in repo.ls_tree(commit, card_dir) if _materializable(e.mode, e.path)]


def materialize(paths: StorePaths, repo: Repo, commit: str, card_dir: str) -> None:
    """Write the card files of COMMIT (and nothing else) to the store's checkout, atomically."""
    paths.staging_dir.mkdir(parents=True, exist_ok=True)
    staging = paths.staging_dir / f"{os.getpid()}-{time.monotonic_ns()}"
    staging.mkdir()
    try:
        entries = checkout_entries(repo, commit, card_dir)
        by_oid: dict[str, list[str]] = {}
        for entry in entries:
            by_oid.setdefault(entry.oid, []).append(entry.path)
        for oid, data in repo.read_blobs(by_oid):
            for rel in by_oid[oid]:
                _write_file(staging / rel, data)
        stamp = time.time_ns()
        files = _signature(staging)
        _check_written(paths, files, entries)
        marker = {"store": paths.name, "commit": commit, "card_dir": card_dir, "root": stamp,
                  "dirs": _dir_signature(staging), "files": files}
        _write_file(staging / STORE_MARKER, (json.dumps(marker) + "\n").encode())
        replace_dir(staging, paths.checkout)
        # The top directory's time is the one the marker records: a file added to or removed
        # from it later changes that time, as it changes every other directory's.
        os.utime(paths.checkout, ns=(stamp, stamp), follow_symlinks=False)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _check_written(paths: StorePaths, files: dict[str, list[int]],
                   entries: list[TreeEntry]) -> None:
    """Raise StoreError unless the files written are exactly the tree's ENTRIES, each of its
    size (another process removing the staging tree would otherwise go unseen)."""
    wrong = _differences(files, entries)
    if wrong:
        raise StoreError(
            f"store {paths.name}: the new checkout lost or changed {len(wrong)} file(s) while "
            f"being written (first: {wrong[0]}); another process may have removed them. "
            "Nothing was replaced; sync again")


def _differences(files: dict[str, list[int]], entries: list[TreeEntry]) -> list[str]:
    """The paths where FILES ({path: [size, mtime]}) and the tree's ENTRIES disagree."""
    wanted = {e.path: e.size for e in entries}
    wrong = sorted(set(files) ^ set(wanted))
    wrong += sorted(p for p, size in wanted.items() if p in files and files[p][0] != size)
    return wrong


def _write_file(target: Path, data: bytes) -> None:
    """Write one file of a checkout; an error (a full disk) names the file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror, str(target)) from None


def _materializable(mode: str, path: str) -> bool:
    """Regular files only; no hidden, '..' or absolute paths, no name that is not plain text
    (see fsutil.printable_name); YAML only when it is a card."""
    if mode not in ("100644", "100755") or path.startswith("/") or not is_printable_name(path):
        return False
    parts = path.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return False
    return is_card_path(path) or not path.endswith((".yaml", ".yml"))


def _signature(directory: Path) -> dict[str, list[int]]:
    """{path: [size, mtime_ns]} of every file under DIRECTORY but the marker; anything that is
    not a regular file (a symlink someone put there) gets [-1, -1], which matches nothing."""
    files: dict[str, list[int]] = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, directory).replace(os.sep, "/")
            if rel == STORE_MARKER:
                continue
            st = os.lstat(full)
            regular = stat.S_ISREG(st.st_mode)
            files[rel] = [st.st_size, st.st_mtime_ns] if regular else [-1, -1]
    return files


def _dir_signature(directory: Path) -> dict[str, int]:
    """{directory: mtime_ns} of every directory below DIRECTORY (not itself). Cheap: it reads
    directories, not the files in them. A file added, removed or renamed (as editors save)
    changes its directory's time."""
    dirs: dict[str, int] = {}
    for dirpath, dirnames, _ in os.walk(directory):
        for name in dirnames:
            full = os.path.join(dirpath, name)
            dirs[os.path.relpath(full, directory).replace(os.sep, "/")] = os.lstat(
                full).st_mtime_ns
    return dirs


def checkout_is_intact(paths: StorePaths, commit: str, deep: bool = True,
                       entries: list[TreeEntry] | None = None, content: bool = False) -> bool:
    """Whether the checkout holds COMMIT's files as they were written: the marker names the
    commit, and no directory changed (no file added, removed or renamed). DEEP also compares
    every file's size and modification time with the marker (a `stat` per file) and, given
    the commit's tree ENTRIES (see checkout_entries), the files on disk with the tree: the
    same paths and sizes, and with CONTENT the same bytes (each file read and hashed)."""
    try:
        info = json.loads((paths.checkout / STORE_MARKER).read_text())
        if info.get("commit") != commit:
            return False
        if os.lstat(paths.checkout).st_mtime_ns != info.get("root"):
            return False
        if info.get("dirs") != _dir_signature(paths.checkout):
            return False
        if not deep:
            return True
        files = _signature(paths.checkout)
        if info.get("files") != files:
            return False
        if entries is not None and _differences(files, entries):
            return False
        return not content or entries is None or _same_content(paths.checkout, entries)
    except (OSError, ValueError, AttributeError):
        return False


def _same_content(directory: Path, entries: list[TreeEntry]) -> bool:
    """Whether every file of ENTRIES under DIRECTORY holds the blob the tree names."""
    for entry in entries:
        with open(directory / entry.path, "rb") as handle:
            data = handle.read(entry.size + 1)
        if blob_id(data, len(entry.oid)) != entry.oid:
            return False
    return True
