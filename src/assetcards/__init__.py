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
    from .card.model import AssetCard, AssetCardField, Provenance
    from .checkpoints.download import (
        Checkpoint,
        DownloadOptions,
        download_checkpoint,
        fetch_checkpoint,
    )
    from .checkpoints.loader import ModelLoader, load_model, register_model_family
    from .errors import (
        AssetArgumentError,
        AssetCardError,
        AssetCardFieldNotFoundError,
        AssetCardNotFoundError,
        AssetCardNotValidError,
        AssetError,
        AssetMetadataError,
        AssetMetadataNotFoundError,
        AssetNotFoundError,
        BaseCycleError,
        DownloadError,
        DuplicateCardError,
        ModelLoadError,
        Problem,
    )
    from .sources.assetstore import (
        AssetStore,
        EnvironmentResolver,
        StandardAssetStore,
        default_asset_store,
        get_asset_store,
        setup_asset_store,
    )
    from .sources.gitprovider import GitAssetMetadataProvider
    from .sources.providers import (
        AbstractAssetMetadataProvider,
        AssetMetadataProvider,
        FileAssetMetadataProvider,
        InProcAssetMetadataProvider,
        PackageAssetMetadataProvider,
        canonicalize_asset_name,
        load_in_memory_asset_metadata,
        load_metadata_file,
        sanitize_base_asset_name,
    )

__all__ = [
    "AbstractAssetMetadataProvider",
    "AssetArgumentError",
    "AssetCard",
    "AssetCardError",
    "AssetCardField",
    "AssetCardFieldNotFoundError",
    "AssetCardNotFoundError",
    "AssetCardNotValidError",
    "AssetError",
    "AssetMetadataError",
    "AssetMetadataNotFoundError",
    "AssetMetadataProvider",
    "AssetNotFoundError",
    "AssetStore",
    "BaseCycleError",
    "Checkpoint",
    "DownloadError",
    "DownloadOptions",
    "DuplicateCardError",
    "EnvironmentResolver",
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
    "canonicalize_asset_name",
    "default_asset_store",
    "download_checkpoint",
    "fetch_checkpoint",
    "get_asset_store",
    "load_in_memory_asset_metadata",
    "load_metadata_file",
    "load_model",
    "register_model_family",
    "retrieve_card",
    "sanitize_base_asset_name",
    "setup_asset_store",
]


def retrieve_card(name: str, **kwargs: Any) -> AssetCard:
    """`asset_store.retrieve_card(name, ...)` on the default store."""
    from .sources.assetstore import get_asset_store

    return get_asset_store().retrieve_card(name, **kwargs)


# Every public name is loaded on first use (PEP 562), so `import assetcards` and the `cards`
# commands pay only for the modules they touch: the git and validation paths never import
# sqlite, HTTP or (later) torch.
_ERRORS = ("AssetArgumentError", "AssetCardError", "AssetCardFieldNotFoundError",
           "AssetCardNotFoundError", "AssetCardNotValidError", "AssetError", "AssetMetadataError",
           "AssetMetadataNotFoundError", "AssetNotFoundError", "BaseCycleError",
           "DownloadError", "DuplicateCardError", "ModelLoadError", "Problem")
_LAZY = {
    **dict.fromkeys(("AssetCard", "AssetCardField", "Provenance"), "card.model"),
    **dict.fromkeys(_ERRORS, "errors"),
    **dict.fromkeys(("AbstractAssetMetadataProvider", "AssetMetadataProvider",
                     "FileAssetMetadataProvider", "InProcAssetMetadataProvider",
                     "PackageAssetMetadataProvider", "canonicalize_asset_name",
                     "load_in_memory_asset_metadata", "load_metadata_file",
                     "sanitize_base_asset_name"), "sources.providers"),
    **dict.fromkeys(("AssetStore", "EnvironmentResolver", "StandardAssetStore",
                     "default_asset_store",
                     "get_asset_store", "setup_asset_store"), "sources.assetstore"),
    **dict.fromkeys(("Checkpoint", "DownloadOptions", "download_checkpoint",
                     "fetch_checkpoint"), "checkpoints.download"),
    "GitAssetMetadataProvider": "sources.gitprovider",
    "__version__": "_version",  # the installed metadata's, read on first use
    **dict.fromkeys(("ModelLoader", "load_model", "register_model_family"), "checkpoints.loader"),
}


def __getattr__(name: str) -> Any:
    if name == "asset_store":
        from .sources.assetstore import get_asset_store

        return get_asset_store()
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"assetcards.{_LAZY[name]}"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'assetcards' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
