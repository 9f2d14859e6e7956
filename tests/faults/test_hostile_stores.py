"""Hostile repositories, stores and settings, end to end through the `cards` CLI as a real
process: another user's repository never runs its configuration as us, stores whose names
share a prefix never touch each other's files, one bad upstream commit fails one store and
no other, symlinked state directories are refused, and bad settings are named. Each ends in a
clear message and the right exit code, never a Python traceback."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from assetcards.locations import Locations
from tests.faults.helpers import cards, report
from tests.gitutil import git, make_repo
from tests.storeutil import CARDS, card_text, card_upstream, model

# -- another user's repository (issue 13, item 2) -------------------------------------------


def _nobody() -> tuple[int, int]:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a repository to another user")
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' here")
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def _hostile_repo(tmp_path: Path, marker: Path) -> Path:
    """A repository owned by nobody whose configuration runs a command that leaves MARKER,
    by every key git reads as a command; one card staged, one committed. Beside it, a bare
    clone THEIRS.git, as hostile."""
    uid, gid = _nobody()
    repo = make_repo(tmp_path / "theirs", {"cards/a.yaml": card_text("theirs_a")})
    (repo / "cards" / "b.yaml").write_text(card_text("theirs_b"))
    git(repo, "add", "cards/b.yaml")
    bare = tmp_path / "theirs.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    command = f"touch {marker}; false"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("post-index-change", "reference-transaction", "post-checkout"):
        (hooks / hook).write_text(f"#!/bin/sh\n{command}\n")
        (hooks / hook).chmod(0o755)
    for where in (repo, bare):
        for key, value in (("core.fsmonitor", command), ("core.sshCommand", command),
                           ("core.pager", command), ("diff.external", command),
                           ("core.hooksPath", str(hooks))):
            git(where, "config", key, value)
        _chown_tree(where, uid, gid)
    return repo


def _cards(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([CARDS, *args], capture_output=True, text=True, timeout=60,
                            cwd=cwd, env=dict(os.environ))
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def _assert_refused(result: subprocess.CompletedProcess[str], repo: Path, marker: Path) -> None:
    assert not marker.exists(), "a command from another user's repository configuration ran"
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"git refuses to work in {repo}: the repository belongs to user nobody (uid "
            in result.stderr), result.stderr
    assert "not to you, and its configuration could run commands as you" in result.stderr
    assert f"`git config --global --add safe.directory {repo}`" in result.stderr


def test_staged_cards_of_another_users_repository_run_nothing(tmp_path: Path,
                                                              locations: Locations) -> None:
    marker = tmp_path / "PWNED"
    repo = _hostile_repo(tmp_path, marker)
    result = _cards("validate", "--staged", "--no-tracked", cwd=repo)
    _assert_refused(result, repo, marker)
    report("another_users_repo_staged", marker_created=marker.exists(), exit=result.returncode)


@pytest.mark.parametrize("how", ["staged-subdir", "rev", "rev-bare", "against", "against-bare",
                                 "hooks-install"])
def test_other_ways_into_another_users_repository_run_nothing(
        how: str, tmp_path: Path, locations: Locations) -> None:
    marker = tmp_path / "PWNED"
    repo = _hostile_repo(tmp_path, marker)
    bare = tmp_path / "theirs.git"
    mine = make_repo(tmp_path / "mine", {"cards/m.yaml": card_text("mine_m")})
    args, cwd, refused = {
        "staged-subdir": (["validate", "--staged", "--no-tracked"], repo / "cards", repo),
        "rev": (["validate", "--rev", "HEAD", "--no-tracked"], repo, repo),
        "rev-bare": (["validate", "--rev", "HEAD", "--no-tracked"], bare, bare),
        "against": (["validate", "--no-tracked", "--against", str(repo), "cards"], mine, repo),
        "against-bare": (["validate", "--no-tracked", "--against", str(bare), "cards"], mine,
                         bare),
        "hooks-install": (["hooks", "install", "--repo", str(repo)], mine, repo),
    }[how]
    _assert_refused(_cards(*args, cwd=cwd), refused, marker)


def test_a_root_owned_store_is_still_read_by_another_user(tmp_path: Path,
                                                          locations: Locations) -> None:
    """The guard stays lifted for our own store repositories: a system store a user does
    not own is read (the reverse of the case above)."""
    from tests.storeutil import run_as_nobody, world_readable_dir

    with world_readable_dir(tmp_path, "sysstore") as base:
        bare, _ = card_upstream(base, {"m.yaml": model("sys_model")})
        env = {**os.environ, "FAIRSEQ2_ASSET_DIR": str(base / "system"),
               "FAIRSEQ2_USER_ASSET_DIR": str(base / "user-nobody"),
               "FAIRSEQ2_CACHE_DIR": str(base / "cache-nobody"), "HOME": str(base)}
        added = cards("store", "add", "--system", "sys", str(bare), env=env)
        assert added.returncode == 0, added.stderr
        (base / "cache-nobody").mkdir(mode=0o777)
        (base / "user-nobody").mkdir(mode=0o777)
        shown = run_as_nobody("show", "sys_model", "--rev", "HEAD", "--json", env=env)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["name"] == "sys_model"


# -- the network timeout setting (issue 13, item 10) ----------------------------------------


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "-1", "0", "1e9", ""])
def test_bad_git_timeout_is_named(value: str, tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": card_text("team_a")})
    assert cards("store", "add", "team", str(bare)).returncode == 0
    env = {**os.environ, "ASSETCARDS_GIT_TIMEOUT": value}
    listed = cards("list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr  # reading never needs the network
    shown = cards("show", "team_a", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    synced = cards("sync", "--no-progress", env=env)
    if value == "":  # unset: the default
        assert synced.returncode == 0, synced.stderr
        return
    assert synced.returncode == 1
    expected = (f"ASSETCARDS_GIT_TIMEOUT={value!r} is not a valid timeout: use a number of "
                "seconds from 1 to 86400 (or unset it for the default, 60)")
    assert expected in synced.stdout + synced.stderr
    added = cards("store", "add", "other", str(bare), env=env)
    assert added.returncode == 1 and expected in added.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e9", "abc"])
@pytest.mark.parametrize("command", [["sync"], ["store", "add", "x", "/nonexistent"],
                                     ["store", "remove", "x"], ["pin", "x", "HEAD"],
                                     ["unpin", "x"]])
def test_bad_lock_timeout_is_a_usage_error(value: str, command: list[str],
                                           locations: Locations) -> None:
    result = cards(*command, "--lock-timeout", value)
    assert result.returncode == 2, result.stderr
    assert "Invalid value for '--lock-timeout'" in result.stderr
    assert "a number of seconds from 0 to 86400" in result.stderr
