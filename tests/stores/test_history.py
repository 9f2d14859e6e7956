"""cards log and cards diff on a store with a known history; provenance in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assetcards.locations import Locations
from assetcards.sources.assetstore import StandardAssetStore
from assetcards.sources.gitstore import get_store
from assetcards.stores.history import card_log, store_diff
from assetcards.stores.ops import add_store
from assetcards.stores.sync import sync_stores
from tests.gitutil import commit_files, git, push, write
from tests.storeutil import card_upstream, model, run_cards


@pytest.fixture
def history(tmp_path: Path, locations: Locations) -> dict[str, str]:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha", description="first")})
    c1 = git(work, "rev-parse", "HEAD")
    add_store(locations, "team", str(bare))
    c2 = commit_files(work, {"cards/a.yaml": model("alpha", description="second")},
                      "describe alpha better")
    c3 = commit_files(work, {"cards/b.yaml": model("beta")}, "add beta")
    c4 = commit_files(work, {"cards/a.yaml": model("alpha", description="second", extra=1)
                             + "---\n" + model("delta")}, "alpha gets extra; add delta")
    c5 = commit_files(work, {"cards/a.yaml": model("alpha", description="second", extra=1)
                             + "---\n" + model("delta", description="d")}, "touch delta only")
    push(work)
    sync_stores(locations)
    return {"c1": c1, "c2": c2, "c3": c3, "c4": c4, "c5": c5}


def test_log_lists_only_commits_that_changed_the_card(locations: Locations,
                                                      history: dict[str, str]) -> None:
    changes = card_log(get_store(locations, "team"), "alpha")
    assert [(c.commit.oid, c.kind) for c in changes] == [
        (history["c4"], "changed"), (history["c2"], "changed"), (history["c1"], "added")]
    assert [c.commit.subject for c in changes] == [
        "alpha gets extra; add delta", "describe alpha better", "initial"]
    assert changes[0].commit.author == "Test Author"
    assert [(f.key, f.kind, f.old, f.new) for f in changes[1].fields] == [
        ("description", "changed", "first", "second")]


def test_cli_log_with_patch(locations: Locations, history: dict[str, str]) -> None:
    result = run_cards("log", "alpha", "--patch")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(history["c4"][:12])
    assert lines[0].endswith("Test Author          alpha gets extra; add delta")
    assert lines[1] == "    + extra: 1"
    assert lines[3] == "    ~ description: first -> second"
    assert lines[4].endswith("initial [added]")
    as_json = json.loads(run_cards("log", "alpha", "--json").stdout)
    assert [c["commit"] for c in as_json] == [history["c4"], history["c2"], history["c1"]]


def test_diff_defaults_to_what_the_last_sync_changed(locations: Locations,
                                                     history: dict[str, str]) -> None:
    diff = store_diff(get_store(locations, "team"))
    assert (diff.old, diff.new) == (history["c1"], history["c5"])
    assert diff.added == ["beta", "delta"]
    assert diff.removed == []
    assert list(diff.changed) == ["alpha"]
    result = run_cards("diff")
    assert result.stdout == (
        f"team: {history['c1'][:12]} -> {history['c5'][:12]}\n"
        "  + beta\n  + delta\n  ~ alpha\n    ~ description: first -> second\n"
        "    + extra: 1\n")


def test_diff_between_named_commits(locations: Locations, history: dict[str, str]) -> None:
    result = run_cards("diff", "team", history["c4"], history["c5"], "--json")
    [diff] = json.loads(result.stdout)
    assert diff["added"] == [] and diff["removed"] == []
    assert diff["changed"] == {"delta": [{"field": "description", "kind": "added", "old": None,
                                          "new": "d"}]}
    usage = run_cards("diff", "x", "y", "z", "w")
    assert usage.returncode == 2


def test_log_of_a_card_outside_git_stores_is_explained(locations: Locations) -> None:
    write(locations.system / "loose.yaml", "name: llama3_8b\n")
    result = run_cards("log", "llama3_8b")
    assert result.returncode == 1
    assert "does not come from a git store" in result.stderr


def test_provenance_in_one_line(locations: Locations, history: dict[str, str]) -> None:
    card = StandardAssetStore.from_locations(locations, bundled=False).retrieve_card("alpha")
    record = card.provenance.to_dict()
    assert record == {"kind": "git", "source": "team", "file": "cards/a.yaml", "line": 1,
                      "scope": "user", "url": record["url"], "commit": history["c5"]}
    shown = run_cards("show", "alpha")
    assert f"from: store team at {history['c5'][:12]}: cards/a.yaml:1" in shown.stdout
