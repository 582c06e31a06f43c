"""Markdown tables of a :class:`~ecad.bench.results.BenchReport`."""

from __future__ import annotations

from ecad.bench.results import BenchReport, BenchRow

__all__ = ["compiled_markdown", "report_markdown"]

_COLUMNS = (
    "schedule",
    "engine",
    "ms/img",
    "speedup",
    "pred. MACs",
    "pred. linear",
    "eff. MACs",
    "eff. linear",
    "pred. latency ms/img",
    "latency err.",
    "peak GPU GiB",
    "cache peak MiB",
)


def _x(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.1f}%"


def _cells(row: BenchRow) -> list[str]:
    eff_macs, eff_linear = row.efficiency("macs"), row.efficiency("macs-linear")
    return [
        row.label,
        row.engine,
        _x(row.ms_per_image),
        _x(row.speedup, suffix="x"),
        _x(row.predicted.get("macs"), suffix="x"),
        _x(row.predicted.get("macs-linear"), suffix="x"),
        "–" if eff_macs is None else f"{100 * eff_macs:.0f}%",
        "–" if eff_linear is None else f"{100 * eff_linear:.0f}%",
        _x(row.predicted_ms_per_image),
        _pct(row.latency_error),
        _x(row.peak_gpu_bytes / 2**30, 1),
        _x(row.peak_cache_bytes / 2**20, 0),
    ]


def report_markdown(report: BenchReport) -> str:
    """A heading with the setup and one table per output type."""
    env = report.environment
    lines = [
        f"# {report.family} {report.resolution}px, batch {report.batch}, {report.steps} steps, "
        f"{report.dtype}",
        "",
        f"GPU: {env.get('gpu')} · torch {env.get('torch')} (CUDA {env.get('cuda')}) · diffusers "
        f"{env.get('diffusers')} · triton {env.get('triton')} · cudnn.benchmark "
        f"{env.get('cudnn_benchmark')}",
        "",
        f"Per-image latency = median of {report.settings.get('repeats')} timed pipeline calls "
        f"(CUDA events) after {report.settings.get('warmup')} warm-up call(s) per configuration; "
        "random weights, random prompt embeddings (no text encoders). Speedup is over plain "
        "diffusers (no hooks) at the same output; efficiency = measured / predicted speedup.",
    ]
    if report.latency_table:
        lines += [
            "",
            f"Latency cost table (predictions, error = predicted / measured - 1): "
            f"`{report.latency_table}`.",
        ]
    for output in dict.fromkeys(r.output for r in report.rows):
        lines += ["", f"## output: {output}", ""]
        lines.append("| " + " | ".join(_COLUMNS) + " |")
        lines.append("|" + "---|" * len(_COLUMNS))
        for row in report.rows:
            if row.output == output:
                lines.append("| " + " | ".join(_cells(row)) + " |")
    return "\n".join(lines) + "\n"


_COMPILED_COLUMNS = (
    "schedule",
    "patterns",
    "eager ms/img",
    "compiled ms/img",
    "eager speedup",
    "compiled speedup",
    "pred. MACs",
    "eff. compiled",
    "compiled transformer ms/img",
    "eff. transformer",
    "compiled vs eager",
    "compile s",
    "max rel. diff",
    "peak GPU GiB",
)


def _transformer_efficiency(plain: BenchRow | None, row: BenchRow | None) -> str:
    """The transformer's part alone: its speedup over plain diffusers' / MACs-predicted."""
    if plain is None or row is None or not row.predicted.get("macs"):
        return "–"
    if not plain.transformer_ms_per_image or not row.transformer_ms_per_image:
        return "–"
    speedup = plain.transformer_ms_per_image / row.transformer_ms_per_image
    return f"{100 * speedup / row.predicted['macs']:.0f}%"


def compiled_markdown(report: BenchReport) -> str:
    """One line per schedule: eager and compiled side by side (``ecad.bench.compiled``)."""
    mode = report.settings.get("compile_mode")
    env = report.environment
    lines = [
        f"### {report.family} {report.resolution}px, batch {report.batch}, {report.steps} "
        f"steps, {report.dtype}, compiled: {mode} ({report.settings.get('compile_backend')}, "
        f"scope {report.settings.get('compile_scope')})",
        "",
        f"GPU: {env.get('gpu')} · torch {env.get('torch')} · diffusers {env.get('diffusers')}. "
        f"Median of {report.settings.get('repeats')} timed calls, latent output. Speedups are "
        "over plain diffusers run the same way (eager over eager, compiled over compiled); "
        "eff. = compiled speedup / MACs-predicted speedup; compile s = first call minus a warm "
        "one (compilation and CUDA-graph capture); max rel. diff = compiled latents against "
        "eager ones of the same call (max |diff| / max |eager|); compiled transformer ms/img = "
        "the part of compiled ms/img inside the transformer's calls (one more call, CUDA events "
        "around each), the rest being the pipeline's own per-step work; eff. transformer = that "
        "part's speedup over plain diffusers' / the MACs-predicted speedup.",
        "",
        "| " + " | ".join(_COMPILED_COLUMNS) + " |",
        "|" + "---|" * len(_COMPILED_COLUMNS),
    ]
    compiled_rows = [r for r in report.rows if "+" in r.engine]
    plain = next((r for r in compiled_rows if r.label == "plain diffusers"), None)
    for label in dict.fromkeys(r.label for r in report.rows):
        eager = next((r for r in report.rows if r.label == label and "+" not in r.engine), None)
        comp = next((r for r in report.rows if r.label == label and "+" in r.engine), None)
        ref = comp or eager
        patterns = (comp.compile or {}).get("patterns") if comp is not None else None
        ratio = eager.ms_per_image / comp.ms_per_image if eager and comp else None
        lines.append("| " + " | ".join([
            label,
            "–" if patterns is None else str(patterns),
            _x(eager.ms_per_image if eager else None),
            _x(comp.ms_per_image if comp else None),
            _x(eager.speedup if eager else None, suffix="x"),
            _x(comp.speedup if comp else None, suffix="x"),
            _x(ref.predicted.get("macs"), suffix="x"),
            "–" if comp is None or comp.efficiency("macs") is None
            else f"{100 * comp.efficiency('macs'):.0f}%",
            _x(comp.transformer_ms_per_image if comp else None),
            _transformer_efficiency(plain, comp),
            _x(ratio, suffix="x"),
            _x(comp.compile_seconds if comp else None, 1),
            _x((comp.compile or {}).get("max_rel_diff_vs_eager") if comp else None, 4),
            _x(max(r.peak_gpu_bytes for r in (eager, comp) if r) / 2**30, 1),
        ]) + " |")
    errors = report.settings.get("errors") or {}
    if errors:
        lines += ["", "Failed: " + "; ".join(f"{k}: {v.splitlines()[-1]}" for k, v in
                                            errors.items())]
    return "\n".join(lines) + "\n"
