"""Schedules at serving speed: eager vs compiled, batch 1 and 4, 256 and 1024 px.

Full-size random-weight PixArt-α and FLUX.1-dev, 20 steps. Per configuration (family,
resolution, batch) and schedule (no-cache, FORA-3, the published ``ours_*`` files, true TGATE
for PixArt): ms/image eager and compiled beside plain diffusers eager and compiled the same way,
the MACs-predicted speedup, compile seconds, patterns and peak memory. Each row is printed as
soon as it is measured and the results so far are rewritten after every row
(``compile-<family>-<res>-b<batch>-<gpu>.json/.md`` and ``compile-summary-<gpu>.md``), so a
run cut short still leaves its data.

    python benchmarks/compile/run.py --only pixart --resolution 256 --batch 1      # GPU
    python benchmarks/compile/run.py --tiny --device cpu                            # smoke run

Published schedules are read from ``.reference/schedules_in_paper/`` (see
``benchmarks/run_engine_suite.sh``); missing files are skipped with a note.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: Family -> (short name, published-schedule folder, large batch at 256 px, TGATE heuristic).
FAMILIES = {
    "pixart": ("pixart-alpha", "pixart_alpha_256", 100, "tgate:10:1"),
    "flux": ("flux-dev", "flux_256", 18, None),
}
PUBLISHED = {
    "pixart": ("ours_fast", "ours_faster", "ours_fastest"),
    "flux": ("ours_fast", "ours_faster"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", choices=sorted(FAMILIES), action="append",
                   help="family (repeatable; default: both)")
    p.add_argument("--resolution", type=int, action="append", help="default: 256 and 1024")
    p.add_argument("--batch", type=int, action="append",
                   help="images per call (default: 1 and 4; 'large' configs via --large)")
    p.add_argument("--large", action="store_true",
                   help="the suite's large batch at 256 px (PixArt 100, FLUX 18): alone, only "
                        "that; with --resolution or --batch, besides those")
    p.add_argument("--schedule", action="append",
                   help="schedule names to run: plain, no-cache, fora-3, tgate, ours_fast, ... "
                        "(repeatable; default: all; plain diffusers always runs)")
    p.add_argument("--mode", default="reduce-overhead",
                   choices=["default", "reduce-overhead", "max-autotune"])
    p.add_argument("--backend", default="inductor",
                   help="torch.compile backend; 'none': no compiler, CUDA graphs of the eager "
                        "engine (no compile time; the CUDA-graph modes only)")
    p.add_argument("--scope", default="blocks", choices=["blocks", "transformer"],
                   help="blocks: one compiled graph per block pattern (few compilations; each "
                        "step pattern still one CUDA graph); transformer: one per step pattern "
                        "(learned schedules have 16-20 of their 20 steps: long compilation)")
    p.add_argument("--no-eager", action="store_true", help="compiled rows only")
    p.add_argument("--profile", action="store_true",
                   help="one more call per compiled row under torch.profiler: GPU busy ms "
                        "against wall ms, the top kernels (in the JSON)")
    p.add_argument("--deadline-s", type=float, default=None,
                   help="start no new row after this many seconds (rows already measured and "
                        "written stay); for a device call with a hard time limit")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--tiny", action="store_true", help="tiny architectures (CPU smoke run)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--reference", type=Path, default=REPO / ".reference" / "schedules_in_paper")
    p.add_argument("--out-dir", type=Path,
                   default=Path(os.environ.get("OUT") or REPO / "benchmarks" / "results"))
    return p.parse_args(argv)


def configurations(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    families = args.only or list(FAMILIES)
    resolutions = args.resolution or ([64] if args.tiny else [256, 1024])
    batches = args.batch or [1, 4]
    out = [(f, r, b) for f in families for r in resolutions for b in batches]
    if args.large and not (args.resolution or args.batch):  # --large alone: only the check
        out = []
    if args.large:
        out += [(f, 256, FAMILIES[f][2] if not args.tiny else 8) for f in families]
    return list(dict.fromkeys(out))


def schedules_for(args, key: str, layout, steps: int) -> tuple[list, list[str]]:
    """The schedules of a family, and notes on those skipped."""
    from ecad.schedules import Schedule, read_schedule
    from ecad.schedules.catalog import HeuristicCall
    from ecad.schedules.heuristics import fora

    _, folder, _, tgate = FAMILIES[key]
    wanted = set(args.schedule or [])
    notes: list[str] = []
    out = [Schedule.full(layout, steps).with_metadata(name="no-cache"), fora(layout, steps, 3)]
    if tgate is not None:
        heuristic = "tgate:3:1" if args.tiny else tgate
        out.append(HeuristicCall.parse(heuristic).build(layout, steps).with_metadata(name="tgate"))
    for name in PUBLISHED[key]:
        path = args.reference / folder / f"{name}.json"
        if args.tiny:
            notes.append(f"{name}: published files are for the full-size model (skipped with "
                         "--tiny)")
        elif not path.is_file():
            notes.append(f"{name}: {path} not found (skipped)")
        else:
            out.append(read_schedule(path).with_metadata(name=name))
    if wanted:
        out = [s for s in out if s.metadata.name in wanted]
    return out, notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import torch

    from ecad.atomic import write_atomic
    from ecad.bench import (
        BenchCase,
        BenchSettings,
        CompileSettings,
        compiled_markdown,
        random_pipeline,
        rows_per_call,
        run_compiled_bench,
    )
    from ecad.bench.timing import environment
    from ecad.cost import macs_table
    from ecad.families import get_family
    from ecad.schedules import ScheduleLayout

    torch.backends.cudnn.benchmark = True
    if args.tiny:
        args.steps = min(args.steps, 6)
        args.repeats = min(args.repeats, 2)
    gpu = environment(args.device)["gpu"]
    slug = re.sub(r"[^a-z0-9]+", "-", str(gpu).lower()).strip("-") + ("-tiny" if args.tiny else "")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    backend = None if args.backend == "none" else args.backend
    compiled = CompileSettings(args.mode, backend, eager=not args.no_eager, scope=args.scope,
                               profile=args.profile)
    print(f"# compile benchmark on {gpu}: mode {args.mode}, backend {args.backend}, "
          f"scope {args.scope}, "
          f"{args.steps} steps; torch {torch.__version__}", flush=True)
    summary: dict[str, str] = {}
    t0 = time.perf_counter()

    def out_of_time() -> bool:
        late = args.deadline_s is not None and time.perf_counter() - t0 > args.deadline_s
        if late:
            print(f"deadline of {args.deadline_s} s passed: no new rows", flush=True)
        return late
    pipes: dict[tuple[str, int], object] = {}
    status = 0
    for key, resolution, batch in configurations(args):
        family = get_family(FAMILIES[key][0])
        start = time.perf_counter()
        if (key, resolution) not in pipes:
            pipes.clear()  # one pipeline on the device at a time
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
            pipes[key, resolution] = random_pipeline(family, resolution, device=args.device,
                                                     tiny=args.tiny)
        pipe = pipes[key, resolution]
        layout = ScheduleLayout.for_model(family, pipe.transformer)
        schedules, notes = schedules_for(args, key, layout, args.steps)
        cases = [BenchCase("plain diffusers", "none")]
        cases += [BenchCase(s.metadata.name, "lean", s) for s in schedules]
        settings = BenchSettings(resolution=resolution, batch=batch, steps=args.steps,
                                 outputs=("latent",), warmup=args.warmup, repeats=args.repeats)
        tables = []
        if not args.tiny:
            rows = rows_per_call(family, batch, settings.guidance_for(family))
            tables = [macs_table(family, resolution, rows, "macs")]
        stem = f"compile-{family.name}-{resolution}-b{batch}-{slug}"
        print(f"\n## {family.name} {resolution}px batch {batch} "
              f"(pipeline ready in {time.perf_counter() - start:.0f} s)", flush=True)
        for note in notes:
            print(f"note: {note}", flush=True)

        def on_row(report, row, stem=stem, notes=notes) -> None:
            extra = row.compile or {}
            print(f"{row.label:>16} {row.engine:>24}: {row.ms_per_image:9.2f} ms/img  "
                  f"speedup {row.speedup or float('nan'):5.2f}x  "
                  f"pred {row.predicted.get('macs', 1.0):5.2f}x  "
                  f"compile {row.compile_seconds or 0:6.1f} s  "
                  f"patterns {extra.get('patterns', '-')}  "
                  f"peak {row.peak_gpu_bytes / 2**30:5.1f} GiB  "
                  f"[{time.perf_counter() - t0:.0f} s]", flush=True)
            if row.profile and "gpu_busy_ms" in row.profile:
                prof = row.profile
                print(f"{'':>16} profile: wall {prof['wall_ms']:.1f} ms, GPU busy "
                      f"{prof['gpu_busy_ms']:.1f} ms, {prof['kernels']} kernels; top: "
                      + "; ".join(f"{k['name'][:40]} {k['total_ms']:.1f}"
                                  for k in prof["top_kernels"][:5]), flush=True)
            report.settings["notes"] = notes
            report.save(args.out_dir / f"{stem}.json")
            summary[stem] = compiled_markdown(report)
            write_atomic(args.out_dir / f"{stem}.md", summary[stem])
            write_atomic(args.out_dir / f"compile-summary-{slug}.md", "\n".join(summary.values()))

        report = run_compiled_bench(pipe, family, settings, cases, compiled, tables, on_row,
                                    stop=out_of_time)
        for name, error in report.settings["errors"].items():
            status = 1
            print(f"FAILED {name}: {error.splitlines()[-1]}", flush=True)
        print(compiled_markdown(report), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
