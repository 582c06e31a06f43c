"""A tiny random-weight Stable Diffusion 3.5 pipeline of the real classes: two CLIP text
encoders with projection, T5, a 16-px-latent VAE and an ``SD3Transformer2DModel``."""

from __future__ import annotations

from typing import Any

from ecad.families.tiny import TINY_RESOLUTION, byte_tokenizer, tiny_clip, tiny_t5, tiny_vae

__all__ = ["build_tiny_sd3"]


def build_tiny_sd3(num_layers: int = 2, seed: int = 0, latent_channels: int = 4) -> Any:
    """``StableDiffusion3Pipeline`` with a ``num_layers``-block transformer (the last block is
    context-pre-only, as in the full model). CLIP hidden states (16 + 16) fill the T5 width (32);
    the pooled projections (32 + 32) are the transformer's ``pooled_projection_dim``. The
    inpainting pipeline wants the real model's 16 latent channels."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=TINY_RESOLUTION // 8,
        patch_size=2,
        in_channels=latent_channels,
        num_layers=num_layers,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=32,
        caption_projection_dim=16,
        pooled_projection_dim=64,
        out_channels=latent_channels,
        pos_embed_max_size=16,
        qk_norm="rms_norm",
    ).eval()
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=tiny_vae(
            latent_channels,
            shift_factor=0.0609,
            scaling_factor=1.5305,
            use_quant_conv=False,
            use_post_quant_conv=False,
        ),
        text_encoder=tiny_clip(CLIPTextModelWithProjection, hidden_size=16, projection_dim=32),
        tokenizer=byte_tokenizer(77),
        text_encoder_2=tiny_clip(CLIPTextModelWithProjection, hidden_size=16, projection_dim=32),
        tokenizer_2=byte_tokenizer(77),
        text_encoder_3=tiny_t5(32),
        tokenizer_3=byte_tokenizer(512),
    )
