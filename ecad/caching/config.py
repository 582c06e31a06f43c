"""What :func:`ecad.caching.apply_schedule` installs: :class:`ScheduleCacheConfig`.

A module of its own, below the hooks, so that the modules the hooks use (``exclusive``) can
recognise an ECAD config without importing the hooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecad.schedules import Schedule

__all__ = ["ScheduleCacheConfig"]


@dataclass(frozen=True)
class ScheduleCacheConfig:
    """What :func:`apply_schedule` installs.

    Attributes:
        schedule: the schedule (``True`` = recompute); its step count must equal the call's
            ``num_inference_steps``.
        lean_blocks: run blocks that have a lean forward (PixArt, FLUX) through it: the norm and
            modulation of a reused component are skipped and outputs nobody reads are not
            computed. ``False`` hooks the component modules only (the reference engine).
        fused_kernels: add runs of gated residual terms in one pass (a Triton kernel on CUDA);
            compiled (``compile`` with a backend), also add a run of blocks that reuse every
            component in one pass (:mod:`ecad.caching.reuse_runs`: to float rounding).
        drop_guidance: true-TGATE schedules only (:mod:`ecad.caching.tgate`): from the gate
            step, run the transformer on the unconditional half only (batch B), as the paper
            did. ``False`` keeps batch 2B and gives both halves the cached average: the same
            images to float rounding, without the saving.
        compile: ``None`` (eager) or a ``torch.compile`` mode: ``"default"``,
            ``"reduce-overhead"`` or ``"max-autotune"``. The transformer's forward compiles
            once per step pattern (:mod:`ecad.caching.compiled`) with ``fullgraph=True``; the
            last two modes also capture each pattern as a CUDA graph on CUDA devices.
        compile_backend: ``torch.compile``'s backend (``"inductor"``; tests use ``"eager"``,
            ``"aot_eager"`` or a counting callable), or ``None``: no compiler, CUDA graphs of
            the eager engine (its Triton kernels included; capture costs one forward per
            pattern, no compilation), in the CUDA-graph modes only.
        compile_scope: ``"transformer"``: one graph of the whole transformer per step pattern
            (a learned schedule has nearly as many patterns as steps, each a full compilation);
            ``"blocks"``: each lean block compiles once per *block* pattern (which components
            run), shared by all blocks of its class: a few compilations per schedule, and in
            the CUDA-graph modes each step pattern is still captured whole.
    """

    schedule: Schedule
    lean_blocks: bool = True
    fused_kernels: bool = True
    drop_guidance: bool = True
    compile: str | None = None
    compile_backend: Any = "inductor"
    compile_scope: str = "transformer"
