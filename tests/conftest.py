"""Every test runs with its own system, user and cache roots and its own HOME: nothing a test
does can touch the real ones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from assetcards import store as store_module
from assetcards.locations import Locations

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Locations]:
    home = tmp_path / "home"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith(("GIT_", "FAIRSEQ2_", "XDG_", "ASSETCARDS_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("FAIRSEQ2_ASSET_DIR", str(tmp_path / "system"))
    monkeypatch.setenv("FAIRSEQ2_USER_ASSET_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("FAIRSEQ2_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setattr(store_module, "_default", None)
    yield Locations.from_env()


@pytest.fixture
def locations(isolated_env: Locations) -> Locations:
    return isolated_env
