"""Today's families on a GPU: SD3.5 Large, Qwen-Image and FLUX.2 [dev] with the caching engine.

    python benchmarks/families/run.py --output-dir benchmarks/results/families
    python benchmarks/families/run.py --only flux2-dev --blocks flux2-dev:single=24   # H100
    python benchmarks/families/run.py --smoke --output-dir /tmp/families            # CPU, tiny

Each family's full-size transformer is built from its published config with random weights, on
the GPU in bf16 (no download), with the released VAE and sampler and no text encoders: random
prompt embeddings of the text encoders' shapes are fed to the pipeline, which runs its own
denoising loop (guidance included: SD3.5 batches both halves, Qwen-Image calls the transformer
twice per step) and returns latents (``output_type="latent"``: the VAE decode is not timed).
Default steps and guidance of each model card, 1024 px.

Configurations, interleaved round by round on the same pipeline and inputs: plain diffusers (no
hooks), no-cache (hooks installed, everything recomputed), FORA-2, FORA-3 and one more heuristic
per family (``EXTRA``). Per configuration: ms/image (median of ``--repeats`` timed calls after a
warm-up), speedup over plain diffusers, the MACs-predicted speedup (attention included, and
linear layers only), efficiency = measured / predicted speedup, peak GPU memory, peak cache
bytes. ``--blocks FAMILY:GROUP=N`` runs a family with fewer blocks (FLUX.2's 32B parameters do
not leave room for activations and caches on an 80 GB card); its cost tables are then made for
that block count. Writes ``families-<gpu>.json`` (every report) and ``.md`` (one summary table
plus each family's full table), after every family; with ``--only``, ``families-<names>-<gpu>``.

``--smoke`` runs the same code on the tiny random-weight builds on the CPU, 4 steps, 64 px (to
test the script; its timings mean nothing).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

FAMILIES = ("sd3.5-large", "qwen-image", "flux2-dev")
#: Images per pipeline call at 1024 px that fit an 80 GB card with every component cached.
BATCH = {"sd3.5-large": 4, "qwen-image": 2, "flux2-dev": 1}


def _evenly(target: str) -> Callable[[Any, int], Any]:
    """Reuse ``target`` at half the steps, evenly spaced, in every block."""

    def build(layout: Any, steps: int) -> Any:
        from ecad.schedules.catalog import HeuristicCall

        blocks = sum(count for _, count in layout.block_counts)
        call = HeuristicCall.of(
            f"evenly_cache_{target}_evenly_spaced",
            num_affected_steps=max(1, steps // 2),
            num_affected_blocks=blocks,
        )
        return call.build(layout, steps)

    return build


def _attention_every(n: int) -> Callable[[Any, int], Any]:
    def build(layout: Any, steps: int) -> Any:
        from ecad.schedules.heuristics import attention_every

        return attention_every(layout, steps, n)

    return build


#: The one more heuristic of each family (none of these families has cross-attention, so no
#: TGATE): SD3.5 attention every 2 steps; Qwen-Image its MLPs reused at half the steps; FLUX.2
#: the double blocks' attention and the single (parallel) blocks reused at half the steps.
EXTRA: dict[str, Callable[[Any, int], Any]] = {
    "sd3.5-large": _attention_every(2),
    "qwen-image": _evenly("mlp"),
    "flux2-dev": _evenly("attn"),
}


def _blocks(values: list[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for value in values:
        try:
            family, rest = value.split(":", 1)
            group, count = rest.split("=", 1)
            out.setdefault(family, {})[group] = int(count)
        except ValueError:
            raise SystemExit(
                f"--blocks {value!r}: use FAMILY:GROUP=N, e.g. flux2-dev:single=24"
            ) from None
    return out


def bench_family(name: str, args: argparse.Namespace, blocks: dict[str, int]) -> Any:
    """One family's :class:`~ecad.bench.results.BenchReport`."""
    import torch

    from ecad.bench import BenchSettings, random_pipeline
    from ecad.bench.suite import bench_cases, rows_per_call, run_bench
    from ecad.cost import macs_table
    from ecad.families import get_family
    from ecad.schedules import Schedule, ScheduleLayout
    from ecad.schedules.heuristics import fora

    family = get_family(name)
    device = "cpu" if args.smoke else "cuda"
    resolution = 64 if args.smoke else args.resolution
    steps = 4 if args.smoke else family.default_steps
    batch = args.batch or (1 if args.smoke else BATCH[name])
    pipe = random_pipeline(
        family, resolution, device=device, tiny=args.smoke, blocks=None if args.smoke else blocks
    )
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    schedules = [fora(layout, steps, 2), fora(layout, steps, 3), EXTRA[name](layout, steps)]
    cases = bench_cases(schedules, Schedule.full(layout, steps))
    settings = BenchSettings(
        resolution=resolution,
        batch=batch,
        steps=steps,
        outputs=("latent",),
        warmup=args.warmup,
        repeats=args.repeats,
    )
    full = all(n == g.num_blocks for (_, n), g in zip(layout.block_counts, family.block_groups))
    config = None
    if not full:  # a tiny or reduced model: cost tables of the model that runs
        config = {k: v for k, v in pipe.transformer.config.items() if not k.startswith("_")}
    rows = rows_per_call(family, batch, family.default_guidance)
    tables = [
        macs_table(family, resolution, rows, mode, transformer_config=config)
        for mode in ("macs", "macs-linear")
    ]
    print(f"{name}: {layout.describe()}, batch {batch}, {steps} steps, {resolution}px", flush=True)
    report = run_bench(pipe, family, settings, cases, tables)
    report.settings["blocks"] = dict(layout.block_counts)
    report.settings["full_size"] = full
    report.settings["extra_heuristic"] = schedules[-1].metadata.name
    report.settings["text_tokens"] = family.max_sequence_length
    del pipe
    if device == "cuda":
        torch.cuda.empty_cache()
    return report


def summary_markdown(reports: list[Any]) -> str:
    """One table over every family: the numbers the issue asks for."""
    from ecad.bench.markdown import report_markdown

    if not reports:
        return ""
    env = reports[0].environment
    lines = [
        "# Today's families: caching engine on full-size random-weight transformers",
        "",
        f"GPU: {env.get('gpu')} · torch {env.get('torch')} · diffusers {env.get('diffusers')}. "
        "Latent output (VAE decode not timed), random prompt embeddings, model-card steps and "
        "guidance. ms/img = median of the timed calls / images per call; speedup over plain "
        "diffusers; predicted = MACs (attention included) no-cache / schedule; efficiency = "
        "speedup / predicted.",
        "",
        "| family | blocks | batch | steps | schedule | ms/img | speedup | predicted | "
        "efficiency | peak GPU GiB | cache peak GiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for report in reports:
        blocks = ", ".join(f"{g} {n}" for g, n in report.settings["blocks"].items())
        if not report.settings.get("full_size"):
            blocks += " (reduced)"
        for row in report.rows:
            eff = row.efficiency("macs")
            lines.append(
                f"| {report.family} | {blocks} | {report.batch} | {report.steps} | {row.label} "
                f"| {row.ms_per_image:.1f} | {row.speedup or 0:.2f}x "
                f"| {row.predicted.get('macs', 0):.2f}x | "
                + ("–" if eff is None else f"{eff:.2f}")
                + f" | {row.peak_gpu_bytes / 2**30:.1f} | {row.peak_cache_bytes / 2**30:.2f} |"
            )
    for report in reports:
        lines += ["", "#" + report_markdown(report).replace("\n## ", "\n### ")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", type=Path, default=REPO / "benchmarks/results/families")
    parser.add_argument("--only", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=None, help="images per call (all families)")
    parser.add_argument("--blocks", action="append", default=[], help="FAMILY:GROUP=N")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny models on the CPU")
    args = parser.parse_args(argv)
    blocks = _blocks(args.blocks)

    from ecad.bench.results import BenchReport

    reports: list[BenchReport] = []
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        reports.append(bench_family(name, args, blocks.get(name, {})))
        gpu = reports[0].environment.get("gpu", "cpu").lower().replace(" ", "-")
        # A run of some families only is named after them: runs on one GPU do not overwrite
        # each other.
        some = "" if args.only == list(FAMILIES) else "-".join(args.only) + "-"
        stem = f"families-{some}{'smoke-' if args.smoke else ''}{gpu}"  # may hold dots (sd3.5)
        (args.output_dir / f"{stem}.json").write_text(
            json.dumps([r.to_json() for r in reports], indent=2)
        )
        (args.output_dir / f"{stem}.md").write_text(summary_markdown(reports))
        print(f"wrote {args.output_dir / stem}.json and .md", flush=True)
    return reports


if __name__ == "__main__":
    main()
