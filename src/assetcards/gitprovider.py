"""GitAssetMetadataProvider: the cards of a git store, read from a commit's tree.

Never from the working tree: a local edit or a half-finished checkout never changes what the
library returns. By default the store's pinned commit is read; a provider can also be bound to
any other commit the store's repository holds (a lock file's, a `--rev`).

Lookups go through the commit's index (see index.py): a cold lookup of one card reads the
store's state file and one row of the index, and runs no git command.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from .card import Provenance
from .errors import AssetCardNotFoundError, AssetError, DuplicateCardError, Problem, StoreError
from .index import TreeIndex
from .parse import CardDoc, ParsedFile
from .providers import IndexedMetadataProvider, duplicate_problems
from .sources import CardSource
from .stores import Store, StorePaths, keep_commit, read_state


class GitAssetMetadataProvider(IndexedMetadataProvider):
    """The cards of one git store at its pinned commit (or at COMMIT)."""

    def __init__(self, paths: StorePaths, scope: str | None = None,
                 commit: str | None = None, cache_dir: Path | None = None) -> None:
        super().__init__(scope)
        self.paths = paths
        self.commit = commit
        self.cache_dir = cache_dir
        self._store: Store | None = None
        self._tree_index: TreeIndex | None = None
        self._opened = False
        self._read_problem: Problem | None = None

    @property
    def label(self) -> str:
        return f"store {self.paths.name}"

    def _open(self) -> Store | None:
        """Read the state (once) and open the commit's index; problems are kept, not raised."""
        if self._opened:
            return self._store
        self._opened = True
        try:
            state = read_state(self.paths)
            if state is None:
                if self.commit is not None:
                    raise StoreError(f"store {self.paths.name!r} is not on this machine; run "
                                     "`cards sync --lockfile FILE` to fetch it")
                return None
            store = Store(self.paths, state, self.cache_dir)
            if self.commit is not None:
                self._check_commit(store)
            self._tree_index = store.index(self.commit)
            self._store = store
            self._base_dir = self.paths.checkout
        except AssetError as exc:
            self._read_problem = Problem(str(self.paths.state_file), 0, 0, message=str(exc),
                                         code="store-unreadable")
        return self._store

    def _check_commit(self, store: Store) -> None:
        assert self.commit is not None
        if self.commit != store.state.commit and not store.repo.has_commit(self.commit):
            raise StoreError(f"commit {self.commit} of store {self.paths.name!r} is not in its "
                             "local clone; run `cards sync --lockfile FILE` to fetch it")
        with contextlib.suppress(AssetError):  # a read-only store cannot keep it; fine
            keep_commit(store.repo, self.commit)

    # -- through the index when there is one, else the whole-tree parse of the base class --

    def get_metadata(self, name: str) -> dict[str, Any]:
        self._open()
        if self._tree_index is None:
            return super().get_metadata(name)
        docs = self._tree_index.lookup(name)
        if not docs:
            raise AssetCardNotFoundError(self._not_found(name))
        if len(docs) > 1:
            raise DuplicateCardError(duplicate_problems(name, [(self.label, d) for d in docs]))
        return self._metadata(docs[0])

    def get_names(self) -> list[str]:
        self._open()
        if self._tree_index is None:
            return super().get_names()
        return self._tree_index.names()

    def docs(self) -> dict[str, list[CardDoc]]:
        self._open()
        if self._tree_index is None:
            return super().docs()
        index: dict[str, list[CardDoc]] = {}
        for parsed in self._tree_index.files():
            for doc in parsed.cards:
                index.setdefault(doc.name, []).append(doc)
        return index

    def problems(self) -> list[Problem]:
        self._open()
        if self._tree_index is None:
            problems = super().problems()
        else:
            problems = self._tree_index.problems()
            for name in self._tree_index.duplicate_names():
                docs = self._tree_index.lookup(name)
                problems += duplicate_problems(name, [(self.label, d) for d in docs])
        return problems + [self._read_problem] if self._read_problem else problems

    def _not_found(self, name: str) -> str:
        text = f"No card named {name!r} in {self.label}."
        if self._tree_index is not None:
            broken = sorted({p.file for p in self._tree_index.problems()})
            if broken:
                text += f" {len(broken)} file(s) there could not be read: {', '.join(broken[:3])}"
        return text

    # -- the base class's whole-tree path (no index could be opened or written) --

    def _source(self) -> CardSource | None:
        store = self._open()
        return store.source(self.commit) if store is not None else None

    def _parsed(self, source: CardSource) -> list[ParsedFile]:
        try:
            return source.parse()
        except AssetError as exc:
            where = str(self.paths.git_dir)
            message = f"store {self.paths.name!r} cannot be read: {exc}"
            return [ParsedFile(where, problems=[Problem(where, 0, 0, message=message,
                                                        code="store-unreadable")])]

    def _provenance(self, doc: CardDoc) -> Provenance:
        state = self._store.state if self._store else None
        return Provenance("git", self.paths.name, doc.file, doc.line, self.scope,
                          url=state.url if state else None,
                          commit=self.commit or (state.commit if state else None))

    def clear_cache(self) -> None:
        super().clear_cache()
        if self._tree_index is not None:
            self._tree_index.close()
        self._store = None
        self._tree_index = None
        self._opened = False
