"""AssetStore and the default `asset_store`.

User providers are searched before system providers. A name defined by two sources in use is an
error naming both places (never a silent shadow), except when both define exactly the same
fields: then they are one card seen twice (a store checked out from the same repository as the
cards fairseq2 bundles, say). `name@env` cards are merged over `name` when `env` is active, and
`name@user` cards always are.
"""

from __future__ import annotations

import difflib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from ..card.model import BASE_PATH_KEY, MAX_BASE_DEPTH, AssetCard, Provenance
from ..errors import (
    AssetArgumentError,
    AssetCardError,
    AssetCardNotFoundError,
    BaseCycleError,
    DuplicateCardError,
    Problem,
    ProblemCode,
)
from ..locations import Locations, scopes_for
from .providers import (
    PROVENANCE_KEY,
    AssetMetadataProvider,
    FileAssetMetadataProvider,
    PackageAssetMetadataProvider,
    plain_name,
)

EnvironmentResolver = Callable[[], "str | None"]
ENV_VARIABLE = "FAIRSEQ2_ASSET_ENV"
LOCKFILE_VARIABLE = "ASSETCARDS_LOCKFILE"  # a lock file the default asset_store reads


class AssetStore(ABC):
    """Looks cards up by name."""

    @abstractmethod
    def retrieve_card(
        self, name: str, *, envs: Sequence[str] | None = None, scope: str = "all"
    ) -> AssetCard: ...

    @abstractmethod
    def retrieve_names(self, *, scope: str = "all") -> list[str]: ...

    def maybe_retrieve_card(self, name: str, *, envs: Sequence[str] | None = None,
                            scope: str = "all") -> AssetCard | None:
        """The card NAME, or None when no source defines it (fairseq2 0.8). A card that
        exists but is broken (a missing base, a duplicate) still raises."""
        if split_env(name)[0] not in self.retrieve_names(scope=scope):
            return None
        return self.retrieve_card(name, envs=envs, scope=scope)

    def find_cards(self, field: str, value: object, *, scope: str = "all") -> Iterator[AssetCard]:
        """Every card (not `name@env` overrides) whose field FIELD, inherited or its own,
        equals VALUE (fairseq2 0.8)."""
        for name in self.retrieve_names(scope=scope):
            if "@" in name:
                continue
            card = self.retrieve_card(name, scope=scope)
            found = card.maybe_get_field(field)
            if found is not None and found.value == value:
                yield card

    @property
    def asset_names(self) -> AbstractSet[str]:
        """Every name in fairseq2 0.8's canonical form: `name@` for a card, `name@env` for an
        override. Either form is accepted wherever a name is."""
        return {n if "@" in n else f"{n}@" for n in self.retrieve_names()}


def canonical_scope(scope: str) -> str:
    """SCOPE as our lookups name it: fairseq2 0.3 calls the system scope "global"."""
    if scope == "global":
        return "system"
    if scope not in ("all", "system", "user"):
        raise AssetArgumentError(f"scope must be one of 'all', 'system' (or 'global'), 'user', "
                                 f"not {scope!r}")
    return scope


def split_env(name: str) -> tuple[str, str | None]:
    """`a@gpu` -> ("a", "gpu"); `a@` -> ("a", ""): no environment; `a` -> ("a", None)."""
    plain, at, env = name.partition("@")
    return plain, (env if at else None)


def env_from_variable() -> str | None:
    """The environment named by FAIRSEQ2_ASSET_ENV, if any (comma-separated: the first)."""
    value = os.environ.get(ENV_VARIABLE, "").strip()
    return value.split(",")[0].strip() or None


class StandardAssetStore(AssetStore):
    """Searches user metadata providers, then system metadata providers."""

    def __init__(
        self,
        metadata_providers: Sequence[AssetMetadataProvider] = (),
        user_metadata_providers: Sequence[AssetMetadataProvider] = (),
        env_resolvers: Sequence[EnvironmentResolver] = (env_from_variable,),
        *,
        default_env: str | None = None,
    ) -> None:
        """DEFAULT_ENV (fairseq2 0.8's argument) is an environment always in use, after those
        the resolvers name."""
        self.metadata_providers: list[AssetMetadataProvider] = list(metadata_providers)
        self.user_metadata_providers: list[AssetMetadataProvider] = list(user_metadata_providers)
        self.env_resolvers: list[EnvironmentResolver] = list(env_resolvers)
        if default_env and default_env.strip():
            env = default_env.strip()
            self.env_resolvers.append(lambda: env)

    @classmethod
    def from_locations(cls, locations: Locations, *, bundled: bool = True) -> StandardAssetStore:
        """The system root, the user root and (unless not BUNDLED) the cards the installed
        fairseq2 bundles, read as fairseq2 reads them. assetcards' own example cards are not
        part of it (`PackageAssetMetadataProvider()` reads them)."""
        from .fairseq2cards import fairseq2_provider

        system = root_providers(locations.system, "system", locations.cache)
        fairseq2 = fairseq2_provider(locations.cache) if bundled else None
        if fairseq2 is not None:
            system.append(fairseq2)
        return cls(system, root_providers(locations.user, "user", locations.cache))

    def add_file_metadata_provider(self, path: Path | str, user: bool = False) -> None:
        scope = "user" if user else "system"
        target = self.user_metadata_providers if user else self.metadata_providers
        target.append(FileAssetMetadataProvider(Path(path), scope))

    def add_package_metadata_provider(self, package_name: str) -> None:
        self.metadata_providers.append(PackageAssetMetadataProvider(package_name))

    def clear_cache(self) -> None:
        for _, provider in self.providers():
            provider.clear_cache()

    def providers(self, scope: str = "all") -> Iterator[tuple[str, AssetMetadataProvider]]:
        for sc in scopes_for(canonical_scope(scope)):
            group = self.user_metadata_providers if sc == "user" else self.metadata_providers
            for provider in group:
                yield sc, provider

    def active_envs(self, envs: Sequence[str] | None = None) -> list[str]:
        if envs is None:
            envs = [e for e in (r() for r in self.env_resolvers) if e]
        return [e for e in envs if e != "user"] + ["user"]

    # -- lookups ------------------------------------------------------------------------------

    def retrieve_card(
        self, name: str, *, envs: Sequence[str] | None = None, scope: str = "all",
        revision: str | None = None,
    ) -> AssetCard:
        """The card NAME; with REVISION (a tag, branch, commit id, or HEAD~N where HEAD is the
        pin), read from the git stores in which REVISION resolves, at that commit."""
        if revision is not None:
            return self.at_revision(revision).retrieve_card(name, envs=envs, scope=scope)
        plain, env = split_env(name)
        if env is None:
            return self._card(plain, self.active_envs(envs), scope, [])
        if envs is not None:
            raise AssetArgumentError(f"{name!r} names its environment already; pass either "
                                     "'name@env' or envs, not both.")
        return self._card(plain, [env] if env else [], scope, [])

    def at_revision(self, revision: str) -> StandardAssetStore:
        """A store over the git stores of this one, each read at REVISION where it resolves."""
        from .revisions import check_revision_found, providers_at

        system = providers_at(self.metadata_providers, revision)
        user = providers_at(self.user_metadata_providers, revision)
        check_revision_found(revision, system + user,
                             [*self.metadata_providers, *self.user_metadata_providers])
        return StandardAssetStore(system, user, self.env_resolvers)

    @classmethod
    def from_lockfile(cls, path: Path | str,
                      locations: Locations | None = None) -> StandardAssetStore:
        """The cards of the stores a lock file names, at the lock's commits, read from this
        machine's clones whatever their own pins are."""
        from .revisions import lockfile_providers

        system, user = lockfile_providers(Path(path), locations or Locations.from_env())
        return cls(system, user)

    def _card(self, name: str, envs: list[str], scope: str, chain: list[str]) -> AssetCard:
        if name in chain:
            loop = " -> ".join(chain[chain.index(name):] + [name])
            raise BaseCycleError(chain[0],
                                 f"The base chain of the card {chain[0]!r} loops: {loop}.")
        if len(chain) >= MAX_BASE_DEPTH:
            raise AssetCardError(f"The base chain of the card {chain[0]!r} is longer than "
                                 f"{MAX_BASE_DEPTH} cards.")
        metadata = self.find_metadata(name, scope)
        provenance = _provenance(metadata)
        base_path = metadata.get(BASE_PATH_KEY)
        path_provenance = provenance
        fields = {k: v for k, v in metadata.items() if not k.startswith("__")}
        overrides: list[Provenance] = []
        for env in envs:
            extra = self._find_metadata(f"{name}@{env}", scope)
            if extra is None:
                continue
            overrides.append(_provenance(extra))
            for key, value in extra.items():
                if key.startswith("__") or key == "name":
                    continue
                fields[key] = value
            if extra.get(BASE_PATH_KEY) is not None:  # as fairseq2: the override's directory
                base_path, path_provenance = extra[BASE_PATH_KEY], overrides[-1]
        base: AssetCard | None = None
        base_name = fields.get("base")
        if base_name is not None:
            if not isinstance(base_name, str):
                raise AssetCardError(
                    name, f"The card {name!r} has a 'base' that is not a card name: "
                    f"{base_name!r} ({provenance})."
                )
            try:
                base = self._card(base_name, envs, scope, chain + [name])
            except AssetCardNotFoundError as exc:
                if isinstance(exc, BaseCycleError):
                    raise
                raise AssetCardNotFoundError(
                    name, f"The card {name!r} ({provenance}) has base {base_name!r}, which was "
                    f"not found: {exc}"
                ) from None
        return AssetCard(name, fields, base, provenance=provenance, base_path=base_path,
                         overrides=overrides, path_provenance=path_provenance)

    def maybe_retrieve_card(self, name: str, *, envs: Sequence[str] | None = None,
                            scope: str = "all") -> AssetCard | None:
        if self._find_metadata(split_env(name)[0], scope) is None:
            return None
        return self.retrieve_card(name, envs=envs, scope=scope)

    def find_metadata(self, name: str, scope: str = "all") -> dict[str, Any]:
        """The metadata of NAME (`a`, `a@` or `a@env`) from the one source that defines it."""
        found = self._find_metadata(plain_name(name), scope)
        if found is None:
            raise AssetCardNotFoundError(name, self._not_found(name, scope))
        return found

    def _find_metadata(self, name: str, scope: str) -> dict[str, Any] | None:
        """Like find_metadata, but None when no source defines NAME (cheap: no suggestions)."""
        found: list[dict[str, Any]] = []
        for _, provider in self.providers(scope):
            try:
                found.append(provider.get_metadata(name))
            except AssetCardNotFoundError:
                continue
        if not found:
            return None
        distinct = [found[0]]
        for metadata in found[1:]:
            if all(_fields(metadata) != _fields(other) for other in distinct):
                distinct.append(metadata)
        if len(distinct) > 1:
            raise DuplicateCardError(_duplicates(name, distinct))
        return found[0]

    def _not_found(self, name: str, scope: str) -> str:
        text = f"No card named {name!r}"
        if scope != "all":
            text += f" in the {scope} scope"
        candidates = [n for n in self.retrieve_names(scope=scope) if "@" not in n or "@" in name]
        close = difflib.get_close_matches(name, candidates, n=3)
        if close:
            text += f"; did you mean {', '.join(map(repr, close))}?"
        else:
            text += "."
        broken = [p for _, provider in self.providers(scope) for p in provider.problems()]
        if broken:
            text += (f" ({len(broken)} problem(s) in card files may hide it; "
                     "run `cards list` to see them.)")
        return text

    def retrieve_names(self, *, scope: str = "all") -> list[str]:
        names: set[str] = set()
        for _, provider in self.providers(scope):
            names.update(provider.get_names())
        return sorted(names)

    def problems(self, scope: str = "all") -> list[Problem]:
        return [p for _, provider in self.providers(scope) for p in provider.problems()]


def _fields(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if not k.startswith("__")}


def _provenance(metadata: Mapping[str, Any]) -> Provenance:
    value = metadata.get(PROVENANCE_KEY)
    if isinstance(value, Provenance):
        return value
    return Provenance("inproc", str(metadata.get("__source__", "in-process")))


def _duplicates(name: str, found: Sequence[Mapping[str, Any]]) -> list[Problem]:
    places = [_provenance(m) for m in found]
    problems = []
    for place in places:
        others = "; ".join(str(p) for p in places if p is not place)
        problems.append(Problem(place.file or place.source, place.line, 0, name,
                                f"duplicate card name {name!r} in {place}: also defined in "
                                f"{others}", "name", ProblemCode.DUPLICATE))
    return problems


def root_providers(root: Path, scope: str,
                   cache_dir: Path | None = None) -> list[AssetMetadataProvider]:
    """The providers of one root: its loose card files, then each git store in it."""
    from .gitprovider import git_store_providers

    providers: list[AssetMetadataProvider] = [FileAssetMetadataProvider(root, scope, cache_dir)]
    providers.extend(git_store_providers(root, scope, cache_dir))
    return providers


_default: StandardAssetStore | None = None


def get_asset_store() -> StandardAssetStore:
    """The process-wide store, built on first use from the environment (0.8's name)."""
    global _default
    if _default is None:
        _default = store_from_env()
    return _default


class DefaultAssetStore(AssetStore):
    """`default_asset_store`: fairseq2 0.3's process-wide store instance, built from the
    environment on first use. Every attribute is the real store's (so
    `default_asset_store.metadata_providers.append(...)` works), and calling it returns the
    real store, as earlier versions of assetcards had it."""

    def __call__(self) -> StandardAssetStore:
        return get_asset_store()

    def retrieve_card(self, name: str, *, envs: Sequence[str] | None = None,
                      scope: str = "all", revision: str | None = None) -> AssetCard:
        return get_asset_store().retrieve_card(name, envs=envs, scope=scope, revision=revision)

    def retrieve_names(self, *, scope: str = "all") -> list[str]:
        return get_asset_store().retrieve_names(scope=scope)

    def maybe_retrieve_card(self, name: str, *, envs: Sequence[str] | None = None,
                            scope: str = "all") -> AssetCard | None:
        return get_asset_store().maybe_retrieve_card(name, envs=envs, scope=scope)

    def find_cards(self, field: str, value: object, *, scope: str = "all") -> Iterator[AssetCard]:
        return get_asset_store().find_cards(field, value, scope=scope)

    @property
    def asset_names(self) -> AbstractSet[str]:
        return get_asset_store().asset_names

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(get_asset_store(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(get_asset_store(), name, value)

    def __repr__(self) -> str:
        return "<default_asset_store: built from the environment on first use>"


default_asset_store = DefaultAssetStore()


def setup_asset_store(store: StandardAssetStore) -> None:
    """Add the providers of the environment's roots to STORE (fairseq2 0.3's function)."""
    built = store_from_env()
    store.metadata_providers.extend(built.metadata_providers)
    store.user_metadata_providers.extend(built.user_metadata_providers)


def store_from_env(locations: Locations | None = None) -> StandardAssetStore:
    """The store the environment asks for: the lock file named by ASSETCARDS_LOCKFILE, else
    the system and user roots and the cards the installed fairseq2 bundles."""
    locations = locations or Locations.from_env()
    lockfile = os.environ.get(LOCKFILE_VARIABLE)
    if lockfile:
        return StandardAssetStore.from_lockfile(lockfile, locations)
    return StandardAssetStore.from_locations(locations)


def __getattr__(name: str) -> Any:
    if name == "asset_store":
        return get_asset_store()
    raise AttributeError(name)
