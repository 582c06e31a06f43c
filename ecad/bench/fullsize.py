"""Full-size pipelines with random weights, for timing without downloading anything.

The transformer is the family's real architecture (``ModelFamily.transformer_config``), the VAE
the real one of the released pipeline (configs below), the sampler the released one; text
encoders are left out and random prompt embeddings of the right shape are fed instead. Random
weights run the same kernels at the same shapes as trained ones, so latency is the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

from ecad.errors import ConfigError
from ecad.families import ModelFamily
from ecad.families.loading import parse_dtype

__all__ = ["VAE_CONFIGS", "random_embeddings", "random_pipeline"]

_SD_VAE = {  # PixArt-α/Σ ship Stable Diffusion's VAE (sd-vae-ft-ema)
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}

_FLUX_VAE = {
    **_SD_VAE,
    "latent_channels": 16,
    "sample_size": 1024,
    "scaling_factor": 0.3611,
    "shift_factor": 0.1159,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
    "force_upcast": True,
}

#: The released VAE of each family kind: diffusers class and config. Qwen-Image's and FLUX.2's
#: classes default to their released configs.
VAE_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "pixart": ("AutoencoderKL", _SD_VAE),
    "flux": ("AutoencoderKL", _FLUX_VAE),
    # stabilityai/stable-diffusion-3.5-large vae/config.json
    "sd3": ("AutoencoderKL", {**_FLUX_VAE, "scaling_factor": 1.5305, "shift_factor": 0.0609}),
    "qwen-image": ("AutoencoderKLQwenImage", {}),
    "flux2": ("AutoencoderKLFlux2", {}),
    # Wan-AI/Wan2.1-T2V-1.3B-Diffusers vae/config.json: the class defaults (base_dim 96, z 16)
    "wan": ("AutoencoderKLWan", {}),
}

_FLUX_SAMPLER = {
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 4096,
    "max_shift": 1.15,
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": True,
}

# The released samplers' configs (PixArt-XL-2 and FLUX.1-dev scheduler/ folders).
_SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "pixart": (
        "DPMSolverMultistepScheduler",
        {
            "beta_start": 0.0001,
            "beta_end": 0.02,
            "beta_schedule": "linear",
            "num_train_timesteps": 1000,
            "prediction_type": "epsilon",
            "solver_order": 2,
            "algorithm_type": "dpmsolver++",
            "lower_order_final": True,
        },
    ),
    "flux": ("FlowMatchEulerDiscreteScheduler", _FLUX_SAMPLER),
    # stabilityai/stable-diffusion-3.5-large scheduler/scheduler_config.json
    "sd3": ("FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 3.0}),
    # Qwen/Qwen-Image scheduler/scheduler_config.json
    "qwen-image": (
        "FlowMatchEulerDiscreteScheduler",
        {
            "base_image_seq_len": 256,
            "base_shift": 0.5,
            "max_image_seq_len": 8192,
            "max_shift": 0.9,
            "num_train_timesteps": 1000,
            "shift": 1.0,
            "shift_terminal": 0.02,
            "time_shift_type": "exponential",
            "use_dynamic_shifting": True,
        },
    ),
    # black-forest-labs/FLUX.2-dev scheduler/scheduler_config.json
    "flux2": (
        "FlowMatchEulerDiscreteScheduler",
        {**_FLUX_SAMPLER, "time_shift_type": "exponential"},
    ),
    # Wan-AI/Wan2.1-T2V-1.3B-Diffusers scheduler/scheduler_config.json (flow shift 3.0 at 480p;
    # Wan 2.2 A14B's 12.0 is set below)
    "wan": (
        "UniPCMultistepScheduler",
        {
            "prediction_type": "flow_prediction",
            "use_flow_sigmas": True,
            "flow_shift": 3.0,
            "num_train_timesteps": 1000,
        },
    ),
}


def random_pipeline(
    family: ModelFamily,
    resolution: int,
    *,
    device: str | torch.device = "cuda",
    dtype: str | torch.dtype | None = None,
    tiny: bool = False,
    seed: int = 0,
    blocks: Mapping[str, int] | None = None,
) -> Any:
    """The family's diffusers pipeline with random weights and no text encoders.

    ``tiny`` builds the family's tiny test architecture instead (CPU smoke runs). ``blocks``
    gives a group fewer blocks than the full-size model (a transformer too large for the GPU).
    The transformer is built in ``dtype`` directly: FLUX.2's 32B parameters in float32 would
    not fit before the cast.
    """
    import diffusers

    dtype = parse_dtype(dtype or ("float32" if tiny else family.default_dtype))
    if tiny:
        pipe = family.build_tiny_pipeline(seed=seed)
        return _finish(pipe, device, dtype)
    multiple = family.resolution_multiple()
    if resolution <= 0 or resolution % multiple:
        raise ConfigError(f"resolution {resolution} must be a positive multiple of {multiple}")
    torch.manual_seed(seed)
    config = dict(family.transformer_config)
    if family.kind == "pixart":
        config["sample_size"] = resolution // family.vae_scale_factor
    groups = {g.name: g for g in family.block_groups}
    for name, count in (blocks or {}).items():
        if name not in groups or not 1 <= count <= groups[name].num_blocks:
            raise ConfigError(
                f"blocks: {name}={count}: groups of {family.name} are "
                + ", ".join(f"{g.name} (1..{g.num_blocks})" for g in family.block_groups)
            )
        config[groups[name].config_key] = int(count)
    # Built on the target device (FLUX's 12B parameters initialise in seconds there).
    with torch.device(device), _default_dtype(dtype):
        experts = {}
        for name in family.experts:  # Wan 2.2: two transformers of one architecture
            transformer = getattr(diffusers, family.transformer_class)(**config)
            experts[name] = transformer.to(device=device, dtype=dtype).eval()
        vae_class, vae_config = VAE_CONFIGS[family.kind]
        vae = getattr(diffusers, vae_class)(**vae_config).to(device=device, dtype=dtype)
    sampler_class, sampler_config = _SAMPLERS[family.kind]
    extra: dict[str, Any] = {}
    if family.expert_steps is not None:
        from ecad.families.wan import WAN22_BOUNDARY_RATIO, WAN22_FLOW_SHIFT

        sampler_config = {**sampler_config, "flow_shift": WAN22_FLOW_SHIFT}
        extra["boundary_ratio"] = WAN22_BOUNDARY_RATIO
    sampler = getattr(diffusers, sampler_class)(**sampler_config)
    pipeline_class = getattr(diffusers, family.pipeline_class)
    pipe = pipeline_class(
        scheduler=sampler,
        vae=vae.eval(),
        **experts,
        **extra,
        **dict.fromkeys(family.text_components),
    )
    return _finish(pipe, device, dtype)


@contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _finish(pipe: Any, device: str | torch.device, dtype: torch.dtype) -> Any:
    pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def random_embeddings(
    pipe: Any, family: ModelFamily, batch: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Random prompt embeddings of the shapes the family's text encoders produce, for ``batch``
    prompts of ``max_sequence_length`` tokens (e.g. PixArt: T5 ``[B, 120, 4096]`` + mask,
    positive and negative; FLUX: T5 ``[B, 512, 4096]`` + pooled CLIP ``[B, 768]``; the shapes
    are the family adapter's), on the pipeline's device and dtype."""
    from ecad.generation.adapters import adapter_for

    device, dtype = pipe._execution_device, pipe.transformer.dtype
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).to(device=device, dtype=dtype)

    tensors = adapter_for(family).random_embeddings(
        pipe.transformer.config, batch, family.max_sequence_length, randn
    )
    return {k: v.to(device) for k, v in tensors.items()}
