"""Atomic file writes and directory swaps; file names as printable text."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def printable_name(raw: bytes | str) -> str:
    """A file name (bytes, or a str holding undecodable bytes as surrogate escapes, as os.walk
    gives) as text that can be printed, stored and compared everywhere: bytes that are not
    UTF-8 and control characters are written as \\xNN. A clean name comes back unchanged; one
    that needed escapes holds a backslash (see is_printable_name)."""
    data = os.fsencode(raw) if isinstance(raw, str) else raw
    text = data.decode("utf-8", "backslashreplace")
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def is_printable_name(name: str) -> bool:
    """Whether NAME came through printable_name unchanged and holds no backslash (which would
    make an escaped name and a real one look alike)."""
    return "\\" not in name and not _CONTROL_RE.search(name)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write DATA to PATH so that a reader sees the old file or the new one, never half. An
    error (a full disk) names PATH."""
    try:
        _atomic_write(path, data, mode)
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


def _written_temp(path: Path, data: bytes, mode: int) -> str:
    """A new temporary file beside PATH holding DATA, synced to disk, with MODE (its name); on
    failure nothing is left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    tmp = _written_temp(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def create_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write DATA to the new file PATH in one step: a reader sees no file or the whole one, and
    an existing PATH is never replaced (FileExistsError). No temporary file is left behind."""
    tmp = _written_temp(path, data, mode)
    try:
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any) -> None:
    text = json.dumps(value, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    import ctypes
    import ctypes.util

    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(result == 0)


def replace_dir(new: Path, target: Path) -> None:
    """Put the directory NEW at TARGET, replacing what was there, in one step where the OS can.

    Readers of TARGET see the old tree or the new one. The old tree is deleted afterwards.
    """
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)
