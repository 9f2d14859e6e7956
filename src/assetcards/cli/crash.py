"""What an unexpected exception leaves behind: one line for the user, a crash log for us.

The log holds the command line, the versions of Python, git and our dependencies, and the
traceback; it is written under the cache directory (or the system's temporary directory when
that cannot be written), as pre-commit's error handler does.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path

DEPENDENCIES = ("assetcards", "PyYAML", "click", "filelock", "tqdm", "tomli-w")
CRASH_EXIT_CODE = 3


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_version() -> str:
    try:
        from ..git import Repo

        return Repo(Path(tempfile.gettempdir())).out("--version")
    except Exception as exc:  # the log must be written whatever is broken
        return f"unknown ({type(exc).__name__}: {exc})"


_USERINFO_RE = re.compile(r"(://)[^/@\s]+@")


def _redacted(text: str) -> str:
    """TEXT with the user and password of URLs (`https://user:token@host`) masked: a crash
    log is meant to be shared."""
    return _USERINFO_RE.sub(r"\1***@", text)


def crash_report(argv: list[str], error: BaseException) -> str:
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    lines = [
        "### assetcards crash log",
        f"command: {_redacted(' '.join(['cards', *argv]))!r}",
        f"time: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}",
        f"python: {sys.version.split()[0]} ({platform.platform()})",
        f"git: {_git_version()}",
        *(f"{name}: {_version(name)}" for name in DEPENDENCIES),
        "",
        "### traceback",
        _redacted(trace),
    ]
    return "\n".join(lines)


def _log_dirs() -> list[Path]:
    dirs = []
    try:
        from ..locations import Locations

        dirs.append(Locations.from_env().cache / "logs")
    except Exception:  # a broken environment must not stop the log from being written
        pass
    dirs.append(Path(tempfile.gettempdir()) / f"assetcards-logs-{os.getuid()}")
    return dirs


def write_crash_log(argv: list[str], error: BaseException) -> Path | None:
    """Write the crash log of ERROR; its path, or None if no directory could take it."""
    text = crash_report(argv, error).encode("utf-8", "backslashreplace")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for directory in _log_dirs():
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = directory / f"crash-{stamp}-{os.getpid()}.log"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(text)
            return path
        except OSError:
            continue
    return None
