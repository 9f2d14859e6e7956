"""A push cannot choose what the server checks it against, and special files never hang us.

The pre-receive hook reads the stores to compare names with from the receiving repository's own
configuration (`git config assetcards.against`), never from the pushed `assetcards.toml`: a
pusher could otherwise make the rejection message reveal another repository's card names, make
the server walk its whole filesystem, or fetch URLs as the server. FIFOs, sockets and devices
named like card files are reported and never opened, wherever cards are read.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest

from assetcards.checks import targets as checks
from assetcards.locations import Locations
from assetcards.sources.source import DirectorySource

from ..gitutil import commit_files, git, make_repo, make_upstream
from ..http_server import serve
from ..storeutil import CARDS
from .helpers import cards

GOOD = "name: a\nmodel_family: llama\ncheckpoint: https://example.com/a.pt\n"
SECRET = "name: secret_model\nmodel_family: llama\ncheckpoint: https://example.com/s.pt\n"
MINE = "name: secret_model\nmodel_family: llama\ncheckpoint: https://example.com/m.pt\n"
FIFO_PROBLEM = ("not a regular file (a FIFO): skipped without opening it; remove it or "
                "replace it with a card file")


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _push(work: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "push", "origin", "main"], cwd=work, capture_output=True,
                          text=True, env=_env(), timeout=120)


def _server(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A private repository holding `secret_model`, and a receiving repository with our hook
    (returns private, bare, work)."""
    private_work = make_repo(tmp_path / "private-work", {"cards/secret.yaml": SECRET})
    private = tmp_path / "private.git"
    git(tmp_path, "clone", "-q", "--bare", str(private_work), str(private))
    bare, work = make_upstream(tmp_path, {"cards/a.yaml": GOOD})
    subprocess.run([CARDS, "hooks", "install", "--repo", str(bare)], check=True,
                   capture_output=True, env=_env())
    return private, bare, work


@pytest.mark.timeout(120)
@pytest.mark.parametrize("spec", ["../private.git", "{tmp}/private.git", "file://{tmp}/private.git",
                                  "/", "{tmp}", "{tmp}/fifo-dir"])
def test_a_pushed_manifest_does_not_choose_what_the_server_reads(tmp_path: Path,
                                                                 spec: str) -> None:
    _private, bare, work = _server(tmp_path)
    (tmp_path / "fifo-dir").mkdir()
    os.mkfifo(tmp_path / "fifo-dir" / "x.yaml")  # would hang a reader that opens it
    against = spec.format(tmp=tmp_path)
    pushed = commit_files(work, {"assetcards.toml": f'[store]\nagainst = ["{against}"]\n',
                                 "cards/m.yaml": MINE}, "collide with a private card")
    result = _push(work)
    assert result.returncode == 0, result.stderr
    assert "secret" not in result.stderr.replace("secret_model", "")  # no file of private.git
    assert "Traceback" not in result.stderr
    assert f"remote: {checks.IGNORED_AGAINST}" in result.stderr
    assert git(bare, "rev-parse", "main") == pushed


@pytest.mark.timeout(120)
def test_a_pushed_manifest_url_is_not_fetched_by_the_server(tmp_path: Path) -> None:
    _private, bare, work = _server(tmp_path)
    with serve({"/x.git/info/refs": b""}) as server:
        commit_files(work, {"assetcards.toml": f'[store]\nagainst = ["{server.url("/x.git")}"]\n',
                            "cards/m.yaml": MINE}, "point the server at a URL")
        result = _push(work)
        assert result.returncode == 0, result.stderr
        assert server.count() == 0


@pytest.mark.timeout(120)
def test_the_server_configuration_chooses_what_pushes_are_checked_against(
        tmp_path: Path) -> None:
    private, bare, work = _server(tmp_path)
    git(bare, "config", "--add", "assetcards.against", str(private))
    pushed = commit_files(work, {"cards/m.yaml": MINE}, "collide with a configured store")
    result = _push(work)
    assert result.returncode != 0 and "pre-receive hook declined" in result.stderr
    assert (f"remote: {pushed[:12]}:cards/m.yaml:1:1: secret_model: duplicate card name "
            f"'secret_model': also defined in {private}: cards/secret.yaml:1") in result.stderr
    assert git(bare, "rev-parse", "main") != pushed


@pytest.mark.timeout(120)
def test_a_configured_directory_holding_a_fifo_does_not_hang_the_hook(tmp_path: Path) -> None:
    _private, bare, work = _server(tmp_path)
    store = tmp_path / "loose"
    store.mkdir()
    (store / "b.yaml").write_text("name: b\n")
    os.mkfifo(store / "x.yaml")
    git(bare, "config", "--add", "assetcards.against", str(store))
    pushed = commit_files(work, {"cards/m.yaml": "name: b\n"}, "collide with the loose store")
    result = _push(work)
    assert result.returncode != 0 and "pre-receive hook declined" in result.stderr
    assert f"remote: {pushed[:12]}:cards/m.yaml:1:1: b: duplicate card name 'b'" in result.stderr
    assert git(bare, "rev-parse", "main") != pushed


# -- special files wherever cards are read ----------------------------------------------------


@contextmanager
def _unix_socket(path: Path) -> Iterator[None]:
    here = os.getcwd()
    os.chdir(path.parent)  # a relative address: socket paths are limited to ~100 bytes
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path.name)
        yield
    finally:
        sock.close()
        os.chdir(here)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "socket", "fifo-symlink", "fifo-in-subdir"])
def test_special_files_in_a_directory_are_reported_never_opened(tmp_path: Path,
                                                                kind: str) -> None:
    root = tmp_path / "cards"
    root.mkdir()
    (root / "ok.yaml").write_text("name: ok\n")
    special = root / "x.yaml"
    what = "a socket" if kind == "socket" else "a FIFO"
    if kind == "fifo":
        os.mkfifo(special)
    elif kind == "fifo-symlink":
        os.mkfifo(root / "pipe")
        special.symlink_to("pipe")
    elif kind == "fifo-in-subdir":
        (root / "sub").mkdir()
        os.mkfifo(root / "sub" / "p.yaml")
        special = root / "sub" / "p.yaml"
    with _unix_socket(special) if kind == "socket" else nullcontext():
        parsed = DirectorySource(root).parse()
        rel = special.relative_to(root).as_posix()
        by_file = {p.file: p for p in parsed}
        assert [c.name for c in by_file["ok.yaml"].cards] == ["ok"]
        problem = by_file[rel].problems[0]
        assert (problem.code, problem.message) == (
            "special-file", FIFO_PROBLEM.replace("a FIFO", what))
        result = cards("validate", "--no-tracked", "--json", str(root), timeout=30)
        assert result.returncode == 1
        problems = json.loads(result.stdout)["problems"]
        shown = os.path.relpath(root / rel).replace(os.sep, "/")
        assert [(p["file"], p["code"]) for p in problems] == [(shown, "special-file")]
        named = cards("validate", "--no-tracked", "--json", str(special), timeout=30)
        assert named.returncode == 1
        assert [(p["file"], p["code"], p["message"]) for p in json.loads(named.stdout)[
            "problems"]] == [(shown, "special-file", FIFO_PROBLEM.replace("a FIFO", what))]


@pytest.mark.timeout(60)
def test_a_symlink_to_a_device_is_never_read(tmp_path: Path) -> None:
    root = tmp_path / "cards"
    root.mkdir()
    (root / "zero.yaml").symlink_to("/dev/zero")  # outside the root: not listed
    (root / "ok.yaml").write_text("name: ok\n")
    assert [p.file for p in DirectorySource(root).parse()] == ["ok.yaml"]
    named = cards("validate", "--no-tracked", str(root / "zero.yaml"), timeout=30)
    assert (named.returncode, named.stderr.strip()) == (
        1, f"error: {root / 'zero.yaml'} leads outside the store at {root}")


def test_a_file_swapped_for_a_fifo_after_listing_is_not_opened(tmp_path: Path) -> None:
    root = tmp_path / "cards"
    root.mkdir()
    (root / "x.yaml").write_text("name: x\n")
    source = DirectorySource(root)
    files = source.list_files()
    (root / "x.yaml").unlink()
    os.mkfifo(root / "x.yaml")
    from assetcards.sources.source import parse_files

    parsed = parse_files(source, files)
    assert [(p.file, [q.message for q in p.problems]) for p in parsed] == [
        ("x.yaml", [FIFO_PROBLEM])]


@pytest.mark.timeout(60)
def test_a_fifo_in_a_root_does_not_hang_list_or_retrieve(tmp_path: Path) -> None:
    system = Path(os.environ["FAIRSEQ2_ASSET_DIR"])
    system.mkdir(parents=True)
    (system / "a.yaml").write_text("name: a\ndescription: here\n")
    os.mkfifo(system / "x.yaml")
    listed = cards("list", timeout=30)
    assert f"error: x.yaml: {FIFO_PROBLEM}" in listed.stdout
    shown = cards("show", "a", timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert "here" in shown.stdout


# -- the mirrors of `against` URLs ------------------------------------------------------------


_FETCH = """
import sys
from pathlib import Path
from assetcards.checks import targets as checks
from assetcards.locations import Locations
got = checks.against_set(sys.argv[1], Locations.from_env())
print(sorted(d.name for d in got.docs))
"""


@pytest.mark.timeout(120)
def test_two_hooks_fetch_one_mirror_at_once(tmp_path: Path, locations: Locations) -> None:
    upstream = make_repo(tmp_path / "up", {"cards/a.yaml": GOOD})
    url = upstream.resolve().as_uri()
    procs = [subprocess.Popen([sys.executable, "-c", _FETCH, url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=100) for p in procs]
    assert [(p.returncode, out) for p, (out, _) in zip(procs, outputs, strict=True)] == [
        (0, "['a']\n")] * 4, [err for _, err in outputs]
    mirrors = sorted(p.name for p in (locations.cache / "against").iterdir()
                     if not p.name.endswith((".lock", ".owner")))
    assert len([m for m in mirrors if m.endswith(".git")]) == 1
    assert not [m for m in mirrors if m.startswith(".")]  # no staging left behind


def test_mirrors_unused_for_a_month_are_pruned_unless_busy(tmp_path: Path,
                                                           locations: Locations) -> None:
    import filelock

    upstream = make_repo(tmp_path / "up", {"cards/a.yaml": GOOD})
    other = make_repo(tmp_path / "other", {"cards/b.yaml": "name: b\n"})
    for repo in (upstream, other):
        checks.against_set(repo.resolve().as_uri(), locations)
    mirrors = locations.cache / "against"
    stamps = sorted(mirrors.glob("*.used"))
    assert len(stamps) == 2
    old = time.time() - (checks.MIRROR_KEEP_DAYS + 1) * 86400
    for stamp in stamps:
        os.utime(stamp, (old, old))
    busy = stamps[0].name[:-len(".used")]
    lock = filelock.FileLock(str(mirrors / f"{busy}.lock"))
    with lock:
        removed = checks.prune_mirrors(mirrors)
    idle = stamps[1].name[:-len(".used")]
    assert removed == [idle]
    assert not (mirrors / f"{idle}.git").exists()
    assert (mirrors / f"{busy}.git" / "HEAD").is_file()


def test_a_huge_manifest_is_refused_after_one_megabyte(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "cards").mkdir(parents=True)
    (repo / "cards" / "a.yaml").write_text("name: a\n")
    (repo / "assetcards.toml").write_bytes(b"#" * (checks.MAX_MANIFEST_BYTES + 10))
    result = cards("validate", "--no-tracked", str(repo))
    assert (result.returncode, result.stderr.strip()) == (
        1, f"error: assetcards.toml:1:1: manifest is larger than {checks.MAX_MANIFEST_BYTES} "
           "bytes")


def test_a_cards_directory_linked_outside_the_store_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.yaml").write_text("name: a\n")
    (repo / "link").symlink_to(tmp_path / "elsewhere")
    (repo / "assetcards.toml").write_text('[store]\ncards = "link"\n')
    result = cards("validate", "--no-tracked", str(repo))
    assert (result.returncode, result.stderr.strip()) == (
        1, f"error: {repo / 'link'} leads outside the store at {repo}; a store's cards "
           "directory must be inside it")
