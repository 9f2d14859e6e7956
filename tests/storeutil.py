"""Helpers for tests of git stores: card text, upstreams, the `cards` executable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
