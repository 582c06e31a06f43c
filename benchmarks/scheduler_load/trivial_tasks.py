"""Celery tasks with the production names and trivial bodies, for the scheduler load benchmark.

They write exactly the store outputs the real tasks write (image-shard markers, score shards),
without models, so the benchmark measures the scheduler, the broker and the store, not the GPU.
Start with: celery -A benchmarks.scheduler_load.trivial_tasks worker -Q gpu
"""

from __future__ import annotations

import hashlib
import os

from celery import Celery

from worker.names import GENERATE_SHARD, SCORE_SHARD

app = Celery("ecad-load")
app.config_from_object("worker.config")

_evaluators: dict = {}


def _evaluator(search_id: str):
    from ecad.search import Evaluator, SearchSpec
    from ecad.store import open_store

    if search_id not in _evaluators:
        store = open_store(os.environ["ECAD_STORE"])
        spec = SearchSpec.from_json(store.get_json(f"searches/{search_id}/spec.json"))
        _evaluators[search_id] = Evaluator(spec, store)
    return _evaluators[search_id]


@app.task(name=GENERATE_SHARD)
def generate_shard(search_id: str, schedule_digest: str, shard: int) -> dict:
    ev = _evaluator(search_id)
    gen_key = ev.setting.generation_key(ev.load_schedule(schedule_digest))
    ev.store.put_json(f"images/{gen_key}/shard-{shard:04d}.json", {"images": [], "trivial": True})
    return {"generated": True}


@app.task(name=SCORE_SHARD)
def score_shard(search_id: str, schedule_digest: str, shard: int) -> dict:
    ev = _evaluator(search_id)
    cand = ev.candidate(ev.load_schedule(schedule_digest))
    pairs = ev.shards[shard]
    # A deterministic stand-in score: fewer reused cells -> higher "quality".
    reuse = cand.schedule.reuse_fraction()
    noise = int(hashlib.sha256(f"{schedule_digest}{shard}".encode()).hexdigest()[:4], 16) / 65535
    scores = [1.0 - reuse + 0.01 * noise] * len(pairs)
    ev.store.put_json(f"scores/{cand.evaluation_key}/shard-{shard:04d}.json",
                      {"pairs": [list(p) for p in pairs], "scores": scores,
                       "higher_is_better": True})
    return {"scored": True}
