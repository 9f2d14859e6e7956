"""Keeping a store's checkout and repository as the pin says: leftovers of killed writers,
stale git locks, moved refs, damaged checkouts."""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from pathlib import Path

from ..sources.gitstore import (
    Store,
)
from .checkout import checkout_entries, checkout_is_intact, materialize
from .state import (
    PINNED_REF,
    StorePaths,
)

# -- keeping the checkout and repository as the pin says -------------------------------------


def clean_tmp(paths: StorePaths) -> None:
    """Remove what a killed writer of this store left behind: staging directories, and the
    lock files of a git process that died (power loss, OOM killer) while updating a ref,
    which would make every later git command on the repository fail. Called with the
    store's lock held."""
    for leftover in _own_leftovers(paths):
        shutil.rmtree(leftover, ignore_errors=True)
    clear_stale_git_locks(paths.git_dir)


def _own_leftovers(paths: StorePaths) -> list[Path]:
    """Everything in the store's staging directory, and its staging trees in the directory
    earlier versions shared between stores: exactly NAME-PID-NS, never another store's (the
    name of `s-big`'s tree, s-big-PID-NS, is not s- followed by two numbers)."""
    legacy = re.compile(re.escape(paths.name) + r"-\d+-\d+")
    found: list[Path] = []
    with contextlib.suppress(OSError):
        found += list(paths.staging_dir.iterdir())
    with contextlib.suppress(OSError):
        found += [p for p in paths.legacy_tmp_dir.iterdir() if legacy.fullmatch(p.name)]
    return found


# Git lock files only writers holding the store's lock create: any one found by such a writer
# was left by a git process that died. Other ref locks (kept commits, `--rev` lookups, tags) may
# also be taken by readers, which hold no lock: those are removed only once clearly stale.
_WRITER_GIT_LOCKS = ("HEAD.lock", "config.lock", "packed-refs.lock", "shallow.lock",
                     "refs/assetcards/upstream.lock", "refs/assetcards/pinned.lock")
STALE_GIT_LOCK_AGE = 60.0


def clear_stale_git_locks(git_dir: Path, now: float | None = None) -> list[Path]:
    """Remove dead git processes' lock files from the store repository GIT_DIR (see above);
    returns those removed."""
    now = time.time() if now is None else now
    removed = []
    candidates = [git_dir / rel for rel in _WRITER_GIT_LOCKS]
    with contextlib.suppress(OSError):
        candidates += [p for p in (git_dir / "refs").rglob("*.lock")
                       if now - p.lstat().st_mtime > STALE_GIT_LOCK_AGE]
    for path in dict.fromkeys(candidates):
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def repair_refs(store: Store) -> bool:
    """Point the store repository's HEAD and pinned ref at the pin again, if someone moved
    them by hand (HEAD is what `--rev HEAD~N` counts from); True if it had to."""
    repo, commit = store.repo, store.state.commit
    head = repo.symbolic_ref()
    pinned = repo.resolve(PINNED_REF)
    if head == PINNED_REF and pinned == commit:
        return False
    repo.update_ref(PINNED_REF, commit)
    repo.set_symbolic_ref(PINNED_REF)
    return True


def repair_checkout(store: Store, deep: bool = True, content: bool = False) -> str:
    """Make the checkout hold exactly the pinned commit's cards (DEEP: every file compared with
    the commit's tree; CONTENT: every byte, see checkout_is_intact), and the repository's HEAD
    point at the pin; says what had to be repaired ("" if nothing)."""
    repaired = ["the repository's HEAD"] if repair_refs(store) else []
    state = store.state
    entries = checkout_entries(store.repo, state.commit, state.card_dir) if deep else None
    if not checkout_is_intact(store.paths, state.commit, deep, entries, content):
        materialize(store.paths, store.repo, store.state.commit, store.state.card_dir)
        repaired.insert(0, "the checkout")
    return f"restored {' and '.join(repaired)} to the pinned commit" if repaired else ""
