"""FLUX.1-dev: 19 double-stream blocks and 38 single-stream blocks."""

from __future__ import annotations

from typing import Any

from ecad.families.family import BlockGroup, ModelFamily
from ecad.families.pipelines import FamilyPipeline
from ecad.families.tiny import build_tiny_flux

__all__ = ["FLUX_DEV"]

_DOUBLE = BlockGroup(
    name="double",
    module_list="transformer_blocks",
    num_blocks=19,
    # ``full_attn`` is the joint attention of both streams (one module, one output pair).
    components=("full_attn", "full_ff", "full_ff_context"),
    component_paths={"full_attn": "attn", "full_ff": "ff", "full_ff_context": "ff_context"},
    roles={"full_attn": "self_attention", "full_ff": "mlp", "full_ff_context": "mlp"},
)
_SINGLE = BlockGroup(
    name="single",
    module_list="single_transformer_blocks",
    num_blocks=38,
    components=("single_attn", "single_proj_mlp", "single_proj_out"),
    component_paths={
        "single_attn": "attn",
        "single_proj_mlp": "proj_mlp",
        "single_proj_out": "proj_out",
    },
    json_prefix="single_",
    num_blocks_key="num_single_layers",
    # proj_out mixes the attention and MLP paths; it is treated as MLP-like.
    roles={"single_attn": "self_attention", "single_proj_mlp": "mlp", "single_proj_out": "mlp"},
)


def flux_inputs(cfg: dict[str, Any], latent: int, batch: int, text: int) -> dict[str, Any]:
    """One forward's inputs: latents packed 2x2 into tokens, T5 tokens, pooled CLIP."""
    import torch

    tokens = (latent // 2) ** 2
    return {
        "hidden_states": torch.randn(batch, tokens, cfg["in_channels"]),
        "encoder_hidden_states": torch.randn(batch, text, cfg["joint_attention_dim"]),
        "pooled_projections": torch.randn(batch, cfg["pooled_projection_dim"]),
        "timestep": torch.ones(batch),
        "guidance": torch.ones(batch) if cfg.get("guidance_embeds") else None,
        "img_ids": torch.zeros(tokens, 3),
        "txt_ids": torch.zeros(text, 3),
    }


_PIPELINES = (
    FamilyPipeline("img2img", "FluxImg2ImgPipeline", strength=True, tested=True),
    FamilyPipeline("inpaint", "FluxInpaintPipeline", strength=True, tested=True),
    FamilyPipeline(
        "controlnet", "FluxControlNetPipeline", controlnet_class="FluxControlNetModel", tested=True
    ),
    FamilyPipeline(
        "controlnet",
        "FluxControlNetImg2ImgPipeline",
        strength=True,
        controlnet_class="FluxControlNetModel",
    ),
    FamilyPipeline(
        "controlnet",
        "FluxControlNetInpaintPipeline",
        strength=True,
        controlnet_class="FluxControlNetModel",
    ),
    FamilyPipeline(
        "edit", "FluxKontextPipeline", weights="black-forest-labs/FLUX.1-Kontext-dev", tested=True
    ),
    FamilyPipeline(
        "edit",
        "FluxKontextInpaintPipeline",
        strength=True,
        weights="black-forest-labs/FLUX.1-Kontext-dev",
    ),
)


FLUX_DEV = ModelFamily(
    name="flux-dev",
    aliases=("flux", "flux_dev", "flux.1-dev"),
    kind="flux",
    pipeline_class="FluxPipeline",
    transformer_class="FluxTransformer2DModel",
    block_groups=(_DOUBLE, _SINGLE),
    default_weights="black-forest-labs/FLUX.1-dev",
    default_steps=20,
    default_guidance=5.0,
    default_resolution=1024,
    default_dtype="bfloat16",
    max_sequence_length=512,
    transformer_config={
        "attention_head_dim": 128,
        "guidance_embeds": True,
        "in_channels": 64,
        "joint_attention_dim": 4096,
        "num_attention_heads": 24,
        "num_layers": 19,
        "num_single_layers": 38,
        "patch_size": 1,
        "pooled_projection_dim": 768,
        "axes_dims_rope": [16, 56, 56],
    },
    build_tiny_pipeline=build_tiny_flux,
    patch_size=2,  # latents are packed 2x2 before the transformer
    text_components=("text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2"),
    tiny_blocks={"double": 2, "single": 2},
    transformer_inputs=flux_inputs,
    pipelines=_PIPELINES,
)
