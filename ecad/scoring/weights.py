"""Reading model weights from disk without unpickling anything."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ecad.scoring.errors import ScorerError

__all__ = ["read_state_dict"]


def read_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """A state dict from ``.safetensors`` or a torch file loaded with ``weights_only=True``."""
    import torch

    p = Path(path)
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(p))
        else:
            state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch and safetensors raise many types for a bad file
        raise ScorerError(f"{p}: cannot read checkpoint as a tensor state dict ({exc})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict", state.get("model")), dict):
        state = state.get("state_dict", state.get("model"))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ScorerError(f"{p}: expected a dict of tensors (a state dict)")
    return state
