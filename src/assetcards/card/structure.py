"""Check a card's value against a type expression and convert it, as fairseq2 0.3's `as_()` does.

A card holds YAML values: None, bool, int, float, str, lists and mappings. `structure(value,
list[int])` returns the value when it fits the expression, converted where the expression asks
for it (a list becomes a set or a tuple, a string a Path or an Enum member, an int a float), and
otherwise raises StructureError naming the element at fault, as a suffix of the field's name:
`[2]` for the third element of a list, `['key']` for a mapping's value.

Scalars are strict: a bool is not an int, and a string is not parsed as a number.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Callable, Mapping, MutableSequence, Sequence, Set
from pathlib import Path, PurePath
from typing import Any, Literal, Union, get_args, get_origin

_Structurer = Callable[[Any, tuple[Any, ...], str], Any]


class StructureError(ValueError):
    """A value does not fit a type expression. `where` is the element's suffix (`[2]`)."""

    def __init__(self, where: str, expected: str, value: object) -> None:
        self.where = where
        self.expected = expected
        self.value = value
        super().__init__(f"{where or 'value'} must be {expected}, but is "
                         f"{describe(value)}")


def describe(value: object) -> str:
    """`str ('abc')`: a value's type and a short form of it, for messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} ({text})"


def type_name(type_: object) -> str:
    """`list[int]`, `str | None`, `int`: a type expression as a reader writes it."""
    if type_ is type(None) or type_ is None:
        return "None"
    if isinstance(type_, type) and not get_args(type_):
        return type_.__name__
    text = repr(type_)
    return text.replace("typing.", "").replace("collections.abc.", "")


def structure(value: object, type_: object, where: str = "") -> Any:
    """VALUE checked against TYPE_ and converted where it asks (see the module's docstring)."""
    if type_ is Any or type_ is object:
        return value
    if type_ is None or type_ is type(None):
        return _none(value, (), where)
    origin = get_origin(type_) or type_
    args = get_args(type_)
    structurer = _structurer(origin)
    if structurer is None:
        raise TypeError(f"cannot check a card's value against `{type_name(type_)}`: use None, "
                        "bool, int, float, str, Path, an Enum, list, tuple, set, dict, "
                        "Literal, Optional or a union of those")
    try:
        return structurer(value, args, where)
    except _Mismatch:
        raise StructureError(where, _expected(type_, origin, args), value) from None


def _expected(type_: object, origin: object, args: tuple[Any, ...]) -> str:
    if origin is Literal:
        return f"one of {', '.join(map(repr, args))}"
    return f"of type {type_name(type_)}"


class _Mismatch(Exception):
    """The value at this level does not fit: the caller names the whole expression."""


def _structurer(origin: Any) -> _Structurer | None:
    if origin in (Union, types.UnionType):
        return _union
    if origin is Literal:
        return _literal
    if isinstance(origin, type):
        if issubclass(origin, enum.Enum):
            return lambda value, _args, where: _enum(origin, value)
        for kls, structurer in _BY_CLASS:
            if origin is kls:
                return structurer
    return None


def _none(value: object, _args: tuple[Any, ...], _where: str) -> None:
    if value is not None:
        raise _Mismatch
    return None


def _bool(value: object, _args: tuple[Any, ...], _where: str) -> bool:
    if not isinstance(value, bool):
        raise _Mismatch
    return value


def _int(value: object, _args: tuple[Any, ...], _where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Mismatch
    return value


def _float(value: object, _args: tuple[Any, ...], _where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Mismatch
    return float(value)


def _str(value: object, _args: tuple[Any, ...], _where: str) -> str:
    if not isinstance(value, str):
        raise _Mismatch
    return value


def _path(value: object, _args: tuple[Any, ...], _where: str) -> Path:
    if isinstance(value, PurePath):
        return Path(value)
    if not isinstance(value, str) or not value:
        raise _Mismatch
    return Path(value)


def _enum(kls: type[enum.Enum], value: object) -> enum.Enum:
    if isinstance(value, kls):
        return value
    if isinstance(value, str) and value in kls.__members__:
        return kls[value]
    raise _Mismatch


def _literal(value: object, args: tuple[Any, ...], _where: str) -> object:
    for allowed in args:
        if value == allowed and type(value) is type(allowed):
            return value
    raise _Mismatch


def _union(value: object, args: tuple[Any, ...], where: str) -> object:
    alternatives = [a for a in args if a is not type(None)]
    if value is None and len(alternatives) < len(args):
        return None
    if len(alternatives) == 1:  # Optional[X]: X's own error names the element at fault
        return structure(value, alternatives[0], where)
    for alternative in alternatives:
        try:
            return structure(value, alternative, where)
        except StructureError:
            continue
    raise _Mismatch


def _elements(value: object, args: tuple[Any, ...], where: str) -> list[Any]:
    """The elements of a YAML list, each checked against the one element type in ARGS."""
    if not isinstance(value, (MutableSequence, tuple, Set, frozenset)) or isinstance(value, str):
        raise _Mismatch
    element_type = args[0] if args else object
    return [structure(e, element_type, f"{where}[{i}]") for i, e in enumerate(value)]


def _list(value: object, args: tuple[Any, ...], where: str) -> list[Any]:
    return _elements(value, args, where)


def _set(value: object, args: tuple[Any, ...], where: str) -> set[Any]:
    elements = _elements(value, args, where)
    try:
        result = set(elements)
    except TypeError:
        raise _Mismatch from None
    if len(result) != len(elements):
        seen: list[Any] = []
        for index, element in enumerate(elements):
            if element in seen:
                raise StructureError(f"{where}[{index}]", "unique (a set holds each value once)",
                                     element)
            seen.append(element)
    return result


def _frozenset(value: object, args: tuple[Any, ...], where: str) -> frozenset[Any]:
    return frozenset(_set(value, args, where))


def _tuple(value: object, args: tuple[Any, ...], where: str) -> tuple[Any, ...]:
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        return tuple(_elements(value, args[:1], where))
    if args == ((),):  # tuple[()]
        args = ()
    if not isinstance(value, (list, tuple)) or len(value) != len(args):
        raise _Mismatch
    pairs = enumerate(zip(value, args, strict=True))
    return tuple(structure(e, t, f"{where}[{i}]") for i, (e, t) in pairs)


def _dict(value: object, args: tuple[Any, ...], where: str) -> dict[Any, Any]:
    if not isinstance(value, Mapping):
        raise _Mismatch
    key_type, value_type = args if len(args) == 2 else (object, object)
    result: dict[Any, Any] = {}
    for key, element in value.items():
        inner = f"{where}[{key!r}]"
        result[structure(key, key_type, inner + " (the key)")] = structure(element, value_type,
                                                                           inner)
    return result


_BY_CLASS: tuple[tuple[type[Any], _Structurer], ...] = (
    (bool, _bool), (int, _int), (float, _float), (str, _str),
    (Path, _path), (PurePath, _path),
    (list, _list), (Sequence, _list), (MutableSequence, _list),
    (set, _set), (Set, _set), (frozenset, _frozenset),
    (tuple, _tuple),
    (dict, _dict), (Mapping, _dict),
)


def unstructure(value: object, where: str = "") -> object:
    """VALUE as a card holds it (None, bool, int, float, str, list, dict), for `set()`:
    a Path becomes a string, an Enum member its name, a tuple or set a list."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, Mapping):
        return {unstructure(k, where): unstructure(v, f"{where}[{k!r}]")
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [unstructure(e, f"{where}[{i}]") for i, e in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return [unstructure(e, where) for e in value]
    raise StructureError(where, "None, bool, int, float, str, a Path, an Enum member, or a "
                                "list or mapping of those", value)
