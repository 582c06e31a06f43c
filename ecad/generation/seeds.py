"""Deterministic per-image seeds: a function of (base seed, prompt index, image index) only,
so an image is the same whatever batch or order it is generated in.

Two rules. ``ecad`` (the default): one generator per image, seeded from a ``SeedSequence`` of
(base seed, prompt, image). ``reference``: the ECAD reference implementation's, where for image
``i`` one CPU generator seeded with ``base seed + i`` draws the latents of all prompts at once and
prompt ``p`` takes slice ``p``; reproduced per image by skipping the ``p`` earlier slices of that
generator's stream (torch's CPU normal sampling yields the same values drawn in pieces of whole
images as in one draw)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SEED_RULES", "image_generator", "image_seed", "reference_generator"]

SEED_RULES = ("ecad", "reference")


def image_seed(base_seed: int, prompt_index: int, image_index: int) -> int:
    """A 63-bit seed for image ``image_index`` of prompt ``prompt_index``."""
    state = np.random.SeedSequence([int(base_seed), int(prompt_index), int(image_index)])
    return int(state.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def image_generator(base_seed: int, prompt_index: int, image_index: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(
        image_seed(base_seed, prompt_index, image_index)
    )


def reference_generator(
    base_seed: int, prompt_index: int, image_index: int, numel: int
) -> torch.Generator:
    """The generator whose next ``numel`` normals are prompt ``prompt_index``'s slice of the
    reference's all-prompts draw for image ``image_index`` (``numel``: one image's latents)."""
    generator = torch.Generator(device="cpu").manual_seed(int(base_seed) + int(image_index))
    if prompt_index:
        torch.randn(int(prompt_index) * int(numel), generator=generator)
    return generator
