"""Many writers and many readers at once, as real processes: 6 `cards sync` loops over the same
stores while 16 readers look cards up in a loop and the test moves every upstream several times.

No step waits a fixed time: every reader has read the first generation before any sync starts,
the next generation is pushed once the pins have reached the previous one (while the syncs
keep running), and the readers are stopped once each has read the last generation."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assetcards.locations import Locations
from assetcards.sources.gitstore import get_store
from assetcards.stores.checkout import checkout_commit
from assetcards.stores.ops import add_store
from assetcards.stores.state import PINNED_REF, StorePaths, read_state
from tests.faults.helpers import (
    READER,
    SOAK,
    advance,
    cards,
    generation_upstream,
    lock_is_free,
    report,
)
from tests.gitutil import git
from tests.storeutil import CARDS

# `pytest -m 'not slow'` skips these in a quick loop; CI runs them all.
pytestmark = pytest.mark.slow

STORES = ["alpha", "beta", "gamma"]
SYNCS = 6
READERS = 64 if SOAK else 16
CLI_READERS = 2  # of READERS: these read through `cards list --json` instead of the library
GENERATIONS = 30 if SOAK else 5
DEADLINE = 240.0  # seconds any one wait may take before the test fails


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _progress(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {"rounds": 0, "last": {}}


def _pinned(locations: Locations, name: str) -> str | None:
    state = read_state(StorePaths(locations.user, name))
    return state.commit if state is not None else None


def _syncer(results: list[subprocess.CompletedProcess[str]], final: threading.Event,
            lock: threading.Lock) -> None:
    """Run `cards sync` again and again; once FINAL is set, run it once more and stop."""
    last_round = False
    for _ in range(200):
        last_round = final.is_set()
        result = cards("sync", "--json", "--no-progress", "--lock-timeout", "120", timeout=180)
        with lock:
            results.append(result)
        if last_round:
            return


def test_concurrent_syncs_and_readers_see_whole_commits(tmp_path: Path,
                                                        locations: Locations) -> None:
    works = {}
    for name in STORES:
        bare, work = generation_upstream(tmp_path, name)
        add_store(locations, name, str(bare))
        works[name] = work
    stop = tmp_path / "stop"
    outs = [tmp_path / f"reader{i}.json" for i in range(READERS)]
    progress = [tmp_path / f"reader{i}.progress" for i in range(READERS)]
    readers = [
        subprocess.Popen([sys.executable, READER, "--out", str(out), "--stop", str(stop),
                          "--stores", ",".join(STORES), "--max-seconds", "900",
                          "--progress", str(progress[i]),
                          *(["--cli", CARDS] if i < CLI_READERS else [])],
                         stderr=subprocess.PIPE, text=True)
        for i, out in enumerate(outs)
    ]
    _wait_for(lambda: all(_progress(p)["rounds"] > 0 for p in progress),
              "every reader to read generation 0")
    results: list[subprocess.CompletedProcess[str]] = []
    final = threading.Event()
    lock = threading.Lock()
    syncers = [threading.Thread(target=_syncer, args=(results, final, lock))
               for _ in range(SYNCS)]
    started = time.monotonic()
    for thread in syncers:
        thread.start()
    tips = {}
    try:
        for generation in range(1, GENERATIONS + 1):
            for name in STORES:
                tips[name] = advance(works[name], name, generation)
            if generation < GENERATIONS:  # the last one is pinned by the final round
                _wait_for(lambda: all(_pinned(locations, n) == tips[n] for n in STORES),
                          f"the syncs to pin generation {generation}")
    finally:
        final.set()
        for thread in syncers:
            thread.join(timeout=300)
        if len(tips) == len(STORES):
            _wait_for(lambda: all(_progress(p)["last"] == dict.fromkeys(STORES, GENERATIONS)
                                  for p in progress), "every reader to read the last generation")
        stop.touch()
        reader_errors = [p.communicate(timeout=120)[1] for p in readers]
    elapsed = time.monotonic() - started

    failed_syncs = [r for r in results if r.returncode != 0]
    assert failed_syncs == [], failed_syncs[0].stdout + failed_syncs[0].stderr
    statuses = [s["status"] for r in results for s in json.loads(r.stdout)]
    assert set(statuses) <= {"updated", "unchanged"}
    assert [p.returncode for p in readers] == [0] * READERS, reader_errors
    figures = [json.loads(out.read_text()) for out in outs]
    errors = [e for f in figures for e in f["errors"]]
    assert errors == [], errors[:5]
    assert all(f["rounds"] > 0 for f in figures)
    for name in STORES:
        store = get_store(locations, name)
        assert store.state.commit == tips[name]
        assert checkout_commit(store.paths) == tips[name]
        assert git(store.paths.git_dir, "rev-parse", PINNED_REF) == tips[name]
        assert lock_is_free(store.paths.lock)
        staging = store.paths.staging_dir
        assert not staging.exists() or not list(staging.iterdir())
    seen = {g for f in figures for name in STORES for g in f["generations"][name]}
    assert {0, GENERATIONS} <= seen
    report("test_concurrent_syncs_and_readers_see_whole_commits",
           syncs=len(results), sync_processes=SYNCS, readers=READERS,
           rounds=sum(f["rounds"] for f in figures), reads=sum(f["reads"] for f in figures),
           generations=GENERATIONS, updated=statuses.count("updated"),
           seconds=round(elapsed, 1), failures=len(errors) + len(failed_syncs))
