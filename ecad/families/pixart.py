"""PixArt-α and PixArt-Σ: 28 blocks × (self-attention, cross-attention, feed-forward)."""

from __future__ import annotations

from functools import partial

from ecad.families.family import BlockGroup, ModelFamily
from ecad.families.tiny import build_tiny_pixart

__all__ = ["PIXART_ALPHA", "PIXART_SIGMA"]

_BLOCKS = BlockGroup(
    name="blocks",
    module_list="transformer_blocks",
    num_blocks=28,
    components=("attn1", "attn2", "ff"),
    component_paths={"attn1": "attn1", "attn2": "attn2", "ff": "ff"},
    roles={"attn1": "self_attention", "attn2": "cross_attention", "ff": "mlp"},
)

# PixArt-XL-2 transformer config (diffusers format); sample_size is set per resolution.
_TRANSFORMER = {
    "activation_fn": "gelu-approximate",
    "attention_bias": True,
    "attention_head_dim": 72,
    "caption_channels": 4096,
    "cross_attention_dim": 1152,
    "in_channels": 4,
    "norm_elementwise_affine": False,
    "norm_eps": 1e-6,
    "norm_type": "ada_norm_single",
    "num_attention_heads": 16,
    "num_embeds_ada_norm": 1000,
    "num_layers": 28,
    "out_channels": 8,
    "patch_size": 2,
    "sample_size": 32,
}

PIXART_ALPHA = ModelFamily(
    name="pixart-alpha",
    aliases=("pixart_alpha", "pixart-α", "alpha"),
    kind="pixart",
    pipeline_class="PixArtAlphaPipeline",
    transformer_class="PixArtTransformer2DModel",
    block_groups=(_BLOCKS,),
    default_weights="PixArt-alpha/PixArt-XL-2-256x256",
    default_steps=20,
    default_guidance=4.5,
    default_resolution=256,
    default_dtype="float16",
    max_sequence_length=120,
    transformer_config={**_TRANSFORMER, "use_additional_conditions": False},
    build_tiny_pipeline=partial(build_tiny_pixart, "PixArtAlphaPipeline"),
)

PIXART_SIGMA = ModelFamily(
    name="pixart-sigma",
    aliases=("pixart_sigma", "pixart-σ", "sigma"),
    kind="pixart",
    pipeline_class="PixArtSigmaPipeline",
    transformer_class="PixArtTransformer2DModel",
    block_groups=(_BLOCKS,),
    default_weights="PixArt-alpha/PixArt-Sigma-XL-2-512-MS",
    default_steps=20,
    default_guidance=4.5,
    default_resolution=256,
    default_dtype="float16",
    max_sequence_length=300,
    transformer_config={**_TRANSFORMER, "use_additional_conditions": False},
    build_tiny_pipeline=partial(build_tiny_pixart, "PixArtSigmaPipeline"),
)
