"""A derived family's transformer inputs (for tracing and for cost tables), from the symbolic
shapes its record gives (``cost.inputs``): integers, transformer config keys, and the symbols
``batch``, ``text`` (text tokens), ``latent`` (latent side), ``half_latent`` and ``tokens``
(``half_latent ** 2``, the packed 2x2 latent tokens of FLUX-style models)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ecad.errors import FamilyError

__all__ = ["input_tensors", "symbol_values"]


def symbol_values(batch: int, text: int, latent: int) -> dict[str, int]:
    half = latent // 2
    return {"batch": batch, "text": text, "latent": latent, "half_latent": half,
            "tokens": half * half}


def input_tensors(
    inputs: Mapping[str, Any],
    config: Mapping[str, Any],
    symbols: Mapping[str, int],
    device: str | torch.device = "meta",
) -> dict[str, torch.Tensor]:
    """One tensor per input: ``ones`` for masks, timesteps and ids, ``randn`` for features."""
    out: dict[str, torch.Tensor] = {}
    meta = torch.device(device).type == "meta"
    gen = torch.Generator().manual_seed(0)
    for name, spec in inputs.items():
        shape = []
        for dim in spec["shape"]:
            value = dim if isinstance(dim, int) else symbols.get(dim, config.get(dim))
            if isinstance(value, bool) or not isinstance(value, int):
                raise FamilyError(
                    f"cost input {name}: dimension {dim!r} is {value!r} in this transformer config;"
                    " edit cost.inputs in the family record"
                )
            shape.append(value)
        dtype = getattr(torch, spec.get("dtype", "float32"))
        if meta:
            out[name] = torch.ones(shape, dtype=dtype, device="meta")
        elif dtype.is_floating_point and len(shape) >= 2:
            out[name] = torch.randn(shape, generator=gen, dtype=dtype).to(device)
        else:
            out[name] = torch.ones(shape, dtype=dtype, device=device)
    return out
