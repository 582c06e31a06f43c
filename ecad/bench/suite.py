"""Run a benchmark: per-image latency of schedules against plain diffusers.

Every configuration is timed on the same pipeline and inputs; configurations are interleaved
round by round (so clock drift spreads over all of them) and each one's schedule is applied just
before its call and removed after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ecad.bench.fullsize import random_embeddings
from ecad.bench.results import BenchReport, BenchRow
from ecad.bench.timing import GpuTimer, environment, peak_memory, reset_peak_memory
from ecad.caching import ScheduleCacheConfig, apply_schedule, cache_stats, remove_schedule
from ecad.cost import CostTable
from ecad.errors import ConfigError, ScheduleMismatchError
from ecad.families import ModelFamily
from ecad.generation.adapters import adapter_for
from ecad.schedules import Schedule

__all__ = [
    "ENGINES",
    "BenchCase",
    "BenchSettings",
    "bench_calls",
    "bench_cases",
    "fill_predictions",
    "new_report",
    "pipeline_call",
    "rows_per_call",
    "run_bench",
    "verify_engines",
]

log = logging.getLogger(__name__)
OUTPUTS = ("latent", "pil")


@dataclass(frozen=True)
class BenchSettings:
    """How to time: images per call, outputs, warm-up and timed calls per configuration."""

    resolution: int
    batch: int
    steps: int
    outputs: tuple[str, ...] = OUTPUTS
    warmup: int = 1
    repeats: int = 3
    guidance: float | None = None
    seed: int = 0

    def guidance_for(self, family: ModelFamily) -> float:
        return family.default_guidance if self.guidance is None else self.guidance

    def validate(self) -> None:
        bad = set(self.outputs) - set(OUTPUTS)
        if bad or not self.outputs:
            raise ConfigError(
                f"outputs must be a non-empty subset of {OUTPUTS}, got {self.outputs}"
            )
        for name in ("batch", "steps", "repeats"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ConfigError(f"warmup must be >= 0, got {self.warmup}")


@dataclass(frozen=True)
class BenchCase:
    """One configuration: no hooks (``schedule`` ``None``) or a schedule under an engine."""

    label: str
    engine: str
    schedule: Schedule | None = None

    def config(self) -> ScheduleCacheConfig | None:
        if self.schedule is None:
            return None
        return ScheduleCacheConfig(self.schedule, **ENGINES[self.engine])


#: Engine name -> :class:`ScheduleCacheConfig` options. ``lean`` is the default engine.
ENGINES: dict[str, dict[str, bool]] = {
    "lean": {"lean_blocks": True, "fused_kernels": True},
    "lean-unfused": {"lean_blocks": True, "fused_kernels": False},
    "component": {"lean_blocks": False, "fused_kernels": False},
}


def bench_cases(
    schedules: Sequence[Schedule], no_cache: Schedule, compare_engines: bool = False
) -> list[BenchCase]:
    """Plain diffusers, the all-recompute schedule, then each schedule under the default engine
    (with ``compare_engines`` also without fused adds and under the reference engine)."""
    cases = [BenchCase("plain diffusers", "none"), BenchCase("no-cache", "lean", no_cache)]
    for schedule in schedules:
        cases.append(BenchCase(schedule.metadata.name, "lean", schedule))
        if compare_engines:
            cases.append(BenchCase(schedule.metadata.name, "lean-unfused", schedule))
            cases.append(BenchCase(schedule.metadata.name, "component", schedule))
    return cases


def rows_per_call(family: ModelFamily, batch: int, guidance: float) -> int:
    """Transformer rows per image and step: families that run the unconditional half too
    (PixArt and SD3 in one batch, Qwen-Image in a second call) see ``cfg_rows`` per image."""
    return batch * family.cfg_rows if guidance > 1.0 else batch


def pipeline_call(pipe: Any, family: ModelFamily, settings: BenchSettings) -> dict[str, Any]:
    """Keyword arguments of one pipeline call from random prompt embeddings (no output type)."""
    embeddings = random_embeddings(pipe, family, settings.batch, settings.seed)
    guidance = settings.guidance_for(family)
    adapter = adapter_for(family)
    return {
        **adapter.call_kwargs(embeddings),
        **adapter.guidance_kwargs(guidance, family.default_guidance_2),
        "num_inference_steps": settings.steps,
        "height": settings.resolution,
        "width": settings.resolution,
        "num_images_per_prompt": 1,
    }


def verify_engines(
    pipe: Any,
    family: ModelFamily,
    settings: BenchSettings,
    schedules: Sequence[Schedule],
    engines: Sequence[str] = ("lean",),
) -> dict[str, dict[str, float]]:
    """Latents of each schedule under every engine against the reference engine's, from the same
    inputs and seed: ``{schedule: {engine: max |diff| / max |reference|}}``."""
    kwargs = pipeline_call(pipe, family, settings)
    out: dict[str, dict[str, float]] = {}

    def latents(config: ScheduleCacheConfig) -> torch.Tensor:
        apply_schedule(pipe, config)
        try:
            gen = torch.Generator(device="cpu").manual_seed(settings.seed)
            return pipe(**kwargs, generator=gen, output_type="latent").images.float()
        finally:
            remove_schedule(pipe)

    for schedule in schedules:
        ref = latents(ScheduleCacheConfig(schedule, **ENGINES["component"]))
        scale = float(ref.abs().max().clamp_min(1e-12))
        out[schedule.metadata.name] = {
            engine: float((latents(ScheduleCacheConfig(schedule, **options)) - ref).abs().max())
            / scale
            for engine, options in ((e, ENGINES[e]) for e in engines)
        }
    return out


def bench_calls(settings: BenchSettings, cases: Sequence[BenchCase]) -> int:
    """How many warm-up and timed calls :func:`run_bench` makes."""
    return len(cases) * (settings.warmup + settings.repeats * len(settings.outputs))


def run_bench(
    pipe: Any,
    family: ModelFamily,
    settings: BenchSettings,
    cases: Sequence[BenchCase],
    cost_tables: Sequence[CostTable] = (),
    on_call: Callable[[], None] | None = None,
) -> BenchReport:
    """Time every case at every output type; speedups are over the ``engine == "none"`` case.

    ``on_call()`` runs after each warm-up and timed call (``bench_calls`` of them; progress bars).

    ``cost_tables`` give each row its predicted speedup (and, for a ``latency`` table, its
    predicted milliseconds per image).
    """
    settings.validate()
    for case in cases:
        if case.schedule is not None and case.schedule.steps != settings.steps:
            raise ScheduleMismatchError(
                f"schedule {case.label!r} has {case.schedule.steps} steps, the benchmark runs "
                f"{settings.steps}; pass --steps {case.schedule.steps}"
            )
    device = pipe._execution_device
    timer = GpuTimer(device)
    kwargs = pipeline_call(pipe, family, settings)
    generator = torch.Generator(device="cpu")

    def call(output: str) -> None:
        generator.manual_seed(settings.seed)
        pipe(**kwargs, generator=generator, output_type=output)

    def timed(case: BenchCase, output: str) -> tuple[float, int]:
        config = case.config()
        if config is not None:
            apply_schedule(pipe, config)
        try:
            ms = timer(lambda: call(output))
            peak = cache_stats(pipe)["peak_cached_bytes"] if config is not None else 0
        finally:
            remove_schedule(pipe)
        if on_call is not None:
            on_call()
        return ms, peak

    for output in reversed(settings.outputs):  # warms the VAE too when PIL is asked for
        call(output)
    for case in cases:
        for _ in range(settings.warmup):
            timed(case, settings.outputs[0])
    rows: list[BenchRow] = []
    for output in settings.outputs:
        out_rows = [
            BenchRow(
                label=case.label,
                engine=case.engine,
                output=output,
                times_ms=[],
                images=settings.batch,
                schedule_digest=None if case.schedule is None else case.schedule.digest(),
            )
            for case in cases
        ]
        for rep in range(settings.repeats):
            for case, row in zip(cases, out_rows):
                reset_peak_memory(device)
                ms, cache_peak = timed(case, output)
                row.times_ms.append(ms)
                row.peak_gpu_bytes = max(row.peak_gpu_bytes, peak_memory(device))
                row.peak_cache_bytes = max(row.peak_cache_bytes, cache_peak)
                log.info("%s %s [%s] run %d: %.1f ms", output, case.label, case.engine, rep, ms)
        rows += out_rows
    report = new_report(pipe, family, settings, kwargs)
    report.rows = rows
    fill_predictions(report, cases, cost_tables)
    return report


def new_report(
    pipe: Any, family: ModelFamily, settings: BenchSettings, kwargs: dict[str, Any]
) -> BenchReport:
    """An empty report of a run: setup, settings and environment."""
    return BenchReport(
        family=family.name,
        resolution=settings.resolution,
        batch=settings.batch,
        steps=settings.steps,
        dtype=str(pipe.transformer.dtype).replace("torch.", ""),
        settings={
            "warmup": settings.warmup,
            "repeats": settings.repeats,
            "guidance": settings.guidance_for(family),
            "rows_per_call": rows_per_call(family, settings.batch, settings.guidance_for(family)),
            "outputs": list(settings.outputs),
        },
        environment=environment(pipe._execution_device),
    )


def fill_predictions(
    report: BenchReport, cases: Sequence[BenchCase], tables: Sequence[CostTable]
) -> None:
    """Set each row's measured speedup (over the no-hooks case at the same output, compiled the
    same way: engine ``none+MODE`` for a row ``lean+MODE``) and its predicted speedup per cost
    table (and predicted ms per image for a latency table)."""
    rows = report.rows
    schedules = {case.label: case.schedule for case in cases if case.schedule is not None}
    baseline = {(r.output, _way(r.engine)): r for r in rows if r.engine.split("+")[0] == "none"}
    for row in rows:
        base = baseline.get((row.output, _way(row.engine)))
        if base is not None:
            row.speedup = base.median_ms / row.median_ms
        schedule = schedules.get(row.label)
        for table in tables:
            if schedule is not None and not table.layout.is_compatible(schedule.layout):
                continue
            if table.mode == "latency" and schedule is not None and schedule.custom_attention:
                continue  # true TGATE halves the batch: a one-batch latency table cannot price it
            row.predicted[table.mode] = (
                1.0 if schedule is None else table.predicted_speedup(schedule)
            )
            # A latency table is calibrated under the engine; rows without hooks run plain
            # diffusers, which it does not describe.
            reuses = schedule is not None and len(schedule.reused_slots()) > 0
            if table.mode == "latency" and row.output == "latent" and reuses:
                row.predicted_ms_per_image = table.schedule_cost(schedule) / row.images


def _way(engine: str) -> str:
    """How an engine's row ran: ``""`` (eager) or the compile mode after ``+``."""
    return engine.partition("+")[2]
