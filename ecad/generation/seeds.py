"""Deterministic per-image seeds: a function of (base seed, prompt index, image index) only,
so an image is the same whatever batch or order it is generated in."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["image_generator", "image_seed"]


def image_seed(base_seed: int, prompt_index: int, image_index: int) -> int:
    """A 63-bit seed for image ``image_index`` of prompt ``prompt_index``."""
    state = np.random.SeedSequence([int(base_seed), int(prompt_index), int(image_index)])
    return int(state.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def image_generator(base_seed: int, prompt_index: int, image_index: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(
        image_seed(base_seed, prompt_index, image_index)
    )
