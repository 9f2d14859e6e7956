"""The per-tree card index: hits need no git, a sync makes a new one, damage is rebuilt."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from assetcards.card.parse import ParsedFile, parse_file
from assetcards.locations import Locations
from assetcards.sources.assetstore import StandardAssetStore
from assetcards.sources.gitprovider import GitAssetMetadataProvider
from assetcards.sources.gitstore import Store, get_store
from assetcards.sources.index import (
    UNUSED_DAYS,
    build_index,
    entry_of,
    index_name,
    parse_reusing,
)
from assetcards.stores.ops import add_store
from assetcards.stores.sync import sync_stores
from tests.gitutil import commit_files, push
from tests.storeutil import CARDS, card_upstream, model, run_as_nobody, world_readable_dir


def _index_files(store: Store) -> list[str]:
    return sorted(p.name for p in (store.paths.state_dir / "index" / store.name).iterdir())


def test_add_writes_the_index_beside_the_store(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    assert _index_files(store) == [index_name(store.state.tree, store.state.card_dir)]


def test_a_hit_reads_no_git_object(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha", description="indexed")})
    store, _ = add_store(locations, "team", str(bare))
    shutil.rmtree(store.paths.git_dir / "objects")  # nothing left for git to read
    provider = GitAssetMetadataProvider(store.paths, "user", cache_dir=locations.cache)
    assert provider.get_names() == ["alpha"]
    assert provider.get_metadata("alpha")["description"] == "indexed"


def test_sync_makes_a_new_index_and_keeps_the_previous_one(tmp_path: Path,
                                                           locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha", description="one")})
    add_store(locations, "team", str(bare))
    for text in ("two", "three"):
        commit_files(work, {"cards/a.yaml": model("alpha", description=text)})
        push(work)
        sync_stores(locations)
    store = get_store(locations, "team")
    prev_tree = store.repo.tree_of(store.state.previous_commit or "")
    assert _index_files(store) == sorted([index_name(store.state.tree, "cards"),
                                          index_name(prev_tree, "cards")])
    card = StandardAssetStore.from_locations(locations, bundled=False).retrieve_card("alpha")
    assert card.field("description").as_string() == "three"


@pytest.mark.parametrize("damage", [b"", b"not a database at all" * 100, "truncate"])
def test_a_damaged_index_is_detected_and_rebuilt(tmp_path: Path, locations: Locations,
                                                 damage: bytes | str) -> None:
    bare, _ = card_upstream(tmp_path, {f"c{i}.yaml": model(f"card{i}") for i in range(200)})
    store, _ = add_store(locations, "team", str(bare))
    [name] = _index_files(store)
    path = store.paths.state_dir / "index" / "team" / name
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        assert isinstance(damage, bytes)
        path.write_bytes(damage)
    provider = GitAssetMetadataProvider(store.paths, "user", cache_dir=locations.cache)
    assert provider.get_metadata("card150")["name"] == "card150"
    assert len(provider.get_names()) == 200
    fresh = GitAssetMetadataProvider(store.paths, "user", cache_dir=locations.cache)
    assert fresh.get_metadata("card7")["name"] == "card7"


def test_building_a_new_tree_reuses_parses_of_unchanged_blobs(tmp_path: Path,
                                                              locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha"), "b.yaml": model("beta")})
    store, _ = add_store(locations, "team", str(bare))
    source = store.source()
    files = source.list_files()
    a_blob = [f.key for f in files if f.path == "cards/a.yaml"][0]
    marked = entry_of(parse_file(model("from-the-old-index").encode(), "x"))
    assert marked is not None
    result = parse_reusing(source, files, {a_blob: marked})
    assert [(f.path, [d.name for d in p.cards]) for f, p in result] == [
        ("cards/a.yaml", ["from-the-old-index"]), ("cards/b.yaml", ["beta"])]


def test_values_json_cannot_carry_are_parsed_again_from_the_blob(tmp_path: Path,
                                                                 locations: Locations) -> None:
    text = model("alpha") + "released: !!timestamp 2024-05-01\n"  # tagged: alike in YAML 1.2
    assert entry_of(parse_file(text.encode(), "x")) is None
    bare, _ = card_upstream(tmp_path, {"a.yaml": text})
    store, _ = add_store(locations, "team", str(bare))
    provider = GitAssetMetadataProvider(store.paths, "user", cache_dir=locations.cache)
    assert provider.get_metadata("alpha")["released"] == datetime.date(2024, 5, 1)


def test_round_trip_of_an_entry_keeps_lines_and_problems() -> None:
    parsed = parse_file(b"name: a\nx: 1\n---\n- not a card\n", "f.yaml")
    entry = entry_of(parsed)
    assert entry is not None
    from assetcards.sources.index import parsed_of

    again = parsed_of(entry, "f.yaml")
    assert again == ParsedFile("f.yaml", parsed.cards, parsed.problems)


def test_read_only_store_indexes_into_the_readers_cache(tmp_path: Path) -> None:
    with world_readable_dir(tmp_path, "idx") as base:
        bare, _ = card_upstream(base, {"a.yaml": model("alpha")})
        env = dict(os.environ, FAIRSEQ2_ASSET_DIR=str(base / "system"),
                   FAIRSEQ2_USER_ASSET_DIR=str(base / "reader-user"),
                   FAIRSEQ2_CACHE_DIR=str(base / "reader-cache"), HOME=str(base))
        subprocess.run([CARDS, "store", "add", "--system", "shared", str(bare)], env=env,
                       check=True, capture_output=True)
        shutil.rmtree(base / "system" / ".assetcards" / "index")  # as after an older version
        (base / "reader-cache").mkdir()
        os.chown(base / "reader-cache", 65534, 65534)
        result = run_as_nobody("show", "alpha", env=env)
        assert result.returncode == 0, result.stderr
        state = json.loads((base / "system" / ".assetcards" / "stores" / "shared.json")
                           .read_text())
        indexes = [p.name for p in (base / "reader-cache" / "index").iterdir()]
        assert [n for n in indexes if n.startswith(state["tree"])] == [
            index_name(state["tree"], "cards")]
        assert not (base / "system" / ".assetcards" / "index").exists()


def test_loose_cards_are_indexed_in_the_cache_and_edits_are_seen(tmp_path: Path,
                                                                 locations: Locations) -> None:
    from assetcards.sources.providers import FileAssetMetadataProvider

    root = tmp_path / "loose"
    root.mkdir()
    (root / "a.yaml").write_text(model("alpha", description="one"))
    provider = FileAssetMetadataProvider(root, "user", locations.cache)
    assert provider.get_metadata("alpha")["description"] == "one"
    [first] = [p.name for p in (locations.cache / "index").iterdir()]
    assert first.startswith("dir-")
    (root / "a.yaml").write_text(model("alpha", description="two, and longer"))
    (root / "b.yaml").write_text(model("beta"))
    again = FileAssetMetadataProvider(root, "user", locations.cache)
    assert again.get_metadata("alpha")["description"] == "two, and longer"
    assert again.get_names() == ["alpha", "beta"]
    [second] = [p.name for p in (locations.cache / "index").iterdir()]  # the old listing: gone
    assert second != first and second.startswith(first[:17])


def test_an_unwritable_cache_only_costs_speed(tmp_path: Path, locations: Locations) -> None:
    from assetcards.sources.providers import FileAssetMetadataProvider

    root = tmp_path / "loose"
    root.mkdir()
    (root / "a.yaml").write_text(model("alpha"))
    cache = tmp_path / "not-a-directory"
    cache.write_text("a file where the cache should be")
    provider = FileAssetMetadataProvider(root, "user", cache)
    assert provider.get_names() == ["alpha"]
    assert provider.get_metadata("alpha")["name"] == "alpha"


def test_nested_non_string_keys_are_not_turned_into_strings(tmp_path: Path,
                                                            locations: Locations) -> None:
    text = model("alpha") + "lookup: {1: one, 2: two}\n"
    parsed = parse_file(text.encode(), "x")
    assert not parsed.cards[0].string_keys
    assert entry_of(parsed) is None
    bare, _ = card_upstream(tmp_path, {"a.yaml": text})
    store, _ = add_store(locations, "team", str(bare))
    provider = GitAssetMetadataProvider(store.paths, "user", cache_dir=locations.cache)
    assert provider.get_metadata("alpha")["lookup"] == {1: "one", 2: "two"}


# -- the cache does not grow without bound ----------------------------------------------------


def _age(path: Path, days: float) -> None:
    when = time.time() - days * 86400
    os.utime(path, (when, when))


def test_opening_an_index_marks_it_used(tmp_path: Path, locations: Locations) -> None:
    from assetcards.sources.providers import FileAssetMetadataProvider

    root = tmp_path / "loose"
    root.mkdir()
    (root / "a.yaml").write_text(model("alpha"))
    FileAssetMetadataProvider(root, "user", locations.cache).get_names()
    [index] = (locations.cache / "index").iterdir()
    _age(index, 40)
    assert FileAssetMetadataProvider(root, "user", locations.cache).get_names() == ["alpha"]
    assert time.time() - index.stat().st_mtime < 60


def test_a_build_in_the_cache_removes_what_nobody_used(tmp_path: Path,
                                                       locations: Locations) -> None:
    from assetcards.sources.providers import FileAssetMetadataProvider

    cache = locations.cache / "index"
    cache.mkdir(parents=True)
    stale, recent = cache / f"{'a' * 40}-old.sqlite", cache / f"{'b' * 40}-new.sqlite"
    dead_tmp, live_tmp = cache / ".x.sqlite.123.tmp", cache / ".y.sqlite.456.tmp"
    notes = cache / "README"
    for path in (stale, recent, dead_tmp, live_tmp, notes):
        path.write_text("")
    _age(stale, UNUSED_DAYS + 1)
    _age(recent, UNUSED_DAYS - 1)
    _age(dead_tmp, 2)
    _age(notes, 400)
    root = tmp_path / "loose"
    root.mkdir()
    (root / "a.yaml").write_text(model("alpha"))
    FileAssetMetadataProvider(root, "user", locations.cache).get_names()
    left = {p.name for p in cache.iterdir()}
    built = [name for name in left if name.startswith("dir-")]
    assert len(built) == 1
    assert left == {recent.name, live_tmp.name, notes.name, built[0]}


def test_only_the_directories_named_as_caches_are_pruned(tmp_path: Path) -> None:
    from assetcards.sources.source import DirectorySource

    root = tmp_path / "loose"
    root.mkdir()
    (root / "a.yaml").write_text(model("alpha"))
    store_dir, cache_dir = tmp_path / "store-index", tmp_path / "cache-index"
    for directory in (store_dir, cache_dir):
        directory.mkdir()
        (directory / "old.sqlite").touch()
        _age(directory / "old.sqlite", 400)
    build_index("one.sqlite", [store_dir], DirectorySource(root), caches=[])
    build_index("two.sqlite", [cache_dir], DirectorySource(root))  # default: a cache
    assert sorted(p.name for p in store_dir.iterdir()) == ["old.sqlite", "one.sqlite"]
    assert sorted(p.name for p in cache_dir.iterdir()) == ["two.sqlite"]
