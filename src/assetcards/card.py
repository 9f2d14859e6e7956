"""AssetCard: a card's own fields, its base chain, and where it came from."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from .errors import AssetCardError, AssetCardFieldNotFoundError

T = TypeVar("T")

# The longest base chain a card may have, the card included: reading stops there and
# validation reports a longer chain, so that every card validation accepts can be read.
# Far deeper than any real chain; lookups recurse once per base, well within Python's stack.
MAX_BASE_DEPTH = 256

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
KINDS = ("model", "tokenizer", "dataset")


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
        *,
        provenance: Provenance | None = None,
        base_path: Path | None = None,
        field_base_paths: Mapping[str, Path] | None = None,
        overrides: Sequence[Provenance] = (),
    ) -> None:
        self._name = name
        self._metadata = {k: v for k, v in metadata.items() if not k.startswith("__")}
        self._base = base
        self._provenance = provenance or Provenance("inproc", "inproc")
        self._base_path = base_path
        self._field_base_paths = dict(field_base_paths or {})
        self._overrides = list(overrides)

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
        """The directory relative paths in this card's own fields resolve against."""
        return self._base_path

    @property
    def overrides(self) -> list[Provenance]:
        """The `name@env` / `name@user` cards merged over this one, in the order applied."""
        return list(self._overrides)

    def base_path_of(self, key: str) -> Path | None:
        """The directory a relative path in the top-level field KEY resolves against."""
        return self._field_base_paths.get(key, self._base_path)

    def base_chain(self) -> list[AssetCard]:
        """This card, then its base, then the base's base, and so on."""
        chain: list[AssetCard] = []
        card: AssetCard | None = self
        while card is not None:
            chain.append(card)
            card = card.base
        return chain

    def flatten(self) -> dict[str, Any]:
        """Every field, inherited ones included; a card's own fields win over its base's."""
        merged: dict[str, Any] = {}
        for card in reversed(self.base_chain()):
            merged.update(card.metadata)
        merged.pop("base", None)
        merged["name"] = self.name
        return merged

    def kind(self) -> str:
        return card_kind(self.flatten())

    def field(self, name: str) -> AssetCardField:
        return AssetCardField(self, [name])

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
        return str(self.flatten())


def _type_name(kls: Any) -> str:
    return getattr(kls, "__name__", str(kls))


def _is_instance(value: Any, kls: type[Any]) -> bool:
    if kls is object:
        return True
    if isinstance(value, bool) and kls in (int, float):
        return False
    if kls is float and isinstance(value, int):
        return True
    return isinstance(value, kls)


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

    def field(self, name: str) -> AssetCardField:
        return AssetCardField(self._card, self._path + [name])

    def exists(self) -> bool:
        return self._card._lookup(self._path) is not None

    def _dotted(self) -> str:
        return ".".join(self._path)

    def _where(self, owner: AssetCard | None = None) -> str:
        return str((owner or self._card).provenance)

    def _find(self) -> tuple[Any, AssetCard]:
        found = self._card._lookup(self._path)
        if found is None:
            raise AssetCardFieldNotFoundError(
                f"The card {self._card.name!r} has no field {self._dotted()!r} "
                f"(card from {self._where()})."
            )
        return found

    def _type_error(self, owner: AssetCard, expected: str, value: Any) -> AssetCardError:
        return AssetCardError(
            f"The field {self._dotted()!r} of the card {self._card.name!r} must be {expected}, "
            f"but is {type(value).__name__} ({value!r:.60}) (defined in {self._where(owner)})."
        )

    def as_unstructured(self) -> Any:
        return self._find()[0]

    def as_(self, kls: type[T], allow_empty: bool = False) -> T:
        value, owner = self._find()
        if not _is_instance(value, kls):
            raise self._type_error(owner, f"of type {_type_name(kls)}", value)
        if not allow_empty and isinstance(value, (str, list, dict)) and not value:
            raise AssetCardError(
                f"The field {self._dotted()!r} of the card {self._card.name!r} is empty "
                f"(defined in {self._where(owner)})."
            )
        return cast(T, value)

    def get_as_(self, kls: type[T], default: T | None = None) -> T | None:
        if not self.exists():
            return default
        return self.as_(kls, allow_empty=True)

    def as_string(self) -> str:
        return self.as_(str)

    def as_one_of(self, valid_values: Iterable[str]) -> str:
        valid = sorted(valid_values)
        value, owner = self._find()
        if value not in valid:
            raise AssetCardError(
                f"The field {self._dotted()!r} of the card {self._card.name!r} must be one of "
                f"{', '.join(map(repr, valid))}, but is {value!r} (defined in {self._where(owner)})."
            )
        return cast(str, value)

    def as_list(self, kls: type[T], allow_empty: bool = False) -> list[T]:
        value = self.as_(list, allow_empty=allow_empty)
        owner = self._find()[1]
        for index, element in enumerate(value):
            if not _is_instance(element, kls):
                raise self._type_error(owner, f"a list of {_type_name(kls)} (element {index})",
                                       element)
        return cast(list[T], value)

    def as_dict(self, kls: type[T], allow_empty: bool = False) -> dict[str, T]:
        value = self.as_(dict, allow_empty=allow_empty)
        owner = self._find()[1]
        for key, element in value.items():
            if not _is_instance(element, kls):
                raise self._type_error(owner, f"a mapping of {_type_name(kls)} (key {key!r})",
                                       element)
        return cast(dict[str, T], value)

    def as_uri(self) -> str:
        """A URI; a path relative to the card file that defines the field becomes file://."""
        value = self.as_string()
        owner = self._find()[1]
        if _URI_RE.match(value):
            return value
        path = Path(value).expanduser()
        if not path.is_absolute():
            base_path = owner.base_path_of(self._path[0])
            if base_path is None:
                raise AssetCardError(
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
