"""Helpers for tests of git stores: card text, upstreams, the `cards` executable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.gitutil import make_upstream

CARDS = str(Path(sys.executable).parent / "cards")


def card_text(name: str, **fields: object) -> str:
    return yaml.safe_dump({"name": name, **fields}, sort_keys=False)


def model(name: str, **fields: object) -> str:
    values: dict[str, object] = {"model_family": "llama", "model_arch": "tiny",
                                 "checkpoint": f"https://example.com/{name}.pt"}
    values.update(fields)
    return card_text(name, **values)


def card_upstream(tmp: Path, cards: dict[str, str], name: str = "upstream",
                  extra: dict[str, str | bytes] | None = None) -> tuple[Path, Path]:
    """A bare upstream whose cards/ holds CARDS (file name -> text); returns (bare, work)."""
    files: dict[str, str | bytes] = {f"cards/{k}": v for k, v in cards.items()}
    files.update(extra or {})
    return make_upstream(tmp, files, name)


def run_cards(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
              cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CARDS, *args], capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else dict(os.environ), cwd=cwd)


@contextmanager
def world_readable_dir(tmp_path: Path, label: str) -> Iterator[Path]:
    """A directory other users can read (pytest's own temporary directories are private)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as another user")
    base = Path("/tmp") / f"assetcards-{label}-{os.getpid()}-{tmp_path.name}"
    base.mkdir(mode=0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run_as_nobody(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`cards ARGS` as the unprivileged user nobody."""
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           CARDS, *args], capture_output=True, text=True, env=env, timeout=60)
