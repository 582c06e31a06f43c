"""The single-machine runner: evaluate each generation in this process, no Redis or MinIO."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ecad.search.evaluation import Evaluator
from ecad.search.session import SearchSession
from ecad.search.spec import SearchSpec
from ecad.store import ObjectStore

__all__ = ["run_search"]

log = logging.getLogger(__name__)


def run_search(
    store: ObjectStore,
    spec: SearchSpec | None = None,
    search_id: str | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    progress: Callable[[str], None] = print,
) -> SearchSession:
    """Run (or resume) a search to completion. Give ``spec`` for a new or repeated search, or
    ``search_id`` to resume one. Every finished evaluation is reused from the store."""
    if spec is not None:
        session, created = SearchSession.create(store, spec)
        progress(
            f"search {session.search_id}: {'created' if created else 'found, resuming'} "
            f"in {store.describe()}"
        )
    else:
        session = SearchSession.open(store, search_id)
        progress(
            f"search {session.search_id}: resuming at generation {session.generation} "
            f"({session.phase})"
        )
    evaluator = Evaluator(session.spec, store, device=device, dtype=dtype)
    while session.phase not in ("done", "cancelled"):
        started = time.time()
        qualities: dict[str, float | None] = {}
        counts = {"evaluated": 0, "cached": 0}
        pending = session.pending()
        for cand in pending:
            if not cand.feasible or cand.digest in qualities:
                continue
            record, cached = evaluator.evaluate_locally(evaluator.candidate(cand.schedule))
            qualities[cand.digest] = record["quality"]
            counts["cached" if cached else "evaluated"] += 1
        record = session.complete(qualities, counts)
        progress(
            f"generation {record['generation']:>3}/{session.spec.generations}: "
            f"{len(pending)} candidates, {counts['evaluated']} evaluated, {counts['cached']} "
            f"cached, {record['counts']['infeasible']} infeasible | hypervolume "
            f"{record['hypervolume']:.4f} | front {len(record['front'])} | "
            f"{time.time() - started:.1f}s"
        )
    return session
