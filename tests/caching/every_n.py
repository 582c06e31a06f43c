"""FORA written independently of the project: a plain wrapper module swapped in for a component,
the reference the engine's FORA-n schedules are compared with."""

from __future__ import annotations

import torch


class EveryN(torch.nn.Module):
    """Computes its module at steps 0, n, 2n, ... and returns that output at the steps between.
    The pipeline calls the transformer ``calls_per_step`` times a step (guidance as separate
    calls); each call of a step is its own branch and keeps its own output. A pipeline that
    starts part-way (img2img ``strength``) starts at sampler step ``first_step``: steps count
    from there, and the first one computes (nothing is kept yet)."""

    def __init__(
        self, inner: torch.nn.Module, n: int, calls_per_step: int, first_step: int = 0
    ) -> None:
        super().__init__()
        self.inner, self.n, self.calls_per_step = inner, n, calls_per_step
        self.first_step = first_step
        self.calls = 0
        self.kept: dict[int, object] = {}

    def forward(self, *args, **kwargs):
        step, branch = divmod(self.calls, self.calls_per_step)
        step += self.first_step
        self.calls += 1
        if self.computes(step) or branch not in self.kept:
            self.kept[branch] = self.inner(*args, **kwargs)
        return self.kept[branch]

    def computes(self, step: int) -> bool:
        return step % self.n == 0


class ReuseAt(EveryN):
    """Computes at every sampler step except those in ``reused`` (where it returns the output
    of the step before)."""

    def __init__(self, inner, reused, calls_per_step: int, first_step: int = 0) -> None:
        super().__init__(inner, 1, calls_per_step, first_step)
        self.reused = frozenset(reused)

    def computes(self, step: int) -> bool:
        return step not in self.reused
