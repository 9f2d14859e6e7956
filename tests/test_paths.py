"""Paths in cards, read as fairseq2 (0.3 and 0.8) reads them.

A relative path resolves against the file of the card retrieved (or of its `@user` override),
wherever in the base chain it is written; validation flags a relative path that cards in other
directories inherit, since each of them would read a different file. An absolute path is a
local file: validation accepts it and a fetch reads it where it is, never moving or deleting it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from assetcards import FileAssetMetadataProvider, StandardAssetStore
from assetcards.card.parse import parse_file
from assetcards.card.rules import CardSet, validate
from assetcards.checkpoints.download import DownloadOptions, fetch_checkpoint
from assetcards.errors import DownloadError
from assetcards.locations import Locations
from tests.gitutil import git, make_repo, write
from tests.storeutil import card_upstream, run_cards

FAMILY = "name: fam\nmodel_family: llama\ntokenizer: tok.model\ncheckpoint: w.pt\n"


def problems(files: dict[str, str]) -> list[str]:
    parsed = [parse_file(text.encode(), path) for path, text in files.items()]
    return [p.format() for p in validate(CardSet("here", parsed))]


# -- reading ---------------------------------------------------------------------------------


def test_an_inherited_relative_path_resolves_next_to_the_card_retrieved(
        tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {
        "fam/fam.yaml": FAMILY,
        "team/leaf.yaml": "name: leaf\nbase: fam\nmodel_arch: x\n"})
    assert run_cards("store", "add", "team", str(bare)).returncode == 0
    store = StandardAssetStore.from_locations(Locations.from_env())
    cards = locations.user / "team" / "cards"
    leaf = store.retrieve_card("leaf")
    assert leaf.field("checkpoint").as_uri() == (cards / "team/w.pt").as_uri()
    assert leaf.base is not None
    assert leaf.base.field("checkpoint").as_uri() == (cards / "fam/w.pt").as_uri()
    assert leaf.flatten().field("tokenizer").as_uri() == (cards / "team/tok.model").as_uri()


def test_a_user_override_moves_the_directory_of_every_relative_path(tmp_path: Path) -> None:
    system, user = tmp_path / "sys", tmp_path / "usr"
    write(system / "models" / "m.yaml", "name: m\nmodel_family: llama\ncheckpoint: w.pt\n"
          "tokenizer: tok.model\n")
    write(user / "mine" / "m.yaml", "name: m@user\ncheckpoint: mine.pt\n")
    store = StandardAssetStore([FileAssetMetadataProvider(system, "system")],
                               [FileAssetMetadataProvider(user, "user")], env_resolvers=[])
    card = store.retrieve_card("m")
    assert card.field("checkpoint").as_uri() == (user / "mine/mine.pt").as_uri()
    # Not overridden, yet read through the override's directory, as fairseq2 does.
    assert card.field("tokenizer").as_uri() == (user / "mine/tok.model").as_uri()
    assert card.path_provenance.file == str(user / "mine/m.yaml")
    assert store.retrieve_card("m@").field("tokenizer").as_uri() == (
        system / "models/tok.model").as_uri()


# -- validation ------------------------------------------------------------------------------


def test_a_relative_path_inherited_from_another_directory_is_flagged() -> None:
    found = problems({"cards/fam/fam.yaml": FAMILY,
                      "cards/team/leaf.yaml": "name: leaf\nbase: fam\nmodel_arch: x\n"})
    assert found == [
        "cards/fam/fam.yaml:3:1: fam: 'tokenizer' is the relative path 'tok.model', which "
        "fairseq2 resolves against the file of the card retrieved, and cards in other "
        "directories inherit it: 'leaf' (cards/team/leaf.yaml); each would read a different "
        "file. Use an absolute path or a URI, or give each of them its own 'tokenizer'",
        "cards/fam/fam.yaml:4:1: fam: 'checkpoint' is the relative path 'w.pt', which fairseq2 "
        "resolves against the file of the card retrieved, and cards in other directories "
        "inherit it: 'leaf' (cards/team/leaf.yaml); each would read a different file. Use an "
        "absolute path or a URI, or give each of them its own 'checkpoint'"]


@pytest.mark.parametrize("files", [
    {"cards/fam/fam.yaml": FAMILY,  # the same directory: one file for every reader
     "cards/fam/more.yaml": "name: leaf\nbase: fam\nmodel_arch: x\n"},
    {"cards/fam/fam.yaml": FAMILY,  # each sets its own paths
     "cards/team/leaf.yaml": "name: leaf\nbase: fam\ncheckpoint: mine.pt\ntokenizer: t.model\n"},
    {"cards/fam/fam.yaml": FAMILY.replace("w.pt", "/data/w.pt").replace(
        "tok.model", "hg://org/tok"),  # absolute paths and URIs read the same everywhere
     "cards/team/leaf.yaml": "name: leaf\nbase: fam\n"},
], ids=["same-directory", "own-paths", "absolute"])
def test_relative_paths_every_reader_resolves_alike_pass(files: dict[str, str]) -> None:
    assert problems(files) == []


def test_the_flag_follows_the_chain_and_overrides() -> None:
    found = problems({
        "cards/fam/fam.yaml": "name: fam\nmodel_family: llama\ncheckpoint: w.pt\n",
        "cards/fam/mid.yaml": "name: mid\nbase: fam\n",  # same directory: fine by itself
        "cards/team/leaf.yaml": "name: leaf\nbase: mid\n",  # two bases away
        "cards/gpu/over.yaml": "name: fam@gpu\nnum_shards: 2\n"})  # an override elsewhere
    assert found == [
        "cards/fam/fam.yaml:3:1: fam: 'checkpoint' is the relative path 'w.pt', which fairseq2 "
        "resolves against the file of the card retrieved, and cards in other directories "
        "inherit it: 'fam@gpu' (cards/gpu/over.yaml), 'leaf' (cards/team/leaf.yaml); each "
        "would read a different file. Use an absolute path or a URI, or give each of them its "
        "own 'checkpoint'"]


def test_a_relative_checkpoint_leading_outside_from_a_reader_blocks_the_sync(
        tmp_path: Path) -> None:
    """Inside the store from the family card, outside from the card that inherits it."""
    files = {"a/b/fam.yaml": "name: fam\nmodel_family: llama\ncheckpoint: ../../w.pt\n",
             "leaf.yaml": "name: leaf\nbase: fam\n"}
    found = problems({f"cards/{k}": v for k, v in files.items()})
    assert found[1] == ("cards/a/b/fam.yaml:3:1: fam: 'checkpoint' path '../../w.pt' leads "
                        "outside the card repository from 'leaf' (cards/leaf.yaml), which "
                        "inherits it")
    bare, _ = card_upstream(tmp_path, files)
    added = run_cards("store", "add", "team", str(bare))
    assert added.returncode == 1
    assert "leads outside the card repository from 'leaf'" in added.stderr
    # The flag alone (both readers agree, as in fairseq2) does not keep a commit from a pin.
    bare, _ = card_upstream(tmp_path, {"a/fam.yaml": FAMILY, "leaf.yaml": "name: leaf\n"
                                       "base: fam\nmodel_arch: x\n"}, "agreed")
    assert run_cards("store", "add", "agreed", str(bare)).returncode == 0


def test_an_absolute_checkpoint_is_valid() -> None:
    assert problems({"cards/a.yaml": "name: a\nmodel_family: llama\n"
                                     "checkpoint: /data/ckpt/model.pt\n"}) == []


# -- fetching --------------------------------------------------------------------------------


def test_fetch_reads_an_absolute_checkpoint_where_it_is(tmp_path: Path,
                                                        locations: Locations) -> None:
    weights = tmp_path / "data" / "ckpt" / "model.pt"
    write(weights, "weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    write(locations.system / "a.yaml", f"name: a\nmodel_family: llama\ncheckpoint: {weights}\n"
          f"checkpoint_sha256: {digest}\n---\nname: bad\nmodel_family: llama\n"
          f"checkpoint: {weights}\ncheckpoint_sha256: '{'0' * 64}'\n")
    store = StandardAssetStore.from_locations(locations)
    got = fetch_checkpoint(store.retrieve_card("a"), locations=locations,
                           options=DownloadOptions(verify=True))
    assert (got.path, got.downloaded) == (weights, False)
    with pytest.raises(DownloadError, match="SHA-256"):
        fetch_checkpoint(store.retrieve_card("bad"), locations=locations,
                         options=DownloadOptions(verify=True))
    assert weights.read_text() == "weights"  # read where it is, never moved or deleted
    assert not (locations.cache / "checkpoints").exists() or not any(
        (locations.cache / "checkpoints").iterdir())
    fetched = run_cards("fetch", "a")
    assert (fetched.returncode, fetched.stdout.strip()) == (0, str(weights))


def test_fetch_refuses_a_relative_path_that_leaves_the_store_from_the_card_retrieved(
        tmp_path: Path) -> None:
    """Inside the store from the family card's directory, outside from the card retrieved:
    the fetch judges the path where it resolves."""
    root = tmp_path / "root"
    write(root / "a" / "b" / "fam.yaml", "name: fam\nmodel_family: llama\n"
          "checkpoint: ../../w.pt\n")
    write(root / "leaf.yaml", "name: leaf\nbase: fam\n")
    write(tmp_path / "w.pt", "outside")
    store = StandardAssetStore([FileAssetMetadataProvider(root)], env_resolvers=[])
    with pytest.raises(DownloadError, match="leads outside the card repository"):
        fetch_checkpoint(store.retrieve_card("leaf"), locations=Locations.from_env())
    with pytest.raises(DownloadError, match=f"there is no file {root / 'w.pt'}"):
        fetch_checkpoint(store.retrieve_card("fam"), locations=Locations.from_env())


def test_a_new_card_inheriting_a_relative_path_is_caught_by_the_hook(tmp_path: Path) -> None:
    """Only the new card is staged: the problem of the family card it inherits from (an
    unchanged file) is still reported, as the pre-commit hook checks staged files."""
    repo = make_repo(tmp_path / "team", {"cards/fam/fam.yaml": FAMILY})
    write(repo / "cards" / "team" / "leaf.yaml", "name: leaf\nbase: fam\nmodel_arch: x\n")
    git(repo, "add", "-A")
    staged = run_cards("validate", "--staged", cwd=repo)
    assert staged.returncode == 1
    assert [line.split(": ", 2)[:2] for line in staged.stdout.splitlines()] == [
        ["cards/fam/fam.yaml:3:1", "fam"], ["cards/fam/fam.yaml:4:1", "fam"]]
    assert "inherit it: 'leaf' (cards/team/leaf.yaml)" in staged.stdout
    parsed = [parse_file(FAMILY.encode(), "cards/fam/fam.yaml"),
              parse_file(b"name: other\n", "cards/other.yaml")]
    assert validate(CardSet("here", parsed), only_files={"cards/other.yaml"}) == []
