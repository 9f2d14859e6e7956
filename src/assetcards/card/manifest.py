"""A card repository's manifest: `assetcards.toml` at its root.

TOML, not YAML, so that the only YAML files in a store are cards (fairseq2 reads every .yaml).

    [store]
    cards = "cards"                 # where the cards are (default: cards/ if present, else all)
    against = ["https://..."]       # other stores whose names must not collide

    [rules.model]                   # extra rules per kind: model, tokenizer, dataset, all
    required = ["model_arch"]
    [rules.model.allowed]
    model_family = ["llama", "mistral"]
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import AssetMetadataError, Problem, ProblemCode

MANIFEST_NAME = "assetcards.toml"
RULE_KINDS = ("all", "model", "tokenizer", "dataset")


@dataclass(frozen=True)
class KindRules:
    required: tuple[str, ...] = ()
    allowed: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    cards_dir: str | None = None  # None: decide from the tree (cards/ if present, else root)
    against: tuple[str, ...] = ()
    rules: Mapping[str, KindRules] = field(default_factory=dict)

    def card_dir_for(self, has_cards_dir: bool) -> str:
        if self.cards_dir is not None:
            return self.cards_dir.strip("/")
        return "cards" if has_cards_dir else ""


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _key_line(text: str, key: str) -> int:
    """The line where KEY is first given (`KEY =` or `"KEY" =`), or 1."""
    pattern = re.compile(rf"""^\s*(?:store\.)?["']?{re.escape(key)}["']?\s*=""")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return 1


def parse_manifest(data: bytes, file: str = MANIFEST_NAME) -> Manifest:
    """Parse a manifest; a malformed one raises AssetMetadataError naming file and key."""

    def fail(message: str, line: int = 1) -> AssetMetadataError:
        return AssetMetadataError([Problem(file, line, 1, message=message, code=ProblemCode.MANIFEST)])

    if sys.version_info >= (3, 11):  # imported here: most processes never read a manifest
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        text = data.decode("utf-8")
        doc = tomllib.loads(text)
    except UnicodeDecodeError:
        raise fail("manifest is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        line = int(getattr(exc, "lineno", 1) or 1)
        raise fail(f"manifest is not valid TOML: {exc}", line) from None
    store = doc.get("store", {})
    if not isinstance(store, dict):
        raise fail("[store] must be a table")
    cards_dir = store.get("cards")
    if cards_dir is not None and (not isinstance(cards_dir, str) or ".." in cards_dir.split("/")
                                  or cards_dir.startswith("/") or _CONTROL_RE.search(cards_dir)):
        raise fail("store.cards must be a relative directory inside the repository, without "
                   "control characters", _key_line(text, "cards"))
    against = store.get("against", [])
    if not isinstance(against, list) or not all(isinstance(a, str) and not _CONTROL_RE.search(a)
                                                for a in against):
        raise fail("store.against must be a list of URLs or store names, without control "
                   "characters", _key_line(text, "against"))
    rules: dict[str, KindRules] = {}
    raw_rules = doc.get("rules", {})
    if not isinstance(raw_rules, dict):
        raise fail("[rules] must be a table")
    for kind, spec in raw_rules.items():
        if kind not in RULE_KINDS:
            raise fail(f"rules.{kind}: unknown kind; use one of {', '.join(RULE_KINDS)}")
        if not isinstance(spec, dict):
            raise fail(f"rules.{kind} must be a table")
        required = spec.get("required", [])
        allowed = spec.get("allowed", {})
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise fail(f"rules.{kind}.required must be a list of field names")
        if not isinstance(allowed, dict) or not all(isinstance(v, list) for v in allowed.values()):
            raise fail(f"rules.{kind}.allowed must map field names to lists of values")
        rules[kind] = KindRules(tuple(required), {k: tuple(v) for k, v in allowed.items()})
    return Manifest(cards_dir, tuple(against), rules)
