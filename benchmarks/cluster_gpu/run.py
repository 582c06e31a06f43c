"""Distributed-search throughput on one GPU host (issues 6 part 4 and 7), in one command.

For each worker count in ``--workers`` (e.g. ``1,2``): a fresh store, redis-server, the
scheduler and that many ``ecad worker --gpu i`` processes run the same search — PixArt-α 256 with
random full-size weights, ImageReward with a random real-size checkpoint — while nvidia-smi
samples every GPU's utilisation. Also times ``generate_images`` alone on one GPU (the
``ecad generate`` path) for the images/s baseline: ``generate_images`` alone, and with the PNG
writes of ``ecad generate`` (``save_images``). ``--elastic`` adds a run that starts with
half the workers, adds the rest during generation 1 and SIGTERMs a quarter of them (at least one)
during generation 2 (issue 7's 4 -> 8 -> 6 on an 8-GPU host), and checks the front equals the
static run's. Each worker's log says which GPU (its UUID) its models went to and how many images
it generated; both are in the result.

    python benchmarks/cluster_gpu/run.py --workers 1,2 --output-dir $OUT
    python benchmarks/cluster_gpu/run.py --tiny --workers 1 --output-dir /tmp/x   # CPU smoke

GPU busy = mean nvidia-smi utilisation (sampled every 100 ms) over the window from the end of
generation 0 (all models loaded, reference images done) to the end of the search.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.integration.cluster import Processes, RedisServer, wait_for  # noqa: E402


def prepare_models(root: Path, tiny: bool, resolution: int) -> dict:
    """Random full-size PixArt-α pipeline (no text encoder) and ImageReward checkpoint."""
    import torch

    from ecad.bench.fullsize import random_pipeline
    from ecad.families import get_family
    from ecad.scoring.tiny import write_random_image_reward

    family = get_family("pixart-alpha")
    weights = root / "pixart-alpha-random"
    if not (weights / "model_index.json").exists():
        device = "cpu" if tiny else "cuda"
        pipe = random_pipeline(family, resolution, device=device, tiny=tiny)
        pipe.save_pretrained(weights)
        del pipe
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    reward = root / "image-reward-random"
    files = write_random_image_reward(reward, full_size=not tiny) if not (
        reward / "ImageReward.pt").exists() else {
        "checkpoint": str(reward / "ImageReward.pt"),
        "med_config": str(reward / "med_config.json"), "tokenizer": str(reward / "tokenizer")}
    return {"weights": str(weights), **files}


def write_spec(root: Path, models: dict, args) -> Path:
    prompts = root / "prompts.txt"
    lines = (REPO / "prompts" / "calibration-100.txt").read_text().splitlines()
    prompts.write_text("\n".join(lines[: args.prompts]) + "\n")
    spec = {
        "name": "gpu-throughput", "family": "pixart-alpha", "weights": models["weights"],
        "resolution": 64 if args.tiny else args.resolution, "steps": 20, "guidance": 4.5,
        "prompts": {"file": str(prompts)}, "images_per_prompt": args.images_per_prompt,
        "quality": {"scorer": "image-reward", "checkpoint": models["checkpoint"],
                    "med_config": models["med_config"], "tokenizer": models["tokenizer"],
                    "batch_size": args.shard_size, "tf32": not args.strict_fp32,
                    "dtype": args.ir_dtype,
                    "workers": 8},
        "cost": {"mode": "macs"}, "population": args.population,
        "generations": args.generations, "min_diff": 20,
        "initial_population": {"heuristics": ["fora:2", "fora:3", "cross-attn-gate:2:8"]},
        "shard_size": args.shard_size, "batch_size": args.shard_size, "seed": 0,
    }
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@functools.cache
def _embeddings_file(spec_path: Path) -> tuple[str, bytes]:
    """Store key and bytes of random prompt embeddings for the spec (built once per process:
    it loads the full-size pipeline)."""
    from ecad.bench.fullsize import random_embeddings
    from ecad.families import get_family
    from ecad.families.loading import load_pipeline
    from ecad.generation import PromptEmbeddings
    from ecad.search import load_spec
    from ecad.search.setting import EvaluationSetting

    spec = load_spec(spec_path)
    setting = EvaluationSetting.from_spec(spec)
    family = get_family("pixart-alpha")
    pipe = load_pipeline(family, spec.weights, device="cpu", dtype="float32", text_encoders=False)
    tensors = {k: v.cpu() for k, v in random_embeddings(pipe, family, len(setting.prompts)).items()}
    emb = PromptEmbeddings(family.name, setting.weights_id, setting.prompts, tensors)
    return f"embeddings/{setting.embeddings_key()}.safetensors", emb.to_bytes()


def seed_embeddings(store_dir: Path, spec_path: Path) -> None:
    """Random prompt embeddings in the store (the random model has no text encoder)."""
    from ecad.store import FilesystemStore

    FilesystemStore(store_dir).put(*_embeddings_file(spec_path))


class GpuSampler:
    """nvidia-smi every 100 ms into a CSV file, read once when sampling stops."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc = None
        self.rows: list[tuple[float, str, float, float]] = []  # time, GPU index, util %, MiB

    def start(self) -> None:
        try:
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=timestamp,index,utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits", "-lms", "100"],
                stdout=self.path.open("w"), stderr=subprocess.DEVNULL)
        except FileNotFoundError:
            self.proc = None

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
        self.rows = self._read() if self.path.exists() else []

    def _read(self) -> list[tuple[float, str, float, float]]:
        from datetime import datetime

        rows = []
        for line in self.path.read_text().splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) < 4:
                continue
            try:
                ts = datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
                rows.append((ts, parts[1], float(parts[2]), float(parts[3])))
            except ValueError:
                continue
        return rows

    def _samples(self, t0: float, t1: float) -> dict[str, list[tuple[float, float]]]:
        """GPU index -> [(utilisation %, memory MiB)] sampled in [t0, t1]."""
        per: dict[str, list[tuple[float, float]]] = {}
        for ts, gpu, util, mib in self.rows:
            if t0 <= ts <= t1:
                per.setdefault(gpu, []).append((util, mib))
        return per

    def busy(self, t0: float, t1: float) -> dict[str, float]:
        return {gpu: round(sum(u for u, _ in v) / len(v) / 100, 3)
                for gpu, v in self._samples(t0, t1).items() if v}

    def memory_mib(self, t0: float, t1: float) -> dict[str, float]:
        """Peak memory per GPU: a GPU no worker used stays near zero."""
        return {gpu: max(m for _, m in v) for gpu, v in self._samples(t0, t1).items() if v}


def worker_log_summary(path: Path) -> dict:
    """The GPU a worker's models went to and the images it generated, from its log."""
    text = path.read_text(errors="replace") if path.exists() else ""
    device = re.search(r"models on (\S+): (.+?), GPU (\S+)", text)
    shards = re.findall(r"generated (\d+) images in ([\d.]+)s", text)
    return {"device": device.group(1) if device else None,
            "gpu": device.group(2) if device else None,
            "gpu_uuid": device.group(3) if device else None,
            "shards": len(shards), "images": sum(int(n) for n, _ in shards),
            "generate_seconds": round(sum(float(t) for _, t in shards), 2)}


def _exit_code(proc: subprocess.Popen, timeout: float) -> int | None:
    """The process's exit code, or None if it is still running after ``timeout`` seconds."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def run_cluster(root: Path, spec: Path, workers: int, args,
                elastic: bool = False) -> tuple[dict, Path, tuple[float, float]]:
    """One search on ``workers`` workers: its result row, its store and its after-load window."""
    name = f"w{workers}{'-elastic' if elastic else ''}{'-' + args.label if args.label else ''}"
    store = root / f"store-{name}"
    shutil.rmtree(store, ignore_errors=True)  # a fresh store: nothing cached from a last run
    store.mkdir(parents=True)
    seed_embeddings(store, spec)
    env = {**os.environ, "ECAD_STORE": str(store),
           "HF_HUB_OFFLINE": "1", "ECAD_VISIBILITY_TIMEOUT": "1800",
           "ECAD_TASK_TIME_LIMIT": "1500",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if args.tiny:  # CPU workers share the cores: one intra-op thread each avoids thrashing
        env["OMP_NUM_THREADS"] = "1"
    logs = args.output_dir / f"logs-{name}"
    logs.mkdir(parents=True, exist_ok=True)
    cluster = Processes(env, logs)
    workers_started: dict[str, subprocess.Popen] = {}
    device = ["--device", "cpu"] if args.tiny else []
    first = workers // 2 if elastic else workers

    def start_worker(i: int) -> None:
        gpu = i % args.gpus
        workers_started[f"worker{i}"] = cluster.start(
            "worker", "--gpu", str(gpu), *device, "--concurrency", str(args.concurrency),
            "--name", f"w{i}-gpu{gpu}@bench", name=f"worker{i}")

    sampler = GpuSampler(logs / "nvidia-smi.csv")
    stopped: list[str] = []
    redis = RedisServer().start()
    env["ECAD_BROKER_URL"] = redis.url
    try:
        for i in range(first):
            start_worker(i)
        sampler.start()
        sid = subprocess.run([sys.executable, "-m", "ecad.cli", "submit", str(spec)], env=env,
                             capture_output=True, text=True, check=True).stdout.split()[-1]
        started = time.time()
        cluster.start("scheduler", "--poll", "0.2", "--deadline", "1200", name="scheduler")
        state_file = store / "searches" / sid / "state.json"

        def generation() -> int:
            return json.loads(state_file.read_text())["generation"] if state_file.exists() else 0

        wait_for(lambda: generation() >= 1, 3000, interval=0.2, what="generation 0")
        if elastic:
            for i in range(first, workers):
                start_worker(i)
            wait_for(lambda: generation() >= 2, 3000, interval=0.2, what="generation 1")
            stopped = [f"worker{i}" for i in range(max(1, workers // 4))]
            for worker_name in stopped:
                cluster.kill_group(workers_started[worker_name], signal.SIGTERM)  # warm shutdown
        wait_for(lambda: json.loads(state_file.read_text())["phase"] == "done", 3000,
                 interval=0.2, what="search end")
        ended = time.time()
    finally:
        # Stop every process of this run, even on a second SIGTERM (they have sessions of their
        # own and would outlive the benchmark).
        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sampler.stop()
        stop_rc = [_exit_code(workers_started[worker_name], 300) for worker_name in stopped]
        cluster.stop_all(grace=60)
        redis.stop()
        signal.signal(signal.SIGTERM, previous)
    progress = json.loads((state_file.parent / "progress.json").read_text())
    # Generation 0 ended when the scheduler wrote its record (more exact than our polling).
    gen1_at = (state_file.parent / "generations" / "0000.json").stat().st_mtime
    from ecad.search import SearchSession
    from ecad.store import FilesystemStore

    worker_logs = {worker_name: worker_log_summary(Path(proc.log_path))
                   for worker_name, proc in workers_started.items()}
    # GPUs counted from what the workers logged: this benchmark's own pipeline (GenerateAlone)
    # and anything else on the host also hold GPU memory.
    used = len({w["gpu_uuid"] for w in worker_logs.values() if w["gpu_uuid"]})
    if not args.tiny and used < min(workers, args.gpus):
        print(f"WARNING: {workers} workers on {args.gpus} GPUs, but their models went to "
              f"{used} GPU(s): the workers shared a GPU", flush=True)
    session = SearchSession.open(FilesystemStore(store), sid)
    per_candidate = args.prompts * args.images_per_prompt
    gens = []
    for g in progress["generations"]:
        n = g["counts"]["evaluated"]
        gens.append({"generation": g["generation"], "seconds": round(g["seconds"], 2),
                     "evaluated": n, "images": n * per_candidate,
                     "images_per_second": round(n * per_candidate / g["seconds"], 2),
                     "scheduler_cpu_seconds": round(g["cpu_seconds"], 3)})
    window_images = sum(g["images"] for g in gens if g["generation"] >= 1)
    row = {
        "workers": workers, "concurrency": args.concurrency, "elastic": elastic,
        "label": args.label, "search_id": sid,
        "wall_seconds": round(ended - started, 1),
        "generations": gens,
        "after_load_seconds": round(ended - gen1_at, 2),
        "after_load_images_per_second": round(window_images / (ended - gen1_at), 2),
        "gpu_busy_after_load": sampler.busy(gen1_at, ended),
        "gpu_memory_mib_peak": sampler.memory_mib(started, ended),
        "gpus_used": used,
        "sigterm_exit_codes": stop_rc,
        "worker_logs": worker_logs,
        "front": [[m.schedule.digest(), round(m.quality, 6), round(m.relative_cost, 6)]
                  for m in session.front()],
    }
    return row, store, (gen1_at, ended)


class GenerateAlone:
    """The ``ecad generate`` path alone (``generate_images``, same settings) on one GPU."""

    def __init__(self, models: dict, args) -> None:
        from ecad.bench.fullsize import random_embeddings
        from ecad.families import get_family
        from ecad.families.loading import load_pipeline
        from ecad.generation import GenerationSettings, PromptEmbeddings
        from ecad.schedules import ScheduleLayout

        self.family = get_family("pixart-alpha")
        self.device = "cpu" if args.tiny else "cuda"
        self.pipe = load_pipeline(self.family, models["weights"], device=self.device,
                                  text_encoders=False)
        tensors = {k: v.cpu()
                   for k, v in random_embeddings(self.pipe, self.family, args.prompts).items()}
        self.embeddings = PromptEmbeddings(self.family.name, "x",
                                           tuple(f"p{i}" for i in range(args.prompts)), tensors)
        res = 64 if args.tiny else args.resolution
        self.settings = GenerationSettings(res, res, 20, 4.5,
                                           num_images_per_prompt=args.images_per_prompt,
                                           batch_size=args.shard_size)
        self.layout = ScheduleLayout.for_model(self.family, self.pipe.transformer)
        self.images = args.prompts * args.images_per_prompt
        self._warm: set[str | None] = set()

    def seconds(self, schedule, write_pngs: bool = False) -> float:
        """Wall seconds to generate the search's images per candidate with ``schedule``;
        ``write_pngs``: also write them as ``ecad generate`` does (``save_images``)."""
        import tempfile

        import torch

        from ecad.generation import generate_images, save_images

        key = None if schedule is None else schedule.digest()
        if key not in self._warm:  # first use of an engine path compiles its kernels
            list(generate_images(self.pipe, self.family, self.embeddings, self.settings,
                                 schedule, pairs=[(0, 0)]))
            self._warm.add(key)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            images = generate_images(self.pipe, self.family, self.embeddings, self.settings,
                                     schedule)
            n = len(save_images(images, out)) if write_pngs else sum(1 for _ in images)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
        assert n == self.images, (n, self.images)
        return seconds

    def heuristics(self) -> dict[str, float]:
        from ecad.schedules.heuristics import fora

        return {name: round(self.images / self.seconds(sched), 2)
                for name, sched in (("no-cache", None), ("fora-3", fora(self.layout, 20, 3)))}

    def search_work(self, store: Path, t0: float, t1: float, sample: int | None = None) -> dict:
        """Time the images the search generated in [t0, t1], schedule by schedule, alone.

        The search's image shards carry their schedule's digest; each distinct schedule (or a
        ``sample`` of them, spread over the list) is generated again here with the same batch,
        size and steps, one GPU, nothing else running.
        """
        from ecad.schedules import parse_schedule
        from ecad.store import FilesystemStore
        from ecad.store.keys import schedule_key

        shards: dict[str, int] = {}
        # shard markers (layout.shard_marker_key), by file time: the store has no mtimes
        for marker in (store / "images").glob("*/shard-*.json"):
            if t0 <= marker.stat().st_mtime <= t1:
                digest = json.loads(marker.read_text())["schedule"]
                shards[digest] = shards.get(digest, 0) + 1
        digests = sorted(shards)
        if sample and sample < len(digests):
            digests = digests[:: -(-len(digests) // sample)]
        per_schedule = []
        for digest in digests:
            schedule = parse_schedule(FilesystemStore(store).get_json(schedule_key(digest)),
                                      family="pixart-alpha")
            seconds = self.seconds(schedule)
            with_pngs = self.seconds(schedule, write_pngs=True)
            per_schedule.append({"schedule": digest, "shards": shards[digest],
                                 "seconds": round(seconds, 3),
                                 "ecad_generate_seconds": round(with_pngs, 3),
                                 "alone_images_per_second": round(self.images / seconds, 2)})
        timed_shards = sum(r["shards"] for r in per_schedule)
        images = sum(shards.values()) * self.images

        def rate(field: str) -> tuple[float, float | None]:
            per_shard = sum(r[field] * r["shards"] for r in per_schedule) / max(1, timed_shards)
            total = per_shard * sum(shards.values())
            return round(total, 2), round(images / total, 2) if total else None

        (alone_s, alone_rate), (cli_s, cli_rate) = rate("seconds"), rate("ecad_generate_seconds")
        return {"schedules": per_schedule, "schedules_in_search": len(shards),
                "images": images, "alone_seconds": alone_s, "alone_images_per_second": alone_rate,
                "ecad_generate_seconds": cli_s, "ecad_generate_images_per_second": cli_rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--elastic", action="store_true")
    ap.add_argument("--label", default="",
                    help="name these runs (a variant); the scaling table uses unlabelled runs")
    ap.add_argument("--append", action="store_true",
                    help="add to --output-dir's cluster_gpu.json (same host, same settings)")
    ap.add_argument("--ir-dtype", default="float32", choices=("float32", "bfloat16"),
                    help="ImageReward weights and activations (float32: TF32 unless "
                    "--strict-fp32)")
    ap.add_argument("--concurrency", type=int, default=2, help="ecad worker --concurrency")
    ap.add_argument("--strict-fp32", action="store_true",
                    help="ImageReward in strict float32 (default: TF32 matmuls)")
    ap.add_argument("--alone-sample", type=int, default=None,
                    help="time this many of the search's schedules alone (default: all)")
    ap.add_argument("--gpus", type=int, default=None,
                    help="GPUs to spread workers over, round robin (default: all visible)")
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--generations", type=int, default=1)
    ap.add_argument("--prompts", type=int, default=10)
    ap.add_argument("--images-per-prompt", type=int, default=5)
    ap.add_argument("--shard-size", type=int, default=50)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--tiny", action="store_true", help="tiny model on the CPU (smoke test)")
    ap.add_argument("--root", type=Path, default=Path("/tmp/ecad-gpu-bench"))
    ap.add_argument("--output-dir", type=Path, required=True)
    args = ap.parse_args()
    worker_counts = [int(x) for x in args.workers.split(",")]
    if args.elastic and max(worker_counts) < 2:
        ap.error("--elastic starts half the workers, then adds the rest: give --workers >= 2")
    # `timeout` sends SIGTERM: exit through the finally blocks, which stop this run's workers,
    # scheduler and redis (they run in sessions of their own and would outlive us).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.gpus is None:
        import torch

        args.gpus = max(1, torch.cuda.device_count()) if not args.tiny else 1
    args.root.mkdir(parents=True, exist_ok=True)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    models = prepare_models(args.root, args.tiny, args.resolution)
    spec = write_spec(args.root, models, args)
    print(f"models ready in {time.time() - t0:.0f}s", flush=True)
    from ecad.bench.timing import environment

    out = args.output_dir / "cluster_gpu.json"
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    if args.append and out.exists():  # runs of an earlier invocation on this host
        result = json.loads(out.read_text())
        result.setdefault("appended_settings", []).append(settings)
    else:
        result = {"settings": settings,
                  "environment": environment("cpu" if args.tiny else "cuda"), "runs": []}
    alone = functools.cache(lambda: GenerateAlone(models, args))
    if "generate_alone_images_per_second" not in result:
        result["generate_alone_images_per_second"] = alone().heuristics()
        print("generate alone:", result["generate_alone_images_per_second"], flush=True)
    for w in worker_counts:
        run, store, window = run_cluster(args.root, spec, w, args)
        if w == 1:  # the same images, schedule by schedule, through `ecad generate`'s path
            work = alone().search_work(store, *window, sample=args.alone_sample)
            for name in ("alone", "ecad_generate"):
                work[f"search_over_{name}"] = round(
                    run["after_load_images_per_second"] / work[f"{name}_images_per_second"], 3)
            run["generate_alone_same_images"] = work
        result["runs"].append(run)
        print(json.dumps({k: v for k, v in run.items() if k != "front"}), flush=True)
        out.write_text(json.dumps(result, indent=2))
    if args.elastic:
        w = max(worker_counts)
        run, _, _ = run_cluster(args.root, spec, w, args, elastic=True)
        static = next(r for r in result["runs"]
                      if r["workers"] == w and not r["elastic"] and r.get("label") == args.label)
        run["front_equals_static"] = run["front"] == static["front"]
        result["runs"].append(run)
        print(json.dumps({k: v for k, v in run.items() if k != "front"}), flush=True)
    runs = {r["workers"]: r for r in result["runs"] if not r["elastic"] and not r.get("label")}
    if 1 in runs:
        base = runs[1]["after_load_seconds"]
        result["scaling"] = {str(w): {"speedup": round(base / r["after_load_seconds"], 3),
                                      "efficiency": round(base / r["after_load_seconds"] / w, 3)}
                             for w, r in runs.items()}
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result.get("scaling"), indent=2))


if __name__ == "__main__":
    main()
