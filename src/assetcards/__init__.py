"""assetcards: git-backed, versioned stores of fairseq2-style asset cards.

The public names follow fairseq2.assets, so code written for it reads the same:

    from assetcards import FileAssetMetadataProvider, asset_store
    asset_store.metadata_providers.append(FileAssetMetadataProvider(my_dir))
    card = asset_store.retrieve_card("llama3_8b")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._version import __version__ as __version__
    from .card import AssetCard, AssetCardField, Provenance
    from .download import Checkpoint, DownloadOptions, download_checkpoint, fetch_checkpoint
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
    from .gitprovider import GitAssetMetadataProvider
    from .loader import ModelLoader, load_model, register_model_family
    from .providers import (
        AssetMetadataProvider,
        FileAssetMetadataProvider,
        InProcAssetMetadataProvider,
        PackageAssetMetadataProvider,
    )
    from .store import AssetStore, StandardAssetStore, default_asset_store

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
    from .store import default_asset_store

    return default_asset_store().retrieve_card(name, **kwargs)


# Every public name is loaded on first use (PEP 562), so `import assetcards` and the `cards`
# commands pay only for the modules they touch: the git and validation paths never import
# sqlite, HTTP or (later) torch.
_ERRORS = ("AssetCardError", "AssetCardFieldNotFoundError", "AssetCardNotFoundError",
           "AssetError", "AssetMetadataError", "AssetNotFoundError", "BaseCycleError",
           "DownloadError", "DuplicateCardError", "ModelLoadError", "Problem")
_LAZY = {
    **dict.fromkeys(("AssetCard", "AssetCardField", "Provenance"), "card"),
    **dict.fromkeys(_ERRORS, "errors"),
    **dict.fromkeys(("AssetMetadataProvider", "FileAssetMetadataProvider",
                     "InProcAssetMetadataProvider", "PackageAssetMetadataProvider"),
                    "providers"),
    **dict.fromkeys(("AssetStore", "StandardAssetStore", "default_asset_store"), "store"),
    **dict.fromkeys(("Checkpoint", "DownloadOptions", "download_checkpoint",
                     "fetch_checkpoint"), "download"),
    "GitAssetMetadataProvider": "gitprovider",
    "__version__": "_version",  # the installed metadata's, read on first use
    **dict.fromkeys(("ModelLoader", "load_model", "register_model_family"), "loader"),
}


def __getattr__(name: str) -> Any:
    if name == "asset_store":
        from .store import default_asset_store

        return default_asset_store()
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"assetcards.{_LAZY[name]}"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'assetcards' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
