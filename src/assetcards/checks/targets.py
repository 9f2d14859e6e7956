"""What `cards validate`, the git hooks and CI check, and how the result is shown.

A check has a *target*: the cards of one store (a directory, the git index or a commit), the
files whose problems are reported (the rest of the store is context: names, bases), the store's
manifest, and the other stores whose names must not collide (`--against`, the manifest's
`against` list and every store tracked on this machine).

Cards read from git go through the tree indexes of index.py (keyed by tree and blob ids, so
never stale): a pre-commit hook in a store of 10,000 cards parses only what changed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..card.manifest import MANIFEST_NAME, Manifest, parse_manifest
from ..card.parse import CARD_SUFFIXES, ParsedFile, is_card_path
from ..card.rules import CardSet, validate
from ..errors import (
    AssetError,
    AssetMetadataError,
    AssetNotFoundError,
    Problem,
    ProblemCode,
    UnsafeInputError,
)
from ..fsutil import atomic_write_bytes
from ..git import Repo, TreeEntry, check_url, has_git_dir, is_bare_repo, worktree_root
from ..locations import Locations
from ..sources.source import (
    DirectorySource,
    IndexSource,
    SourceFile,
    TreeSource,
    card_files,
    parse_files,
    read_regular_file,
)

if TYPE_CHECKING:  # the index (sqlite) loads only when a cache is there to use
    from ..sources.index import TreeIndex

_NULL_OID = "0" * 40


@dataclass
class Target:
    """The cards to check and what they are checked with."""

    primary: CardSet
    manifest: Manifest | None = None
    only_files: set[str] | None = None  # None: every file of the store
    root: Path | None = None  # the store's root on disk, when there is one
    repo: Repo | None = None
    removed_names: set[str] = field(default_factory=set)  # cards the change took away


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    cards: int = 0
    against: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the reader, not problems

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": self.files,
            "cards": self.cards,
            "against": self.against,
            "problems": [p.to_json() for p in self.problems],
        }


# -- finding the cards ------------------------------------------------------------------------


def find_root(path: Path) -> Path:
    """The root of the store PATH belongs to: the nearest directory upwards holding a manifest
    or a git repository, else PATH itself (or its directory)."""
    start = path if path.is_dir() else path.parent
    for candidate in [start, *start.parents]:
        if (candidate / MANIFEST_NAME).is_file() or has_git_dir(candidate):
            return candidate
    return start


MAX_MANIFEST_BYTES = 1024 * 1024


def read_manifest(root: Path) -> Manifest | None:
    """ROOT's manifest, if it has one: a regular file (a FIFO or a device is not opened for
    reading), read up to MAX_MANIFEST_BYTES."""
    file = root / MANIFEST_NAME
    if not file.is_file():
        return None
    data = read_regular_file(file, MAX_MANIFEST_BYTES)
    if len(data) > MAX_MANIFEST_BYTES:
        raise AssetMetadataError([Problem(MANIFEST_NAME, 1, 1, message=f"manifest is larger "
                                          f"than {MAX_MANIFEST_BYTES} bytes", code=ProblemCode.TOO_LARGE)])
    return parse_manifest(data, MANIFEST_NAME)


def _card_dir(manifest: Manifest | None, has_cards_dir: bool) -> str:
    return (manifest or Manifest()).card_dir_for(has_cards_dir)


def directory_target(root: Path, paths: Sequence[Path] = ()) -> Target:
    """The store at ROOT read from disk; with PATHS (files or directories), only their problems
    are reported."""
    manifest = read_manifest(root)
    card_dir = _card_dir(manifest, (root / "cards").is_dir())
    listed = _under(root, root / card_dir if card_dir else root)
    only: set[str] | None = None
    if paths:
        only = set()
        for path in paths:
            named = _named_files(root, path)
            listed += named
            only |= {f.path for f in named}
    files = sorted({f.path: f for f in listed}.values())
    primary = CardSet(str(root), parse_files(DirectorySource(root), files))
    return Target(primary, manifest, only, root)


def _under(root: Path, directory: Path) -> list[SourceFile]:
    """The card files under DIRECTORY, with paths relative to ROOT (odd names stay escaped,
    special files stay refused: parsing reports them without opening them)."""
    real = directory.resolve()
    if not real.is_relative_to(root.resolve()):
        raise UnsafeInputError(f"{directory} leads outside the store at {root}; a store's "
                               "cards directory must be inside it")
    base = real.relative_to(root.resolve()).as_posix()
    prefix = "" if base == "." else base + "/"
    return [f._replace(path=prefix + f.path) for f in DirectorySource(directory).list_files()]


def _named_files(root: Path, path: Path) -> list[SourceFile]:
    if not os.path.lexists(path):
        raise AssetNotFoundError(f"{path}: no such file or directory")
    real_root = root.resolve()
    if not path.resolve().is_relative_to(real_root):
        raise UnsafeInputError(f"{path} leads outside the store at {root}")
    if path.is_dir():
        return _under(root, path)
    rel = Path(os.path.relpath(path.absolute(), root.absolute())).as_posix()  # the link's name
    if not (rel.endswith((".yaml", ".yml")) and is_card_path(rel)):
        return []
    return [DirectorySource(root).entry(rel)]


def path_targets(paths: Sequence[Path]) -> list[Target]:
    """One target per store the PATHS belong to (the current directory's store if none)."""
    if not paths:
        return [directory_target(find_root(Path.cwd()))]
    by_root: dict[Path, list[Path]] = {}
    for path in paths:
        if not path.exists():
            raise AssetNotFoundError(f"{path}: no such file or directory")
        by_root.setdefault(find_root(path.absolute()), []).append(path.absolute())
    return [directory_target(root, group) for root, group in by_root.items()]


def git_root(path: Path) -> Path:
    root = worktree_root(path)
    if root is not None:
        return root
    raise AssetNotFoundError(f"{path} is not inside a git repository")


def hook_repo(root: Path, environ: Mapping[str, str] | None = None) -> Repo:
    """ROOT as a Repo that honours the index or object quarantine git gave the hook now running
    in it (a commit of some paths uses a temporary index; a push's objects sit in quarantine
    until every hook has accepted them). Other repositories never see these variables."""
    env = os.environ if environ is None else environ
    keep = {}
    for key in ("GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                "GIT_QUARANTINE_PATH"):
        value = env.get(key)
        if value:
            keep[key] = value if key == "GIT_ALTERNATE_OBJECT_DIRECTORIES" else os.path.abspath(
                value)
    return Repo(root, keep)


def _manifest_at(repo: Repo, entries: Sequence[TreeEntry]) -> Manifest | None:
    for entry in entries:
        if entry.path == MANIFEST_NAME:
            data = dict(repo.read_blobs([entry.oid]))[entry.oid]
            return parse_manifest(data, MANIFEST_NAME)
    return None


def _git_target(repo: Repo, entries: Sequence[TreeEntry], label: str,
                cache: ParseCache | None, commit: str | None = None) -> Target:
    """The cards among ENTRIES (a commit's tree when COMMIT is given, else the index)."""
    manifest = _manifest_at(repo, entries)
    card_dir = _card_dir(manifest, any(e.path.startswith("cards/") for e in entries))
    files = card_files(entries, card_dir)
    source = IndexSource(repo, card_dir)
    parsed = (cache.parse(source, files, commit) if cache is not None
              else source_parse(source, files))
    return Target(CardSet(label, parsed), manifest, None, repo.path, repo)


def source_parse(source: IndexSource | TreeSource, files: Sequence[SourceFile]) -> list[ParsedFile]:
    return parse_files(source, files)


def staged_target(root: Path, cache: ParseCache | None = None,
                  environ: Mapping[str, str] | None = None) -> Target:
    """The cards staged in the repository at ROOT; problems are reported for the staged files
    that differ from HEAD (all of them when the manifest changed or there is no HEAD yet)."""
    repo = hook_repo(git_root(root), environ)
    entries = repo.ls_staged()
    target = _git_target(repo, entries, "staged", cache)
    head = repo.resolve("HEAD")
    if head is not None:
        old = dict((path, oid) for oid, path in repo.staged_changes(head))
        if MANIFEST_NAME not in old:
            target.only_files = set(old)
            target.removed_names = _removed_names(repo, target, old)
    return target


def _removed_names(repo: Repo, target: Target, old: Mapping[str, str]) -> set[str]:
    """The names the changed files (path -> blob id before) held that no card holds now: the
    cards that used one of them as base are checked too, though their files did not change."""
    files = [SourceFile(path, oid) for path, oid in old.items()
             if oid != _NULL_OID and path.endswith(CARD_SUFFIXES) and is_card_path(path)]
    if not files:
        return set()
    before = {d.name for f in source_parse(IndexSource(repo), files) for d in f.cards}
    return before - {d.name for d in target.primary.docs}


def rev_target(root: Path, rev: str, cache: ParseCache | None = None) -> Target:
    """The cards of commit REV of the repository at ROOT."""
    repo = hook_repo(root if is_bare_repo(root) else git_root(root))
    commit = repo.resolve(rev)
    if commit is None:
        raise AssetNotFoundError(f"revision {rev!r} does not name a commit in {repo.path}")
    return _git_target(repo, repo.ls_tree(commit), commit[:12], cache, commit)


# -- the other stores -------------------------------------------------------------------------


def _looks_like_url(spec: str) -> bool:
    return "://" in spec or bool(re.match(r"^[A-Za-z0-9._~\-]+@[A-Za-z0-9.\-]+:", spec))


def against_set(spec: str, locations: Locations, base: Path | None = None,
                cache: ParseCache | None = None) -> CardSet:
    """The cards of the store SPEC names (a directory, a local repository or a git URL), read
    at its HEAD (default branch)."""
    path = Path(spec).expanduser()
    if not path.is_absolute() and base is not None and not _looks_like_url(spec):
        path = base / path
    if not _looks_like_url(spec) and path.is_dir():
        if has_git_dir(path) or is_bare_repo(path):
            return _repo_head_set(Repo(path), spec, cache)
        return CardSet(spec, directory_target(path).primary.files)
    if not _looks_like_url(spec):
        raise AssetNotFoundError(f"store {spec!r} is neither a directory nor a git URL, nor a "
                                 "store tracked on this machine")
    check_url(spec)
    return _mirror_set(spec, locations, cache)


MIRROR_KEEP_DAYS = 30  # a mirror of an `against` URL nobody asked for in this long is removed
_MIRROR_LOCK_TIMEOUT = 120.0


def _mirror_set(url: str, locations: Locations, cache: ParseCache | None) -> CardSet:
    """The cards at the HEAD of URL, fetched into a mirror under the cache. The mirror is
    locked while it is created and fetched (two hooks at once share it safely), created in a
    temporary directory then renamed into place, and mirrors unused for MIRROR_KEEP_DAYS are
    removed."""
    import hashlib

    from ..locks import hold

    mirrors = locations.cache / "against"
    name = hashlib.sha256(url.encode()).hexdigest()[:16]
    mirror = mirrors / f"{name}.git"
    with hold(mirrors / f"{name}.lock", f"mirror of {url}", _MIRROR_LOCK_TIMEOUT):
        repo = Repo(mirror) if (mirror / "HEAD").is_file() else _new_mirror(mirror)
        repo.fetch(url, ["+HEAD:refs/against/head"])
        result = _repo_head_set(repo, url, cache, "refs/against/head")
        (mirrors / f"{name}.used").touch()
    prune_mirrors(mirrors)
    return result


def _new_mirror(mirror: Path) -> Repo:
    """An empty bare repository at MIRROR, made beside it then renamed (never half made)."""
    import shutil
    import tempfile

    shutil.rmtree(mirror, ignore_errors=True)  # a leftover without HEAD
    staging = Path(tempfile.mkdtemp(prefix=f".{mirror.name}.", dir=mirror.parent))
    try:
        Repo.init_bare(staging)
        os.rename(staging, mirror)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Repo(mirror)


def prune_mirrors(mirrors: Path, now: float | None = None) -> list[str]:
    """Remove the mirrors under MIRRORS unused for MIRROR_KEEP_DAYS (their `.used` stamp),
    skipping any whose lock is held. Returns the names removed."""
    import shutil
    import time

    import filelock

    limit = (time.time() if now is None else now) - MIRROR_KEEP_DAYS * 86400
    removed = []
    for stamp in sorted(mirrors.glob("*.used")):
        name = stamp.name[:-len(".used")]
        try:
            if stamp.stat().st_mtime >= limit:
                continue
        except OSError:
            continue
        lock = filelock.FileLock(str(mirrors / f"{name}.lock"))
        try:
            lock.acquire(timeout=0)
        except (filelock.Timeout, OSError):
            continue  # in use right now: kept
        try:
            shutil.rmtree(mirrors / f"{name}.git", ignore_errors=True)
            stamp.unlink(missing_ok=True)
            removed.append(name)
        finally:
            lock.release()
    return removed


def _repo_head_set(repo: Repo, label: str, cache: ParseCache | None,
                   rev: str = "HEAD") -> CardSet:
    commit = repo.resolve(rev)
    if commit is None:
        raise AssetNotFoundError(f"store {label!r} has no commit at {rev}")
    target = _git_target(repo, repo.ls_tree(commit), label, cache, commit)
    return CardSet(label, target.primary.files)


def own_locations(root: Path) -> list[str]:
    """ROOT and the URLs of its remotes, in the spellings a tracked store may record: a
    checkout of a tracked store is not compared with that store (every name would collide)."""
    spellings = [str(root), str(root.resolve()), root.resolve().as_uri()]
    repo = Repo(root)
    if repo.exists():
        for url in repo.remote_urls():
            if url.startswith("file://"):
                url = url[len("file://"):]
            if not _looks_like_url(url):  # a local path: also as a file:// URL
                local = (root / url).resolve()
                url = str(local)
                spellings += [local.as_uri(), local.as_uri() + "/"]
            bare = url.rstrip("/").removesuffix(".git")
            spellings += [url, bare, bare + ".git", bare + "/"]
    return list(dict.fromkeys(spellings))


def server_against(repo: Repo) -> list[str]:
    """The stores a receiving repository checks pushed names against: its own configuration
    (`git config --add assetcards.against STORE_OR_URL`), never the pushed content."""
    return repo.config_values("assetcards.against")


def against_sets(target: Target, specs: Sequence[str], locations: Locations,
                 use_tracked: bool = True, cache: ParseCache | None = None,
                 trust_manifest: bool = True) -> list[CardSet]:
    """The card sets TARGET's names must not collide with: every card the library loads here
    (with USE_TRACKED: the stores tracked here, the loose cards of the system and user roots
    and the cards the installed fairseq2 bundles), the manifest's `against` list (unless not
    TRUST_MANIFEST: on a server, the manifest is the pusher's) and SPECS."""
    sets: list[CardSet] = []
    if use_tracked and locations.may_have_stores():
        from ..sources.gitstore import list_stores, tracked_card_sets

        if list_stores(locations):
            exclude = own_locations(target.root) if target.root is not None else []
            sets = [s for s in tracked_card_sets(locations, exclude) if s.label not in exclude]
    if use_tracked:
        sets += default_sets(locations, target.root)
    known = {s.label for s in sets}
    declared = target.manifest.against if target.manifest and trust_manifest else ()
    wanted = list(declared) + list(specs)
    for spec in dict.fromkeys(wanted):
        if spec in known:
            continue
        sets.append(against_set(spec, locations, target.root, cache))
        known.add(spec)
    return sets


def default_sets(locations: Locations, root: Path | None = None) -> list[CardSet]:
    """The cards of the default set outside git stores: the loose cards of the system and user
    roots and those the installed fairseq2 bundles; none of the files under ROOT (the store
    being checked: its cards are not compared with themselves)."""
    from ..sources.fairseq2cards import LABEL, fairseq2_cards_dir

    places = [(f"{scope} root {directory}", directory) for scope, directory in
              (("system", locations.system), ("user", locations.user))]
    package = fairseq2_cards_dir()
    if package is not None:
        places.append((LABEL, package))
    sets = []
    for label, directory in places:
        files = _loose_files(directory, root)
        if any(f.cards for f in files):
            sets.append(CardSet(label, files))
    return sets


def _loose_files(directory: Path, root: Path | None) -> list[ParsedFile]:
    """The parsed card files under DIRECTORY that are not under ROOT."""
    if not directory.is_dir():
        return []
    real = directory.resolve()
    skip = root.resolve() if root is not None else None
    if skip is not None and real.is_relative_to(skip):
        return []
    files = DirectorySource(directory).parse()
    if skip is None or not skip.is_relative_to(real):
        return files
    return [f for f in files if not (real / f.file).resolve().is_relative_to(skip)]


# -- running ----------------------------------------------------------------------------------


def check(target: Target, others: Sequence[CardSet] = ()) -> Report:
    problems = validate(target.primary, others, target.manifest, target.only_files,
                        target.removed_names)
    files = [f for f in target.primary.files
             if target.only_files is None or f.file in target.only_files]
    return Report(problems, len(files), sum(len(f.cards) for f in files),
                  [s.label for s in others])


def merge_reports(reports: Iterable[Report]) -> Report:
    total = Report()
    for report in reports:
        total.problems += report.problems
        total.files += report.files
        total.cards += report.cards
        total.against += [a for a in report.against if a not in total.against]
        total.notes += [n for n in report.notes if n not in total.notes]
    return total


IGNORED_AGAINST = ("note: the 'against' of the pushed assetcards.toml is not followed here; "
                   "this server checks names against the stores it is configured with "
                   "(git config assetcards.against)")


def check_push(root: Path, updates: Sequence[tuple[str, str, str]],
               locations: Locations, cache: ParseCache | None = None,
               environ: Mapping[str, str] | None = None) -> Report:
    """Check every commit a push brings (UPDATES: old, new, ref lines of a pre-receive hook).
    A commit is checked for the card files it changes against its first parent; each problem
    names the commit in its file field (`<commit>:<path>`). Names are checked against the
    stores the server's configuration names (see server_against) and those tracked here; the
    pushed manifest's `against` is not followed (it would let a pusher read other repositories
    and URLs as the server)."""
    repo = hook_repo(root, environ)
    reports = []
    others: list[CardSet] | None = None
    configured = server_against(repo)
    for _old, new, _ref in updates:
        if new == _NULL_OID:
            continue
        for commit, parent in repo.new_commits(new):
            entries = repo.ls_tree(commit)
            target = _git_target(repo, entries, commit[:12], cache, commit)
            if parent is not None:
                before = {e.path: e.oid for e in repo.ls_tree(parent)}
                now = {e.path: e.oid for e in entries}
                old = {path: before.get(path, _NULL_OID) for path in {*before, *now}
                       if before.get(path) != now.get(path)}
                if MANIFEST_NAME not in old:
                    target.only_files = set(old)
                    target.removed_names = _removed_names(repo, target, old)
            if others is None:
                others = against_sets(target, configured, locations, cache=cache,
                                      trust_manifest=False)
            report = check(target, others)
            report.problems = [replace(p, file=f"{commit[:12]}:{p.file}")
                               for p in report.problems]
            if target.manifest is not None and target.manifest.against:
                report.notes.append(IGNORED_AGAINST)
            reports.append(report)
    return merge_reports(reports)


# -- the parse cache --------------------------------------------------------------------------


class ParseCache:
    """Earlier parses, reused through the indexes of index.py in the cache directory. Blob ids
    are content hashes, so a parse kept under one is never stale, whatever tree it came from.

    The staged cards (the pre-commit hook) reuse the index of the repository's staged files
    written by an earlier hook run: after a commit, the next change shares every other blob
    with it, so only the changed files are parsed. A new index is written (reusing the old
    one's parses; the old one is then removed) only when the files it lacks pass REINDEX_AFTER
    or 1% of the store, so most hook runs write nothing. A commit (--rev, a pushed commit) is
    parsed reusing HEAD's index or that staged index; nothing is written for it (CI and a
    pre-receive hook see each commit once), but the commits after it in the same process (a
    push of several) reuse its parses from memory."""

    REINDEX_AFTER = 16

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._memo: dict[str, ParsedFile] = {}  # blob id -> its parse, in this process

    @classmethod
    def for_repo(cls, locations: Locations) -> ParseCache:
        return cls(locations.cache / "index")

    def index(self, repo: Repo, commit: str, card_dir: str) -> TreeIndex | None:
        """COMMIT's index, if one was written (by a sync of a store cloned from REPO)."""
        if not self.directory.is_dir():
            return None  # nothing was ever cached here: no need to ask git for the tree
        from ..sources.index import index_name, open_index

        source = TreeSource(repo, commit, card_dir)
        return open_index(index_name(repo.tree_of(commit), card_dir), [self.directory], source)

    def staged_index(self, source: IndexSource | TreeSource) -> TreeIndex | None:
        """The index of REPO's staged files written last (by an earlier hook run), if any."""
        from ..sources.index import find_listing

        if not self.directory.is_dir():
            return None
        return find_listing(self.directory, self._staged_label(source.repo), source)

    @staticmethod
    def _staged_label(repo: Repo) -> str:
        return f"{repo.path.resolve()} (staged)"

    def parse(self, source: IndexSource | TreeSource, files: Sequence[SourceFile],
              commit: str | None = None) -> list[ParsedFile]:
        from ..sources.index import parse_reusing

        repo = source.repo
        if commit is None:
            return self._parse_staged(source, files)
        own = self.index(repo, commit, source.subdir)
        if own is not None:
            by_path = {p.file: p for p in own.files()}
            if all(f.path in by_path for f in files):
                return [by_path[f.path] for f in files]
        memo = self._memo

        def seen(f: SourceFile) -> bool:  # parsed before, at this path
            return f.key in memo and memo[f.key].file == f.path

        rest = [f for f in files if not seen(f)]
        fresh: dict[str, ParsedFile] = {}
        if rest:
            head = repo.resolve("HEAD") if self.directory.is_dir() else None
            reuse = self.index(repo, head, source.subdir) if head and head != commit else None
            reuse = reuse or self.staged_index(source)
            known = reuse.entries() if reuse is not None else {}
            fresh = {f.path: p for f, p in parse_reusing(source, rest, known)}
        result = [memo[f.key] if seen(f) else fresh[f.path] for f in files
                  if seen(f) or f.path in fresh]
        memo.update((f.key, fresh[f.path]) for f in rest if f.path in fresh)
        return result

    def _parse_staged(self, source: IndexSource | TreeSource,
                      files: Sequence[SourceFile]) -> list[ParsedFile]:
        from ..sources.index import build_index, listing_index_name, parse_reusing

        last = self.staged_index(source)
        known = last.entries() if last is not None else {}
        lacking = sum(1 for f in files if f.key not in known)
        if last is not None and lacking <= max(self.REINDEX_AFTER, len(files) // 100):
            return [p for _, p in parse_reusing(source, files, known)]
        name = listing_index_name(self._staged_label(source.repo), files)
        try:
            built = build_index(name, [self.directory], source,
                                [last] if last is not None else [], files=files)
        except OSError:  # a cache we cannot write only costs time
            return [p for _, p in parse_reusing(source, files, known)]
        by_blob = built.parsed_by_blob() or {}

        def ready(f: SourceFile) -> bool:  # parsed at this path (a copy elsewhere: parse it)
            return f.key in by_blob and by_blob[f.key].file == f.path

        others = {p.file: p for p in source_parse(source, [f for f in files if not ready(f)])}
        return [by_blob[f.key] if ready(f) else others[f.path] for f in files
                if ready(f) or f.path in others]


# -- output -----------------------------------------------------------------------------------


def display_path(file: str, root: Path | None, cwd: Path | None = None) -> str:
    """FILE (relative to ROOT) as a path relative to the current directory, when on disk."""
    if root is None or ":" in file.split("/", 1)[0]:
        return file
    full = root / file
    try:
        return os.path.relpath(full, cwd or Path.cwd()).replace(os.sep, "/")
    except ValueError:
        return str(full)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(problem: Problem) -> str:
    """A GitHub Actions workflow command that marks PROBLEM on its file and line."""
    props = [f"file={_escape_property(problem.file)}"]
    if problem.line:
        props += [f"line={problem.line}", f"col={problem.col or 1}"]
    title = f"card {problem.card}" if problem.card else "card file"
    props.append(f"title={_escape_property(title)}")
    return f"::error {','.join(props)}::{_escape_data(problem.message)}"


def format_report(report: Report, style: str) -> str:
    """The report as text: 'text' (file:line:col: card: message), 'github' (annotations) or
    'json'."""
    if style == "json":
        return json.dumps(report.to_json(), indent=2, sort_keys=True, default=str)
    if style == "github":
        return "\n".join(github_annotation(p) for p in report.problems)
    return "\n".join(p.format() for p in report.problems)


def summary(report: Report) -> str:
    cards = f"{report.cards} card{'s' * (report.cards != 1)} in {report.files} " \
            f"file{'s' * (report.files != 1)}"
    against = f" (names checked against {len(report.against)} other " \
              f"store{'s' * (len(report.against) != 1)})" if report.against else ""
    if report.ok:
        return f"ok: {cards}{against}"
    count = len(report.problems)
    return f"{count} problem{'s' * (count != 1)} in {cards}{against}"


def with_display_paths(report: Report, root: Path | None) -> Report:
    return replace(report, problems=[replace(p, file=display_path(p.file, root))
                                     for p in report.problems])


# -- git hooks --------------------------------------------------------------------------------

HOOK_MARKER = "# assetcards hook:"
HOOK_NAMES = ("pre-commit", "pre-receive")
_HOOK_ARGS = {"pre-commit": "validate --staged", "pre-receive": "validate --pre-receive"}
_HOOK_SKIP = {"pre-commit": "; skip it once with `git commit --no-verify`",
              "pre-receive": " into a bare repository that receives pushes"}
_HOOK_WHAT = {
    "pre-commit": "checks the staged card files before a commit is made",
    "pre-receive": "rejects a push whose new commits hold invalid cards",
}


def hook_script(name: str, python: str = "") -> str:
    """The text of hook NAME. PYTHON: the interpreter that has assetcards (else `cards` on
    PATH is used)."""
    import shlex

    args = _HOOK_ARGS[name]
    return f"""#!/bin/sh
{HOOK_MARKER} {name}. It {_HOOK_WHAT[name]}.
# Installed by `cards hooks install`{_HOOK_SKIP[name]}.
ASSETCARDS_PYTHON={shlex.quote(python)}
if [ -n "$ASSETCARDS_PYTHON" ] && [ -x "$ASSETCARDS_PYTHON" ]; then
    exec "$ASSETCARDS_PYTHON" -m assetcards.cli.main {args}
elif command -v cards >/dev/null 2>&1; then
    exec cards {args}
else
    echo "assetcards {name} hook: the 'cards' command is not installed (pip install assetcards)" >&2
    exit 1
fi
"""


def hooks_dir(repo: Repo) -> Path:
    return repo.git_path("hooks")


def install_hook(repo_path: Path, name: str, python: str, force: bool = False) -> Path:
    """Write hook NAME into the repository at REPO_PATH. A hook that is not ours is kept
    (refused) unless FORCE, which saves it beside as NAME.legacy."""
    repo = Repo(repo_path)
    if not repo.exists():
        raise AssetNotFoundError(f"{repo_path} is not a git repository")
    target = hooks_dir(repo) / name
    if target.exists():
        current = target.read_text(errors="replace")
        if HOOK_MARKER not in current:
            if not force:
                raise AssetError(f"{target} exists and is not an assetcards hook; use --force "
                                 f"to replace it (it is kept as {target.name}.legacy)")
            os.replace(target, target.with_name(name + ".legacy"))
    atomic_write_bytes(target, hook_script(name, python).encode(), mode=0o755)
    return target


