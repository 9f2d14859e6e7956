"""StandardAssetStore and the default asset_store: scopes, environments, duplicates, lookups."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import assetcards
from assetcards import (
    AssetCardNotFoundError,
    DuplicateCardError,
    FileAssetMetadataProvider,
    InProcAssetMetadataProvider,
    PackageAssetMetadataProvider,
    StandardAssetStore,
)
from assetcards.locations import DEFAULT_SYSTEM_DIR, Locations
from assetcards.sources import assetstore as store_module
from assetcards.sources.assetstore import env_from_variable
from tests.gitutil import write


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    system, user = tmp_path / "system", tmp_path / "user"
    write(system / "models.yaml", """
        name: shared
        model_family: llama
        checkpoint: https://example.com/shared.pt
        batch: 8
        ---
        name: system_only
        description: from the system root
        ---
        name: shared@gpu
        batch: 64
        device: cuda
        ---
        name: shared@cpu
        batch: 1
        device: cpu
        """)
    write(user / "mine.yaml", """
        name: user_only
        description: from the user root
        ---
        name: shared@user
        batch: 16
        """)
    return system, user


@pytest.fixture
def store(roots: tuple[Path, Path]) -> StandardAssetStore:
    system, user = roots
    return StandardAssetStore([FileAssetMetadataProvider(system, "system")],
                              [FileAssetMetadataProvider(user, "user")], env_resolvers=[])


def test_providers_user_before_system(store: StandardAssetStore) -> None:
    assert [(scope, p.label.split()[0]) for scope, p in store.providers()] == [
        ("user", "directory"), ("system", "directory")]
    assert [scope for scope, _ in store.providers("system")] == ["system"]
    assert [scope for scope, _ in store.providers("user")] == ["user"]


def test_scopes(store: StandardAssetStore) -> None:
    assert store.retrieve_names() == ["shared", "shared@cpu", "shared@gpu", "shared@user",
                                      "system_only", "user_only"]
    assert store.retrieve_names(scope="user") == ["shared@user", "user_only"]
    assert store.retrieve_card("user_only", scope="user").name == "user_only"
    assert store.retrieve_card("system_only", scope="system").name == "system_only"
    with pytest.raises(AssetCardNotFoundError) as info:
        store.retrieve_card("system_only", scope="user")
    assert str(info.value) == ("No card named 'system_only' in the user scope; did you mean "
                               "'user_only'?")
    # fairseq2 0.3 calls the system scope "global"
    assert store.retrieve_names(scope="global") == store.retrieve_names(scope="system")
    assert store.retrieve_card("system_only", scope="global").name == "system_only"
    with pytest.raises(ValueError, match="scope must be one of"):
        store.retrieve_card("shared", scope="everywhere")


def test_user_override_always_applies(store: StandardAssetStore, roots: tuple[Path, Path]) -> None:
    card = store.retrieve_card("shared")
    assert card.field("batch").as_(int) == 16
    assert card.field("model_family").as_string() == "llama"
    assert [str(p.file) for p in card.overrides] == [str(roots[1] / "mine.yaml")]
    assert card.provenance.file == str(roots[0] / "models.yaml")
    # In the system scope the user root is not read at all.
    assert store.retrieve_card("shared", scope="system").field("batch").as_(int) == 8


def test_env_overrides(store: StandardAssetStore) -> None:
    card = store.retrieve_card("shared", envs=["gpu"])
    assert card.field("device").as_string() == "cuda"
    assert card.field("batch").as_(int) == 16  # @user is applied last: it wins
    assert [p.line for p in card.overrides] == [9, 4]
    card = store.retrieve_card("shared", envs=["cpu", "gpu"])
    assert card.field("device").as_string() == "cuda"  # later envs win over earlier ones
    assert not store.retrieve_card("shared", envs=[]).field("device").exists()
    assert not store.retrieve_card("shared", envs=["nope"]).field("device").exists()


def test_env_from_variable(roots: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    system, user = roots
    store = StandardAssetStore([FileAssetMetadataProvider(system)],
                               [FileAssetMetadataProvider(user)])
    assert env_from_variable() is None
    assert not store.retrieve_card("shared").field("device").exists()
    monkeypatch.setenv("FAIRSEQ2_ASSET_ENV", "gpu")
    assert store.retrieve_card("shared").field("device").as_string() == "cuda"
    assert store.retrieve_card("shared", envs=["cpu"]).field("device").as_string() == "cpu"
    monkeypatch.setenv("FAIRSEQ2_ASSET_ENV", " cpu , gpu")
    assert env_from_variable() == "cpu"


def test_override_does_not_change_the_name(store: StandardAssetStore,
                                           roots: tuple[Path, Path]) -> None:
    card = store.retrieve_card("shared", envs=["gpu"])
    assert card.name == "shared" and card.fields()["name"] == "shared"


def test_override_applies_along_the_base_chain(tmp_path: Path) -> None:
    provider = InProcAssetMetadataProvider([
        {"name": "fam", "tokenizer": "https://x/tok"},
        {"name": "fam@user", "tokenizer": "https://mine/tok"},
        {"name": "size", "base": "fam", "checkpoint": "https://x/ck"}])
    card = StandardAssetStore([provider], env_resolvers=[]).retrieve_card("size")
    assert card.field("tokenizer").as_uri() == "https://mine/tok"


def test_duplicate_across_sources_names_both_places(roots: tuple[Path, Path]) -> None:
    system, user = roots
    write(user / "dup.yaml", "name: system_only\ndescription: my copy\n")
    store = StandardAssetStore([FileAssetMetadataProvider(system, "system")],
                               [FileAssetMetadataProvider(user, "user")], env_resolvers=[])
    with pytest.raises(DuplicateCardError) as info:
        store.retrieve_card("system_only")
    assert str(info.value) == (
        f"{user}/dup.yaml:1:1: system_only: duplicate card name 'system_only' in directory "
        f"{user}: {user}/dup.yaml:1: also defined in directory {system}: {system}/models.yaml:6\n"
        f"{system}/models.yaml:6:1: system_only: duplicate card name 'system_only' in directory "
        f"{system}: {system}/models.yaml:6: also defined in directory {user}: {user}/dup.yaml:1")
    assert store.retrieve_card("user_only").name == "user_only"  # the others still work


def test_duplicate_between_a_root_and_the_bundled_cards(tmp_path: Path) -> None:
    write(tmp_path / "l.yaml", "name: llama3_8b\nmodel_family: llama\nmodel_arch: x\n")
    store = StandardAssetStore([FileAssetMetadataProvider(tmp_path),
                                PackageAssetMetadataProvider()], env_resolvers=[])
    with pytest.raises(DuplicateCardError, match="also defined in package assetcards: "
                       "llama/llama3.yaml:11"):
        store.retrieve_card("llama3_8b")


def test_identical_definitions_in_two_sources_are_one_card(roots: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    system, user = roots
    copy = tmp_path / "copy"
    write(copy / "same.yaml", "# the same card, in another layout\nname: system_only\n"
          "description: from the system root\n")
    store = StandardAssetStore([FileAssetMetadataProvider(system, "system")],
                               [FileAssetMetadataProvider(copy, "user")], env_resolvers=[])
    card = store.retrieve_card("system_only")
    assert card.provenance.scope == "user"  # the first source searched
    assert card.provenance.file == str(copy / "same.yaml")


def test_not_found_suggests_close_names(store: StandardAssetStore) -> None:
    with pytest.raises(AssetCardNotFoundError) as info:
        store.retrieve_card("sharred")
    assert str(info.value) == "No card named 'sharred'; did you mean 'shared'?"
    with pytest.raises(AssetCardNotFoundError) as info:
        store.retrieve_card("zzzz")
    assert str(info.value) == "No card named 'zzzz'."
    with pytest.raises(AssetCardNotFoundError) as info:
        store.find_metadata("shared@gpx")
    assert str(info.value) == ("No card named 'shared@gpx'; did you mean 'shared@gpu', "
                               "'shared@cpu', 'shared'?")


def test_not_found_mentions_broken_files(store: StandardAssetStore,
                                         roots: tuple[Path, Path]) -> None:
    write(roots[0] / "broken.yaml", "name: [\n")
    store.clear_cache()
    with pytest.raises(AssetCardNotFoundError) as info:
        store.retrieve_card("zzzz")
    assert str(info.value) == ("No card named 'zzzz'. (1 problem(s) in card files may hide it; "
                               "run `cards list` to see them.)")
    assert [p.file for p in store.problems()] == ["broken.yaml"]


def test_add_providers(tmp_path: Path) -> None:
    write(tmp_path / "a" / "x.yaml", "name: x\n")
    write(tmp_path / "b" / "y.yaml", "name: y\n")
    store = StandardAssetStore(env_resolvers=[])
    store.add_file_metadata_provider(tmp_path / "a")
    store.add_file_metadata_provider(tmp_path / "b", user=True)
    store.add_package_metadata_provider("assetcards")
    assert store.retrieve_card("y", scope="user").provenance.scope == "user"
    assert store.retrieve_card("x", scope="system").provenance.scope == "system"
    assert "llama3_8b" in store.retrieve_names(scope="system")


# -- the default store ---------------------------------------------------------------------------


def test_locations_from_env(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert Locations.from_env({"HOME": str(home)}) == Locations(
        Path(DEFAULT_SYSTEM_DIR), home / ".config/fairseq2/assets", home / ".cache/fairseq2/assets")
    assert Locations.from_env({"HOME": str(home), "XDG_CONFIG_HOME": "/xdg/conf",
                               "XDG_CACHE_HOME": "/xdg/cache"}) == Locations(
        Path(DEFAULT_SYSTEM_DIR), Path("/xdg/conf/fairseq2/assets"),
        Path("/xdg/cache/fairseq2/assets"))
    assert Locations.from_env({"HOME": str(home), "FAIRSEQ2_ASSET_DIR": "/s",
                               "FAIRSEQ2_USER_ASSET_DIR": "~/u", "FAIRSEQ2_CACHE_DIR": "/c"}) == (
        Locations(Path("/s"), home / "u", Path("/c")))


def test_default_store_is_built_lazily_from_the_environment(
        locations: Locations, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store_module._default is None
    write(locations.system / "s.yaml", "name: sys_card\n")
    write(locations.user / "u.yaml", "name: user_card\n")
    store = assetcards.asset_store
    assert store is assetcards.asset_store is assetcards.default_asset_store()
    assert store.retrieve_card("sys_card").provenance.scope == "system"
    assert store.retrieve_card("user_card").provenance.scope == "user"
    # assetcards' example cards are not part of it.
    assert all(p.label != "package assetcards" for _, p in store.providers())


def test_default_user_root_from_xdg_config_home(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAIRSEQ2_USER_ASSET_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    write(tmp_path / "xdg" / "fairseq2" / "assets" / "u.yaml", "name: xdg_card\n")
    assert assetcards.retrieve_card("xdg_card", scope="user").name == "xdg_card"


def test_default_user_root_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAIRSEQ2_USER_ASSET_DIR")
    write(tmp_path / "home" / ".config" / "fairseq2" / "assets" / "u.yaml", "name: home_card\n")
    assert assetcards.retrieve_card("home_card").name == "home_card"


def test_missing_roots_are_skipped(locations: Locations) -> None:
    assert not locations.system.exists() and not locations.user.exists()
    assert assetcards.asset_store.problems() == []
    assert assetcards.asset_store.retrieve_names(scope="user") == []


def test_seed_example_works_as_written(tmp_path: Path) -> None:
    my_dir = tmp_path / "model_store"
    write(my_dir / "m.yaml", "name: my_model\nmodel_family: llama\ncheckpoint: m.pt\n")
    namespace: dict[str, object] = {"my_dir": my_dir}
    exec(  # the example from the fairseq2 documentation, with our package name
        "from assetcards import FileAssetMetadataProvider, asset_store\n"
        "asset_store.metadata_providers.append(FileAssetMetadataProvider(my_dir))\n"
        "card = asset_store.retrieve_card('my_model')\n", namespace)
    card = namespace["card"]
    assert isinstance(card, assetcards.AssetCard)
    assert card.field("checkpoint").as_uri() == (my_dir / "m.pt").as_uri()
    assert assetcards.retrieve_card("my_model").name == "my_model"  # the same default store


def test_retrieve_card_module_function(locations: Locations) -> None:
    write(locations.system / "s.yaml", "name: a\n---\nname: a@gpu\nx: 1\n")
    assert not assetcards.retrieve_card("a").field("x").exists()
    assert assetcards.retrieve_card("a", envs=["gpu"]).field("x").as_(int) == 1
    with pytest.raises(AssetCardNotFoundError):
        assetcards.retrieve_card("a", scope="user")


def test_unknown_module_attribute() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        assetcards.nope  # noqa: B018


def test_default_store_in_a_fresh_process(locations: Locations) -> None:
    """The import itself reads nothing: the store is built on first use, from the environment
    of that moment."""
    script = (
        "import os, assetcards\n"
        "from assetcards.sources import assetstore as store\n"
        "assert store._default is None\n"
        "os.environ['FAIRSEQ2_ASSET_DIR'] = os.environ['LATER_DIR']\n"
        "print(assetcards.asset_store.retrieve_card('late').provenance.scope)\n"
    )
    later = locations.system.parent / "later"
    write(later / "x.yaml", "name: late\n")
    env = dict(os.environ, LATER_DIR=str(later))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "system"
