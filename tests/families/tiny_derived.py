"""Tiny random-weight pipelines of real diffusers classes that have no built-in family: the
classes ``ecad family derive`` is shown on (Sana, Chroma, Lumina 2). Real transformer, text
encoder, VAE and sampler classes at tiny sizes, with the byte-level tokenizer of
``ecad.families.tiny``; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecad.families.tiny import SPECIAL_TOKENS, byte_tokenizer, tiny_t5, tiny_vae

#: pipeline class -> transformer class, for parametrised tests
DERIVED_CLASSES = {
    "SanaPipeline": "SanaTransformer2DModel",
    "ChromaPipeline": "ChromaTransformer2DModel",
    "Lumina2Pipeline": "Lumina2Transformer2DModel",
}


def _gemma2(hidden: int) -> Any:
    from transformers import Gemma2Config, Gemma2Model

    return Gemma2Model(Gemma2Config(
        vocab_size=len(SPECIAL_TOKENS) + 256, hidden_size=hidden, intermediate_size=16,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
        max_position_embeddings=2048, pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )).eval()


def _sana() -> Any:
    from diffusers import (
        AutoencoderDC,
        DPMSolverMultistepScheduler,
        SanaPipeline,
        SanaTransformer2DModel,
    )

    transformer = SanaTransformer2DModel(
        patch_size=1, in_channels=4, out_channels=4, num_layers=2, num_attention_heads=2,
        attention_head_dim=4, num_cross_attention_heads=2, cross_attention_head_dim=4,
        cross_attention_dim=8, caption_channels=8, sample_size=8,
    ).eval()
    vae = AutoencoderDC(
        in_channels=3, latent_channels=4, attention_head_dim=2,
        encoder_block_types=("ResBlock",) * 4, decoder_block_types=("ResBlock",) * 4,
        encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4,
        encoder_qkv_multiscales=((),) * 4, decoder_qkv_multiscales=((),) * 4,
        encoder_layers_per_block=(1,) * 4, decoder_layers_per_block=(1,) * 4,
        downsample_block_type="conv", upsample_block_type="interpolate",
        decoder_norm_types="rms_norm", decoder_act_fns="silu", scaling_factor=0.41407,
    ).eval()
    return SanaPipeline(tokenizer=byte_tokenizer(2048), text_encoder=_gemma2(8), vae=vae,
                        transformer=transformer, scheduler=DPMSolverMultistepScheduler())


def _chroma() -> Any:
    from diffusers import ChromaPipeline, ChromaTransformer2DModel, FlowMatchEulerDiscreteScheduler

    transformer = ChromaTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=2, num_single_layers=2, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, axes_dims_rope=(4, 4, 8),
        approximator_num_channels=8, approximator_hidden_dim=16, approximator_layers=1,
    ).eval()
    vae = tiny_vae(shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False,
                    use_post_quant_conv=False)
    return ChromaPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                          text_encoder=tiny_t5(32), tokenizer=byte_tokenizer(512),
                          transformer=transformer)


def _lumina2() -> Any:
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        Lumina2Pipeline,
        Lumina2Transformer2DModel,
    )

    transformer = Lumina2Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=4, hidden_size=8, num_layers=2,
        num_refiner_layers=1, num_attention_heads=1, num_kv_heads=1, multiple_of=16,
        ffn_dim_multiplier=None, norm_eps=1e-5, scaling_factor=1.0, axes_dim_rope=(4, 2, 2),
        axes_lens=(256, 64, 64), cap_feat_dim=8,
    ).eval()
    return Lumina2Pipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(),
                           vae=tiny_vae(shift_factor=0.0609, scaling_factor=1.5035),
                           text_encoder=_gemma2(8),
                           tokenizer=byte_tokenizer(256))


_BUILDERS = {"SanaPipeline": _sana, "ChromaPipeline": _chroma, "Lumina2Pipeline": _lumina2}


def save_tiny_derived(pipeline_class: str, directory: Path, seed: int = 0) -> Path:
    """Build the tiny pipeline and ``save_pretrained`` it to ``directory``."""
    import torch

    torch.manual_seed(seed)
    pipe = _BUILDERS[pipeline_class]()
    pipe.save_pretrained(directory)
    return directory
