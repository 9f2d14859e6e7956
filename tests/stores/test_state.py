"""Git stores: add, list, remove, reading at the pin, safety of names, URLs and refs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from assetcards.errors import AssetMetadataError, StoreError, UnsafeInputError
from assetcards.locations import Locations
from assetcards.sources.assetstore import StandardAssetStore
from assetcards.sources.gitprovider import GitAssetMetadataProvider
from assetcards.sources.gitstore import list_stores
from assetcards.sources.source import STORE_MARKER
from assetcards.stores.ops import add_store, remove_store
from assetcards.stores.state import read_state
from tests.gitutil import commit_files, git, push
from tests.storeutil import (
    card_upstream,
    model,
    run_as_nobody,
    run_cards,
    world_readable_dir,
)


def test_add_pins_tip_and_counts_cards(tmp_path: Path, locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha") + "---\n" + model("beta")})
    store, added = add_store(locations, "team", f"file://{bare}")
    assert added
    tip = git(work, "rev-parse", "HEAD")
    assert store.state.commit == tip
    assert store.state.ref == "main"
    assert store.state.cards == 2
    assert store.scope == "user"
    assert store.paths.checkout == locations.user / "team"


def test_add_twice_is_a_no_op_and_a_different_url_is_refused(tmp_path: Path,
                                                             locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    add_store(locations, "team", str(bare))
    _, added = add_store(locations, "team", str(bare))
    assert not added
    other, _ = card_upstream(tmp_path, {"b.yaml": model("beta")}, name="other")
    with pytest.raises(StoreError, match="a store named 'team' already exists"):
        add_store(locations, "team", str(other))


def test_checkout_holds_only_card_files(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(
        tmp_path,
        {"a.yaml": model("alpha"), "sub/b.yml": model("beta"), ".hidden/c.yaml": model("gamma"),
         "notes.txt": "not yaml"},
        extra={".github/workflows/ci.yml": "on: push\n", "README.md": "# cards\n",
               "config.yaml": "not: a card\n", "assetcards.toml": '[store]\ncards = "cards"\n'},
    )
    store, _ = add_store(locations, "team", str(bare))
    files = sorted(str(p.relative_to(store.paths.checkout))
                   for p in store.paths.checkout.rglob("*") if p.is_file())
    assert files == [STORE_MARKER, "cards/a.yaml", "cards/notes.txt", "cards/sub/b.yml"]
    yaml_under_root = sorted(str(p.relative_to(locations.user))
                             for p in locations.user.rglob("*.y*ml"))
    assert yaml_under_root == ["team/cards/a.yaml", "team/cards/sub/b.yml"]


def test_whole_tree_is_the_card_dir_without_cards_dir(tmp_path: Path,
                                                      locations: Locations) -> None:
    from tests.gitutil import make_upstream

    bare, _ = make_upstream(tmp_path, {"x.yaml": model("xray"), ".github/w.yml": "on: push\n"})
    store, _ = add_store(locations, "flat", str(bare))
    assert store.state.card_dir == ""
    assert (store.paths.checkout / "x.yaml").is_file()
    assert not (store.paths.checkout / ".github").exists()


def test_reads_come_from_the_pinned_commit_not_the_working_tree(tmp_path: Path,
                                                               locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha", description="pinned")})
    store, _ = add_store(locations, "team", str(bare))
    (store.paths.checkout / "cards" / "a.yaml").write_text(model("alpha", description="edited"))
    (store.paths.checkout / "cards" / "new.yaml").write_text(model("intruder"))
    card = StandardAssetStore.from_locations(locations, bundled=False).retrieve_card("alpha")
    assert card.field("description").as_string() == "pinned"
    assert card.provenance.kind == "git"
    assert card.provenance.commit == store.state.commit
    assert card.provenance.file == "cards/a.yaml"
    assert card.provenance.url == str(bare)
    names = StandardAssetStore.from_locations(locations, bundled=False).retrieve_names()
    assert "intruder" not in names


def test_relative_checkpoint_resolves_in_the_checkout(tmp_path: Path,
                                                      locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"m/a.yaml": model("alpha", checkpoint="w/alpha.pt")})
    store, _ = add_store(locations, "team", str(bare))
    card = StandardAssetStore.from_locations(locations, bundled=False).retrieve_card("alpha")
    expected = (store.paths.checkout / "cards" / "m" / "w" / "alpha.pt").as_uri()
    assert card.field("checkpoint").as_uri() == expected


def test_invalid_upstream_is_not_added(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": "name: broken\nmodel_family: llama\n"})
    with pytest.raises(AssetMetadataError) as info:
        add_store(locations, "team", str(bare))
    assert "cards/a.yaml:1:1: broken: model card has no 'checkpoint'" in str(info.value)
    assert list_stores(locations) == []
    assert not (locations.user / "team").exists()


def test_remove_forgets_everything(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    remove_store(locations, "team")
    assert read_state(store.paths) is None
    assert not store.paths.checkout.exists()
    assert not store.paths.git_dir.exists()


def test_default_store_includes_both_roots(tmp_path: Path, locations: Locations) -> None:
    sys_bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")}, name="sys")
    user_bare, _ = card_upstream(tmp_path, {"b.yaml": model("beta")}, name="usr")
    add_store(locations, "shared", str(sys_bare), scope="system")
    add_store(locations, "mine", str(user_bare))
    store = StandardAssetStore.from_locations(locations, bundled=False)
    assert store.retrieve_card("alpha").provenance.scope == "system"
    assert store.retrieve_card("beta").provenance.scope == "user"
    assert store.retrieve_names(scope="system") == ["alpha"]
    loose_root_provider_labels = [p.label for _, p in store.providers()]
    assert "store shared" in loose_root_provider_labels


def test_store_cards_are_not_read_twice_as_loose_cards(tmp_path: Path,
                                                       locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    add_store(locations, "team", str(bare))
    (locations.user / "loose.yaml").write_text(model("loose"))
    store = StandardAssetStore.from_locations(locations, bundled=False)
    assert store.retrieve_names() == ["alpha", "loose"]
    assert store.retrieve_card("alpha").provenance.kind == "git"


def test_duplicate_name_across_stores_is_refused_on_add(tmp_path: Path,
                                                        locations: Locations) -> None:
    first, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")}, name="first")
    second, _ = card_upstream(tmp_path, {"b.yaml": model("alpha", description="x")},
                              name="second")
    add_store(locations, "one", str(first))
    with pytest.raises(AssetMetadataError, match="duplicate card name 'alpha': also defined in "
                       "one: cards/a.yaml:1"):
        add_store(locations, "two", str(second))


@pytest.mark.parametrize("url", ["ext::sh -c touch% /tmp/pwned", "fd::3", "-uhelp",
                                 "--upload-pack=touch /tmp/pwned", "foo::bar",
                                 "javascript://x", "file:///tmp/x\n"])
def test_unsafe_urls_are_refused_before_git_runs(url: str, locations: Locations) -> None:
    with pytest.raises(UnsafeInputError):
        add_store(locations, "team", url)
    assert not (locations.user / ".assetcards" / "git").exists()


@pytest.mark.parametrize("name", ["..", "../x", "a/b", "", ".hidden", "-rf", "a" * 101,
                                  "x..y", "a b"])
def test_bad_store_names_are_refused(name: str, tmp_path: Path, locations: Locations) -> None:
    with pytest.raises(UnsafeInputError, match="store name"):
        add_store(locations, name, str(tmp_path))


@pytest.mark.parametrize("ref", ["-x", "--upload-pack=x", "a..b", "a b", "refs/heads/x.lock",
                                 "a@{1}", "/x", "x/"])
def test_bad_refs_are_refused(ref: str, tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    with pytest.raises(UnsafeInputError, match="not a valid git ref name"):
        add_store(locations, "team", str(bare), ref)


def test_tag_ref_is_tracked(tmp_path: Path, locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    git(work, "tag", "v1")
    commit_files(work, {"cards/b.yaml": model("beta")})
    push(work, "main", "v1")
    store, _ = add_store(locations, "team", str(bare), "v1")
    assert store.state.cards == 1
    assert store.state.ref == "v1"


def test_hook_variables_are_ignored(tmp_path: Path, locations: Locations,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("GIT_WORK_TREE", str(tmp_path / "nowhere"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "nowhere" / "index"))
    store, _ = add_store(locations, "team", str(bare))
    assert store.state.cards == 1


def test_git_provider_reports_damaged_state(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    store.paths.state_file.write_text("{not json")
    provider = GitAssetMetadataProvider(store.paths, "user")
    assert provider.get_names() == []
    [problem] = provider.problems()
    assert "state file" in problem.message and "is damaged" in problem.message


def test_cli_store_add_list_remove(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    result = run_cards("store", "add", "team", f"file://{bare}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Added store team (user): file://")
    assert "1 card(s)" in result.stdout
    listed = json.loads(run_cards("store", "list", "--json").stdout)
    assert [(s["name"], s["scope"], s["cards"], s["ref"]) for s in listed] == [
        ("team", "user", 1, "main")]
    assert len(listed[0]["commit"]) == 40 and listed[0]["synced_at"]
    bad = run_cards("store", "add", "x", "ext::sh -c id")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: URL 'ext::sh -c id' uses git's")
    assert "Traceback" not in bad.stderr
    removed = run_cards("store", "remove", "team")
    assert removed.returncode == 0 and removed.stdout == "Removed store team (user).\n"
    missing = run_cards("store", "remove", "team")
    assert missing.returncode == 1
    assert missing.stderr == "error: no store named 'team'; see `cards store list`\n"


def test_readme_flow_with_the_project_checkout(tmp_path: Path, locations: Locations) -> None:
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(checkout), str(clone)], check=True)
    assert run_cards("store", "add", "examples", str(clone)).returncode == 0
    assert run_cards("sync").returncode == 0
    shown = run_cards("show", "llama3_8b", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["provenance"]["kind"] == "git"
    listed = run_cards("list", "--json")
    assert listed.returncode == 0, listed.stderr
    by_source = {lst["source"]: lst for lst in json.loads(listed.stdout)}
    store_names = sorted(c["name"] for c in by_source["store examples"]["cards"])
    assert "llama3_8b" in store_names
    assert list(by_source) == ["store examples"]  # the example cards are not also bundled in


def test_read_only_system_root_is_readable_by_another_user(tmp_path: Path) -> None:
    with world_readable_dir(tmp_path, "ro") as base:
        bare, _ = card_upstream(base, {"a.yaml": model("alpha")})
        env = dict(os.environ, FAIRSEQ2_ASSET_DIR=str(base / "system"),
                   FAIRSEQ2_USER_ASSET_DIR=str(base / "nobody-user"),
                   FAIRSEQ2_CACHE_DIR=str(base / "nobody-cache"), HOME=str(base))
        assert run_cards("store", "add", "--system", "shared", str(bare), env=env).returncode == 0
        subprocess.run(["chmod", "-R", "go-w", str(base / "system")], check=True)
        result = run_as_nobody("show", "alpha", "--json", env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["provenance"]["scope"] == "system"


def test_tracked_sets_exclude_a_store_by_any_spelling_of_its_url(tmp_path: Path,
                                                                 locations: Locations) -> None:
    from assetcards.sources.gitstore import tracked_card_sets

    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    add_store(locations, "team", str(bare))
    for spelling in (str(bare), f"file://{bare}", f"{bare}/", str(bare).removesuffix(".git")):
        assert tracked_card_sets(locations, [spelling]) == [], spelling
    assert [s.label for s in tracked_card_sets(locations, ["/elsewhere"])] == ["team"]


def test_add_reports_each_step_to_progress(tmp_path: Path, locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha"), "b.yaml": model("beta")})
    steps: list[str] = []
    store, _ = add_store(locations, "team", str(bare), progress=steps.append)
    commit = git(work, "rev-parse", "HEAD")
    assert steps == [f"store team: fetching main from {bare}",
                     f"store team: reading and checking the cards of {commit[:12]}",
                     f"store team: writing 2 card(s) to {store.paths.checkout}"]
