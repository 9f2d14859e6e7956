"""AssetCard: typed field accessors, base chains, relative paths and provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from assetcards import (
    AssetCard,
    AssetCardError,
    AssetCardFieldNotFoundError,
    AssetCardNotFoundError,
    BaseCycleError,
    FileAssetMetadataProvider,
    InProcAssetMetadataProvider,
    Provenance,
    StandardAssetStore,
)
from assetcards.sources.assetstore import MAX_BASE_DEPTH
from tests.gitutil import write


@pytest.fixture
def system(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    write(root / "llama" / "llama.yaml", """
        name: llama
        model_family: llama
        tokenizer: tokenizer.model
        description: family card
        model_config:
          dim: 4096
          layers: [1, 2, 3]
          dropout: 0.1
          flag: true
          nested:
            deeper: value
        ---
        name: llama_7b
        base: llama
        model_arch: llama_7b
        checkpoint: weights/7b.pt
        num_shards: 2
        langs: [eng, fra]
        scores:
          bleu: 31.5
          chrf: 58
        mode: fast
        empty_list: []
        """)
    write(root / "other" / "chat.yaml", """
        name: llama_7b_chat
        base: llama_7b
        checkpoint: https://example.com/chat.pt
        """)
    return root


@pytest.fixture
def store(system: Path) -> StandardAssetStore:
    return StandardAssetStore([FileAssetMetadataProvider(system, "system")], [], env_resolvers=[])


@pytest.fixture
def card(store: StandardAssetStore) -> AssetCard:
    return store.retrieve_card("llama_7b")


def test_name_metadata_base(card: AssetCard, system: Path) -> None:
    assert card.name == "llama_7b"
    assert card.metadata == {"name": "llama_7b", "base": "llama", "model_arch": "llama_7b",
                             "checkpoint": "weights/7b.pt", "num_shards": 2,
                             "langs": ["eng", "fra"], "scores": {"bleu": 31.5, "chrf": 58},
                             "mode": "fast", "empty_list": []}
    assert card.base is not None and card.base.name == "llama"
    assert card.base.base is None
    assert card.kind() == "model"
    assert card.fields()["description"] == "family card"
    assert "base" not in card.fields()
    flat = card.flatten()
    assert isinstance(flat, AssetCard) and flat.base is None
    assert flat.metadata == card.fields()


def test_as_and_as_string(card: AssetCard) -> None:
    assert card.field("model_arch").as_string() == "llama_7b"
    assert card.field("num_shards").as_(int) == 2
    assert card.field("model_family").as_(str) == "llama"  # inherited
    assert card.field("scores").field("bleu").as_(float) == 31.5
    assert card.field("scores").field("chrf").as_(float) == 58  # an int is a float
    assert card.field("model_config").field("flag").as_(bool) is True
    assert card.field("model_config").as_(object)["dim"] == 4096


def test_wrong_type_names_card_field_type_and_file(card: AssetCard, system: Path) -> None:
    with pytest.raises(AssetCardError) as info:
        card.field("num_shards").as_string()
    assert str(info.value) == (
        "The field 'num_shards' of the card 'llama_7b' must be of type str, but is int (2) "
        f"(defined in directory {system}: {system}/llama/llama.yaml:13).")
    with pytest.raises(AssetCardError) as info:
        card.field("model_config").field("flag").as_(int)
    assert str(info.value) == (
        "The field 'model_config.flag' of the card 'llama_7b' must be of type int, but is bool "
        f"(True) (defined in directory {system}: {system}/llama/llama.yaml:1).")


def test_missing_field_names_card_field_and_file(card: AssetCard, system: Path) -> None:
    with pytest.raises(AssetCardFieldNotFoundError) as info:
        card.field("nope").as_string()
    assert str(info.value) == (
        "The card 'llama_7b' has no field 'nope' (card from directory "
        f"{system}: {system}/llama/llama.yaml:13).")
    with pytest.raises(AssetCardFieldNotFoundError, match="no field 'model_config.nested.x'"):
        card.field("model_config").field("nested").field("x").as_(str)
    with pytest.raises(AssetCardFieldNotFoundError, match="no field 'mode.x'"):
        card.field("mode").field("x").as_(str)  # a string has no sub-fields


def test_empty_values(card: AssetCard) -> None:
    with pytest.raises(AssetCardError, match="The field 'empty_list' of the card 'llama_7b' is "
                       "empty"):
        card.field("empty_list").as_(list)
    assert card.field("empty_list").as_(list, allow_empty=True) == []
    assert card.field("empty_list").as_list(str, allow_empty=True) == []


def test_exists_and_get_as(card: AssetCard) -> None:
    assert card.field("checkpoint").exists()
    assert card.field("model_family").exists()  # inherited
    assert card.field("model_config").field("nested").field("deeper").exists()
    assert not card.field("nope").exists()
    assert not card.field("model_config").field("nope").exists()
    assert card.field("nope").get_as_(str) is None
    assert card.field("nope").get_as_(int, 7) == 7
    assert card.field("num_shards").get_as_(int, 7) == 2
    with pytest.raises(AssetCardError, match="must be of type str"):
        card.field("num_shards").get_as_(str, "x")


def test_as_one_of(card: AssetCard, system: Path) -> None:
    assert card.field("mode").as_one_of({"fast", "slow"}) == "fast"
    with pytest.raises(AssetCardError) as info:
        card.field("mode").as_one_of(["slow", "medium"])
    assert str(info.value) == (
        "The field 'mode' of the card 'llama_7b' must be one of 'medium', 'slow', but is 'fast' "
        f"(defined in directory {system}: {system}/llama/llama.yaml:13).")


def test_as_list(card: AssetCard) -> None:
    assert card.field("langs").as_list(str) == ["eng", "fra"]
    assert card.field("model_config").field("layers").as_list(int) == [1, 2, 3]
    with pytest.raises(AssetCardError, match=r"The field 'langs'\[0\] of the card 'llama_7b' must "
                       r"be of type int, but is str \('eng'\)"):
        card.field("langs").as_list(int)
    with pytest.raises(AssetCardError, match=r"must be of type list\[str\], but is str"):
        card.field("mode").as_list(str)


def test_as_dict(card: AssetCard) -> None:
    assert card.field("scores").as_dict(float) == {"bleu": 31.5, "chrf": 58}
    with pytest.raises(AssetCardError, match=r"The field 'scores'\['bleu'\] of the card 'llama_7b' "
                       r"must be of type str, but is float \(31.5\)"):
        card.field("scores").as_dict(str)
    with pytest.raises(AssetCardError, match=r"must be of type dict\[str, str\], but is list"):
        card.field("langs").as_dict(str)


def test_as_uri_absolute_uri_is_kept(store: StandardAssetStore) -> None:
    chat = store.retrieve_card("llama_7b_chat")
    assert chat.field("checkpoint").as_uri() == "https://example.com/chat.pt"


def test_as_uri_relative_to_the_card_retrieved_as_in_fairseq2(
        store: StandardAssetStore, system: Path) -> None:
    card = store.retrieve_card("llama_7b")
    assert card.field("checkpoint").as_uri() == (system / "llama/weights/7b.pt").as_uri()
    # Inherited through two levels of base: relative to chat.yaml, the card retrieved (as
    # fairseq2 0.3 and 0.8 read it; validation flags such a card: see tests/test_paths.py).
    chat = store.retrieve_card("llama_7b_chat")
    assert chat.field("tokenizer").as_uri() == (system / "other/tokenizer.model").as_uri()
    family = store.retrieve_card("llama")
    assert family.field("tokenizer").as_uri() == (system / "llama/tokenizer.model").as_uri()


def test_as_uri_relative_to_an_env_override_in_another_directory(
        system: Path, tmp_path: Path) -> None:
    user = tmp_path / "usr"
    write(user / "mine" / "over.yaml", """
        name: llama_7b@user
        checkpoint: local/7b.pt
        ---
        name: llama@gpu
        tokenizer: gpu/tok.model
        """)
    store = StandardAssetStore([FileAssetMetadataProvider(system, "system")],
                               [FileAssetMetadataProvider(user, "user")], env_resolvers=[])
    card = store.retrieve_card("llama_7b_chat", envs=["gpu"])
    assert card.field("checkpoint").as_string() == "https://example.com/chat.pt"
    base = card.base
    assert base is not None and base.name == "llama_7b"
    assert base.field("checkpoint").as_uri() == (user / "mine/local/7b.pt").as_uri()
    assert base.field("num_shards").as_(int) == 2  # not overridden: still the system card's
    # The family's override sets the value; the card retrieved (chat.yaml) sets the directory.
    assert card.field("tokenizer").as_uri() == (system / "other/gpu/tok.model").as_uri()
    assert store.retrieve_card("llama", envs=["gpu"]).field("tokenizer").as_uri() == (
        user / "mine/gpu/tok.model").as_uri()
    # Without the env, the tokenizer is the family card's value again.
    plain = store.retrieve_card("llama_7b_chat")
    assert plain.field("tokenizer").as_uri() == (system / "other/tokenizer.model").as_uri()


def test_as_uri_absolute_and_home_paths(tmp_path: Path) -> None:
    card = AssetCard("a", {"p": str(tmp_path / "x.pt"), "h": "~/x.pt"})
    assert card.field("p").as_uri() == (tmp_path / "x.pt").as_uri()
    assert card.field("h").as_uri() == (Path.home() / "x.pt").as_uri()


def test_as_uri_relative_without_a_directory_is_an_error() -> None:
    card = AssetCard("a", {"checkpoint": "x.pt"})
    with pytest.raises(AssetCardError, match="is the relative path 'x.pt', but the card has no "
                       "directory to resolve it against"):
        card.field("checkpoint").as_uri()


def test_in_process_base_path_may_be_a_string(tmp_path: Path) -> None:
    provider = InProcAssetMetadataProvider([
        {"name": "a", "checkpoint": "x.pt", "__base_path__": str(tmp_path)}])
    card = StandardAssetStore([provider], env_resolvers=[]).retrieve_card("a")
    assert card.field("checkpoint").as_uri() == (tmp_path / "x.pt").as_uri()


def test_base_chain_of_any_depth(tmp_path: Path) -> None:
    depth = 200
    cards = [{"name": "c0", "model_family": "f", "level0": 0}]
    cards += [{"name": f"c{i}", "base": f"c{i - 1}", f"level{i}": i} for i in range(1, depth)]
    store = StandardAssetStore([InProcAssetMetadataProvider(cards)], env_resolvers=[])
    card = store.retrieve_card(f"c{depth - 1}")
    assert [c.name for c in card.base_chain()] == [f"c{i}" for i in reversed(range(depth))]
    assert card.field("level0").as_(int) == 0
    assert card.field("model_family").as_string() == "f"
    assert len(card.fields()) == depth + 2


def test_base_chain_beyond_the_depth_limit_is_an_error_not_a_crash() -> None:
    depth = MAX_BASE_DEPTH + 1
    cards = [{"name": "c0"}] + [{"name": f"c{i}", "base": f"c{i - 1}"} for i in range(1, 2000)]
    store = StandardAssetStore([InProcAssetMetadataProvider(cards)], env_resolvers=[])
    assert len(store.retrieve_card(f"c{MAX_BASE_DEPTH - 1}").base_chain()) == MAX_BASE_DEPTH
    with pytest.raises(AssetCardError) as info:
        store.retrieve_card(f"c{depth - 1}")
    assert str(info.value) == (f"The base chain of the card 'c{depth - 1}' is longer than "
                               f"{MAX_BASE_DEPTH} cards.")
    with pytest.raises(AssetCardError, match="is longer than"):
        store.retrieve_card("c1999")


def test_base_cycle_names_the_cycle() -> None:
    provider = InProcAssetMetadataProvider([
        {"name": "a", "base": "b"}, {"name": "b", "base": "c"}, {"name": "c", "base": "a"},
        {"name": "top", "base": "a"}, {"name": "self", "base": "self"}])
    store = StandardAssetStore([provider], env_resolvers=[])
    with pytest.raises(BaseCycleError) as info:
        store.retrieve_card("top")
    assert str(info.value) == "The base chain of the card 'top' loops: a -> b -> c -> a."
    with pytest.raises(BaseCycleError, match="loops: self -> self"):
        store.retrieve_card("self")


def test_missing_base_names_card_and_base(store: StandardAssetStore, tmp_path: Path) -> None:
    provider = InProcAssetMetadataProvider([{"name": "a", "base": "ghost"}])
    store = StandardAssetStore([provider], env_resolvers=[])
    with pytest.raises(AssetCardNotFoundError) as info:
        store.retrieve_card("a")
    assert str(info.value) == ("The card 'a' (inproc in-process) has base 'ghost', which was not "
                               "found: No card named 'ghost'.")
    write(tmp_path / "b.yaml", "name: b\nbase: 3\n")
    store = StandardAssetStore([FileAssetMetadataProvider(tmp_path)], env_resolvers=[])
    with pytest.raises(AssetCardError, match="has a 'base' that is not a card name: 3"):
        store.retrieve_card("b")


def test_provenance_of_a_directory_card(card: AssetCard, system: Path) -> None:
    assert card.provenance == Provenance("directory", str(system),
                                         str(system / "llama/llama.yaml"), 13, "system")
    assert card.provenance.to_dict() == {"kind": "directory", "source": str(system),
                                         "file": str(system / "llama/llama.yaml"), "line": 13,
                                         "scope": "system"}
    assert str(card.provenance) == f"directory {system}: {system}/llama/llama.yaml:13"
    assert card.base is not None and card.base.provenance.line == 1
    assert card.base_path == system / "llama"


def test_provenance_of_in_process_and_git_cards() -> None:
    card = AssetCard("a", {"x": 1})
    assert card.provenance.kind == "inproc"
    git = Provenance("git", "team", "cards/a.yaml", 3, "user", "https://x/y.git", "f" * 40)
    assert str(git) == "store team at ffffffffffff: cards/a.yaml:3"
    assert git.location() == "cards/a.yaml:3"


def test_private_keys_are_not_fields() -> None:
    card = AssetCard("a", {"name": "a", "__source__": "x", "__base_path__": "/"})
    assert card.metadata == {"name": "a"}
    assert not card.field("__source__").exists()
