"""Providers bound to other commits than the pins: a revision, or a lock file's commits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import AssetError, AssetNotFoundError, UnsafeInputError
from ..locations import Locations
from ..stores.state import StorePaths, read_state
from . import lockfile
from .gitprovider import GitAssetMetadataProvider
from .gitstore import Store, local_commit
from .providers import AssetMetadataProvider


def providers_at(providers: Sequence[AssetMetadataProvider],
                 revision: str) -> list[AssetMetadataProvider]:
    """A provider at REVISION for each git store provider in which REVISION resolves (locally:
    a revision read never touches the network)."""
    bound: list[AssetMetadataProvider] = []
    for provider in providers:
        if not isinstance(provider, GitAssetMetadataProvider):
            continue
        state = read_state(provider.paths)
        if state is None:
            continue
        try:
            commit = local_commit(Store(provider.paths, state).repo, revision)
        except UnsafeInputError:
            raise
        except AssetError:
            continue
        if commit is None:
            continue
        bound.append(GitAssetMetadataProvider(provider.paths, provider.scope, commit,
                                               provider.cache_dir))
    return bound


def check_revision_found(revision: str, bound: Sequence[AssetMetadataProvider],
                         providers: Sequence[AssetMetadataProvider]) -> None:
    """Raise AssetNotFoundError when REVISION resolved in none of the git stores among
    PROVIDERS (BOUND: the providers at REVISION), naming the stores looked in."""
    if bound:
        return
    stores = sorted({p.paths.name for p in providers if isinstance(p, GitAssetMetadataProvider)})
    if not stores:
        raise AssetNotFoundError(f"revision {revision!r}: no git store is tracked here, so there "
                                 "is no revision to read; add one with `cards store add`")
    raise AssetNotFoundError(f"revision {revision!r} names no commit in any git store here "
                             f"(looked in: {', '.join(stores)}); use a tag, a branch, a commit "
                             "id or HEAD~N (see `cards log`)")


def lockfile_providers(path: Path, locations: Locations) -> tuple[
        list[AssetMetadataProvider], list[AssetMetadataProvider]]:
    """(system, user) providers for the stores of the lock file at PATH, at its commits."""
    system: list[AssetMetadataProvider] = []
    user: list[AssetMetadataProvider] = []
    for entry in lockfile.read(path):
        paths = StorePaths(locations.root(entry.scope), entry.name)
        provider = GitAssetMetadataProvider(paths, entry.scope, entry.commit, locations.cache)
        (system if entry.scope == "system" else user).append(provider)
    return system, user
