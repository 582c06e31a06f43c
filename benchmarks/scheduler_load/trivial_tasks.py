"""Celery tasks with the production name and message and trivial bodies, for the scheduler
load benchmark.

They write exactly the store outputs the real task writes (image-shard markers, score shards),
without models, so the benchmark measures the scheduler, the broker and the store, not the GPU.
Start with: celery -A benchmarks.scheduler_load.trivial_tasks worker -Q gpu
"""

from __future__ import annotations

import os

from celery import Celery

from ecad.worker.names import RUN_SHARD

app = Celery("ecad-load")
app.config_from_object("ecad.worker.config")

_plans: dict = {}


def _plan(search_id: str):
    from ecad.search import SearchPlan, SearchSpec
    from ecad.store import open_store
    from ecad.store.keys import spec_key
    from ecad.store.records import read_record

    if search_id not in _plans:
        store = open_store(os.environ["ECAD_STORE"])
        _plans[search_id] = (SearchPlan(read_record(store, spec_key(search_id),
                                                    SearchSpec.from_json)), store)
    return _plans[search_id]


def trivial_scores(work, pairs) -> dict:
    """A deterministic stand-in score record: fewer reused cells -> higher "quality"."""
    import hashlib

    reuse = work.candidate.schedule.reuse_fraction()
    seed = f"{work.candidate.digest}{work.shard}".encode()
    noise = int(hashlib.sha256(seed).hexdigest()[:4], 16) / 65535
    return {"pairs": [list(p) for p in pairs], "scores": [1.0 - reuse + 0.01 * noise] * len(pairs),
            "higher_is_better": True}


@app.task(name=RUN_SHARD)
def run_shard(message: dict) -> dict:
    from ecad.search.task import ShardTask
    from ecad.store.keys import IMAGES_TASK

    task = ShardTask.from_json(message)
    plan, store = _plan(task.search_id)
    work = plan.work(task)
    gen_key = work.candidate.generation_key
    store.put_json(plan.marker_key(gen_key, task.shard), {"images": [], "trivial": True})
    if task.kind != IMAGES_TASK:
        store.put_json(plan.score_key(work.candidate.evaluation_key, task.shard),
                       trivial_scores(work, plan.shards[task.shard]))
    return {"done": True}
