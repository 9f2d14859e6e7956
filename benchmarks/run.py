"""The benchmark suite: stores of 1,000, 10,000 and 100,000 cards in real git repositories.

    python benchmarks/run.py [--sizes 1000,10000,100000] [--runs 5] [--workdir DIR]

Every figure is the median of RUNS fresh processes, printed beside the limit measured in the same
run: the wall time of a fresh Python process that reads the store's card blobs with
`git cat-file --batch` and parses them with PyYAML's CSafeLoader (what any tool that parses the
whole store must at least spend).

  1. lookup   first `retrieve_card` of one card in a fresh process, from store construction
  2. show     `cards show NAME` wall time (interpreter start included)
  3. validate `cards validate --rev HEAD` of every card, cold (empty cache)
  4. sync20   `cards sync` of 20 stores (N/20 cards each) when nothing changed upstream
  5. hook     `cards validate --staged` with one new card (the pre-commit hook), each run after
              a commit (the first run in a clone, which parses everything once, is not counted)
  6. memory   peak resident memory of 3
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    CARDS,
    git,
    make_store,
    median,
    peak_rss_mib,
    reported,
    timed,
)

LIMIT = r"""
import subprocess, yaml
ids = subprocess.run(["git", "ls-tree", "-r", "--object-only", "HEAD", "cards"],
                     capture_output=True, check=True).stdout
out = subprocess.run(["git", "cat-file", "--batch"], input=ids, capture_output=True).stdout
pos = 0
while pos < len(out):
    newline = out.index(b"\n", pos)
    size = int(out[pos:newline].split()[2])
    pos = newline + 1
    list(yaml.load_all(out[pos:pos + size], Loader=yaml.CSafeLoader))
    pos += size + 1
"""

LOOKUP = r"""
import sys, time
from assetcards.locations import Locations
from assetcards.store import StandardAssetStore
start = time.perf_counter()
store = StandardAssetStore.from_locations(Locations.from_env())
card = store.retrieve_card(sys.argv[1])
card.field("checkpoint").as_uri()
print(time.perf_counter() - start)
"""

TARGETS = {"lookup": 0.020, "show": 0.200, "sync20": 2.0, "hook": 0.5}


def roots(base: Path, name: str) -> dict[str, str]:
    return {**os.environ, "FAIRSEQ2_ASSET_DIR": str(base / name / "system"),
            "FAIRSEQ2_USER_ASSET_DIR": str(base / name / "user"),
            "FAIRSEQ2_CACHE_DIR": str(base / name / "cache"), "FAIRSEQ2_NO_PROGRESS": "1"}


def bench_size(n: int, runs: int, work: Path) -> dict[str, float]:
    base = work / f"n{n}"
    repo = make_store(base / "repo", n)
    results: dict[str, float] = {}
    env = roots(base, "one")
    results["add"] = timed([CARDS, "store", "add", "big", str(repo)], env)
    name = f"card{n // 2 + 1}"
    results["lookup"] = median([reported([sys.executable, "-c", LOOKUP, name], env)
                                for _ in range(runs)])
    results["show"] = median([timed([CARDS, "show", name], env) for _ in range(runs)])
    bare = roots(base, "empty")  # no tracked store: the store's own names are not duplicates
    validate = [CARDS, "validate", "--rev", "HEAD"]
    limits, times = [], []
    for _ in range(runs):  # in turn, so that both see the machine in the same state
        limits.append(timed([sys.executable, "-c", LIMIT], dict(os.environ), repo))
        shutil.rmtree(base / "empty" / "cache", ignore_errors=True)
        times.append(timed(validate, bare, repo))
    results["limit"] = median(limits)
    results["validate"] = median(times)
    shutil.rmtree(base / "empty" / "cache", ignore_errors=True)
    results["memory"] = peak_rss_mib(validate, bare, repo)
    hook = [CARDS, "validate", "--staged"]
    stage_new_card(repo, 0)
    results["hook_first"] = timed(hook, bare, repo)  # the first run in a clone parses it all
    times = []
    for k in range(1, runs + 1):  # as in use: commit, change a card, the hook checks it
        git(repo, "commit", "-q", "--no-verify", "-m", f"card {k - 1}")
        stage_new_card(repo, k)
        times.append(timed(hook, bare, repo))
    results["hook"] = median(times)
    results["sync20"] = bench_sync20(n, runs, base)
    return results


def stage_new_card(repo: Path, k: int) -> None:
    (repo / "cards" / "group0" / f"changed{k}.yaml").write_text(
        f"name: brand_new{k}\nbase: fam0\nmodel_arch: x\ncheckpoint: w.pt\n")
    git(repo, "add", "-A")


def bench_sync20(n: int, runs: int, base: Path) -> float:
    env = roots(base, "twenty")
    for k in range(20):
        repo = make_store(base / f"up{k}", max(n // 20, 1), prefix=f"s{k}_")
        subprocess.run([CARDS, "store", "add", f"s{k}", str(repo)], env=env, check=True,
                       capture_output=True)
    return median([timed([CARDS, "sync"], env) for _ in range(runs)])


def machine() -> str:
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


def table(rows: dict[int, dict[str, float]], runs: int) -> str:
    def ms(v: float) -> str:
        return f"{v * 1000:,.0f} ms" if v < 10 else f"{v:,.1f} s"

    lines = [f"Machine: {machine()}. Medians of {runs} fresh processes.", "",
             "| cards | read+parse limit | 1. lookup | 2. show | 3. validate (x limit) | "
             "4. sync 20 stores | 5. hook | 6. memory of 3 | store add |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, r in rows.items():
        lines.append(
            f"| {n:,} | {ms(r['limit'])} | {ms(r['lookup'])} | {ms(r['show'])} | "
            f"{ms(r['validate'])} ({r['validate'] / r['limit']:.2f}x) | {ms(r['sync20'])} | "
            f"{ms(r['hook'])} (first {ms(r['hook_first'])}) | {r['memory']:,.0f} MiB | "
            f"{ms(r['add'])} |")
    lines += ["", "Targets at 10,000 cards: lookup < 20 ms, show < 200 ms, validate within "
              "1.3x of the limit, sync of 20 stores < 2 s and flat, hook < 0.5 s, memory at "
              "100,000 cards < 1 GiB."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, help="keep the stores here (default: a "
                        "temporary directory, removed afterwards)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="assetcards-bench-"))
    rows = {}
    try:
        for n in sizes:
            print(f"benchmarking {n:,} cards...", file=sys.stderr, flush=True)
            rows[n] = bench_size(n, args.runs, work / str(n))
            print(table({n: rows[n]}, args.runs).splitlines()[-3], file=sys.stderr, flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    text = table(rows, args.runs)
    print(text)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
