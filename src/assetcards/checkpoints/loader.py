"""ModelLoader: from a model card to a model in memory.

A model family is registered once with a factory (configuration -> model) and its named
architectures (`model_arch` -> configuration). To load a card, the loader takes the card's
architecture, merges the card's `model_config` overrides over it (along the base chain: a card's
own values win over its base's), builds the model, fetches the checkpoint through the checkpoint
cache and loads its weights: safetensors files, or PyTorch files read with
`torch.load(..., weights_only=True)`.

PyTorch is optional (`pip install 'assetcards[torch]'`): it is imported only when weights are
read, so registering families and resolving configurations work without it.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..card.model import AssetCard
from ..errors import ModelLoadError
from ..locations import Locations
from ..sources.assetstore import AssetStore, default_asset_store
from .download import Checkpoint, DownloadOptions, EventCallback, fetch_checkpoint

ModelFactory = Callable[[Any], Any]  # configuration -> model (a torch.nn.Module)
StateDictConverter = Callable[[dict[str, Any], Any], dict[str, Any]]  # (state dict, config)
ShardMerger = Callable[[list[dict[str, Any]], Any], dict[str, Any]]  # (shards, config)
CONFIG_FIELD = "model_config"
WRAPPER_KEYS = ("model", "state_dict")  # checkpoints that hold the state dict under a key
SHOWN = 5  # how many keys an error lists before "and N more"


@dataclass
class ModelFamily:
    """How to build the models of one `model_family`."""

    name: str
    factory: ModelFactory
    config_kls: type[Any] | None = None  # a dataclass; None when configurations are dicts
    archs: dict[str, Any] = field(default_factory=dict)  # name -> config, or a callable
    default_arch: str | None = None  # for cards without `model_arch`
    state_dict_converter: StateDictConverter | None = None
    shard_merger: ShardMerger | None = None

    def arch_config(self, arch: str) -> Any:
        """A fresh copy of the configuration of ARCH (which must be registered)."""
        value = self.archs[arch]
        if callable(value) and not _is_config(value):
            return value()
        return copy.deepcopy(value)


def _is_config(value: Any) -> bool:
    return isinstance(value, Mapping) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type))


class ModelLoader:
    """Loads models from cards, with a registry of model families and their architectures."""

    def __init__(
        self,
        store: AssetStore | None = None,
        *,
        locations: Locations | None = None,
        download_options: DownloadOptions | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self._store = store
        self.locations = locations
        self.download_options = download_options
        self.on_event = on_event
        self.families: dict[str, ModelFamily] = {}

    # -- the registry -------------------------------------------------------------------------

    def register_model_family(
        self,
        family: str,
        factory: ModelFactory,
        *,
        config_kls: type[Any] | None = None,
        archs: Mapping[str, Any] | None = None,
        default_arch: str | None = None,
        state_dict_converter: StateDictConverter | None = None,
        shard_merger: ShardMerger | None = None,
        replace: bool = False,
    ) -> ModelFamily:
        """Map the model_family FAMILY to FACTORY and its named architectures."""
        if family in self.families and not replace:
            raise ValueError(f"The model family {family!r} is already registered.")
        if default_arch is not None and default_arch not in (archs or {}):
            raise ValueError(f"The default architecture {default_arch!r} of the model family "
                             f"{family!r} is not one of its architectures.")
        entry = ModelFamily(family, factory, config_kls, dict(archs or {}), default_arch,
                            state_dict_converter, shard_merger)
        self.families[family] = entry
        return entry

    def register_arch(self, family: str, arch: str, config: Any) -> None:
        """Add the architecture ARCH (a configuration, or a callable returning one)."""
        if family not in self.families:
            raise ValueError(f"The model family {family!r} is not registered.")
        self.families[family].archs[arch] = config

    # -- from a card to a configuration -------------------------------------------------------

    @property
    def store(self) -> AssetStore:
        return self._store if self._store is not None else default_asset_store()

    def card(self, name_or_card: str | AssetCard) -> AssetCard:
        if isinstance(name_or_card, AssetCard):
            return name_or_card
        return self.store.retrieve_card(name_or_card)

    def family_of(self, card: AssetCard) -> ModelFamily:
        name = card.field("model_family").get_as_(str)
        if name is None:
            raise ModelLoadError(f"The card {card.name!r} has no 'model_family' field, so it is "
                                 f"not a model card ({card.provenance}).")
        family = self.families.get(name)
        if family is None:
            known = ", ".join(map(repr, sorted(self.families))) or "none"
            raise ModelLoadError(
                f"The card {card.name!r} has model_family {name!r}, which has no loader "
                f"(registered families: {known}); register it with register_model_family() "
                f"({card.provenance}).")
        return family

    def arch_of(self, card: AssetCard, family: ModelFamily) -> str | None:
        arch = card.field("model_arch").get_as_(str, family.default_arch)
        if arch is not None and arch not in family.archs:
            known = ", ".join(map(repr, sorted(family.archs))) or "none"
            raise ModelLoadError(
                f"The card {card.name!r} has model_arch {arch!r}, which is not an architecture "
                f"of the model family {family.name!r} (known: {known}) ({card.provenance}).")
        return arch

    def model_config(self, name_or_card: str | AssetCard) -> Any:
        """The card's architecture with its `model_config` overrides applied."""
        card = self.card(name_or_card)
        family = self.family_of(card)
        arch = self.arch_of(card, family)
        if arch is not None:
            base = family.arch_config(arch)
        elif family.config_kls is not None:
            base = family.config_kls()
        else:
            raise ModelLoadError(
                f"The card {card.name!r} has no model_arch, and the model family "
                f"{family.name!r} has no default architecture ({card.provenance}).")
        return apply_overrides(card, base, merged_overrides(card), [CONFIG_FIELD])

    # -- loading ------------------------------------------------------------------------------

    def load_model(
        self,
        name_or_card: str | AssetCard,
        *,
        device: Any = None,
        dtype: Any = None,
    ) -> Any:
        """Build the card's model, load its checkpoint's weights, and return it in eval mode."""
        card = self.card(name_or_card)
        family = self.family_of(card)
        config = self.model_config(card)
        _import("torch", card)  # before a long download: fail fast without PyTorch
        checkpoint = fetch_checkpoint(card, locations=self.locations,
                                      options=self.download_options, on_event=self.on_event)
        state_dict = read_state_dict(card, checkpoint, family, config)
        model = family.factory(config)
        load_into(card, checkpoint, family, model, state_dict)
        if device is not None or dtype is not None:
            model.to(device=device, dtype=dtype)
        model.eval()
        return model


# -- model_config overrides -----------------------------------------------------------------


def merged_overrides(card: AssetCard) -> dict[str, Any]:
    """Every `model_config` along the base chain, deep-merged: nearer cards win."""
    merged: dict[str, Any] = {}
    for owner in reversed(card.base_chain()):
        value = owner.metadata.get(CONFIG_FIELD)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise ModelLoadError(f"The field {CONFIG_FIELD!r} of the card {owner.name!r} must "
                                 f"be a mapping, not {type(value).__name__} ({owner.provenance}).")
        merged = _deep_merge(merged, value)
    return merged


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_overrides(card: AssetCard, config: Any, overrides: Mapping[str, Any],
                    path: list[str]) -> Any:
    """CONFIG (a dataclass or a mapping) with OVERRIDES applied, checked field by field."""
    if not overrides:
        return config
    if isinstance(config, Mapping):
        return _deep_merge(config, overrides)
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ModelLoadError(f"The card {card.name!r} sets {'.'.join(path)}, but the "
                             f"configuration there is a {type(config).__name__}, which has no "
                             f"fields to override ({card.provenance}).")
    names = [f.name for f in dataclasses.fields(config)]
    changes = {key: _override(card, config, names, key, value, path + [str(key)])
               for key, value in overrides.items()}
    return dataclasses.replace(config, **changes)


def _override(card: AssetCard, config: Any, names: list[str], key: str, value: Any,
              path: list[str]) -> Any:
    if key not in names:
        raise ModelLoadError(
            f"The card {card.name!r} sets {'.'.join(path)}, but {type(config).__name__} has no "
            f"field {key!r} (fields: {', '.join(names)}) ({card.provenance}).")
    current = getattr(config, key)
    if isinstance(value, Mapping) and (isinstance(current, Mapping) or (
            dataclasses.is_dataclass(current) and not isinstance(current, type))):
        return apply_overrides(card, current, value, path)
    return _coerce(card, current, value, path)


def _coerce(card: AssetCard, current: Any, value: Any, path: list[str]) -> Any:
    """VALUE in the shape of CURRENT: a list becomes a tuple, an int a float; else checked."""
    if isinstance(current, tuple) and isinstance(value, list):
        return tuple(value)
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    scalar = (bool, int, float, str)
    if current is None or value is None or not isinstance(current, scalar):
        return value
    if type(value) is not type(current):
        raise ModelLoadError(
            f"The card {card.name!r} sets {'.'.join(path)} to {value!r}, but it must be of type "
            f"{type(current).__name__} ({card.provenance}).")
    return value


# -- weights --------------------------------------------------------------------------------


def _import(module: str, card: AssetCard) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelLoadError(f"Loading the model of the card {card.name!r} needs PyTorch and "
                             "safetensors: pip install 'assetcards[torch]'.") from None


def is_safetensors(path: Path) -> bool:
    """Whether PATH looks like a safetensors file: a little-endian header size, then JSON."""
    with path.open("rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 0 < int.from_bytes(head[:8], "little") < path.stat().st_size


def read_weights(card: AssetCard, uri: str, path: Path) -> dict[str, Any]:
    """The tensors of one checkpoint file (safetensors, or PyTorch with weights_only=True)."""
    torch = _import("torch", card)
    try:
        if is_safetensors(path):
            loaded: Any = _import("safetensors.torch", card).load_file(str(path), device="cpu")
        else:
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except ModelLoadError:
        raise
    except Exception as exc:  # torch and safetensors raise many kinds; report them as one
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"The checkpoint of the card {card.name!r} ({uri}) cannot be read "
                             f"as safetensors or PyTorch weights ({path}): {reason}") from None
    return _unwrap(card, uri, loaded, torch)


def _unwrap(card: AssetCard, uri: str, loaded: Any, torch: Any) -> dict[str, Any]:
    if isinstance(loaded, Mapping):
        for key in WRAPPER_KEYS:
            inner = loaded.get(key)
            if isinstance(inner, Mapping):
                loaded = inner
                break
        if all(isinstance(v, torch.Tensor) for v in loaded.values()):
            return dict(loaded)
    raise ModelLoadError(f"The checkpoint of the card {card.name!r} ({uri}) does not hold a "
                         "state dict (a mapping of names to tensors).")


def read_state_dict(card: AssetCard, checkpoint: Checkpoint, family: ModelFamily,
                    config: Any) -> dict[str, Any]:
    """Every shard read and merged, then converted by the family's converter."""
    shards = [read_weights(card, checkpoint.uri, path) for path in checkpoint.files]
    if family.shard_merger is not None and len(shards) > 1:
        state_dict = family.shard_merger(shards, config)
    else:
        state_dict = _merge_shards(card, checkpoint, shards)
    if family.state_dict_converter is not None:
        state_dict = family.state_dict_converter(state_dict, config)
    return state_dict


def _merge_shards(card: AssetCard, checkpoint: Checkpoint,
                  shards: Sequence[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    owner: dict[str, int] = {}
    for index, shard in enumerate(shards):
        for key, value in shard.items():
            if key in owner:
                raise ModelLoadError(
                    f"The checkpoint of the card {card.name!r} ({checkpoint.uri}) has the key "
                    f"{key!r} in shards {owner[key]} and {index}; a family with split tensors "
                    "needs a shard_merger.")
            owner[key] = index
            merged[key] = value
    return merged


def _listed(items: Sequence[str]) -> str:
    text = ", ".join(items[:SHOWN])
    return text + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def misfit(model: Any, state_dict: Mapping[str, Any]) -> list[str]:
    """How STATE_DICT does not fit MODEL: missing and unexpected keys, wrong shapes."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(getattr(v, "shape", ())) for k, v in state_dict.items()}
    problems = []
    missing = sorted(expected.keys() - got.keys())
    unexpected = sorted(got.keys() - expected.keys())
    shapes = [f"{k} (model {expected[k]}, checkpoint {got[k]})"
              for k in sorted(expected.keys() & got.keys()) if expected[k] != got[k]]
    if missing:
        problems.append(f"missing keys: {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listed(unexpected)}")
    if shapes:
        problems.append(f"wrong shapes: {_listed(shapes)}")
    return problems


def load_into(card: AssetCard, checkpoint: Checkpoint, family: ModelFamily, model: Any,
              state_dict: Mapping[str, Any]) -> None:
    """Load STATE_DICT into MODEL, or say precisely why it does not fit."""
    problems = misfit(model, state_dict)
    arch = card.field("model_arch").get_as_(str, family.default_arch)
    what = f"model_family {family.name!r}" + (f", model_arch {arch!r}" if arch else "")
    if not problems:
        try:
            model.load_state_dict(state_dict, strict=True)
            return
        except RuntimeError as exc:
            problems = [str(exc).strip().splitlines()[0]]
    raise ModelLoadError(f"The checkpoint of the card {card.name!r} ({checkpoint.uri}) does not "
                         f"fit the model ({what}): {'; '.join(problems)}.")


# -- the process-wide loader ----------------------------------------------------------------

_default: ModelLoader | None = None


def default_model_loader() -> ModelLoader:
    """The process-wide loader, reading cards from the default asset store."""
    global _default
    if _default is None:
        _default = ModelLoader()
    return _default


def register_model_family(family: str, factory: ModelFactory, **kwargs: Any) -> ModelFamily:
    """`register_model_family` on the process-wide loader."""
    return default_model_loader().register_model_family(family, factory, **kwargs)


def load_model(name_or_card: str | AssetCard, **kwargs: Any) -> Any:
    """`load_model` on the process-wide loader."""
    return default_model_loader().load_model(name_or_card, **kwargs)
