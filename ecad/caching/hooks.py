"""Apply a caching schedule to a diffusers transformer with diffusers' hook mechanism.

A component's raw output (before its gate) is cached when it is recomputed and returned again
when its bit says reuse; gates and residual adds keep running in the block with the current
step's values. No model class is forked and ``state_dict`` keys are unchanged.

Two kinds of hook give the same outputs (to float rounding). A block whose class has a lean
forward in :mod:`ecad.caching.recipes` gets one block hook that skips the inputs of reused
components and fuses the residual adds; any other block gets one hook per reused component
module, which returns the cached output in place of running the module.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from diffusers.hooks import HookRegistry, ModelHook

from ecad.caching.blocks import BlockHook, plan_block
from ecad.caching.compiled import (
    CompiledForward,
    CompileStats,
    check_mode,
    pattern_steps,
    raise_recompile_limit,
    refuse_offload,
    restore_recompile_limit,
)
from ecad.caching.config import ScheduleCacheConfig
from ecad.caching.exclusive import mark_cached, refuse_other_caches, unmark_cached
from ecad.caching.experts import expert_schedules, expert_transformers
from ecad.caching.recipes import recipe_for
from ecad.caching.reuse_runs import plan_runs
from ecad.caching.state import CallState, ContextProbe, nbytes
from ecad.caching.targets import SlotTarget, slot_targets, split_target
from ecad.caching.tgate import TGATE_HOOK_NAMES, install_tgate, plain_caching_bits
from ecad.schedules import Schedule

__all__ = [
    "ScheduleCacheConfig",
    "apply_schedule",
    "cache_stats",
    "compile_stats",
    "remove_schedule",
]

DENOISER_HOOK = "ecad_schedule_denoiser"
COMPONENT_HOOK = "ecad_schedule_component"
BLOCK_HOOK = "ecad_schedule_block"
#: Pipeline attributes of the experts of a two-expert pipeline (Wan 2.2).
_EXPERTS = ("transformer", "transformer_2")
_HOOK_NAMES = (BLOCK_HOOK, COMPONENT_HOOK, *TGATE_HOOK_NAMES, DENOISER_HOOK)


class _DenoiserHook(ModelHook):
    """On the transformer: works out the step/branch before each forward, resets on failure."""

    _is_stateful = True

    def __init__(self, call: CallState, pipeline: Any | None) -> None:
        super().__init__()
        self.call = call
        self.probe = ContextProbe()
        self._pipeline = weakref.ref(pipeline) if pipeline is not None else None
        self.runner: CompiledForward | None = None

    def new_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        self._begin()
        try:
            if self.runner is not None:
                out = self.runner(self.fn_ref.original_forward, args, kwargs)
            else:
                out = self.fn_ref.original_forward(*args, **kwargs)
        except BaseException:
            self.call.reset()
            raise
        self._end()
        return out

    # Outside any graph when the user wraps the transformer in torch.compile: the step (and so
    # the pattern) is picked here, and the graph that follows depends on the pattern only.
    @torch.compiler.disable
    def _begin(self) -> None:
        pipeline = self._pipeline() if self._pipeline is not None else None
        sampler = getattr(pipeline, "scheduler", None)
        try:
            self.call.begin_forward(sampler, self.probe.branch)
        except BaseException:
            self.call.reset()
            raise

    @torch.compiler.disable
    def _end(self) -> None:
        if self.call.ledger.stale:  # the hooks ran inside a graph: count what they hold
            self.call.ledger.observe(self.call.held_bytes())

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        self.call.reset()
        return module


class _ComponentHook(ModelHook):
    """On one component module: recompute, or return the output cached for this branch."""

    _is_stateful = True

    def __init__(self, call: CallState, recompute: np.ndarray) -> None:
        super().__init__()
        self.call = call
        bits = tuple(bool(b) for b in recompute)
        self.steps = len(bits)
        # Keep an output only if the next step reuses it; that bounds memory to what is needed.
        keep = tuple(t + 1 < len(bits) and not bits[t + 1] for t in range(len(bits)))
        # Entry rows (steps + k, see CallState): recompute, keep what row k keeps.
        self.recompute = bits + (True,) * len(bits)
        self.keep = keep + keep
        self.cache: dict[str, Any] = {}
        self.cache_id = 0  # set by CallState.add_listener

    def step_signature(self, t: int) -> tuple:
        """Recomputed or reused at ``t``, kept after it, held on entry (see ``compiled``)."""
        return (self.recompute[t], self.keep[t], 0 < t < self.steps and self.keep[t - 1])

    def new_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        t, branch = self.call.step, self.call.branch
        if not self.recompute[t]:
            cached = self.cache.get(branch)
            if cached is not None:
                if not self.keep[t]:
                    self._drop(branch)
                return cached
        out = self.fn_ref.original_forward(*args, **kwargs)
        self._drop(branch)
        if self.keep[t]:
            out = self.cache[branch] = self.call.hold((self.cache_id, branch), out)
        return out

    def _drop(self, branch: str) -> None:
        old = self.cache.pop(branch, None)
        if old is not None:
            self.call.release(old)

    def drop_caches(self) -> None:
        self.call.settle()  # whatever order the hooks are reset in
        for branch in list(self.cache):
            self._drop(branch)

    def cached_bytes(self) -> int:
        self.call.settle()
        return sum(nbytes(v) for v in self.cache.values())

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        self.drop_caches()
        return module


def apply_schedule(
    pipe_or_transformer: Any,
    schedule: Schedule | ScheduleCacheConfig,
    compile: str | None = None,
) -> None:
    """Install ``schedule`` on a diffusers pipeline (or its transformer).

    A schedule already applied is replaced. With a pipeline, the step index follows
    ``pipe.scheduler`` (the sampler); with a bare transformer, forward calls are counted.
    Schedule row = sampler step: an img2img or inpainting pipeline with ``strength`` < 1 starts
    at the sampler's ``begin_index`` k and runs rows k..N-1, row k with every component computed
    (:class:`~ecad.caching.state.CallState`).

    ``compile`` (or ``ScheduleCacheConfig.compile``) serves the schedule compiled: a
    ``torch.compile`` mode (``"default"``, ``"reduce-overhead"``, ``"max-autotune"``). The
    schedule's steps fall into a few *patterns* (which components run, which caches are read
    and written); the transformer compiles **once per pattern** (and guidance branch), with
    ``fullgraph=True``, never once per step, and in the CUDA-graph modes each pattern is
    captured once as a CUDA graph with static input and cache buffers. With
    ``compile_scope="blocks"`` each block compiles once per *block* pattern instead, plus once
    per length (2, 4, 8, 16) of a run of blocks that reuse every component, whose cached
    outputs are then added to the stream in one pass (to float rounding). ``compile_stats(pipe)``
    reports the patterns, compilations and compile seconds. A new resolution or batch size
    recompiles and recaptures every pattern (shapes are static); another schedule is another
    ``apply_schedule``. Wrapping the transformer in ``torch.compile`` yourself after
    ``apply_schedule`` also compiles once per pattern (with one graph break, at the step
    tracker, before the model runs); use the ``compile`` switch for CUDA graphs, whose caches
    need the static buffers.

    Example:
        >>> from ecad.caching import apply_schedule, remove_schedule
        >>> from ecad.schedules import read_schedule
        >>> schedule = read_schedule("schedules/pixart-alpha/fora-3.json")  # doctest: +SKIP
        >>> apply_schedule(pipe, schedule, compile="reduce-overhead")  # doctest: +SKIP
        >>> images = pipe(prompt, num_inference_steps=schedule.steps).images  # doctest: +SKIP
        >>> remove_schedule(pipe)  # doctest: +SKIP
    """
    config = (
        schedule if isinstance(schedule, ScheduleCacheConfig) else ScheduleCacheConfig(schedule)
    )
    if compile is not None:
        config = replace(config, compile=compile)
    check_mode(config.compile, config.compile_backend, config.compile_scope)
    family = config.schedule.layout.family
    if len(family.experts) > 1:  # each expert its own engine (compiled: its own graphs)
        remove_schedule(pipe_or_transformer)
        for transformer, own, runs in expert_schedules(pipe_or_transformer, config.schedule):
            _apply(transformer, pipe_or_transformer, replace(config, schedule=own), runs)
        return
    transformer, pipeline = split_target(pipe_or_transformer)
    _apply(transformer, pipeline, config)


def _apply(
    transformer: torch.nn.Module,
    pipeline: Any,
    config: ScheduleCacheConfig,
    runs: tuple[int, ...] | None = None,
) -> None:
    """Install ``config`` on ``transformer``; ``runs``: the steps it runs (an expert's), if
    not all."""
    sched = config.schedule
    if config.compile is not None:
        refuse_offload(transformer, config.compile)
    targets = slot_targets(transformer, sched.layout)
    refuse_other_caches(transformer)  # diffusers' own caches must not stack with a schedule
    remove_schedule(transformer)

    call = CallState(sched.steps)
    call.runs = runs
    effective = sched.effective()
    if sched.custom_attention is not None:  # true TGATE: its hooks sit inside the step tracker
        effective = plain_caching_bits(sched)
        if sched.custom_attention.opens_within(sched.steps):  # else it runs as its boolean twin
            install_tgate(transformer, sched, call, targets, config.drop_guidance)
    denoiser = _DenoiserHook(call, pipeline)
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(denoiser, DENOISER_HOOK)
    # Slots the schedule reuses get hooks; for true TGATE that includes cross-attention, whose
    # reuse (of the average) its own hooks answer, so blocks run the same forward as its twin.
    reused = set(int(c) for c in sched.reused_slots())
    # Compiled per block, every lean block goes through its (compiled) recipe, reused or not.
    every_block = config.compile is not None and config.compile_scope == "blocks"
    lean: list[tuple[BlockHook, torch.nn.Module]] = []
    for block, cols in _slots_by_block(targets).items():
        if not reused.intersection(cols.values()) and not every_block:
            continue
        recipe = recipe_for(block) if config.lean_blocks else None
        if recipe is not None and set(cols) <= set(recipe.components):
            plan = plan_block(recipe, {p: effective[:, c] for p, c in cols.items()}, sched.steps)
            hook = BlockHook(call, recipe, plan, config.fused_kernels)
            call.add_listener(hook)
            HookRegistry.check_if_exists_or_initialize(block).register_hook(hook, BLOCK_HOOK)
            lean.append((hook, block))
            continue
        for col in sorted(reused.intersection(cols.values())):
            if targets[col].module is None:  # an optional component this block lacks
                continue
            component = _ComponentHook(call, effective[:, col])
            call.add_listener(component)
            HookRegistry.check_if_exists_or_initialize(targets[col].module).register_hook(
                component, COMPONENT_HOOK
            )
    HookRegistry.check_if_exists_or_initialize(transformer).invalidate_child_registries_cache()
    if config.compile is not None and config.compile_backend is not None and config.fused_kernels:
        places = _places(transformer)
        plan_runs([(h, b, places.get(id(b), (None, -1))) for h, b in lean], 2 * sched.steps)
    if config.compile is not None and (config.compile_backend is None or every_block):
        for hook, _ in lean:  # no dynamo traces the hooks themselves
            hook.first_step_apart = False
    call.pattern_of = pattern_steps(transformer, 2 * sched.steps)  # rows and entry rows
    raise_recompile_limit(len(set(call.pattern_of)))
    if config.compile is not None:
        denoiser.runner = CompiledForward(
            call,
            transformer,
            config.compile,
            config.compile_backend,
            sched.metadata.name,
            config.compile_scope,
        )
    mark_cached(transformer, config)  # and diffusers' enable_cache refuses to stack on it


def _places(transformer: torch.nn.Module) -> dict[int, tuple[torch.nn.ModuleList, int]]:
    """Every module held in a ``ModuleList``: ``id(module) -> (the list, its index)``."""
    return {
        id(child): (module, index)
        for module in transformer.modules()
        if isinstance(module, torch.nn.ModuleList)
        for index, child in enumerate(module)
    }


def _slots_by_block(targets: list[SlotTarget]) -> dict[torch.nn.Module, dict[str, int]]:
    """``{block: {component path: slot column}}`` in slot order."""
    out: dict[torch.nn.Module, dict[str, int]] = {}
    for col, target in enumerate(targets):
        out.setdefault(target.block, {})[target.path] = col
    return out


def remove_schedule(pipe_or_transformer: Any) -> None:
    """Remove an applied schedule; the model behaves exactly as before. No-op if none."""
    for transformer in _transformers(pipe_or_transformer):
        _remove(transformer)


def _transformers(pipe_or_transformer: Any) -> list[torch.nn.Module]:
    """The transformer, or every expert transformer of a two-expert pipeline (Wan 2.2)."""
    return expert_transformers(pipe_or_transformer, _EXPERTS) or [
        split_target(pipe_or_transformer)[0]
    ]


def _remove(transformer: torch.nn.Module) -> None:
    for _, module in transformer.named_modules():
        registry = getattr(module, "_diffusers_hook", None)
        if registry is None:
            continue
        denoiser = registry.hooks.get(DENOISER_HOOK)
        if denoiser is not None and denoiser.runner is not None:
            denoiser.runner.release()  # CUDA graphs and static buffers go now, not at GC
        # Outermost first: diffusers rewires only the next hook's ``forward`` when an inner hook
        # goes, not the ``original_forward`` a ``new_forward`` hook calls.
        for name in reversed(list(registry._hook_order)):
            if name in _HOOK_NAMES:
                registry.remove_hook(name, recurse=False)
        if module is not transformer and not registry.hooks:
            del module._diffusers_hook
    registry = getattr(transformer, "_diffusers_hook", None)
    if registry is not None:
        registry.invalidate_child_registries_cache()
    unmark_cached(transformer)
    restore_recompile_limit()


def cache_stats(pipe_or_transformer: Any) -> dict[str, int]:
    """What the applied schedule's caches hold.

    ``cached_components``: slots that ever hold a cache (only components the schedule reuses);
    ``cached_bytes``: bytes held now (0 between calls); ``peak_cached_bytes``: the most held at
    once during the last (or current) call; ``start_row``: the schedule row (= sampler step)
    the last call started at (``> 0`` for img2img/inpainting with ``strength`` < 1);
    ``steps_run``: sampler steps it ran, rows ``start_row`` to ``start_row + steps_run - 1``.
    """
    components = held = 0
    peak = steps_run = 0
    starts = []
    modules = [m for t in _transformers(pipe_or_transformer) for m in t.modules()]
    for module in modules:
        hooks = getattr(getattr(module, "_diffusers_hook", None), "hooks", {})
        if COMPONENT_HOOK in hooks:
            components += 1
            held += hooks[COMPONENT_HOOK].cached_bytes()
        if BLOCK_HOOK in hooks:
            hook = hooks[BLOCK_HOOK]
            components += sum(any(keep) for keep in hook.plan.keep.values())
            held += hook.cached_bytes()
        if DENOISER_HOOK in hooks:
            call = hooks[DENOISER_HOOK].call
            peak = max(peak, call.ledger.peak)  # experts run in turn
            steps_run += call.steps_run
            starts += [call.start] if call.steps_run else []
    return {
        "cached_components": components,
        "cached_bytes": held,
        "peak_cached_bytes": peak,
        "start_row": min(starts, default=0),
        "steps_run": steps_run,
    }


def compile_stats(pipe_or_transformer: Any) -> dict[str, Any] | None:
    """What the compiled engine did (``None`` without ``compile``): ``patterns`` (distinct step
    patterns of the schedule), ``compiled`` (graphs compiled so far: at most one per pattern,
    guidance branch and input shape), ``graphs`` (CUDA graphs captured), ``compile_seconds``
    (first run of each compiled pattern, compilation included), ``capture_seconds``,
    ``static_cache_bytes`` (the CUDA graphs' cache buffers) and ``invalidations``. A two-expert
    pipeline (Wan 2.2) gives the sums over its experts and each one's under ``experts``."""
    stats = []
    for transformer in _transformers(pipe_or_transformer):
        hooks = getattr(getattr(transformer, "_diffusers_hook", None), "hooks", {})
        denoiser = hooks.get(DENOISER_HOOK)
        if denoiser is not None and denoiser.runner is not None:
            stats.append(denoiser.runner.stats.to_json())
    if len(stats) <= 1:
        return stats[0] if stats else None
    return CompileStats.combined(stats)  # experts (Wan 2.2): each its steps' patterns
