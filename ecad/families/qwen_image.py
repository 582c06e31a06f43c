"""Qwen-Image: 60 dual-stream (MMDiT) blocks.

Each block modulates the image and text streams separately, runs one joint attention over both
(``attn`` returns the image and text outputs as a pair) and then one MLP per stream. There is no
cross-attention, so TGATE-style heuristics do not apply. Guidance is true classifier-free
guidance: the pipeline calls the transformer a second time for the negative prompt, under
diffusers' ``cache_context("uncond")``, and each branch keeps its own caches.
"""

from __future__ import annotations

from typing import Any

from ecad.families.family import BlockGroup, ModelFamily
from ecad.families.pipelines import FamilyPipeline
from ecad.families.tiny_qwen import build_tiny_qwen_image

__all__ = ["QWEN_IMAGE", "qwen_image_inputs"]

_DUAL = BlockGroup(
    name="dual",
    module_list="transformer_blocks",
    num_blocks=60,
    components=("attn", "img_mlp", "txt_mlp"),
    component_paths={"attn": "attn", "img_mlp": "img_mlp", "txt_mlp": "txt_mlp"},
    roles={"attn": "self_attention", "img_mlp": "mlp", "txt_mlp": "mlp"},
)

# Qwen/Qwen-Image transformer/config.json (diffusers format; its unused
# pooled_projection_dim is left out).
_TRANSFORMER = {
    "attention_head_dim": 128,
    "axes_dims_rope": [16, 56, 56],
    "guidance_embeds": False,
    "in_channels": 64,
    "joint_attention_dim": 3584,
    "num_attention_heads": 24,
    "num_layers": 60,
    "out_channels": 16,
    "patch_size": 2,
}


def qwen_image_inputs(cfg: dict[str, Any], latent: int, batch: int, text: int) -> dict[str, Any]:
    """One forward's inputs: latents packed 2x2 into tokens, ``text`` Qwen2.5-VL tokens."""
    import torch

    side = latent // 2
    return {
        "hidden_states": torch.randn(batch, side * side, cfg["in_channels"]),
        "encoder_hidden_states": torch.randn(batch, text, cfg["joint_attention_dim"]),
        "encoder_hidden_states_mask": torch.ones(batch, text, dtype=torch.long),
        "timestep": torch.ones(batch),
        "img_shapes": [[(1, side, side)]] * batch,
    }


_PIPELINES = (
    FamilyPipeline("img2img", "QwenImageImg2ImgPipeline", strength=True, tested=True),
    FamilyPipeline("inpaint", "QwenImageInpaintPipeline", strength=True, tested=True),
    FamilyPipeline(
        "controlnet",
        "QwenImageControlNetPipeline",
        controlnet_class="QwenImageControlNetModel",
        tested=True,
    ),
    FamilyPipeline(
        "controlnet",
        "QwenImageControlNetInpaintPipeline",
        controlnet_class="QwenImageControlNetModel",
    ),
    FamilyPipeline("edit", "QwenImageEditPipeline", weights="Qwen/Qwen-Image-Edit", tested=True),
    FamilyPipeline("edit", "QwenImageEditPlusPipeline", weights="Qwen/Qwen-Image-Edit-2509"),
    FamilyPipeline(
        "edit", "QwenImageEditInpaintPipeline", strength=True, weights="Qwen/Qwen-Image-Edit"
    ),
)


QWEN_IMAGE = ModelFamily(
    name="qwen-image",
    aliases=("qwen_image", "qwenimage", "qwen"),
    kind="qwen-image",
    pipeline_class="QwenImagePipeline",
    transformer_class="QwenImageTransformer2DModel",
    block_groups=(_DUAL,),
    default_weights="Qwen/Qwen-Image",
    # Model card: 50 steps, true_cfg_scale 4.0 with negative prompt " ", 1328x1328 for 1:1.
    default_steps=50,
    default_guidance=4.0,
    default_resolution=1328,
    default_dtype="bfloat16",
    # The pipeline's cap; prompts are padded to it when embedded and a batch is cut back to
    # its longest prompt, so cost tables at this length are an upper bound.
    max_sequence_length=512,
    transformer_config=_TRANSFORMER,
    build_tiny_pipeline=build_tiny_qwen_image,
    text_components=("text_encoder", "tokenizer"),
    tiny_blocks={"dual": 2},
    transformer_inputs=qwen_image_inputs,
    cfg_rows=2,  # a second transformer call for the negative prompt
    pipelines=_PIPELINES,
)
