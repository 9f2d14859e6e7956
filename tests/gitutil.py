"""Build real git repositories for tests: a work tree with files, and bare upstreams."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path


def git(cwd: Path, *args: str, check: bool = True) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_DIR")}
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def make_repo(path: Path, files: dict[str, str | bytes] | None = None,
              message: str = "initial") -> Path:
    """A non-bare repository on branch main, with FILES committed (if any)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    if files:
        commit_files(path, files, message)
    return path


def commit_files(repo: Path, files: dict[str, str | bytes], message: str = "change",
                 remove: tuple[str, ...] = ()) -> str:
    write_files(repo, files)
    for rel in remove:
        git(repo, "rm", "-q", rel)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_upstream(tmp: Path, files: dict[str, str | bytes], name: str = "upstream") -> tuple[
        Path, Path]:
    """A bare repository NAME.git and a work clone of it to commit from; returns (bare, work)."""
    work = make_repo(tmp / f"{name}-work", files)
    bare = tmp / f"{name}.git"
    git(tmp, "clone", "-q", "--bare", str(work), str(bare))
    git(work, "remote", "add", "origin", str(bare))
    git(work, "fetch", "-q", "origin")
    git(work, "branch", "-q", "--set-upstream-to=origin/main", "main")
    return bare, work


def push(work: Path, *args: str) -> None:
    git(work, "push", "-q", "origin", *(args or ("main",)))


def write(path: Path, text: str) -> Path:
    """Write TEXT (dedented, leading newline dropped) to PATH, making its directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path
