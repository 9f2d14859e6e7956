"""A cluster starting: many processes retrieve cards from one system root while a sync moves
the pin.

    python benchmarks/bench_cluster.py [--cards 1000] [--procs 256] [--workdir DIR] [--json]

Builds an upstream store of CARDS cards and adds it to a system root. Then it starts PROCS
processes at once (as fast as they can be spawned), each running
`from assetcards import retrieve_card; retrieve_card(NAME)` for a card of its own, while a
mover thread commits a change to every card those processes read and runs `cards sync` again
and again until the last of them has finished. A process fails when it exits non-zero, runs
longer than the timeout, or reads a description that no commit ever held (a mix of two
commits). Latency is from just before a process is spawned to the moment it has the card.
Processes share the system root and the cache, as the nodes of a cluster share a file system;
they run at a lower priority than the sync (`nice`), which on a cluster runs on a machine of its
own.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CARDS, commit_changes, make_store, roots  # noqa: E402

CHILD = r"""
import resource, sys, time
from assetcards import retrieve_card
card = retrieve_card(sys.argv[1])
description = card.field("description").as_(str)
card.field("checkpoint").as_uri()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(time.time(), usage.ru_utime + usage.ru_stime)
print(description)
"""
REFERENCE = "import time; print(time.time())"
TIMEOUT = 600.0
# On a cluster the readers run on other machines than the sync; here they share its cores, so
# they run at a lower priority, lest hundreds of starting interpreters starve the sync.
NICE = ["nice", "-n", "10"] if shutil.which("nice") else []


@dataclass
class ClusterResult:
    cards: int
    procs: int
    failures: int = 0
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    wall: float = 0.0
    syncs: int = 0  # pin moves completed while the processes ran
    sync_failures: int = 0
    old_reads: int = 0  # processes that read the pinned commit of before the start
    new_reads: int = 0  # processes that read a commit a sync pinned during the run
    commits_read: int = 0  # distinct commits the processes read
    ref_p50: float = 0.0  # the same number of interpreters doing nothing, started at once
    ref_p99: float = 0.0
    cpu_p50: float = 0.0  # CPU time of one process (interpreter, imports, lookup)
    cpu_total: float = 0.0  # of all of them: over the cores, the least the wave can take
    samples: list[str] = field(default_factory=list)  # the first few failures, for the report


@dataclass
class Mover:
    """Commits a change to the read cards upstream and syncs, until told to stop."""

    repo: Path
    env: dict[str, str]
    indices: list[int]
    tags: list[str] = field(default_factory=lambda: [""])
    failures: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    sync_ends: list[float] = field(default_factory=list)

    def commit(self) -> None:
        tag = f"rev{len(self.tags)}"
        commit_changes(self.repo, self.indices, tag)
        self.tags.append(tag)

    def run(self) -> None:
        """Sync (the first change is committed before the processes start), commit, repeat."""
        while True:
            result = subprocess.run([CARDS, "sync", "--system", "--no-progress"], env=self.env,
                                    capture_output=True, text=True)
            if result.returncode == 0:
                self.sync_ends.append(time.time())
            else:
                self.failures += 1
            if self.stop.is_set():
                return
            self.commit()


def read_indices(cards: int, procs: int) -> list[int]:
    """One card per process, spread over the store, never a family card (i % 100 == 0)."""
    chosen: list[int] = []
    step = max(cards // procs, 1)
    for j in range(procs):
        i = (1 + j * step) % cards
        chosen.append(i + 1 if i % 100 == 0 else i)
    return chosen


def run_cluster(cards: int, procs: int, work: Path) -> ClusterResult:
    upstream = make_store(work / "repo", cards)
    env = roots(work)
    subprocess.run([CARDS, "store", "add", "--system", "big", str(upstream)], env=env,
                   check=True, capture_output=True)
    indices = read_indices(cards, procs)
    reference = reference_wave(procs, env, work / "reference")
    mover = Mover(upstream, env, sorted(set(indices)))
    mover.commit()
    out = work / "out"
    thread = threading.Thread(target=mover.run)
    thread.start()
    try:
        started, ended = wave([[CHILD, f"card{i}"] for i in indices], env, out)
    finally:
        mover.stop.set()
        thread.join()
    result = collect(cards, procs, indices, started, ended, out, mover)
    result.ref_p50, result.ref_p99 = reference
    return result


def reference_wave(procs: int, env: dict[str, str], out: Path) -> tuple[float, float]:
    """p50 and p99 of PROCS interpreters started at once that do nothing but print the time:
    what starting so many processes on this machine costs before any card is read."""
    started, codes = wave([[REFERENCE]] * procs, env, out)
    latencies = [float((out / f"{j}.out").read_text()) - started[j]
                 for j, code in enumerate(codes) if code == 0]
    return statistics.median(latencies), quantile(latencies, 0.99)


def wave(args: list[list[str]], env: dict[str, str], out: Path
         ) -> tuple[list[float], list[int | None]]:
    """Start one `python -c ARGS...` per item at once; when each started, and its exit code."""
    out.mkdir(parents=True, exist_ok=True)
    started: list[float] = []
    children: list[subprocess.Popen[bytes]] = []
    files: list[IO[bytes]] = []
    try:
        for j, child_args in enumerate(args):
            stdout = (out / f"{j}.out").open("wb")
            stderr = (out / f"{j}.err").open("wb")
            files += [stdout, stderr]
            started.append(time.time())
            children.append(subprocess.Popen([*NICE, sys.executable, "-c", *child_args],
                                             env=env, stdout=stdout, stderr=stderr))
        return started, wait_all(children)
    finally:
        for f in files:
            f.close()


def wait_all(children: list[subprocess.Popen[bytes]]) -> list[int | None]:
    """Each child's exit code, or None for one killed after the timeout."""
    deadline = time.monotonic() + TIMEOUT
    codes: list[int | None] = []
    for child in children:
        try:
            codes.append(child.wait(timeout=max(deadline - time.monotonic(), 0.1)))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            codes.append(None)
    return codes


def collect(cards: int, procs: int, indices: list[int], started: list[float],
            codes: list[int | None], out: Path, mover: Mover) -> ClusterResult:
    result = ClusterResult(cards, procs, sync_failures=mover.failures)
    latencies: list[float] = []
    ends: list[float] = []
    seen: set[str] = set()
    cpu_times: list[float] = []
    for j, (i, code) in enumerate(zip(indices, codes, strict=True)):
        problem, latency, tag, cpu = check_child(out, j, i, code, started[j], mover.tags)
        if problem:
            result.failures += 1
            if len(result.samples) < 5:
                result.samples.append(f"card{i}: {problem}")
            continue
        latencies.append(latency)
        ends.append(started[j] + latency)
        seen.add(tag)
        cpu_times.append(cpu)
        if tag:
            result.new_reads += 1
        else:
            result.old_reads += 1
    if latencies:
        result.p50 = statistics.median(latencies)
        result.p99 = quantile(latencies, 0.99)
        result.max = max(latencies)
        result.wall = max(ends) - started[0]
        result.commits_read = len(seen)
        result.cpu_p50 = statistics.median(cpu_times)
        result.cpu_total = sum(cpu_times)
        result.syncs = sum(1 for t in mover.sync_ends if started[0] <= t <= max(ends))
    return result


def check_child(out: Path, j: int, i: int, code: int | None, started: float,
                tags: list[str]) -> tuple[str, float, str, float]:
    """(what went wrong or "", latency, the tag of the commit it read, its CPU time)."""
    if code is None:
        return f"still running after {TIMEOUT:.0f} s", 0.0, "", 0.0
    err = (out / f"{j}.err").read_text(errors="replace").strip()
    if code != 0:
        return f"exit {code}: {err.splitlines()[-1] if err else ''}", 0.0, "", 0.0
    lines = (out / f"{j}.out").read_text().splitlines()
    if len(lines) != 2:
        return f"unexpected output {lines!r}", 0.0, "", 0.0
    ended, cpu = (float(v) for v in lines[0].split())
    plain = f"card number {i} of the benchmark store"
    for tag in tags:
        if lines[1] == (f"{tag} {plain}" if tag else plain):
            return "", ended - started, tag, cpu
    return f"read {lines[1]!r}, which no commit held", 0.0, "", 0.0


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=256)
    parser.add_argument("--workdir", type=Path, help="keep the stores here (default: a "
                        "temporary directory, removed afterwards)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="assetcards-cluster-"))
    try:
        result = run_cluster(args.cards, args.procs, work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(f"{result.procs} processes, {result.cards:,} cards: {result.failures} failed; "
              f"p50 {result.p50:.2f} s, p99 {result.p99:.2f} s, max {result.max:.2f} s, all "
              f"done in {result.wall:.1f} s; {result.syncs} sync(s) moved the pin meanwhile "
              f"({result.sync_failures} failed); {result.old_reads} read the old commit, "
              f"{result.new_reads} a newer one, {result.commits_read} commit(s) in all; "
              f"interpreters doing nothing, started at once: p50 {result.ref_p50:.2f} s, "
              f"p99 {result.ref_p99:.2f} s; CPU time of one process: p50 "
              f"{result.cpu_p50:.3f} s, of all {result.cpu_total:.1f} s")
        for sample in result.samples:
            print(f"  {sample}")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
