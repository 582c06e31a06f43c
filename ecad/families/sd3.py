"""Stable Diffusion 3.5 Large: 38 joint-attention (MMDiT) blocks.

Each block runs one attention over the image and text streams together (``attn`` returns both
streams' outputs, like FLUX's ``full_attn``), then an MLP per stream. There is no
cross-attention, so TGATE-style heuristics do not apply. The last block is context-pre-only:
its text stream ends after the attention, so it has no ``ff_context`` (an inert slot).
"""

from __future__ import annotations

from typing import Any

from ecad.families.family import BlockGroup, ModelFamily
from ecad.families.pipelines import FamilyPipeline
from ecad.families.tiny_sd3 import build_tiny_sd3

__all__ = ["SD35_LARGE", "sd3_inputs"]

#: Tokens of the two CLIP encoders, placed before the T5 tokens in the transformer's text input.
CLIP_TOKENS = 77

_JOINT = BlockGroup(
    name="joint",
    module_list="transformer_blocks",
    num_blocks=38,
    components=("attn", "ff", "ff_context"),
    component_paths={"attn": "attn", "ff": "ff", "ff_context": "ff_context"},
    roles={"attn": "self_attention", "ff": "mlp", "ff_context": "mlp"},
    optional=("ff_context",),
)

# stabilityai/stable-diffusion-3.5-large transformer/config.json (diffusers format).
_TRANSFORMER = {
    "attention_head_dim": 64,
    "caption_projection_dim": 2432,
    "in_channels": 16,
    "joint_attention_dim": 4096,
    "num_attention_heads": 38,
    "num_layers": 38,
    "out_channels": 16,
    "patch_size": 2,
    "pooled_projection_dim": 2048,
    "pos_embed_max_size": 192,
    "qk_norm": "rms_norm",
    "sample_size": 128,
}


def sd3_inputs(cfg: dict[str, Any], latent: int, batch: int, text: int) -> dict[str, Any]:
    """One forward's inputs: the latent image, CLIP (77) + T5 (``text``) tokens, pooled CLIP."""
    import torch

    return {
        "hidden_states": torch.randn(batch, cfg["in_channels"], latent, latent),
        "encoder_hidden_states": torch.randn(batch, CLIP_TOKENS + text, cfg["joint_attention_dim"]),
        "pooled_projections": torch.randn(batch, cfg["pooled_projection_dim"]),
        "timestep": torch.ones(batch),
    }


_PIPELINES = (
    FamilyPipeline("img2img", "StableDiffusion3Img2ImgPipeline", strength=True, tested=True),
    # It checks for the real model's 16 latent channels: the tiny build gets 16 too.
    FamilyPipeline(
        "inpaint",
        "StableDiffusion3InpaintPipeline",
        strength=True,
        tested=True,
        tiny_options={"latent_channels": 16},
    ),
    FamilyPipeline(
        "controlnet",
        "StableDiffusion3ControlNetPipeline",
        controlnet_class="SD3ControlNetModel",
        tested=True,
    ),
    FamilyPipeline(
        "controlnet",
        "StableDiffusion3ControlNetInpaintingPipeline",
        controlnet_class="SD3ControlNetModel",
    ),
)


SD35_LARGE = ModelFamily(
    name="sd3.5-large",
    aliases=("sd3.5", "sd35", "stable-diffusion-3.5-large", "sd3.5_large"),
    kind="sd3",
    pipeline_class="StableDiffusion3Pipeline",
    transformer_class="SD3Transformer2DModel",
    block_groups=(_JOINT,),
    default_weights="stabilityai/stable-diffusion-3.5-large",
    # Model card: 28 steps, guidance 3.5, 1024x1024; the pipeline's T5 length is 256.
    default_steps=28,
    default_guidance=3.5,
    default_resolution=1024,
    default_dtype="bfloat16",
    max_sequence_length=256,
    transformer_config=_TRANSFORMER,
    build_tiny_pipeline=build_tiny_sd3,
    text_components=(
        "text_encoder",
        "tokenizer",
        "text_encoder_2",
        "tokenizer_2",
        "text_encoder_3",
        "tokenizer_3",
    ),
    tiny_blocks={"joint": 2},
    transformer_inputs=sd3_inputs,
    cfg_rows=2,  # both guidance halves in one batch
    pipelines=_PIPELINES,
)
