"""The lock file: every store's URL, tracked ref and pinned commit, so a run can be rebuilt.

TOML, deterministic (stores sorted by scope and name, fixed key order) and written atomically:

    # Written by `cards lock`. Rebuild this state with `cards sync --lockfile cards.lock`.
    version = 1

    [[store]]
    name = "examples"
    scope = "user"
    url = "https://example.com/cards.git"
    ref = "main"
    commit = "0123456789abcdef0123456789abcdef01234567"
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from ..errors import AssetError, AssetMetadataError, Problem, ProblemCode
from ..fsutil import atomic_write_bytes
from ..git import check_url, is_oid
from ..stores.state import check_store_name
from .gitstore import Store
from .source import SpecialFileError, read_regular_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

LOCK_VERSION = 1
DEFAULT_LOCKFILE = "cards.lock"
MAX_LOCKFILE_BYTES = 4 * 1024 * 1024  # some 20,000 stores


@dataclass(frozen=True, order=True)
class LockedStore:
    scope: str
    name: str
    url: str
    ref: str
    commit: str


def entries_of(stores: Sequence[Store]) -> list[LockedStore]:
    return sorted(LockedStore(s.scope, s.name, s.state.url, s.state.ref, s.state.commit)
                  for s in stores)


_KEYS = ("name", "scope", "url", "ref", "commit")


def render(entries: Sequence[LockedStore]) -> str:
    """The lock file's text, written by a TOML writer: any string git accepts (a ref such as
    `feat/\U0001F600`, control characters) is escaped as TOML readers expect."""
    header = ("# Written by `cards lock`. Rebuild this state with "
              "`cards sync --lockfile <this file>`.\n")
    data: dict[str, object] = {"version": LOCK_VERSION}
    stores = [{key: getattr(e, key) for key in _KEYS} for e in sorted(entries)]
    if stores:
        data["store"] = stores
    return header + tomli_w.dumps(data)


def write(path: Path, entries: Sequence[LockedStore]) -> None:
    atomic_write_bytes(path, render(entries).encode())


def read(path: Path) -> list[LockedStore]:
    """Read and check a lock file; any problem raises AssetMetadataError naming the entry."""
    where = str(path)

    def fail(message: str) -> AssetMetadataError:
        return AssetMetadataError([Problem(where, 0, 0, message=message, code=ProblemCode.LOCKFILE)])

    try:
        raw = read_regular_file(path, MAX_LOCKFILE_BYTES)  # a FIFO or a device is refused
        if len(raw) > MAX_LOCKFILE_BYTES:
            raise fail(f"lock file is larger than {MAX_LOCKFILE_BYTES} bytes")
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise fail(f"lock file {where} does not exist; write one with `cards lock`") from None
    except SpecialFileError as exc:
        raise fail(f"lock file is {exc.kind}, not a regular file; nothing was read") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read lock file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"lock file is not valid TOML: {exc}") from None
    if data.get("version") != LOCK_VERSION:
        raise fail(f"lock file version {data.get('version')!r} is not supported "
                   f"(this assetcards reads version {LOCK_VERSION})")
    entries = []
    for index, raw in enumerate(data.get("store", [])):
        label = f"store #{index + 1}"
        if not isinstance(raw, dict) or not all(
                isinstance(raw.get(k), str) for k in ("name", "scope", "url", "ref", "commit")):
            raise fail(f"{label}: needs string fields name, scope, url, ref and commit")
        entry = LockedStore(raw["scope"], raw["name"], raw["url"], raw["ref"], raw["commit"])
        try:
            check_store_name(entry.name)
            check_url(entry.url)
        except AssetError as exc:
            raise fail(f"{label} ({entry.name}): {exc}") from None
        if entry.scope not in ("user", "system"):
            raise fail(f"{label} ({entry.name}): scope must be 'user' or 'system'")
        if not is_oid(entry.commit):
            raise fail(f"{label} ({entry.name}): commit {entry.commit!r} is not a full commit id")
        entries.append(entry)
    names = [(e.scope, e.name) for e in entries]
    if len(set(names)) != len(names):
        raise fail("a store is listed twice")
    return entries


def differences(locked: Sequence[LockedStore], current: Sequence[LockedStore]) -> list[str]:
    """How the machine's stores (CURRENT) differ from the lock file (LOCKED), one line each."""
    have = {(e.scope, e.name): e for e in current}
    want = {(e.scope, e.name): e for e in locked}
    lines = []
    for key in sorted(set(want) | set(have)):
        w, h = want.get(key), have.get(key)
        label = f"{key[1]} ({key[0]})"
        if h is None:
            lines.append(f"{label}: in the lock file, not on this machine")
        elif w is None:
            lines.append(f"{label}: on this machine ({h.commit[:12]}), not in the lock file")
        else:
            for field in ("url", "ref", "commit"):
                if getattr(w, field) != getattr(h, field):
                    lines.append(f"{label}: {field} is {getattr(h, field)} here, "
                                 f"{getattr(w, field)} in the lock file")
    return lines
