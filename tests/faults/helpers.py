"""Helpers of the fault suite: stores whose every card carries its commit's generation, the
`cards` CLI as a real process, and the figures each test reports."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.gitutil import commit_files, make_upstream, push
from tests.storeutil import CARDS

READER = str(Path(__file__).with_name("reader.py"))
SOAK = os.environ.get("ASSETCARDS_SOAK", "") not in ("", "0")


def generation_files(store: str, generation: int, cards: int = 4) -> dict[str, str | bytes]:
    """The card files of generation K of STORE: every card says `generation: K`, and which
    cards exist depends on K (one comes and goes), so a mixed read is always visible."""
    files: dict[str, str | bytes] = {}
    count = cards + generation % 2
    for i in range(count):
        doc = {"name": f"{store}_c{i}", "generation": generation,
               "description": f"{store} generation {generation}"}
        files[f"cards/c{i}.yaml"] = yaml.safe_dump(doc, sort_keys=False)
    return files


def expected_names(store: str, generation: int, cards: int = 4) -> list[str]:
    return sorted(f"{store}_c{i}" for i in range(cards + generation % 2))


def generation_upstream(tmp: Path, store: str, cards: int = 4) -> tuple[Path, Path]:
    """A bare upstream at generation 0, and its work clone."""
    return make_upstream(tmp, generation_files(store, 0, cards), name=f"up-{store}")


def advance(work: Path, store: str, generation: int, cards: int = 4) -> str:
    """Commit and push generation K of STORE; the new commit id."""
    old = {f"cards/c{i}.yaml" for i in range(cards + 1)}
    new = generation_files(store, generation, cards)
    remove = tuple(sorted(p for p in old - set(new) if (work / p).exists()))
    commit = commit_files(work, new, f"generation {generation}", remove=remove)
    push(work)
    return commit


def cards(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
          input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `cards` CLI; it must never end in a Python traceback."""
    result = subprocess.run([CARDS, *args], capture_output=True, text=True, timeout=timeout,
                            env=env if env is not None else dict(os.environ), input=input)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def lock_is_free(lock: Path, within: float = 10.0) -> bool:
    """Whether nobody holds the store lock at LOCK (asked of the kernel, not of a file), within
    WITHIN seconds: a process killed while it started git leaves a forked child that shares
    the lock's open file until it execs git a moment later (and so releases it)."""
    deadline = time.monotonic() + within
    while not _lock_is_free_now(lock):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _lock_is_free_now(lock: Path) -> bool:
    if not lock.exists():
        return True
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def report(test: str, **figures: object) -> None:
    """Print the figures of a test (seen with `pytest -s`, gathered in docs/reliability.md)."""
    sys.stdout.write(f"\nFIGURES {test} {json.dumps(figures, sort_keys=True)}\n")
