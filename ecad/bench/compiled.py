"""Benchmark schedules compiled: each case eager and under a ``torch.compile`` mode, beside plain
diffusers eager and compiled the same way.

A compiled case keeps its graphs across calls, so cases run one after another (not interleaved
as in :func:`ecad.bench.suite.run_bench`): apply, first call (compilation and capture
included: its excess over a warm call is the row's compile seconds), warm-up, timed calls,
remove, ``torch._dynamo.reset()``. A case that fails is recorded in the report's
``settings["errors"]`` and the run goes on.
"""

from __future__ import annotations

import logging
import statistics
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from ecad.bench.profiling import profile_call
from ecad.bench.results import BenchReport, BenchRow
from ecad.bench.suite import (
    BenchCase,
    BenchSettings,
    fill_predictions,
    new_report,
    pipeline_call,
)
from ecad.bench.timing import GpuTimer, ModuleClock, peak_memory, reset_peak_memory
from ecad.caching import (
    ScheduleCacheConfig,
    apply_schedule,
    cache_stats,
    compile_stats,
    remove_schedule,
)
from ecad.caching.compiled import check_mode
from ecad.cost import CostTable
from ecad.families import ModelFamily
from ecad.schedules import Schedule, ScheduleLayout

__all__ = ["CompileSettings", "compiled_engine", "run_compiled_bench"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompileSettings:
    """How to compile: ``torch.compile`` mode and backend (``None``: CUDA graphs of the eager
    engine, no compiler; plain diffusers is then captured as the all-recompute schedule);
    ``eager`` also times every case uncompiled."""

    mode: str = "reduce-overhead"
    backend: str | None = "inductor"
    eager: bool = True
    scope: str = "transformer"
    #: One more call per compiled row under ``torch.profiler`` (GPU busy time, top kernels).
    profile: bool = False

    def validate(self) -> None:
        check_mode(self.mode, self.backend, self.scope)


def compiled_engine(engine: str, mode: str) -> str:
    """The engine name of a compiled row: ``lean+reduce-overhead``, ``none+default``."""
    return f"{engine}+{mode}"


@contextmanager
def _installed(
    pipe: Any, case: BenchCase, compiled: CompileSettings | None, family: ModelFamily, steps: int
) -> Iterator[None]:
    transformer = pipe.transformer
    config = case.config()
    if config is None and compiled is not None and compiled.backend is None:
        # plain diffusers captured as CUDA graphs: the all-recompute schedule hooks no block
        layout = ScheduleLayout.for_model(family, transformer)
        config = ScheduleCacheConfig(Schedule.full(layout, steps), compile=compiled.mode,
                                     compile_backend=None)
    elif config is not None and compiled is not None:
        config = ScheduleCacheConfig(
            config.schedule,
            lean_blocks=config.lean_blocks,
            fused_kernels=config.fused_kernels,
            compile=compiled.mode,
            compile_backend=compiled.backend,
            compile_scope=compiled.scope,
        )
    if config is not None:
        apply_schedule(pipe, config)
    elif compiled is not None:  # plain diffusers, compiled the same way
        options: dict[str, Any] = {"fullgraph": True, "dynamic": False}
        if compiled.backend == "inductor":
            options["mode"] = compiled.mode
        pipe.transformer = torch.compile(transformer, backend=compiled.backend, **options)
    try:
        yield
    finally:
        pipe.transformer = transformer
        remove_schedule(pipe)
        if compiled is not None:
            torch._dynamo.reset()


def _time_row(
    pipe: Any,
    family: ModelFamily,
    case: BenchCase,
    compiled: CompileSettings | None,
    settings: BenchSettings,
    kwargs: dict[str, Any],
    timer: GpuTimer,
    latents: dict[str, torch.Tensor],
) -> BenchRow:
    device = pipe._execution_device
    generator = torch.Generator(device="cpu")
    output = settings.outputs[0]

    def call() -> None:
        generator.manual_seed(settings.seed)
        result = pipe(**kwargs, generator=generator, output_type=output).images
        if torch.is_tensor(result):
            last[0] = result

    engine = case.engine if compiled is None else compiled_engine(case.engine, compiled.mode)
    row = BenchRow(
        label=case.label,
        engine=engine,
        output=output,
        times_ms=[],
        images=settings.batch,
        schedule_digest=None if case.schedule is None else case.schedule.digest(),
    )
    last: list[Any] = [None]
    reset_peak_memory(device)
    with _installed(pipe, case, compiled, family, settings.steps):
        first = timer(call)
        for _ in range(settings.warmup):
            call()
        row.times_ms = [timer(call) for _ in range(settings.repeats)]
        row.peak_gpu_bytes = peak_memory(device)
        with ModuleClock(pipe.transformer, device) as clock:  # one more call, split
            call()
        row.transformer_call_ms = clock.call_ms()
        row.transformer_ms_per_image = sum(row.transformer_call_ms) / settings.batch
        if compiled is not None and compiled.profile:
            row.profile = profile_call(call, device)
        if case.schedule is not None:
            row.peak_cache_bytes = cache_stats(pipe)["peak_cached_bytes"]
            row.compile = compile_stats(pipe)
    if compiled is not None:
        row.compile_seconds = max(0.0, first - statistics.median(row.times_ms)) / 1e3
    if last[0] is not None:  # the same call eager and compiled: how far apart are the outputs?
        out = last[0].float().cpu()
        ref = latents.setdefault(case.label, out)
        if ref is not out:
            diff = float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-12))
            row.compile = {**(row.compile or {}), "max_rel_diff_vs_eager": diff}
    return row


def run_compiled_bench(
    pipe: Any,
    family: ModelFamily,
    settings: BenchSettings,
    cases: Sequence[BenchCase],
    compiled: CompileSettings,
    cost_tables: Sequence[CostTable] = (),
    on_row: Callable[[BenchReport, BenchRow], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> BenchReport:
    """Time every case eager (if ``compiled.eager``) and compiled, at ``settings.outputs[0]``.

    Speedups are over plain diffusers run the same way (eager over eager, compiled over
    compiled). ``on_row(report, row)`` runs after each row with the report so far (print it,
    save partial results); no new row starts once ``stop()`` is true.
    """
    settings.validate()
    compiled.validate()
    device = pipe._execution_device
    timer = GpuTimer(device)
    kwargs = pipeline_call(pipe, family, settings)
    report = new_report(pipe, family, settings, kwargs)
    report.settings.update(outputs=[settings.outputs[0]], compile_mode=compiled.mode,
                           compile_backend=compiled.backend, compile_scope=compiled.scope,
                           errors={})
    ways = ([None] if compiled.eager else []) + [compiled]
    latents: dict[str, torch.Tensor] = {}
    for case in cases:
        for way in ways:
            if stop is not None and stop():
                return report
            name = f"{case.label} [{'eager' if way is None else way.mode}]"
            try:
                row = _time_row(pipe, family, case, way, settings, kwargs, timer, latents)
            except Exception as exc:  # one failed case must not end the run
                log.error("%s failed: %s", name, exc)
                report.settings["errors"][name] = "".join(
                    traceback.format_exception_only(type(exc), exc)
                ).strip()[:2000]
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            report.rows.append(row)
            fill_predictions(report, cases, cost_tables)
            if on_row is not None:
                on_row(report, row)
    return report
