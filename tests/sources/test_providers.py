"""Metadata providers: a directory of loose cards, the bundled cards, in-process dicts."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest

from assetcards import (
    AssetCardNotFoundError,
    AssetMetadataError,
    DuplicateCardError,
    FileAssetMetadataProvider,
    InProcAssetMetadataProvider,
    PackageAssetMetadataProvider,
    Provenance,
    StandardAssetStore,
)
from assetcards.card.model import KINDS
from assetcards.card.parse import parse_file
from assetcards.sources.providers import BASE_PATH_KEY, PROVENANCE_KEY, SOURCE_KEY
from tests.conftest import REPO_ROOT
from tests.gitutil import write

# -- FileAssetMetadataProvider -------------------------------------------------------------------


def test_missing_directory_is_empty(tmp_path: Path) -> None:
    provider = FileAssetMetadataProvider(tmp_path / "nope")
    assert provider.get_names() == []
    assert provider.problems() == []
    with pytest.raises(AssetCardNotFoundError) as info:
        provider.get_metadata("a")
    assert str(info.value) == f"No card named 'a' in directory {tmp_path / 'nope'}."


def test_directory_cards_and_metadata(tmp_path: Path) -> None:
    write(tmp_path / "fam" / "a.yaml", "name: a\ncheckpoint: a.pt\n---\nname: b\nx: {y: 1}\n")
    write(tmp_path / "c.yml", "name: c\n")
    provider = FileAssetMetadataProvider(tmp_path, "system")
    assert provider.get_names() == ["a", "b", "c"]
    metadata = provider.get_metadata("b")
    assert {k: v for k, v in metadata.items() if not k.startswith("__")} == {
        "name": "b", "x": {"y": 1}}
    assert metadata[BASE_PATH_KEY] == tmp_path / "fam"
    assert metadata[SOURCE_KEY] == f"directory {tmp_path}: {tmp_path}/fam/a.yaml:4"
    assert metadata[PROVENANCE_KEY] == Provenance("directory", str(tmp_path),
                                                  str(tmp_path / "fam/a.yaml"), 4, "system")
    metadata["x"]["y"] = 2  # the caller's copy: the provider keeps its own
    assert provider.get_metadata("b")["x"] == {"y": 1}


@pytest.mark.parametrize("indexed", [False, True], ids=["in-memory", "indexed"])
def test_one_bad_file_does_not_hide_the_good_cards(tmp_path: Path, indexed: bool) -> None:
    tmp_path = tmp_path / "cards"
    write(tmp_path / "good.yaml", "name: good\n")
    write(tmp_path / "bad.yaml", "name: [\n")
    write(tmp_path / "worse.yaml", "name: x\nx: !!python/name:os.system\n")
    cache = tmp_path.parent / "cache" if indexed else None
    provider = FileAssetMetadataProvider(tmp_path, cache_dir=cache)
    assert provider.get_names() == ["good"]
    assert provider.get_metadata("good")["name"] == "good"
    assert [p.format() for p in provider.problems()] == [
        "bad.yaml:2:1: YAML syntax error: did not find expected node content "
        "(while parsing a flow node)",
        "worse.yaml:2:4: unsafe or unknown YAML tag '!!python/name:os.system' is not allowed "
        "in a card"]
    with pytest.raises(AssetCardNotFoundError) as info:
        provider.get_metadata("x")
    assert str(info.value) == (f"No card named 'x' in directory {tmp_path}. 2 file(s) there "
                               "could not be read: bad.yaml, worse.yaml")


def test_duplicates_within_a_directory_name_both_files(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "name: other\n---\nname: twice\nx: 1\n")
    write(tmp_path / "sub" / "b.yaml", "name: twice\nx: 2\n")
    provider = FileAssetMetadataProvider(tmp_path)
    with pytest.raises(DuplicateCardError) as info:
        provider.get_metadata("twice")
    assert str(info.value) == (
        f"a.yaml:3:1: twice: duplicate card name 'twice': also defined in directory {tmp_path}: "
        "sub/b.yaml:1\n"
        f"sub/b.yaml:1:1: twice: duplicate card name 'twice': also defined in directory "
        f"{tmp_path}: a.yaml:3")
    assert [p.file for p in provider.problems()] == ["a.yaml", "sub/b.yaml"]
    assert provider.get_metadata("other")["name"] == "other"


def test_cache_is_kept_until_cleared(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "name: a\n")
    provider = FileAssetMetadataProvider(tmp_path)
    assert provider.get_names() == ["a"]
    write(tmp_path / "b.yaml", "name: b\n")
    assert provider.get_names() == ["a"]
    provider.clear_cache()
    assert provider.get_names() == ["a", "b"]


def test_hidden_directories_and_store_checkouts_are_not_read(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "name: a\n")
    write(tmp_path / ".github" / "workflows" / "ci.yaml", "name: ci\non: [push]\n")
    write(tmp_path / ".git" / "x.yaml", "name: in_git\n")
    write(tmp_path / "team" / ".assetcards-store", "")
    write(tmp_path / "team" / "cards" / "t.yaml", "name: team_card\n")
    assert FileAssetMetadataProvider(tmp_path).get_names() == ["a"]


# -- PackageAssetMetadataProvider ----------------------------------------------------------------


def test_bundled_cards_are_present() -> None:
    provider = PackageAssetMetadataProvider()
    names = provider.get_names()
    for name in ("llama3", "llama3_8b", "llama3_8b_instruct", "mistral_7b", "qwen25_7b",
                 "nllb-200_dense_1b", "wav2vec2_base", "librispeech_asr"):
        assert name in names
    assert provider.problems() == []
    metadata = provider.get_metadata("llama3_8b")
    provenance = metadata[PROVENANCE_KEY]
    assert (provenance.kind, provenance.source, provenance.file) == (
        "package", "assetcards", "llama/llama3.yaml")
    installed = Path(str(importlib.resources.files("assetcards"))) / "cards" / "llama"
    assert Path(metadata[BASE_PATH_KEY]).resolve() == installed.resolve()


def test_missing_package_is_empty() -> None:
    provider = PackageAssetMetadataProvider("no_such_package_xyz")
    assert provider.get_names() == []
    assert PackageAssetMetadataProvider("assetcards", "no_such_dir").get_names() == []


def test_bundled_cards_are_valid_and_resolve() -> None:
    """Every bundled card resolves; models have a checkpoint unless they are a base; the
    repository manifest's extra rules (model: family + arch; tokenizer: family) hold."""
    store = StandardAssetStore([PackageAssetMetadataProvider()], env_resolvers=[])
    names = store.retrieve_names()
    cards = [store.retrieve_card(name) for name in names]
    bases = {card.base.name for card in cards if card.base is not None}
    kinds = {card.name: card.kind() for card in cards}
    assert set(kinds.values()) == set(KINDS)  # one of each kind at least
    for card in cards:
        fields = card.fields()
        if card.kind() == "model":
            assert {"model_family", "model_arch"} <= fields.keys() or card.name in bases, card
            assert "checkpoint" in fields or card.name in bases, card
        if card.kind() == "tokenizer":
            assert "tokenizer_family" in fields and "tokenizer" in fields, card
        assert isinstance(fields.get("description"), str), card


def test_repository_cards_directory_parses_cleanly() -> None:
    files = sorted((REPO_ROOT / "cards").rglob("*.y*ml"))
    assert files
    for path in files:
        parsed = parse_file(path.read_bytes(), str(path))
        assert parsed.problems == [] and parsed.cards, path


# -- InProcAssetMetadataProvider -----------------------------------------------------------------


def test_in_process_provider() -> None:
    items = [{"name": "a", "x": [1]}, {"name": "b@gpu", "x": [2]}, {"name": "c@", "x": [3]}]
    provider = InProcAssetMetadataProvider(items)
    assert provider.get_names() == ["a", "b@gpu", "c"]
    metadata = provider.get_metadata("a")
    assert metadata["x"] == [1] and metadata[SOURCE_KEY] == "in-process"
    assert metadata[PROVENANCE_KEY] == Provenance("inproc", "in-process")
    metadata["x"].append(9)
    items[0]["x"].append(8)  # neither the caller's list nor a returned copy changes the card
    assert provider.get_metadata("a")["x"] == [1]
    assert provider.get_metadata("a@")["x"] == [1]  # fairseq2's canonical form of the name
    assert items[2]["name"] == "c@"  # the caller's dicts are not changed
    with pytest.raises(AssetCardNotFoundError, match="No card named 'd' in in-process."):
        provider.get_metadata("d")
    provider.clear_cache()
    assert provider.get_names() == ["a", "b@gpu", "c"]


def test_in_process_bad_names_fail_at_construction() -> None:
    """As in fairseq2 0.3: every bad entry is named, with its position, when the provider is
    made (the issue's parity list; lookups used to report them)."""
    items = [{"name": "a"}, {"name": "bad name"}, {"x": 1}, {"name": "b", "base": "a@gpu"}]
    with pytest.raises(AssetMetadataError) as info:
        InProcAssetMetadataProvider(items)
    assert str(info.value).splitlines() == [
        "in-process:2:1: name 'bad name' is not valid: use letters, digits, '_', '-' and '.', "
        "with an optional '@env' suffix",
        "in-process:3:1: 'name' must be a string, not NoneType",
        "in-process:4:1: 'base' must be the name of a card (no '@env'), not 'a@gpu'"]
    assert [p.code for p in info.value.problems] == ["bad-name", "bad-name", "bad-base"]


def test_in_process_duplicates() -> None:
    with pytest.raises(AssetMetadataError) as info:
        InProcAssetMetadataProvider([{"name": "a"}, {"name": "a@", "x": 1}], label="mine")
    assert str(info.value) == "mine:2:1: duplicate card name 'a': given twice"
    assert [p.code for p in info.value.problems] == ["duplicate"]
