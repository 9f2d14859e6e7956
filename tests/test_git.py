"""The one module that runs git: streamed blob reads, on real repositories."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from assetcards.errors import GitError
from assetcards.git import (
    Repo,
    has_git_dir,
    is_bare_repo,
    parse_config_values,
    parse_symref_head,
    worktree_root,
)

from .gitutil import git, make_repo

COUNT = 3000  # ids in > 64 KiB and blobs out > 64 KiB: both pipes fill while git works


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Repo, list[str], dict[str, bytes]]:
    root = tmp_path_factory.mktemp("blobs")
    files: dict[str, str | bytes] = {f"cards/c{i}.yaml": f"name: c{i}\n" for i in range(COUNT)}
    files["big.bin"] = bytes(range(256)) * 8192  # 2 MiB, with every byte value
    make_repo(root, files)
    contents = {}
    for line in git(root, "ls-tree", "-r", "HEAD").splitlines():
        meta, path = line.split("\t")
        oid = meta.split()[2]
        contents[oid] = (root / path).read_bytes()
    return Repo(root), list(contents), contents


def git_children() -> list[str]:
    out = subprocess.run(["ps", "--ppid", str(os.getpid()), "-o", "pid=,comm="],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "git" in line]


def _is_zombie(ps_line: str) -> bool:
    try:
        with open(f"/proc/{ps_line.split()[0]}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True  # gone already


def test_every_blob_arrives_in_the_order_asked(
        blobs: tuple[Repo, list[str], dict[str, bytes]]) -> None:
    repo, oids, contents = blobs
    wanted = list(reversed(oids)) + oids[:5]  # repeats are read once
    got = list(repo.read_blobs(wanted))
    assert [oid for oid, _ in got] == list(reversed(oids))
    assert all(data == contents[oid] for oid, data in got)


def test_a_missing_object_is_named_after_the_ones_before_it(
        blobs: tuple[Repo, list[str], dict[str, bytes]]) -> None:
    repo, oids, _ = blobs
    ghost = "0123456789abcdef0123456789abcdef01234567"
    reader = repo.read_blobs([oids[0], ghost, oids[1]])
    assert next(reader)[0] == oids[0]
    with pytest.raises(GitError, match=f"git object {ghost} is missing"):
        next(reader)
    assert git_children() == []


def test_stopping_early_stops_git(blobs: tuple[Repo, list[str], dict[str, bytes]]) -> None:
    repo, oids, _ = blobs
    reader = repo.read_blobs(oids)
    next(reader)
    reader.close()
    assert git_children() == []


def test_git_is_killed_when_the_time_is_up(
        blobs: tuple[Repo, list[str], dict[str, bytes]]) -> None:
    repo, oids, _ = blobs
    reader = repo.read_blobs(oids, timeout=0.3)
    next(reader)
    # git is blocked on a full pipe when the timer fires: wait until it has been killed (a
    # zombie until the reader waits for it), however long the machine takes to get there.
    deadline = time.monotonic() + 60
    while not git_children() or not all(_is_zombie(line) for line in git_children()):
        assert time.monotonic() < deadline, git_children()
        time.sleep(0.02)
    with pytest.raises(GitError, match=r"did not finish within 0\.3 s"):
        list(reader)
    assert git_children() == []


def test_a_failing_git_says_why(tmp_path: Path) -> None:
    not_a_repo = tmp_path / "plain"
    not_a_repo.mkdir()
    with pytest.raises(GitError, match="git cat-file failed in .*plain: fatal: not a git"):
        list(Repo(not_a_repo).read_blobs(["0123456789abcdef0123456789abcdef01234567"]))


# -- the named git calls the rest of the package makes -----------------------------------------


def test_symbolic_refs(tmp_path: Path) -> None:
    make_repo(tmp_path, {"a.txt": "a"})
    repo = Repo(tmp_path)
    assert repo.symbolic_ref() == "refs/heads/main"
    repo.set_symbolic_ref("refs/heads/other")
    assert repo.symbolic_ref() == "refs/heads/other"
    assert git(tmp_path, "symbolic-ref", "HEAD") == "refs/heads/other"
    git(tmp_path, "checkout", "-q", "--detach", "main")
    assert repo.symbolic_ref() == ""


def test_paths_and_files_at_a_commit(tmp_path: Path) -> None:
    make_repo(tmp_path, {"cards/a.yaml": "name: a\n", "assetcards.toml": "[store]\n"})
    repo = Repo(tmp_path)
    head = repo.resolve("HEAD")
    assert head is not None
    assert repo.has_path(head, "cards") and repo.has_path(head, "cards/a.yaml")
    assert not repo.has_path(head, "models")
    assert repo.file_at(head, "assetcards.toml") == b"[store]\n"
    assert repo.file_at(head, "cards/a.yaml") == b"name: a\n"
    assert repo.file_at(head, "missing.toml") is None


def test_config_values_and_remote_urls(tmp_path: Path) -> None:
    make_repo(tmp_path)
    repo = Repo(tmp_path)
    assert repo.config_values("assetcards.against") == []
    assert repo.remote_urls() == []
    git(tmp_path, "config", "--add", "assetcards.against", "team")
    git(tmp_path, "config", "--add", "assetcards.against", "https://example.com/cards.git")
    git(tmp_path, "remote", "add", "origin", "../upstream.git")
    git(tmp_path, "remote", "add", "mirror", "https://example.com/mirror")
    assert repo.config_values("assetcards.against") == ["team", "https://example.com/cards.git"]
    assert repo.remote_urls() == ["../upstream.git", "https://example.com/mirror"]


def test_parse_config_values_leaves_out_keys_without_a_value() -> None:
    text = "remote.a.url /srv/a\nremote.b.url\nremote.c.url  https://x/c  \n"
    assert parse_config_values(text) == ["/srv/a", "https://x/c"]


def test_git_path_worktree_root_and_bare_repositories(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "work", {"cards/a.yaml": "name: a\n"})
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    plain = tmp_path / "plain"
    plain.mkdir()
    assert Repo(work).git_path("hooks") == work / ".git" / "hooks"
    assert Repo(bare).git_path("hooks") == bare / "hooks"
    assert worktree_root(work / "cards") == work and worktree_root(work) == work
    assert has_git_dir(work) and not has_git_dir(work / "cards") and not has_git_dir(bare)
    assert worktree_root(plain) is None or worktree_root(plain) not in (work, plain)
    assert is_bare_repo(bare) and not is_bare_repo(work) and not is_bare_repo(plain)


def test_remote_default_branch(tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "up", {"a.txt": "a"})
    git(upstream, "branch", "-q", "-m", "main", "trunk")
    local = Repo.init_bare(tmp_path / "local.git")
    assert local.remote_default_branch(str(upstream)) == "trunk"


def test_parse_symref_head() -> None:
    oid = "a" * 40
    assert parse_symref_head(f"ref: refs/heads/dev\tHEAD\n{oid}\tHEAD\n") == "dev"
    assert parse_symref_head(f"{oid}\tHEAD\n") == "HEAD"
    assert parse_symref_head("") == "HEAD"
