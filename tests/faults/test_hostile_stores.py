"""Hostile repositories, stores and settings, end to end through the `cards` CLI as a real
process: another user's repository never runs its configuration as us, stores whose names
share a prefix never touch each other's files, one bad upstream commit fails one store and
no other, symlinked state directories are refused, and bad settings are named. Each ends in a
clear message and the right exit code, never a Python traceback."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetcards.card.manifest import parse_manifest
from assetcards.errors import AssetMetadataError
from assetcards.fsutil import is_printable_name
from assetcards.git import Repo
from assetcards.locations import Locations
from assetcards.sources.index import build_index
from assetcards.sources.source import DirectorySource, TreeSource
from assetcards.stores.state import StorePaths, read_state
from tests.faults.helpers import SOAK, cards, report
from tests.gitutil import commit_files, git, make_repo, push
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
    expected = ("ASSETCARDS_GIT_TIMEOUT must be a number of seconds from 1 (included) to "
                f"86400 (included), not {value!r}. Unset it for the default, 60.")
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
    assert f"{value!r} is not a number of seconds from 0 (included) to 86400 (included)" in result.stderr


# -- one bad upstream commit (issue 13, item 4) ---------------------------------------------

BAD_NAME = ("file name holds bytes that are not UTF-8, control characters or a backslash "
            "(shown escaped as \\xNN); rename the file")
# What a bad commit holds (files added to a good commit) -> the problem sync must report, with
# its file and line, for that store alone.
BAD_COMMITS: dict[str, tuple[dict[str, str | bytes], str]] = {
    "set-document": ({"cards/set.yaml": b"!!set {name: x, a: b}\n"},
                     "cards/set.yaml:1:1: document is tagged !!set, not a mapping"),
    "set-second-document": (
        {"cards/set.yaml": b"name: fine_one\n---\n!!set\n? name\n? other\n"},
        "cards/set.yaml:3:1: document is tagged !!set, not a mapping"),
    "not-utf8-name": ({b"cards/caf\xe9.yaml".decode("utf-8", "surrogateescape"):
                       card_text("latin1_card")},
                      f"cards/caf\\xe9.yaml:1:1: {BAD_NAME}"),
    "control-name": ({"cards/esc\x1b[31mred.yaml": card_text("ansi_card")},
                     f"cards/esc\\x1b[31mred.yaml:1:1: {BAD_NAME}"),
    "backslash-name": ({"cards/back\\slash.yaml": card_text("backslash_card")},
                       f"cards/back\\slash.yaml:1:1: {BAD_NAME}"),
    "nul-in-manifest": ({"assetcards.toml": '[store]\ncards = "a\\u0000b"\n'},
                        "assetcards.toml:2:1: store.cards must be a relative directory inside "
                        "the repository, without control characters"),
    "newline-in-manifest": ({"assetcards.toml": '# rules\n[store]\ncards = "a\\nb"\n'},
                            "assetcards.toml:3:1: store.cards must be a relative directory "
                            "inside the repository, without control characters"),
}


def _git_commit_bytes(work: Path, files: dict[str, str | bytes], message: str) -> str:
    """Commit FILES, whose names may be any bytes (surrogate-escaped), and push."""
    for name, content in files.items():
        path = os.fsencode(str(work)) + b"/" + os.fsencode(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(content.encode() if isinstance(content, str) else content)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    push(work)
    return git(work, "rev-parse", "HEAD")


def _three_stores(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    """Stores a_first, b_bad and c_last, each added at a good commit."""
    ups = {}
    for name in ("a_first", "b_bad", "c_last"):
        ups[name] = card_upstream(tmp_path, {"one.yaml": card_text(f"{name}_one")},
                                  name=f"up-{name}")
        added = cards("store", "add", name, str(ups[name][0]))
        assert added.returncode == 0, added.stderr
    return ups


@pytest.mark.parametrize("jobs", ["1", "4"])
@pytest.mark.parametrize("kind", sorted(BAD_COMMITS))
def test_one_bad_commit_fails_one_store_and_no_other(kind: str, jobs: str, tmp_path: Path,
                                                     locations: Locations) -> None:
    files, problem = BAD_COMMITS[kind]
    ups = _three_stores(tmp_path)
    pins = {n: read_state(StorePaths(locations.user, n)).commit for n in ups}  # type: ignore[union-attr]
    tips = {n: commit_files(work, {"cards/two.yaml": card_text(f"{n}_two")}, "two")
            for n, (_, work) in ups.items()}
    for _, work in ups.values():
        push(work)
    bad_tip = _git_commit_bytes(ups["b_bad"][1], files, "bad")
    result = cards("sync", "--json", "--no-progress", "--jobs", jobs)
    assert result.returncode == 1, result.stderr
    entries = {e["store"]: e for e in json.loads(result.stdout)}
    assert [entries[n]["status"] for n in ("a_first", "b_bad", "c_last")] == [
        "updated", "rejected", "updated"]
    assert entries["a_first"]["new"] == tips["a_first"]
    assert entries["c_last"]["new"] == tips["c_last"]
    bad = entries["b_bad"]
    assert bad["new"] == bad_tip and bad["old"] == pins["b_bad"]
    assert bad["message"] == (f"commit {bad_tip[:12]} has {len(bad['problems'])} problem(s) in "
                              "its cards; kept the pin on the last good commit")
    formatted = [f"{p['file']}:{p['line']}:{p['col']}: {p['message']}" for p in bad["problems"]]
    assert any(f.startswith(problem) for f in formatted), formatted
    assert read_state(StorePaths(locations.user, "b_bad")).commit == pins["b_bad"]  # type: ignore[union-attr]
    text = cards("sync", "--no-progress", "--jobs", jobs)  # the summary, as text
    assert text.returncode == 1
    assert "b_bad: rejected" in text.stdout and problem in text.stdout
    assert "a_first: unchanged" in text.stdout and "c_last: unchanged" in text.stdout
    listed = cards("list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {e["name"] for lst in json.loads(listed.stdout) for e in lst["cards"]}
    assert {"a_first_two", "b_bad_one", "c_last_two"} <= names and "b_bad_two" not in names


@pytest.mark.parametrize("kind", sorted(BAD_COMMITS))
def test_one_bad_commit_is_refused_by_store_add_and_validate(kind: str, tmp_path: Path,
                                                             locations: Locations) -> None:
    files, problem = BAD_COMMITS[kind]
    bare, work = card_upstream(tmp_path, {"one.yaml": card_text("team_one")})
    server = tmp_path / "server.git"  # receives the bad push through the pre-receive hook
    git(tmp_path, "clone", "-q", "--bare", str(bare), str(server))
    assert _cards("hooks", "install", "--repo", str(server), cwd=tmp_path).returncode == 0
    bad = _git_commit_bytes(work, files, "bad")
    pushed = subprocess.run(["git", "push", str(server), "main"], cwd=work, capture_output=True,
                            text=True, timeout=120)
    assert pushed.returncode != 0 and "pre-receive hook declined" in pushed.stderr
    assert f"remote: {bad[:12]}:{problem}" in pushed.stderr or problem in pushed.stderr, \
        pushed.stderr
    assert "Traceback" not in pushed.stderr
    added = cards("store", "add", "team", str(bare))
    assert added.returncode == 1
    assert "has invalid cards; not pinned" in added.stderr or "assetcards.toml" in added.stderr
    assert problem in added.stderr, added.stderr
    assert read_state(StorePaths(locations.user, "team")) is None
    assert not (locations.user / "team").exists()
    checked = _cards("validate", "--rev", "HEAD", "--no-tracked", cwd=work)
    assert checked.returncode == 1 and problem in checked.stdout + checked.stderr
    git(work, "reset", "-q", "--soft", "HEAD~1")
    staged = _cards("validate", "--staged", "--no-tracked", cwd=work)
    assert staged.returncode == 1 and problem in staged.stdout + staged.stderr
    report(f"bad_commit_{kind}", add_exit=added.returncode, validate_exit=checked.returncode)


@pytest.mark.parametrize("kind", ["set-document", "not-utf8-name", "control-name",
                                  "backslash-name"])
def test_bad_loose_file_is_a_problem_not_a_crash(kind: str, tmp_path: Path,
                                                 locations: Locations) -> None:
    files, problem = BAD_COMMITS[kind]
    root = locations.user
    root.mkdir(parents=True)
    (root / "good.yaml").write_text(card_text("loose_good"))
    for name, content in files.items():
        path = os.fsencode(str(root)) + b"/" + os.fsencode(name.removeprefix("cards/"))
        with open(path, "wb") as handle:
            handle.write(content.encode() if isinstance(content, str) else content)
    listed = cards("list", "--json")
    assert listed.returncode == 1, listed.stderr  # 1: a root holds a broken file
    problems = [f"{p['file']}:{p['line']}:{p['col']}: {p['message']}"
                for lst in json.loads(listed.stdout) for p in lst["problems"]]
    assert any(problem.removeprefix("cards/") in p for p in problems), problems
    assert "loose_good" in listed.stdout
    shown = cards("show", "loose_good", "--json")
    assert shown.returncode == 0, shown.stderr
    checked = cards("validate", "--no-tracked", str(root))
    assert checked.returncode == 1
    assert problem.removeprefix("cards/") in checked.stdout, checked.stdout


# -- stores whose names share a prefix; checkouts checked against the tree (item 3) -------


def _many_cards(store: str, generation: int, count: int) -> dict[str, str | bytes]:
    return {f"cards/c{i:04d}.yaml": f"name: {store}_c{i}\ngeneration: {generation}\n"
            for i in range(count)}


def _checkout_files(paths: StorePaths) -> dict[str, str]:
    return {p.relative_to(paths.checkout).as_posix(): p.read_text()
            for p in paths.checkout.rglob("*.yaml")}


def test_clearing_one_stores_leftovers_never_touches_another_stores(
        tmp_path: Path, locations: Locations) -> None:
    for name in ("s", "s-big", "s-1-2"):
        bare, _ = card_upstream(tmp_path, {"a.yaml": card_text(f"{name.replace('-', '_')}_a")},
                                name=f"up-{name}")
        assert cards("store", "add", name, str(bare)).returncode == 0
    state = locations.user / ".assetcards"
    planted = {  # path -> whether `cards sync s` must remove it
        state / "tmp" / "s-11-22": True,  # s's own, left by an earlier version
        state / "tmp" / "s-big-11-22": False,
        state / "tmp" / "s-1-2-11-22": False,
        state / "tmp" / "s-1-2": True,  # s's too: s, process 1, time 2
        state / "staging" / "s" / "33-44": True,
        state / "staging" / "s-big" / "33-44": False,  # as s-big's sync writes it
        state / "staging" / "s-1-2" / "33-44": False,
    }
    for path in planted:
        (path / "cards").mkdir(parents=True)
        (path / "cards" / "x.yaml").write_text("name: staged\n")
    result = cards("sync", "s", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert {p: not p.exists() for p in planted} == planted


def test_syncing_a_store_while_a_prefixed_store_syncs_loses_no_file(
        tmp_path: Path, locations: Locations) -> None:
    """Real processes: `cards sync s` in a loop while `cards sync s-big` writes thousands of
    files, three times; every s-big checkout is complete and every sync exits 0."""
    count = 1500
    big_bare, big_work = card_upstream(tmp_path, {}, name="up-big",
                                       extra=_many_cards("big", 0, count))
    small_bare, _ = card_upstream(tmp_path, {"a.yaml": card_text("small_a")}, name="up-small")
    assert cards("store", "add", "s", str(small_bare)).returncode == 0
    assert cards("store", "add", "s-big", str(big_bare)).returncode == 0
    stop = tmp_path / "stop"
    counter = tmp_path / "small-syncs"
    loop = subprocess.Popen(
        ["sh", "-c", f'while [ ! -e "{stop}" ]; do "{CARDS}" sync s --no-progress '
         f'--lock-timeout 120 >/dev/null 2>>"{counter}.err" || echo fail >>"{counter}.err"; '
         f'echo x >>"{counter}"; done'], start_new_session=True)
    big = StorePaths(locations.user, "s-big")
    try:
        while not counter.exists() or not counter.read_text():  # the loop is running
            assert loop.poll() is None
            time.sleep(0.05)
        for generation in (1, 2, 3):
            commit_files(big_work, _many_cards("big", generation, count), f"g{generation}")
            push(big_work)
            result = cards("sync", "s-big", "--json", "--no-progress", timeout=300)
            assert result.returncode == 0, result.stderr
            [entry] = json.loads(result.stdout)
            assert entry["status"] == "updated", entry
            files = _checkout_files(big)
            assert len(files) == count, f"generation {generation}: {len(files)} of {count}"
            assert all(f"generation: {generation}\n" in text for text in files.values())
    finally:
        stop.touch()
        loop.wait(timeout=300)
    errors = (tmp_path / "small-syncs.err")
    assert not errors.exists() or not errors.read_text(), errors.read_text()
    verified = cards("sync", "s-big", "--verify", "--json", "--no-progress")
    assert json.loads(verified.stdout)[0]["message"] == ""
    report("prefix_stores_concurrent", small_syncs=len(counter.read_text().split()),
           big_files=count, big_syncs=3)


def _forge_marker(paths: StorePaths) -> None:
    """Make the checkout's marker agree with what is on disk now (as a marker built from what
    was written, rather than from the commit, would)."""
    from assetcards.sources.source import STORE_MARKER
    from assetcards.stores.checkout import _dir_signature, _signature

    marker = paths.checkout / STORE_MARKER
    info = json.loads(marker.read_text())
    info["files"] = _signature(paths.checkout)
    info["dirs"] = _dir_signature(paths.checkout)
    with open(marker, "r+") as handle:  # in place: the directory's time does not change
        handle.truncate(0)
        handle.write(json.dumps(info))
    info["root"] = os.lstat(paths.checkout).st_mtime_ns
    with open(marker, "r+") as handle:
        handle.truncate(0)
        handle.write(json.dumps(info))


@pytest.mark.parametrize("damage", ["missing", "extra", "truncated", "same-size-edit"])
def test_verify_compares_the_checkout_with_the_commit_not_with_its_marker(
        damage: str, tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {}, extra=_many_cards("team", 0, 50))
    assert cards("store", "add", "team", str(bare)).returncode == 0
    paths = StorePaths(locations.user, "team")
    pinned = _checkout_files(paths)
    cards_dir = paths.checkout / "cards"
    if damage == "missing":
        for i in range(0, 50, 3):
            (cards_dir / f"c{i:04d}.yaml").unlink()
    elif damage == "extra":
        (cards_dir / "planted.yaml").write_text("name: planted\n")
    elif damage == "truncated":
        (cards_dir / "c0007.yaml").write_text("name: team_c7\n")
    else:
        text = (cards_dir / "c0007.yaml").read_text()
        (cards_dir / "c0007.yaml").write_text(text.replace("generation: 0", "generation: 9"))
    _forge_marker(paths)
    plain = cards("sync", "team", "--json", "--no-progress")  # directories agree with the marker
    assert json.loads(plain.stdout)[0]["message"] == ""
    verified = cards("sync", "team", "--verify", "--json", "--no-progress")
    assert verified.returncode == 0, verified.stderr
    [entry] = json.loads(verified.stdout)
    assert (entry["status"], entry["message"]) == ("unchanged",
                                                   "restored the checkout to the pinned commit")
    assert _checkout_files(paths) == pinned
    again = cards("sync", "team", "--verify", "--json", "--no-progress")
    assert json.loads(again.stdout)[0]["message"] == ""


def test_store_add_after_an_add_killed_before_it_recorded_the_store(
        tmp_path: Path, locations: Locations) -> None:
    """A killed add may leave the checkout it wrote and no state: adding again takes its place;
    a directory that is not that store's checkout is still refused."""
    bare, _ = card_upstream(tmp_path, {"a.yaml": card_text("team_a")})
    assert cards("store", "add", "team", str(bare)).returncode == 0
    paths = StorePaths(locations.user, "team")
    paths.state_file.unlink()  # as if killed between the checkout and the state
    again = cards("store", "add", "team", str(bare))
    assert again.returncode == 0, again.stderr
    assert read_state(paths) is not None
    other = locations.user / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    refused = cards("store", "add", "mine", str(bare))
    assert refused.returncode == 1
    assert refused.stderr == (f"error: {other} already exists and is not a store; move it "
                              "away or choose another name\n")
    assert (other / "notes.txt").read_text() == "mine"


# -- symlinked state directories (item 12) ---------------------------------------------------


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("link", [".assetcards", ".assetcards/locks", ".assetcards/git",
                                  ".assetcards/staging", ".assetcards/tmp",
                                  ".assetcards/stores", ".assetcards/index",
                                  ".assetcards/git/team.git", ".assetcards/staging/team",
                                  ".assetcards/index/team"])
def test_symlinked_state_directory_is_refused(link: str, tmp_path: Path,
                                              locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": card_text("team_a")})
    other, _ = card_upstream(tmp_path, {"b.yaml": card_text("other_b")}, name="up-other")
    assert cards("store", "add", "team", str(bare)).returncode == 0
    for sub in ("staging/team", "tmp", "index/team"):
        (locations.user / ".assetcards" / sub).mkdir(parents=True, exist_ok=True)
    pin = read_state(StorePaths(locations.user, "team")).commit  # type: ignore[union-attr]
    commit_files(work, {"cards/c.yaml": card_text("team_c")})
    push(work)
    target = tmp_path / "elsewhere"
    source = locations.user / link
    shutil.move(source, target)  # what it held, now at the link's target
    source.symlink_to(target, target_is_directory=True)
    before = _tree(target)
    expected = f"{source} is a symbolic link (to {target}); refusing to use it"
    commands = [["sync", "--no-progress"], ["sync", "team", "--verify", "--no-progress"],
                ["pin", "team", "HEAD"], ["unpin", "team"], ["store", "remove", "team"]]
    if "team" not in link:  # a directory every store uses
        commands.append(["store", "add", "other", str(other)])
    for args in commands:
        result = cards(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert expected in result.stdout + result.stderr, (args, result.stdout, result.stderr)
    listed = cards("list", "--json")  # readers still read, and write nothing there
    assert "team_a" in listed.stdout, listed.stderr
    assert _tree(target) == before
    source.unlink()
    shutil.move(target, source)
    assert read_state(StorePaths(locations.user, "team")).commit == pin  # type: ignore[union-attr]
    assert cards("sync", "--no-progress").returncode == 0


# -- `cards pin` writes the state once (item 14) ----------------------------------------------


class _Crash(BaseException):
    """Stands for the process dying (kill -9, power loss) at that point."""


def test_pin_is_one_state_write_so_a_crash_never_leaves_it_pinned_but_not_held(
        tmp_path: Path, locations: Locations, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies at its second write of the state, if there is one: the store must
    still be held (or not pinned at all), so that the next sync leaves it where it is."""
    import assetcards.fsutil as fsutil
    from assetcards.stores.ops import add_store, pin_store
    from assetcards.stores.sync import sync_stores

    bare, work = card_upstream(tmp_path, {"a.yaml": card_text("team_a")})
    first = git(work, "rev-parse", "HEAD")
    commit_files(work, {"cards/b.yaml": card_text("team_b")})
    push(work)
    store, _ = add_store(locations, "team", str(bare))
    writes: list[dict[str, object]] = []
    real = fsutil.atomic_write_bytes

    def write(path: Path, data: bytes, mode: int = 0o644) -> None:
        if path == store.paths.state_file:
            writes.append(json.loads(data))
            if len(writes) == 2:
                raise _Crash
        real(path, data, mode)

    monkeypatch.setattr(fsutil, "atomic_write_bytes", write)
    with contextlib.suppress(_Crash):
        pin_store(locations, "team", first)
    monkeypatch.setattr(fsutil, "atomic_write_bytes", real)
    assert [(w["commit"], w["held"]) for w in writes] == [(first, first)]
    state = read_state(store.paths)
    assert state is not None and (state.commit, state.held) == (first, first)
    [result] = sync_stores(locations)
    assert (result.status, result.new) == ("held", first)


# -- misleading messages (item 15) ------------------------------------------------------------


@pytest.mark.parametrize("rev", ["doesnotexist", "v9.9", "0" * 40, "HEAD~50"])
def test_show_at_a_revision_no_store_has_names_the_revision(rev: str, tmp_path: Path,
                                                            locations: Locations) -> None:
    for name in ("team", "other"):
        bare, _ = card_upstream(tmp_path, {"a.yaml": card_text(f"{name}_a")}, name=f"up-{name}")
        assert cards("store", "add", name, str(bare)).returncode == 0
    result = cards("show", "team_a", "--rev", rev)
    assert result.returncode == 1
    assert result.stderr == (f"error: revision {rev!r} names no commit in any git store here "
                             "(looked in: other, team); use a tag, a branch, a commit id or "
                             "HEAD~N (see `cards log`)\n")
    known = cards("show", "nope", "--rev", "HEAD")  # the revision exists: the card does not
    assert known.returncode == 1 and "nope" in known.stderr and "revision" not in known.stderr


def test_show_at_a_revision_without_any_store(locations: Locations) -> None:
    result = cards("show", "team_a", "--rev", "v1")
    assert result.returncode == 1
    assert result.stderr == ("error: revision 'v1': no git store is tracked here, so there is "
                             "no revision to read; add one with `cards store add`\n")


@pytest.fixture
def small_user_root(locations: Locations) -> Iterator[Path]:
    """The user root on a 1 MB tmpfs (needs root)."""
    root = locations.user
    root.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root?)")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)
    return filler


def test_a_full_disk_names_the_file_it_could_not_write(tmp_path: Path, locations: Locations,
                                                       small_user_root: Path) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": card_text("team_a")})
    assert cards("store", "add", "team", str(bare)).returncode == 0
    paths = StorePaths(locations.user, "team")
    pin = read_state(paths).commit  # type: ignore[union-attr]
    filler = _fill(small_user_root)
    unpinned = cards("unpin", "team")  # writes the state file, nothing else
    assert unpinned.returncode == 1
    assert unpinned.stderr.startswith("error: [Errno 28] No space left on device: ")
    assert str(paths.state_file) in unpinned.stderr
    verified = cards("sync", "--offline", "--verify", "--json", "--no-progress")
    assert verified.returncode == 1
    [entry] = json.loads(verified.stdout)
    assert entry["status"] == "failed"
    assert entry["message"] == (f"cannot write {paths.state_file}: No space left on device; "
                                "kept the pin")
    filler.unlink()
    assert read_state(paths).commit == pin  # type: ignore[union-attr]
    assert cards("sync", "--offline", "--verify", "--no-progress").returncode == 0


def test_store_remove_leaves_no_yaml_of_the_store_under_the_root(
        tmp_path: Path, locations: Locations) -> None:
    """A fairseq2 walking the root reads every YAML file, hidden directories included: once a
    store is removed, none of its files (staging trees a killed sync left, from this version
    or an earlier one) stays behind."""
    bare, _ = card_upstream(tmp_path, {"a.yaml": card_text("team_a")})
    assert cards("store", "add", "team", str(bare)).returncode == 0
    state = locations.user / ".assetcards"
    for leftover in (state / "staging" / "team" / "1-2", state / "tmp" / "team-1-2"):
        (leftover / "cards").mkdir(parents=True)
        (leftover / "cards" / "a.yaml").write_text(card_text("team_a"))
    assert cards("store", "remove", "team").returncode == 0
    assert sorted(locations.user.rglob("*.y*ml")) == []
    assert not (state / "index" / "team").exists()


# -- fuzzing file names and manifest values (the "everywhere" part of issue 13) ---------------

NAME_EXAMPLES = 400 if SOAK else 40
# A file name: any bytes but '/' and NUL, ending in .yaml so that it is read as a card.
file_names = st.binary(min_size=1, max_size=40).map(
    lambda b: (b.replace(b"/", b"_").replace(b"\0", b"_").lstrip(b".") or b"x") + b".yaml")


def _check_listing(source: TreeSource | DirectorySource, index_dir: Path,
                   names: list[bytes]) -> None:
    files = source.list_files()
    assert len(files) == len(set(names))
    for f in files:
        f.path.encode("utf-8")  # printable text: never a surrogate
    parsed = source.parse()
    for f, p in zip(sorted(files), sorted(parsed, key=lambda p: p.file), strict=True):
        bad = [q for q in p.problems if q.code == "bad-file-name"]
        assert bool(bad) == (not is_printable_name(f.path)), (f.path, p.problems)
        assert bool(p.cards) == (not bad)
    index = build_index("fuzz.sqlite", [index_dir], source)
    assert sorted(index.names()) == sorted({d.name for p in parsed for d in p.cards})
    index.close()


@settings(max_examples=NAME_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(file_names, min_size=1, max_size=4, unique=True))
def test_any_file_name_in_a_commit_is_a_card_or_a_problem(names: list[bytes],
                                                          tmp_path: Path) -> None:
    """Through git (names in a tree, made with `git mktree`), then parsing and the index."""
    repo_dir = tmp_path / f"fuzz-{os.getpid()}-{time.monotonic_ns()}.git"
    repo = Repo.init_bare(repo_dir)
    entries = b""
    for i, name in enumerate(names):
        blob = subprocess.run(["git", "-C", str(repo_dir), "hash-object", "-w", "--stdin"],
                              input=f"name: card_{i}\n".encode(), capture_output=True,
                              check=True).stdout.strip()
        entries += b"100644 blob " + blob + b"\t" + name + b"\0"
    tree = subprocess.run(["git", "-C", str(repo_dir), "mktree", "-z"], input=entries,
                          capture_output=True, check=True).stdout.decode().strip()
    commit = subprocess.run(["git", "-C", str(repo_dir), "commit-tree", tree, "-m", "fuzz"],
                            capture_output=True, check=True, text=True).stdout.strip()
    _check_listing(TreeSource(repo, commit), repo_dir / "index", names)
    shutil.rmtree(repo_dir)


@settings(max_examples=NAME_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(file_names, min_size=1, max_size=4, unique=True))
def test_any_loose_file_name_is_a_card_or_a_problem(names: list[bytes], tmp_path: Path) -> None:
    root = tmp_path / f"loose-{os.getpid()}-{time.monotonic_ns()}"
    root.mkdir()
    for i, name in enumerate(names):
        with open(os.fsencode(str(root)) + b"/" + name, "wb") as handle:
            handle.write(f"name: card_{i}\n".encode())
    _check_listing(DirectorySource(root), tmp_path / f"{root.name}.index", names)
    shutil.rmtree(root)


@settings(max_examples=200 if not SOAK else 2000, deadline=None)
@given(value=st.text(max_size=30), key=st.sampled_from(["cards", "against"]))
def test_any_manifest_value_is_read_or_refused(value: str, key: str) -> None:
    text = json.dumps(value)  # a TOML basic string but for non-BMP escapes: refused then
    toml = f"[store]\n{key} = {text if key == 'cards' else '[' + text + ']'}\n"
    try:
        manifest = parse_manifest(toml.encode())
    except AssetMetadataError as exc:
        assert all(p.file == "assetcards.toml" and p.line >= 1 for p in exc.problems)
        return
    for part in [manifest.card_dir_for(False), *manifest.against]:
        assert not any(ord(c) < 32 or ord(c) == 127 for c in part)
