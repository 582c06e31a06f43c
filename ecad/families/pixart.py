"""PixArt-α and PixArt-Σ: 28 blocks × (self-attention, cross-attention, feed-forward)."""

from __future__ import annotations

from functools import partial
from typing import Any

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


def pixart_inputs(cfg: dict[str, Any], latent: int, batch: int, text: int) -> dict[str, Any]:
    """One forward's inputs; the micro-conditions only where the config asks for them."""
    import torch

    added: dict[str, Any] = {"resolution": None, "aspect_ratio": None}
    if cfg.get("use_additional_conditions"):
        added = {"resolution": torch.ones(batch, 2), "aspect_ratio": torch.ones(batch, 1)}
    return {
        "hidden_states": torch.randn(batch, cfg["in_channels"], latent, latent),
        "encoder_hidden_states": torch.randn(batch, text, cfg["caption_channels"]),
        "encoder_attention_mask": torch.ones(batch, text),
        "timestep": torch.ones(batch),
        "added_cond_kwargs": added,
    }


_COMMON: dict[str, Any] = {
    "kind": "pixart",
    "transformer_class": "PixArtTransformer2DModel",
    "block_groups": (_BLOCKS,),
    "default_steps": 20,
    "default_guidance": 4.5,
    "default_resolution": 256,
    "default_dtype": "float16",
    "text_components": ("text_encoder", "tokenizer"),
    "tiny_blocks": {"blocks": 2},
    "transformer_inputs": pixart_inputs,
    "cfg_rows": 2,  # both guidance halves in one batch
}

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
    pipeline_class="PixArtAlphaPipeline",
    default_weights="PixArt-alpha/PixArt-XL-2-256x256",
    max_sequence_length=120,
    transformer_config={**_TRANSFORMER, "use_additional_conditions": False},
    build_tiny_pipeline=partial(build_tiny_pixart, "PixArtAlphaPipeline"),
    **_COMMON,
)

PIXART_SIGMA = ModelFamily(
    name="pixart-sigma",
    aliases=("pixart_sigma", "pixart-σ", "sigma"),
    pipeline_class="PixArtSigmaPipeline",
    default_weights="PixArt-alpha/PixArt-Sigma-XL-2-512-MS",
    max_sequence_length=300,
    transformer_config={**_TRANSFORMER, "use_additional_conditions": False},
    build_tiny_pipeline=partial(build_tiny_pixart, "PixArtSigmaPipeline"),
    **_COMMON,
)
