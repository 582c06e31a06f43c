"""Where the GPU time of one pipeline call goes: top CUDA kernels, plain diffusers vs a schedule.

    python benchmarks/profile_engine.py --family pixart-alpha --batch 100 \
        --schedule .reference/schedules_in_paper/pixart_alpha_256/ours_fastest.json > profile.txt
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from ecad.bench import BenchSettings, pipeline_call, random_pipeline
from ecad.caching import apply_schedule, remove_schedule
from ecad.families import get_family
from ecad.schedules import ScheduleLayout, read_schedule
from ecad.schedules.heuristics import fora


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", default="pixart-alpha")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--schedule", default=None, help="schedule file (default: FORA-3)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--rows", type=int, default=25, help="kernels to list")
    args = parser.parse_args()

    family = get_family(args.family)
    pipe = random_pipeline(family, args.resolution, device=args.device, tiny=args.tiny)
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    schedule = read_schedule(args.schedule) if args.schedule else fora(layout, 20, 3)
    settings = BenchSettings(resolution=args.resolution, batch=args.batch, steps=schedule.steps)
    kwargs = pipeline_call(pipe, family, settings)
    activities = [ProfilerActivity.CPU]
    if torch.device(args.device).type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    sort = "cuda_time_total" if ProfilerActivity.CUDA in activities else "cpu_time_total"

    for label, sched in (("plain diffusers", None), (schedule.metadata.name, schedule)):
        if sched is not None:
            apply_schedule(pipe, sched)
        try:
            pipe(**kwargs, output_type="latent")  # warm-up
            with profile(activities=activities) as prof:
                pipe(**kwargs, output_type="latent")
                if torch.device(args.device).type == "cuda":
                    torch.cuda.synchronize()
        finally:
            remove_schedule(pipe)
        print(f"=== {label} ===")
        print(
            prof.key_averages().table(sort_by=sort, row_limit=args.rows, max_name_column_width=70)
        )


if __name__ == "__main__":
    main()
