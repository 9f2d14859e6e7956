"""Values that YAML 1.1 and YAML 1.2 read differently.

We, PyYAML and fairseq2 0.3 read cards as YAML 1.1; fairseq2 0.8 reads them as YAML 1.2 (core
schema). A plain (unquoted) scalar such as `yes`, `off`, `0755`, `1:30`, `1_000` or `1e3` means
one thing to the first group and another to the second, so the same card would differ between
readers. Validation reports each such value, with the spelling that means the same to both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import Problem, ProblemCode

_TAG = "tag:yaml.org,2002:"
_STR, _BOOL, _INT, _FLOAT, _NULL = (_TAG + t for t in ("str", "bool", "int", "float", "null"))

# A cheap test of a whole file's bytes: only files where it matches are looked at closely.
_CANDIDATE = re.compile(
    rb"\b(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)\b"  # booleans of 1.1 only
    rb"|(?<![\w.])[-+]?0[0-9box]"  # octal, binary, 0o and signed hex
    rb"|[0-9]_|_[0-9]"  # digit separators
    rb"|[0-9]:[0-5]?[0-9]"  # base 60
    rb"|[0-9.][eE][-+]?[0-9]"  # exponents
    rb"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"  # dates
    rb"|\.(?:inf|Inf|INF|nan|NaN|NAN)\b"
)

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_BOOL12 = re.compile(r"true|True|TRUE|false|False|FALSE")
_NULL12 = re.compile(r"|~|null|Null|NULL")
_INT10 = re.compile(r"[-+]?[0-9]+")
_INT8 = re.compile(r"0o[0-7]+")
_INT16 = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT12 = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF12 = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN12 = re.compile(r"\.(?:nan|NaN|NAN)")


def may_differ(data: bytes) -> bool:
    """Whether any plain scalar of DATA might read differently under YAML 1.1 and 1.2."""
    return _CANDIDATE.search(data) is not None


def read_as_12(text: str) -> Any:
    """The value of a plain scalar TEXT under YAML 1.2's core schema."""
    if _NULL12.fullmatch(text):
        return None
    if _BOOL12.fullmatch(text):
        return text.lower() == "true"
    if _INT10.fullmatch(text):
        return int(text, 10)
    if _INT8.fullmatch(text):
        return int(text[2:], 8)
    if _INT16.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT12.fullmatch(text):
        return float(text)
    if _INF12.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN12.fullmatch(text):
        return math.nan
    return text


def read_as_11(node: ScalarNode) -> Any:
    """The value PyYAML (YAML 1.1) gives the plain scalar NODE, from the tag it resolved."""
    import yaml

    if node.tag == _STR:
        return node.value
    try:
        return yaml.load(node.value, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return node.value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _plain_scalars(node: Node, path: str) -> Iterator[tuple[str, ScalarNode]]:
    stack: list[tuple[str, Node]] = [(path, node)]
    while stack:
        where, current = stack.pop()
        if isinstance(current, ScalarNode):
            # Plain (None from PyYAML, "" from libyaml) and written as its bare value: a
            # scalar whose text is longer has an explicit tag (`!!str 0755`) or an anchor,
            # which both versions honour alike.
            span = current.end_mark.index - current.start_mark.index
            if not current.style and span == len(current.value):
                yield where, current
        elif isinstance(current, MappingNode):
            for key, value in reversed(current.value):
                label = key.value if isinstance(key, ScalarNode) else "?"
                stack.append((f"{where}.{label}" if where else str(label), value))
        elif isinstance(current, SequenceNode):
            for i, item in reversed(list(enumerate(current.value))):
                stack.append((f"{where}[{i}]", item))


def _advice(text: str, old: Any) -> str:
    """The spelling that means OLD (YAML 1.1's reading) to every reader, or the quoted text."""
    quoted = f"quote it ('{text}') for a string"
    if isinstance(old, bool):
        return f"write {str(old).lower()} for a boolean, or {quoted}"
    if isinstance(old, (int, float)):
        return f"write {old!r} for the number, or {quoted}"
    return quoted


def version_problems(root: MappingNode, file: str, card: str) -> list[Problem]:
    """A problem for each plain scalar under ROOT that YAML 1.1 and 1.2 read differently."""
    problems = []
    for where, node in _plain_scalars(root, ""):
        if node.tag == _STR and _NULL12.fullmatch(node.value) is None and not _looks_typed(
                node.value):
            continue
        old, new = read_as_11(node), read_as_12(node.value)
        if _same(old, new):
            continue
        mark = node.start_mark
        problems.append(Problem(
            file, mark.line + 1, mark.column + 1, card,
            f"field '{where}': {node.value!r} reads as {old!r} in YAML 1.1 (assetcards, fairseq2 "
            f"0.3) but as {new!r} in YAML 1.2 (fairseq2 0.8); {_advice(node.value, old)}",
            key=where.split(".", 1)[0].split("[", 1)[0], code=ProblemCode.YAML_VERSION))
    return problems


def _looks_typed(text: str) -> bool:
    """Whether YAML 1.2 might read TEXT (a string to YAML 1.1) as something else."""
    return read_as_12(text) is not text
