"""Someone else's hands on our files: lock files that are symlinks planted by another user,
and a store directory changed by hand (edited, deleted and added files, HEAD and the pinned
ref moved). Reads return the pinned commit's cards; sync refuses, repairs or explains."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assetcards.checkpoints.download import HOLDER_FILE, LOCK_FILE, cache_entry
from assetcards.locations import Locations
from assetcards.sources.source import STORE_MARKER
from assetcards.stores.checkout import checkout_commit
from assetcards.stores.ops import add_store
from assetcards.stores.state import PINNED_REF, read_state
from tests.faults.helpers import advance, cards, expected_names, generation_upstream
from tests.gitutil import git
from tests.http_server import serve

NOBODY = 65534


def _victim(tmp_path: Path) -> Path:
    """A file of another user that a planted symlink points at."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    if os.geteuid() == 0:
        os.chown(victim, NOBODY, NOBODY)
    return victim


def _generations() -> dict[str, int]:
    listed = cards("list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {e["name"]: int(e["description"].rsplit(" ", 1)[1])
            for lst in json.loads(listed.stdout) for e in lst["cards"]
            if e["name"].startswith("team_")}


@pytest.mark.parametrize("planted", ["team.lock", "team.lock.owner"])
def test_planted_symlink_as_store_lock_is_refused(planted: str, tmp_path: Path,
                                                  locations: Locations) -> None:
    bare, work = generation_upstream(tmp_path, "team")
    store, _ = add_store(locations, "team", str(bare))
    advance(work, "team", 1)
    victim = _victim(tmp_path)
    link = store.paths.lock.with_name(planted)
    link.unlink(missing_ok=True)
    link.symlink_to(victim)
    for args in (["sync", "--no-progress"], ["pin", "team", "HEAD"],
                 ["store", "remove", "team"], ["store", "add", "team", str(bare)]):
        result = cards(*args)
        assert result.returncode == 1, args
        assert f"lock file {link} is a symbolic link; refusing to use it" in (
            result.stdout + result.stderr), args
    assert victim.read_text() == "precious\n"
    assert read_state(store.paths).commit == store.state.commit  # type: ignore[union-attr]
    assert sorted(_generations()) == expected_names("team", 0)
    link.unlink()
    assert cards("sync", "--no-progress").returncode == 0
    assert set(_generations().values()) == {1}


def test_planted_symlinks_in_a_shared_checkpoint_cache(tmp_path: Path,
                                                       locations: Locations) -> None:
    """A cache shared by several users: the entry's lock, its holder note and a partial
    download planted as symlinks never write through to what they point at."""
    body = b"weights" * 1000
    with serve({"/w.pt": body}) as server:
        url = server.url("/w.pt")
        locations.user.mkdir(parents=True)
        (locations.user / "m.yaml").write_text(
            f"name: m\nmodel_family: llama\nmodel_arch: tiny\ncheckpoint: {url}\n")
        entry = cache_entry(locations, url)
        entry.mkdir(parents=True)
        victims = {}
        for name in ("lock", "holder", "part"):
            (tmp_path / name).mkdir()
            victims[name] = _victim(tmp_path / name)
        (entry / LOCK_FILE).symlink_to(victims["lock"])
        refused = cards("fetch", "m", "--no-progress")
        assert refused.returncode == 1
        assert f"cannot write the cache entry {entry}" in refused.stderr
        assert "Too many levels of symbolic links" in refused.stderr
        (entry / LOCK_FILE).unlink()
        (entry / HOLDER_FILE).symlink_to(victims["holder"])
        (entry / "w.pt.999-abc.part").symlink_to(victims["part"])
        fetched = cards("fetch", "m", "--no-progress")
        assert fetched.returncode == 0, fetched.stderr
        assert Path(fetched.stdout.strip()).read_bytes() == body
    assert all(v.read_text() == "precious\n" for v in victims.values())


def test_store_directory_changed_by_hand(tmp_path: Path, locations: Locations) -> None:
    bare, work = generation_upstream(tmp_path, "team")
    advance(work, "team", 1)
    store, _ = add_store(locations, "team", str(bare))
    pinned, paths = store.state.commit, store.paths
    first = git(work, "rev-list", "--max-parents=0", "HEAD")
    cards_dir = paths.checkout / "cards"
    (cards_dir / "c0.yaml").write_text("name: team_c0\ngeneration: 99\n"
                                       "description: team generation 99\n")
    (cards_dir / "c1.yaml").unlink()
    (cards_dir / "extra.yaml").write_text("name: intruder\ndescription: x 0\n")
    git(paths.git_dir, "update-ref", PINNED_REF, first)
    git(paths.git_dir, "update-ref", "--no-deref", "HEAD", first)  # a detached HEAD, moved
    # reads: the pinned commit's cards, whatever the directory says
    assert _generations() == {n: 1 for n in expected_names("team", 1)}
    shown = cards("show", "team_c0", "--json")
    assert json.loads(shown.stdout)["provenance"]["commit"] == pinned
    # sync, even offline, puts the directory and the refs back and says so
    result = cards("sync", "--offline", "--json")
    assert result.returncode == 0
    [entry] = json.loads(result.stdout)
    assert entry["status"] == "offline"
    assert entry["message"] == ("restored the checkout and the repository's HEAD to the pinned "
                                "commit")
    assert sorted(p.name for p in cards_dir.iterdir()) == [
        f"c{i}.yaml" for i in range(5)]
    assert "generation: 1" in (cards_dir / "c0.yaml").read_text()
    assert checkout_commit(paths) == pinned
    assert git(paths.git_dir, "symbolic-ref", "HEAD") == PINNED_REF
    assert git(paths.git_dir, "rev-parse", "HEAD") == pinned
    again = json.loads(cards("sync", "--offline", "--json").stdout)[0]
    assert again["message"] == "offline: kept the pinned commit"  # nothing left to repair


def test_marker_and_state_damaged_by_hand(tmp_path: Path, locations: Locations) -> None:
    bare, _ = generation_upstream(tmp_path, "team")
    store, _ = add_store(locations, "team", str(bare))
    (store.paths.checkout / STORE_MARKER).write_text("{not json")
    assert sorted(_generations()) == expected_names("team", 0)
    result = cards("sync", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)[0]["message"] == "restored the checkout to the pinned commit"
    store.paths.state_file.write_text('{"commit": "HEAD"}')
    broken = cards("sync")
    assert broken.returncode == 1
    assert broken.stderr.startswith(f"error: state file {store.paths.state_file} of store "
                                    "'team' is damaged")
    assert "remove the store and add it again" in broken.stderr
