"""A store's upstream: its repository, fetching refs and resolving revisions."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import (
    AssetError,
    AssetNotFoundError,
    StoreError,
    UnsafeInputError,
)
from ..git import Repo, check_ref, check_url, is_oid
from ..sources.gitstore import (
    local_commit,
)
from .state import (
    PINNED_REF,
    REV_REF,
    UPSTREAM_REF,
)


def normalize_url(url: str) -> str:
    check_url(url)
    if "://" not in url and not re.match(r"^[^/]+@[^/]+:", url):
        path = Path(url).expanduser()
        if path.exists():
            return str(path.resolve())
    return url


def default_ref(repo: Repo, url: str) -> str:
    """The branch the remote's HEAD points at (main, master, ...)."""
    return repo.remote_default_branch(url)


def init_store_repo(git_dir: Path) -> Repo:
    repo = Repo.init_bare(git_dir, store=True)
    repo.set_symbolic_ref(PINNED_REF)
    return repo


def fetch_ref(repo: Repo, url: str, ref: str, target: str = UPSTREAM_REF) -> str:
    """Fetch REF (and the remote's tags) from URL into TARGET; return the commit REF names."""
    repo.fetch(url, [f"+{ref}:{target}", "+refs/tags/*:refs/tags/*"])
    commit = repo.resolve(target)
    if commit is None:
        raise StoreError(f"{ref!r} at {url} does not point at a commit")
    return commit


def resolve_rev(repo: Repo, url: str, rev: str) -> str:
    """The full commit id REV names for a store: a commit id, a tag, a branch, or an
    expression such as HEAD~2 (HEAD is the pin), looked up locally first, then upstream."""
    commit = local_commit(repo, rev)
    if commit is not None:
        return commit
    if is_oid(rev) or _is_ref_name(rev):
        try:
            return fetch_ref(repo, url, rev, REV_REF)
        except AssetError:
            pass
    raise AssetNotFoundError(f"revision {rev!r} is not known to the store's repository nor "
                             f"found at {url}")


def _is_ref_name(rev: str) -> bool:
    try:
        check_ref(rev)
    except UnsafeInputError:
        return False
    return True
