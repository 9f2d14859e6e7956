"""What `cards list` shows: every card of every source in use, grouped by source.

One bad card does not hide the good ones: a card that cannot be resolved (duplicate name,
missing base, loop) is listed with its error, and files that cannot be read are listed too. An
override (`name@env`, `name@user`) is shown beside the card it changes; one whose card is in no
source at all (a typo, say) is listed as an error, since it would otherwise change nothing silently.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from ..errors import AssetError, Problem
from .assetstore import StandardAssetStore
from .providers import IndexedMetadataProvider


@dataclass
class Entry:
    name: str
    kind: str = "other"
    description: str = ""
    overridden_by: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "description": self.description,
                "overridden_by": self.overridden_by, "error": self.error}


@dataclass
class SourceListing:
    scope: str
    label: str
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Cards this source defines exactly as a source listed before it: one card, listed once.
    same_as_above: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "source": self.label,
                "cards": [e.to_json() for e in self.entries],
                "same_as_above": self.same_as_above,
                "problems": [p.to_json() for p in self.problems]}


def list_cards(store: StandardAssetStore, scope: str = "all",
               kind: str | None = None) -> list[SourceListing]:
    for _, provider in store.providers(scope):
        if isinstance(provider, IndexedMetadataProvider):
            provider.docs()  # every card is about to be read: hold them in memory once
    all_names = set(store.retrieve_names(scope=scope))
    every_name = set(store.retrieve_names())
    overrides: dict[str, list[str]] = {}
    for name in sorted(all_names):
        if "@" in name:
            overrides.setdefault(name.split("@", 1)[0], []).append(name)
    listings = []
    listed: set[str] = set()
    for sc, provider in store.providers(scope):
        listing = SourceListing(sc, provider.label, problems=provider.problems())
        for name in provider.get_names():
            if "@" in name:
                orphan = _orphan_override(name, every_name)
                if orphan is not None:
                    listing.entries.append(orphan)
                continue
            entry = _entry(store, name, scope, overrides.get(name, []))
            if name in listed and not entry.error:
                listing.same_as_above.append(name)  # identical, else it would be an error
                continue
            listed.add(name)
            if kind is None or entry.kind == kind or entry.error:
                listing.entries.append(entry)
        if listing.entries or listing.problems or listing.same_as_above:
            listings.append(listing)
    return listings


def _orphan_override(name: str, every_name: set[str]) -> Entry | None:
    """An override whose card is in no source (a typo, or a card since removed), or None."""
    target = name.split("@", 1)[0]
    if target in every_name:
        return None
    error = f"override of {target!r}, which is not a card in any source"
    close = difflib.get_close_matches(target, [n for n in every_name if "@" not in n], n=3)
    if close:
        error += f"; did you mean {', '.join(map(repr, close))}?"
    return Entry(name, error=error)


def _entry(store: StandardAssetStore, name: str, scope: str, overridden_by: list[str]) -> Entry:
    entry = Entry(name)
    entry.overridden_by = overridden_by
    try:
        card = store.retrieve_card(name, scope=scope)
    except AssetError as exc:
        entry.error = str(exc)
        return entry
    entry.kind = card.kind()
    description = card.fields().get("description", "")
    entry.description = description if isinstance(description, str) else ""
    return entry
