"""Tiny random-weight Wan text-to-video pipelines of the real classes: a UMT5 text encoder, the
Wan VAE (8x spatial, 4x temporal compression, as the full model) and ``WanTransformer3DModel``;
for Wan 2.2 a second transformer (the low-noise expert) and the boundary ratio."""

from __future__ import annotations

from typing import Any

from ecad.families.tiny import byte_tokenizer, tiny_t5

__all__ = ["build_tiny_wan", "build_tiny_wan22", "wan_sampler"]

_TEXT_DIM = 32


def wan_sampler(flow_shift: float) -> Any:
    """The published Wan sampler: UniPC over flow-matching sigmas, shifted by ``flow_shift``."""
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=flow_shift
    )


def _tiny_transformer(num_layers: int) -> Any:
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=16,
        out_channels=16,
        text_dim=_TEXT_DIM,
        freq_dim=32,
        ffn_dim=32,
        num_layers=num_layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    ).eval()


def _tiny_vae() -> Any:
    from diffusers import AutoencoderKLWan

    # Four levels (three downsamplings) keep the real 8x spatial factor; two temporal ones, 4x.
    return AutoencoderKLWan(
        base_dim=4,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    ).eval()


def build_tiny_wan(num_layers: int = 2, seed: int = 0, flow_shift: float = 3.0) -> Any:
    """``WanPipeline`` with a ``num_layers``-block transformer (Wan 2.1 text-to-video)."""
    import torch
    from diffusers import WanPipeline

    torch.manual_seed(seed)
    return WanPipeline(
        tokenizer=byte_tokenizer(512),
        text_encoder=tiny_t5(_TEXT_DIM, umt5=True),
        vae=_tiny_vae(),
        transformer=_tiny_transformer(num_layers),
        scheduler=wan_sampler(flow_shift),
    )


def build_tiny_wan22(
    num_layers: int = 2, seed: int = 0, flow_shift: float = 12.0, boundary_ratio: float = 0.875
) -> Any:
    """``WanPipeline`` with two experts (Wan 2.2 A14B): ``transformer`` runs the high-noise
    steps (timestep >= ``boundary_ratio`` x 1000), ``transformer_2`` the rest."""
    import torch
    from diffusers import WanPipeline

    torch.manual_seed(seed)
    return WanPipeline(
        tokenizer=byte_tokenizer(512),
        text_encoder=tiny_t5(_TEXT_DIM, umt5=True),
        vae=_tiny_vae(),
        transformer=_tiny_transformer(num_layers),
        transformer_2=_tiny_transformer(num_layers),
        scheduler=wan_sampler(flow_shift),
        boundary_ratio=boundary_ratio,
    )
