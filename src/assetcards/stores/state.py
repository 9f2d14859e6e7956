"""Git stores on disk: clone, pin, state, locks.

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

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..card.manifest import MANIFEST_NAME, Manifest, parse_manifest
from ..card.rules import CardSet
from ..errors import (
    AssetError,
    AssetMetadataError,
    AssetNotFoundError,
    Problem,
    StoreError,
    UnsafeInputError,
)
from ..fsutil import atomic_write_json
from ..git import Repo, check_ref, check_url, is_oid, network_timeout
from ..locations import STATE_DIR, Locations, scopes_for
from ..locks import hold
from ..sources.index import TreeIndex, build_index, index_name, open_index
from ..sources.providers import AssetMetadataProvider
from ..sources.source import TreeSource
from .checkout import checkout_entries, checkout_is_intact, materialize

Notify = Callable[[str], None]
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


@dataclass
class Store:
    """A git store: where it lives and its state as last read. CACHE_DIR is the user's cache,
    where indexes go when the store's own directory cannot be written."""

    paths: StorePaths
    state: StoreState
    cache_dir: Path | None = None
    _card_sets: dict[str, CardSet] = field(default_factory=dict, repr=False)
    _indexes: dict[str, TreeIndex | None] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.paths.name

    @property
    def scope(self) -> str:
        return self.state.scope

    @property
    def repo(self) -> Repo:
        return self.paths.repo()

    def source(self, commit: str | None = None) -> TreeSource:
        commit = commit or self.state.commit
        card_dir = self.state.card_dir if commit == self.state.commit else card_dir_at(
            self.repo, commit)
        return TreeSource(self.repo, commit, card_dir, base_dir=self.paths.checkout)

    def card_set(self, commit: str | None = None) -> CardSet:
        commit = commit or self.state.commit
        if commit not in self._card_sets:
            index = self.index(commit)
            files = index.files() if index is not None else self.source(commit).parse()
            self._card_sets[commit] = CardSet(self.name, files)
        return self._card_sets[commit]

    def index_dirs(self, writing: bool = False) -> list[Path]:
        """Where the store's indexes are: beside it, then the user's cache. WRITING: leave out
        the one beside it if a state directory there is a symbolic link (see
        check_state_dirs)."""
        own = self.paths.state_dir / "index" / self.name
        dirs = [] if writing and symlinked_state_dir(self.paths) is not None else [own]
        return dirs + self._cache_index_dirs()

    def _cache_index_dirs(self) -> list[Path]:
        return [self.cache_dir / "index"] if self.cache_dir is not None else []

    def index(self, commit: str | None = None) -> TreeIndex | None:
        """The index of COMMIT's cards (default: the pin), built now if nobody has yet (reusing
        the pin's parse of unchanged files); None if it cannot be written anywhere."""
        commit = commit or self.state.commit
        if commit in self._indexes:
            return self._indexes[commit]
        if commit == self.state.commit and self.state.tree:
            tree, card_dir = self.state.tree, self.state.card_dir
        else:
            tree, card_dir = self.repo.tree_of(commit), card_dir_at(self.repo, commit)
        source = TreeSource(self.repo, commit, card_dir, base_dir=self.paths.checkout)
        name = index_name(tree, card_dir)
        index = open_index(name, self.index_dirs(), source)
        if index is None:
            reuse = [] if commit == self.state.commit else [self.index()]
            try:
                index = build_index(name, self.index_dirs(writing=True), source,
                                    [r for r in reuse if r is not None],
                                    caches=self._cache_index_dirs())  # the own: prune_indexes
            except OSError:
                index = None
        self._indexes[commit] = index
        return index

    def prune_indexes(self, keep: Sequence[str]) -> None:
        """Remove this store's own index files except those of the commits in KEEP."""
        wanted = {index_name(self.repo.tree_of(c), card_dir_at(self.repo, c)) for c in keep}
        directory = self.paths.state_dir / "index" / self.name
        if symlinked_state_dir(self.paths) is not None:
            return
        with contextlib.suppress(OSError):
            for path in directory.iterdir():
                if path.name not in wanted:
                    path.unlink()


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


def list_stores(locations: Locations, scope: str = "all") -> list[Store]:
    stores = []
    for sc in scopes_for(scope):
        root = locations.root(sc)
        for name in store_names(root):
            paths = StorePaths(root, name)
            state = read_state(paths)
            if state is not None:
                stores.append(Store(paths, state, locations.cache))
    return stores


def get_store(locations: Locations, name: str, scope: str = "all") -> Store:
    check_store_name(name)
    found = [s for s in list_stores(locations, scope) if s.name == name]
    if not found:
        where = "" if scope == "all" else f" in the {scope} root"
        raise AssetNotFoundError(f"no store named {name!r}{where}; see `cards store list`")
    if len(found) > 1:
        raise StoreError(f"store {name!r} exists in both the user and the system root; "
                         "say which with --user or --system")
    return found[0]


# -- git-level helpers ------------------------------------------------------------------------


def card_dir_at(repo: Repo, commit: str) -> str:
    """Where a commit keeps its cards: the manifest's `store.cards`, else cards/ if present."""
    manifest = manifest_at(repo, commit)
    if manifest.cards_dir is not None:
        return manifest.card_dir_for(False)
    has_cards = repo.run("cat-file", "-e", f"{commit}:cards", check=False).returncode == 0
    return manifest.card_dir_for(has_cards)


def manifest_at(repo: Repo, commit: str) -> Manifest:
    result = repo.run("cat-file", "blob", f"{commit}:{MANIFEST_NAME}", check=False)
    if result.returncode != 0:
        return Manifest()
    return parse_manifest(result.stdout, MANIFEST_NAME)


def keep_commit(repo: Repo, commit: str) -> None:
    """Keep COMMIT reachable whatever upstream does and whatever `git gc` runs."""
    repo.update_ref(KEEP_PREFIX + commit, commit)


def normalize_url(url: str) -> str:
    check_url(url)
    if "://" not in url and not re.match(r"^[^/]+@[^/]+:", url):
        path = Path(url).expanduser()
        if path.exists():
            return str(path.resolve())
    return url


def default_ref(repo: Repo, url: str) -> str:
    """The branch the remote's HEAD points at (main, master, ...)."""
    text = repo.out("ls-remote", "--symref", "--end-of-options", url, "HEAD",
                    timeout=network_timeout())
    for line in text.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            ref = line[5:-5].strip()
            return ref.removeprefix("refs/heads/")
    return "HEAD"


def init_store_repo(git_dir: Path) -> Repo:
    repo = Repo.init_bare(git_dir, store=True)
    repo.run("symbolic-ref", "HEAD", PINNED_REF)
    return repo


def fetch_ref(repo: Repo, url: str, ref: str, target: str = UPSTREAM_REF) -> str:
    """Fetch REF (and the remote's tags) from URL into TARGET; return the commit REF names."""
    repo.fetch(url, [f"+{ref}:{target}", "+refs/tags/*:refs/tags/*"])
    commit = repo.resolve(target)
    if commit is None:
        raise StoreError(f"{ref!r} at {url} does not point at a commit")
    return commit


def resolve_rev(repo: Repo, url: str, rev: str, offline: bool = False) -> str:
    """The full commit id REV names for a store: a commit id, a tag, a branch, or an
    expression such as HEAD~2 (HEAD is the pin), looked up locally first, then upstream."""
    if rev.startswith("-"):
        raise UnsafeInputError(f"revision {rev!r} starts with '-'")
    commit = repo.resolve(rev)
    if commit is not None:
        return commit
    if not offline and (is_oid(rev) or _is_ref_name(rev)):
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
    head = repo.run("symbolic-ref", "--quiet", "HEAD", check=False).stdout.decode().strip()
    pinned = repo.resolve(PINNED_REF)
    if head == PINNED_REF and pinned == commit:
        return False
    repo.update_ref(PINNED_REF, commit)
    repo.run("symbolic-ref", "HEAD", PINNED_REF)
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


def move_pin(store: Store, commit: str, cards: int, **changes: Any) -> StoreState:
    """Pin STORE at COMMIT: keep it reachable, put its files and its index in place, then
    switch the state file in one atomic step, with CHANGES to other fields of the state (a
    `cards pin` holds the store in the same write). Returns the new state."""
    paths, state, repo = store.paths, store.state, store.repo
    keep_commit(repo, commit)
    card_dir = card_dir_at(repo, commit)
    store.index(commit)  # usually built already, by the validation of COMMIT
    materialize(paths, repo, commit, card_dir)
    try:
        repo.update_ref(PINNED_REF, commit)
        new_state = replace(state, commit=commit, tree=repo.tree_of(commit), card_dir=card_dir,
                            cards=cards, synced_at=time.time(), verified_at=time.time(),
                            previous_commit=state.commit if state.commit != commit else
                            state.previous_commit, **changes)
        write_state(paths, new_state)
    except Exception:
        # The pin did not move: put the old commit's files back so that the checkout (what a
        # fairseq2 reading the root sees) agrees with the pin again.
        if paths.state_file.exists() and state.commit != commit:
            with contextlib.suppress(Exception):
                materialize(paths, repo, state.commit, state.card_dir)
        raise
    store.prune_indexes([c for c in (commit, new_state.previous_commit) if c])
    return new_state


# -- what the library reads -------------------------------------------------------------------


def git_store_providers(root: Path, scope: str,
                        cache_dir: Path | None = None) -> list[AssetMetadataProvider]:
    """One provider per git store under ROOT, reading each at its pinned commit."""
    from ..sources.gitprovider import GitAssetMetadataProvider

    return [GitAssetMetadataProvider(StorePaths(root, name), scope, cache_dir=cache_dir)
            for name in store_names(root)]


def tracked_card_sets(locations: Locations, exclude: Sequence[str] = ()) -> list[CardSet]:
    """The parsed cards of every store tracked on this machine (at its pin), one CardSet each,
    labelled by store name; stores whose name or URL is in EXCLUDE are left out."""
    excluded = {same_url_key(e) for e in exclude} | set(exclude)
    sets = []
    for store in list_stores(locations):
        if store.name in excluded or same_url_key(store.state.url) in excluded:
            continue
        sets.append(store.card_set())
    return sets


def same_url_key(url: str) -> str:
    """URL in one spelling per repository: no file:// prefix, trailing '/' or '.git'."""
    key = url.removeprefix("file://").rstrip("/")
    return key.removesuffix(".git")


def commit_problems(store: Store, commit: str,
                    tracked: Sequence[Store]) -> tuple[CardSet, list[Problem]]:
    """COMMIT's cards and what is wrong with them: the built-in rules, the commit's own
    manifest rules, and duplicates with every other TRACKED store at its pin."""
    from ..card.rules import validate

    try:
        manifest = manifest_at(store.repo, commit)
    except AssetMetadataError as exc:  # a manifest that cannot be read: nothing else can
        return CardSet(store.name, []), exc.problems
    cards = store.card_set(commit)
    others = [s.card_set() for s in tracked if s.paths != store.paths]
    return cards, validate(cards, others, manifest)


def check_add_args(name: str, url: str, ref: str | None) -> None:
    check_store_name(name)
    check_url(url)
    if ref is not None:
        check_ref(ref)


def problems_error(store: str, commit: str, problems: Sequence[Any]) -> AssetMetadataError:
    return AssetMetadataError(
        problems,
        f"store {store!r}: commit {commit[:12]} has invalid cards; not pinned:\n"
        + "\n".join(p.format() for p in problems),
    )
