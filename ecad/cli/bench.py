"""``ecad bench``: per-image latency of schedules against plain diffusers on random weights."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import click

from ecad.cli.options import (
    announce_device,
    backend_of,
    compile_options,
    device_option,
    family_option,
)
from ecad.cli.progress import quiet_detail_logs, work_bar

log = logging.getLogger(__name__)


@click.command()
@family_option
@click.option("--resolution", type=int, default=256, show_default=True, help="Image size.")
@click.option("--batch-size", "batch", type=int, default=4, show_default=True,
              help="Images per call.")
@click.option("--steps", type=int, default=None, help="Denoising steps (default: family's).")
@click.option(
    "--schedule",
    "schedule_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Schedule file to time (repeatable).",
)
@click.option("--fora", "fora_n", multiple=True, type=int, help="Also time FORA-N (repeatable).")
@click.option(
    "--heuristic",
    "heuristics",
    multiple=True,
    help="Also time a heuristic built for the model, e.g. tgate:10:1 (true TGATE) or "
    "tgate_without_ca_avg:10:1 (repeatable; `ecad schedule kinds` lists them).",
)
@click.option(
    "--output",
    "outputs",
    multiple=True,
    type=click.Choice(["latent", "pil"]),
    help="Output types to time (default: latent and pil).",
)
@click.option("--warmup", type=int, default=1, show_default=True, help="Warm-up calls per case.")
@click.option("--repeats", type=int, default=3, show_default=True, help="Timed calls per case.")
@device_option
@click.option("--dtype", default=None, help="Default: the family's (float32 with --tiny).")
@click.option("--tiny", is_flag=True, help="Tiny random architecture (CPU smoke runs).")
@click.option(
    "--compare-engines",
    is_flag=True,
    help="Also time each schedule under the reference component-hook engine.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Compare each schedule's latents under every engine with the reference engine's.",
)
@click.option(
    "--calibrate-latency",
    is_flag=True,
    help="Measure a latency cost table on this device, save it and predict with it.",
)
@click.option(
    "--latency-table",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Predict with a saved latency table.",
)
@click.option(
    "--cudnn-benchmark/--no-cudnn-benchmark",
    default=True,
    show_default=True,
    help="cuDNN autotuning (VAE convolutions); applies to every case alike.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("benchmarks/results"),
    show_default=True,
)
@click.option("--name", default=None, help="File stem (default: family-res-batch-gpu).")
@compile_options
def bench(
    family_name: str,
    resolution: int,
    batch: int,
    steps: int | None,
    schedule_files: tuple[Path, ...],
    fora_n: tuple[int, ...],
    heuristics: tuple[str, ...],
    outputs: tuple[str, ...],
    warmup: int,
    repeats: int,
    device: str,
    dtype: str | None,
    tiny: bool,
    compare_engines: bool,
    verify: bool,
    calibrate_latency: bool,
    latency_table: Path | None,
    cudnn_benchmark: bool,
    out_dir: Path,
    name: str | None,
    compile_mode: str | None,
    compile_backend: str,
    compile_scope: str,
) -> None:
    """Time schedules against plain diffusers and the all-recompute schedule.

    Builds the family's full-size architecture with random weights (no download) and feeds
    random prompt embeddings; writes NAME.json and NAME.md under --out-dir. With --compile MODE
    every case is timed eager and compiled (latent output unless --output says otherwise),
    beside plain diffusers compiled the same way.
    """
    announce_device()
    import torch

    from ecad.atomic import write_atomic
    from ecad.bench import (
        BenchSettings,
        bench_calls,
        bench_cases,
        fill_predictions,
        pipeline_call,
        random_pipeline,
        report_markdown,
        rows_per_call,
        run_bench,
        verify_engines,
    )
    from ecad.bench.latency import calibrate_latency as calibrate
    from ecad.cost import CostTable, macs_table
    from ecad.families import get_family
    from ecad.schedules import Schedule, ScheduleLayout, read_schedule
    from ecad.schedules.catalog import HeuristicCall
    from ecad.schedules.heuristics import fora

    torch.backends.cudnn.benchmark = cudnn_benchmark
    family = get_family(family_name)
    steps = steps or family.default_steps
    settings = BenchSettings(
        resolution=resolution,
        batch=batch,
        steps=steps,
        outputs=outputs or (("latent",) if compile_mode else ("latent", "pil")),
        warmup=warmup,
        repeats=repeats,
    )
    settings.validate()
    log.info(
        "building %s%s at %dpx on %s", "tiny " if tiny else "", family.name, resolution, device
    )
    pipe = random_pipeline(family, resolution, device=device, dtype=dtype, tiny=tiny)
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    schedules = [fora(layout, steps, n) for n in fora_n]
    schedules += [HeuristicCall.parse(item).build(layout, steps) for item in heuristics]
    schedules += [_named(read_schedule(f), f) for f in schedule_files]
    cases = bench_cases(schedules, Schedule.full(layout, steps), compare_engines)

    tables: list[CostTable] = []
    if not tiny:
        rows = rows_per_call(family, batch, settings.guidance_for(family))
        tables += [macs_table(family, resolution, rows, mode) for mode in ("macs", "macs-linear")]
    if latency_table is not None:
        tables.append(CostTable.load(latency_table))
    quiet_detail_logs("ecad.bench")
    if compile_mode is not None:
        from ecad.bench import CompileSettings, compiled_markdown, run_compiled_bench

        with work_bar(len(cases) * 2, "timing", unit="rows") as bar:
            way = CompileSettings(compile_mode, backend_of(compile_backend), scope=compile_scope)
            report = run_compiled_bench(
                pipe, family, settings, cases, way, tables, on_row=lambda *_: bar.update()
            )
        stem = name or _stem(family.name, resolution, batch, report.environment["gpu"], tiny)
        stem += f"-compile-{compile_mode}"
        json_path = report.save(out_dir / f"{stem}.json")
        markdown = compiled_markdown(report)
        md_path = write_atomic(out_dir / f"{stem}.md", markdown)
        click.echo(markdown)
        click.echo(f"wrote {json_path} and {md_path}")
        return
    with work_bar(bench_calls(settings, cases), "timing", unit="calls") as bar:
        report = run_bench(pipe, family, settings, cases, tables, on_call=bar.update)
    stem = name or _stem(family.name, resolution, batch, report.environment["gpu"], tiny)
    if latency_table is not None:
        report.latency_table = str(latency_table)
    if calibrate_latency:
        calibration = calibrate(
            pipe, family, pipeline_call(pipe, family, settings), repeats=repeats
        )
        table_path = calibration.table.save(out_dir / f"latency-{stem}.json")
        fit = calibration.to_json()
        del fit["table"]
        report.settings["latency_fit"] = fit
        report.latency_table = table_path.name  # beside the report
        fill_predictions(report, cases, [*tables, calibration.table])
    if verify:
        report.settings["verify_max_rel_diff"] = verify_engines(pipe, family, settings, schedules)
    json_path = report.save(out_dir / f"{stem}.json")
    markdown = report_markdown(report)
    md_path = write_atomic(out_dir / f"{stem}.md", markdown)
    click.echo(markdown)
    click.echo(f"wrote {json_path} and {md_path}")


def _named(schedule, path: Path):
    """Published files carry generated names; label them by file stem (``ours_fast``)."""
    return schedule.with_metadata(name=path.stem)


def _stem(family: str, resolution: int, batch: int, gpu: str, tiny: bool) -> str:
    gpu_slug = re.sub(r"[^a-z0-9]+", "-", str(gpu).lower()).strip("-") or "cpu"
    return f"{family}-{resolution}-b{batch}-{'tiny-' if tiny else ''}{gpu_slug}"
