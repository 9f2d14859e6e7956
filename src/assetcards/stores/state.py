"""Git stores on disk: where a store's files are, its state file and the names of stores.

Layout of a root (system or user) holding a store NAME:

    ROOT/NAME/                      the card files of the pinned commit, and nothing else
    ROOT/NAME/.assetcards-store     marker: which store and commit the files above are
    ROOT/.assetcards/stores/NAME.json   the store's state: URL, ref, pinned commit (the pin)
    ROOT/.assetcards/git/NAME.git   a bare repository holding the fetched history
    ROOT/.assetcards/locks/NAME.lock    the writers' lock
    ROOT/.assetcards/staging/NAME/  where the writers build a new checkout

Readers never lock: they read the state file (replaced atomically) and then blobs of the pinned
commit, which never change. Writers hold the store's lock and move the pin last, in one
`os.replace`, after the new commit's files are in place and every commit ever pinned is kept
reachable by a ref (so `git gc` and an upstream force-push cannot take it away).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import (
    StoreError,
    UnsafeInputError,
)
from ..fsutil import atomic_write_json
from ..git import Repo, is_oid
from ..locations import STATE_DIR
from ..locks import Notify, hold

STATE_FORMAT = 1
UPSTREAM_REF = "refs/assetcards/upstream"
PINNED_REF = "refs/assetcards/pinned"  # the store repository's HEAD points here
REV_REF = "refs/assetcards/rev"
KEEP_PREFIX = "refs/assetcards/kept/"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")


def check_store_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name) or ".." in name:
        raise UnsafeInputError(
            f"store name {name!r} is not allowed: use 1-100 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (no '/', no '..')"
        )


@dataclass
class StoreState:
    """What a store is and where it is pinned. Written atomically; the pin is `commit`."""

    name: str
    scope: str
    url: str
    ref: str
    commit: str
    tree: str
    card_dir: str
    cards: int = 0
    added_at: float = 0.0
    synced_at: float = 0.0
    previous_commit: str | None = None
    held: str | None = None  # the revision a `cards pin` holds the store at
    verified_at: float = 0.0  # when every file of the checkout was last checked
    format: int = STATE_FORMAT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoreState:
        known = {f for f in cls.__dataclass_fields__}
        state = cls(**{k: v for k, v in data.items() if k in known})
        if not is_oid(state.commit):
            raise ValueError(f"pinned commit {state.commit!r} is not a full commit id")
        return state


@dataclass(frozen=True)
class StorePaths:
    root: Path
    name: str

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def state_file(self) -> Path:
        return self.state_dir / "stores" / f"{self.name}.json"

    @property
    def git_dir(self) -> Path:
        return self.state_dir / "git" / f"{self.name}.git"

    @property
    def lock(self) -> Path:
        return self.state_dir / "locks" / f"{self.name}.lock"

    @property
    def checkout(self) -> Path:
        return self.root / self.name

    def repo(self) -> Repo:
        """The store's repository: ours, so trusted whoever owns it (see git.Repo)."""
        return Repo(self.git_dir, store=True)

    @property
    def staging_dir(self) -> Path:
        """Where this store's new checkouts are built: its own directory, so that clearing
        one store's leftovers can never touch another's (`s` and `s-big` alike)."""
        return self.state_dir / "staging" / self.name

    tmp_dir = staging_dir

    @property
    def legacy_tmp_dir(self) -> Path:
        """Where earlier versions built checkouts of every store, as NAME-PID-NS."""
        return self.state_dir / "tmp"


# -- state directories ------------------------------------------------------------------------

STATE_SUBDIRS = ("stores", "git", "locks", "staging", "tmp", "index")


def symlinked_state_dir(paths: StorePaths) -> Path | None:
    """The first of the state directories a writer of the store uses (ROOT/.assetcards, its
    subdirectories and the store's own below them) that is a symbolic link, or None."""
    state = paths.state_dir
    candidates = [state, *(state / sub for sub in STATE_SUBDIRS), paths.git_dir,
                  paths.staging_dir, state / "index" / paths.name]
    return next((c for c in candidates if c.is_symlink()), None)


def check_state_dirs(paths: StorePaths) -> None:
    """Refuse to write through a state directory that is a symbolic link: locks, repositories
    and staging trees would be made wherever it points."""
    link = symlinked_state_dir(paths)
    if link is not None:
        raise StoreError(
            f"{link} is a symbolic link (to {os.readlink(link)}); refusing to use it: the state "
            "directories of assetcards must be real directories, or a link could make us write "
            "elsewhere. Replace the link with a directory (move what it points to, if it is "
            "yours) and try again.")


@contextmanager
def hold_store(paths: StorePaths, timeout: float, notify: Notify | None,
               command: str) -> Iterator[None]:
    """Hold the store's writer lock, once its state directories are known to be real."""
    check_state_dirs(paths)
    with hold(paths.lock, f"store {paths.name}", timeout, notify, command):
        check_state_dirs(paths)  # again: it may have changed while we waited
        yield


# -- reading state ----------------------------------------------------------------------------


def read_state(paths: StorePaths) -> StoreState | None:
    """The store's state, or None if it has none. A damaged state file raises StoreError."""
    try:
        data = json.loads(paths.state_file.read_text())
        return StoreState.from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise StoreError(f"state file {paths.state_file} of store {paths.name!r} is damaged "
                         f"({exc}); remove the store and add it again") from None


def write_state(paths: StorePaths, state: StoreState) -> None:
    atomic_write_json(paths.state_file, state.to_json())


def store_names(root: Path) -> list[str]:
    directory = root / STATE_DIR / "stores"
    try:
        names = sorted(p.stem for p in directory.iterdir() if p.suffix == ".json")
    except OSError:
        return []
    return [n for n in names if _NAME_RE.fullmatch(n) and ".." not in n]
