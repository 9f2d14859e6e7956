"""AssetMetadataProvider and its kinds: a directory, a package's cards, in-process dicts.

A provider answers `get_metadata(name)` with a plain dict (fairseq2's contract: the card's
fields, plus `__source__` and `__base_path__`), lists its names and forgets what it cached on
`clear_cache()`. One bad file never hides the good cards of a provider: its problems are kept
and reported by `problems()` and in the error for a name that cannot be found.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from ..card.model import BASE_PATH_KEY, Provenance
from ..card.parse import CardDoc, ParsedFile, check_name
from ..errors import (
    AssetCardNotFoundError,
    AssetMetadataError,
    AssetMetadataNotFoundError,
    DuplicateCardError,
    Problem,
    ProblemCode,
)
from .index import TreeIndex, build_index, listing_index_name, open_index
from .source import CardSource, DirectorySource

PROVENANCE_KEY = "__provenance__"
SOURCE_KEY = "__source__"


def plain_name(name: str) -> str:
    """NAME as our providers key it: fairseq2's canonical `a@` is the card `a`."""
    return name[:-1] if name.endswith("@") and name.count("@") == 1 else name


def canonicalize_asset_name(name: str) -> str | None:
    """fairseq2 0.8's canonical form: `a` -> `a@`, `a@env` as it is; None when NAME has no
    name before its '@' or more than one '@'."""
    plain, _, env = name.partition("@")
    if "@" in env or not plain.strip():
        return None
    return f"{plain.strip()}@{env.strip()}"


def sanitize_base_asset_name(name: str) -> str | None:
    """A `base` as fairseq2 0.8 accepts it: no '@', not blank."""
    if "@" in name:
        return None
    return name.strip() or None


def _path_argument(value: object) -> Path | None:
    """A cache directory, or None for anything else (fairseq2 0.3 passes a YAML loader in
    that position, which we do not need: we parse cards ourselves)."""
    return Path(value) if isinstance(value, (str, Path)) else None


class AssetMetadataProvider(ABC):
    """Provides card metadata by name."""

    @abstractmethod
    def get_metadata(self, name: str) -> dict[str, Any]:
        """The fields of the card NAME (`a`, fairseq2's canonical `a@`, or `a@env`); raises
        AssetMetadataNotFoundError (an AssetCardNotFoundError) if there is none."""

    @abstractmethod
    def get_names(self) -> list[str]:
        """The names of every card this provider holds."""

    @abstractmethod
    def clear_cache(self) -> None:
        """Forget what was read, so that the next call reads again."""

    def problems(self) -> list[Problem]:
        """What could not be read (broken files, duplicate names); empty when all is well."""
        return []

    @property
    def label(self) -> str:
        return type(self).__name__

    # fairseq2 0.8's names

    def maybe_get_metadata(self, name: str) -> dict[str, Any] | None:
        try:
            return self.get_metadata(name)
        except AssetCardNotFoundError:
            return None

    @property
    def asset_names(self) -> AbstractSet[str]:
        """The names in fairseq2 0.8's canonical form: `a@` for a card, `a@env` for an
        override."""
        return {n if "@" in n else f"{n}@" for n in self.get_names()}

    @property
    def source(self) -> str:
        return self.label


class IndexedMetadataProvider(AssetMetadataProvider):
    """A provider over one CardSource. With a cache directory, lookups go through an index of
    the source's parsed cards (see index.py) kept on disk and reused by the next process: a
    lookup of one card then parses nothing. Without one, or when no index can be written, the
    whole source is parsed once and kept in memory, as fairseq2 does."""

    def __init__(self, scope: str | None = None, cache_dir: Path | None = None) -> None:
        self.scope = scope
        self.cache_dir = cache_dir
        self._reset()

    def _reset(self) -> None:
        self._opened = False
        self._src: CardSource | None = None
        self._base_dir: Path | None = None
        self._card_index: TreeIndex | None = None
        self._index: dict[str, list[CardDoc]] | None = None
        self._problems: list[Problem] = []
        self._broken: list[str] | None = None

    @abstractmethod
    def _source(self) -> CardSource | None:
        """The files to read, or None when there is nothing (a missing directory)."""

    @abstractmethod
    def _provenance(self, doc: CardDoc) -> Provenance: ...

    def _open_index(self, source: CardSource) -> TreeIndex | None:
        """The index of SOURCE's cards: by default one named after its files' paths, sizes
        and modification times, in the cache directory."""
        if self.cache_dir is None:
            return None
        files = source.list_files()
        if not files:
            return None
        name = listing_index_name(source.label, files)
        dirs = [self.cache_dir / "index"]
        return open_index(name, dirs, source) or build_index(name, dirs, source, files=files)

    def _parsed(self, source: CardSource) -> list[ParsedFile]:
        return source.parse()

    def _ready(self) -> TreeIndex | None:
        """Find the source and open its index (once); None means: use the in-memory parse."""
        if not self._opened:
            self._opened = True
            self._src = self._source()
            self._base_dir = self._src.base_dir if self._src is not None else None
            if self._src is not None:
                try:
                    self._card_index = self._open_index(self._src)
                except (OSError, sqlite3.Error):
                    self._card_index = None  # a read-only cache: parse in memory instead
        return self._card_index

    def _load(self) -> dict[str, list[CardDoc]]:
        if self._index is not None:
            return self._index
        self._ready()
        index: dict[str, list[CardDoc]] = {}
        problems: list[Problem] = []
        parsed_files = self._card_index.files() if self._card_index is not None else (
            self._parsed(self._src) if self._src is not None else [])
        for parsed in parsed_files:
            problems.extend(parsed.problems)
            for doc in parsed.cards:
                index.setdefault(doc.name, []).append(doc)
        for name, docs in index.items():
            if len(docs) > 1:
                problems.extend(duplicate_problems(name, [(self.label, d) for d in docs]))
        self._problems = problems
        self._index = index
        return index

    def _lookup(self, name: str) -> list[CardDoc]:
        card_index = self._ready()
        if card_index is not None and self._index is None:
            return card_index.lookup(name)
        return self._load().get(name, [])

    def get_metadata(self, name: str) -> dict[str, Any]:
        name = plain_name(name)
        docs = self._lookup(name)
        if not docs:
            raise AssetMetadataNotFoundError(name, self._not_found(name))
        if len(docs) > 1:
            raise DuplicateCardError(duplicate_problems(name, [(self.label, d) for d in docs]))
        return self._metadata(docs[0])

    def _metadata(self, doc: CardDoc) -> dict[str, Any]:
        metadata = copy.deepcopy(dict(doc.metadata))
        provenance = self._provenance(doc)
        metadata[SOURCE_KEY] = str(provenance)
        if self._base_dir is not None:
            metadata[BASE_PATH_KEY] = (self._base_dir / doc.file).parent
        metadata[PROVENANCE_KEY] = provenance
        return metadata

    def _not_found(self, name: str) -> str:
        text = f"No card named {name!r} in {self.label}."
        if self._broken is None:
            card_index = self._ready()
            if card_index is not None and self._index is None:
                self._broken = card_index.broken_files()
            else:
                self._broken = sorted({p.file for p in self.problems() if p.file})
        if self._broken:
            text += (f" {len(self._broken)} file(s) there could not be read: "
                     f"{', '.join(self._broken[:3])}")
        return text

    def get_names(self) -> list[str]:
        card_index = self._ready()
        if card_index is not None and self._index is None:
            return card_index.names()
        return sorted(self._load())

    def docs(self) -> dict[str, list[CardDoc]]:
        """The parsed cards by name (for validation and listing)."""
        return self._load()

    def problems(self) -> list[Problem]:
        card_index = self._ready()
        if card_index is not None and self._index is None:
            problems = card_index.problems()
            for name in card_index.duplicate_names():
                docs = card_index.lookup(name)
                problems += duplicate_problems(name, [(self.label, d) for d in docs])
            return problems
        self._load()
        return list(self._problems)

    def clear_cache(self) -> None:
        if self._card_index is not None:
            self._card_index.close()
        self._reset()


def duplicate_problems(name: str, places: Sequence[tuple[str, CardDoc]]) -> list[Problem]:
    """One problem per place a duplicated name is defined, each naming all the others."""
    problems = []
    for _label, doc in places:
        others = "; ".join(f"{lbl}: {d.file}:{d.line}" for lbl, d in places if d is not doc)
        problems.append(Problem(doc.file, doc.line, doc.col, name,
                                f"duplicate card name {name!r}: also defined in {others}",
                                "name", ProblemCode.DUPLICATE))
    return problems


class FileAssetMetadataProvider(IndexedMetadataProvider):
    """Loose card files under a directory, as fairseq2 reads them, or one card file. A missing
    directory is empty. Hidden directories and git store checkouts below it are not scanned.

    fairseq2 0.3's form `FileAssetMetadataProvider(path, file_system, yaml_loader)` is
    accepted: the file system and the YAML loader are not used (cards are read from the local
    file system by our own parser, which keeps line numbers and refuses unsafe YAML)."""

    def __init__(self, base_dir: Path | str, scope: str | None | object = None,
                 cache_dir: Path | str | None | object = None, *,
                 file_system: object = None, yaml_loader: object = None) -> None:
        super().__init__(scope if isinstance(scope, str) else None, _path_argument(cache_dir))
        self.base_dir = Path(base_dir).expanduser()

    @property
    def label(self) -> str:
        kind = "file" if self.base_dir.is_file() else "directory"
        return f"{kind} {self.base_dir}"

    def _source(self) -> CardSource | None:
        if self.base_dir.is_file():
            return DirectorySource(self.base_dir.parent, [Path(self.base_dir.name)])
        if not self.base_dir.is_dir():
            return None
        return DirectorySource(self.base_dir)

    def _provenance(self, doc: CardDoc) -> Provenance:
        root = self.base_dir.parent if self.base_dir.is_file() else self.base_dir
        return Provenance("directory", str(root), str(root / doc.file), doc.line, self.scope)


class PackageAssetMetadataProvider(IndexedMetadataProvider):
    """The cards in a Python package, found in its whole tree as fairseq2 does
    (`PackageAssetMetadataProvider("fairseq2.assets.cards")`), or in its SUBDIR. Without a
    package name: assetcards' own example cards, in `assetcards/cards` (data shipped in the
    wheel, not part of the default store).

    fairseq2 0.3's form `PackageAssetMetadataProvider(name, file_lister, yaml_loader)` is
    accepted; the lister and the loader are not used."""

    def __init__(self, package_name: str = "assetcards", subdir: str | None | object = None,
                 cache_dir: Path | str | None | object = None, *,
                 package_file_lister: object = None, yaml_loader: object = None) -> None:
        super().__init__(None, _path_argument(cache_dir))
        self.package_name = package_name
        if not isinstance(subdir, str):
            subdir = "cards" if package_name == "assetcards" else ""
        self.subdir = subdir

    @property
    def label(self) -> str:
        return f"package {self.package_name}"

    def _root(self) -> Path | None:
        try:
            root = importlib.resources.files(self.package_name)
        except (ModuleNotFoundError, TypeError):
            return None
        path = Path(str(root.joinpath(self.subdir))) if self.subdir else Path(str(root))
        return path if path.is_dir() else None

    def _source(self) -> CardSource | None:
        root = self._root()
        return DirectorySource(root) if root is not None else None

    def _provenance(self, doc: CardDoc) -> Provenance:
        return Provenance("package", self.package_name, doc.file, doc.line)


class InProcAssetMetadataProvider(AssetMetadataProvider):
    """Cards given as a list of dicts in the running process. As in fairseq2 0.3, a card
    without a valid name, a name given twice or a `base` that is not a plain card name is an
    AssetMetadataError when the provider is made, naming every such entry. The caller's
    dicts are copied, never changed."""

    def __init__(self, metadata: Sequence[Mapping[str, Any]], label: str = "in-process") -> None:
        self._label = label
        self._cards: dict[str, dict[str, Any]] = {}
        problems: list[Problem] = []
        for position, item in enumerate(metadata):
            problem = _inproc_problem(item, self._cards)
            if problem is not None:
                key, code, message = problem
                problems.append(Problem(label, position + 1, 0, message=message, key=key,
                                        code=code))
                continue
            card = copy.deepcopy(dict(item))
            card["name"] = plain_name(card["name"])
            self._cards[card["name"]] = card
        if problems:
            raise AssetMetadataError(problems)

    @property
    def label(self) -> str:
        return self._label

    def get_metadata(self, name: str) -> dict[str, Any]:
        found = self._cards.get(plain_name(name))
        if found is None:
            raise AssetMetadataNotFoundError(name, f"No card named {name!r} in {self._label}.")
        metadata = copy.deepcopy(found)
        metadata.setdefault(SOURCE_KEY, self._label)
        metadata[PROVENANCE_KEY] = Provenance("inproc", self._label)
        return metadata

    def get_names(self) -> list[str]:
        return sorted(self._cards)

    def clear_cache(self) -> None:
        pass


def _inproc_problem(item: object, seen: Mapping[str, object]) -> tuple[str, str, str] | None:
    """What is wrong with one in-process card, given the names SEEN before it, as (key, code,
    message); or None."""
    if not isinstance(item, Mapping):
        return "", ProblemCode.BAD_CARD, f"a card must be a mapping, not {type(item).__name__}"
    name = item.get("name")
    if isinstance(name, str):
        name = plain_name(name)
    problem = check_name(name)
    if problem is not None:
        return "name", ProblemCode.BAD_NAME, problem
    if name in seen:
        return "name", ProblemCode.DUPLICATE, f"duplicate card name {name!r}: given twice"
    base = item.get("base")
    if base is not None and (not isinstance(base, str) or "@" in base or check_name(base)):
        return "base", ProblemCode.BAD_BASE, f"'base' must be the name of a card (no '@env'), not {base!r}"
    return None


def load_in_memory_asset_metadata(source: str,
                                  entries: Sequence[Mapping[str, Any]]) -> AssetMetadataProvider:
    """fairseq2 0.8's in-memory provider: ENTRIES under the label SOURCE."""
    return InProcAssetMetadataProvider(entries, label=source)


def load_metadata_file(file: Path | str,
                       yaml_loader: object = None) -> list[tuple[str, dict[str, Any]]]:
    """The cards of one file as fairseq2 0.3 returns them: (canonical name `a@`, the fields
    without `name`, with `__base_path__`). Parsed by our own parser, with its limits;
    YAML_LOADER is not used. AssetMetadataError names every problem with file and line."""
    path = Path(file)
    if not path.is_file():
        raise AssetMetadataError(str(path), f"{path}: no such card file")
    output: list[tuple[str, dict[str, Any]]] = []
    for parsed in DirectorySource(path.parent, [Path(path.name)]).parse():
        if parsed.problems:
            raise AssetMetadataError([dataclasses.replace(p, file=str(path))
                                      for p in parsed.problems])
        for doc in parsed.cards:
            metadata = copy.deepcopy(dict(doc.metadata))
            metadata.pop("name", None)
            metadata[BASE_PATH_KEY] = path.parent
            output.append((canonicalize_asset_name(doc.name) or doc.name, metadata))
    return output


class AbstractAssetMetadataProvider(AssetMetadataProvider):
    """fairseq2 0.3's skeleton provider: a subclass reads every card once in `_load_cache()`,
    a dict from name (`a@`, `a@env`, or plain `a`) to fields, kept until `clear_cache()`."""

    def __init__(self) -> None:
        self._cache: dict[str, dict[str, Any]] | None = None

    @abstractmethod
    def _load_cache(self) -> dict[str, dict[str, Any]]: ...

    def _ensure_cache_loaded(self) -> dict[str, dict[str, Any]]:
        if self._cache is None:
            self._cache = self._load_cache()
        return self._cache

    def get_metadata(self, name: str) -> dict[str, Any]:
        cache = self._ensure_cache_loaded()
        for key in (name, plain_name(name), canonicalize_asset_name(name)):
            if key is not None and key in cache:
                return copy.deepcopy(cache[key])
        raise AssetMetadataNotFoundError(name, f"No card named {name!r} in {self.label}.")

    def get_names(self) -> list[str]:
        return sorted({plain_name(name) for name in self._ensure_cache_loaded()})

    def clear_cache(self) -> None:
        self._cache = None
