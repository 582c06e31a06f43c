"""A tiny random-weight FLUX.2 [dev] pipeline of the real classes: a Mistral-3 text encoder
(Mistral Small 3.1's architecture), the FLUX.2 VAE and a ``Flux2Transformer2DModel``."""

from __future__ import annotations

from typing import Any

from ecad.families.tiny import SPECIAL_TOKENS, TINY_RESOLUTION, byte_tokenizer

__all__ = ["build_tiny_flux2"]

_VOCAB = len(SPECIAL_TOKENS) + 256
#: The pipeline stacks the hidden states of text layers 10, 20 and 30, so 30 layers are kept.
_TEXT_LAYERS = 30
_TEXT_HIDDEN = 16
#: Renders the pipeline's system + user messages for the byte tokenizer (Mistral's own template
#: needs its tokenizer's special tokens).
CHAT_TEMPLATE = (
    "{% for message in messages %}[{{ message['role'] }}]"
    "{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endfor %}"
)


def _tiny_mistral3() -> Any:
    """Mistral-3 with 30 tiny text layers and a one-layer Pixtral vision tower; the image token
    id lies outside the byte vocabulary, so no prompt is read as an image."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    config = Mistral3Config(
        text_config={
            "model_type": "mistral",
            "hidden_size": _TEXT_HIDDEN,
            "intermediate_size": 32,
            "num_hidden_layers": _TEXT_LAYERS,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 8,
            "vocab_size": _VOCAB + 1,
            "max_position_embeddings": 1024,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 1,
        },
        vision_config={
            "model_type": "pixtral",
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "head_dim": 8,
            "image_size": 32,
            "patch_size": 8,
        },
        image_token_index=_VOCAB,
        spatial_merge_size=2,
    )
    return Mistral3ForConditionalGeneration(config).eval()


def build_tiny_flux2(num_layers: int = 2, num_single_layers: int = 2, seed: int = 0) -> Any:
    """``Flux2Pipeline`` with ``num_layers`` double and ``num_single_layers`` single blocks;
    three stacked text layers (3 x 16) are the transformer's ``joint_attention_dim``."""
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2Pipeline,
        Flux2Transformer2DModel,
    )

    torch.manual_seed(seed)
    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=16,  # 4 latent channels, patchified 2x2
        num_layers=num_layers,
        num_single_layers=num_single_layers,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=3 * _TEXT_HIDDEN,
        timestep_guidance_channels=32,
        axes_dims_rope=(2, 2, 2, 2),
        guidance_embeds=True,
    ).eval()
    vae = AutoencoderKLFlux2(
        block_out_channels=(8, 8, 8, 8),  # four levels: the real 8x latent factor
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=TINY_RESOLUTION,
    ).eval()
    tokenizer = byte_tokenizer(512)
    tokenizer.chat_template = CHAT_TEMPLATE
    return Flux2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            shift=3.0, use_dynamic_shifting=True, time_shift_type="exponential"
        ),
        vae=vae,
        text_encoder=_tiny_mistral3(),
        tokenizer=tokenizer,
        transformer=transformer,
    )
