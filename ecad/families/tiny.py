"""Tiny random-weight pipelines of the real architectures, for tests, CI and CPU demos.

They use diffusers' and transformers' real model classes with small configs; nothing is
downloaded. The tokenizers are byte-level (every prompt maps to distinct ids) and built in code.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SPECIAL_TOKENS",
    "build_tiny_flux",
    "build_tiny_pixart",
    "byte_tokenizer",
    "tiny_clip",
    "tiny_t5",
    "tiny_vae",
]

TINY_RESOLUTION = 64
_SPECIALS = SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")


def byte_tokenizer(model_max_length: int) -> Any:
    """A byte-level BPE tokenizer with no merges: ids 0-2 are pad, eos, unk."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {tok: i for i, tok in enumerate((*_SPECIALS, *alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=model_max_length,
    )


def tiny_t5(d_model: int, umt5: bool = False) -> Any:
    """A 2-layer T5 encoder over the byte tokenizer's ids (``umt5``: UMT5's classes, Wan's)."""
    import transformers

    prefix = "UMT5" if umt5 else "T5"
    config_class = getattr(transformers, f"{prefix}Config")
    model_class = getattr(transformers, f"{prefix}EncoderModel")
    cfg = config_class(
        vocab_size=len(_SPECIALS) + 256,
        d_model=d_model,
        d_ff=2 * d_model,
        d_kv=8,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
    )
    return model_class(cfg).eval()


def tiny_clip(model_class: Any, hidden_size: int, projection_dim: int) -> Any:
    """A 2-layer CLIP text encoder over the byte tokenizer's ids (``model_class``: CLIP's text
    model with or without projection)."""
    from transformers import CLIPTextConfig

    return model_class(
        CLIPTextConfig(
            vocab_size=len(_SPECIALS) + 256,
            hidden_size=hidden_size,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
            projection_dim=projection_dim,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=1,
        )
    ).eval()


def tiny_vae(latent_channels: int = 4, **flux_like: Any) -> Any:
    from diffusers import AutoencoderKL

    # Four levels keep the real latent downsampling factor of 8.
    return AutoencoderKL(
        **flux_like,
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=4,
        sample_size=TINY_RESOLUTION,
    ).eval()


def build_tiny_pixart(pipeline_class: str, num_layers: int = 2, seed: int = 0) -> Any:
    """A PixArt-α/Σ pipeline with a ``num_layers``-block transformer and random weights."""
    import diffusers
    import torch
    from diffusers import DPMSolverMultistepScheduler, PixArtTransformer2DModel

    torch.manual_seed(seed)
    transformer = PixArtTransformer2DModel(
        sample_size=TINY_RESOLUTION // 8,
        num_layers=num_layers,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=2,
        in_channels=4,
        out_channels=8,
        cross_attention_dim=16,
        caption_channels=32,
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
    ).eval()
    pipe_cls = getattr(diffusers, pipeline_class)
    return pipe_cls(
        tokenizer=byte_tokenizer(512),
        text_encoder=tiny_t5(32),
        vae=tiny_vae(),
        transformer=transformer,
        scheduler=DPMSolverMultistepScheduler(),
    )


def build_tiny_flux(
    pipeline_class: str = "FluxPipeline",
    num_layers: int = 2,
    num_single_layers: int = 2,
    seed: int = 0,
) -> Any:
    """A FLUX.1-dev-shaped pipeline (guidance-embedded) with tiny random weights."""
    import diffusers
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=16,
        num_layers=num_layers,
        num_single_layers=num_single_layers,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=True,
        axes_dims_rope=(4, 4, 8),
    ).eval()
    clip = tiny_clip(CLIPTextModel, hidden_size=32, projection_dim=32)
    pipe_cls = getattr(diffusers, pipeline_class)
    return pipe_cls(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=tiny_vae(
            shift_factor=0.0609,
            scaling_factor=1.5035,
            use_quant_conv=False,
            use_post_quant_conv=False,
        ),
        text_encoder=clip,
        tokenizer=byte_tokenizer(77),
        text_encoder_2=tiny_t5(32),
        tokenizer_2=byte_tokenizer(512),
        transformer=transformer,
    )
