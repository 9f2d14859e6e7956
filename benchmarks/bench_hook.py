"""How long the pre-commit hook takes in a store of many cards with one changed card.

    python benchmarks/bench_hook.py [--cards 10000] [--runs 7] [--no-cache]

Builds a git repository of CARDS cards (PER_FILE per file, default one; a family card
heads each group of 100 and the others use it as their base), stages a
change to one card, then runs the installed hook (`cards validate --staged`, a real process)
RUNS times and prints the median. The first run fills the parse cache; the median is of the
warm runs, as a contributor committing in an existing checkout sees it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def make_store(root: Path, count: int, per_file: int) -> None:
    git(root, "init", "-q", "-b", "main")
    (root / "assetcards.toml").write_text('[store]\ncards = "cards"\n')
    for start in range(0, count, per_file):
        docs = []
        for i in range(start, min(start + per_file, count)):
            family = f"fam{i // 100}"
            if i % 100 == 0:
                docs.append(f"name: {family}\nmodel_family: {family}\ndescription: {family}\n")
            else:
                docs.append(f"name: card{i}\nbase: {family}\nmodel_arch: arch{i}\n"
                            f"checkpoint: https://example.com/ckpt/{i}.pt\n"
                            f"description: card number {i}\n")
        folder = root / "cards" / f"group{start // 1000}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{start}.yaml").write_text("---\n".join(docs))
    git(root, "add", "-A")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}
    subprocess.run(["git", "commit", "-q", "-m", "cards"], cwd=root, check=True, env=env)
    changed = root / "cards" / "group0" / "new.yaml"
    changed.write_text("name: brand_new\nbase: fam0\nmodel_arch: x\ncheckpoint: w.pt\n")
    git(root, "add", "-A")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--per-file", type=int, default=1, help="cards per file")
    parser.add_argument("--no-cache", action="store_true", help="empty the cache before each run")
    args = parser.parse_args()
    cards = shutil.which("cards") or str(Path(sys.executable).parent / "cards")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        root.mkdir()
        cache = Path(tmp) / "cache"
        env = {**os.environ, "FAIRSEQ2_CACHE_DIR": str(cache),
               "FAIRSEQ2_ASSET_DIR": str(Path(tmp) / "system"),
               "FAIRSEQ2_USER_ASSET_DIR": str(Path(tmp) / "user")}
        make_store(root, args.cards, args.per_file)
        times = []
        for run in range(args.runs + 1):
            if args.no_cache:
                shutil.rmtree(cache, ignore_errors=True)
            start = time.perf_counter()
            proc = subprocess.run([cards, "validate", "--staged"], cwd=root, env=env,
                                  capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                return 1
            if run or args.no_cache:
                times.append(elapsed)
        mode = "cold cache" if args.no_cache else "warm cache"
        print(f"{args.cards} cards, one changed, {mode}: median {statistics.median(times):.3f} s "
              f"over {len(times)} runs (min {min(times):.3f}, max {max(times):.3f}); "
              f"{proc.stderr.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
