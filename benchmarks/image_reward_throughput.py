"""ImageReward throughput: ecad's batched scorer vs. the package's one-image-at-a-time ``score()``.

No weights are downloaded: the model is a random-weight checkpoint of the real ImageReward
architecture (BLIP ViT-L/16-224 + BERT-base with cross-attention, 30524-token vocabulary), written
locally and loaded through the same code path as the released ``ImageReward.pt``. Throughput does
not depend on the weights' values.

For each resolution the script times, on the same in-memory PIL images and prompts:

* ``loop``: the package's ``model.score(prompt, image)`` per image, under ``torch.no_grad()``
  (the package itself does not disable autograd; no_grad is the fairer baseline);
* ``batched``: ``ImageRewardScorer.score(images, prompts)`` with ``--batch-size``, per dtype
  (float32 gives the package's scores; bfloat16/float16 are faster and approximate).

Both include preprocessing (PIL resize to 224 px), as a user's call would. The first batch or
image of each run is a warm-up and is not timed. Results (images/second, speed-up over the loop,
max |batched - loop| on the images both scored) go to ``--output`` as JSON.

    python benchmarks/image_reward_throughput.py --output results/image_reward_h100.json
    python benchmarks/image_reward_throughput.py --tiny --device cpu --output /tmp/ir.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ecad.scoring.image_reward import ImageRewardScorer
from ecad.scoring.tiny import write_random_image_reward

PROMPTS = [line.strip() for line in (Path(__file__).resolve().parents[1] / "prompts" /
                                     "calibration-100.txt").read_text().splitlines() if line]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _images(n: int, size: int, seed: int) -> list[Image.Image]:
    """Smooth random images (noise upsampled), closer to generated images than pure noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, size // 16, size // 16, 3), dtype=np.uint8)
    return [Image.fromarray(s).resize((size, size), Image.BILINEAR) for s in small]


def _checkpoint(args: argparse.Namespace) -> dict[str, str]:
    root = Path(args.work_dir or tempfile.mkdtemp(prefix="image-reward-bench-"))
    name = "tiny" if args.tiny else "full"
    files = {"checkpoint": root / name / "ImageReward.pt",
             "med_config": root / name / "med_config.json", "tokenizer": root / name / "tokenizer"}
    if all(p.exists() for p in files.values()):
        return {k: str(v) for k, v in files.items()}
    started = time.perf_counter()
    out = write_random_image_reward(root / name, full_size=not args.tiny)
    print(f"wrote random {name} ImageReward checkpoint in {time.perf_counter() - started:.1f}s "
          f"to {root / name}", flush=True)
    return out


def _time_loop(scorer: ImageRewardScorer, images: list, prompts: list) -> tuple[float, list]:
    model, device = scorer.model, scorer.device
    with torch.no_grad():
        model.score(prompts[0], images[0])  # warm-up
        _sync(device)
        started = time.perf_counter()
        scores = [model.score(p, im) for p, im in zip(prompts, images)]
        _sync(device)
    return len(images) / (time.perf_counter() - started), scores


def _time_batched(scorer: ImageRewardScorer, images: list, prompts: list) -> tuple[float, Any]:
    warm = min(len(images), scorer.batch_size)
    scorer.score(images[:warm], prompts[:warm])  # warm-up (kernels, allocator, thread pool)
    _sync(scorer.device)
    started = time.perf_counter()
    scores = scorer.score(images, prompts)
    _sync(scorer.device)
    return len(images) / (time.perf_counter() - started), scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, type=Path, help="JSON result file.")
    parser.add_argument("--tiny", action="store_true", help="Tiny model: a quick CPU check.")
    parser.add_argument("--device", default=None, help="Default: cuda if available, else cpu.")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--images", type=int, default=None, help="Images for the batched runs.")
    parser.add_argument("--loop-images", type=int, default=None, help="Images for the loop.")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"],
                        choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="Preprocessing threads of the batched scorer.")
    parser.add_argument("--tf32", action="store_true", help="Allow TF32 matmuls (float32 runs).")
    parser.add_argument("--work-dir", default=None, help="Keep/reuse the checkpoint here.")
    args = parser.parse_args()
    n_batched = args.images or (8 if args.tiny else 256)
    n_loop = args.loop_images or (4 if args.tiny else 32)
    batch_size = args.batch_size or (4 if args.tiny else 64)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32

    files = _checkpoint(args)
    scorers = {dtype: ImageRewardScorer(device=args.device, batch_size=batch_size, dtype=dtype,
                                        workers=args.workers, **files) for dtype in args.dtypes}
    reference = scorers.get("float32") or ImageRewardScorer(device=args.device, **files)
    device = reference.device
    results = []
    for size in args.resolutions:
        images = _images(max(n_batched, n_loop), size, seed=size)
        prompts = [PROMPTS[n % len(PROMPTS)] for n in range(len(images))]
        loop_rate, loop_scores = _time_loop(reference, images[:n_loop], prompts[:n_loop])
        row: dict[str, Any] = {"resolution": size, "loop_images": n_loop,
                               "loop_images_per_s": loop_rate, "batched": {}}
        for dtype, scorer in scorers.items():
            rate, scores = _time_batched(scorer, images[:n_batched], prompts[:n_batched])
            common = min(n_loop, n_batched)
            row["batched"][dtype] = {
                "images": n_batched, "batch_size": batch_size, "images_per_s": rate,
                "speedup_vs_loop": rate / loop_rate,
                "max_abs_diff_vs_loop": float(np.max(np.abs(scores[:common] -
                                                            np.array(loop_scores[:common])))),
            }
            print(f"{size}px {dtype}: batched {rate:.1f} img/s, loop {loop_rate:.1f} img/s, "
                  f"x{rate / loop_rate:.1f}", flush=True)
        results.append(row)
    report = {
        "benchmark": "image_reward_throughput",
        "model": "tiny random ImageReward" if args.tiny else
                 "random-weight ImageReward, real architecture (ViT-L/16-224 + BERT-base)",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
                  platform.processor() or platform.machine(),
        "torch": torch.__version__, "tf32": args.tf32, "workers": args.workers,
        "loop_baseline": "ImageReward.score(prompt, image) per image under torch.no_grad()",
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
