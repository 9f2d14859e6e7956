"""Git stores on disk: clone, pin, state, locks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .locations import Locations
from .providers import AssetMetadataProvider
from .validate import CardSet


def git_store_providers(root: Path, scope: str) -> list[AssetMetadataProvider]:
    """One provider per git store under ROOT, reading each at its pinned commit."""
    return []


def tracked_card_sets(locations: Locations, exclude: Sequence[str] = ()) -> list[CardSet]:
    """The parsed cards of every store tracked on this machine (at its pin), one CardSet each,
    labelled by store name; stores whose name or URL is in EXCLUDE are left out."""
    return []
