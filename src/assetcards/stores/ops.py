"""Adding and removing git stores, under the store's lock.

Like pre-commit's store: check, take the lock, check again (another process may have done the
work while we waited), build in a temporary place, and record the store only after success.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from ..errors import StoreError
from ..locations import Locations
from ..locks import Notify
from ..sources.gitstore import Store, card_dir_at, get_store, list_stores
from .checkout import is_own_checkout
from .pin import check_add_args, commit_problems, move_pin, problems_error
from .remote import default_ref, fetch_ref, init_store_repo, normalize_url, resolve_rev
from .repair import clean_tmp
from .state import StorePaths, StoreState, check_store_name, hold_store, read_state, write_state

DEFAULT_LOCK_TIMEOUT = 60.0


def add_store(
    locations: Locations,
    name: str,
    url: str,
    ref: str | None = None,
    *,
    scope: str = "user",
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    notify: Notify | None = None,
    progress: Notify | None = None,
) -> tuple[Store, bool]:
    """Clone URL as store NAME and pin it to the tip of REF (default: the remote's HEAD
    branch). Returns the store and whether it was added now (False: it already was).
    NOTIFY hears about waiting for a lock; PROGRESS about each step of a long add."""
    check_add_args(name, url, ref)
    url = normalize_url(url)
    paths = StorePaths(locations.root(scope), name)
    with hold_store(paths, lock_timeout, notify, "cards store add"):
        existing = read_state(paths)
        if existing is not None:
            if existing.url == url and (ref is None or existing.ref == ref):
                return Store(paths, existing, locations.cache), False
            raise StoreError(f"a store named {name!r} already exists ({existing.url}); remove "
                             "it first or choose another name")
        if is_own_checkout(paths):  # written by an add killed before it recorded the store
            shutil.rmtree(paths.checkout)
        if paths.checkout.exists() or paths.checkout.is_symlink():
            raise StoreError(f"{paths.checkout} already exists and is not a store; move it "
                             "away or choose another name")
        state = _clone(locations, paths, name, url, ref, scope, progress or (lambda _: None))
        return Store(paths, state, locations.cache), True


def _clone(locations: Locations, paths: StorePaths, name: str, url: str, ref: str | None,
           scope: str, progress: Notify) -> StoreState:
    shutil.rmtree(paths.git_dir, ignore_errors=True)  # a killed add's leftovers
    clean_tmp(paths)
    repo = init_store_repo(paths.git_dir)
    try:
        ref = ref or default_ref(repo, url)
        progress(f"store {name}: fetching {ref} from {url}")
        commit = fetch_ref(repo, url, ref)
        store = Store(paths, StoreState(name, scope, url, ref, commit, repo.tree_of(commit),
                                        card_dir_at(repo, commit), added_at=time.time()),
                      locations.cache)
        progress(f"store {name}: reading and checking the cards of {commit[:12]}")
        cards, problems = commit_problems(store, commit, list_stores(locations))
        if problems:
            raise problems_error(name, commit, problems)
        progress(f"store {name}: writing {len(cards.docs)} card(s) to {paths.checkout}")
        return move_pin(store, commit, len(cards.docs))
    except BaseException:
        shutil.rmtree(paths.git_dir, ignore_errors=True)
        if not paths.state_file.exists():
            shutil.rmtree(paths.checkout, ignore_errors=True)
        raise


@contextmanager
def _locked(locations: Locations, name: str, scope: str, lock_timeout: float,
            notify: Notify | None, command: str) -> Iterator[Store | None]:
    """Store NAME with its lock held and its state read again (None: another process removed
    it while we waited)."""
    check_store_name(name)
    paths = get_store(locations, name, scope).paths
    with hold_store(paths, lock_timeout, notify, command):
        state = read_state(paths)
        yield Store(paths, state, locations.cache) if state is not None else None


def _removed(name: str) -> StoreError:
    return StoreError(f"store {name!r} was removed by another process")


def remove_store(
    locations: Locations,
    name: str,
    *,
    scope: str = "all",
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    notify: Notify | None = None,
) -> Store:
    """Forget store NAME: its state first (readers stop seeing it), then its files."""
    found = get_store(locations, name, scope)
    with _locked(locations, name, scope, lock_timeout, notify, "cards store remove") as store:
        if store is None:
            return found  # removed by another process while we waited
        store.paths.state_file.unlink()
        shutil.rmtree(store.paths.checkout, ignore_errors=True)
        shutil.rmtree(store.paths.git_dir, ignore_errors=True)
        clean_tmp(store.paths)  # staging trees hold YAML a fairseq2 walking the root would read
        shutil.rmtree(store.paths.staging_dir, ignore_errors=True)
        shutil.rmtree(store.paths.state_dir / "index" / store.name, ignore_errors=True)
        return store


def pin_store(
    locations: Locations,
    name: str,
    rev: str,
    *,
    scope: str = "all",
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    notify: Notify | None = None,
) -> Store:
    """Hold store NAME at REV (a tag, a branch or a commit id): `cards sync` leaves it there
    until `unpin_store`. The commit is validated like any commit sync would pin."""
    with _locked(locations, name, scope, lock_timeout, notify, "cards pin") as store:
        if store is None:
            raise _removed(name)
        clean_tmp(store.paths)
        commit = resolve_rev(store.repo, store.state.url, rev)
        cards, problems = commit_problems(store, commit, list_stores(locations))
        if problems:
            raise problems_error(name, commit, problems)
        new_state = move_pin(store, commit, len(cards.docs), held=rev)  # one write: pinned and held
        return Store(store.paths, new_state, locations.cache)


def unpin_store(
    locations: Locations,
    name: str,
    *,
    scope: str = "all",
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    notify: Notify | None = None,
) -> Store:
    """Let `cards sync` move store NAME again (its pin stays where it is until then)."""
    with _locked(locations, name, scope, lock_timeout, notify, "cards unpin") as store:
        if store is None:
            raise _removed(name)
        state = replace(store.state, held=None)
        write_state(store.paths, state)
        return Store(store.paths, state, locations.cache)
