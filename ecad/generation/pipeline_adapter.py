"""The base of every pipeline adapter (:mod:`ecad.generation.adapters`): a module of its own so
that the built-in kinds and the derived families' adapter share it without importing each
other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ecad.errors import ConfigError

__all__ = ["PipelineAdapter", "Randn"]

#: ``randn(*shape)``: random values on the pipeline's device and dtype (random embeddings).
Randn = Callable[..., torch.Tensor]


class PipelineAdapter:
    kind: str = ""
    embedding_names: tuple[str, ...] = ()

    def embed(self, pipe: Any, prompts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def latents(
        self, pipe: Any, generators: Sequence[torch.Generator], height: int, width: int
    ) -> torch.Tensor:
        raise NotImplementedError

    def call_kwargs(self, embeddings: dict[str, torch.Tensor]) -> dict[str, Any]:
        return dict(embeddings)

    def guidance_kwargs(self, guidance: float, guidance_2: float | None = None) -> dict[str, Any]:
        """The pipeline arguments that carry the guidance value (and a two-expert pipeline's
        second one, which only such an adapter takes)."""
        if guidance_2 is not None:
            raise ConfigError(f"guidance_2={guidance_2}: {self.kind} pipelines run one "
                              "transformer and take one guidance")
        return {"guidance_scale": guidance}

    def random_embeddings(
        self, config: Any, batch: int, tokens: int, randn: Randn
    ) -> dict[str, torch.Tensor]:
        """Embeddings of the shapes the text encoders produce (timing without encoders)."""
        raise NotImplementedError

    def call_options(self, pipe: Any) -> dict[str, Any]:
        """Further keywords of every call of ``pipe`` (none for the built-in kinds)."""
        return {}

    def noise_kwargs(
        self,
        pipe: Any,
        generators: Sequence[torch.Generator],
        height: int,
        width: int,
        device: Any,
        dtype: torch.dtype,
    ) -> dict[str, Any]:
        """The call's initial noise: ``latents`` drawn here, one generator per image."""
        latents = self.latents(pipe, generators, height, width)
        return {"latents": latents.to(device=device, dtype=dtype)}
