"""Wan text-to-video: Wan 2.1 T2V 1.3B and 14B, and Wan 2.2 T2V A14B (two experts).

Every block of ``WanTransformer3DModel`` runs self-attention over the video tokens (``attn1``),
cross-attention to the UMT5 text tokens (``attn2``: TGATE-style heuristics apply) and a
feed-forward (``ffn``). Guidance is true classifier-free guidance: the pipeline calls the
transformer a second time per step for the negative prompt, under ``cache_context("uncond")``,
and each branch keeps its own caches.

Tokens grow with frames: the VAE compresses 4x in time and 8x in space, the transformer patches
2x2, so a ``frames``-frame video at ``height`` x ``width`` is ``((frames - 1) // 4 + 1) x
(height // 16) x (width // 16)`` tokens (81 frames at 832x480: 21 x 30 x 52 = 32,760).

Wan 2.2 A14B has two transformers of the same architecture: ``transformer`` (the high-noise
expert) runs the steps whose timestep is at least ``boundary_ratio x 1000`` and
``transformer_2`` (the low-noise expert) the others. One schedule covers both: row ``t`` applies
to the expert that runs step ``t`` (:func:`wan22_expert_steps`, also
``ScheduleLayout.expert_of_steps``), and the first step of each expert computes everything (its
caches are empty), as step 0 does.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from ecad.families.family import BlockGroup, ModelFamily
from ecad.families.tiny_wan import build_tiny_wan, build_tiny_wan22

__all__ = [
    "WAN21_T2V_1_3B",
    "WAN21_T2V_14B",
    "WAN22_T2V_A14B",
    "wan22_expert_steps",
    "wan_inputs",
    "wan_tokens",
]

_BLOCKS = BlockGroup(
    name="blocks",
    module_list="blocks",
    num_blocks=30,
    components=("attn1", "attn2", "ff"),
    component_paths={"attn1": "attn1", "attn2": "attn2", "ff": "ffn"},
    roles={"attn1": "self_attention", "attn2": "cross_attention", "ff": "mlp"},
)

# Wan-AI/Wan2.1-T2V-1.3B-Diffusers transformer/config.json.
_TRANSFORMER_1_3B = {
    "added_kv_proj_dim": None,
    "attention_head_dim": 128,
    "cross_attn_norm": True,
    "eps": 1e-6,
    "ffn_dim": 8960,
    "freq_dim": 256,
    "image_dim": None,
    "in_channels": 16,
    "num_attention_heads": 12,
    "num_layers": 30,
    "out_channels": 16,
    "patch_size": [1, 2, 2],
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 1024,
    "text_dim": 4096,
}
# Wan-AI/Wan2.1-T2V-14B-Diffusers; each expert of Wan-AI/Wan2.2-T2V-A14B-Diffusers is the same.
_TRANSFORMER_14B = {
    **_TRANSFORMER_1_3B,
    "ffn_dim": 13824,
    "num_attention_heads": 40,
    "num_layers": 40,
}

#: Wan 2.2 A14B's published sampling: the boundary between the experts and the sampler's shift.
WAN22_BOUNDARY_RATIO = 0.875
WAN22_FLOW_SHIFT = 12.0
_TRAIN_TIMESTEPS = 1000


def wan_tokens(frames: int, height: int, width: int) -> int:
    """Transformer tokens of one video (see the module docstring)."""
    return ((frames - 1) // 4 + 1) * (height // 16) * (width // 16)


def wan_inputs(
    cfg: dict[str, Any],
    latent: int,
    batch: int,
    text: int,
    *,
    frames: int = 1,
    latent_width: int | None = None,
) -> dict[str, Any]:
    """One forward's inputs: the video latent (``(frames - 1) // 4 + 1`` latent frames of
    ``latent`` x ``latent_width``), ``text`` UMT5 tokens."""
    import torch

    latent_frames = (frames - 1) // 4 + 1
    return {
        "hidden_states": torch.randn(
            batch, cfg["in_channels"], latent_frames, latent, latent_width or latent
        ),
        "encoder_hidden_states": torch.randn(batch, text, cfg["text_dim"]),
        "timestep": torch.ones(batch),
    }


@lru_cache(maxsize=256)
def wan22_expert_steps(
    steps: int,
    boundary_ratio: float = WAN22_BOUNDARY_RATIO,
    flow_shift: float = WAN22_FLOW_SHIFT,
) -> tuple[int, ...]:
    """Which expert runs each step: 0 (``transformer``, high noise) or 1 (``transformer_2``).

    The timesteps of diffusers' UniPC sampler with flow sigmas, computed as it does (numpy,
    float64, truncated to integers), compared with the boundary as ``WanPipeline`` does. With
    the published settings, 40 steps give 26 high-noise steps then 14 low-noise ones.
    """
    sigmas = np.linspace(1, 1 / _TRAIN_TIMESTEPS, steps + 1)[:-1]
    sigmas = flow_shift * sigmas / (1 + (flow_shift - 1) * sigmas)
    if abs(sigmas[0] - 1) < 1e-6:
        sigmas[0] -= 1e-6
    timesteps = (sigmas * _TRAIN_TIMESTEPS).astype(np.int64)
    boundary = boundary_ratio * _TRAIN_TIMESTEPS
    return tuple(0 if t >= boundary else 1 for t in timesteps)


WAN21_T2V_1_3B = ModelFamily(
    name="wan2.1-t2v-1.3b",
    aliases=("wan2.1-1.3b", "wan-1.3b", "wan2.1_t2v_1.3b"),
    kind="wan",
    pipeline_class="WanPipeline",
    transformer_class="WanTransformer3DModel",
    block_groups=(_BLOCKS,),
    default_weights="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    # Model card: 480p (832x480), 81 frames at 16 fps, 50 steps, guidance 5.0, flow shift 3.0.
    default_steps=50,
    default_guidance=5.0,
    default_resolution=480,
    default_width=832,
    default_frames=81,
    default_fps=16,
    default_dtype="bfloat16",
    max_sequence_length=512,
    transformer_config=_TRANSFORMER_1_3B,
    build_tiny_pipeline=build_tiny_wan,
    text_components=("text_encoder", "tokenizer"),
    tiny_blocks={"blocks": 2},
    transformer_inputs=wan_inputs,
    cfg_rows=2,  # a second transformer call for the negative prompt
)

WAN21_T2V_14B = replace(
    WAN21_T2V_1_3B,
    name="wan2.1-t2v-14b",
    aliases=("wan2.1-14b", "wan-14b", "wan2.1_t2v_14b"),
    block_groups=(replace(_BLOCKS, num_blocks=40),),
    default_weights="Wan-AI/Wan2.1-T2V-14B-Diffusers",
    # Model card: 720p (1280x720), 81 frames at 16 fps, 50 steps, guidance 5.0, flow shift 5.0.
    default_resolution=720,
    default_width=1280,
    transformer_config=_TRANSFORMER_14B,
)

WAN22_T2V_A14B = replace(
    WAN21_T2V_14B,
    name="wan2.2-t2v-a14b",
    aliases=("wan2.2-a14b", "wan2.2", "wan2.2_t2v_a14b"),
    default_weights="Wan-AI/Wan2.2-T2V-A14B-Diffusers",
    # Model card: 720p, 81 frames at 16 fps, 40 steps, guidance 4.0 for the high-noise expert
    # and 3.0 for the low-noise one (guidance_scale_2), boundary 0.875, flow shift 12.0.
    default_steps=40,
    default_guidance=4.0,
    default_guidance_2=3.0,
    build_tiny_pipeline=build_tiny_wan22,
    experts=("transformer", "transformer_2"),
    expert_steps=wan22_expert_steps,
)
