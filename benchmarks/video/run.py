"""Wan 2.1 T2V 1.3B on a GPU: the caching engine on video, and a short fidelity search.

    python benchmarks/video/run.py --part timing --output-dir benchmarks/results/video
    python benchmarks/video/run.py --part search --output-dir benchmarks/results/video
    python benchmarks/video/run.py --smoke --output-dir /tmp/video       # CPU, tiny, both parts

**timing**: the full-size ``WanTransformer3DModel`` (1.3B, the published config) with random
weights, built in bf16 on the GPU (no download), with the released Wan VAE and UniPC sampler (flow
shift 3.0) and no text encoder: random UMT5-shaped embeddings (512 tokens) go into
``WanPipeline``, which runs its own loop with true CFG (two transformer calls per step). 480p
(832x480), ``--frames`` (default 33), the model card's 50 steps and guidance 5.0, one video per
call. Configurations, interleaved round by round: plain diffusers (no hooks), no-cache (hooks,
all recompute), FORA-2, FORA-3 and TGATE's booleans (``tgate_without_ca_avg``: Wan has
cross-attention; gate at 40% of the steps, self-attention every 2 steps before it). Per row:
seconds per video of the denoising loop (median of ``--repeats`` timed calls after one warm-up
call; latent output), the VAE decode once (the same for every row), speedup over plain diffusers,
the MACs-predicted speedup (attention included) at these frames and size, efficiency = measured
/ predicted, peak GPU memory, peak cache bytes.

**search**: the same random transformer and VAE saved with a UMT5 text encoder of one layer (its
width the transformer's 4096-d text input: embedding real prompts costs nothing), then
``ecad search`` in process on that directory: fidelity (SSIM, per frame, averaged per video),
population 8, ``--generations`` (default 2), 2 calibration prompts, ``--search-frames`` (default
17) at 480p, 50 steps, MACs cost. Reports wall seconds, videos and frames generated, frames/s,
the front.

``--smoke`` runs both parts on the tiny random-weight Wan on the CPU (5 frames, 32x48, 4 steps)
to test the script; its figures mean nothing. Writes ``video-<part>-<gpu>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

FAMILY = "wan2.1-t2v-1.3b"


def _setup(args: argparse.Namespace) -> dict[str, Any]:
    from ecad.families import get_family

    family = get_family(FAMILY)
    if args.smoke:
        return {
            "family": family,
            "device": "cpu",
            "height": 32,
            "width": 48,
            "frames": 5,
            "search_frames": 5,
            "steps": 4,
        }
    return {
        "family": family,
        "device": "cuda",
        "height": 480,
        "width": 832,
        "frames": args.frames,
        "search_frames": args.search_frames,
        "steps": family.default_steps,
    }


def _pipeline(family: Any, setup: dict[str, Any], smoke: bool) -> Any:
    from ecad.bench import random_pipeline

    return random_pipeline(family, setup["height"], device=setup["device"], tiny=smoke)


def _schedules(layout: Any, steps: int) -> list[Any]:
    from ecad.schedules.heuristics import fora
    from ecad.schedules.published import tgate

    gate = max(1, round(0.4 * steps))
    return [
        fora(layout, steps, 2),
        fora(layout, steps, 3),
        tgate(layout, steps, m=gate, k=2, average=False),
    ]


def timing(args: argparse.Namespace, setup: dict[str, Any]) -> dict[str, Any]:
    """Seconds per video of each configuration; see the module docstring."""
    import torch

    from ecad.bench.fullsize import random_embeddings
    from ecad.bench.timing import GpuTimer, environment, peak_memory, reset_peak_memory
    from ecad.caching import apply_schedule, cache_stats, remove_schedule
    from ecad.cost import macs_table
    from ecad.generation.adapters import adapter_for
    from ecad.schedules import Schedule, ScheduleLayout

    family, device, steps = setup["family"], setup["device"], setup["steps"]
    pipe = _pipeline(family, setup, args.smoke)
    layout = ScheduleLayout.for_model(family, pipe.transformer)
    schedules = _schedules(layout, steps)
    cases = [("plain diffusers", None), ("no-cache", Schedule.full(layout, steps))]
    cases += [(s.metadata.name, s) for s in schedules]
    if args.only:  # plain diffusers stays: every speedup is over it
        cases = [c for c in cases if c[0] == "plain diffusers" or c[0] in args.only]
    config = None
    if args.smoke:  # the tiny model's own cost table
        config = {k: v for k, v in pipe.transformer.config.items() if not k.startswith("_")}
    table = macs_table(
        family,
        setup["height"],
        1,
        "macs",
        transformer_config=config,
        frames=setup["frames"],
        width=setup["width"],
    )
    adapter = adapter_for(family)
    kwargs = {
        **adapter.call_kwargs(random_embeddings(pipe, family, 1)),
        **adapter.guidance_kwargs(family.default_guidance),
        "num_inference_steps": steps,
        "height": setup["height"],
        "width": setup["width"],
        "num_frames": setup["frames"],
    }
    timer, generator = GpuTimer(device), torch.Generator(device="cpu")

    def call(output: str) -> Any:
        generator.manual_seed(0)
        return pipe(**kwargs, generator=generator, output_type=output).frames

    latents = call("latent")  # the warm-up call
    with torch.inference_mode():  # as the pipeline decodes (no autograd graph of the VAE)
        decode_ms = timer(lambda: pipe.vae.decode(latents.to(pipe.vae.dtype), return_dict=False))
    times: dict[str, list[float]] = {label: [] for label, _ in cases}
    peaks: dict[str, int] = dict.fromkeys(times, 0)
    cache_peaks: dict[str, int] = dict.fromkeys(times, 0)
    for rep in range(args.repeats):
        for label, schedule in cases:
            if schedule is not None:
                apply_schedule(pipe, schedule)
            reset_peak_memory(device)
            try:
                times[label].append(timer(lambda: call("latent")) / 1e3)
                if schedule is not None:
                    cache_peaks[label] = max(
                        cache_peaks[label], cache_stats(pipe)["peak_cached_bytes"]
                    )
            finally:
                remove_schedule(pipe)
            peaks[label] = max(peaks[label], peak_memory(device))
            print(f"{label} run {rep}: {times[label][-1]:.2f} s", flush=True)
    plain = statistics.median(times["plain diffusers"])
    rows = []
    for label, schedule in cases:
        seconds = statistics.median(times[label])
        predicted = 1.0 if schedule is None else table.predicted_speedup(schedule)
        rows.append(
            {
                "schedule": label,
                "seconds_per_video": seconds,
                "seconds_per_video_with_decode": seconds + decode_ms / 1e3,
                "times_s": times[label],
                "speedup": plain / seconds,
                "predicted_speedup_macs": predicted,
                "efficiency": (plain / seconds) / predicted,
                "peak_gpu_bytes": peaks[label],
                "peak_cache_bytes": cache_peaks[label],
                "schedule_digest": None if schedule is None else schedule.digest(),
            }
        )
    return {  # the pipeline goes with this frame: the search part builds its own
        "part": "timing",
        "family": family.name,
        "smoke": args.smoke,
        "height": setup["height"],
        "width": setup["width"],
        "frames": setup["frames"],
        "steps": steps,
        "guidance": family.default_guidance,
        "repeats": args.repeats,
        "blocks": dict(layout.block_counts),
        "vae_decode_s": decode_ms / 1e3,
        "macs_per_step_no_cache": table.full_cost(1),
        "rows": rows,
        "environment": environment(device),
    }


def _search_weights(family: Any, setup: dict[str, Any], smoke: bool, directory: Path) -> str:
    """A pipeline directory to search on: the tiny build, or the full-size random transformer
    and VAE with a one-layer UMT5 of the transformer's text width and a byte tokenizer."""
    from ecad.families.loading import save_tiny_pipeline

    if smoke:
        return str(save_tiny_pipeline(family, directory))
    from transformers import UMT5Config, UMT5EncoderModel

    from ecad.families.tiny import SPECIAL_TOKENS, byte_tokenizer

    pipe = _pipeline(family, setup, smoke=False)
    width = pipe.transformer.config.text_dim
    pipe.text_encoder = (
        UMT5EncoderModel(
            UMT5Config(
                vocab_size=len(SPECIAL_TOKENS) + 256,
                d_model=width,
                d_ff=64,
                d_kv=8,
                num_layers=1,
                num_heads=2,
                relative_attention_num_buckets=8,
                pad_token_id=0,
                eos_token_id=1,
            )
        )
        .to(dtype=pipe.transformer.dtype)
        .eval()
    )
    pipe.tokenizer = byte_tokenizer(512)
    pipe.register_modules(text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer)
    pipe.save_pretrained(directory)
    del pipe
    return str(directory)


def search(args: argparse.Namespace, setup: dict[str, Any]) -> dict[str, Any]:
    """A short fidelity search on the GPU; see the module docstring."""
    import yaml

    from ecad.bench.timing import environment
    from ecad.search import load_spec, run_search
    from ecad.store import FilesystemStore

    family = setup["family"]
    with tempfile.TemporaryDirectory(prefix="ecad-video-search-") as tmp:
        root = Path(tmp)
        weights = _search_weights(family, setup, args.smoke, root / "weights")
        spec_file = root / "wan-fidelity.yaml"
        spec_file.write_text(
            yaml.safe_dump(
                {
                    "name": "wan-fidelity",
                    "family": family.name,
                    "weights": weights,
                    "resolution": setup["height"],
                    "width": setup["width"],
                    "frames": setup["search_frames"],
                    "fps": family.default_fps,
                    "steps": setup["steps"],
                    "prompts": {
                        "file": str(REPO / "prompts" / "calibration-100.txt"),
                        "limit": args.prompts,
                    },
                    "quality": {"scorer": "fidelity", "metric": "ssim"},
                    "cost": {"mode": "macs"},
                    "population": 8,
                    "generations": args.generations,
                    "min_diff": 1,
                    "initial_population": {"heuristics": ["fora:2", "fora:3", "fora:4"]},
                    "shard_size": args.prompts,
                    "batch_size": 1,
                    "seed": 0,
                }
            )
        )
        spec = load_spec(spec_file)
        started = time.perf_counter()
        session = run_search(
            FilesystemStore(root / "store"), spec, progress=lambda _: None, device=setup["device"]
        )
        wall = time.perf_counter() - started
        videos = sum(r.work.images for r in session.history())
        frames = videos * spec.video.frames
        front = [
            {
                "name": m.schedule.metadata.name,
                "ssim": m.quality,
                "predicted_speedup": 1 / m.relative_cost,
            }
            for m in session.front()
        ]
    return {
        "part": "search",
        "family": family.name,
        "smoke": args.smoke,
        "height": setup["height"],
        "width": setup["width"],
        "frames": spec.video.frames,
        "steps": spec.steps,
        "population": 8,
        "generations": args.generations,
        "prompts": args.prompts,
        "wall_seconds": wall,
        "videos_generated": videos,
        "frames_generated": frames,
        "frames_per_second": frames / wall,
        "videos_per_second": videos / wall,
        "front": front,
        "environment": environment(setup["device"]),
    }


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    head = (
        f"GPU: {env.get('gpu')} · torch {env.get('torch')} · diffusers "
        f"{env.get('diffusers')}. {result['family']}, random weights, "
        f"{result['width']}x{result['height']}, {result['frames']} frames, "
        f"{result['steps']} steps."
        + (" SMOKE RUN (tiny, CPU): figures mean nothing." if result["smoke"] else "")
    )
    if result["part"] == "search":
        lines = [
            "# Wan video: a short fidelity search",
            "",
            head,
            "",
            f"population {result['population']}, {result['generations']} generations, "
            f"{result['prompts']} prompts: {result['videos_generated']} videos "
            f"({result['frames_generated']} frames) in {result['wall_seconds']:.1f} s = "
            f"**{result['frames_per_second']:.2f} frames/s** "
            f"({result['videos_per_second']:.3f} videos/s).",
            "",
            "| front member | SSIM | MACs-predicted speedup |",
            "|---|---|---|",
        ]
        lines += [
            f"| {m['name']} | {m['ssim']:.4f} | {m['predicted_speedup']:.2f}x |"
            for m in result["front"]
        ]
        return "\n".join(lines) + "\n"
    lines = [
        "# Wan video: caching engine on the full-size random-weight transformer",
        "",
        head,
        f"Median of {result['repeats']} timed calls (latent output); VAE decode "
        f"{result['vae_decode_s']:.2f} s per video on top.",
        "",
        "| schedule | s/video | s/video with decode | speedup | MACs-predicted | "
        "efficiency | peak GPU GiB | cache peak GiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['schedule']} | {r['seconds_per_video']:.2f} | "
            f"{r['seconds_per_video_with_decode']:.2f} | {r['speedup']:.2f}x | "
            f"{r['predicted_speedup_macs']:.2f}x | {r['efficiency']:.2f} | "
            f"{r['peak_gpu_bytes'] / 2**30:.1f} | {r['peak_cache_bytes'] / 2**30:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", type=Path, default=REPO / "benchmarks/results/video")
    parser.add_argument("--part", choices=("timing", "search", "all"), default="all")
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--search-frames", type=int, default=17)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--generations", type=int, default=None, help="default 2 (smoke: 1)")
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU")
    parser.add_argument("--only", action="append", default=None, metavar="ROW",
                        help="timing: only this row beside plain diffusers (repeatable): "
                        "no-cache, fora-2, fora-3 or the tgate row's name")
    args = parser.parse_args(argv)
    if args.generations is None:
        args.generations = 1 if args.smoke else 2
    setup = _setup(args)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for part in ("timing", "search") if args.part == "all" else (args.part,):
        result = timing(args, setup) if part == "timing" else search(args, setup)
        results.append(result)
        gpu = result["environment"].get("gpu", "cpu").lower().replace(" ", "-")
        stem = args.output_dir / f"video-{part}-{'smoke-' if args.smoke else ''}{gpu}"
        stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
        stem.with_suffix(".md").write_text(markdown(result))
        print(markdown(result), flush=True)
        print(f"wrote {stem}.json and .md", flush=True)
    return results


if __name__ == "__main__":
    main()
