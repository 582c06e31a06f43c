"""FLUX.2 [dev]: 8 double-stream blocks and 48 single-stream blocks.

A double block runs one joint attention over the image and text streams (``full_attn``, an
output pair, as in FLUX.1) and one feed-forward per stream. A single block is a *parallel*
block: one module (``attn``, a ``Flux2ParallelSelfAttention``) projects QKV and the MLP input
together and mixes attention and MLP outputs in one output projection, so the whole block body
is one cacheable component, ``single_parallel`` (role: attention; it contains the MLP too). There
is no cross-attention, so TGATE-style heuristics do not apply. FLUX.2 [dev] is guidance-distilled:
one transformer call per step.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ecad.families.family import BlockGroup, ModelFamily
from ecad.families.flux import FLUX_DEV
from ecad.families.pipelines import FamilyPipeline
from ecad.families.tiny_flux2 import build_tiny_flux2

__all__ = ["FLUX2_DEV", "flux2_inputs"]

# FLUX.1's double blocks: the same components, paths and roles, fewer blocks.
_DOUBLE = replace(FLUX_DEV.block_groups[0], num_blocks=8)
_SINGLE = BlockGroup(
    name="single",
    module_list="single_transformer_blocks",
    num_blocks=48,
    components=("single_parallel",),
    component_paths={"single_parallel": "attn"},
    json_prefix="single_",
    roles={"single_parallel": "self_attention"},
    num_blocks_key="num_single_layers",
)

# black-forest-labs/FLUX.2-dev transformer/config.json (diffusers format).
_TRANSFORMER = {
    "attention_head_dim": 128,
    "axes_dims_rope": [32, 32, 32, 32],
    "eps": 1e-6,
    "guidance_embeds": True,
    "in_channels": 128,
    "joint_attention_dim": 15360,
    "mlp_ratio": 3.0,
    "num_attention_heads": 48,
    "num_layers": 8,
    "num_single_layers": 48,
    "out_channels": None,
    "patch_size": 1,
    "rope_theta": 2000,
    "timestep_guidance_channels": 256,
}


def flux2_inputs(cfg: dict[str, Any], latent: int, batch: int, text: int) -> dict[str, Any]:
    """One forward's inputs: 2x2-patchified latent tokens, ``text`` Mistral tokens (three
    hidden layers side by side), 4-axis position ids."""
    import torch

    tokens = (latent // 2) ** 2
    return {
        "hidden_states": torch.randn(batch, tokens, cfg["in_channels"]),
        "encoder_hidden_states": torch.randn(batch, text, cfg["joint_attention_dim"]),
        "timestep": torch.ones(batch),
        "guidance": torch.ones(batch) if cfg.get("guidance_embeds") else None,
        "img_ids": torch.zeros(batch, tokens, 4),
        "txt_ids": torch.zeros(batch, text, 4),
    }


# FLUX.2 [dev] edits with its own pipeline: reference images as ``image=`` (no strength).
_PIPELINES = (FamilyPipeline("edit", "Flux2Pipeline", tested=True),)


FLUX2_DEV = ModelFamily(
    name="flux2-dev",
    aliases=("flux2", "flux.2-dev", "flux.2", "flux2_dev"),
    kind="flux2",
    pipeline_class="Flux2Pipeline",
    transformer_class="Flux2Transformer2DModel",
    block_groups=(_DOUBLE, _SINGLE),
    default_weights="black-forest-labs/FLUX.2-dev",
    # Model card: 50 steps, guidance 4, 1024x1024; prompts padded to 512 tokens.
    default_steps=50,
    default_guidance=4.0,
    default_resolution=1024,
    default_dtype="bfloat16",
    max_sequence_length=512,
    transformer_config=_TRANSFORMER,
    build_tiny_pipeline=build_tiny_flux2,
    patch_size=2,  # latents are patchified 2x2 before the transformer
    text_components=("text_encoder", "tokenizer"),
    tiny_blocks={"double": 2, "single": 2},
    transformer_inputs=flux2_inputs,
    pipelines=_PIPELINES,
)
