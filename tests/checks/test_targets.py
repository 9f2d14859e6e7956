"""assetcards.checks.targets: targets (paths, index, commit, push), other stores, cache, output."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from assetcards.checks import targets as checks
from assetcards.errors import AssetNotFoundError, Problem, UnsafeInputError
from assetcards.locations import Locations

from ..conftest import REPO_ROOT
from ..gitutil import commit_files, git, make_repo, make_upstream

MANIFEST = '[store]\ncards = "cards"\n'
GOOD = "name: a\nmodel_family: llama\ncheckpoint: https://example.com/a.pt\n"


def run(target: checks.Target, others: list[checks.CardSet] | None = None) -> list[str]:
    return [p.format() for p in checks.check(target, others or []).problems]


def test_the_project_cards_are_a_valid_store() -> None:
    target = checks.directory_target(REPO_ROOT)
    report = checks.check(target)
    assert report.problems == []
    assert report.cards >= 10
    assert target.manifest is not None and target.manifest.cards_dir == "cards"


def test_paths_report_only_named_files_with_the_store_as_context(tmp_path: Path) -> None:
    make_repo(tmp_path, {"assetcards.toml": MANIFEST, "cards/fam.yaml": "name: fam\n"
                         "model_family: llama\n---\nname: dup\n",
                         "cards/other.yaml": "name: dup\n",
                         "cards/new.yaml": "name: n\nbase: fam\ncheckpoint: w.pt\n"})
    [target] = checks.path_targets([tmp_path / "cards" / "new.yaml"])
    assert target.root == tmp_path and target.only_files == {"cards/new.yaml"}
    assert run(target) == []
    [target] = checks.path_targets([tmp_path / "cards"])
    assert run(target) == [
        "cards/fam.yaml:4:1: dup: duplicate card name 'dup': also defined in "
        f"{tmp_path}: cards/other.yaml:1",
        f"cards/other.yaml:1:1: dup: duplicate card name 'dup': also defined in {tmp_path}: "
        "cards/fam.yaml:4"]


def test_missing_path_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(AssetNotFoundError, match="no such file or directory"):
        checks.path_targets([tmp_path / "nope.yaml"])


def test_staged_reads_the_index_not_the_work_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"assetcards.toml": MANIFEST, "cards/a.yaml": GOOD})
    (repo / "cards" / "b.yaml").write_text("name: b\nbase: missing\n")
    git(repo, "add", "cards/b.yaml")
    (repo / "cards" / "b.yaml").write_text("name: b\n")  # fixed, but not staged
    target = checks.staged_target(repo)
    assert target.only_files == {"cards/b.yaml"}
    assert run(target) == [
        "cards/b.yaml:2:1: b: base card 'missing' does not exist here or in any tracked store"]


def test_staged_honours_the_hook_index_for_its_own_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"cards/a.yaml": GOOD})
    (repo / "cards" / "b.yaml").write_text("name: b\nbase: missing\n")
    env = {"GIT_INDEX_FILE": str(repo / ".git" / "other-index")}
    subprocess.run(["git", "read-tree", "HEAD"], cwd=repo, check=True, env={**os.environ, **env})
    subprocess.run(["git", "add", "cards/b.yaml"], cwd=repo, check=True,
                   env={**os.environ, **env})
    assert run(checks.staged_target(repo)) == []  # the default index has no b.yaml
    assert len(run(checks.staged_target(repo, environ=env))) == 1


def test_rev_checks_a_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"cards/a.yaml": GOOD})
    commit_files(repo, {"cards/a.yaml": "name: a\nmodel_arch: x\n"})
    assert run(checks.rev_target(repo, "HEAD~1")) == []
    assert run(checks.rev_target(repo, "HEAD")) == [
        "cards/a.yaml:1:1: a: model card has no 'checkpoint' (add a URI or a path relative to "
        "the card file)"]
    with pytest.raises(AssetNotFoundError, match="revision 'nope' does not name a commit"):
        checks.rev_target(repo, "nope")


def test_against_a_directory_a_repository_and_a_url(tmp_path: Path,
                                                    locations: Locations) -> None:
    plain = tmp_path / "plain"
    (plain / "cards").mkdir(parents=True)
    (plain / "cards" / "x.yaml").write_text("name: a\n")
    bare, work = make_upstream(tmp_path, {"assetcards.toml": MANIFEST,
                                          "cards/y.yaml": "name: z\n---\nname: a\n"})
    (work / "cards" / "y.yaml").write_text("name: uncommitted\n")  # HEAD is what counts
    target = checks.directory_target(make_repo(tmp_path / "mine", {"cards/a.yaml": GOOD}))
    for spec, where in [(str(plain), "cards/x.yaml:1"), (str(work), "cards/y.yaml:3"),
                        (f"file://{bare}", "cards/y.yaml:3")]:
        others = checks.against_sets(target, [spec], locations)
        assert run(target, others) == [
            f"cards/a.yaml:1:1: a: duplicate card name 'a': also defined in {spec}: {where}"]
    assert list((locations.cache / "against").iterdir())  # the URL was fetched into the cache


def test_against_from_the_manifest_and_unsafe_urls(tmp_path: Path,
                                                   locations: Locations) -> None:
    make_repo(tmp_path / "other", {"cards/o.yaml": "name: a\n"})
    repo = make_repo(tmp_path / "r", {"assetcards.toml": MANIFEST + 'against = ["../other"]\n',
                                      "cards/a.yaml": GOOD})
    target = checks.directory_target(repo)
    assert len(run(target, checks.against_sets(target, [], locations))) == 1
    with pytest.raises(UnsafeInputError, match="can run commands"):
        checks.against_sets(target, ["ext::sh -c touch% /tmp/pwned://x"], locations)
    with pytest.raises(AssetNotFoundError, match="neither a directory nor a git URL"):
        checks.against_sets(target, ["no-such-store"], locations)


def test_check_push_reports_each_new_commit(tmp_path: Path, locations: Locations) -> None:
    bare, work = make_upstream(tmp_path, {"cards/a.yaml": GOOD})
    old = git(work, "rev-parse", "HEAD")
    bad = commit_files(work, {"cards/b.yaml": "name: b\nbase: nope\n"})
    good = commit_files(work, {"cards/c.yaml": "name: c\n"})
    git(work, "push", "-q", str(bare), "HEAD:refs/heads/staging")  # objects now in bare
    git(bare, "update-ref", "-d", "refs/heads/staging")
    report = checks.check_push(bare, [(old, good, "refs/heads/main")], locations)
    assert [p.format() for p in report.problems] == [
        f"{bad[:12]}:cards/b.yaml:2:1: b: base card 'nope' does not exist here or in any "
        "tracked store"]


def test_parse_cache_gives_what_a_fresh_parse_gives(tmp_path: Path,
                                                    locations: Locations) -> None:
    files: dict[str, str | bytes] = {f"cards/c{i}.yaml": f"name: c{i}\nx: {i}\n"
                                     for i in range(5)}
    files["cards/date.yaml"] = "name: d\nwhen: 2024-01-01\n"  # not JSON: parsed each time
    files["cards/bad.yaml"] = "name: [\n"
    repo = make_repo(tmp_path / "r", files)
    index_dir = locations.cache / "index"
    fresh = checks.rev_target(repo, "HEAD").primary.files
    first = checks.rev_target(repo, "HEAD", checks.ParseCache.for_repo(locations))
    assert first.primary.files == fresh
    assert not index_dir.exists()  # checking a commit writes no index: CI sees it once
    (repo / "cards" / "c0.yaml").write_text("name: c0\nx: changed\n")
    git(repo, "add", "-A")
    staged = checks.staged_target(repo, checks.ParseCache.for_repo(locations))
    assert staged.primary.files == checks.staged_target(repo).primary.files
    assert [p.suffix for p in index_dir.iterdir()] == [".sqlite"]  # for later hook runs
    again = checks.rev_target(repo, "HEAD", checks.ParseCache.for_repo(locations))
    assert again.primary.files == fresh


def _tamper(index: Path, path: str, description: str) -> None:
    """Change what the index says FILE holds: a card read from it shows DESCRIPTION."""
    import sqlite3

    db = sqlite3.connect(index)
    [(entry,)] = db.execute("SELECT entry FROM files WHERE path = ?", (path,)).fetchall()
    data = json.loads(entry)
    data["cards"][0][1]["description"] = description
    db.execute("UPDATE files SET entry = ? WHERE path = ?", (json.dumps(data), path))
    db.commit()
    db.close()


def _staged(repo: Path, locations: Locations) -> dict[str, dict[str, object]]:
    target = checks.staged_target(repo, checks.ParseCache.for_repo(locations))
    return {d.name: dict(d.metadata) for d in target.primary.docs}


def test_a_hook_run_after_a_commit_parses_only_what_changed(tmp_path: Path,
                                                            locations: Locations) -> None:
    repo = make_repo(tmp_path / "r", {f"cards/c{i}.yaml": f"name: c{i}\n" for i in range(30)})
    index_dir = locations.cache / "index"
    commit_files(repo, {"cards/new1.yaml": "name: new1\n"})  # staged, then committed
    (repo / "cards" / "new2.yaml").write_text("name: new2\n")
    git(repo, "add", "-A")
    assert len(_staged(repo, locations)) == 32  # the first run parses everything, once
    [index] = index_dir.iterdir()
    _tamper(index, "cards/c7.yaml", "from the cache")
    git(repo, "commit", "-q", "-m", "new2")
    (repo / "cards" / "new3.yaml").write_text("name: new3\n")
    (repo / "cards" / "c8.yaml").write_text("name: c8\ndescription: edited\n")
    git(repo, "add", "-A")
    cards = _staged(repo, locations)
    assert cards["c7"]["description"] == "from the cache"  # reused, not parsed again
    assert cards["c8"]["description"] == "edited" and "new3" in cards
    assert list(index_dir.iterdir()) == [index]  # two new blobs: nothing written


def test_the_hooks_index_is_replaced_once_much_has_changed(tmp_path: Path,
                                                           locations: Locations) -> None:
    repo = make_repo(tmp_path / "r", {f"cards/c{i}.yaml": f"name: c{i}\n" for i in range(30)})
    index_dir = locations.cache / "index"
    (repo / "cards" / "new.yaml").write_text("name: new\n")
    git(repo, "add", "-A")
    _staged(repo, locations)
    [first] = index_dir.iterdir()
    _tamper(first, "cards/c29.yaml", "from the cache")
    changed = checks.ParseCache.REINDEX_AFTER + 1
    commit_files(repo, {f"cards/c{i}.yaml": f"name: c{i}\nx: 2\n" for i in range(changed)})
    (repo / "cards" / "new.yaml").write_text("name: new\nx: 3\n")
    git(repo, "add", "-A")
    cards = _staged(repo, locations)
    assert cards["c29"]["description"] == "from the cache"  # the new index reused the old
    assert all(cards[f"c{i}"]["x"] == 2 for i in range(changed))
    [second] = index_dir.iterdir()  # and replaced it
    assert second != first and second.name[:17] == first.name[:17]
    assert _staged(repo, locations) == cards


def test_commits_checked_in_one_process_share_their_parses(tmp_path: Path,
                                                           locations: Locations) -> None:
    same = "name: twin\n"
    repo = make_repo(tmp_path / "r", {"cards/a.yaml": "name: a\n", "cards/b.yaml": "name: b\n"})
    first = git(repo, "rev-parse", "HEAD")
    second = commit_files(repo, {"cards/b.yaml": "name: b\nx: 1\n", "cards/t1.yaml": same,
                                 "cards/t2.yaml": same})  # one blob at two paths
    cache = checks.ParseCache.for_repo(locations)  # as in a pre-receive hook
    one = {f.file: f for f in checks.rev_target(repo, first, cache).primary.files}
    two = {f.file: f for f in checks.rev_target(repo, second, cache).primary.files}
    assert two["cards/a.yaml"] is one["cards/a.yaml"]  # the same blob: not parsed again
    assert two["cards/b.yaml"].cards[0].metadata == {"name": "b", "x": 1}
    assert sorted(two) == ["cards/a.yaml", "cards/b.yaml", "cards/t1.yaml", "cards/t2.yaml"]
    assert [f.cards[0].file for f in two.values()] == list(two)  # a shared blob: its own path
    assert [f.file for f in checks.rev_target(repo, second, cache).primary.files] == sorted(two)


def test_output_formats() -> None:
    problem = Problem("cards/a.yaml", 3, 1, "a", "100% wrong, really:\nyes", "k", "c")
    report = checks.Report([problem], 1, 1)
    assert checks.format_report(report, "text") == (
        "cards/a.yaml:3:1: a: 100% wrong, really:\nyes")
    assert checks.format_report(report, "github") == (
        "::error file=cards/a.yaml,line=3,col=1,title=card a::100%25 wrong, really:%0Ayes")
    assert json.loads(checks.format_report(report, "json")) == {
        "ok": False, "files": 1, "cards": 1, "against": [],
        "problems": [{"file": "cards/a.yaml", "line": 3, "col": 1, "card": "a", "key": "k",
                      "code": "c", "message": "100% wrong, really:\nyes"}]}
    assert checks.summary(report) == "1 problem in 1 card in 1 file"
    assert checks.summary(checks.Report([], 2, 3, ["s"])) == (
        "ok: 3 cards in 2 files (names checked against 1 other store)")


def test_staged_removal_of_a_base_reports_the_cards_using_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"cards/fam.yaml": "name: fam\nmodel_family: llama\n",
                                      "cards/m.yaml": "name: m\nbase: fam\ncheckpoint: w.pt\n"})
    git(repo, "rm", "-q", "cards/fam.yaml")
    assert run(checks.staged_target(repo)) == [
        "cards/m.yaml:2:1: m: base card 'fam' does not exist here or in any tracked store"]


def test_check_push_reports_a_removed_base(tmp_path: Path, locations: Locations) -> None:
    bare, work = make_upstream(tmp_path, {"cards/fam.yaml": "name: fam\n",
                                          "cards/m.yaml": "name: m\nbase: fam\n"})
    old = git(work, "rev-parse", "HEAD")
    new = commit_files(work, {"cards/fam.yaml": "name: family\n"})
    git(work, "push", "-q", str(bare), "HEAD:refs/heads/staging")
    git(bare, "update-ref", "-d", "refs/heads/staging")
    report = checks.check_push(bare, [(old, new, "refs/heads/main")], locations)
    assert [p.format() for p in report.problems] == [
        f"{new[:12]}:cards/m.yaml:2:1: m: base card 'fam' does not exist here or in any "
        "tracked store; did you mean 'family'?"]

