"""The calling conventions of each pipeline kind: how to embed prompts, make initial latents,
pass guidance and call the pipeline from precomputed embeddings. Families name their kind;
everything else in the library stays kind-agnostic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ecad.errors import FamilyError
from ecad.families import ModelFamily
from ecad.generation.derived_adapter import DerivedAdapter
from ecad.generation.pipeline_adapter import PipelineAdapter, Randn

__all__ = ["PipelineAdapter", "adapter_for"]

def _randn(generators: Sequence[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
    # One CPU generator per image: the noise of an image does not depend on its batch.
    return torch.cat([torch.randn((1, *shape), generator=g) for g in generators])


def _with_masks(
    names: Sequence[str], batch: int, tokens: int, width: int, randn: Randn
) -> dict[str, torch.Tensor]:
    """Positive and negative embeddings with all-ones masks, in ``names``' order (embeds, mask,
    negative embeds, negative mask)."""
    mask = torch.ones(batch, tokens, dtype=torch.long)
    values = (randn(batch, tokens, width), mask, randn(batch, tokens, width), mask.clone())
    return dict(zip(names, values))


def _packed_size(pipe: Any, height: int, width: int) -> tuple[int, int]:
    """Latent height and width rounded down to even, for pipelines that pack 2x2 patches."""
    f = pipe.vae_scale_factor
    return 2 * (height // (f * 2)), 2 * (width // (f * 2))


class PixArtAdapter(PipelineAdapter):
    kind = "pixart"
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

    def random_embeddings(self, config, batch, tokens, randn):
        return _with_masks(self.embedding_names, batch, tokens, config.caption_channels, randn)


class FluxAdapter(PipelineAdapter):
    kind = "flux"
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
        h, w = _packed_size(pipe, height, width)
        noise = _randn(generators, (channels, h, w))
        return pipe._pack_latents(noise, noise.shape[0], channels, h, w)

    def random_embeddings(self, config, batch, tokens, randn):
        return {
            "prompt_embeds": randn(batch, tokens, config.joint_attention_dim),
            "pooled_prompt_embeds": randn(batch, config.pooled_projection_dim),
        }


#: CLIP tokens SD3 puts before the T5 tokens (both CLIP encoders' hidden states, side by side).
SD3_CLIP_TOKENS = 77


class SD3Adapter(PipelineAdapter):
    """Stable Diffusion 3/3.5: two CLIP encoders and T5; both guidance halves in one batch."""

    kind = "sd3"
    embedding_names = (
        "prompt_embeds",
        "negative_prompt_embeds",
        "pooled_prompt_embeds",
        "negative_pooled_prompt_embeds",
    )

    def embed(self, pipe, prompts, max_length):
        out = pipe.encode_prompt(
            prompt=list(prompts),
            prompt_2=None,
            prompt_3=None,
            device=pipe._execution_device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=True,
            negative_prompt="",
            max_sequence_length=max_length,
        )
        return dict(zip(self.embedding_names, out))

    def latents(self, pipe, generators, height, width):
        channels = pipe.transformer.config.in_channels
        f = pipe.vae_scale_factor
        return _randn(generators, (channels, height // f, width // f))

    def random_embeddings(self, config, batch, tokens, randn):
        text = SD3_CLIP_TOKENS + tokens
        return {
            "prompt_embeds": randn(batch, text, config.joint_attention_dim),
            "negative_prompt_embeds": randn(batch, text, config.joint_attention_dim),
            "pooled_prompt_embeds": randn(batch, config.pooled_projection_dim),
            "negative_pooled_prompt_embeds": randn(batch, config.pooled_projection_dim),
        }


#: Qwen-Image's published negative prompt (model card: ``negative_prompt=" "``).
QWEN_NEGATIVE_PROMPT = " "


class QwenImageAdapter(PipelineAdapter):
    """Qwen-Image: a Qwen2.5-VL text model; true CFG as a second transformer call per step.

    Prompts embed to different lengths; each is padded to ``max_length`` (mask 0) so prompts
    stack, and a batch is cut back to its longest prompt, as the pipeline itself pads.
    """

    kind = "qwen-image"
    embedding_names = (
        "prompt_embeds",
        "prompt_embeds_mask",
        "negative_prompt_embeds",
        "negative_prompt_embeds_mask",
    )

    def _encode(self, pipe, prompts, max_length):
        embeds, mask = pipe.encode_prompt(
            prompt=list(prompts),
            device=pipe._execution_device,
            num_images_per_prompt=1,
            max_sequence_length=max_length,
        )
        if mask is None:  # the pipeline drops an all-ones mask
            mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        pad = max_length - embeds.shape[1]
        embeds = torch.nn.functional.pad(embeds, (0, 0, 0, pad))
        return embeds, torch.nn.functional.pad(mask.long(), (0, pad))

    def embed(self, pipe, prompts, max_length):
        pe, pm = self._encode(pipe, prompts, max_length)
        ne, nm = self._encode(pipe, [QWEN_NEGATIVE_PROMPT] * len(prompts), max_length)
        return dict(zip(self.embedding_names, (pe, pm, ne, nm)))

    def latents(self, pipe, generators, height, width):
        channels = pipe.transformer.config.in_channels // 4
        h, w = _packed_size(pipe, height, width)
        noise = _randn(generators, (1, channels, h, w))
        return pipe._pack_latents(noise, noise.shape[0], channels, h, w)

    def call_kwargs(self, embeddings):
        out = {}
        for stem in ("prompt_embeds", "negative_prompt_embeds"):
            mask = embeddings[f"{stem}_mask"]
            length = max(int(mask.sum(dim=1).max()), 1)
            out[stem] = embeddings[stem][:, :length]
            out[f"{stem}_mask"] = mask[:, :length]
        return out

    def guidance_kwargs(self, guidance, guidance_2=None):
        super().guidance_kwargs(guidance, guidance_2)  # one transformer: refuses a second
        # Not guidance-distilled: guidance_scale must stay None (the pipeline warns otherwise).
        return {"true_cfg_scale": guidance, "guidance_scale": None}

    def random_embeddings(self, config, batch, tokens, randn):
        return _with_masks(self.embedding_names, batch, tokens, config.joint_attention_dim, randn)


class Flux2Adapter(PipelineAdapter):
    """FLUX.2: a Mistral-type text encoder (three hidden layers stacked); guidance-distilled."""

    kind = "flux2"
    embedding_names = ("prompt_embeds",)

    def embed(self, pipe, prompts, max_length):
        embeds, _ = pipe.encode_prompt(
            prompt=list(prompts),
            device=pipe._execution_device,
            num_images_per_prompt=1,
            max_sequence_length=max_length,
        )
        return {"prompt_embeds": embeds}

    def latents(self, pipe, generators, height, width):
        # Flux2Pipeline takes latents patchified but not packed: [B, 4C, H/2, W/2].
        channels = pipe.transformer.config.in_channels
        h, w = _packed_size(pipe, height, width)
        return _randn(generators, (channels, h // 2, w // 2))

    def random_embeddings(self, config, batch, tokens, randn):
        return {"prompt_embeds": randn(batch, tokens, config.joint_attention_dim)}


class WanAdapter(PipelineAdapter):
    """Wan text-to-video: UMT5 embeddings padded to ``max_length``; true CFG as a second
    transformer call per step (negative prompt ``""``). Latents are
    ``[C, (frames - 1) // 4 + 1, H / 8, W / 8]`` per video, drawn in float32 as the pipeline
    draws its own."""

    kind = "wan"
    embedding_names = ("prompt_embeds", "negative_prompt_embeds")

    def embed(self, pipe, prompts, max_length):
        pe, ne = pipe.encode_prompt(
            prompt=list(prompts),
            negative_prompt="",
            do_classifier_free_guidance=True,
            num_videos_per_prompt=1,
            max_sequence_length=max_length,
            device=pipe._execution_device,
        )
        return {"prompt_embeds": pe, "negative_prompt_embeds": ne}

    def guidance_kwargs(self, guidance, guidance_2=None):
        # Wan 2.2: the low-noise expert's own guidance (guidance_scale_2); None: the same
        out = {"guidance_scale": guidance}
        if guidance_2 is not None:
            out["guidance_scale_2"] = guidance_2
        return out

    def latents(self, pipe, generators, height, width, frames=1):
        denoiser = pipe.transformer if pipe.transformer is not None else pipe.transformer_2
        f = pipe.vae_scale_factor_spatial
        latent_frames = (frames - 1) // pipe.vae_scale_factor_temporal + 1
        shape = (denoiser.config.in_channels, latent_frames, height // f, width // f)
        return _randn(generators, shape)

    def noise_kwargs(self, pipe, generators, height, width, device, dtype, frames=1):
        latents = self.latents(pipe, generators, height, width, frames)
        return {"latents": latents.to(device=device, dtype=torch.float32)}

    def call_kwargs(self, embeddings):
        return {**embeddings, "negative_prompt": None}

    def random_embeddings(self, config, batch, tokens, randn):
        return {
            "prompt_embeds": randn(batch, tokens, config.text_dim),
            "negative_prompt_embeds": randn(batch, tokens, config.text_dim),
        }


_ADAPTERS = {
    a.kind: a
    for a in (
        PixArtAdapter(),
        FluxAdapter(),
        SD3Adapter(),
        QwenImageAdapter(),
        Flux2Adapter(),
        WanAdapter(),
    )
}


def adapter_for(family: ModelFamily) -> PipelineAdapter:
    if family.derived:
        return DerivedAdapter(family)
    try:
        return _ADAPTERS[family.kind]
    except KeyError:
        raise FamilyError(f"family {family.name} has unknown kind {family.kind!r}") from None
