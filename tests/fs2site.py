"""A stand-in for an installed fairseq2: a `fairseq2` package whose import fails loudly, with
card files in `fairseq2/assets/cards/` as the wheel lays them out. assetcards must find those
cards without importing the package."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE_LABEL = "package fairseq2.assets.cards"
IMPORTED = "fairseq2 was imported"


def fake_fairseq2(site: Path, cards: dict[str, str] | None = None,
                  copy_from: Path | None = None) -> Path:
    """SITE holding the stand-in, with CARDS (file name -> text) or a copy of COPY_FROM."""
    package = site / "fairseq2"
    (package / "assets").mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(f"raise RuntimeError({IMPORTED!r})\n")
    (package / "assets" / "__init__.py").write_text(f"raise RuntimeError({IMPORTED!r})\n")
    target = package / "assets" / "cards"
    if copy_from is not None:
        shutil.copytree(copy_from, target)
    for name, text in (cards or {}).items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(text)
    return site


def install(site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put SITE first on this process's path and on its children's (PYTHONPATH)."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.delitem(sys.modules, "fairseq2", raising=False)
    return site


def with_example_cards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed stand-in fairseq2 whose bundled cards are this project's example cards."""
    return install(fake_fairseq2(tmp_path / "fairseq2-site", copy_from=REPO_ROOT / "cards"),
                   monkeypatch)
