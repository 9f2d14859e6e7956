"""Git stores on disk: clone, pin, state, locks."""

from __future__ import annotations

from pathlib import Path

from .providers import AssetMetadataProvider


def git_store_providers(root: Path, scope: str) -> list[AssetMetadataProvider]:
    """One provider per git store under ROOT, reading each at its pinned commit."""
    return []
