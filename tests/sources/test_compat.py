"""Code written for fairseq2.assets (0.3, and 0.8's names) reads the same with assetcards.

Each test states one behaviour of fairseq2's asset API that callers depend on; where fairseq2
0.3 and 0.8 disagree, 0.3 is followed (docs/fairseq2.md lists every name)."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Literal, Optional, Union

import pytest

import assetcards
from assetcards import (
    AssetCard,
    AssetCardError,
    AssetCardFieldNotFoundError,
    AssetCardNotFoundError,
    AssetError,
    AssetMetadataError,
    AssetMetadataNotFoundError,
    AssetNotFoundError,
    AssetStore,
    FileAssetMetadataProvider,
    InProcAssetMetadataProvider,
    PackageAssetMetadataProvider,
    StandardAssetStore,
)
from assetcards.locations import Locations
from tests.gitutil import write


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@pytest.fixture
def card() -> AssetCard:
    base = AssetCard("family", {"name": "family", "inherited": [1, 2],
                                "config": {"dim": 8, "layers": [1, 2]}})
    return AssetCard("model", {
        "name": "model", "ints": [1, 3, 2], "mixed": [1, "b", 3], "words": {"a": "x", "b": "y"},
        "counts": {"a": 1, "b": "two"}, "dupes": [1, 2, 1], "pair": [4, "four"],
        "nothing": None, "empty": "", "empty_list": [], "flag": True, "color": "BLUE",
        "path": "/data/ckpt.pt", "nested": {"a": [1, 2], "b": [3, "x"]}, "ratio": 2,
    }, base)


def _message(card: AssetCard, field: str, kls: object) -> str:
    with pytest.raises(AssetCardError) as info:
        card.field(field).as_(kls)
    assert info.value.name == card.name
    return str(info.value)


# -- as_() with type expressions -------------------------------------------------------------------


def test_as_checks_each_element_of_a_list(card: AssetCard) -> None:
    assert card.field("ints").as_(list[int]) == [1, 3, 2]
    assert card.field("inherited").as_(list[int]) == [1, 2]
    assert _message(card, "mixed", list[int]) == (
        "The field 'mixed'[1] of the card 'model' must be of type int, but is str ('b') "
        "(defined in inproc inproc).")
    assert "'ints' of the card 'model' must be of type list[str], but is" not in _message(
        card, "ints", list[str])
    assert "The field 'ints'[0] of the card 'model' must be of type str, but is int (1)" in (
        _message(card, "ints", list[str]))
    assert "'words' of the card 'model' must be of type list[str], but is dict" in _message(
        card, "words", list[str])


def test_as_checks_each_key_and_value_of_a_mapping(card: AssetCard) -> None:
    assert card.field("words").as_(dict[str, str]) == {"a": "x", "b": "y"}
    assert "The field 'counts'['b'] of the card 'model' must be of type int, but is str " \
        "('two')" in _message(card, "counts", dict[str, int])
    assert "'ints' of the card 'model' must be of type dict[str, int], but is list" in _message(
        card, "ints", dict[str, int])
    assert card.field("config").as_(dict[str, object])["dim"] == 8  # inherited


def test_as_names_the_element_at_any_depth(card: AssetCard) -> None:
    assert card.field("nested").field("a").as_(list[int]) == [1, 2]
    assert "The field 'nested'['b'][1] of the card 'model' must be of type int, but is str " \
        "('x')" in _message(card, "nested", dict[str, list[int]])
    with pytest.raises(AssetCardError, match=r"The field 'config.layers'\[0\] of the card "
                                             r"'model' must be of type str"):
        card.field("config").field("layers").as_(list[str])


def test_as_converts_a_list_to_a_set(card: AssetCard) -> None:
    value = card.field("ints").as_(set[int])
    assert value == {1, 2, 3} and isinstance(value, set)
    assert card.field("ints").as_(frozenset[int]) == frozenset({1, 2, 3})
    assert "The field 'ints'[0] of the card 'model' must be of type str" in _message(
        card, "ints", set[str])
    assert "The field 'dupes'[2] of the card 'model' must be unique (a set holds each value " \
        "once), but is int (1)" in _message(card, "dupes", set[int])


def test_as_converts_a_list_to_a_tuple(card: AssetCard) -> None:
    assert card.field("ints").as_(tuple[int, ...]) == (1, 3, 2)
    assert card.field("pair").as_(tuple[int, str]) == (4, "four")
    assert "'pair'[1] of the card 'model' must be of type int" in _message(
        card, "pair", tuple[int, int])
    assert "'ints' of the card 'model' must be of type tuple[int, str], but is list" in (
        _message(card, "ints", tuple[int, str]))  # three elements, not two


def test_as_optional_union_and_literal(card: AssetCard) -> None:
    assert card.field("nothing").as_(str | None) is None
    assert card.field("nothing").as_(Optional[list[int]]) is None  # noqa: UP045
    assert card.field("ints").as_(list[int] | None) == [1, 3, 2]
    # Optional[X] reports X's own error, down to the element
    assert "'mixed'[1] of the card 'model' must be of type int" in _message(
        card, "mixed", list[int] | None)
    assert card.field("pair").as_(Union[str, list[int | str]]) == [4, "four"]  # noqa: UP007
    assert "'flag' of the card 'model' must be of type int | str, but is bool (True)" in (
        _message(card, "flag", int | str))
    assert card.field("color").as_(Literal["RED", "BLUE"]) == "BLUE"
    assert "'color' of the card 'model' must be one of 'red', 'blue', but is str ('BLUE')" in (
        _message(card, "color", Literal["red", "blue"]))


def test_as_scalars_are_strict(card: AssetCard) -> None:
    assert card.field("flag").as_(bool) is True
    assert "must be of type int, but is bool (True)" in _message(card, "flag", int)
    ratio = card.field("ratio").as_(float)
    assert ratio == 2.0 and isinstance(ratio, float)
    assert "must be of type int, but is str ('BLUE')" in _message(card, "color", int)
    assert card.field("path").as_(Path) == Path("/data/ckpt.pt")
    assert card.field("color").as_(Color) is Color.BLUE
    assert "must be of type Color, but is str ('/data/ckpt.pt')" in _message(card, "path", Color)


def test_as_refuses_a_type_it_cannot_check(card: AssetCard) -> None:
    with pytest.raises(TypeError, match="cannot check a card's value against `bytes`"):
        card.field("path").as_(bytes)


def test_empty_values_and_allow_empty(card: AssetCard) -> None:
    with pytest.raises(AssetCardError, match="The field 'empty_list' of the card 'model' is "
                                             "empty"):
        card.field("empty_list").as_(list[str])
    assert card.field("empty_list").as_(list[str], allow_empty=True) == []
    assert card.field("empty_list").as_(set[int], allow_empty=True) == set()
    assert card.field("nothing").as_(str | None) is None  # None is not "empty"
    # get_as_ takes allow_empty too, False by default as in fairseq2 0.3
    with pytest.raises(AssetCardError, match="'empty' of the card 'model' is empty"):
        card.field("empty").get_as_(str, "default")
    assert card.field("empty").get_as_(str, "default", allow_empty=True) == ""
    assert card.field("absent").get_as_(list[int], [7]) == [7]


# -- fields: value, access-time errors, has_field, set ---------------------------------------------


def test_value_and_a_missing_field_fail_on_access(card: AssetCard) -> None:
    assert card.field("ints").value == [1, 3, 2]
    assert card.field("config").field("dim").value == 8
    missing = card.field("absent")  # as in fairseq2 0.3: no error yet
    with pytest.raises(AssetCardFieldNotFoundError) as info:
        missing.value  # noqa: B018
    assert isinstance(info.value, AssetCardError) and info.value.name == "model"
    assert str(info.value) == "The card 'model' has no field 'absent' (card from inproc inproc)."


def test_has_field_and_maybe_get_field(card: AssetCard) -> None:
    assert card.has_field("ints") and card.has_field("inherited")
    assert not card.has_field("absent")
    field = card.maybe_get_field("inherited")
    assert field is not None and field.value == [1, 2]
    assert card.maybe_get_field("absent") is None


def test_set_writes_the_card_and_nothing_else() -> None:
    mine = {"name": "c", "x": "old", "sub": {"a": 1}}
    base_fields = {"name": "b", "inherited": {"k": 1}}
    base = AssetCard("b", base_fields)
    card = AssetCard("c", mine, base)
    card.field("x").set("new")
    card.field("sub").field("b").set(2)
    card.field("deep").field("er").field("est").set(Path("/a/b"))
    card.field("inherited").field("k2").set((1, Color.RED, {3}))
    assert card.field("x").as_(str) == "new"
    assert card.field("sub").as_(dict[str, int]) == {"a": 1, "b": 2}
    assert card.field("deep").field("er").field("est").value == "/a/b"
    assert card.field("inherited").value == {"k2": [1, "RED", [3]]}  # its own, over the base's
    assert mine == {"name": "c", "x": "old", "sub": {"a": 1}}  # the caller's dicts are not touched
    assert base.metadata == base_fields and base_fields == {"name": "b", "inherited": {"k": 1}}


def test_set_refuses_a_path_through_a_value_and_an_unknown_type(card: AssetCard) -> None:
    with pytest.raises(AssetCardError) as info:
        card.field("color").field("shade").set("dark")
    assert str(info.value) == ("Cannot set the field 'color.shade' of the card 'model': 'color' "
                               "holds str ('BLUE'), not a mapping (inproc inproc).")
    assert info.value.name == "model"
    with pytest.raises(ValueError, match=r"Cannot set the field 'x' of the card 'model': \[1\] "
                                         r"must be None, bool, int"):
        card.field("x").set([1, object()])
    assert not card.has_field("x")


def test_set_then_as_uri(card: AssetCard) -> None:
    card.field("where").set(Path("/foo1/foo2/"))
    assert card.field("where").as_uri() == "file:///foo1/foo2"


def test_flatten_returns_a_card(tmp_path: Path) -> None:
    write(tmp_path / "fam" / "f.yaml", "name: fam\nmodel_family: f\ntok: tok.model\n")
    write(tmp_path / "m" / "m.yaml", "name: m\nbase: fam\ncheckpoint: m.pt\n")
    store = StandardAssetStore([FileAssetMetadataProvider(tmp_path)], env_resolvers=[])
    flat = store.retrieve_card("m").flatten()
    assert isinstance(flat, AssetCard) and flat.base is None and flat.name == "m"
    assert flat.metadata == {"name": "m", "model_family": "f", "tok": "tok.model",
                             "checkpoint": "m.pt"}
    # relative paths resolve as through the card retrieved: next to its file, as in fairseq2
    assert flat.field("checkpoint").as_uri() == (tmp_path / "m" / "m.pt").as_uri()
    assert flat.field("tok").as_uri() == (tmp_path / "m" / "tok.model").as_uri()


def test_card_constructor_forms(tmp_path: Path) -> None:
    base = AssetCard("b", {"x": 1})
    assert AssetCard("c", {}, base_card=base).base is base  # fairseq2 0.3's keyword
    assert AssetCard("c", {"p": "w.pt"}, None, tmp_path).field("p").as_uri() == (
        (tmp_path / "w.pt").as_uri())  # 0.3's positional base_path
    card = AssetCard("c", {"p": "w.pt", "__base_path__": tmp_path})  # 0.8's form
    assert card.field("p").as_uri() == (tmp_path / "w.pt").as_uri()
    assert not card.has_field("__base_path__")


# -- errors ------------------------------------------------------------------------------------------


def test_error_classes_fairseq2_callers_catch() -> None:
    assert issubclass(AssetCardNotFoundError, AssetCardError)  # as in 0.3
    assert issubclass(AssetCardNotFoundError, AssetNotFoundError)
    assert issubclass(AssetCardFieldNotFoundError, AssetCardError)
    assert issubclass(AssetMetadataNotFoundError, AssetMetadataError)
    assert issubclass(AssetMetadataNotFoundError, AssetCardNotFoundError)
    error = AssetCardError("llama", "llama is broken")  # 0.8's form
    assert (error.name, str(error)) == ("llama", "llama is broken")
    error = AssetCardError("something is broken")  # 0.3's form
    assert (error.name, str(error)) == ("", "something is broken")
    error = AssetMetadataError("msg")
    assert (str(error), error.problems, error.source) == ("msg", [], "")
    error = AssetMetadataError("path:/x", "two cards named a")
    assert (str(error), error.source) == ("two cards named a", "path:/x")
    assert isinstance(AssetMetadataNotFoundError("a", "no a"), AssetError)


def test_a_missing_card_is_an_asset_card_error_naming_it(tmp_path: Path) -> None:
    store = StandardAssetStore([InProcAssetMetadataProvider([{"name": "a"}])], env_resolvers=[])
    with pytest.raises(AssetCardError) as info:
        store.retrieve_card("b")
    assert isinstance(info.value, AssetCardNotFoundError) and info.value.name == "b"
    with pytest.raises(AssetMetadataNotFoundError):
        FileAssetMetadataProvider(tmp_path).get_metadata("b")


# -- the store ---------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> StandardAssetStore:
    write(tmp_path / "system" / "a.yaml", """
        name: a
        model_family: llama
        batch: 8
        ---
        name: a@gpu
        batch: 64
        device: cuda
        ---
        name: b
        base: a
        ---
        name: c
        model_family: mistral
        ---
        name: broken
        base: ghost
        """)
    write(tmp_path / "user" / "a.yaml", "name: a@user\nowner: me\n")
    return StandardAssetStore([FileAssetMetadataProvider(tmp_path / "system", "system")],
                              [FileAssetMetadataProvider(tmp_path / "user", "user")],
                              env_resolvers=[])


def test_retrieve_card_with_an_env_tag_merges_the_override(store: StandardAssetStore) -> None:
    card = store.retrieve_card("a@gpu")
    assert card.name == "a"
    assert (card.field("batch").as_(int), card.field("device").as_(str)) == (64, "cuda")
    assert card.field("model_family").as_(str) == "llama"
    assert not card.has_field("owner")  # only the env named: as in fairseq2 0.3 and 0.8
    assert store.retrieve_card("b@gpu").base is not None
    assert store.retrieve_card("b@gpu").field("device").as_(str) == "cuda"  # along the chain
    plain = store.retrieve_card("a@")  # 0.8's canonical name: no override at all
    assert plain.field("batch").as_(int) == 8 and not plain.has_field("owner")
    assert store.retrieve_card("a").field("owner").as_(str) == "me"  # @user applies by default
    assert store.retrieve_card("a@nowhere").field("batch").as_(int) == 8  # an env without cards
    with pytest.raises(ValueError, match="'a@gpu' names its environment already"):
        store.retrieve_card("a@gpu", envs=["cpu"])


def test_metadata_and_names_accept_the_canonical_form(store: StandardAssetStore) -> None:
    assert store.find_metadata("a@")["batch"] == 8
    assert store.find_metadata("a@gpu")["batch"] == 64
    provider = store.metadata_providers[0]
    assert provider.get_metadata("a@")["batch"] == provider.get_metadata("a")["batch"]
    assert provider.maybe_get_metadata("zz@") is None
    assert provider.asset_names == {"a@", "a@gpu", "b@", "c@", "broken@"}
    assert store.asset_names == {"a@", "a@gpu", "a@user", "b@", "c@", "broken@"}
    assert store.retrieve_names() == ["a", "a@gpu", "a@user", "b", "broken", "c"]
    assert all(store.retrieve_card(name) for name in store.asset_names - {"broken@"})


def test_global_is_the_system_scope(store: StandardAssetStore) -> None:
    assert store.retrieve_names(scope="global") == ["a", "a@gpu", "b", "broken", "c"]
    assert store.retrieve_card("a", scope="global").field("batch").as_(int) == 8
    with pytest.raises(ValueError, match="scope must be one of 'all', 'system' \\(or 'global'\\), "
                                         "'user', not 'local'"):
        store.retrieve_names(scope="local")


def test_maybe_retrieve_card(store: StandardAssetStore) -> None:
    assert store.maybe_retrieve_card("zz") is None
    assert store.maybe_retrieve_card("zz@gpu") is None
    card = store.maybe_retrieve_card("a@gpu")
    assert card is not None and card.field("batch").as_(int) == 64
    with pytest.raises(AssetCardError, match="has base 'ghost', which was not found"):
        store.maybe_retrieve_card("broken")  # it exists but cannot be used: still an error


def test_find_cards() -> None:
    cards = [{"name": "a", "model_family": "llama"}, {"name": "b", "base": "a"},
             {"name": "c", "model_family": "mistral"}, {"name": "c@gpu", "model_family": "llama"}]
    store = StandardAssetStore([InProcAssetMetadataProvider(cards)], env_resolvers=[])
    assert [c.name for c in store.find_cards("model_family", "llama")] == ["a", "b"]
    assert [c.name for c in store.find_cards("model_family", "mistral")] == ["c"]
    assert list(store.find_cards("model_family", "gpt")) == []
    assert list(store.find_cards("model_family", "llama", scope="user")) == []


def test_find_cards_reports_a_broken_card(store: StandardAssetStore) -> None:
    """A card that cannot be built is an error, as in fairseq2 0.8, not a silent omission."""
    with pytest.raises(AssetCardError, match="'broken'.* has base 'ghost'"):
        list(store.find_cards("model_family", "llama"))


def test_default_asset_store_is_an_instance(locations: Locations) -> None:
    """fairseq2 0.3's `default_asset_store.metadata_providers.append(...)`, and assetcards'
    earlier `default_asset_store()`, both work, on the one store built on first use."""
    from assetcards.sources import assetstore as store_module

    write(locations.system / "s.yaml", "name: sys_card\n")
    extra = locations.system.parent / "extra"
    write(extra / "e.yaml", "name: extra_card\nx: 1\n")
    namespace: dict[str, object] = {"extra": extra}
    exec(
        "from assetcards import FileAssetMetadataProvider, default_asset_store\n"
        "default_asset_store.metadata_providers.append(FileAssetMetadataProvider(extra))\n"
        "card = default_asset_store.retrieve_card('extra_card')\n", namespace)
    assert isinstance(namespace["card"], AssetCard)
    store = assetcards.default_asset_store
    assert isinstance(store, AssetStore)
    assert store() is assetcards.asset_store is assetcards.get_asset_store()
    assert store_module._default is store()
    assert store.retrieve_card("sys_card").provenance.scope == "system"
    assert "extra_card" in store().retrieve_names()
    assert store.maybe_retrieve_card("nope") is None


def test_setup_asset_store(locations: Locations) -> None:
    write(locations.user / "u.yaml", "name: user_card\n")
    store = StandardAssetStore(env_resolvers=[])
    assetcards.setup_asset_store(store)
    assert store.retrieve_card("user_card").provenance.scope == "user"


# -- providers ---------------------------------------------------------------------------------------


class _FileSystem:
    """Stands for fairseq2 0.3's FileSystem argument: never called."""


def _yaml_loader(path: Path) -> list[object]:
    raise AssertionError("the YAML loader argument is not used")


def test_file_provider_takes_fairseq2_03_arguments(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "name: a\n")
    provider = FileAssetMetadataProvider(tmp_path, _FileSystem(), _yaml_loader)
    assert provider.get_names() == ["a"]
    provider = FileAssetMetadataProvider(tmp_path, file_system=_FileSystem(),
                                         yaml_loader=_yaml_loader)
    assert provider.get_metadata("a@")["name"] == "a"
    assert provider.scope is None and provider.cache_dir is None


def test_file_provider_reads_a_single_file(tmp_path: Path) -> None:
    write(tmp_path / "cards" / "one.yaml", "name: a\nckpt: a.pt\n---\nname: b\n")
    write(tmp_path / "cards" / "other.yaml", "name: c\n")
    provider = FileAssetMetadataProvider(tmp_path / "cards" / "one.yaml", "user")
    assert provider.get_names() == ["a", "b"]
    assert provider.label == f"file {tmp_path / 'cards' / 'one.yaml'}"
    store = StandardAssetStore([provider], env_resolvers=[])
    card = store.retrieve_card("a")
    assert card.provenance.file == str(tmp_path / "cards" / "one.yaml")
    assert card.provenance.line == 1
    assert card.field("ckpt").as_uri() == (tmp_path / "cards" / "a.pt").as_uri()


def test_package_provider_reads_the_whole_package(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / "mypkg" / "cards"
    write(package / "__init__.py", "")
    write(package.parent / "__init__.py", "")
    write(package / "top.yaml", "name: top\n")
    write(package / "models" / "deep.yml", "name: deep\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "mypkg", raising=False)
    provider = PackageAssetMetadataProvider("mypkg.cards", object(), _yaml_loader)
    assert provider.get_names() == ["deep", "top"]
    assert provider.get_metadata("deep")["__provenance__"].file == "models/deep.yml"
    assert PackageAssetMetadataProvider("mypkg").get_names() == ["deep", "top"]
    assert PackageAssetMetadataProvider("mypkg", "cards/models").get_names() == ["deep"]
    assert "llama3_8b" in PackageAssetMetadataProvider().get_names()  # assetcards/cards


def test_provider_08_names(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "name: a\n---\nname: a@gpu\n")
    provider = FileAssetMetadataProvider(tmp_path)
    assert provider.asset_names == {"a@", "a@gpu"}
    assert provider.source == f"directory {tmp_path}"
    metadata = provider.maybe_get_metadata("a@gpu")
    assert metadata is not None and metadata["name"] == "a@gpu"
    assert provider.maybe_get_metadata("b") is None


def test_in_process_provider_raises_at_construction() -> None:
    with pytest.raises(AssetMetadataError, match="in-process:2:1: duplicate card name 'a'"):
        InProcAssetMetadataProvider([{"name": "a@"}, {"name": "a"}])
    with pytest.raises(AssetMetadataError, match="in-process:1:1: 'base' must be the name of a "
                                                 "card \\(no '@env'\\), not 3"):
        InProcAssetMetadataProvider([{"name": "a", "base": 3}])


def test_abstract_provider_subclass_from_fairseq2_03(tmp_path: Path) -> None:
    """A provider written for 0.3 (`_load_cache` returning canonical names, no `name` field)
    works in our store."""

    class Mine(assetcards.AbstractAssetMetadataProvider):
        loads = 0

        def _load_cache(self) -> dict[str, dict[str, object]]:
            Mine.loads += 1
            return {"m@": {"model_family": "f"}, "m@gpu": {"device": "cuda"}}

    provider = Mine()
    store = StandardAssetStore([provider], env_resolvers=[])
    assert store.retrieve_names() == ["m", "m@gpu"]
    card = store.retrieve_card("m@gpu")
    assert (card.name, card.field("device").as_(str)) == ("m", "cuda")
    assert card.field("model_family").as_(str) == "f"
    assert store.maybe_retrieve_card("x") is None
    assert Mine.loads == 1
    provider.clear_cache()
    provider.get_names()
    assert Mine.loads == 2


def test_load_metadata_file(tmp_path: Path) -> None:
    write(tmp_path / "c.yaml", "name: a\nx: 1\n---\nname: a@gpu\nx: 2\n")
    assert assetcards.load_metadata_file(tmp_path / "c.yaml") == [
        ("a@", {"x": 1, "__base_path__": tmp_path}),
        ("a@gpu", {"x": 2, "__base_path__": tmp_path})]
    write(tmp_path / "bad.yaml", "name: a\nx: [\n")
    with pytest.raises(AssetMetadataError, match=f"{tmp_path}/bad.yaml:"):
        assetcards.load_metadata_file(tmp_path / "bad.yaml")
    with pytest.raises(AssetMetadataError, match="no such card file"):
        assetcards.load_metadata_file(tmp_path / "none.yaml")


def test_08_name_helpers_and_default_env() -> None:
    assert assetcards.canonicalize_asset_name("a") == "a@"
    assert assetcards.canonicalize_asset_name(" a @ gpu ") == "a@gpu"
    assert assetcards.canonicalize_asset_name("@gpu") is None
    assert assetcards.canonicalize_asset_name("a@b@c") is None
    assert assetcards.sanitize_base_asset_name(" a ") == "a"
    assert assetcards.sanitize_base_asset_name("a@gpu") is None
    provider = assetcards.load_in_memory_asset_metadata(
        "mine", [{"name": "a", "x": 1}, {"name": "a@gpu", "x": 2}])
    assert provider.source == "mine"
    store = StandardAssetStore([provider], env_resolvers=[], default_env="gpu")
    assert store.retrieve_card("a").field("x").as_(int) == 2
    assert store.retrieve_card("a@").field("x").as_(int) == 1


def test_default_asset_store_has_the_08_lookups(locations: Locations) -> None:
    write(locations.system / "s.yaml", "name: s1\nmodel_family: f\n---\nname: s1@gpu\nx: 1\n")
    store = assetcards.default_asset_store
    assert {"s1@", "s1@gpu"} <= store.asset_names
    assert [c.name for c in store.find_cards("model_family", "f")] == ["s1"]
    card = store.maybe_retrieve_card("s1@gpu")
    assert card is not None and card.field("x").as_(int) == 1
