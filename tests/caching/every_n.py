"""FORA written independently of the project: a plain wrapper module swapped in for a component,
the reference the engine's FORA-n schedules are compared with."""

from __future__ import annotations

import torch


class EveryN(torch.nn.Module):
    """Computes its module at steps 0, n, 2n, ... and returns that output at the steps between.
    The pipeline calls the transformer ``calls_per_step`` times a step (guidance as separate
    calls); each call of a step is its own branch and keeps its own output."""

    def __init__(self, inner: torch.nn.Module, n: int, calls_per_step: int) -> None:
        super().__init__()
        self.inner, self.n, self.calls_per_step = inner, n, calls_per_step
        self.calls = 0
        self.kept: dict[int, object] = {}

    def forward(self, *args, **kwargs):
        step, branch = divmod(self.calls, self.calls_per_step)
        self.calls += 1
        if step % self.n == 0:
            self.kept[branch] = self.inner(*args, **kwargs)
        return self.kept[branch]
