"""A reader process of the concurrency test: looks cards up in a loop while syncs run.

Every card of generation K of a store says `generation: K`, and generation K has a known set
of cards. Each round reads every store afresh (a new asset store, as a new job would) and
checks that it saw one whole commit: one generation, exactly that generation's cards, never an
older generation than the round before. Writes its figures as JSON to --out.

Run as a script (no test imports): python reader.py --out F --stop F --stores a,b --cards N
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path


def expected(store: str, generation: int, cards: int) -> list[str]:
    return sorted(f"{store}_c{i}" for i in range(cards + generation % 2))


def read_library(stores: list[str]) -> dict[str, dict[str, int]]:
    from assetcards.locations import Locations
    from assetcards.sources.assetstore import StandardAssetStore

    asset_store = StandardAssetStore.from_locations(Locations.from_env(), bundled=False)
    names = asset_store.retrieve_names()
    seen: dict[str, dict[str, int]] = {s: {} for s in stores}
    for name in names:
        store = name.rsplit("_c", 1)[0]
        if store in seen:
            card = asset_store.retrieve_card(name)
            seen[store][name] = card.field("generation").as_(int)
    return seen


def read_cli(stores: list[str], cards_exe: str) -> dict[str, dict[str, int]]:
    out = subprocess.run([cards_exe, "list", "--json"], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0 or "Traceback" in out.stderr:
        raise RuntimeError(f"cards list exited {out.returncode}: {out.stderr.strip()[-500:]}")
    seen: dict[str, dict[str, int]] = {s: {} for s in stores}
    for listing in json.loads(out.stdout):
        for entry in listing["cards"]:
            store = entry["name"].rsplit("_c", 1)[0]
            if store in seen:
                if entry["error"]:
                    raise RuntimeError(f"{entry['name']}: {entry['error']}")
                seen[store][entry["name"]] = int(entry["description"].rsplit(" ", 1)[1])
    return seen


def check(seen: dict[str, dict[str, int]], cards: int, last: dict[str, int]) -> list[str]:
    errors = []
    for store, found in seen.items():
        generations = set(found.values())
        if len(generations) != 1:
            errors.append(f"{store}: mixed or no generations {sorted(found.items())}")
            continue
        [generation] = generations
        if sorted(found) != expected(store, generation, cards):
            errors.append(f"{store}: generation {generation} with cards {sorted(found)}")
        if generation < last.get(store, -1):
            errors.append(f"{store}: went back from {last[store]} to {generation}")
        last[store] = generation
    return errors


def _write_progress(path: Path, rounds: int, last: dict[str, int]) -> None:
    """Replace PATH in one step, so the test never reads half of it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"rounds": rounds, "last": last}))
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--stop", required=True)
    parser.add_argument("--stores", required=True)
    parser.add_argument("--cards", type=int, default=4)
    parser.add_argument("--cli", default="")
    parser.add_argument("--max-seconds", type=float, default=120)
    parser.add_argument("--progress", default="",
                        help="after each round, write {rounds, last generation per store} here")
    args = parser.parse_args()
    stores = args.stores.split(",")
    deadline = time.monotonic() + args.max_seconds
    rounds = reads = 0
    errors: list[str] = []
    last: dict[str, int] = {}
    generations: dict[str, list[int]] = {s: [] for s in stores}
    while not os.path.exists(args.stop) and time.monotonic() < deadline:
        try:
            seen = read_cli(stores, args.cli) if args.cli else read_library(stores)
        except Exception:  # any failed read is a failure of the test; keep the evidence
            errors.append(traceback.format_exc(limit=8))
            seen = {}
        else:
            errors += check(seen, args.cards, last)
        rounds += 1
        reads += sum(len(found) for found in seen.values())
        for store in stores:
            if store in last and (not generations[store] or generations[store][-1] != last[store]):
                generations[store].append(last[store])
        if args.progress:
            _write_progress(Path(args.progress), rounds, last)
        if len(errors) > 20:
            break
    Path(args.out).write_text(json.dumps({"rounds": rounds, "reads": reads, "errors": errors,
                                          "generations": generations}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
