"""ModelLoader: the family registry, model_config along the base chain, and real weights."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from assetcards.card.model import AssetCard
from assetcards.checkpoints import loader as loader_module
from assetcards.checkpoints.loader import ModelLoader, load_model, register_model_family
from assetcards.errors import DownloadError, ModelLoadError
from assetcards.locations import Locations
from assetcards.sources.assetstore import StandardAssetStore
from assetcards.sources.providers import FileAssetMetadataProvider

from ..conftest import REPO_ROOT
from ..http_server import serve
from .loader_mlp import ARCHS, Activation, MlpConfig, build_mlp, save_safetensors

CARDS = """\
name: mlp_base
model_family: mlp
model_arch: mlp_small
model_config: {{dropout: 0.5, activation: {{slope: 0.2}}}}
checkpoint: {checkpoint}
---
name: mlp_tuned
base: mlp_base
model_config: {{activation: {{name: leaky_relu}}}}
---
name: mlp_deep
base: mlp_tuned
model_config: {{dims: [4, 3, 2], dropout: 0}}
"""


def write_cards(root: Path, text: str) -> StandardAssetStore:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cards.yaml").write_text(text)
    return StandardAssetStore([FileAssetMetadataProvider(root)])


def mlp_loader(store: StandardAssetStore, locations: Locations) -> ModelLoader:
    loader = ModelLoader(store, locations=locations)
    loader.register_model_family("mlp", build_mlp, config_kls=MlpConfig, archs=ARCHS)
    return loader


@pytest.fixture
def store(tmp_path: Path) -> StandardAssetStore:
    return write_cards(tmp_path / "cards", CARDS.format(checkpoint="weights/mlp.safetensors"))


# -- configuration (no torch needed) --------------------------------------------------------


def test_model_config_merges_overrides_along_the_base_chain(store: StandardAssetStore,
                                                            locations: Locations) -> None:
    loader = mlp_loader(store, locations)
    assert loader.model_config("mlp_base") == MlpConfig(dropout=0.5,
                                                        activation=Activation(slope=0.2))
    assert loader.model_config("mlp_tuned") == MlpConfig(
        dropout=0.5, activation=Activation("leaky_relu", 0.2))
    assert loader.model_config("mlp_deep") == MlpConfig(
        dims=(4, 3, 2), dropout=0.0, activation=Activation("leaky_relu", 0.2))
    assert ARCHS["mlp_small"] == MlpConfig()  # the registry is never changed


def test_callable_architectures_and_default_arch(locations: Locations) -> None:
    loader = ModelLoader(StandardAssetStore(), locations=locations)
    loader.register_model_family("mlp", build_mlp, config_kls=MlpConfig, archs=ARCHS,
                                 default_arch="mlp_wide")
    assert loader.model_config(AssetCard("m", {"model_family": "mlp"})).dims == (4, 16, 2)
    loader.register_arch("mlp", "mlp_tiny", MlpConfig(dims=(4, 1)))
    card = AssetCard("m", {"model_family": "mlp", "model_arch": "mlp_tiny"})
    assert loader.model_config(card).dims == (4, 1)


def test_dict_configurations(locations: Locations) -> None:
    loader = ModelLoader(StandardAssetStore(), locations=locations)
    loader.register_model_family("toy", dict, archs={"a": {"dims": [1, 2], "act": {"n": "x"}}})
    base = AssetCard("b", {"model_family": "toy", "model_arch": "a",
                           "model_config": {"act": {"k": 1}}})
    card = AssetCard("c", {"model_config": {"dims": [3]}}, base)
    assert loader.model_config(card) == {"dims": [3], "act": {"n": "x", "k": 1}}


def error_of(loader: ModelLoader, card: AssetCard) -> str:
    with pytest.raises(ModelLoadError) as info:
        loader.model_config(card)
    return str(info.value)


def test_unknown_family_arch_and_non_model_cards(store: StandardAssetStore,
                                                 locations: Locations) -> None:
    loader = mlp_loader(store, locations)
    assert error_of(loader, AssetCard("x", {"model_family": "gpt"})) == (
        "The card 'x' has model_family 'gpt', which has no loader (registered families: "
        "'mlp'); register it with register_model_family() (inproc inproc).")
    assert error_of(loader, AssetCard("x", {"model_family": "mlp", "model_arch": "huge"})) == (
        "The card 'x' has model_arch 'huge', which is not an architecture of the model family "
        "'mlp' (known: 'mlp_small', 'mlp_wide') (inproc inproc).")
    assert error_of(loader, AssetCard("x", {"tokenizer_family": "bpe"})) == (
        "The card 'x' has no 'model_family' field, so it is not a model card (inproc inproc).")


def test_family_without_arch_or_defaults(locations: Locations) -> None:
    loader = ModelLoader(StandardAssetStore(), locations=locations)
    loader.register_model_family("toy", dict, archs={"a": {}})
    assert error_of(loader, AssetCard("x", {"model_family": "toy"})) == (
        "The card 'x' has no model_arch, and the model family 'toy' has no default "
        "architecture (inproc inproc).")
    loader.register_model_family("mlp", build_mlp, config_kls=MlpConfig)
    assert loader.model_config(AssetCard("y", {"model_family": "mlp"})) == MlpConfig()


def test_bad_overrides_name_the_card_and_the_key(tmp_path: Path, locations: Locations) -> None:
    store = write_cards(tmp_path / "c", textwrap.dedent("""\
        name: typo
        model_family: mlp
        model_arch: mlp_small
        model_config: {activation: {slop: 0.1}}
        ---
        name: wrong_type
        model_family: mlp
        model_arch: mlp_small
        model_config: {bias: "yes"}
        ---
        name: not_a_mapping
        model_family: mlp
        model_arch: mlp_small
        model_config: [1, 2]
        """))
    loader = mlp_loader(store, locations)
    where = f"directory {tmp_path / 'c'}: {tmp_path / 'c' / 'cards.yaml'}"
    assert error_of(loader, store.retrieve_card("typo")) == (
        "The card 'typo' sets model_config.activation.slop, but Activation has no field 'slop' "
        f"(fields: name, slope) ({where}:1).")
    assert error_of(loader, store.retrieve_card("wrong_type")) == (
        "The card 'wrong_type' sets model_config.bias to 'yes', but it must be of type bool "
        f"({where}:6).")
    assert error_of(loader, store.retrieve_card("not_a_mapping")) == (
        "The field 'model_config' of the card 'not_a_mapping' must be a mapping, not list "
        f"({where}:11).")


def test_registering_twice_is_refused(locations: Locations) -> None:
    loader = ModelLoader(StandardAssetStore(), locations=locations)
    loader.register_model_family("mlp", build_mlp)
    with pytest.raises(ValueError, match="already registered"):
        loader.register_model_family("mlp", build_mlp)
    loader.register_model_family("mlp", build_mlp, archs=ARCHS, replace=True)
    assert sorted(loader.families["mlp"].archs) == ["mlp_small", "mlp_wide"]


def test_the_package_and_cli_work_without_torch(tmp_path: Path) -> None:
    script = textwrap.dedent("""\
        import sys
        sys.modules["torch"] = None  # any `import torch` now fails
        import assetcards, assetcards.checkpoints.download, assetcards.cli.fetch_cmds
        from assetcards.card.model import AssetCard
        from assetcards.errors import ModelLoadError
        from assetcards.checkpoints.loader import ModelLoader
        from assetcards.sources.assetstore import StandardAssetStore
        loader = ModelLoader(StandardAssetStore())
        loader.register_model_family("toy", dict, archs={"a": {}})
        try:
            loader.load_model(AssetCard("x", {"model_family": "toy", "model_arch": "a"}))
        except ModelLoadError as exc:
            print(exc)
        """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == ("Loading the model of the card 'x' needs PyTorch and safetensors: "
                             "pip install 'assetcards[torch]'.\n")


# -- real weights (torch) -------------------------------------------------------------------


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")


def trained(torch: Any, config: MlpConfig) -> tuple[Any, Any, Any]:
    """A model with random weights, an input and its output before any round trip."""
    torch.manual_seed(0)
    model = build_mlp(config).eval()
    inputs = torch.randn(5, config.dims[0])
    with torch.no_grad():
        return model, inputs, model(inputs)


def save(torch: Any, state_dict: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_safetensors(state_dict, path)
    else:
        torch.save(state_dict, path)


def assert_same_outputs(torch: Any, model: Any, inputs: Any, expected: Any) -> None:
    with torch.no_grad():
        assert torch.equal(model(inputs), expected)
    assert not model.training


@pytest.mark.parametrize("file_name", ["mlp.safetensors", "mlp.pt", "mlp-no-suffix"])
def test_round_trip_from_a_relative_path(torch: Any, tmp_path: Path, locations: Locations,
                                         file_name: str) -> None:
    store = write_cards(tmp_path / "cards", CARDS.format(checkpoint=f"weights/{file_name}"))
    loader = mlp_loader(store, locations)
    config = loader.model_config("mlp_tuned")
    model, inputs, expected = trained(torch, config)
    save(torch, model.state_dict(), tmp_path / "cards" / "weights" / file_name)
    assert_same_outputs(torch, loader.load_model("mlp_tuned"), inputs, expected)


def test_round_trip_over_http_with_a_wrapped_state_dict(torch: Any, tmp_path: Path,
                                                        locations: Locations) -> None:
    model, inputs, expected = trained(torch, MlpConfig())
    save(torch, {"model": model.state_dict(), "step": 7}, tmp_path / "ckpt.pt")
    with serve({"/ckpt.pt": (tmp_path / "ckpt.pt").read_bytes()}) as running:
        card = AssetCard("http_mlp", {"model_family": "mlp", "model_arch": "mlp_small",
                                      "checkpoint": running.url("/ckpt.pt")})
        loader = mlp_loader(StandardAssetStore(), locations)
        assert_same_outputs(torch, loader.load_model(card), inputs, expected)
        with torch.no_grad():
            expected64 = model.double()(inputs.double())
        assert_same_outputs(torch, loader.load_model(card, dtype=torch.float64),
                            inputs.double(), expected64)
        assert running.count() == 1


def test_sharded_safetensors(torch: Any, tmp_path: Path, locations: Locations) -> None:
    model, inputs, expected = trained(torch, MlpConfig())
    weights = model.state_dict()
    for index, prefix in enumerate(["0.", "2."]):
        part = {k: v for k, v in weights.items() if k.startswith(prefix)}
        save(torch, part, tmp_path / "w" / f"shard-{index:02d}.safetensors")
    card = AssetCard("sharded", {"model_family": "mlp", "model_arch": "mlp_small",
                                 "num_shards": 2, "checkpoint": "w/shard-{shard_idx:02d}."
                                 "safetensors"}, base_path=tmp_path)
    loader = mlp_loader(StandardAssetStore(), locations)
    assert_same_outputs(torch, loader.load_model(card), inputs, expected)


def test_a_state_dict_that_does_not_fit(torch: Any, tmp_path: Path,
                                        locations: Locations) -> None:
    model, _, _ = trained(torch, MlpConfig())
    weights = dict(model.state_dict())
    weights["extra.weight"] = torch.zeros(1)
    del weights["2.bias"]
    save(torch, weights, tmp_path / "w.pt")
    card = AssetCard("misfit", {"model_family": "mlp", "model_arch": "mlp_wide",
                                "checkpoint": (tmp_path / "w.pt").as_uri()})
    with pytest.raises(ModelLoadError) as info:
        mlp_loader(StandardAssetStore(), locations).load_model(card)
    assert str(info.value) == (
        f"The checkpoint of the card 'misfit' ({(tmp_path / 'w.pt').as_uri()}) does not fit "
        "the model (model_family 'mlp', model_arch 'mlp_wide'): missing keys: 2.bias; "
        "unexpected keys: extra.weight; wrong shapes: 0.bias (model (16,), checkpoint (8,)), "
        "0.weight (model (16, 4), checkpoint (8, 4)), 2.weight (model (2, 16), checkpoint "
        "(2, 8)).")


class Payload:
    """Not a tensor: torch.load(weights_only=True) must refuse to unpickle it."""


def test_pickles_beyond_weights_are_refused(torch: Any, tmp_path: Path,
                                            locations: Locations) -> None:
    torch.save({"0.weight": Payload()}, tmp_path / "evil.pt")
    uri = (tmp_path / "evil.pt").as_uri()
    card = AssetCard("evil", {"model_family": "mlp", "model_arch": "mlp_small",
                              "checkpoint": uri})
    with pytest.raises(ModelLoadError) as info:
        mlp_loader(StandardAssetStore(), locations).load_model(card)
    assert str(info.value).startswith(
        f"The checkpoint of the card 'evil' ({uri}) cannot be read as safetensors or PyTorch "
        f"weights ({tmp_path / 'evil.pt'}): ")


def test_not_a_state_dict(torch: Any, tmp_path: Path, locations: Locations) -> None:
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    uri = (tmp_path / "list.pt").as_uri()
    card = AssetCard("odd", {"model_family": "mlp", "model_arch": "mlp_small",
                             "checkpoint": uri})
    with pytest.raises(ModelLoadError) as info:
        mlp_loader(StandardAssetStore(), locations).load_model(card)
    assert str(info.value) == (f"The checkpoint of the card 'odd' ({uri}) does not hold a state "
                               "dict (a mapping of names to tensors).")


def test_missing_checkpoint_field(torch: Any, locations: Locations) -> None:
    card = AssetCard("nock", {"model_family": "mlp", "model_arch": "mlp_small"})
    with pytest.raises(DownloadError) as info:
        mlp_loader(StandardAssetStore(), locations).load_model(card)
    assert str(info.value) == ("The card 'nock' has no 'checkpoint' field, so there is nothing "
                               "to fetch (card from inproc inproc).")


@pytest.fixture
def fresh_default_loader(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(loader_module, "_default", None)
    yield


def test_module_level_api_uses_the_default_store(torch: Any, locations: Locations,
                                                 fresh_default_loader: None) -> None:
    config = replace(MlpConfig(), dims=(4, 5, 2))
    model, inputs, expected = trained(torch, config)
    save(torch, model.state_dict(), locations.system / "w" / "five.safetensors")
    (locations.system / "five.yaml").write_text(
        "name: mlp_five\nmodel_family: mlp\nmodel_arch: mlp_small\n"
        "model_config: {dims: [4, 5, 2]}\ncheckpoint: w/five.safetensors\n")
    register_model_family("mlp", build_mlp, config_kls=MlpConfig, archs=ARCHS)
    assert_same_outputs(torch, load_model("mlp_five"), inputs, expected)


def test_bundled_example_cards_resolve_their_sharded_checkpoint(locations: Locations) -> None:
    from assetcards.checkpoints.download import checkpoint_sources

    store = StandardAssetStore([FileAssetMetadataProvider(REPO_ROOT / "cards")])
    card = store.retrieve_card("llama3_70b")
    sources = checkpoint_sources(card, card.field("checkpoint").as_uri())
    assert [s.name for s in sources] == [f"consolidated.{i:02d}.pth" for i in range(8)]
    assert sources[7].uri.endswith("/original/consolidated.07.pth")
