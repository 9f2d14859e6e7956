"""Build fairseq2's own asset store (0.8 or 0.3, whichever is installed) over
FAIRSEQ2_ASSET_DIR / FAIRSEQ2_USER_ASSET_DIR and read every card, as fairseq2 does by default.
Run with the python of the virtualenv that .ci/fairseq2-venv.sh builds; imports nothing from
assetcards or the tests.

    python fs2_reader.py            one read: JSON {"cards": {name: {...}}} or {"error": "..."}
    python fs2_reader.py --serve    one read per line of stdin (environment variables as JSON)
    python fs2_reader.py --loop --stop FILE --field generation --out FILE
                                    read again and again until FILE exists; JSON figures

One read builds the store as fairseq2 does (its bundled cards, then the system root, then the
user root), retrieves every card of the two roots and reports, for each name, the fields
fairseq2 gives (a field of the card or of its bases, nearest first), the file it came from and,
for `checkpoint` and `tokenizer`, the URI `as_uri()` gives (or its error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

URI_FIELDS = ("checkpoint", "tokenizer")


def build_store() -> tuple[Any, set[str]]:
    """fairseq2's default store and the names read from the two directories."""
    import fairseq2

    if str(fairseq2.__version__).startswith("0.3."):
        return build_store_03()
    return build_store_08()


def build_store_03() -> tuple[Any, set[str]]:
    """0.3: `setup_fairseq2()` calls `setup_asset_store` on its default store; the same on a
    new store (its bundled cards, FAIRSEQ2_ASSET_DIR, FAIRSEQ2_USER_ASSET_DIR, extensions)."""
    from fairseq2.assets import StandardAssetStore, setup_asset_store

    store = StandardAssetStore()
    setup_asset_store(store)
    ours = {name for provider in [*store.metadata_providers[1:], *store.user_metadata_providers]
            for name in provider.get_names()}
    return store, ours


def build_store_08() -> tuple[Any, set[str]]:
    """0.8: its composition (`_register_asset`) wires these same classes for the package
    `fairseq2.assets.cards` and the two well-known directories."""
    from fairseq2.assets import (
        PackageAssetMetadataSource,
        StandardAssetDirectoryAccessor,
        StandardAssetStore,
        StandardFileAssetMetadataLoader,
        StandardPackageAssetMetadataLoader,
        StandardPackageFileLister,
        WellKnownAssetMetadataSource,
        YamlAssetMetadataFileLoader,
    )
    from fairseq2.file_system import GlobalFileSystem
    from fairseq2.utils.env import StandardEnvironment
    from fairseq2.utils.yaml import RuamelYamlLoader

    file_system = GlobalFileSystem()
    file_loader = YamlAssetMetadataFileLoader(RuamelYamlLoader(file_system))
    sources = [
        PackageAssetMetadataSource(
            "fairseq2.assets.cards",
            StandardPackageAssetMetadataLoader(StandardPackageFileLister(), file_loader)),
        WellKnownAssetMetadataSource(
            StandardAssetDirectoryAccessor(StandardEnvironment(), file_system),
            StandardFileAssetMetadataLoader(file_system, file_loader)),
    ]
    providers = [provider for source in sources for provider in source.load()]
    ours = {name for provider in providers if provider.source.startswith("path:")
            for name in provider.asset_names}
    return StandardAssetStore(providers), ours


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _value(card: Any, key: str) -> object:
    field = card.field(key)
    return field.as_unstructured() if hasattr(field, "as_unstructured") else field.value


def describe(card: Any) -> dict[str, object]:
    """What fairseq2 gives for CARD: every field reachable through its bases, nearest first."""
    fields: dict[str, object] = {}
    link = card
    while link is not None:
        for key in link.metadata:
            if key not in fields and key != "name" and not key.startswith("__"):
                fields[key] = _value(card, key)
        link = link.base
    uris: dict[str, str] = {}
    for key in URI_FIELDS:
        if key in fields:
            try:
                uris[key] = str(card.field(key).as_uri())
            except Exception as ex:  # noqa: BLE001 - reported, not raised
                uris[key] = f"error: {type(ex).__name__}: {ex}"
    return {"fields": _jsonable(fields), "uris": uris,
            "source": str(card.metadata.get("__source__")),
            "file_dir": str(card.metadata.get("__base_path__"))}


def read_all() -> dict[str, object]:
    """Every card of the two directories, retrieved (fairseq2's bundled cards are in the store,
    so a clash with them fails the read, but are not retrieved: one is broken upstream)."""
    store, ours = build_store()
    cards: dict[str, object] = {}
    for name in sorted(n[:-1] for n in ours if n.endswith("@")):
        try:
            cards[name] = describe(store.retrieve_card(name))
        except Exception as ex:  # noqa: BLE001 - one card's failure is data
            cards[name] = {"error": f"{type(ex).__name__}: {ex}"}
    return {"cards": cards}


def read_once() -> dict[str, object]:
    try:
        return read_all()
    except Exception as ex:  # noqa: BLE001 - the caller wants fairseq2's failure as data
        return {"error": f"{type(ex).__name__}: {ex}"}


def loop(stop: Path, field: str, out: Path, ready: Path | None) -> None:
    """Read until STOP exists. A round fails when fairseq2 raises; it is mixed when the cards
    from our roots carry more than one value of FIELD (two commits seen at once)."""
    rounds = failures = mixed = 0
    errors: list[str] = []
    started = time.monotonic()
    if ready is not None:
        read_once()
        ready.write_text("ready")
    while not stop.exists():
        result = read_once()
        rounds += 1
        if "error" in result:
            failures += 1
            if len(errors) < 5:
                errors.append(str(result["error"]))
            continue
        cards = result["cards"]
        assert isinstance(cards, dict)
        broken = [f"{n}: {c['error']}" for n, c in cards.items() if "error" in c]
        if broken:
            failures += 1
            if len(errors) < 5:
                errors.append(broken[0])
            continue
        values = {json.dumps(c["fields"].get(field)) for c in cards.values()}
        if len(values) > 1:
            mixed += 1
    figures = {"rounds": rounds, "failures": failures, "mixed": mixed, "errors": errors,
               "seconds": round(time.monotonic() - started, 1)}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(figures))
    os.replace(tmp, out)


def serve() -> None:
    """One read per line of stdin (a JSON object of environment variables to set first), its
    result as one line of stdout: the tests pay for importing fairseq2 and torch once."""
    for line in sys.stdin:
        os.environ.update(json.loads(line))
        sys.stdout.write(json.dumps(read_once()) + "\n")
        sys.stdout.flush()


def main() -> None:
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", action="store_true")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--stop", type=Path)
    parser.add_argument("--ready", type=Path)
    parser.add_argument("--field", default="generation")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.loop:
        loop(args.stop, args.field, args.out, args.ready)
    elif args.serve:
        serve()
    else:
        json.dump(read_once(), sys.stdout)


if __name__ == "__main__":
    main()
