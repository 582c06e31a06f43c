"""Per-call state of a schedule applied to a transformer: which step and branch is running."""

from __future__ import annotations

from typing import Any

import torch
from diffusers.hooks.hooks import BaseState, StateManager

from ecad.errors import ScheduleMismatchError

__all__ = ["CacheLedger", "CallState", "ContextProbe", "nbytes"]

DEFAULT_BRANCH = "default"


class ContextProbe(StateManager):
    """Receives diffusers' ``cache_context`` (e.g. ``"cond"``/``"uncond"`` in FLUX true-CFG), so
    each guidance branch keeps its own caches. Pipelines that batch both halves (PixArt) set no
    context; they run as one branch."""

    def __init__(self) -> None:
        super().__init__(BaseState)

    @property
    def branch(self) -> str:
        return self._context.name if self._context is not None else DEFAULT_BRANCH

    def reset(self, *args: Any, **kwargs: Any) -> None:
        self._context = None


def nbytes(value: Any) -> int:
    """Bytes held by a tensor or a (nested) tuple/list of tensors."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    return 0


class CacheLedger:
    """Bytes held in the caches of one applied schedule, now and at the peak of the last call."""

    def __init__(self) -> None:
        self.bytes = 0
        self.peak = 0

    def add(self, n: int) -> None:
        self.bytes += n
        self.peak = max(self.peak, self.bytes)

    def sub(self, n: int) -> None:
        self.bytes -= n


class CallState:
    """Tracks the denoising step of the current pipeline call.

    With a sampler (a pipeline was given) the step is the sampler's own ``step_index``, so it
    follows the sampler for direct ``pipe(...)`` calls; a ``None`` index means a new denoising
    loop has begun. Without one (a bare transformer), forward calls of each branch are counted.
    """

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.step = 0
        self.branch = DEFAULT_BRANCH
        self._calls: dict[str, int] = {}
        # Calls of each branch in the current sampler step: pipelines that run guidance as two
        # transformer calls per step without a cache context (Chroma, Lumina 2) get one branch
        # per call ("default", "default#1"), so each keeps its own caches.
        self._in_step: dict[str, int] = {}
        self._step_seen = -1
        self._listeners: list[Any] = []
        self.ledger = CacheLedger()

    def add_listener(self, hook: Any) -> None:
        """``hook.drop_caches()`` is called whenever the caches must be emptied."""
        self._listeners.append(hook)

    def begin_forward(self, sampler: Any | None, branch: str) -> None:
        index = getattr(sampler, "step_index", None) if sampler is not None else None
        if sampler is not None and hasattr(sampler, "step_index"):
            if index is None:  # sampler not stepped yet: first step of a new call
                if self.step != 0:
                    self.drop_caches()
                timesteps = getattr(sampler, "timesteps", None)
                if timesteps is not None and len(timesteps) != self.steps:
                    raise ScheduleMismatchError(
                        f"schedule has {self.steps} steps but the sampler runs {len(timesteps)};"
                        f" call the pipeline with num_inference_steps={self.steps} or use a "
                        f"schedule made for {len(timesteps)} steps"
                    )
                index = 0
            step = int(index)
            if step != self._step_seen:
                self._in_step.clear()
                self._step_seen = step
            nth = self._in_step.get(branch, 0)
            self._in_step[branch] = nth + 1
            branch = f"{branch}#{nth}" if nth else branch
        else:
            step = self._calls.get(branch, 0)
            if step >= self.steps:  # a new denoising loop on a bare transformer
                step = 0
            self._calls[branch] = step + 1
        if step >= self.steps:
            raise ScheduleMismatchError(
                f"denoising step {step} is past the schedule's {self.steps} steps; call with "
                f"num_inference_steps={self.steps}"
            )
        if step == 0 and self.ledger.bytes == 0:  # a new call: its peak starts now
            self.ledger.peak = 0
        self.step = step
        self.branch = branch

    def drop_caches(self) -> None:
        for hook in self._listeners:
            hook.drop_caches()

    def reset(self) -> None:
        self.step = 0
        self.branch = DEFAULT_BRANCH
        self._calls.clear()
        self._in_step.clear()
        self._step_seen = -1
        self.drop_caches()
