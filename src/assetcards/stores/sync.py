"""The sync engine: fetch every store, validate the new commit, move the pin.

Each store is synced under its own lock, in parallel with the others. A store that cannot be
fetched, whose upstream history was rewritten, or whose new commit holds invalid cards stays on
its pinned commit; the others go on. The pin moves last, in one atomic step.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from ..card.parse import CardDoc
from ..card.rules import CardSet
from ..errors import AssetError, Problem, StoreError
from ..git import network_timeout
from ..locations import Locations
from ..locks import Notify
from ..sources.gitstore import Store, card_dir_at, get_store, list_stores
from ..sources.lockfile import LockedStore
from .checkout import checkout_commit
from .pin import commit_problems, move_pin
from .remote import fetch_ref, init_store_repo
from .repair import clean_tmp, repair_checkout
from .state import REV_REF, StorePaths, StoreState, hold_store, read_state, write_state

UPDATED = "updated"
UNCHANGED = "unchanged"
HELD = "held"
OFFLINE = "offline"
FAILED = "failed"
REJECTED = "rejected"
REWRITTEN = "rewrite-refused"
REMOVED = "removed"
ADDED = "added"
# Every sync checks that each checkout's directories are as written (a file added, removed or
# renamed shows); every file is compared at most this often, or when asked (--verify).
VERIFY_INTERVAL = 3600.0
OK_STATUSES = (UPDATED, UNCHANGED, HELD, OFFLINE, REMOVED, ADDED)


@dataclass
class SyncResult:
    store: str
    scope: str
    status: str
    old: str | None = None
    new: str | None = None
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def to_json(self) -> dict[str, Any]:
        return {"store": self.store, "scope": self.scope, "status": self.status,
                "ok": self.ok, "old": self.old, "new": self.new, "added": self.added,
                "changed": self.changed, "removed": self.removed, "message": self.message,
                "problems": [p.to_json() for p in self.problems]}


@dataclass
class SyncOptions:
    offline: bool = False
    verify: bool = False  # compare every file of each checkout with the pin, byte for byte
    allow_rewrite: bool = False
    lock_timeout: float = 60.0
    jobs: int = 4
    notify: Notify | None = None  # "waiting for the lock held by ..." and the like
    on_done: Callable[[SyncResult], None] | None = None  # one call per store, for progress


def sync_stores(locations: Locations, names: Sequence[str] = (), scope: str = "all",
                options: SyncOptions | None = None) -> list[SyncResult]:
    """Sync the stores NAMES (default: all) of SCOPE; one result per store, in order."""
    options = options or SyncOptions()
    if not options.offline:
        network_timeout()  # a bad setting is said once, before any store is touched
    stores = list_stores(locations, scope)
    if names:
        stores = [get_store(locations, n, scope) for n in dict.fromkeys(names)]
    everything = list_stores(locations)

    def run(store: Store) -> SyncResult:
        others = [s for s in everything if s.paths != store.paths]
        try:
            result = sync_store(store, others, options)
        except AssetError as exc:
            result = SyncResult(store.name, store.scope, FAILED, store.state.commit,
                                store.state.commit, message=str(exc))
        except OSError as exc:  # a full disk, a file size limit: this store fails, not all
            result = SyncResult(store.name, store.scope, FAILED, store.state.commit,
                                store.state.commit, message=os_error_text(exc) + "; kept the pin")
        except Exception as exc:  # a bug, or input nobody foresaw: this store fails, not all
            result = SyncResult(store.name, store.scope, FAILED, store.state.commit,
                                store.state.commit,
                                message=f"unexpected error ({type(exc).__name__}: {exc}); "
                                "kept the pin")
        if options.on_done is not None:
            options.on_done(result)
        return result

    if len(stores) <= 1 or options.jobs <= 1:
        return [run(s) for s in stores]
    with ThreadPoolExecutor(max_workers=min(options.jobs, len(stores))) as pool:
        return list(pool.map(run, stores))


def sync_store(store: Store, others: Sequence[Store], options: SyncOptions) -> SyncResult:
    started = time.time()
    paths = store.paths
    with hold_store(paths, options.lock_timeout, options.notify, "cards sync"):
        clean_tmp(paths)
        state = read_state(paths)  # again, now that the lock is ours
        if state is None:
            return SyncResult(store.name, store.scope, REMOVED,
                              message="removed by another process")
        store = Store(paths, state, store.cache_dir)
        result = SyncResult(store.name, store.scope, UNCHANGED, state.commit, state.commit)
        deep = options.verify or time.time() - state.verified_at >= VERIFY_INTERVAL
        result.message = repair_checkout(store, deep, content=options.verify)
        if deep:
            state = replace(state, verified_at=time.time())
            write_state(paths, state)
            store = Store(paths, state, store.cache_dir)
        if state.held:
            result.status = HELD
            result.message = f"held at {state.held} by `cards pin`; `cards unpin` releases it"
            return result
        if state.synced_at >= started:
            result.message = "synced by another process while we waited"
            return result
        if options.offline:
            result.status = OFFLINE
            result.message = result.message or "offline: kept the pinned commit"
            return result
        try:
            tip = fetch_ref(store.repo, state.url, state.ref)
        except AssetError as exc:
            result.status = FAILED
            result.message = f"cannot fetch {state.ref} from {state.url}: {exc}; kept the pin"
            return result
        if tip == state.commit:
            write_state(paths, replace(state, synced_at=time.time()))
            return result
        if not options.allow_rewrite and not store.repo.is_ancestor(state.commit, tip):
            result.status = REWRITTEN
            result.new = tip
            result.message = (
                f"upstream history was rewritten: {state.ref} at {tip[:12]} no longer contains "
                f"the pinned commit {state.commit[:12]} (a force-push?). Kept the pin; the old "
                "commit stays readable. Run `cards sync --allow-rewrite` to follow upstream."
            )
            return result
        return _update(store, tip, others, result)


def _update(store: Store, tip: str, others: Sequence[Store], result: SyncResult) -> SyncResult:
    new_cards, problems = commit_problems(store, tip, others)
    if problems:
        result.status = REJECTED
        result.new = tip
        result.problems = problems
        result.message = (f"commit {tip[:12]} has {len(problems)} problem(s) in its cards; "
                          "kept the pin on the last good commit")
        return result
    old_cards = store.card_set()
    result.added, result.changed, result.removed = card_changes(old_cards, new_cards)
    move_pin(store, tip, len(new_cards.docs))
    result.status = UPDATED
    result.new = tip
    return result


def os_error_text(exc: OSError) -> str:
    """"cannot write PATH: No space left on device", from an OSError."""
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot write{where}: {exc.strerror or exc}"


def card_changes(old: CardSet, new: CardSet) -> tuple[list[str], list[str], list[str]]:
    """Names of the cards added, changed and removed between two card sets."""
    before = _by_name(old.docs)
    after = _by_name(new.docs)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(n for n in set(before) & set(after) if before[n] != after[n])
    return added, changed, removed


def _by_name(docs: Sequence[CardDoc]) -> dict[str, Any]:
    return {d.name: dict(d.metadata) for d in docs}


def sync_to_lockfile(locations: Locations, entries: Sequence[LockedStore],
                     options: SyncOptions | None = None) -> list[SyncResult]:
    """Make every store of the lock file pinned at its commit, cloning missing stores and
    fetching commits by id. If any commit cannot be found, raise before any pin moves."""
    options = options or SyncOptions()
    created: list[StorePaths] = []
    try:
        for entry in entries:
            _ensure_commit(locations, entry, options, created)
    except BaseException:
        for paths in created:
            shutil.rmtree(paths.git_dir, ignore_errors=True)
        raise
    return [_pin_locked(locations, entry, options) for entry in entries]


def _ensure_commit(locations: Locations, entry: LockedStore, options: SyncOptions,
                   created: list[StorePaths]) -> None:
    paths = StorePaths(locations.root(entry.scope), entry.name)
    with hold_store(paths, options.lock_timeout, options.notify, "cards sync --lockfile"):
        clean_tmp(paths)
        state = read_state(paths)
        if state is not None and state.url != entry.url:
            raise StoreError(f"store {entry.name!r} tracks {state.url} here but the lock file "
                             f"says {entry.url}; remove the store or fix the lock file")
        if state is None and not paths.git_dir.exists():
            init_store_repo(paths.git_dir)
            created.append(paths)
        repo = paths.repo()
        if repo.has_commit(entry.commit):
            return
        if not options.offline:
            for ref in (entry.commit, entry.ref):
                try:
                    fetch_ref(repo, entry.url, ref, REV_REF)
                except AssetError:
                    continue
                if repo.has_commit(entry.commit):
                    return
        where = "here (offline)" if options.offline else f"here nor at {entry.url}"
        raise StoreError(f"store {entry.name!r}: commit {entry.commit} from the lock file exists "
                         f"neither {where}; no store was changed")


def _pin_locked(locations: Locations, entry: LockedStore, options: SyncOptions) -> SyncResult:
    paths = StorePaths(locations.root(entry.scope), entry.name)
    with hold_store(paths, options.lock_timeout, options.notify, "cards sync --lockfile"):
        state = read_state(paths)
        repo = paths.repo()
        old = state.commit if state else None
        if state is None:
            state = StoreState(entry.name, entry.scope, entry.url, entry.ref, entry.commit,
                               repo.tree_of(entry.commit), card_dir_at(repo, entry.commit),
                               added_at=time.time())
        result = SyncResult(entry.name, entry.scope, UNCHANGED, old, entry.commit)
        store = Store(paths, state, locations.cache)
        if old != entry.commit or checkout_commit(paths) != entry.commit:
            cards = store.card_set(entry.commit)
            if old is not None:
                result.added, result.changed, result.removed = card_changes(store.card_set(),
                                                                            cards)
            move_pin(Store(paths, replace(state, ref=entry.ref), locations.cache), entry.commit,
                     len(cards.docs))
            result.status = UPDATED if old is not None else ADDED
        if options.on_done is not None:
            options.on_done(result)
        return result
