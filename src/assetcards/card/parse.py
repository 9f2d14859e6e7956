"""YAML bytes -> card documents, each marked with its file, line and column.

Only PyYAML's libyaml-backed ``CSafeLoader`` is used. Hostile input is bounded before it can
hurt: file size, nesting depth (libyaml's composer recurses in C and crashes on very deep input)
and alias expansion ("billion laughs") are all checked, and every failure becomes a ``Problem``
with a location instead of an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import Problem, ProblemCode
from .yamlversions import may_differ, version_problems

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 100_000
MAX_NAME_LENGTH = 200
# Each level of nesting starts with one of these indicators, so a document cannot nest deeper
# than the number of them in its file. libyaml's composer recurses in C and crashes somewhere
# past 10,000 levels; a file with fewer indicators than _COMPOSER_SAFE_DEPTH is composed
# without the (costly) event-level depth scan, and MAX_DEPTH is then enforced on the value.
_COMPOSER_SAFE_DEPTH = 2000
_NESTING_BYTES = b"[{-?:"  # every indicator contains one of these
_NOT_NESTING = bytes(b for b in range(256) if b not in _NESTING_BYTES)

NAME_PATTERN = r"[A-Za-z0-9_.\-]+(@[A-Za-z0-9_.\-]+)?"
_NAME_RE = re.compile(NAME_PATTERN)
_WORD_CHAR_RE = re.compile(r"[A-Za-z0-9_]")
CARD_SUFFIXES = (".yaml", ".yml")
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class CardLoader(yaml.CSafeLoader):
    """libyaml's safe loader with PyYAML's tag resolution made cheap. libyaml's composer calls
    back into Python for every node: `resolve` (a regex per plain scalar) and the path-resolver
    hooks (no-ops: no path resolver is registered here). The answer of `resolve` depends only
    on its arguments, and cards repeat their keys and many values, so it is remembered (for a
    bounded number of distinct arguments). Nothing else changes: same tags, same values."""

    _resolved: ClassVar[dict[tuple[type[Node], str | None, Any], str]] = {}
    _RESOLVED_MAX: ClassVar[int] = 8192

    def resolve(self, kind: type[Node], value: str | None, implicit: Any) -> str:
        key = (kind, value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
            if len(self._resolved) < self._RESOLVED_MAX:
                self._resolved[key] = tag
        return tag

    def descend_resolver(self, current_node: Node | None, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


@dataclass(frozen=True)
class CardDoc:
    """One card as written in one file: its fields and where each of them stands."""

    name: str
    metadata: Mapping[str, Any]
    file: str
    line: int
    col: int = 1
    key_lines: Mapping[str, int] = field(default_factory=dict)
    # Every key, at every level of the metadata, is a string (JSON can carry it as it is).
    string_keys: bool = field(default=False, compare=False)

    def key_line(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


@dataclass
class ParsedFile:
    file: str
    cards: list[CardDoc] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def is_card_path(path: str) -> bool:
    """A card file: ends in .yaml/.yml and no component of its path is hidden."""
    return path.endswith(CARD_SUFFIXES) and not path.startswith(".") and "/." not in path


def check_name(name: object) -> str | None:
    """Return what is wrong with a card name, or None when it is well formed."""
    if not isinstance(name, str):
        return f"'name' must be a string, not {type(name).__name__}"
    if not name:
        return "'name' is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"'name' is longer than {MAX_NAME_LENGTH} characters"
    if not _NAME_RE.fullmatch(name):
        return (
            f"name {name!r} is not valid: use letters, digits, '_', '-' and '.', "
            "with an optional '@env' suffix"
        )
    if not _WORD_CHAR_RE.search(name.split("@", 1)[0]) or (
            "@" in name and not _WORD_CHAR_RE.search(name.split("@", 1)[1])):
        return f"name {name!r} is not valid: it needs a letter, a digit or '_' (before and " \
            "after any '@')"
    return None


def parse_file(data: bytes, file: str, *, max_bytes: int = MAX_FILE_BYTES) -> ParsedFile:
    """Parse one card file. Never raises for bad content: problems are returned."""
    result = ParsedFile(file)
    if len(data) > max_bytes:
        result.problems.append(
            Problem(file, 1, 1, message=f"file is {len(data)} bytes, over the limit of {max_bytes}",
                    code=ProblemCode.TOO_LARGE)
        )
        return result
    nesting = _nesting_bound(data)
    if nesting > _COMPOSER_SAFE_DEPTH:
        depth_problem = _depth_problem(data, file)
        if depth_problem is not None:
            result.problems.append(depth_problem)
            return result
    for item in _documents(data, file, check_depth=nesting > MAX_DEPTH):
        if isinstance(item, Problem):
            result.problems.append(item)
        else:
            card, problems = item
            result.problems.extend(problems)
            if card is not None:
                result.cards.append(card)
    return result


def _documents(data: bytes, file: str, check_depth: bool = True
               ) -> Iterator[Problem | tuple[CardDoc | None, list[Problem]]]:
    loader = CardLoader(data)
    check_aliases = b"*" in data
    check_versions = may_differ(data)
    try:
        while True:
            try:
                if not loader.check_node():
                    return
                node = loader.get_node()
            except yaml.YAMLError as exc:
                yield _yaml_problem(exc, data, file)
                return
            except RecursionError:
                yield Problem(file, 1, 1, message=f"nested deeper than {MAX_DEPTH} levels",
                              code=ProblemCode.TOO_DEEP)
                return
            if node is None:
                continue
            if check_aliases:
                alias_problem = _alias_problem(node, file)
                if alias_problem is not None:
                    yield alias_problem
                    continue
            if check_depth:
                depth_problem = _too_deep(node, file)
                if depth_problem is not None:
                    yield depth_problem
                    continue
            card, problems = _card_from_node(loader, node, file, plain=not check_aliases)
            if card is not None and check_versions and isinstance(node, MappingNode):
                problems = version_problems(node, file, card.name)
            yield card, problems
    finally:
        loader.dispose()


def _card_from_node(
    loader: CardLoader, node: Node, file: str, plain: bool = False
) -> tuple[CardDoc | None, list[Problem]]:
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    if not isinstance(node, MappingNode):
        if isinstance(node, ScalarNode) and node.tag.endswith(":null"):
            return None, [Problem(file, line, col, message="empty YAML document (a stray '---', "
                                  "or a document of only comments): fairseq2 refuses the whole "
                                  "directory when it meets one; remove it", code=ProblemCode.EMPTY_DOCUMENT)]
        kind = "a list" if isinstance(node, SequenceNode) else "a scalar"
        return None, [Problem(file, line, col, message=f"document is {kind}, not a mapping (a card "
                              "is a mapping of fields)", code=ProblemCode.NOT_MAPPING)]
    try:
        value: Any = _plain_value(loader, node) if plain else None
        string_keys = value is not None
        if value is None:
            value = loader.construct_document(node)
    except yaml.YAMLError as exc:
        _reset(loader)
        return None, [_constructor_problem(exc, file, line, col)]
    except _CONSTRUCTOR_BUGS:  # PyYAML fails so on some tagged scalars (`!!int ` with no value)
        _reset(loader)
        return None, [_unreadable_scalar(loader, node, file, line, col)]
    except RecursionError:
        _reset(loader)
        return None, [Problem(file, line, col, message=f"nested deeper than {MAX_DEPTH} levels",
                              code=ProblemCode.TOO_DEEP)]
    if not isinstance(value, dict):  # a mapping node tagged !!set builds a set
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        return None, [Problem(file, line, col, message=f"document is tagged {tag}, not a mapping "
                              "(a card is a mapping of fields)", code=ProblemCode.NOT_MAPPING)]
    key_lines, problems = _key_lines(node, value, string_keys, file, line, col)
    name: Any = value.get("name")
    if "name" not in value:
        problems.append(Problem(file, line, col, message="card has no 'name' field",
                                key="name", code=ProblemCode.NO_NAME))
        return None, problems
    name_problem = check_name(name)
    if name_problem is not None:
        problems.append(Problem(file, key_lines.get("name", line), _key_col(node, "name", col),
                                card=name if isinstance(name, str) else "",
                                message=name_problem, key="name", code=ProblemCode.BAD_NAME))
        return None, problems
    if problems:
        return None, [Problem(p.file, p.line, p.col, name, p.message, p.key, p.code)
                      for p in problems]
    return CardDoc(name, value, file, line, col, key_lines, string_keys), []


def _key_lines(node: MappingNode, value: Mapping[Any, Any], string_keys: bool, file: str,
               line: int, col: int) -> tuple[dict[str, int], list[Problem]]:
    """The line of each field of the card NODE, and the problems of its keys."""
    key_lines: dict[str, int] = {}
    problems: list[Problem] = []
    if string_keys:  # the common case: every key a plain string, no merge key
        for key_node, _ in node.value:
            key = key_node.value
            if key in key_lines:
                problems.append(_duplicate_key(file, key_node, key_lines[key]))
            else:
                key_lines[key] = key_node.start_mark.line + 1
    else:
        odd_keys: list[tuple[int, int]] = []  # where keys that are not strings stand, in order
        for key_node, _ in node.value:
            if key_node.tag == _STR_TAG:
                if key_node.value in key_lines:
                    problems.append(_duplicate_key(file, key_node, key_lines[key_node.value]))
                else:
                    key_lines[key_node.value] = key_node.start_mark.line + 1
            elif key_node.tag != _MERGE_TAG:
                odd_keys.append((key_node.start_mark.line + 1, key_node.start_mark.column + 1))
        for key in value:
            if not isinstance(key, str):
                key_line, key_col = odd_keys.pop(0) if odd_keys else (line, col)
                problems.append(Problem(file, key_line, key_col, message=f"field name {key!r} "
                                        "is not a string", code=ProblemCode.BAD_KEY))
    return key_lines, problems


def _duplicate_key(file: str, key_node: Node, first_line: int) -> Problem:
    key = key_node.value
    return Problem(file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                   message=f"field {key!r} is given twice (first on line {first_line}); YAML "
                   "would keep only the last", key=key, code=ProblemCode.DUPLICATE_KEY)


def _key_col(node: MappingNode, key: str, default: int) -> int:
    """The column where KEY first stands among the keys of NODE."""
    for key_node, _ in node.value:
        if key_node.tag == _STR_TAG and key_node.value == key:
            return int(key_node.start_mark.column) + 1
    return default


class _NotPlain(Exception):
    """The document needs PyYAML's full constructor (a merge key, a set, a non-string key)."""


_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


def _plain_value(loader: CardLoader, root: Node) -> dict[str, Any] | None:
    """The value of a plain card document (mappings with string keys, sequences, scalars; no
    aliases), built straight from the nodes: the same value PyYAML's SafeConstructor gives, at
    a fraction of its cost. Every non-string scalar is built by PyYAML's own constructor for
    its tag. None when the document is not plain; then the full constructor runs."""
    constructors = loader.yaml_constructors

    def value(node: Node) -> Any:
        kind = type(node)
        if kind is ScalarNode:
            if node.tag == _STR_TAG:
                return node.value
            construct = constructors.get(node.tag)
            if construct is None:
                raise _NotPlain
            return construct(loader, node)
        if kind is MappingNode and node.tag == _MAP_TAG:
            mapping = {}
            for key, item in node.value:
                if type(key) is not ScalarNode or key.tag != _STR_TAG:
                    raise _NotPlain
                mapping[key.value] = value(item)
            return mapping
        if kind is SequenceNode and node.tag == _SEQ_TAG:
            return [value(item) for item in node.value]
        raise _NotPlain

    try:
        result = value(root)
    except _NotPlain:
        return None
    return result if isinstance(result, dict) else None


def _reset(loader: CardLoader) -> None:
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.state_generators = []


def _yaml_problem(exc: yaml.YAMLError, data: bytes, file: str) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError):
        line = data[: exc.position].count(b"\n") + 1
        col = exc.position - (data.rfind(b"\n", 0, exc.position) + 1) + 1
        return Problem(file, line, col, message=f"not a YAML text file: {exc.reason} "
                       f"(byte {exc.position})", code=ProblemCode.NOT_TEXT)
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        if _is_nesting_limit(exc):
            return Problem(file, mark.line + 1, mark.column + 1,
                           message=f"nested deeper than {MAX_DEPTH} levels", code=ProblemCode.TOO_DEEP)
        context = f" ({exc.context})" if exc.context else ""
        return Problem(file, mark.line + 1, mark.column + 1,
                       message=f"YAML syntax error: {exc.problem}{context}", code=ProblemCode.SYNTAX)
    return Problem(file, 1, 1, message=f"YAML error: {exc}", code=ProblemCode.SYNTAX)


def _is_nesting_limit(exc: yaml.MarkedYAMLError) -> bool:
    """libyaml (from the one PyYAML 6.0.4 bundles) stops deep nesting itself: a nesting limit is
    a limit whichever component enforces it, so it reads as ours, never as a syntax error."""
    return "maximum nesting depth" in str(exc.problem or "")


def _constructor_problem(exc: yaml.YAMLError, file: str, line: int, col: int) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        line, col = exc.problem_mark.line + 1, exc.problem_mark.column + 1
    text = str(getattr(exc, "problem", None) or exc)
    if text == "found unhashable key":
        return Problem(file, line, col, message="field name is not a string (a list or mapping "
                       "used as a key)", code=ProblemCode.BAD_KEY)
    match = re.search(r"tag '([^']*)'", text)
    if match:
        tag = match.group(1).replace("tag:yaml.org,2002:", "!!")
        return Problem(file, line, col, message=f"unsafe or unknown YAML tag '{tag}' is not "
                       "allowed in a card", code=ProblemCode.UNSAFE_TAG)
    return Problem(file, line, col, message=f"YAML error: {text}", code=ProblemCode.SYNTAX)


def _nesting_bound(data: bytes) -> int:
    """An upper bound of how deep any document of DATA can nest (cheap: a few byte counts)."""
    if len(data) <= MAX_DEPTH:
        return len(data)
    return len(data.translate(None, _NOT_NESTING))  # one pass in C: keep only indicators


def _too_deep(root: Node, file: str) -> Problem | None:
    """The first node nested deeper than MAX_DEPTH, as a problem (iterative: no recursion)."""
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            mark = node.start_mark
            return Problem(file, mark.line + 1, mark.column + 1,
                           message=f"nested deeper than {MAX_DEPTH} levels", code=ProblemCode.TOO_DEEP)
        for child in _children(node):
            if isinstance(child, (MappingNode, SequenceNode)):
                stack.append((child, depth + 1))
    return None


def _depth_problem(data: bytes, file: str) -> Problem | None:
    """Scan the event stream (flat, no recursion) for nesting deeper than MAX_DEPTH."""
    depth = 0
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    try:
        for event in yaml.parse(data, Loader=yaml.CSafeLoader):
            if isinstance(event, starts):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
                    return Problem(file, line, col,
                                   message=f"nested deeper than {MAX_DEPTH} levels",
                                   code=ProblemCode.TOO_DEEP)
            elif isinstance(event, ends):
                depth -= 1
    except yaml.YAMLError as exc:
        return _yaml_problem(exc, data, file)
    return None


def _alias_problem(root: Node, file: str) -> Problem | None:
    """Count the nodes the document would expand to; aliases are counted at full size."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            if total > MAX_EXPANDED_NODES:
                return _expansion_problem(root, file)
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in active:
            mark = node.start_mark
            return Problem(file, mark.line + 1, mark.column + 1,
                           message="recursive YAML alias is not allowed in a card",
                           code=ProblemCode.ALIAS_RECURSION)
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return None


def _expansion_problem(root: Node, file: str) -> Problem:
    line, col = (root.start_mark.line + 1, root.start_mark.column + 1) if root.start_mark else (1, 1)
    return Problem(file, line, col,
                   message=f"YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes "
                   "(an alias bomb?)", code=ProblemCode.ALIAS_BOMB)


_CONSTRUCTOR_BUGS = (ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError)


def _unreadable_scalar(loader: CardLoader, root: Node, file: str, line: int,
                       col: int) -> Problem:
    """The first scalar under ROOT that PyYAML's constructor for its tag cannot build (such as
    `!!timestamp` or `!!int` with an empty or impossible value), as a problem at its place."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ScalarNode) and node.tag != _STR_TAG:
            construct = loader.yaml_constructors.get(node.tag)
            try:
                if construct is not None:
                    construct(loader, node)
            except _CONSTRUCTOR_BUGS:
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                return Problem(file, node.start_mark.line + 1, node.start_mark.column + 1,
                               message=f"{node.value!r:.40} is not a valid {tag} value; quote "
                               "it to keep it as text, or fix it", code=ProblemCode.BAD_VALUE)
        stack.extend(reversed(_children(node)))
    return Problem(file, line, col, message="a value of this card cannot be read",
                   code=ProblemCode.BAD_VALUE)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [item for pair in node.value for item in pair]
    return []
