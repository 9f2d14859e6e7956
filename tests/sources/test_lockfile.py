"""Reproducible revisions: pin/unpin, lock files, sync --lockfile, from_lockfile, --rev."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assetcards.errors import AssetMetadataError, StoreError
from assetcards.locations import Locations
from assetcards.sources import lockfile
from assetcards.sources.assetstore import StandardAssetStore
from assetcards.sources.gitstore import list_stores
from assetcards.stores.ops import add_store, pin_store, unpin_store
from assetcards.stores.state import read_state
from assetcards.stores.sync import SyncOptions, sync_stores, sync_to_lockfile
from tests.gitutil import commit_files, git, push
from tests.storeutil import card_upstream, model, run_cards


def _store_view(locations: Locations) -> dict[str, tuple[str, list[str]]]:
    store = StandardAssetStore.from_locations(locations, bundled=False)
    names = store.retrieve_names()
    return {s.name: (s.state.commit, sorted(n for n in names
                                            if store.retrieve_card(n).provenance.source == s.name))
            for s in list_stores(locations)}


@pytest.fixture
def two_stores(tmp_path: Path, locations: Locations) -> tuple[Path, Path]:
    one, work1 = card_upstream(tmp_path, {"a.yaml": model("alpha", description="v1")},
                               name="one")
    two, work2 = card_upstream(tmp_path, {"b.yaml": model("beta")}, name="two")
    add_store(locations, "one", f"file://{one}")
    add_store(locations, "two", str(two), scope="system")
    return work1, work2


def test_lock_file_is_deterministic(tmp_path: Path, locations: Locations,
                                    two_stores: tuple[Path, Path]) -> None:
    out = tmp_path / "cards.lock"
    assert run_cards("lock", "-o", str(out)).returncode == 0
    first = out.read_bytes()
    assert run_cards("lock", "-o", str(out)).returncode == 0
    assert out.read_bytes() == first
    one, two = (s.state for s in sorted(list_stores(locations), key=lambda s: s.name))
    assert first.decode() == (
        "# Written by `cards lock`. Rebuild this state with `cards sync --lockfile <this "
        "file>`.\nversion = 1\n\n"
        f'[[store]]\nname = "two"\nscope = "system"\nurl = "{two.url}"\nref = "main"\n'
        f'commit = "{two.commit}"\n\n'
        f'[[store]]\nname = "one"\nscope = "user"\nurl = "{one.url}"\nref = "main"\n'
        f'commit = "{one.commit}"\n')
    assert [e.name for e in lockfile.read(out)] == ["two", "one"]
    assert list(tmp_path.glob(".cards.lock.*")) == []


def test_lock_default_path_is_cards_lock_in_cwd(tmp_path: Path,
                                                two_stores: tuple[Path, Path]) -> None:
    result = run_cards("lock", cwd=tmp_path)
    assert result.stdout == "Wrote cards.lock (2 store(s)).\n"
    assert (tmp_path / "cards.lock").is_file()


def test_lock_check_fails_after_sync_moves_a_pin(tmp_path: Path, locations: Locations,
                                                 two_stores: tuple[Path, Path]) -> None:
    out = tmp_path / "cards.lock"
    run_cards("lock", "-o", str(out))
    ok = run_cards("lock", "--check", str(out))
    assert ok.returncode == 0 and ok.stdout == f"The stores match {out}.\n"
    old = read_state(list_stores(locations, "user")[0].paths).commit  # type: ignore[union-attr]
    new = commit_files(two_stores[0], {"cards/c.yaml": model("gamma")})
    push(two_stores[0])
    sync_stores(locations)
    result = run_cards("lock", "--check", str(out))
    assert result.returncode == 1
    assert result.stderr == (
        f"The stores differ from {out}:\n"
        f"  one (user): commit is {new} here, {old} in the lock file\n"
        f"Run `cards sync --lockfile {out}` to restore them.\n")


def test_sync_lockfile_rebuilds_identical_state_on_a_fresh_root(
        tmp_path: Path, locations: Locations, two_stores: tuple[Path, Path]) -> None:
    out = tmp_path / "cards.lock"
    run_cards("lock", "-o", str(out))
    expected = _store_view(locations)
    for work in two_stores:  # upstream moves on after the lock was written
        commit_files(work, {"cards/later.yaml": model(f"later{work.name}")})
        push(work)
    fresh = Locations(tmp_path / "fresh-sys", tmp_path / "fresh-user", tmp_path / "fresh-cache")
    env = dict(os.environ, FAIRSEQ2_ASSET_DIR=str(fresh.system),
               FAIRSEQ2_USER_ASSET_DIR=str(fresh.user), FAIRSEQ2_CACHE_DIR=str(fresh.cache))
    result = run_cards("sync", "--lockfile", str(out), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert [r["status"] for r in json.loads(result.stdout)] == ["added", "added"]
    assert _store_view(fresh) == expected
    assert run_cards("lock", "--check", str(out), env=env).returncode == 0


def test_sync_lockfile_moves_existing_pins_back(tmp_path: Path, locations: Locations,
                                                two_stores: tuple[Path, Path]) -> None:
    out = tmp_path / "cards.lock"
    lockfile.write(out, lockfile.entries_of(list_stores(locations)))
    expected = _store_view(locations)
    commit_files(two_stores[0], {"cards/a.yaml": model("alpha", description="v2")})
    push(two_stores[0])
    sync_stores(locations)
    results = sync_to_lockfile(locations, lockfile.read(out))
    assert sorted((r.store, r.status) for r in results) == [("one", "updated"),
                                                           ("two", "unchanged")]
    assert [r.changed for r in results if r.store == "one"] == [["alpha"]]
    assert _store_view(locations) == expected


def test_lockfile_naming_a_vanished_commit_changes_nothing(
        tmp_path: Path, locations: Locations, two_stores: tuple[Path, Path]) -> None:
    entries = lockfile.entries_of(list_stores(locations))
    ghost = "0123456789abcdef0123456789abcdef01234567"
    bad = [e if e.name == "two" else lockfile.LockedStore(e.scope, e.name, e.url, e.ref, ghost)
           for e in entries]
    before = _store_view(locations)
    with pytest.raises(StoreError) as info:
        sync_to_lockfile(locations, bad)
    assert str(info.value) == (f"store 'one': commit {ghost} from the lock file exists neither "
                               f"here nor at {entries[1].url}; no store was changed")
    assert _store_view(locations) == before
    out = tmp_path / "bad.lock"
    lockfile.write(out, bad)
    cli = run_cards("sync", "--lockfile", str(out))
    assert cli.returncode == 1 and f"commit {ghost} from the lock file" in cli.stderr


def test_broken_lock_files_are_clear_errors(tmp_path: Path, locations: Locations) -> None:
    path = tmp_path / "x.lock"
    path.write_text("version = 2\n")
    with pytest.raises(AssetMetadataError, match="lock file version 2 is not supported"):
        lockfile.read(path)
    path.write_text('version = 1\n[[store]]\nname = "../x"\nscope = "user"\nurl = "/x"\n'
                    'ref = "main"\ncommit = "' + "a" * 40 + '"\n')
    with pytest.raises(AssetMetadataError, match=r"store #1 \(../x\): store name"):
        lockfile.read(path)
    path.write_text('version = 1\n[[store]]\nname = "x"\nscope = "user"\nurl = "ext::sh"\n'
                    'ref = "main"\ncommit = "' + "a" * 40 + '"\n')
    with pytest.raises(AssetMetadataError, match="uses git's"):
        lockfile.read(path)
    path.write_text("version = [")
    result = run_cards("lock", "--check", str(path))
    assert result.returncode == 1 and "lock file is not valid TOML" in result.stderr
    missing = run_cards("sync", "--lockfile", str(tmp_path / "nope.lock"))
    assert missing.returncode == 1
    assert "does not exist; write one with `cards lock`" in missing.stderr


def test_from_lockfile_reads_old_cards_while_clone_is_pinned_newer(
        tmp_path: Path, locations: Locations, two_stores: tuple[Path, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "cards.lock"
    lockfile.write(out, lockfile.entries_of(list_stores(locations)))
    work = two_stores[0]
    git(work, "reset", "-q", "--hard", "HEAD")
    commit_files(work, {"cards/a.yaml": model("alpha", description="v2")})
    push(work)
    sync_stores(locations)
    pinned = StandardAssetStore.from_locations(locations, bundled=False)
    assert pinned.retrieve_card("alpha").field("description").as_string() == "v2"
    locked = StandardAssetStore.from_lockfile(out, locations)
    card = locked.retrieve_card("alpha")
    assert card.field("description").as_string() == "v1"
    assert card.provenance.commit == lockfile.read(out)[1].commit
    monkeypatch.setenv("ASSETCARDS_LOCKFILE", str(out))
    from assetcards import retrieve_card

    assert retrieve_card("alpha").field("description").as_string() == "v1"
    shown = run_cards("show", "alpha", "--json")
    assert json.loads(shown.stdout)["fields"]["description"] == "v1"


def test_from_lockfile_survives_force_push_and_gc(tmp_path: Path, locations: Locations,
                                                  two_stores: tuple[Path, Path]) -> None:
    work = two_stores[0]
    v2 = commit_files(work, {"cards/a.yaml": model("alpha", description="v2")})
    push(work)
    sync_stores(locations)
    out = tmp_path / "cards.lock"
    lockfile.write(out, lockfile.entries_of(list_stores(locations)))
    git(work, "reset", "-q", "--hard", "HEAD~1")
    commit_files(work, {"cards/a.yaml": model("alpha", description="v3")})
    push(work, "--force", "main")
    sync_stores(locations, options=SyncOptions(allow_rewrite=True))
    store = [s for s in list_stores(locations) if s.name == "one"][0]
    git(store.paths.git_dir, "reflog", "expire", "--expire=now", "--all")
    git(store.paths.git_dir, "gc", "-q", "--prune=now")
    card = StandardAssetStore.from_lockfile(out, locations).retrieve_card("alpha")
    assert card.field("description").as_string() == "v2"
    assert card.provenance.commit == v2


def test_from_lockfile_with_missing_commit_says_how_to_fix(tmp_path: Path, locations: Locations,
                                                           two_stores: tuple[Path, Path]) -> None:
    entries = lockfile.entries_of(list_stores(locations))
    ghost = "f" * 40
    out = tmp_path / "x.lock"
    lockfile.write(out, [lockfile.LockedStore(e.scope, e.name, e.url, e.ref, ghost)
                         for e in entries])
    store = StandardAssetStore.from_lockfile(out, locations)
    with pytest.raises(Exception, match="No card named 'alpha'"):
        store.retrieve_card("alpha")
    messages = [p.message for p in store.problems()]
    assert f"commit {ghost} of store 'one' is not in its local clone; run `cards sync " \
           "--lockfile FILE` to fetch it" in messages


def test_pin_holds_a_store_and_unpin_releases_it(tmp_path: Path, locations: Locations,
                                                 two_stores: tuple[Path, Path]) -> None:
    work = two_stores[0]
    git(work, "tag", "v1")
    v2 = commit_files(work, {"cards/a.yaml": model("alpha", description="v2")})
    push(work, "main", "v1")
    sync_stores(locations)
    result = run_cards("pin", "one", "v1")
    assert result.returncode == 0, result.stderr
    v1 = git(work, "rev-parse", "v1")
    assert result.stdout.startswith(f"Pinned store one at {v1} (v1)")
    commit_files(work, {"cards/c.yaml": model("gamma")})
    push(work)
    [one] = [r for r in sync_stores(locations) if r.store == "one"]
    assert one.status == "held" and one.old == v1
    assert one.message == "held at v1 by `cards pin`; `cards unpin` releases it"
    card = StandardAssetStore.from_locations(locations, bundled=False).retrieve_card("alpha")
    assert card.field("description").as_string() == "v1"
    pin_store(locations, "one", v2[:10])
    assert read_state(list_stores(locations, "user")[0].paths).commit == v2  # type: ignore
    unpin_store(locations, "one")
    [one] = [r for r in sync_stores(locations) if r.store == "one"]
    assert one.status == "updated" and one.added == ["gamma"]
    bad = run_cards("pin", "one", "no-such-tag")
    assert bad.returncode == 1
    assert "revision 'no-such-tag' is not known to the store's repository" in bad.stderr


def test_retrieve_card_at_revision(tmp_path: Path, locations: Locations,
                                   two_stores: tuple[Path, Path]) -> None:
    work = two_stores[0]
    git(work, "tag", "v1")
    commit_files(work, {"cards/a.yaml": model("alpha", description="v2")})
    push(work, "main", "v1")
    sync_stores(locations)
    store = StandardAssetStore.from_locations(locations, bundled=False)
    assert store.retrieve_card("alpha").field("description").as_string() == "v2"
    assert store.retrieve_card("alpha", revision="v1").field("description").as_string() == "v1"
    assert store.retrieve_card("alpha", revision="HEAD~1").field(
        "description").as_string() == "v1"
    shown = run_cards("show", "alpha", "--rev", "v1", "--json")
    assert json.loads(shown.stdout)["fields"]["description"] == "v1"
    assert json.loads(shown.stdout)["provenance"]["commit"] == git(work, "rev-parse", "v1")
