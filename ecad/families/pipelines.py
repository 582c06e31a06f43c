"""A family's other diffusers pipelines: img2img, inpainting, ControlNet and edit.

They run the family's transformer class, so a schedule of the family applies to them unchanged
(``apply_schedule(pipe, schedule)``). **Schedule row = sampler step**: with ``strength`` s < 1
and N steps the pipeline runs only the sampler's last steps, from step k = int(N - s N) on
(its ``begin_index``), and sampler step t runs schedule row t, at the noise level the row was
learned for; row k runs every component (nothing is cached yet). ``num_inference_steps`` must
equal the schedule's step count whatever the strength.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PIPELINE_ROLES", "FamilyPipeline", "build_tiny_variant"]

PIPELINE_ROLES = ("img2img", "inpaint", "controlnet", "edit")


@dataclass(frozen=True)
class FamilyPipeline:
    """One diffusers pipeline that runs a family's transformer.

    Attributes:
        role: one of :data:`PIPELINE_ROLES`.
        pipeline_class: diffusers pipeline class name.
        strength: whether it takes ``strength`` (and so may start part-way).
        controlnet_class: the ControlNet model class it needs, if any.
        weights: the published weights it is made for, where they differ from the family's
            default (an edit model); the transformer class and blocks are the same.
        tested: exercised on the tiny build by ``tests/families/test_pipelines.py``.
        tiny_options: keywords for the family's tiny builder that this pipeline needs.
    """

    role: str
    pipeline_class: str
    strength: bool = False
    controlnet_class: str | None = None
    weights: str | None = None
    tested: bool = False
    tiny_options: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [self.pipeline_class]
        if self.strength:
            parts.append("strength")
        if self.controlnet_class:
            parts.append(self.controlnet_class)
        if self.weights:
            parts.append(self.weights)
        return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else parts[0]


def build_tiny_variant(family: Any, pipeline_class: str, seed: int = 0) -> Any:
    """The family's tiny random-weight pipeline as ``pipeline_class`` (one of its
    :attr:`~ecad.families.ModelFamily.pipelines`): the same components, plus a tiny random
    ControlNet of the real class where the pipeline needs one.

    Example:
        >>> from ecad.families import get_family
        >>> family = get_family("flux-dev")
        >>> pipe = build_tiny_variant(family, "FluxImg2ImgPipeline")  # doctest: +SKIP
    """
    import diffusers

    from ecad.errors import FamilyError

    entry = next((p for p in family.pipelines if p.pipeline_class == pipeline_class), None)
    if entry is None:
        raise FamilyError(
            f"{pipeline_class} is not one of family {family.name}'s pipelines; choose one of "
            f"{[p.pipeline_class for p in family.pipelines] or 'none (it has no others)'}"
        )
    base = family.build_tiny_pipeline(seed=seed, **entry.tiny_options)
    components = dict(base.components)
    if entry.controlnet_class is not None:
        components["controlnet"] = _tiny_controlnet(entry.controlnet_class, base.transformer)
    pipe_cls = getattr(diffusers, pipeline_class)
    accepted = set(pipe_cls._get_signature_keys(pipe_cls)[0])
    for name in accepted - set(components):
        components[name] = None  # optional parts (image encoders, the edit models' processor)
    return pipe_cls(**{k: v for k, v in components.items() if k in accepted})


def _tiny_controlnet(class_name: str, transformer: Any) -> Any:
    """A one-block ControlNet of the real class, shaped like the tiny ``transformer``."""
    import diffusers
    import torch

    cfg = transformer.config
    common = {
        "num_layers": 1,
        "attention_head_dim": cfg.attention_head_dim,
        "num_attention_heads": cfg.num_attention_heads,
        "joint_attention_dim": cfg.joint_attention_dim,
    }
    if class_name == "FluxControlNetModel":
        extra = {
            "patch_size": cfg.patch_size,
            "in_channels": cfg.in_channels,
            "num_single_layers": 1,
            "pooled_projection_dim": cfg.pooled_projection_dim,
            "guidance_embeds": cfg.guidance_embeds,
            "axes_dims_rope": tuple(cfg.axes_dims_rope),
        }
    elif class_name == "SD3ControlNetModel":
        extra = {
            "sample_size": cfg.sample_size,
            "patch_size": cfg.patch_size,
            "in_channels": cfg.in_channels,
            "caption_projection_dim": cfg.caption_projection_dim,
            "pooled_projection_dim": cfg.pooled_projection_dim,
            "out_channels": cfg.out_channels,
            "pos_embed_max_size": cfg.pos_embed_max_size,
        }
    elif class_name == "QwenImageControlNetModel":
        extra = {
            "patch_size": cfg.patch_size,
            "in_channels": cfg.in_channels,
            "out_channels": cfg.out_channels,
            "axes_dims_rope": tuple(cfg.axes_dims_rope),
        }
    else:
        raise ValueError(f"no tiny build for ControlNet class {class_name}")
    torch.manual_seed(1)
    return getattr(diffusers, class_name)(**common, **extra).eval()
