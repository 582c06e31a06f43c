"""Benchmarks: per-image latency of caching schedules on full-size random-weight pipelines."""

from ecad.bench.compiled import CompileSettings, compiled_engine, run_compiled_bench
from ecad.bench.fullsize import VAE_CONFIGS, random_embeddings, random_pipeline
from ecad.bench.markdown import compiled_markdown, report_markdown
from ecad.bench.results import BenchReport, BenchRow
from ecad.bench.suite import (
    BenchCase,
    BenchSettings,
    bench_calls,
    bench_cases,
    fill_predictions,
    pipeline_call,
    rows_per_call,
    run_bench,
    verify_engines,
)
from ecad.bench.timing import GpuTimer, environment

__all__ = [
    "VAE_CONFIGS",
    "BenchCase",
    "BenchReport",
    "BenchRow",
    "BenchSettings",
    "CompileSettings",
    "GpuTimer",
    "bench_calls",
    "bench_cases",
    "compiled_engine",
    "compiled_markdown",
    "environment",
    "fill_predictions",
    "pipeline_call",
    "random_embeddings",
    "random_pipeline",
    "report_markdown",
    "rows_per_call",
    "run_bench",
    "run_compiled_bench",
    "verify_engines",
]
