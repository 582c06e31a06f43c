"""Calling the tiny pipelines the same way in every caching test."""

from __future__ import annotations

import torch

STEPS = 6


def run_pipe(pipe, family, **extra):
    """Two prompts, STEPS steps, 64 px, fixed seed; tensors out."""
    kwargs = dict(
        prompt=["a red cube", "two cats"],
        num_inference_steps=STEPS,
        height=64,
        width=64,
        guidance_scale=family.default_guidance,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )
    if family.kind == "pixart":
        kwargs.update(use_resolution_binning=False, clean_caption=False)
    kwargs.update(extra)
    return pipe(**kwargs).images
