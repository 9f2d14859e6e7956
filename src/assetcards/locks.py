"""Per-store file locks that say who holds them.

A lock is a `filelock` lock (released by the kernel when its holder dies, so a killed process
never blocks anyone) plus an owner note beside it, so that a waiting process can say for whom
it waits. A lock path that is a symlink is refused: nobody can make us write through one.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import filelock

from .errors import LockTimeoutError, StoreError
from .fsutil import atomic_write_bytes

Notify = Callable[[str], None]  # how a waiting or working step tells the user (the CLI prints)


def _owner_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".owner")


def describe_owner(lock_path: Path) -> str:
    try:
        info = json.loads(_owner_path(lock_path).read_text())
        since = time.strftime("%H:%M:%S", time.localtime(info.get("since", 0)))
        return f"process {info.get('pid')} on {info.get('host')} ({info.get('command')}, since {since})"
    except (OSError, ValueError, AttributeError):
        return "another process"


def _check_not_symlink(path: Path) -> None:
    for candidate in (path, _owner_path(path)):
        if candidate.is_symlink():
            raise StoreError(
                f"lock file {candidate} is a symbolic link; refusing to use it. Remove it "
                "(it was not made by assetcards) and try again."
            )


@contextmanager
def hold(lock_path: Path, what: str, timeout: float, notify: Notify | None = None,
         command: str = "") -> Iterator[None]:
    """Hold the lock at LOCK_PATH; wait up to TIMEOUT seconds, telling NOTIFY once for whom."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    _check_not_symlink(lock_path)
    lock = filelock.FileLock(str(lock_path), mode=0o664)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if notify is not None:
            notify(f"{what}: waiting for the lock held by {describe_owner(lock_path)}")
        try:
            lock.acquire(timeout=timeout)
        except filelock.Timeout:
            raise LockTimeoutError(
                f"{what}: gave up after {timeout:g} s waiting for the lock held by "
                f"{describe_owner(lock_path)}; try again later or raise --lock-timeout"
            ) from None
    except OSError as exc:
        raise StoreError(f"{what}: cannot take the lock {lock_path}: {exc.strerror or exc}") from None
    try:
        note = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                "command": command or " ".join(["cards", *sys.argv[1:3]])}
        with suppress(OSError):
            atomic_write_bytes(_owner_path(lock_path), json.dumps(note).encode())
        yield
    finally:
        lock.release()
