"""Prompt embeddings computed once and stored as safetensors.

The file holds one tensor per pipeline input (``prompt_embeds``, masks, pooled embeddings...)
with the prompt on the first axis, and metadata naming the family, weights and prompts, so a
generation run can check that it uses embeddings of the right model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ecad.errors import ConfigError
from ecad.families import ModelFamily, get_family
from ecad.generation.adapters import adapter_for

__all__ = ["PromptEmbeddings", "embed_prompts"]


@dataclass(frozen=True)
class PromptEmbeddings:
    family: str
    weights: str
    prompts: tuple[str, ...]
    tensors: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.prompts)

    def rows(self, indices: Sequence[int], device: Any, dtype: torch.dtype) -> dict[str, Any]:
        """Embeddings of the given prompts, stacked in that order, on ``device``."""
        index = torch.as_tensor(list(indices), dtype=torch.long)
        out = {}
        for name, t in self.tensors.items():
            picked = t.index_select(0, index).to(device)
            out[name] = picked.to(dtype) if picked.is_floating_point() else picked
        return out

    def save(self, path: str | os.PathLike) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "family": self.family,
            "weights": self.weights,
            "prompts": json.dumps(list(self.prompts)),
        }
        tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
        save_file({k: v.contiguous().cpu() for k, v in self.tensors.items()}, str(tmp), meta)
        os.replace(tmp, p)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike, family: ModelFamily | None = None) -> PromptEmbeddings:
        from safetensors import safe_open

        p = Path(path)
        try:
            with safe_open(str(p), framework="pt") as f:
                meta = f.metadata() or {}
            tensors = load_file(str(p))
        except Exception as exc:  # safetensors raises several types for a bad file
            raise ConfigError(f"{p}: not a readable embeddings file ({exc})") from exc
        if "family" not in meta or "prompts" not in meta:
            raise ConfigError(
                f"{p}: embeddings file has no family/prompts metadata; rerun ecad embed"
            )
        emb = cls(
            meta["family"], meta.get("weights", ""), tuple(json.loads(meta["prompts"])), tensors
        )
        if family is not None and get_family(emb.family) is not family:
            raise ConfigError(f"{p}: embeddings are for {emb.family}, not {family.name}")
        expected = set(adapter_for(get_family(emb.family)).embedding_names)
        if set(tensors) != expected:
            raise ConfigError(f"{p}: tensors {sorted(tensors)} != expected {sorted(expected)}")
        return emb


@torch.no_grad()
def embed_prompts(
    pipe: Any,
    family: ModelFamily,
    prompts: Sequence[str],
    weights: str = "",
    batch_size: int = 16,
) -> PromptEmbeddings:
    """Run the pipeline's text encoders once over ``prompts`` (in batches)."""
    if not prompts:
        raise ConfigError("no prompts to embed")
    adapter = adapter_for(family)
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(prompts), batch_size):
        chunk = adapter.embed(pipe, prompts[start : start + batch_size], family.max_sequence_length)
        for name, t in chunk.items():
            parts.setdefault(name, []).append(t.cpu())
    tensors = {name: torch.cat(ts) for name, ts in parts.items()}
    return PromptEmbeddings(family.name, weights, tuple(prompts), tensors)
