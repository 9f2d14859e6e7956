"""Every test runs with its own system, user and cache roots and its own HOME: nothing a test
does can touch the real ones.

Before anything else (fixtures of any scope, test modules), the whole session gets a HOME, XDG
directories and a global git configuration of its own, with a git identity: no test depends on
the machine's `~/.gitconfig` or identity. The session fails if anything was written to the real
home directory meanwhile (as pre-commit's test suite guards its store directory).
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from assetcards.locations import Locations
from assetcards.sources import assetstore as store_module

REPO_ROOT = Path(__file__).resolve().parent.parent
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.com",
                "GIT_COMMITTER_NAME": "Test Author", "GIT_COMMITTER_EMAIL": "author@example.com"}
# Tool directories that other programs on a developer's machine write to while tests run.
_HOME_NOISE = {".cache/pip", ".npm", ".claude", ".pyenv", ".rustup", ".cargo", ".m2",
               ".local/share/Trash", ".bash_history", ".python_history", ".lesshst",
               ".viminfo", ".wget-hsts"}


def _real_home() -> Path | None:
    try:
        home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        return None
    return home if home.is_dir() else None


def _snapshot(home: Path) -> dict[str, tuple[int, int]]:
    """{path: (size, mtime_ns)} of every file and link under HOME, but known tools' noise."""
    seen: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(home):
        rel_dir = os.path.relpath(dirpath, home)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = [d for d in dirnames if rel_dir + d not in _HOME_NOISE]
        for name in filenames + dirnames:
            rel = rel_dir + name
            if rel in _HOME_NOISE:
                continue
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            seen[rel] = (st.st_size, st.st_mtime_ns) if name in filenames else (-1, -1)
    return seen


def _isolate_session() -> Path:
    base = Path(tempfile.mkdtemp(prefix="assetcards-tests-"))
    home = base / "home"
    for sub in ("home", "xdg-config", "xdg-cache", "xdg-data", "xdg-state"):
        (base / sub).mkdir()
    gitconfig = base / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Test Author\n\temail = author@example.com\n"
                         "[init]\n\tdefaultBranch = main\n")
    for key in [k for k in os.environ if k.startswith(("GIT_", "XDG_"))]:
        del os.environ[key]
    os.environ.update(
        HOME=str(home), XDG_CONFIG_HOME=str(base / "xdg-config"),
        XDG_CACHE_HOME=str(base / "xdg-cache"), XDG_DATA_HOME=str(base / "xdg-data"),
        XDG_STATE_HOME=str(base / "xdg-state"), GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1", **GIT_IDENTITY)
    return base


_REAL_HOME = _real_home()
_HOME_BEFORE = _snapshot(_REAL_HOME) if _REAL_HOME is not None else {}
_SESSION_DIR = _isolate_session()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)
    if _REAL_HOME is None:
        return
    after = _snapshot(_REAL_HOME)
    changed = sorted(p for p in set(after) | set(_HOME_BEFORE)
                     if after.get(p) != _HOME_BEFORE.get(p))
    if changed:
        print(f"\nFAILED: the tests wrote to the real home directory {_REAL_HOME}: "
              + ", ".join(changed[:20]))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Locations]:
    home = tmp_path / "home"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith(("GIT_", "FAIRSEQ2_", "XDG_", "ASSETCARDS_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("FAIRSEQ2_ASSET_DIR", str(tmp_path / "system"))
    monkeypatch.setenv("FAIRSEQ2_USER_ASSET_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("FAIRSEQ2_CACHE_DIR", str(tmp_path / "cache"))
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setattr(store_module, "_default", None)
    yield Locations.from_env()


@pytest.fixture
def locations(isolated_env: Locations) -> Locations:
    return isolated_env
