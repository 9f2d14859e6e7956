"""The benchmark suite: our figures beside their peers, in one run, on stores of real git
repositories of 1,000, 10,000 and 100,000 cards (one card per file).

    python benchmarks/run.py [--sizes 1000,10000,100000] [--runs 5] [--cluster]
                             [--write-readme] [--note TEXT] [--no-fairseq2]
    python benchmarks/run.py --from-results benchmarks/results/latest.json --write-readme

Every figure is the median of RUNS fresh processes, each timed in turn with its peer, so that
both see the machine in the same state:

  lookup     `python -c "from assetcards import retrieve_card; retrieve_card(NAME)"`, wall time
             (imports included), beside fairseq2 0.8.1's own asset store reading the same
             cards in a fresh process (installed once into benchmarks/.venv-fairseq2, see
             fairseq2_peer.py) and an interpreter that does nothing (`python -c pass`)
  show       `cards show NAME`, wall time
  add        `cards store add` beside `git clone --no-local` (git's transport, as from a
             server; a plain local clone hard-links the objects) plus the PyYAML reference
  sync       `cards sync` of one store when nothing, one card or 1% of the cards changed
             upstream, beside `git pull` of the same commits in a plain clone; and the same
             with the hourly full check of the checkout due (its state's `verified_at` aged)
  references read+parse of every card blob (`git cat-file --batch`) in a fresh process, once
             with PyYAML's `yaml.load_all` (CSafeLoader), once with our own parser
             (`assetcards.card.parse.parse_file`): references, not limits (ours is the faster)
  validate   `cards validate --rev HEAD` of every card, nothing cached, and its peak memory
  hook       `cards validate --staged` with one new card, each run right after a commit
  sync20     `cards sync` of 20 unchanged stores holding the cards between them
  cluster    (--cluster) bench_cluster.py: 256 processes retrieving cards at once while a sync
             moves the pin; failures, p50 and p99 latency

It prints the tables and issue 17's targets (PASS/MISS), writes benchmarks/results/latest.json
and latest.md, and with --write-readme puts the tables into README.md's Performance section.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fairseq2_peer  # noqa: E402
import report  # noqa: E402
from bench_cluster import run_cluster  # noqa: E402
from common import (  # noqa: E402
    CARDS,
    age_verified,
    commit_changes,
    git,
    load_average,
    machine,
    make_store,
    median,
    peak_rss_mib,
    roots,
    timed,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"

BLOBS = r"""
import subprocess, sys
listing = subprocess.run(["git", "ls-tree", "-r", "HEAD", "cards"], capture_output=True,
                         check=True).stdout.decode().splitlines()
paths = [line.split("\t", 1)[1] for line in listing]
ids = "".join(line.split()[2] + "\n" for line in listing).encode()
out = subprocess.run(["git", "cat-file", "--batch"], input=ids, capture_output=True).stdout
def blobs():
    pos = 0
    for path in paths:
        newline = out.index(b"\n", pos)
        size = int(out[pos:newline].split()[2])
        pos = newline + 1
        yield path, out[pos:pos + size]
        pos += size + 1
"""
REF_YAML = BLOBS + r"""
import yaml
for path, data in blobs():
    list(yaml.load_all(data, Loader=yaml.CSafeLoader))
"""
REF_OURS = BLOBS + r"""
from assetcards.card.parse import parse_file
for path, data in blobs():
    parse_file(data, path)
"""
LOOKUP = "from assetcards import retrieve_card; retrieve_card({name!r})"

Figures = dict[str, float]


def due_check(root: Path) -> list[str]:
    """Make the hourly full check due for the stores under ROOT; the options that `cards sync`
    then needs: none, or `--verify` (with a warning) if no state records its last check."""
    if age_verified(root):
        return []
    print("warning: no store state records `verified_at`; the syncs with the check due use "
          "--verify", file=sys.stderr)
    return ["--verify"]


def in_turn(runs: int, **commands: Callable[[], float]) -> Figures:
    """The median of RUNS timings of each command, the commands run in turn in each round."""
    times: dict[str, list[float]] = {key: [] for key in commands}
    for _ in range(runs):
        for key, command in commands.items():
            times[key].append(command())
    return {key: median(values) for key, values in times.items()}


def bench_size(n: int, args: argparse.Namespace, work: Path, fs2: Path | None) -> Figures:
    step("building the store")
    repo = make_store(work / "repo", n)
    step("git clone and cards store add")
    figures = bench_add(repo, args.runs, work)
    root = work / "root"
    step("lookups (ours, fairseq2's) and cards show")
    figures |= bench_lookup(n, args, roots(root), fs2)
    step("read+parse references and cards validate")
    figures |= bench_parse(repo, args.runs, work)
    shutil.rmtree(work / "empty" / "cache", ignore_errors=True)
    figures["memory"] = peak_rss_mib([CARDS, "validate", "--rev", "HEAD"], roots(work / "empty"),
                                     repo)
    step("the pre-commit hook")
    figures |= bench_hook(repo, args.runs, work)
    step("git pull and cards sync")
    figures |= bench_sync(n, repo, args.runs, root, work / "plain")
    step("cards sync of 20 stores")
    figures["sync20"] = bench_sync20(n, args.runs, work)
    return figures


def step(what: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {what}...", file=sys.stderr, flush=True)


def bench_add(repo: Path, runs: int, work: Path) -> Figures:
    """`git clone` and `cards store add` in turn, each into a fresh place; the last add stays."""
    plain, root = work / "plain", work / "root"

    def clone() -> float:
        shutil.rmtree(plain, ignore_errors=True)
        return timed(["git", "clone", "--quiet", "--no-local", str(repo), str(plain)], None)

    def add() -> float:
        shutil.rmtree(root, ignore_errors=True)
        return timed([CARDS, "store", "add", "--system", "big", str(repo)], roots(root))

    return in_turn(runs, clone=clone, add=add)


def bench_lookup(n: int, args: argparse.Namespace, env: dict[str, str], fs2: Path | None
                 ) -> Figures:
    name = f"card{n // 2 + 1}"
    lookup = [sys.executable, "-c", LOOKUP.format(name=name)]
    timed(lookup, env)  # the first lookup of a commit may build what later ones reuse
    figures = in_turn(args.runs, py_start=lambda: timed([sys.executable, "-c", "pass"], env),
                      lookup=lambda: timed(lookup, env),
                      show=lambda: timed([CARDS, "show", name], env))
    if fs2 is not None:
        got = [fairseq2_peer.lookup(fs2, name, env) for _ in range(args.fairseq2_runs)]
        figures["fs2_lookup"] = median([g[0] for g in got])
        figures["fs2_import"] = median([g[1] for g in got])
        figures["fs2_store"] = median([g[2] for g in got])
    return figures


def bench_parse(repo: Path, runs: int, work: Path) -> Figures:
    """Both read+parse references and a cold `cards validate --rev HEAD`, in turn."""
    bare = roots(work / "empty")  # no tracked store: the store's own names are not duplicates

    def validate() -> float:
        shutil.rmtree(work / "empty" / "cache", ignore_errors=True)
        return timed([CARDS, "validate", "--rev", "HEAD"], bare, repo)

    return in_turn(runs, ref_yaml=lambda: timed([sys.executable, "-c", REF_YAML], bare, repo),
                   ref_ours=lambda: timed([sys.executable, "-c", REF_OURS], bare, repo),
                   validate=validate)


def bench_hook(repo: Path, runs: int, work: Path) -> Figures:
    """The pre-commit hook in a clone of its own, as in use: commit, add a card, check it."""
    clone = work / "hook"
    git(work, "clone", "--quiet", "--no-local", str(repo), str(clone))
    bare = roots(work / "empty")
    hook = [CARDS, "validate", "--staged"]
    stage_new_card(clone, 0)
    first = timed(hook, bare, clone)  # the first run in a clone parses it all
    times = []
    for k in range(1, runs + 1):
        git(clone, "commit", "-q", "--no-verify", "-m", f"card {k - 1}")
        stage_new_card(clone, k)
        times.append(timed(hook, bare, clone))
    return {"hook_first": first, "hook": median(times)}


def stage_new_card(repo: Path, k: int) -> None:
    (repo / "cards" / "group0" / f"changed{k}.yaml").write_text(
        f"name: brand_new{k}\nbase: fam0\nmodel_arch: x\ncheckpoint: w.pt\n")
    git(repo, "add", "-A")


def bench_sync(n: int, repo: Path, runs: int, root: Path, plain: Path) -> Figures:
    """`git pull` in PLAIN and `cards sync` of the store in ROOT, of the same upstream commits:
    none, one card, 1% of the cards; then each again with the hourly full check due."""
    env = roots(root)
    sync = [CARDS, "sync", "--system", "--no-progress"]
    pull = ["git", "pull", "--quiet", "--ff-only"]
    times: dict[str, list[float]] = {}

    def one_round(key: str, indices: list[int], tag: str, due: bool) -> None:
        if indices:
            commit_changes(repo, indices, tag)
        if not due:  # one pull per upstream state; the due round pulls its own commit
            times.setdefault(f"pull_{key}", []).append(timed(pull, None, plain))
        elif indices:
            timed(pull, None, plain)
        extra = due_check(root / "system") if due else []
        name = f"sync_{key}_due" if due else f"sync_{key}"
        times.setdefault(name, []).append(timed([*sync, *extra], env))

    for r in range(runs):
        for due in (False, True):
            one_round("noop", [], "", due)
            one_round("one", [nonfamily(n // 3 + 2 * r + due, n)], f"r{r}d{due:d}-one", due)
            offset = 1 + (2 * r + due) % 99
            pct = list(range(offset, n, 100)) or [nonfamily(offset, n)]  # under 100 cards: one
            one_round("pct", pct, f"r{r}d{due:d}-pct", due)
    return {key: median(values) for key, values in times.items()}


def nonfamily(i: int, n: int) -> int:
    """Card I of N, or the next one when I heads a family (changing it changes 99 others)."""
    i %= n
    return i + 1 if i % 100 == 0 else i


def bench_sync20(n: int, runs: int, work: Path) -> float:
    env = roots(work / "twenty")
    for k in range(20):
        repo = make_store(work / f"up{k}", max(n // 20, 1), prefix=f"s{k}_")
        subprocess.run([CARDS, "store", "add", f"s{k}", str(repo)], env=env, check=True,
                       capture_output=True)
    return median([timed([CARDS, "sync", "--no-progress"], env) for _ in range(runs)])


def run_all(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    fs2 = None if args.no_fairseq2 else fairseq2_peer.ensure_venv(args.fairseq2_venv)
    results: dict[str, Any] = {
        "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": load_average(), "runs": args.runs,
        "fairseq2_runs": 0 if fs2 is None else args.fairseq2_runs, "note": args.note,
        "sizes": {}, "cluster": {}}
    for n in sizes:
        print(f"benchmarking {n:,} cards...", file=sys.stderr, flush=True)
        results["sizes"][str(n)] = bench_size(n, args, work / str(n), fs2)
        if args.cluster:
            print(f"cluster start at {n:,} cards...", file=sys.stderr, flush=True)
            cluster = run_cluster(n, args.procs, work / f"cluster{n}")
            results["cluster"][str(n)] = vars(cluster)
    results["load_after"] = load_average()
    return results


def save(results: dict[str, Any], text: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / "latest.md").write_text(text + "\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fairseq2-runs", type=int, default=3,
                        help="runs of the fairseq2 lookup (it parses every card: slow)")
    parser.add_argument("--no-fairseq2", action="store_true", help="skip the fairseq2 peer")
    parser.add_argument("--fairseq2-venv", type=Path, default=fairseq2_peer.DEFAULT_VENV)
    parser.add_argument("--cluster", action="store_true",
                        help="also run bench_cluster.py at every size")
    parser.add_argument("--procs", type=int, default=256, help="processes of the cluster start")
    parser.add_argument("--note", default="", help="a remark printed above the tables")
    parser.add_argument("--workdir", type=Path, help="keep the stores here (default: a "
                        "temporary directory, removed afterwards)")
    parser.add_argument("--write-readme", action="store_true",
                        help="put the tables into README.md's Performance section")
    parser.add_argument("--from-results", type=Path, metavar="JSON",
                        help="run nothing: render the tables of an earlier results file")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.from_results:
        results = json.loads(args.from_results.read_text())
    else:
        work = args.workdir or Path(tempfile.mkdtemp(prefix="assetcards-bench-"))
        try:
            results = run_all(args, work)
        finally:
            if args.workdir is None:
                shutil.rmtree(work, ignore_errors=True)
    text = report.render(results)
    print(text)
    if not args.from_results:
        save(results, text)
    if args.write_readme:
        report.write_readme(README, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
