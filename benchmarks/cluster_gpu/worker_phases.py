"""Where a GPU worker's time goes: the worker's own code path (``Evaluator.run`` with
in-memory scoring) in one process, without Celery, against ``generate_images`` alone.

Same setting as ``run.py`` (PixArt-α 256, random full-size weights, random real-size
ImageReward, 100 images per shard, batch 100): the eight generation-0 candidates of that search,
generated once to warm every engine path, then timed per mode on a fresh store while
nvidia-smi samples utilisation every 100 ms:

* ``alone``: ``generate_images`` for each schedule, images discarded (the ``ecad generate`` path);
* ``sequential``: one task after another (``ecad worker --concurrency 1``);
* ``threads-2``: two threads taking tasks from one queue (``--concurrency 2``);
* ``threads-2-noscore``: the same without scoring (what scoring costs the generation).

    python benchmarks/cluster_gpu/worker_phases.py --output-dir $OUT
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.cluster_gpu.run import (  # noqa: E402
    GpuSampler,
    prepare_models,
    seed_embeddings,
    write_spec,
)


def _fresh_store(root: Path, name: str, spec_path: Path):
    from ecad.store import FilesystemStore

    path = root / name
    shutil.rmtree(path, ignore_errors=True)
    seed_embeddings(path, spec_path)
    return FilesystemStore(path)


def _run_tasks(ev, candidates, threads: int, score: bool = True) -> None:
    """Each candidate's first shard, as ``threads`` worker tasks taking them from one queue."""
    from ecad.search import ShardWork
    from ecad.store.keys import SHARD_TASK

    def one(c):
        if score:
            return ev.run(ShardWork(SHARD_TASK, c, 0, ev.plan.sharding))
        return ev.generate_shard(c.schedule, c.generation_key, 0)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, candidates))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", type=Path, default=Path("/tmp/ecad-gpu-bench"))
    ap.add_argument("--output-dir", type=Path, required=True)
    ap.add_argument("--ir-dtype", default="float32", choices=("float32", "bfloat16"))
    ap.add_argument("--tiny", action="store_true", help="tiny model on the CPU (smoke test)")
    args = ap.parse_args()
    device = "cpu" if args.tiny else "cuda"
    ns = argparse.Namespace(tiny=args.tiny, resolution=256, prompts=20, images_per_prompt=5,
                            shard_size=100, population=8, generations=2, strict_fp32=False,
                            ir_dtype=args.ir_dtype)
    args.root.mkdir(parents=True, exist_ok=True)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)8.0f %(threadName)s "
                        "%(message)s", filename=args.output_dir / "phases.log")
    models = prepare_models(args.root, args.tiny, 256)
    spec_path = write_spec(args.root, models, ns)

    from ecad.generation import generate_images
    from ecad.search import Evaluator, SearchSession, load_spec

    spec = load_spec(spec_path)
    store = _fresh_store(args.root, "phase-warm", spec_path)
    session, _ = SearchSession.create(store, spec)
    candidates = [c for c in session.pending() if c.feasible]
    schedules = [c.schedule for c in candidates]
    ev = Evaluator(spec, store, device=device)
    _run_tasks(ev, candidates, 1)  # loads the models, compiles every engine path
    sampler = GpuSampler(args.output_dir / "nvidia-smi.csv")
    sampler.start()
    time.sleep(1)
    results = {}

    def timed(name, fn):
        import torch

        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        sync()
        t0 = time.time()
        fn()
        sync()
        t1 = time.time()
        images = len(ev.shards[0]) * len(schedules)
        results[name] = {"seconds": round(t1 - t0, 2),
                         "images_per_second": round(images / (t1 - t0), 2)}
        time.sleep(0.5)
        print(name, results[name], flush=True)
        return t0, t1

    windows = {}

    def alone():
        from ecad.families import get_family
        from ecad.generation import GenerationSettings

        res = ev.setting.resolution
        settings = GenerationSettings(res, res, ev.setting.steps, ev.setting.guidance,
                                      seed=ev.setting.image_seed, batch_size=spec.batch_size)
        family = get_family(spec.family)
        for schedule in schedules:
            for _ in generate_images(ev.pipeline(), family, ev.embeddings(), settings,
                                     schedule, pairs=ev.shards[0]):
                pass

    windows["alone"] = timed("alone", alone)
    # name, threads, score
    for name, threads, score in [("sequential", 1, True), ("threads-2", 2, True),
                                 ("threads-2-noscore", 2, False)]:
        ev.store = _fresh_store(args.root, f"phase-{name}", spec_path)
        logging.info("mode %s", name)
        windows[name] = timed(name, lambda t=threads, s=score: _run_tasks(ev, candidates, t, s))
    sampler.stop()
    # nvidia-smi's index of our GPU (prelude.sh sets CUDA_DEVICE_ORDER=PCI_BUS_ID, its order)
    gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
    for name, (t0, t1) in windows.items():
        results[name]["gpu_busy"] = sampler.busy(t0, t1).get(gpu)  # None without a GPU
        results[name]["over_alone"] = round(
            results[name]["images_per_second"] / results["alone"]["images_per_second"], 3)
    results["settings"] = {"ir_dtype": args.ir_dtype, "images_per_shard": len(ev.shards[0]),
                           "batch_size": spec.batch_size, "schedules": len(schedules),
                           "tiny": args.tiny}
    (args.output_dir / "worker_phases.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
