"""A tiny random-weight Qwen-Image pipeline of the real classes: a Qwen2.5-VL text model, the
Qwen-Image VAE (same 8x downsampling) and a ``QwenImageTransformer2DModel``."""

from __future__ import annotations

from typing import Any

from ecad.families.tiny import SPECIAL_TOKENS, byte_tokenizer

__all__ = ["build_tiny_qwen_image"]

_VOCAB = len(SPECIAL_TOKENS) + 256


def _tiny_qwen_vl(hidden: int) -> Any:
    """Qwen2.5-VL with 2 text layers; its vision-token ids lie outside the byte vocabulary, so
    no prompt is ever read as an image."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": hidden,
            "intermediate_size": 2 * hidden,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "vocab_size": _VOCAB + 3,
            "bos_token_id": 2,
            "eos_token_id": 1,
        },
        vision_config={
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": hidden,
        },
        hidden_size=hidden,
        vocab_size=_VOCAB + 3,
        image_token_id=_VOCAB,
        video_token_id=_VOCAB + 1,
        vision_start_token_id=_VOCAB + 2,
        vision_end_token_id=_VOCAB + 2,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=1,
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def build_tiny_qwen_image(num_layers: int = 2, seed: int = 0) -> Any:
    """``QwenImagePipeline`` with a ``num_layers``-block transformer; the text model's hidden
    size (16) is the transformer's ``joint_attention_dim``. The prompt template of the real
    pipeline is kept; the byte tokenizer turns it into more tokens than Qwen's, which only
    shifts where the prompt starts."""
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )

    torch.manual_seed(seed)
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=num_layers,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    ).eval()
    vae = AutoencoderKLQwenImage(
        base_dim=8,
        z_dim=4,
        dim_mult=[1, 2, 2, 2],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],  # 2 ** 3: the real 8x latent factor
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    ).eval()
    return QwenImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=_tiny_qwen_vl(16),
        tokenizer=byte_tokenizer(1024),
        transformer=transformer,
    )
