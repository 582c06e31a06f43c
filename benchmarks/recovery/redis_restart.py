"""Recovery time after a Redis restart without persistence (the queue is lost), on CPU with the
tiny model: real ``redis-server``, ``ecad scheduler`` (default deadline, 900 s) and ``ecad
worker`` processes over a filesystem store.

A search is submitted; once a generation after the first has shards queued, Redis is killed and
started again empty. Measured from the moment Redis answers again:

* ``detect_s``: until the scheduler re-sent the lost shards (its progress record counts them
  under the ``lost-queue`` reason);
* ``resume_s``: until a worker starts a shard that had not started before the restart;
* the search's end, and which reasons re-sent work (``deadline`` must not appear).

    python -m benchmarks.recovery.redis_restart --output benchmarks/results/recovery-cpu.json

Target (issue 15): recovery (``resume_s``) under 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ecad.search.progress import read_progress  # noqa: E402
from ecad.store import FilesystemStore  # noqa: E402
from tests.integration.cluster import Processes, RedisServer, wait_for  # noqa: E402


def _spec(tmp: Path, args) -> Path:
    path = tmp / "recovery.yaml"
    path.write_text(yaml.safe_dump({
        "name": "recovery", "family": "pixart-alpha", "weights": "tiny", "resolution": 64,
        "steps": 6, "prompts": {"file": str(REPO / "prompts" / "calibration-100.txt"),
                                "limit": 4},
        "images_per_prompt": 1, "quality": {"scorer": "fidelity", "metric": "psnr"},
        "cost": {"mode": "macs"}, "population": args.population, "generations": 2,
        "min_diff": 3, "shard_size": 2, "batch_size": 2, "seed": 1,
    }))
    return path


def _started(store: FilesystemStore) -> set[str]:
    return set(store.list("attempts/"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--output", type=Path, required=True)
    ap.add_argument("--population", type=int, default=6)
    ap.add_argument("--task-delay", type=float, default=1.0,
                    help="seconds each task waits first (keeps shards queued at the restart)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        redis = RedisServer().start()
        env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
               "ECAD_STORE": f"file://{tmp / 'store'}", "ECAD_BROKER_URL": redis.url,
               "ECAD_FAULTS": json.dumps({"delay_seconds": args.task_delay})}
        env.pop("ECAD_SHARD_DEADLINE", None)
        procs = Processes(env, tmp)
        store = FilesystemStore(tmp / "store")
        try:
            procs.worker("w1")
            procs.start("scheduler", "--poll", "0.2", name="scheduler")
            out = procs.start("submit", str(_spec(tmp, args)), name="submit")
            submitted = Path(out.log_path).read_text() if out.wait(120) == 0 else None
            if submitted is None:
                raise SystemExit(f"ecad submit failed:\n{Path(out.log_path).read_text()}")
            search_id = submitted.strip().splitlines()[-1]

            def queued():
                prog = read_progress(store, search_id) or {}
                return prog.get("generation", 0) >= 1 and prog.get("in_flight", 0) >= 3 and prog

            before = wait_for(queued, 600, interval=0.2, what="shards queued in generation 1")
            started_before = _started(store)
            redis.stop()
            time.sleep(1.0)
            redis.start()
            back = time.monotonic()
            wait_for(lambda: (read_progress(store, search_id) or {}).get(
                "resend_reasons", {}).get("lost-queue"), 600, interval=0.1,
                what="the lost shards to be re-sent")
            detect_s = time.monotonic() - back
            wait_for(lambda: _started(store) - started_before, 600, interval=0.1,
                     what="a worker to start a re-sent shard")
            resume_s = time.monotonic() - back
            state = tmp / "store" / "searches" / search_id / "state.json"
            wait_for(lambda: json.loads(state.read_text()).get("phase") == "done", 1200,
                     interval=0.5, what="the search to finish")
            finished_s = time.monotonic() - back
            final = read_progress(store, search_id) or {}
        finally:
            procs.stop_all()
            redis.stop()
        result = {
            "benchmark": "recovery after a Redis restart without persistence",
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "settings": {"population": args.population, "task_delay_s": args.task_delay,
                         "deadline": "default (900 s)", "workers": 1, "device": "cpu"},
            "in_flight_at_restart": before.get("in_flight"),
            "detect_s": round(detect_s, 2),
            "resume_s": round(resume_s, 2),
            "finished_after_restart_s": round(finished_s, 2),
            "resend_reasons": final.get("resend_reasons"),
            "target_resume_s": 60,
            "met": resume_s < 60,
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
