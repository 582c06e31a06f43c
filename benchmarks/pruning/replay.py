"""Replay the pruning rule over a finished *unpruned* search, from the scores in its store.

For every generation after the first, each newly evaluated candidate is judged shard by shard
against the front its generation was asked from (the previous generation record's front), with
its per-image scores regrouped into stratified shards (``ecad.search.stratified``). The replay
counts the images the rule would have skipped and the candidates it would have stopped although
they made their generation's front (wrong prunes).

    python benchmarks/pruning/replay.py STORE SEARCH_ID --z 2.0 --min-shards 2   # tune it

This is the rule on real scores, not a pruned search: a pruned search tells NSGA-II estimates for
the stopped candidates, so its later generations differ. It needs no search driver, so it runs
before pruning is wired into the search (issue 14 part B).

Reads the store layout of today's ``ecad/search/evaluation.py`` (``scores/<evaluation key>/``
shard records of ``pairs`` and ``scores``); when issue 12's key-layout module lands, take the
prefix from there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ecad.schedules import Schedule
from ecad.search.nsga import unpack_genomes
from ecad.search.objectives import INFEASIBLE
from ecad.search.pruning import PruningConfig, QualityFront, decide, oriented_qualities
from ecad.search.session import SearchSession
from ecad.search.setting import evaluation_key
from ecad.search.stratified import stratified_shards

__all__ = ["replay"]


def _image_qualities(session: SearchSession, eval_key: str) -> dict[tuple[int, int], float]:
    """(prompt, image) -> quality (higher is better) from the candidate's stored shard scores."""
    out: dict[tuple[int, int], float] = {}
    for key in sorted(session.store.list(f"scores/{eval_key}/")):
        record = session.store.get_json(key)
        values = oriented_qualities(record["scores"], record["higher_is_better"])
        out.update({(int(p), int(i)): float(v) for (p, i), v in zip(record["pairs"], values)})
    return out


def _front(record: dict) -> QualityFront:
    F = np.asarray(record["population"]["F"])
    return QualityFront.from_members((1.0 - F[i, 0], F[i, 1]) for i in record["front"])


def replay(session: SearchSession, config: PruningConfig) -> dict[str, Any]:
    """Images a finished search generated for its candidates, and what the rule would have cut."""
    spec, setting = session.spec, session.setting
    shards = stratified_shards(len(setting.prompts), spec.images_per_prompt, spec.shard_size)
    images_total = sum(len(s) for s in shards)
    history = session.history()
    seen: set[str] = set()
    pruned_at: dict[int, int] = {}  # shards completed when pruned -> candidates
    rows = []
    for g, record in enumerate(history):
        front = _front(history[g - 1]) if g else QualityFront.from_members([])
        X = unpack_genomes(record["offspring"]["X"], session.n_var)
        F, G = np.asarray(record["offspring"]["F"]), np.asarray(record["offspring"]["G"])
        pop_F = np.asarray(record["population"]["F"])
        on_front = {(round(pop_F[i, 0], 12), round(pop_F[i, 1], 12)) for i in record["front"]}
        row = {"generation": g, "evaluated": 0, "images": 0, "images_kept": 0, "pruned": 0,
               "pruned_on_front": 0}  # fmt: skip
        for x, f, c in zip(X, F, G[:, 0]):
            schedule = Schedule.from_genome(session.layout, spec.steps, x)
            eval_key = evaluation_key(setting.generation_key(schedule), spec.quality)
            if c > 0 or eval_key in seen or f[0] >= INFEASIBLE:
                continue  # infeasible, cached, or failed: no images either way
            seen.add(eval_key)
            qualities = _image_qualities(session, eval_key)
            completed = {s: [qualities[pair] for pair in shard] for s, shard in enumerate(shards)}
            decision = decide(config, float(f[1]), completed, len(shards), images_total, front)
            row["evaluated"] += 1
            row["images"] += images_total
            if decision.prune:
                pruned_at[decision.shards_used] = pruned_at.get(decision.shards_used, 0) + 1
                row["pruned"] += 1
                row["images_kept"] += decision.images_used
                row["pruned_on_front"] += (round(f[0], 12), round(f[1], 12)) in on_front
            else:
                row["images_kept"] += images_total
        rows.append(row)
    images = sum(r["images"] for r in rows)
    kept = sum(r["images_kept"] for r in rows)
    return {
        "config": config.to_json(),
        "shards": len(shards),
        "images_per_candidate": images_total,
        "candidate_images": images,
        "candidate_images_with_pruning": kept,
        "fraction_kept": kept / images if images else 1.0,
        "pruned": sum(r["pruned"] for r in rows),
        "pruned_on_front": sum(r["pruned_on_front"] for r in rows),
        "pruned_at_shard": {str(k): v for k, v in sorted(pruned_at.items())},
        "generations": rows,
    }


def main() -> None:
    from ecad.store import open_store

    ap = argparse.ArgumentParser(description="Replay the pruning rule over a finished search.")
    ap.add_argument("store")
    ap.add_argument("search_id")
    ap.add_argument("--z", type=float, default=2.5)
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--min-shards", type=int, default=2)
    args = ap.parse_args()
    session = SearchSession.open(open_store(args.store), args.search_id)
    rule = PruningConfig(enabled=True, z=args.z, margin=args.margin, min_shards=args.min_shards)
    result = replay(session, rule)
    print(json.dumps({k: v for k, v in result.items() if k != "generations"}, indent=2))


if __name__ == "__main__":
    main()
