"""AssetCard: a card's own fields, its base chain, and where it came from."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar, cast, overload

from ..errors import AssetCardError, AssetCardFieldNotFoundError
from .structure import StructureError, describe, structure, unstructure

T = TypeVar("T")

# The longest base chain a card may have, the card included: reading stops there and
# validation reports a longer chain, so that every card validation accepts can be read.
# Far deeper than any real chain; lookups recurse once per base, well within Python's stack.
MAX_BASE_DEPTH = 256

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
KINDS = ("model", "tokenizer", "dataset")
BASE_PATH_KEY = "__base_path__"  # the directory a provider read a card from (fairseq2's key)


@dataclass(frozen=True)
class Provenance:
    """Where one card was read from."""

    kind: str  # "directory" | "package" | "git" | "inproc"
    source: str  # the directory, the package, the store name
    file: str = ""  # the card file (relative to the store root for git stores)
    line: int = 0
    scope: str | None = None  # "system" | "user" | None
    url: str | None = None
    commit: str | None = None

    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}

    def __str__(self) -> str:
        where = {"git": "store", "directory": "directory", "package": "package"}.get(
            self.kind, self.kind
        )
        text = f"{where} {self.source}"
        if self.commit:
            text += f" at {self.commit[:12]}"
        if self.file:
            text += f": {self.location()}"
        return text


def card_kind(fields: Mapping[str, Any]) -> str:
    """What a card with these (resolved) fields describes: model, tokenizer, dataset, other."""
    if "model_family" in fields or "model_arch" in fields:
        return "model"
    if "tokenizer_family" in fields:
        return "tokenizer"
    if "dataset_family" in fields:
        return "dataset"
    return "other"


class AssetCard:
    """A card: its own fields, the card it inherits from, and its provenance."""

    def __init__(
        self,
        name: str,
        metadata: Mapping[str, Any],
        base: AssetCard | None = None,
        base_path: Path | None = None,
        *,
        provenance: Provenance | None = None,
        overrides: Sequence[Provenance] = (),
        base_card: AssetCard | None = None,
        path_provenance: Provenance | None = None,
    ) -> None:
        """`base_card` is fairseq2 0.3's name for BASE; a `__base_path__` in METADATA (0.8's
        form) stands for BASE_PATH when none is given. PATH_PROVENANCE is the card file whose
        directory BASE_PATH is (the card's own, or that of the override that supplied it)."""
        self._name = name
        self._metadata = {k: v for k, v in metadata.items() if not k.startswith("__")}
        self._base = base if base is not None else base_card
        self._provenance = provenance or Provenance("inproc", "inproc")
        if base_path is None and isinstance(metadata.get(BASE_PATH_KEY), Path):
            base_path = metadata[BASE_PATH_KEY]
        self._base_path = base_path
        self._overrides = list(overrides)
        self._path_provenance = path_provenance or self._provenance

    @property
    def name(self) -> str:
        return self._name

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The card's own fields, without those it inherits."""
        return self._metadata

    @property
    def base(self) -> AssetCard | None:
        return self._base

    @property
    def provenance(self) -> Provenance:
        return self._provenance

    @property
    def base_path(self) -> Path | None:
        """The directory every relative path read through this card resolves against, its
        inherited fields' included, as in fairseq2 (0.3 and 0.8): the directory of this card's
        file, or of the `name@env` / `name@user` override merged last that has one."""
        return self._base_path

    @property
    def path_provenance(self) -> Provenance:
        """The card file whose directory is `base_path`."""
        return self._path_provenance

    @property
    def overrides(self) -> list[Provenance]:
        """The `name@env` / `name@user` cards merged over this one, in the order applied."""
        return list(self._overrides)

    def base_chain(self) -> list[AssetCard]:
        """This card, then its base, then the base's base, and so on."""
        chain: list[AssetCard] = []
        card: AssetCard | None = self
        while card is not None:
            chain.append(card)
            card = card.base
        return chain

    def fields(self) -> dict[str, Any]:
        """Every field, inherited ones included; a card's own fields win over its base's."""
        merged: dict[str, Any] = {}
        for card in reversed(self.base_chain()):
            merged.update(card.metadata)
        merged.pop("base", None)
        merged["name"] = self.name
        return merged

    def flatten(self) -> AssetCard:
        """One card holding every field of this one and its bases (see `fields()`), with no
        base; relative paths resolve as they do through this card."""
        return AssetCard(self._name, self.fields(), None, self._base_path,
                         provenance=self._provenance, overrides=self._overrides,
                         path_provenance=self._path_provenance)

    def kind(self) -> str:
        return card_kind(self.fields())

    def field(self, name: str) -> AssetCardField:
        """The field NAME. As in fairseq2 0.3, a missing field is reported when it is read
        (`maybe_get_field` returns None instead)."""
        return AssetCardField(self, [name])

    def has_field(self, name: str) -> bool:
        return self._lookup([name]) is not None

    def maybe_get_field(self, name: str) -> AssetCardField | None:
        return self.field(name) if self.has_field(name) else None

    def _set(self, path: list[str], value: Any) -> None:
        """Set the field at PATH in this card's own fields, copying each mapping on the way
        so that no caller's dict and no other card changes."""
        self._metadata = dict(self._metadata)
        parent: dict[str, Any] = self._metadata
        for depth, key in enumerate(path[:-1]):
            child = parent.get(key)
            if child is None:
                child = {}
            if not isinstance(child, Mapping):
                raise AssetCardError(
                    self._name,
                    f"Cannot set the field {'.'.join(path)!r} of the card {self._name!r}: "
                    f"{'.'.join(path[:depth + 1])!r} holds {type(child).__name__} "
                    f"({child!r:.60}), not a mapping ({self._provenance}).")
            parent[key] = dict(child)
            parent = parent[key]
        parent[path[-1]] = value

    def _lookup(self, path: list[str]) -> tuple[Any, AssetCard] | None:
        for card in self.base_chain():
            value: Any = card.metadata
            for key in path:
                if not isinstance(value, Mapping) or key not in value:
                    break
                value = value[key]
            else:
                return value, card
        return None

    def __repr__(self) -> str:
        return f"AssetCard(name={self._name!r}, provenance={str(self._provenance)!r})"

    def __str__(self) -> str:
        return str(self.fields())


class AssetCardField:
    """One field of a card (possibly nested), with typed accessors."""

    def __init__(self, card: AssetCard, path: list[str]) -> None:
        self._card = card
        self._path = path

    @property
    def card(self) -> AssetCard:
        return self._card

    @property
    def path(self) -> list[str]:
        return list(self._path)

    @property
    def value(self) -> Any:
        """The field's value as the card holds it (fairseq2 0.8's name for as_unstructured)."""
        return self.as_unstructured()

    def field(self, name: str) -> AssetCardField:
        return AssetCardField(self._card, self._path + [name])

    def exists(self) -> bool:
        return self._card._lookup(self._path) is not None

    def _dotted(self) -> str:
        return ".".join(self._path)

    def _where(self, owner: AssetCard | None = None) -> str:
        return str((owner or self._card).provenance)

    def _error(self, message: str) -> AssetCardError:
        return AssetCardError(self._card.name, message)

    def _find(self) -> tuple[Any, AssetCard]:
        found = self._card._lookup(self._path)
        if found is None:
            raise AssetCardFieldNotFoundError(
                self._card.name,
                f"The card {self._card.name!r} has no field {self._dotted()!r} "
                f"(card from {self._where()})."
            )
        return found

    def _type_error(self, owner: AssetCard, expected: str, value: Any,
                    element: str = "") -> AssetCardError:
        return self._error(
            f"The field {self._dotted()!r}{element} of the card {self._card.name!r} must be "
            f"{expected}, but is {describe(value)} (defined in {self._where(owner)})."
        )

    def as_unstructured(self) -> Any:
        return self._find()[0]

    @overload
    def as_(self, kls: type[T], allow_empty: bool = False) -> T: ...

    @overload
    def as_(self, kls: object, allow_empty: bool = False) -> Any: ...

    def as_(self, kls: object, allow_empty: bool = False) -> Any:
        """The value, checked against the type expression KLS (`int`, `list[str]`,
        `dict[str, int]`, `set[int]`, `str | None`, `Literal['a', 'b']`, `tuple[int, int]`,
        ...) and converted where it asks (a list to a set or a tuple). An empty string, list or
        mapping is an error unless ALLOW_EMPTY."""
        value, owner = self._find()
        try:
            result = structure(value, kls)
        except StructureError as exc:
            raise self._type_error(owner, exc.expected, exc.value, exc.where) from None
        if not allow_empty and isinstance(result, Sized) and not isinstance(result, bool) \
                and len(result) == 0:
            raise self._error(
                f"The field {self._dotted()!r} of the card {self._card.name!r} is empty "
                f"(defined in {self._where(owner)}); pass allow_empty=True to accept that."
            )
        return result

    @overload
    def get_as_(self, kls: type[T], default: T | None = None, *,
                allow_empty: bool = False) -> T | None: ...

    @overload
    def get_as_(self, kls: object, default: Any = None, *, allow_empty: bool = False) -> Any: ...

    def get_as_(self, kls: object, default: Any = None, *, allow_empty: bool = False) -> Any:
        """Like `as_`, but DEFAULT when the field does not exist."""
        if not self.exists():
            return default
        return self.as_(kls, allow_empty=allow_empty)

    def set(self, value: object) -> None:
        """Set the field in the card's own fields (its bases do not change). VALUE may be
        anything a card holds, or a Path, an Enum member, a tuple or a set (stored as a
        string, a name and lists). Raises ValueError for any other value, and AssetCardError
        when a part of the path holds something other than a mapping."""
        try:
            plain = unstructure(value)
        except StructureError as exc:
            raise ValueError(f"Cannot set the field {self._dotted()!r} of the card "
                             f"{self._card.name!r}: {exc}.") from None
        self._card._set(self._path, plain)

    def as_string(self) -> str:
        return self.as_(str)

    def as_one_of(self, valid_values: Iterable[str]) -> str:
        valid = sorted(valid_values)
        if not valid:
            raise ValueError("as_one_of() needs at least one valid value")
        value, owner = self._find()
        if value not in valid:
            raise self._error(
                f"The field {self._dotted()!r} of the card {self._card.name!r} must be one of "
                f"{', '.join(map(repr, valid))}, but is {value!r} (defined in {self._where(owner)})."
            )
        return cast(str, value)

    def as_list(self, kls: type[T], allow_empty: bool = False) -> list[T]:
        return cast(list[T], self.as_(list[kls], allow_empty=allow_empty))  # type: ignore[valid-type]

    def as_dict(self, kls: type[T], allow_empty: bool = False) -> dict[str, T]:
        return cast(dict[str, T], self.as_(dict[str, kls],  # type: ignore[valid-type]
                                           allow_empty=allow_empty))

    def as_uri(self) -> str:
        """A URI; a path becomes file://. As in fairseq2 (0.3 and 0.8), a relative path
        resolves against the directory of the card retrieved (`card.base_path`: its file, or
        that of its `@user` override), wherever in the base chain the field is defined."""
        value = self.as_string()
        owner = self._find()[1]
        if _URI_RE.match(value):
            return value
        path = Path(value).expanduser()
        if not path.is_absolute():
            base_path = self._card.base_path
            if base_path is None:
                raise self._error(
                    f"The field {self._dotted()!r} of the card {self._card.name!r} is the "
                    f"relative path {value!r}, but the card has no directory to resolve it "
                    f"against (defined in {self._where(owner)})."
                )
            path = base_path / path
        return path.resolve().as_uri()

    def as_filename(self) -> str:
        value = self.as_string()
        if "/" in value or value in (".", ".."):
            owner = self._find()[1]
            raise self._type_error(owner, "a plain file name", value)
        return value

    def __repr__(self) -> str:
        return f"AssetCardField(card={self._card.name!r}, path={self._dotted()!r})"
