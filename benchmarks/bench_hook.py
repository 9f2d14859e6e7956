"""How long the pre-commit hook takes in a store of many cards with one changed card.

    python benchmarks/bench_hook.py [--cards 10000] [--per-file 1] [--runs 7] [--no-cache]

Builds a git repository of CARDS cards (PER_FILE per file; a family card heads each group of
100 and the others use it as their base), stages one new card, then runs the hook's check
(`cards validate --staged`, a real process) RUNS times and prints the median. The first run
fills the cache (HEAD's tree index); the median is of the warm runs, as a contributor committing
in an existing checkout sees it. benchmarks/run.py measures the same (its "hook" figure).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CARDS, git, make_store, median  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--per-file", type=int, default=1, help="cards per file")
    parser.add_argument("--no-cache", action="store_true", help="empty the cache before each run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = make_store(Path(tmp) / "store", args.cards, args.per_file)
        (root / "cards" / "group0" / "new.yaml").write_text(
            "name: brand_new\nbase: fam0\nmodel_arch: x\ncheckpoint: w.pt\n")
        git(root, "add", "-A")
        cache = Path(tmp) / "cache"
        env = {**os.environ, "FAIRSEQ2_CACHE_DIR": str(cache),
               "FAIRSEQ2_ASSET_DIR": str(Path(tmp) / "system"),
               "FAIRSEQ2_USER_ASSET_DIR": str(Path(tmp) / "user")}
        times = []
        for run in range(args.runs + 1):
            if args.no_cache:
                shutil.rmtree(cache, ignore_errors=True)
            start = time.perf_counter()
            proc = subprocess.run([CARDS, "validate", "--staged"], cwd=root, env=env,
                                  capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                return 1
            if run or args.no_cache:
                times.append(elapsed)
        mode = "cold cache" if args.no_cache else "warm cache"
        print(f"{args.cards} cards, one changed, {mode}: median {median(times):.3f} s "
              f"over {len(times)} runs (min {min(times):.3f}, max {max(times):.3f}); "
              f"{proc.stderr.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
