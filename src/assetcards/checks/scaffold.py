"""`cards new`: write a new card file with the fields its kind, base and store need.

Fields the contributor must fill in are written as `TODO` placeholders, which the validator
reports until they are replaced: a new card passes validation once nothing is left to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..card.model import card_kind
from ..card.parse import check_name
from ..card.rules import PLACEHOLDER, CardSet
from ..errors import AssetError, AssetNotFoundError, UnsafeInputError
from ..fsutil import create_file
from .targets import directory_target


def card_fields(name: str, base_fields: dict[str, Any] | None, base: str | None,
                family: str | None, required: Sequence[str] = ()) -> dict[str, Any]:
    """The fields of a new card NAME: its base, its family and placeholders for what a card
    of its kind needs (a model needs an architecture and a checkpoint)."""
    fields: dict[str, Any] = {"name": name}
    inherited = dict(base_fields or {})
    if base:
        fields["base"] = base
    if family and inherited.get("model_family") != family:
        fields["model_family"] = family
    kind = card_kind({**inherited, **fields})
    if kind == "model":
        if "model_arch" not in inherited:
            fields["model_arch"] = PLACEHOLDER
        fields["checkpoint"] = PLACEHOLDER
    for key in required:
        if key not in inherited and key not in fields:
            fields[key] = PLACEHOLDER
    fields["description"] = PLACEHOLDER + ": one line about this card"
    return fields


def render(fields: dict[str, Any]) -> str:
    return yaml.safe_dump(fields, sort_keys=False, default_flow_style=False, allow_unicode=True)


def new_card(name: str, store: Path, base: str | None = None, family: str | None = None,
             others: Sequence[CardSet] = ()) -> Path:
    """Write the card NAME into the store at STORE (in its card directory, under FAMILY's
    directory if given). Refuses a taken name, a missing base and an existing file."""
    problem = check_name(name)
    if problem:
        raise UnsafeInputError(problem)
    if family is not None and check_name(family):
        raise UnsafeInputError(f"family {family!r} is not valid: use letters, digits, '_', "
                               "'-' and '.'")
    target = directory_target(store)
    docs = {d.name: d for s in [*others, target.primary] for d in s.docs}
    if name in docs:
        raise AssetError(f"a card named {name!r} already exists: {docs[name].file}:"
                         f"{docs[name].line}")
    base_fields: dict[str, Any] | None = None
    if base is not None:
        if base not in docs:
            raise AssetNotFoundError(f"base card {base!r} does not exist in {store} or in any "
                                     "tracked store")
        base_fields = _resolved(base, docs)
    manifest = target.manifest
    kind = card_kind({**(base_fields or {}), **({"model_family": family} if family else {})})
    required: list[str] = []
    if manifest is not None:
        for rule_kind in ("all", kind):
            rules = manifest.rules.get(rule_kind)
            required += list(rules.required) if rules else []
    fields = card_fields(name, base_fields, base, family, required)
    card_dir = (manifest.card_dir_for((store / "cards").is_dir()) if manifest
                else ("cards" if (store / "cards").is_dir() else ""))
    group = family or (base_fields or {}).get("model_family")
    folder = store / card_dir / (group if isinstance(group, str) and not check_name(group) else "")
    path = folder / f"{name}.yaml"
    _write_new(path, render(fields))
    return path


def _resolved(name: str, docs: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    seen: set[str] = set()
    chain = []
    current = docs.get(name)
    while current is not None and current.name not in seen:
        seen.add(current.name)
        chain.append(current)
        parent = current.metadata.get("base")
        current = docs.get(parent) if isinstance(parent, str) else None
    for doc in reversed(chain):
        merged.update(doc.metadata)
    merged.pop("name", None)
    merged.pop("base", None)
    return merged


def _write_new(path: Path, text: str) -> None:
    """Write PATH atomically; never replace an existing file."""
    try:
        create_file(path, text.encode())
    except FileExistsError:
        raise AssetError(f"{path} already exists") from None
