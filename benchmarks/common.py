"""Shared pieces of the benchmarks: building card repositories, timing fresh processes."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BIN = Path(sys.executable).parent
CARDS = str(BIN / "cards")
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                            text=True, env={**os.environ, **GIT_ENV})
    return result.stdout.strip()


def card_text(i: int, prefix: str = "") -> str:
    """Card I of a store: a family card heads each group of 100, the others inherit it."""
    family = f"{prefix}fam{i // 100}"
    if i % 100 == 0:
        return (f"name: {family}\nmodel_family: llama\ntokenizer: "
                f"https://example.com/tok/{family}.model\ndescription: family {family}\n")
    return (f"name: {prefix}card{i}\nbase: {family}\nmodel_arch: arch{i % 7}\n"
            f"checkpoint: https://example.com/ckpt/{prefix}{i}.pt\n"
            f"description: card number {i} of the benchmark store\n"
            f"model_config:\n  max_seq_len: 4096\n  dropout_p: 0.1\n")


def card_path(i: int) -> str:
    """Where card I lives in a store of one card per file (make_store's layout)."""
    return f"cards/group{i // 1000}/file{i}.yaml"


def make_store(root: Path, count: int, per_file: int = 1, prefix: str = "") -> Path:
    """A git repository at ROOT with COUNT cards under cards/, PER_FILE cards per file."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    (root / "assetcards.toml").write_text('[store]\ncards = "cards"\n')
    for start in range(0, count, per_file):
        docs = [card_text(i, prefix) for i in range(start, min(start + per_file, count))]
        folder = root / "cards" / f"group{start // 1000}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{start}.yaml").write_text("---\n".join(docs))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "cards")
    return root


def timed(cmd: Sequence[str], env: dict[str, str] | None, cwd: Path | None = None) -> float:
    """Wall time of one run of CMD, which must succeed (ENV None: this process's)."""
    start = time.perf_counter()
    result = subprocess.run(list(cmd), env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr}")
    return elapsed


def reported(cmd: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> float:
    """A fresh process that prints the seconds it measured itself (its last line)."""
    result = subprocess.run(list(cmd), env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr}")
    return float(result.stdout.strip().splitlines()[-1])


def peak_rss_mib(cmd: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> float:
    """Peak resident memory of CMD (and its children), measured by a fresh wrapper."""
    wrapper = ("import resource, subprocess, sys\n"
               "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
               "assert r.returncode == 0, r.stderr\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    return reported([sys.executable, "-c", wrapper, *cmd], env, cwd)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def commit_changes(repo: Path, indices: Sequence[int], tag: str) -> None:
    """Change the description of the cards INDICES (one card per file) upstream, in one commit."""
    for i in indices:
        text = card_text(i).replace("description: ", f"description: {tag} ", 1)
        (repo / card_path(i)).write_text(text)
    git(repo, "commit", "-q", "-a", "-m", f"change {len(indices)} card(s): {tag}")


def roots(base: Path) -> dict[str, str]:
    """An environment whose system, user and cache roots are under BASE."""
    return {**os.environ, "FAIRSEQ2_ASSET_DIR": str(base / "system"),
            "FAIRSEQ2_USER_ASSET_DIR": str(base / "user"),
            "FAIRSEQ2_CACHE_DIR": str(base / "cache"), "FAIRSEQ2_NO_PROGRESS": "1"}


def age_verified(root: Path) -> bool:
    """Make the hourly full check of every store under ROOT due, as an hour without one would:
    its state's `verified_at` goes back to 0. False if no state records it."""
    aged = False
    for state in sorted((root / ".assetcards" / "stores").glob("*.json")):
        data = json.loads(state.read_text())
        if "verified_at" in data:
            data["verified_at"] = 0.0
            tmp = state.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, state)
            aged = True
    return aged


def machine() -> str:
    """Cores, CPU model, Python, git and kernel of this machine, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gitv = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {gitv}, "
            f"{platform.system()} {platform.release()}")


def load_average() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "unknown"
