"""Providers bound to other commits than the pins: a revision, or a lock file's commits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from . import lockfile
from .errors import AssetError
from .gitprovider import GitAssetMetadataProvider
from .locations import Locations
from .providers import AssetMetadataProvider
from .stores import Store, StorePaths, read_state, resolve_rev


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
            commit = resolve_rev(Store(provider.paths, state).repo, state.url, revision,
                                 offline=True)
        except AssetError:
            continue
        bound.append(GitAssetMetadataProvider(provider.paths, provider.scope, commit,
                                               provider.cache_dir))
    return bound


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
