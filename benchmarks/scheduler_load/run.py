"""Scheduler load benchmark: one scheduler dispatching >= 5,000 shard tasks per generation to
Celery workers with trivial tasks (real redis-server, real processes, filesystem or S3 store).

    python -m benchmarks.scheduler_load.run --workers 4 --population 25 --prompts 100 \
        --generations 2 --output benchmarks/results/scheduler_load.json

Reports per generation: tasks, wall seconds, tasks/s, and the scheduler's CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.integration.cluster import RedisServer, wait_for  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=2, help="threads per trivial worker")
    ap.add_argument("--population", type=int, default=25)
    ap.add_argument("--prompts", type=int, default=100)
    ap.add_argument("--generations", type=int, default=1)
    ap.add_argument("--output", type=Path, default=REPO / "benchmarks/results/scheduler_load.json")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ecad-load-"))
    prompts = tmp / "prompts.txt"
    prompts.write_text("\n".join(f"load prompt number {i}" for i in range(args.prompts)))
    spec = tmp / "load.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "load", "family": "pixart-alpha", "weights": "tiny", "resolution": 64,
        "steps": 10, "prompts": {"file": str(prompts)}, "images_per_prompt": 1,
        "quality": {"scorer": "image-reward"}, "population": args.population,
        "generations": args.generations - 1, "shard_size": 1, "min_diff": 1, "seed": 0,
    }))
    redis = RedisServer().start()
    env = {**os.environ, "ECAD_BROKER_URL": redis.url, "ECAD_STORE": str(tmp / "store"),
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    procs = []
    try:
        for n in range(args.workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "benchmarks.scheduler_load.trivial_tasks",
                 "worker", "-Q", "gpu", "--pool", "threads", "--concurrency",
                 str(args.concurrency), "--loglevel", "WARNING", "-n", f"load{n}@%h",
                 "--without-gossip", "--without-mingle"], env=env, cwd=REPO,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        sid = subprocess.run([sys.executable, "-m", "ecad.cli", "submit", str(spec)], env=env,
                             capture_output=True, text=True, check=True).stdout.split()[-1]
        sched = subprocess.Popen([sys.executable, "-m", "ecad.cli", "scheduler", "--poll", "0.2",
                                  "--exit-when-idle"], env=env, cwd=REPO,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = time.time()
        state = Path(env["ECAD_STORE"]) / "searches" / sid / "state.json"
        wait_for(lambda: state.exists() and json.loads(state.read_text())["phase"] == "done",
                 3600, interval=0.5, what="the load search")
        wall = time.time() - started
        sched.wait(60)
        progress = json.loads((state.parent / "progress.json").read_text())
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        redis.stop()
    shards = args.prompts
    gens = []
    for g in progress["generations"]:
        n_cands = g["counts"]["evaluated"] + g["counts"]["cached"]
        tasks = shards * n_cands  # one task per candidate shard
        gens.append({"generation": g["generation"], "candidates": n_cands, "tasks": tasks,
                     "seconds": round(g["seconds"], 2),
                     "tasks_per_second": round(tasks / g["seconds"], 1),
                     "scheduler_cpu_seconds": round(g["cpu_seconds"], 2)})
    result = {
        "benchmark": "scheduler_load", "machine": platform.node(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "workers": args.workers,
        "worker_threads": args.concurrency, "store": "filesystem", "broker": "redis-server",
        "shards_per_candidate": shards, "population": args.population,
        "tasks_sent": progress["tasks_sent"], "tasks_resent": progress["tasks_resent"],
        "wall_seconds": round(wall, 1), "generations": gens,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
