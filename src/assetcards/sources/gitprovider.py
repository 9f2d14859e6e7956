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

from ..card.model import Provenance
from ..card.parse import CardDoc, ParsedFile
from ..errors import AssetError, Problem, ProblemCode, StoreError
from ..stores.state import StorePaths, read_state, store_names
from .gitstore import Store, keep_commit
from .index import TreeIndex
from .providers import AssetMetadataProvider, IndexedMetadataProvider
from .source import CardSource


class GitAssetMetadataProvider(IndexedMetadataProvider):
    """The cards of one git store at its pinned commit (or at COMMIT)."""

    def __init__(self, paths: StorePaths, scope: str | None = None,
                 commit: str | None = None, cache_dir: Path | None = None) -> None:
        self.paths = paths
        self.commit = commit
        super().__init__(scope, cache_dir)

    def _reset(self) -> None:
        super()._reset()
        self._store: Store | None = None
        self._read_problem: Problem | None = None

    @property
    def label(self) -> str:
        return f"store {self.paths.name}"

    def _source(self) -> CardSource | None:
        """Read the state; a missing or damaged store is a problem, not an exception."""
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
            self._store = store
            return store.source(self.commit)
        except AssetError as exc:
            self._read_problem = Problem(str(self.paths.state_file), 0, 0, message=str(exc),
                                         code=ProblemCode.STORE_UNREADABLE)
            return None

    def _check_commit(self, store: Store) -> None:
        assert self.commit is not None
        if self.commit != store.state.commit and not store.repo.has_commit(self.commit):
            raise StoreError(f"commit {self.commit} of store {self.paths.name!r} is not in its "
                             "local clone; run `cards sync --lockfile FILE` to fetch it")
        with contextlib.suppress(AssetError):  # a read-only store cannot keep it; fine
            keep_commit(store.repo, self.commit)

    def _open_index(self, source: CardSource) -> TreeIndex | None:
        if self._store is None:
            return None
        try:
            return self._store.index(self.commit)
        except AssetError:
            return None  # fall back to parsing, which reports what is wrong

    def _parsed(self, source: CardSource) -> list[ParsedFile]:
        try:
            return source.parse()
        except AssetError as exc:
            where = str(self.paths.git_dir)
            message = f"store {self.paths.name!r} cannot be read: {exc}"
            return [ParsedFile(where, problems=[Problem(where, 0, 0, message=message,
                                                        code=ProblemCode.STORE_UNREADABLE)])]

    def problems(self) -> list[Problem]:
        problems = super().problems()
        return problems + [self._read_problem] if self._read_problem else problems

    def _provenance(self, doc: CardDoc) -> Provenance:
        state = self._store.state if self._store else None
        return Provenance("git", self.paths.name, doc.file, doc.line, self.scope,
                          url=state.url if state else None,
                          commit=self.commit or (state.commit if state else None))

# -- what the library reads -------------------------------------------------------------------


def git_store_providers(root: Path, scope: str,
                        cache_dir: Path | None = None) -> list[AssetMetadataProvider]:
    """One provider per git store under ROOT, reading each at its pinned commit."""
    return [GitAssetMetadataProvider(StorePaths(root, name), scope, cache_dir=cache_dir)
            for name in store_names(root)]
