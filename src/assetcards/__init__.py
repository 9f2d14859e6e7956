"""assetcards: git-backed, versioned stores of fairseq2-style asset cards.

The public names follow fairseq2.assets, so code written for it reads the same:

    from assetcards import FileAssetMetadataProvider, asset_store
    asset_store.metadata_providers.append(FileAssetMetadataProvider(my_dir))
    card = asset_store.retrieve_card("llama3_8b")
"""

from __future__ import annotations

from typing import Any

from .card import AssetCard, AssetCardField, Provenance
from .errors import (
    AssetCardError,
    AssetCardFieldNotFoundError,
    AssetCardNotFoundError,
    AssetError,
    AssetMetadataError,
    AssetNotFoundError,
    BaseCycleError,
    DownloadError,
    DuplicateCardError,
    ModelLoadError,
    Problem,
)
from .providers import (
    AssetMetadataProvider,
    FileAssetMetadataProvider,
    InProcAssetMetadataProvider,
    PackageAssetMetadataProvider,
)
from .store import AssetStore, StandardAssetStore, default_asset_store

__version__ = "0.1.0"

__all__ = [
    "AssetCard",
    "AssetCardError",
    "AssetCardField",
    "AssetCardFieldNotFoundError",
    "AssetCardNotFoundError",
    "AssetError",
    "AssetMetadataError",
    "AssetMetadataProvider",
    "AssetNotFoundError",
    "AssetStore",
    "BaseCycleError",
    "Checkpoint",
    "DownloadError",
    "DownloadOptions",
    "DuplicateCardError",
    "FileAssetMetadataProvider",
    "GitAssetMetadataProvider",
    "InProcAssetMetadataProvider",
    "ModelLoadError",
    "ModelLoader",
    "PackageAssetMetadataProvider",
    "Problem",
    "Provenance",
    "StandardAssetStore",
    "asset_store",
    "default_asset_store",
    "download_checkpoint",
    "fetch_checkpoint",
    "load_model",
    "register_model_family",
    "retrieve_card",
]


def retrieve_card(name: str, **kwargs: Any) -> AssetCard:
    """`asset_store.retrieve_card(name, ...)` on the default store."""
    return default_asset_store().retrieve_card(name, **kwargs)


# Loaded on first use: checkpoints and models import HTTP and (later) torch; git stores,
# sqlite.
_LAZY = {
    "Checkpoint": "download",
    "DownloadOptions": "download",
    "GitAssetMetadataProvider": "gitprovider",
    "download_checkpoint": "download",
    "fetch_checkpoint": "download",
    "ModelLoader": "loader",
    "load_model": "loader",
    "register_model_family": "loader",
}


def __getattr__(name: str) -> Any:
    if name == "asset_store":
        return default_asset_store()
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"assetcards.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'assetcards' has no attribute {name!r}")
