"""`kill -9` of `cards sync` and `cards store add` at random (seeded) moments: every store
stays readable at its old or its new commit, no lock is left blocking, the next run succeeds."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from assetcards.locations import Locations
from assetcards.sources.assetstore import StandardAssetStore
from assetcards.sources.gitstore import get_store
from assetcards.sources.source import STORE_MARKER
from assetcards.stores.checkout import checkout_commit
from assetcards.stores.ops import add_store
from assetcards.stores.state import StorePaths, read_state
from tests.faults.helpers import (
    SOAK,
    advance,
    cards,
    expected_names,
    generation_upstream,
    lock_is_free,
    report,
)
from tests.storeutil import CARDS

# `pytest -m 'not slow'` skips these in a quick loop; CI runs them all.
pytestmark = pytest.mark.slow

TRIALS = 200 if SOAK else 30
ADD_TRIALS = 60 if SOAK else 10
CARDS_PER_STORE = 120
SEED = 20240611


def _kill_at_random(args: list[str], rng: random.Random, longest: float) -> tuple[float, str]:
    """Start `cards ARGS`, kill -9 it after a random delay: the whole process group, or (as
    an OOM killer would) the Python process alone, leaving any git child to finish."""
    proc = subprocess.Popen([CARDS, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    delay = rng.uniform(0, longest)
    time.sleep(delay)
    how = rng.choice(["group", "process"])
    if how == "group":
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return delay, how


def _library_view(locations: Locations, name: str) -> tuple[int, list[str]]:
    """The generation and card names the library reads for store NAME (one whole commit)."""
    asset_store = StandardAssetStore.from_locations(locations, bundled=False)
    names = sorted(n for n in asset_store.retrieve_names() if n.startswith(f"{name}_"))
    generations = {asset_store.retrieve_card(n).field("generation").as_(int) for n in names}
    assert len(generations) == 1, generations
    return generations.pop(), names


def _checkout_view(paths: StorePaths) -> int | None:
    """The generation of the files in the checkout (a fairseq2 reading the root sees these);
    None when there is no checkout. They must be one whole commit too."""
    if not paths.checkout.exists():
        return None
    generations = {yaml.safe_load(p.read_text())["generation"]
                   for p in (paths.checkout / "cards").glob("*.yaml")}
    assert len(generations) == 1, generations
    assert (paths.checkout / STORE_MARKER).is_file()
    return generations.pop()


def test_kill_9_during_sync(tmp_path: Path, locations: Locations) -> None:
    bare, work = generation_upstream(tmp_path, "team", CARDS_PER_STORE)
    store, _ = add_store(locations, "team", str(bare))
    paths = store.paths
    generation_of = {store.state.commit: 0}
    rng = random.Random(SEED)
    outcomes = {"old": 0, "new": 0}
    reads = 0
    for trial in range(1, TRIALS + 1):
        old = read_state(paths).commit  # type: ignore[union-attr]
        new = advance(work, "team", trial, CARDS_PER_STORE)
        generation_of[new] = trial
        _kill_at_random(["sync", "--no-progress"], rng, 0.7)
        state = read_state(paths)
        assert state is not None and state.commit in (old, new), trial
        outcomes["old" if state.commit == old else "new"] += 1
        generation, names = _library_view(locations, "team")
        assert generation == generation_of[state.commit]
        assert names == expected_names("team", generation, CARDS_PER_STORE)
        reads += len(names)
        assert checkout_commit(paths) in (old, new, None)
        assert _checkout_view(paths) in (generation_of[old], trial, None)
        assert lock_is_free(paths.lock), f"trial {trial}: the lock of a killed sync is held"
        result = cards("sync", "--no-progress", "--lock-timeout", "10")
        assert result.returncode == 0, (trial, result.stdout, result.stderr)
        final = get_store(locations, "team")
        assert final.state.commit == new and checkout_commit(paths) == new
        assert _checkout_view(paths) == trial
    assert not paths.staging_dir.exists() or not list(paths.staging_dir.iterdir())
    report("test_kill_9_during_sync", trials=TRIALS, seed=SEED, killed_before_pin=outcomes["old"],
           killed_after_pin=outcomes["new"], reads=reads, failures=0)


def test_kill_9_during_store_add(tmp_path: Path, locations: Locations) -> None:
    bare, _ = generation_upstream(tmp_path, "team", CARDS_PER_STORE)
    rng = random.Random(SEED + 1)
    outcomes = {"absent": 0, "added": 0}
    for trial in range(ADD_TRIALS):
        _kill_at_random(["store", "add", "team", str(bare)], rng, 0.6)
        paths = StorePaths(locations.user, "team")
        assert lock_is_free(paths.lock)
        state = read_state(paths)
        if state is None:
            outcomes["absent"] += 1
            names = StandardAssetStore.from_locations(locations, bundled=False).retrieve_names()
            assert [n for n in names if n.startswith("team_")] == []
        else:
            outcomes["added"] += 1
            assert _library_view(locations, "team") == (
                0, expected_names("team", 0, CARDS_PER_STORE))
        result = cards("store", "add", "team", str(bare), "--lock-timeout", "10")
        assert result.returncode == 0, (trial, result.stdout, result.stderr)
        assert _library_view(locations, "team")[0] == 0 and _checkout_view(paths) == 0
        assert cards("store", "remove", "team").returncode == 0
    report("test_kill_9_during_store_add", trials=ADD_TRIALS, seed=SEED + 1, **outcomes,
           failures=0)


def test_store_add_killed_between_the_checkout_and_the_state_is_added_again(
        tmp_path: Path, locations: Locations) -> None:
    """The one moment a random kill rarely hits: the checkout swapped in, the state not yet
    written. The next `store add` clears what the killed one left and adds the store; a
    directory that is not a checkout of ours is never removed."""
    bare, _ = generation_upstream(tmp_path, "team")
    store, _ = add_store(locations, "team", str(bare))
    store.paths.state_file.unlink()  # as if killed just before writing it
    assert (store.paths.checkout / STORE_MARKER).exists()
    result = cards("store", "add", "team", str(bare))
    assert result.returncode == 0, result.stderr
    assert _library_view(locations, "team") == (0, expected_names("team", 0))

    theirs = locations.user / "mine"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep me")
    refused = cards("store", "add", "mine", str(bare))
    assert refused.returncode == 1 and "already exists and is not a store" in refused.stderr
    assert (theirs / "notes.txt").read_text() == "keep me"


def test_git_killed_while_holding_a_ref_lock_blocks_no_later_sync(
        tmp_path: Path, locations: Locations) -> None:
    """A git process killed while it updates a ref (power loss, the OOM killer) leaves its
    `<ref>.lock` file behind, and git refuses to touch that ref again until someone removes
    it. A real git is stopped at that moment by a reference-transaction hook, then killed."""
    bare, work = generation_upstream(tmp_path, "team")
    store, _ = add_store(locations, "team", str(bare))
    new = advance(work, "team", 1)
    marker = tmp_path / "git-pid"
    hook = store.paths.git_dir / "hooks" / "reference-transaction"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f'#!/bin/sh\n[ "$1" = prepared ] && echo $PPID > {marker} && sleep 60\n'
                    "exit 0\n")
    hook.chmod(0o755)
    proc = subprocess.Popen([CARDS, "sync", "--no-progress"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    git_pid = int(marker.read_text())
    os.killpg(git_pid, signal.SIGKILL)  # git and its hook: git runs in a session of its own
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    hook.unlink()
    left = sorted(str(p.relative_to(store.paths.git_dir))
                  for p in store.paths.git_dir.rglob("*.lock"))
    assert left == ["refs/assetcards/upstream.lock"]
    assert read_state(store.paths).commit == store.state.commit  # type: ignore[union-attr]
    assert lock_is_free(store.paths.lock)
    result = cards("sync", "--no-progress", "--lock-timeout", "10")
    assert result.returncode == 0, result.stdout + result.stderr
    assert get_store(locations, "team").state.commit == new
    assert not list(store.paths.git_dir.rglob("*.lock"))


def test_pin_lock_left_by_a_dead_git_is_cleared_too(tmp_path: Path,
                                                    locations: Locations) -> None:
    bare, work = generation_upstream(tmp_path, "team")
    store, _ = add_store(locations, "team", str(bare))
    new = advance(work, "team", 1)
    for rel in ("refs/assetcards/pinned.lock", "packed-refs.lock"):
        (store.paths.git_dir / rel).write_text("")  # as a dead git leaves it: empty
    result = cards("sync", "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    assert get_store(locations, "team").state.commit == new
