"""A git store as the read side sees it: its pinned commit's cards, indexes, and the stores
tracked on this machine."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..card.manifest import MANIFEST_NAME, Manifest, parse_manifest
from ..card.rules import CardSet
from ..errors import (
    AssetNotFoundError,
    StoreError,
    UnsafeInputError,
)
from ..git import Repo
from ..locations import Locations, scopes_for
from ..stores.state import (
    KEEP_PREFIX,
    StorePaths,
    StoreState,
    check_store_name,
    read_state,
    store_names,
    symlinked_state_dir,
)
from .index import TreeIndex, build_index, index_name, open_index
from .source import TreeSource


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
    return manifest.card_dir_for(repo.has_path(commit, "cards"))


def manifest_at(repo: Repo, commit: str) -> Manifest:
    data = repo.file_at(commit, MANIFEST_NAME)
    return Manifest() if data is None else parse_manifest(data, MANIFEST_NAME)


def keep_commit(repo: Repo, commit: str) -> None:
    """Keep COMMIT reachable whatever upstream does and whatever `git gc` runs."""
    repo.update_ref(KEEP_PREFIX + commit, commit)


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


def local_commit(repo: Repo, rev: str) -> str | None:
    """The full commit id REV names in a store's repository (HEAD is the pin), looked up
    locally only; None if it names none there."""
    if rev.startswith("-"):
        raise UnsafeInputError(f"revision {rev!r} starts with '-'")
    return repo.resolve(rev)
