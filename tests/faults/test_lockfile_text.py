"""Lock files hold any string git accepts: refs such as `feat/😀` (outside the Basic
Multilingual Plane), control characters in URLs, quotes and backslashes. They are written by a
TOML writer (json.dumps wrote surrogate pairs, which TOML readers reject), and what is written
reads back identical."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assetcards.errors import AssetError
from assetcards.git import check_ref, check_url
from assetcards.sources import lockfile
from assetcards.sources.lockfile import LockedStore
from tests.faults.helpers import SOAK
from tests.gitutil import commit_files, git
from tests.storeutil import card_upstream, model, run_cards

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

EXAMPLES = 2000 if SOAK else 200
COMMIT = st.text("0123456789abcdef", min_size=40, max_size=40)
NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,20}", fullmatch=True)
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


def _entries(draw_text: st.SearchStrategy[str],
             names: st.SearchStrategy[str] = NAME) -> st.SearchStrategy[list[LockedStore]]:
    entry = st.builds(LockedStore, st.sampled_from(["user", "system"]), names, draw_text,
                      draw_text, COMMIT)
    return st.lists(entry, max_size=4, unique_by=lambda e: (e.scope, e.name))


@settings(max_examples=EXAMPLES, deadline=None)
@given(_entries(ANY_TEXT, ANY_TEXT))
def test_any_string_survives_the_toml_round_trip(entries: list[LockedStore]) -> None:
    data = tomllib.loads(lockfile.render(entries))
    assert data["version"] == lockfile.LOCK_VERSION
    assert [LockedStore(s["scope"], s["name"], s["url"], s["ref"], s["commit"])
            for s in data.get("store", [])] == sorted(entries)


def _usable(entries: list[LockedStore]) -> bool:
    try:
        for e in entries:
            check_url(e.url)
            check_ref(e.ref)
    except AssetError:
        return False
    return True


@settings(max_examples=EXAMPLES, deadline=None)
@given(_entries(ANY_TEXT.map(lambda t: "https://example.com/" + t.strip())).filter(_usable))
def test_a_written_lock_file_reads_back_identical(tmp_path_factory: pytest.TempPathFactory,
                                                  entries: list[LockedStore]) -> None:
    path = tmp_path_factory.mktemp("lock") / "cards.lock"
    lockfile.write(path, entries)
    assert lockfile.read(path) == sorted(entries)


@pytest.mark.parametrize("ref", ["feat/😀", "feat/𝔘nicode", "release/ü", "x\"y"])
def test_a_ref_outside_the_bmp_is_locked_and_synced_back(tmp_path: Path, ref: str) -> None:
    upstream, work = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    git(work, "checkout", "-q", "-b", ref)
    commit_files(work, {"cards/b.yaml": model("beta")}, "on the branch")
    git(work, "push", "-q", "origin", ref)
    added = run_cards("store", "add", "s", str(upstream), "--ref", ref)
    assert added.returncode == 0, added.stderr
    out = tmp_path / "cards.lock"
    assert run_cards("lock", "-o", str(out)).returncode == 0
    assert [e.ref for e in lockfile.read(out)] == [ref]
    synced = run_cards("sync", "--lockfile", str(out))
    assert synced.returncode == 0, synced.stderr
