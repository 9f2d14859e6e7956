"""The history of cards in a git store: which commits changed a card, what changed between
two commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..card.parse import parse_file
from ..errors import AssetCardNotFoundError, AssetNotFoundError
from ..git import CommitInfo
from ..sources.gitstore import Store
from .remote import resolve_rev
from .sync import card_changes

_MISSING = object()


@dataclass
class FieldChange:
    key: str
    old: Any = None
    new: Any = None
    kind: str = "changed"  # "added" | "removed" | "changed"

    def to_json(self) -> dict[str, Any]:
        return {"field": self.key, "kind": self.kind, "old": self.old, "new": self.new}


@dataclass
class CardChange:
    name: str
    commit: CommitInfo
    kind: str  # "added" | "removed" | "changed"
    fields: list[FieldChange] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        c = self.commit
        return {"card": self.name, "commit": c.oid, "date": c.date, "author": c.author,
                "subject": c.subject, "kind": self.kind,
                "fields": [f.to_json() for f in self.fields]}


def field_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[FieldChange]:
    old, new = old or {}, new or {}
    changes = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, _MISSING), new.get(key, _MISSING)
        if before is _MISSING:
            changes.append(FieldChange(key, None, after, "added"))
        elif after is _MISSING:
            changes.append(FieldChange(key, before, None, "removed"))
        elif before != after:
            changes.append(FieldChange(key, before, after, "changed"))
    return changes


def card_log(store: Store, name: str, rev: str | None = None,
             max_count: int = 0) -> list[CardChange]:
    """The commits (newest first) up to REV (default: the pin) that changed card NAME in the
    file that holds it at REV."""
    commit = resolve_rev(store.repo, store.state.url, rev) if rev else store.state.commit
    docs = [d for d in store.card_set(commit).docs if d.name == name]
    if not docs:
        raise AssetCardNotFoundError(f"store {store.name!r} has no card {name!r} at "
                                     f"{commit[:12]}")
    path = docs[0].file
    commits = store.repo.log(commit, [path], max_count=max_count)
    names = [n for c in commits for n in (f"{c.oid}:{path}", f"{c.oid}^:{path}")]
    blobs = store.repo.read_objects(names)
    changes = []
    for c in commits:
        after = _card_in(blobs.get(f"{c.oid}:{path}"), path, name)
        before = _card_in(blobs.get(f"{c.oid}^:{path}"), path, name)
        if before == after:
            continue  # the file changed, this card did not
        kind = "added" if before is None else "removed" if after is None else "changed"
        changes.append(CardChange(name, c, kind, field_changes(before, after)))
    return changes


def _card_in(data: bytes | None, path: str, name: str) -> dict[str, Any] | None:
    if data is None:
        return None
    for doc in parse_file(data, path).cards:
        if doc.name == name:
            return dict(doc.metadata)
    return None


@dataclass
class StoreDiff:
    store: str
    old: str
    new: str
    added: list[str]
    removed: list[str]
    changed: dict[str, list[FieldChange]]

    def to_json(self) -> dict[str, Any]:
        return {"store": self.store, "old": self.old, "new": self.new, "added": self.added,
                "removed": self.removed,
                "changed": {k: [f.to_json() for f in v] for k, v in self.changed.items()}}


def store_diff(store: Store, old: str | None = None, new: str | None = None) -> StoreDiff:
    """Cards added, removed and changed between OLD (default: the previous pin) and NEW
    (default: the current pin)."""
    state = store.state
    new_commit = resolve_rev(store.repo, state.url, new) if new else state.commit
    if old:
        old_commit = resolve_rev(store.repo, state.url, old)
    elif state.previous_commit:
        old_commit = state.previous_commit
    else:
        raise AssetNotFoundError(f"store {store.name!r} has no previous pin yet; name the "
                                 "commits to compare: cards diff STORE OLD [NEW]")
    before, after = store.card_set(old_commit), store.card_set(new_commit)
    added, changed, removed = card_changes(before, after)
    old_docs = {d.name: dict(d.metadata) for d in before.docs}
    new_docs = {d.name: dict(d.metadata) for d in after.docs}
    details = {n: field_changes(old_docs[n], new_docs[n]) for n in changed}
    return StoreDiff(store.name, old_commit, new_commit, added, removed, details)
