"""Scheduler cost as the store grows: CPU per idle tick and per generation, in-process.

Five searches (population 72, 10 shards per candidate) are driven by the real
``SchedulerService`` (search driver, Celery executor, dispatcher) through ``--history``
finished generations; shard results are written into the store by a stand-in worker between
ticks (the same trivial scores as ``trivial_tasks``), so only the scheduler's own ticks are
timed (``time.process_time`` around ``tick()``). Then, with the next generation of every search
sent and nothing finished, idle ticks are timed.

    python -m benchmarks.scheduler_load.history --output benchmarks/results/scheduler-history.json

Targets (issue 12): <= 10 ms CPU per idle tick, <= 1 s CPU per generation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def _spec(tmp: Path, n: int, args) -> Path:
    prompts = tmp / "prompts.txt"
    prompts.write_text("\n".join(f"load prompt number {i}" for i in range(args.shards)))
    path = tmp / f"load{n}.yaml"
    path.write_text(yaml.safe_dump({
        "name": f"load{n}", "family": "pixart-alpha", "weights": "tiny",
        "num_blocks": {"blocks": 28}, "resolution": 256, "steps": 20,
        "prompts": {"file": str(prompts)}, "images_per_prompt": 1,
        "quality": {"scorer": "image-reward"}, "population": args.population,
        "generations": args.history + 5, "shard_size": 1, "min_diff": 1, "seed": n,
    }))
    return path


def _commit() -> str:
    import subprocess

    out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--searches", type=int, default=5)
    ap.add_argument("--population", type=int, default=72)
    ap.add_argument("--shards", type=int, default=10)
    ap.add_argument("--history", type=int, default=50, help="finished generations per search")
    ap.add_argument("--idle-ticks", type=int, default=50)
    ap.add_argument("--store", type=Path, default=None, help="default: a fresh temp directory")
    ap.add_argument("--output", type=Path,
                    default=REPO / "benchmarks/results/scheduler-history.json")
    args = ap.parse_args()
    commit = _commit()  # the code measured (taken now: the tree may change while it runs)

    from benchmarks.scheduler_load.trivial_tasks import trivial_scores
    from ecad.scheduler.dispatch import Dispatcher
    from ecad.scheduler.service import SchedulerService
    from ecad.search import SearchSession, load_spec
    from ecad.search.task import ShardTask
    from ecad.store import FilesystemStore

    tmp = Path(tempfile.mkdtemp(prefix="ecad-history-"))
    store = FilesystemStore(args.store or tmp / "store")
    plans = {}
    for n in range(args.searches):
        session, _ = SearchSession.create(store, load_spec(_spec(tmp, n, args)))
        plans[session.search_id] = session.plan
    sent: list[dict] = []
    service = SchedulerService(store, Dispatcher(lambda name, a: sent.append(a[0])))

    def timed_tick() -> float:
        t0 = time.process_time()
        service.tick()
        return time.process_time() - t0

    def work_off() -> None:
        """The stand-in worker: every sent shard's scores land in the store. Written as plain
        files (no fsync: 180,000 of them would take the benchmark hours on a small VM); the
        scheduler reads them as it reads any store object."""
        for msg in sent:
            task = ShardTask.from_json(msg)
            plan = plans[task.search_id]
            path = store.root / plan.score_key(str(task.evaluation_key), task.shard)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(trivial_scores(plan.work(task), plan.shards[task.shard])))
        sent.clear()

    def generations_done() -> int:
        return sum(SearchSession.open(store, sid).generation for sid in plans)

    tick_cpu: list[float] = []
    wall0 = time.time()
    target = args.searches * args.history
    done = 0
    while done < target:
        tick_cpu.append(timed_tick())
        work_off()
        done = generations_done()
        if len(tick_cpu) % 10 == 0:
            print(f"{done}/{target} generations, {len(tick_cpu)} ticks", flush=True)
    history_wall = time.time() - wall0
    # every search now has its next generation sent and nothing finished: idle ticks
    timed_tick()
    idle = [timed_tick() for _ in range(args.idle_ticks)]
    objects = sum(1 for _ in store.list(""))
    result = {
        "benchmark": "scheduler_history",
        "measured_on": "CPU only (no GPU involved: the scheduler holds no models)",
        "commit": commit, "machine": platform.node(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "store": "filesystem",
        "searches": args.searches, "population": args.population,
        "shards_per_candidate": args.shards,
        "finished_generations_per_search": args.history,
        "store_objects": objects,
        "ticks": len(tick_cpu),
        "cpu_seconds_per_generation": round(sum(tick_cpu) / done, 4),
        "idle_tick_cpu_ms": {
            "mean": round(1000 * statistics.mean(idle), 3),
            "median": round(1000 * statistics.median(idle), 3),
            "max": round(1000 * max(idle), 3),
        },
        "targets": {"idle_tick_cpu_ms": 10, "cpu_seconds_per_generation": 1.0},
        "history_wall_seconds": round(history_wall, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
