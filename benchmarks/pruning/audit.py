"""Were the pruned candidates rightly pruned? After a pruned search, each stopped candidate's
remaining shards are evaluated (into the same store: the search is over, nothing it decided
changes) and its full quality is compared with the front it met when it was stopped: the
parents' front and the fully evaluated candidates before it in its generation.

A *wrong prune* is a stopped candidate whose full quality reaches that front at its cost: the
event ``ecad.search.pruning.wrong_prune_bound`` bounds. The estimate error (told estimate minus
full quality) shows what NSGA-II was told in place of the truth.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from ecad.search.pruning import front_met, oriented_qualities
from ecad.store.keys import SHARD_TASK

__all__ = ["audit"]


def full_quality(session, evaluator, candidate) -> float:
    """Mean quality over every image, evaluating the shards not in the store."""
    plan, store = session.plan, session.store
    values = []
    for shard in range(len(plan.shards)):
        if not store.exists(plan.score_key(candidate.evaluation_key, shard)):
            evaluator.run(plan.work_for(SHARD_TASK, candidate, shard))
        data = plan.read_scores(store, candidate.evaluation_key, shard)
        values.append(oriented_qualities(data["scores"], data["higher_is_better"]))
    return float(np.mean(np.concatenate(values)))


def audit(session, evaluator) -> dict:
    """Per pruned search: how many stopped candidates would have reached the front they met."""
    plan = session.plan
    rows = []
    for before, record in pairwise([None, *session.history()]):
        partial = session.partial(record.generation)
        cands = plan.candidates(record.offspring.X, record.generation)
        for key, decision in partial.items():
            index = decision["candidates"][0]
            quality = full_quality(session, evaluator, cands[index])
            stopped = {i for d in partial.values() for i in d["candidates"]}
            front = front_met(before, record, stopped, index)
            best = front.best_at(record.offspring.F[index][1])
            rows.append({
                "generation": record.generation, "candidate": index, "key": key,
                "shards_used": decision["shards_used"], "estimate": decision["estimate"],
                "full_quality": quality, "front_quality": best,
                "wrong": best is None or quality >= best,
            })
    errors = [r["estimate"] - r["full_quality"] for r in rows]
    return {
        "pruned": len(rows),
        "wrongly_pruned": sum(r["wrong"] for r in rows),
        "estimate_error_mean": float(np.mean(errors)) if errors else None,
        "estimate_error_abs_max": float(np.max(np.abs(errors))) if errors else None,
        "candidates": rows,
    }
