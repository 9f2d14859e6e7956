"""Rules -> problems. Used by `cards validate`, the git hooks, CI and `cards sync`.

Input is a set of parsed cards (one store, directory, commit or index) and, optionally, the
cards of other stores whose names must not collide and whose cards may serve as bases.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem, ProblemCode
from . import uris
from .manifest import Manifest
from .model import MAX_BASE_DEPTH, card_kind
from .parse import CardDoc, ParsedFile

CHECKPOINT_SCHEMES = uris.CHECKPOINT_SCHEMES
PATH_FIELDS = ("checkpoint", "tokenizer", "data")  # the fields fairseq2 reads as a URI or path
# Problems that break only the card they are found in, never another card or a reader of the
# whole root: they fail a validation, but do not keep a sync from pinning the commit.
CARD_LOCAL = frozenset({ProblemCode.MISSING_BASE, ProblemCode.RELATIVE_PATH_IN_BASE})
PLACEHOLDER = "TODO"
_PLACEHOLDER_PREFIX = PLACEHOLDER + ":"


@dataclass
class CardSet:
    """The cards of one place, as parsed."""

    label: str
    files: list[ParsedFile] = field(default_factory=list)

    @property
    def docs(self) -> list[CardDoc]:
        return [doc for f in self.files for doc in f.cards]


def validate(
    primary: CardSet,
    others: Sequence[CardSet] = (),
    manifest: Manifest | None = None,
    only_files: set[str] | None = None,
    removed_names: set[str] | None = None,
) -> list[Problem]:
    """Every problem of PRIMARY's cards, checked against OTHERS. With ONLY_FILES, report only
    problems located in those files (the rest of the store still serves as context), and the
    broken links of cards elsewhere that used one of REMOVED_NAMES (cards the change removed
    or renamed) as their base or override target, and the relative paths of cards elsewhere
    that a card in those files inherits from another directory."""
    index = _Index(primary, others)
    files = [f for f in primary.files if only_files is None or f.file in only_files]
    problems = [p for f in files for p in f.problems]
    problems += _duplicates(primary, others)
    for parsed in files:
        for doc in parsed.cards:
            problems += _check_card(doc, index, manifest)
    if only_files is not None:
        problems = [p for p in problems if p.file in only_files]
        if removed_names:
            problems += _users_of(primary, removed_names, only_files, index)
        problems += _bases_of(primary, only_files, index)
    return sorted(set(problems))


def _bases_of(primary: CardSet, files: set[str], index: _Index) -> list[Problem]:
    """The shared relative paths (see _shared_relative_paths) of cards outside FILES that a
    card in FILES inherits: a new card in another directory is caught when it is added."""
    problems = []
    for parsed in primary.files:
        if parsed.file in files:
            continue
        for doc in parsed.cards:
            problems += _shared_relative_paths(doc, index, (primary.label, files))
    return problems


def _users_of(primary: CardSet, names: set[str], skip_files: set[str],
              index: _Index) -> list[Problem]:
    problems = []
    for parsed in primary.files:
        if parsed.file in skip_files:
            continue
        for doc in parsed.cards:
            base = doc.metadata.get("base")
            plain = doc.name.split("@", 1)[0] if "@" in doc.name else None
            if (isinstance(base, str) and base in names) or plain in names:
                problems += [p for p in _check_card(doc, index, None)
                             if p.code in (ProblemCode.MISSING_BASE, ProblemCode.ORPHAN_OVERRIDE)]
    return problems


class _Index:
    def __init__(self, primary: CardSet, others: Sequence[CardSet]) -> None:
        self.by_name: dict[str, CardDoc] = {}
        self.used_as_base: set[str] = set()
        self.users: dict[str, list[CardDoc]] = {}  # name -> the cards whose base or target it is
        self.place: dict[int, tuple[str, str]] = {}  # id(doc) -> (set label, directory)
        for card_set in [*others, primary]:  # primary wins for lookups
            for parsed in card_set.files:
                for doc in parsed.cards:
                    self.by_name[doc.name] = doc
                    self.place[id(doc)] = (card_set.label, posixpath.dirname(doc.file))
                    base = doc.metadata.get("base")
                    if type(base) is str:
                        self.used_as_base.add(base)
                    target = doc.name.split("@", 1)[0] if "@" in doc.name else base
                    if type(target) is str:
                        self.users.setdefault(target, []).append(doc)
        self._chains: dict[int, tuple[list[CardDoc], str | None]] = {}
        self.too_long: dict[int, CardDoc] = {}  # id(doc) -> the first base past the limit
        self._inherited: dict[int, tuple[Mapping[str, Any], str]] = {}

    def suggest(self, name: str) -> str:
        """`; did you mean 'a', 'b'?` naming the cards closest to NAME, or nothing."""
        plain = [n for n in self.by_name if "@" not in n]
        close = difflib.get_close_matches(name, plain, n=3)
        return f"; did you mean {', '.join(map(repr, close))}?" if close else ""

    def chain(self, doc: CardDoc) -> tuple[list[CardDoc], str | None]:
        """The base chain of DOC, and a description of its loop, if any (computed once)."""
        key = id(doc)
        found = self._chains.get(key)
        if found is None:
            found = self._chains[key] = self._chain(doc)
        return found

    def _chain(self, doc: CardDoc) -> tuple[list[CardDoc], str | None]:
        chain = [doc]
        seen = {doc.name}
        current = doc
        if "@" in doc.name:
            plain = self.by_name.get(doc.name.split("@", 1)[0])
            if plain is not None:
                chain.append(plain)
                seen.add(plain.name)
                current = plain
        while isinstance(current.metadata.get("base"), str):
            base_name = current.metadata["base"]
            if base_name in seen:
                names = [d.name for d in chain] + [base_name]
                return chain, "loop: " + " -> ".join(names[names.index(base_name):])
            base = self.by_name.get(base_name)
            if base is None:
                return chain, None
            if _cards_in(chain) >= MAX_BASE_DEPTH:  # readers stop here: so does the walk
                self.too_long[id(doc)] = base
                return chain, None
            chain.append(base)
            seen.add(base_name)
            current = base
        return chain, None

    def inherited(self, doc: CardDoc) -> tuple[Mapping[str, Any], str]:
        """The fields DOC's base chain gives it (its own are not included), and the kind of
        card they make; computed once per base and shared: not to be modified."""
        chain, loop = self.chain(doc)
        if len(chain) == 1:
            return _NOTHING, "other"
        key = id(chain[1])  # a chain without loop goes on from its base the same way always
        found = self._inherited.get(key) if loop is None else None
        if found is None:
            merged: dict[str, Any] = {}
            for d in reversed(chain[1:]):
                merged.update(d.metadata)
            found = (merged, card_kind(merged))
            if loop is None:
                self._inherited[key] = found
        return found


def _cards_in(chain: Sequence[CardDoc]) -> int:
    """How many cards a reader walks for CHAIN (an override is merged into its card)."""
    return len(chain) - (1 if "@" in chain[0].name else 0)


def _too_long(doc: CardDoc, chain: Sequence[CardDoc], past: CardDoc) -> Problem:
    names = [d.name for d in chain]
    shown = " -> ".join([*names[:2], "...", *names[-2:]]) if len(names) > 4 else " -> ".join(
        names)
    return _problem(doc, "base", f"base chain is longer than {MAX_BASE_DEPTH} cards, which "
                    f"readers refuse: {shown} -> {past.name} ({past.file}:{past.line}); make "
                    "it shorter", ProblemCode.BASE_TOO_DEEP)


_NOTHING: Mapping[str, Any] = {}
_KIND_RANK = {"model": 0, "tokenizer": 1, "dataset": 2, "other": 3}  # as card_kind decides


def _problem(doc: CardDoc, key: str, message: str, code: ProblemCode) -> Problem:
    return Problem(doc.file, doc.key_line(key), doc.col if key not in doc.key_lines else 1,
                   doc.name, message, key, code)


def _check_card(doc: CardDoc, index: _Index, manifest: Manifest | None) -> list[Problem]:
    problems: list[Problem] = []
    metadata = doc.metadata
    base = metadata.get("base")
    if base is not None:
        if not isinstance(base, str):
            problems.append(_problem(doc, "base", f"'base' must be a card name, not "
                                     f"{type(base).__name__}", ProblemCode.BAD_BASE))
        elif base not in index.by_name:
            problems.append(_problem(doc, "base", f"base card {base!r} does not exist here or "
                                     f"in any tracked store{index.suggest(base)}",
                                     ProblemCode.MISSING_BASE))
    if "@" in doc.name:
        plain = doc.name.split("@", 1)[0]
        if plain not in index.by_name:
            problems.append(_problem(doc, "name", f"override card {doc.name!r} has no card "
                                     f"{plain!r} to override", ProblemCode.ORPHAN_OVERRIDE))
    chain, loop = index.chain(doc)
    if loop and base is not None:
        problems.append(_problem(doc, "base", f"base chain {loop}", ProblemCode.BASE_CYCLE))
    if id(doc) in index.too_long:
        problems.append(_too_long(doc, chain, index.too_long[id(doc)]))
    inherited, inherited_kind = index.inherited(doc)
    kind = min(card_kind(metadata), inherited_kind, key=_KIND_RANK.__getitem__)
    concrete = "@" not in doc.name and doc.name not in index.used_as_base
    if kind == "model" and concrete and not _has_weights(metadata, inherited):
        problems.append(_problem(doc, "name", "model card has no 'checkpoint' (add a URI "
                                     "or a path relative to the card file)", ProblemCode.NO_CHECKPOINT))
    problems += _checkpoint_problems(doc)
    problems += _shared_relative_paths(doc, index)
    for key, value in metadata.items():
        if isinstance(value, str) and value.startswith(PLACEHOLDER) and (
                value == PLACEHOLDER or value.startswith(_PLACEHOLDER_PREFIX)):
            problems.append(_problem(doc, key, f"field {key!r} is a placeholder; fill it in",
                                     ProblemCode.PLACEHOLDER))
    if manifest is not None and manifest.rules:
        problems += _manifest_rules(doc, inherited, kind, manifest, concrete)
    return problems


def _is_relative_path(value: str) -> bool:
    return bool(value) and not value.startswith("/") and not uris.has_scheme(value)


def _shared_relative_paths(doc: CardDoc, index: _Index,
                           only_readers: tuple[str, set[str]] | None = None) -> list[Problem]:
    """A relative path in DOC that cards in other directories inherit (as their base, or as
    overrides of DOC). fairseq2 resolves a relative path against the file of the card
    retrieved, so each of them would read a different file. With ONLY_READERS (a set label
    and files), only the paths that a card in one of those files inherits."""
    problems = []
    for key in PATH_FIELDS:
        value = doc.metadata.get(key)
        if not isinstance(value, str) or not _is_relative_path(value):
            continue
        elsewhere = sorted(_readers_elsewhere(doc, key, index), key=lambda d: (d.file, d.line))
        if only_readers is not None and not any(
                index.place.get(id(d), ("", ""))[0] == only_readers[0]
                and d.file in only_readers[1] for d in elsewhere):
            continue
        if elsewhere:
            shown = ", ".join(f"{d.name!r} ({d.file})" for d in elsewhere[:3])
            more = f" and {len(elsewhere) - 3} more" if len(elsewhere) > 3 else ""
            problems.append(_problem(
                doc, key, f"{key!r} is the relative path {value!r}, which fairseq2 resolves "
                f"against the file of the card retrieved, and cards in other directories "
                f"inherit it: {shown}{more}; each would read a different file. Use an "
                f"absolute path or a URI, or give each of them its own {key!r}",
                ProblemCode.RELATIVE_PATH_IN_BASE))
        if key == "checkpoint":
            problems += _outside_from_readers(doc, value, elsewhere)
    return problems


def _outside_from_readers(doc: CardDoc, value: str, readers: Sequence[CardDoc]) -> list[Problem]:
    """A relative checkpoint that leads outside the store from the file of a card that
    inherits it (where fairseq2 and a fetch resolve it)."""
    problems = []
    for reader in readers:
        found = uris.checkpoint_problem(value, reader.file)
        if found is not None and found.code == uris.CHECKPOINT_OUTSIDE:
            problems.append(_problem(doc, "checkpoint", f"{found.message} from {reader.name!r} "
                                     f"({reader.file}), which inherits it", found.code))
    return problems


def _readers_elsewhere(doc: CardDoc, key: str, index: _Index) -> list[CardDoc]:
    """The cards that inherit DOC's KEY (through any number of bases, not setting KEY
    themselves) from a directory other than DOC's, or from another store."""
    home = index.place.get(id(doc))
    found: list[CardDoc] = []
    seen = {id(doc)}
    todo = [doc.name]
    while todo:
        for user in index.users.get(todo.pop(), []):
            if id(user) in seen or key in user.metadata:
                continue
            seen.add(id(user))
            if index.place.get(id(user)) != home:
                found.append(user)
            if "@" not in user.name:
                todo.append(user.name)
    return found


def _has_weights(metadata: Mapping[str, Any], inherited: Mapping[str, Any]) -> bool:
    """Whether a model card says where its weights are: a `checkpoint`, or (as fairseq2's gated
    cards do) a `url` where each user obtains them, to give as `checkpoint` in `NAME@user`."""
    return any(key in metadata or key in inherited for key in ("checkpoint", "url"))


def _checkpoint_problems(doc: CardDoc) -> list[Problem]:
    """The checkpoint fields, checked by the parser and limits the download uses."""
    metadata = doc.metadata
    found = []
    if "checkpoint" in metadata:
        found.append(("checkpoint", uris.checkpoint_problem(metadata["checkpoint"], doc.file)))
    if "num_shards" in metadata:
        found.append(("num_shards", uris.num_shards_problem(metadata["num_shards"])))
    if uris.SIZE_FIELD in metadata:
        found.append((uris.SIZE_FIELD, uris.size_problem(metadata[uris.SIZE_FIELD])))
    return [_problem(doc, key, problem.message, problem.code)
            for key, problem in found if problem is not None]


def checkpoint_problem(value: Any, card_file: str = "") -> str | None:
    """What is wrong with a checkpoint value, or None (the message of
    `uris.checkpoint_problem`, which says it with a code)."""
    problem = uris.checkpoint_problem(value, card_file)
    return problem.message if problem is not None else None


def _duplicates(primary: CardSet, others: Sequence[CardSet]) -> list[Problem]:
    first: dict[str, CardDoc] = {}
    places: dict[str, list[tuple[str, CardDoc]]] = {}  # only the names given more than once
    for doc in primary.docs:
        seen = first.setdefault(doc.name, doc)
        if seen is not doc:
            places.setdefault(doc.name, [(primary.label, seen)]).append((primary.label, doc))
    for card_set in others:
        for doc in card_set.docs:
            if doc.name in first:
                places.setdefault(doc.name, [(primary.label, first[doc.name])]).append(
                    (card_set.label, doc))
    problems = []
    for name, found in places.items():
        for label, doc in found:
            if label != primary.label:
                continue
            others_text = "; ".join(f"{lbl}: {d.file}:{d.line}" for lbl, d in found
                                    if d is not doc)
            problems.append(Problem(doc.file, doc.key_line("name"), 1, name,
                                    f"duplicate card name {name!r}: also defined in "
                                    f"{others_text}", "name", ProblemCode.DUPLICATE))
    return problems


def _manifest_rules(doc: CardDoc, inherited: Mapping[str, Any], kind: str,
                    manifest: Manifest, concrete: bool) -> list[Problem]:
    """The store's extra rules. Required fields apply to concrete cards only: a card other
    cards use as their base (a family card) and an override may leave them to its users."""
    problems = []
    for rule_kind in ("all", kind):
        rules = manifest.rules.get(rule_kind)
        if rules is None:
            continue
        for required in rules.required:
            if concrete and required not in doc.metadata and required not in inherited:
                problems.append(_problem(doc, "name", f"{kind} card has no {required!r} (the "
                                         f"store requires it for {rule_kind} cards)", ProblemCode.REQUIRED))
        for key, allowed in rules.allowed.items():
            if key in doc.metadata and doc.metadata[key] not in allowed:
                problems.append(_problem(doc, key, f"{key!r} is {doc.metadata[key]!r}; the store "
                                         f"allows {', '.join(map(repr, allowed))}", ProblemCode.NOT_ALLOWED))
    return problems
