"""The cards fairseq2 bundles, when fairseq2 is installed: part of the default set.

fairseq2 reads the cards in its package `fairseq2.assets.cards` beside the system and user
roots, so a name defined in a root and in that package breaks fairseq2's store. We read the
same files (every `*.yaml`/`*.yml` below the package directory) so that both tools see one set,
and validation checks names against them (checks.default_sets). The package is found with
`importlib.util.find_spec("fairseq2")`, which locates it without running it: fairseq2 (and the
torch it imports) is never imported here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..card.model import Provenance
from ..card.parse import CardDoc
from .providers import PackageAssetMetadataProvider
from .source import CardSource, DirectorySource

PACKAGE = "fairseq2.assets.cards"
LABEL = f"package {PACKAGE}"


def fairseq2_cards_dir() -> Path | None:
    """The directory of the cards the installed fairseq2 bundles, or None when fairseq2 is not
    installed or has none. fairseq2 is located, never imported."""
    try:
        spec = importlib.util.find_spec("fairseq2")
    except (ImportError, ValueError):  # ValueError: a module in sys.modules without a spec
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        cards = Path(location) / "assets" / "cards"
        if cards.is_dir():
            return cards
    return None


class Fairseq2CardsProvider(PackageAssetMetadataProvider):
    """The cards of `fairseq2.assets.cards`, read from the package directory as fairseq2 reads
    them, without importing fairseq2. Relative paths in them resolve against their files, as
    in fairseq2."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        super().__init__(PACKAGE, "", cache_dir)

    def _root(self) -> Path | None:
        return fairseq2_cards_dir()

    def _source(self) -> CardSource | None:
        root = self._root()
        return DirectorySource(root) if root is not None else None

    def _provenance(self, doc: CardDoc) -> Provenance:
        return Provenance("package", PACKAGE, doc.file, doc.line, "system")


def fairseq2_provider(cache_dir: Path | None = None) -> Fairseq2CardsProvider | None:
    """A provider of fairseq2's bundled cards, or None when fairseq2 is not installed."""
    return Fairseq2CardsProvider(cache_dir) if fairseq2_cards_dir() is not None else None

