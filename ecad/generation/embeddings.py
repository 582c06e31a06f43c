"""Prompt embeddings computed once and stored as safetensors.

The file holds one tensor per pipeline input (``prompt_embeds``, masks, pooled embeddings...)
with the prompt on the first axis, and metadata naming the family, weights and prompts, so a
generation run can check that it uses embeddings of the right model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load, save

from ecad.atomic import write_atomic
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
    # The table per (device, dtype), moved once: a batch's rows are then gathered on the device
    # instead of copying every image's embeddings from host memory each batch.
    _placed: dict[tuple[str, torch.dtype], dict[str, torch.Tensor]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __len__(self) -> int:
        return len(self.prompts)

    def rows(self, indices: Sequence[int], device: Any, dtype: torch.dtype) -> dict[str, Any]:
        """Embeddings of the given prompts, stacked in that order, on ``device``."""
        table = self.placed(device, dtype)
        index = torch.as_tensor(list(indices), dtype=torch.long).to(torch.device(device))
        return {name: t.index_select(0, index) for name, t in table.items()}

    def placed(self, device: Any, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """All prompts' tensors on ``device``, floating ones in ``dtype`` (cached)."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:  # "cuda" and "cuda:0": one copy
            device = torch.device("cuda", torch.cuda.current_device())
        key = (str(device), dtype)
        table = self._placed.get(key)
        if table is None:
            table = {
                name: t.to(device, dtype) if t.is_floating_point() else t.to(device)
                for name, t in self.tensors.items()
            }
            self._placed[key] = table
        return table

    def to_bytes(self) -> bytes:
        """The safetensors file, metadata included (what :meth:`save` writes)."""
        meta = {
            "family": self.family,
            "weights": self.weights,
            "prompts": json.dumps(list(self.prompts)),
        }
        return save({k: v.contiguous().cpu() for k, v in self.tensors.items()}, metadata=meta)

    def save(self, path: str | os.PathLike) -> Path:
        return write_atomic(path, self.to_bytes())

    @classmethod
    def from_bytes(
        cls, data: bytes, family: ModelFamily | None = None, source: str = "<embeddings>"
    ) -> PromptEmbeddings:
        """Parse and check a safetensors embeddings file (from disk or the object store)."""
        try:
            header_len = int.from_bytes(data[:8], "little")
            meta = json.loads(data[8 : 8 + header_len]).get("__metadata__") or {}
            tensors = load(data)
        except Exception as exc:  # safetensors raises several types for a bad file
            raise ConfigError(f"{source}: not a readable embeddings file ({exc})") from exc
        if "family" not in meta or "prompts" not in meta:
            raise ConfigError(
                f"{source}: embeddings file has no family/prompts metadata; rerun ecad embed"
            )
        emb = cls(
            meta["family"], meta.get("weights", ""), tuple(json.loads(meta["prompts"])), tensors
        )
        if family is not None and get_family(emb.family) is not family:
            raise ConfigError(f"{source}: embeddings are for {emb.family}, not {family.name}")
        expected = set(adapter_for(get_family(emb.family)).embedding_names)
        if set(tensors) != expected:
            raise ConfigError(
                f"{source}: tensors {sorted(tensors)} != expected {sorted(expected)}"
            )
        return emb

    @classmethod
    def load(cls, path: str | os.PathLike, family: ModelFamily | None = None) -> PromptEmbeddings:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read embeddings file ({exc.strerror})") from exc
        return cls.from_bytes(data, family, source=str(p))


@torch.no_grad()
def embed_prompts(
    pipe: Any,
    family: ModelFamily,
    prompts: Sequence[str],
    weights: str = "",
    batch_size: int = 16,
    on_batch: Callable[[int], None] | None = None,
) -> PromptEmbeddings:
    """Run the pipeline's text encoders once over ``prompts`` (in batches); ``on_batch(n)`` is
    called after each batch of ``n`` prompts (progress bars)."""
    if not prompts:
        raise ConfigError("no prompts to embed")
    adapter = adapter_for(family)
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(prompts), batch_size):
        chunk = adapter.embed(pipe, prompts[start : start + batch_size], family.max_sequence_length)
        for name, t in chunk.items():
            parts.setdefault(name, []).append(t.cpu())
        if on_batch is not None:
            on_batch(len(prompts[start : start + batch_size]))
    tensors = {name: torch.cat(ts) for name, ts in parts.items()}
    return PromptEmbeddings(family.name, weights, tuple(prompts), tensors)
