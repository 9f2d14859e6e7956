"""A tiny model family for the loader tests: a 2-layer MLP and its named architectures.

Only `build_mlp` needs torch, so the configuration tests run without it."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Activation:
    name: str = "relu"
    slope: float = 0.01


@dataclass
class MlpConfig:
    dims: tuple[int, ...] = (4, 8, 2)
    bias: bool = True
    dropout: float = 0.0
    activation: Activation = field(default_factory=Activation)


ARCHS: dict[str, Any] = {
    "mlp_small": MlpConfig(),
    "mlp_wide": lambda: MlpConfig(dims=(4, 16, 2)),
}


def build_mlp(config: MlpConfig) -> Any:
    import torch

    layers: list[Any] = []
    for index, (n_in, n_out) in enumerate(zip(config.dims, config.dims[1:], strict=False)):
        if index:
            layers.append(torch.nn.LeakyReLU(config.activation.slope)
                          if config.activation.name == "leaky_relu" else torch.nn.ReLU())
        layers.append(torch.nn.Linear(n_in, n_out, bias=config.bias))
    return torch.nn.Sequential(*layers)


SAFETENSORS_DTYPES = {"torch.float32": "F32", "torch.float64": "F64", "torch.int64": "I64"}


def save_safetensors(tensors: dict[str, Any], path: Path) -> None:
    """Write TENSORS in the safetensors format (an 8-byte little-endian header size, a JSON
    header, the raw bytes). safetensors' own writer needs numpy, which the CI does not install;
    its reader does not."""
    import torch

    header: dict[str, Any] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, tensor in tensors.items():
        blob = bytes(tensor.contiguous().view(torch.uint8).flatten().tolist())
        header[name] = {"dtype": SAFETENSORS_DTYPES[str(tensor.dtype)],
                        "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header).encode("utf-8")
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
