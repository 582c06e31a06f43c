"""The calling conventions of each pipeline kind: how to embed prompts, make initial latents and
call the pipeline from precomputed embeddings. Families name their kind; everything else in the
library stays kind-agnostic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ecad.errors import FamilyError
from ecad.families import ModelFamily
from ecad.families.loading import TEXT_COMPONENTS

__all__ = ["PipelineAdapter", "adapter_for"]


class PipelineAdapter:
    kind: str = ""
    text_components: tuple[str, ...] = ()
    embedding_names: tuple[str, ...] = ()

    def embed(self, pipe: Any, prompts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def latents(
        self, pipe: Any, generators: Sequence[torch.Generator], height: int, width: int
    ) -> torch.Tensor:
        raise NotImplementedError

    def call_kwargs(self, embeddings: dict[str, torch.Tensor]) -> dict[str, Any]:
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


def _randn(generators: Sequence[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
    # One CPU generator per image: the noise of an image does not depend on its batch.
    return torch.cat([torch.randn((1, *shape), generator=g) for g in generators])


class PixArtAdapter(PipelineAdapter):
    kind = "pixart"
    text_components = TEXT_COMPONENTS["pixart"]
    embedding_names = (
        "prompt_embeds",
        "prompt_attention_mask",
        "negative_prompt_embeds",
        "negative_prompt_attention_mask",
    )

    def embed(self, pipe: Any, prompts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        pe, pm, ne, nm = pipe.encode_prompt(
            list(prompts),
            do_classifier_free_guidance=True,
            negative_prompt="",
            num_images_per_prompt=1,
            device=pipe._execution_device,
            clean_caption=False,
            max_sequence_length=max_length,
        )
        return dict(zip(self.embedding_names, (pe, pm, ne, nm)))

    def latents(self, pipe, generators, height, width):
        channels = pipe.transformer.config.in_channels
        f = pipe.vae_scale_factor
        return _randn(generators, (channels, height // f, width // f))

    def call_kwargs(self, embeddings):
        # negative_prompt=None: the negative embeddings are given; binning off so any size works.
        return {
            **embeddings,
            "negative_prompt": None,
            "use_resolution_binning": False,
            "clean_caption": False,
        }


class FluxAdapter(PipelineAdapter):
    kind = "flux"
    text_components = TEXT_COMPONENTS["flux"]
    embedding_names = ("prompt_embeds", "pooled_prompt_embeds")

    def embed(self, pipe, prompts, max_length):
        pe, pooled, _ = pipe.encode_prompt(
            prompt=list(prompts),
            prompt_2=None,
            device=pipe._execution_device,
            num_images_per_prompt=1,
            max_sequence_length=max_length,
        )
        return {"prompt_embeds": pe, "pooled_prompt_embeds": pooled}

    def latents(self, pipe, generators, height, width):
        channels = pipe.transformer.config.in_channels // 4
        f = pipe.vae_scale_factor
        h, w = 2 * (height // (f * 2)), 2 * (width // (f * 2))
        noise = _randn(generators, (channels, h, w))
        return pipe._pack_latents(noise, noise.shape[0], channels, h, w)

    def call_kwargs(self, embeddings):
        return dict(embeddings)


_ADAPTERS = {a.kind: a for a in (PixArtAdapter(), FluxAdapter())}


def adapter_for(family: ModelFamily) -> PipelineAdapter:
    if family.derived:
        from ecad.generation.derived_adapter import DerivedAdapter

        return DerivedAdapter(family)
    try:
        return _ADAPTERS[family.kind]
    except KeyError:
        raise FamilyError(f"family {family.name} has unknown kind {family.kind!r}") from None
