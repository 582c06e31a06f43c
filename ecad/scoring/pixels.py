"""A torchvision preprocessing pipeline split at its tensor steps.

Reward models preprocess a PIL image with ``Compose([..PIL steps.., ToTensor(), Normalize()])``.
Per image on the CPU, the last two steps turn every pixel into float32 and normalise it, and the
float batch (4x the bytes of the pixels) then crosses to the GPU. :class:`SplitPreprocess` runs
the PIL steps per image (resizing releases the GIL, so threads help) and ``ToTensor`` +
``Normalize`` once per batch on the device. The arithmetic is the same elementwise float32
division and subtraction, so the values equal the composed pipeline's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["SplitPreprocess"]


class SplitPreprocess:
    """``preprocess`` = PIL steps, then ToTensor + Normalize (else :meth:`of` returns None)."""

    def __init__(self, pil_steps: Sequence[Callable[[Any], Any]], mean: Sequence[float],
                 std: Sequence[float]) -> None:
        self.pil_steps = list(pil_steps)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    @classmethod
    def of(cls, preprocess: Any) -> SplitPreprocess | None:
        from torchvision.transforms import Normalize, ToTensor

        steps = list(getattr(preprocess, "transforms", []))
        if (len(steps) < 2 or not isinstance(steps[-2], ToTensor)
                or not isinstance(steps[-1], Normalize) or steps[-1].inplace):
            return None
        return cls(steps[:-2], steps[-1].mean, steps[-1].std)

    def pixels(self, image: Any) -> np.ndarray:
        """The PIL steps: an ``H x W x 3`` uint8 array."""
        for step in self.pil_steps:
            image = step(image)
        array = np.asarray(image, dtype=np.uint8)
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"expected an RGB image after preprocessing, got {array.shape}")
        return array

    def batch(self, arrays: Sequence[np.ndarray], device: Any) -> Any:
        """ToTensor + Normalize of a batch of :meth:`pixels` outputs, on ``device``."""
        import torch

        pixels = torch.from_numpy(np.stack(arrays)).to(device).permute(0, 3, 1, 2)
        x = pixels.to(torch.float32).div(255)
        mean = torch.as_tensor(self.mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
        std = torch.as_tensor(self.std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
        return x.sub_(mean).div_(std)
