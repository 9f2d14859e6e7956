"""GitAssetMetadataProvider: the cards of a git store, read from a commit's tree.

Never from the working tree: a local edit or a half-finished checkout never changes what the
library returns. By default the store's pinned commit is read; a provider can also be bound to
any other commit the store's repository holds (a lock file's, a `--rev`).
"""

from __future__ import annotations

import contextlib

from .card import Provenance
from .errors import AssetError, Problem, StoreError
from .parse import CardDoc, ParsedFile
from .providers import IndexedMetadataProvider
from .sources import CardSource
from .stores import Store, StorePaths, StoreState, keep_commit, read_state


class GitAssetMetadataProvider(IndexedMetadataProvider):
    """The cards of one git store at its pinned commit (or at COMMIT)."""

    def __init__(self, paths: StorePaths, scope: str | None = None,
                 commit: str | None = None) -> None:
        super().__init__(scope)
        self.paths = paths
        self.commit = commit
        self._state: StoreState | None = None
        self._read_problem: Problem | None = None

    @property
    def label(self) -> str:
        return f"store {self.paths.name}"

    @property
    def state(self) -> StoreState | None:
        return self._state

    def _source(self) -> CardSource | None:
        self._read_problem = None
        try:
            state = read_state(self.paths)
            if state is None:
                if self.commit is not None:
                    raise StoreError(f"store {self.paths.name!r} is not on this machine; run "
                                     "`cards sync --lockfile FILE` to fetch it")
                return None
            self._state = state
            if self.commit is not None:
                self._check_commit(state)
            return Store(self.paths, state).source(self.commit)
        except AssetError as exc:
            self._read_problem = Problem(str(self.paths.state_file), 0, 0, message=str(exc),
                                         code="store-unreadable")
            return None

    def _check_commit(self, state: StoreState) -> None:
        assert self.commit is not None
        repo = Store(self.paths, state).repo
        if self.commit != state.commit and not repo.has_commit(self.commit):
            raise StoreError(f"commit {self.commit} of store {self.paths.name!r} is not in its "
                             "local clone; run `cards sync --lockfile FILE` to fetch it")
        with contextlib.suppress(AssetError):  # a read-only store cannot keep it; fine
            keep_commit(repo, self.commit)

    def _parsed(self, source: CardSource) -> list[ParsedFile]:
        try:
            return source.parse()
        except AssetError as exc:
            where = str(self.paths.git_dir)
            message = f"store {self.paths.name!r} cannot be read: {exc}"
            return [ParsedFile(where, problems=[Problem(where, 0, 0, message=message,
                                                        code="store-unreadable")])]

    def problems(self) -> list[Problem]:
        problems = super().problems()
        return problems + [self._read_problem] if self._read_problem else problems

    def _provenance(self, doc: CardDoc) -> Provenance:
        state = self._state
        return Provenance("git", self.paths.name, doc.file, doc.line, self.scope,
                          url=state.url if state else None,
                          commit=self.commit or (state.commit if state else None))

    def clear_cache(self) -> None:
        super().clear_cache()
        self._state = None
