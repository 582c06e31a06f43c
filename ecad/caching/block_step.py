"""What a lean block forward (:mod:`ecad.caching.recipes`) works with: the step's questions
(:class:`BlockStep`) and the residual stream with its pending gated adds (:class:`Residual`)."""

from __future__ import annotations

from typing import Any, Protocol

import torch

from ecad.caching.kernels import gated_sum

__all__ = ["BlockStep", "Residual"]


class BlockStep(Protocol):
    """What a recipe asks about the current step; names are attribute paths inside the block."""

    fused: bool

    def computes(self, name: str) -> bool:
        """``True`` if ``name`` must run this step (it is scheduled and its output is read)."""

    def cached(self, name: str) -> Any:
        """The output of ``name`` cached at the last step it ran."""

    def store(self, name: str, output: Any) -> Any:
        """Keep ``output`` if a later step reuses it; returns ``output``."""


class Residual:
    """The residual stream with pending gated adds, materialised when a component reads it."""

    def __init__(self, base: torch.Tensor, fused: bool) -> None:
        self.base, self.fused, self.terms = base, fused, []

    def add(self, value: torch.Tensor, gate: torch.Tensor | None = None) -> None:
        self.terms.append((gate, value))

    def value(self) -> torch.Tensor:
        if self.terms:
            self.base = gated_sum(self.base, self.terms, self.fused)
            self.terms = []
        return self.base
