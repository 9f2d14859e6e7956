"""What upstream can do to a store: rewrite its history, delete the branch, vanish, and take
the pinned commit away for good. Reads keep working at the pin; sync explains and exits 1."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from assetcards.locations import Locations
from assetcards.sources.gitstore import get_store
from assetcards.stores.ops import add_store
from tests.faults.helpers import (
    advance,
    cards,
    expected_names,
    generation_files,
    generation_upstream,
)
from tests.gitutil import commit_files, git, push


def _names(store: str = "team") -> list[str]:
    result = cards("list", "--json")
    assert result.returncode == 0, result.stderr
    return sorted(e["name"] for lst in json.loads(result.stdout) for e in lst["cards"]
                  if e["name"].startswith(store + "_"))


def _generation(name: str, *extra: str) -> int:
    result = cards("show", name, "--json", *extra)
    assert result.returncode == 0, result.stderr
    return int(json.loads(result.stdout)["fields"]["generation"])


def _sync_json(*args: str) -> tuple[int, dict[str, object]]:
    result = cards("sync", "--json", "--no-progress", *args)
    [entry] = json.loads(result.stdout)
    return result.returncode, entry


def _rewrite(work: Path, bare: Path, generation: int) -> str:
    """Force-push a history without the current tip, then make upstream forget the old
    commits for good (reflog expired, gc pruned)."""
    git(work, "reset", "-q", "--hard", "HEAD~1")
    new = advance_no_push(work, generation)
    push(work, "--force", "main")
    git(bare, "reflog", "expire", "--expire=now", "--all")
    git(bare, "gc", "-q", "--prune=now")
    return new


def advance_no_push(work: Path, generation: int) -> str:
    return commit_files(work, generation_files("team", generation), f"rewrite {generation}")


def test_force_push_is_explained_and_followed_only_when_allowed(
        tmp_path: Path, locations: Locations) -> None:
    bare, work = generation_upstream(tmp_path, "team")
    advance(work, "team", 1)
    store, _ = add_store(locations, "team", str(bare))
    pinned = store.state.commit
    rewritten = _rewrite(work, bare, 7)
    assert git(bare, "cat-file", "-t", pinned, check=False) == ""  # gone upstream
    code, entry = _sync_json()
    assert code == 1
    assert entry["status"] == "rewrite-refused" and entry["ok"] is False
    assert entry["old"] == pinned and entry["new"] == rewritten
    assert "upstream history was rewritten" in str(entry["message"])
    assert "--allow-rewrite" in str(entry["message"])
    assert _names() == expected_names("team", 1) and _generation("team_c0") == 1
    text = cards("sync", "--no-progress")
    assert text.returncode == 1 and "team: rewrite-refused at" in text.stdout
    code, entry = _sync_json("--allow-rewrite")
    assert (code, entry["status"], entry["new"]) == (0, "updated", rewritten)
    assert _generation("team_c0") == 7
    git(store.paths.git_dir, "gc", "-q", "--prune=now")  # the old pin survives a local gc
    assert _generation("team_c0", "--rev", pinned) == 1


def test_upstream_branch_deleted(tmp_path: Path, locations: Locations) -> None:
    bare, work = generation_upstream(tmp_path, "team")
    store, _ = add_store(locations, "team", str(bare))
    git(work, "push", "-q", "origin", "main:other")
    git(bare, "symbolic-ref", "HEAD", "refs/heads/other")
    git(work, "push", "-q", "origin", ":main")
    code, entry = _sync_json()
    assert code == 1 and entry["status"] == "failed"
    assert entry["old"] == entry["new"] == store.state.commit
    assert str(entry["message"]).startswith(f"cannot fetch main from {bare}: ")
    assert "couldn't find remote ref main" in str(entry["message"])
    assert str(entry["message"]).endswith("; kept the pin")
    assert _names() == expected_names("team", 0)


def test_upstream_repository_deleted(tmp_path: Path, locations: Locations) -> None:
    bare, _ = generation_upstream(tmp_path, "team")
    store, _ = add_store(locations, "team", str(bare))
    shutil.rmtree(bare)
    code, entry = _sync_json()
    assert code == 1 and entry["status"] == "failed"
    assert "does not appear to be a git repository" in str(entry["message"])
    assert str(entry["message"]).endswith("; kept the pin")
    assert _names() == expected_names("team", 0)
    assert _generation("team_c0") == 0
    offline = cards("sync", "--offline", "--no-progress")
    assert offline.returncode == 0 and "team: offline at" in offline.stdout
    assert get_store(locations, "team").state.commit == store.state.commit


def test_pinned_commit_gone_upstream(tmp_path: Path, locations: Locations) -> None:
    """The pinned commit is rewritten away and pruned upstream: this machine still reads it;
    a lock file naming it still rebuilds it here, and on a machine that never fetched it the
    lock file fails before any store changes, naming the commit."""
    bare, work = generation_upstream(tmp_path, "team")
    advance(work, "team", 1)
    store, _ = add_store(locations, "team", str(bare))
    pinned = store.state.commit
    lockfile = tmp_path / "cards.lock"
    assert cards("lock", "-o", str(lockfile)).returncode == 0
    _rewrite(work, bare, 2)
    assert cards("sync", "--allow-rewrite", "--no-progress").returncode == 0
    assert _generation("team_c0") == 2
    git(store.paths.git_dir, "gc", "-q", "--prune=now")
    back = cards("sync", "--lockfile", str(lockfile), "--no-progress")
    assert back.returncode == 0, back.stdout + back.stderr
    assert get_store(locations, "team").state.commit == pinned
    assert _generation("team_c0") == 1
    other = dict(os.environ, FAIRSEQ2_USER_ASSET_DIR=str(tmp_path / "elsewhere"))
    fresh = cards("sync", "--lockfile", str(lockfile), "--no-progress", env=other)
    assert fresh.returncode == 1
    assert fresh.stderr == (f"error: store 'team': commit {pinned} from the lock file exists "
                            f"neither here nor at {bare}; no store was changed\n")
    assert not (tmp_path / "elsewhere" / "team").exists()
