"""Apply a caching schedule to a diffusers transformer with diffusers' hook mechanism.

A component's raw output (before its gate) is cached when it is recomputed and returned again
when its bit says reuse; norms, modulation, gates and residual adds keep running in the block
with the current step's values. No model class is forked and ``state_dict`` keys are unchanged.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers.hooks import HookRegistry, ModelHook

from ecad.caching.state import CallState, ContextProbe
from ecad.caching.targets import component_modules, split_target
from ecad.schedules import Schedule

__all__ = ["ScheduleCacheConfig", "apply_schedule", "cache_stats", "remove_schedule"]

DENOISER_HOOK = "ecad_schedule_denoiser"
COMPONENT_HOOK = "ecad_schedule_component"


@dataclass(frozen=True)
class ScheduleCacheConfig:
    """What :func:`apply_schedule` installs.

    Attributes:
        schedule: the schedule (``True`` = recompute); its step count must equal the call's
            ``num_inference_steps``.
    """

    schedule: Schedule


class _DenoiserHook(ModelHook):
    """On the transformer: works out the step/branch before each forward, resets on failure."""

    _is_stateful = True

    def __init__(self, call: CallState, pipeline: Any | None) -> None:
        super().__init__()
        self.call = call
        self.probe = ContextProbe()
        self._pipeline = weakref.ref(pipeline) if pipeline is not None else None

    def new_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        pipeline = self._pipeline() if self._pipeline is not None else None
        sampler = getattr(pipeline, "scheduler", None)
        try:
            self.call.begin_forward(sampler, self.probe.branch)
            return self.fn_ref.original_forward(*args, **kwargs)
        except BaseException:
            self.call.reset()
            raise

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        self.call.reset()
        return module


class _ComponentHook(ModelHook):
    """On one component module: recompute, or return the output cached for this branch."""

    _is_stateful = True

    def __init__(self, call: CallState, recompute: np.ndarray) -> None:
        super().__init__()
        self.call = call
        self.recompute = tuple(bool(b) for b in recompute)
        # Keep an output only if the next step reuses it; that bounds memory to what is needed.
        self.keep = tuple(
            t + 1 < len(self.recompute) and not self.recompute[t + 1]
            for t in range(len(self.recompute))
        )
        self.cache: dict[str, Any] = {}

    def new_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        t, branch = self.call.step, self.call.branch
        if not self.recompute[t]:
            cached = self.cache.get(branch)
            if cached is not None:
                if not self.keep[t]:
                    del self.cache[branch]
                return cached
        out = self.fn_ref.original_forward(*args, **kwargs)
        if self.keep[t]:
            self.cache[branch] = out
        else:
            self.cache.pop(branch, None)
        return out

    def drop_caches(self) -> None:
        self.cache.clear()

    def cached_bytes(self) -> int:
        return sum(_nbytes(v) for v in self.cache.values())

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        self.cache.clear()
        return module


def _nbytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 0


def apply_schedule(pipe_or_transformer: Any, schedule: Schedule | ScheduleCacheConfig) -> None:
    """Install ``schedule`` on a diffusers pipeline (or its transformer).

    A schedule already applied is replaced. With a pipeline, the step index follows
    ``pipe.scheduler`` (the sampler); with a bare transformer, forward calls are counted.

    Example:
        >>> from ecad.caching import apply_schedule, remove_schedule
        >>> from ecad.schedules import read_schedule
        >>> schedule = read_schedule("schedules/pixart-alpha/fora-3.json")  # doctest: +SKIP
        >>> apply_schedule(pipe, schedule)  # doctest: +SKIP
        >>> images = pipe(prompt, num_inference_steps=schedule.steps).images  # doctest: +SKIP
        >>> remove_schedule(pipe)  # doctest: +SKIP
    """
    config = (
        schedule if isinstance(schedule, ScheduleCacheConfig) else ScheduleCacheConfig(schedule)
    )
    sched = config.schedule
    transformer, pipeline = split_target(pipe_or_transformer)
    modules = component_modules(transformer, sched.layout)
    remove_schedule(transformer)

    call = CallState(sched.steps)
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(
        _DenoiserHook(call, pipeline), DENOISER_HOOK
    )
    effective = sched.effective()
    for col in sched.reused_slots():
        hook = _ComponentHook(call, effective[:, col])
        call.add_listener(hook)
        HookRegistry.check_if_exists_or_initialize(modules[col]).register_hook(hook, COMPONENT_HOOK)
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()


def remove_schedule(pipe_or_transformer: Any) -> None:
    """Remove an applied schedule; the model behaves exactly as before. No-op if none."""
    transformer, _ = split_target(pipe_or_transformer)
    for _, module in transformer.named_modules():
        registry = getattr(module, "_diffusers_hook", None)
        if registry is None:
            continue
        for name in (COMPONENT_HOOK, DENOISER_HOOK):
            if name in registry.hooks:
                registry.remove_hook(name, recurse=False)
        if module is not transformer and not registry.hooks:
            del module._diffusers_hook
    registry = getattr(transformer, "_diffusers_hook", None)
    if registry is not None:
        registry.invalidate_child_registries_cache()


def cache_stats(pipe_or_transformer: Any) -> dict[str, int]:
    """Number of hooked (ever-reused) components and bytes currently held in caches."""
    transformer, _ = split_target(pipe_or_transformer)
    hooks = [
        m._diffusers_hook.hooks[COMPONENT_HOOK]
        for m in transformer.modules()
        if COMPONENT_HOOK in getattr(getattr(m, "_diffusers_hook", None), "hooks", {})
    ]
    return {"cached_components": len(hooks), "cached_bytes": sum(h.cached_bytes() for h in hooks)}
