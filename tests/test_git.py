"""The one module that runs git: streamed blob reads, on real repositories."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from assetcards.errors import GitError
from assetcards.git import Repo

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
