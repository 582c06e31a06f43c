"""``ecad search``: the search driver with the in-process executor, no Redis or workers."""

from __future__ import annotations

from collections.abc import Callable

from ecad.search.driver import SearchDriver
from ecad.search.evaluation import Evaluator
from ecad.search.local import InProcessExecutor
from ecad.search.observer import (
    GenerationStarted,
    GenerationSummary,
    NullObserver,
    SearchObserver,
    ShardDone,
)
from ecad.search.session import SearchSession
from ecad.search.spec import SearchSpec
from ecad.store import ObjectStore

__all__ = ["run_search"]


class _Lines(NullObserver):
    """One line per generation through ``progress``; chains to another observer."""

    def __init__(self, progress: Callable[[str], None], then: SearchObserver) -> None:
        self.progress = progress
        self.then = then

    def generation_started(self, started: GenerationStarted) -> None:
        self.then.generation_started(started)

    def shard_done(self, event: ShardDone) -> None:
        self.then.shard_done(event)

    def generation_finished(self, s: GenerationSummary) -> None:
        pruned = f", {s.pruned} pruned (partial)" if s.pruned else ""
        saved = f" ({s.images_saved} saved by pruning)" if s.images_saved else ""
        work = f", {s.shard_seconds:.1f}s of shard work" if s.shard_seconds else ""
        self.progress(
            f"generation {s.generation:>3}/{s.generations}: {s.evaluated} evaluated, "
            f"{s.cached} cached, {s.failed} failed, {s.infeasible} infeasible{pruned} | "
            f"hypervolume {s.hypervolume:.4f} | front {len(s.front)} | {s.images} images"
            f"{saved}{work} | {s.seconds:.1f}s"
        )
        self.then.generation_finished(s)


def run_search(
    store: ObjectStore,
    spec: SearchSpec | None = None,
    search_id: str | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    progress: Callable[[str], None] = print,
    observer: SearchObserver | None = None,
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
        session = SearchSession.open(store, str(search_id))
        progress(
            f"search {session.search_id}: resuming at generation {session.generation} "
            f"({session.phase.value})"
        )
    evaluator = Evaluator(session.spec, store, device=device, dtype=dtype, plan=session.plan)
    driver = SearchDriver(
        session, InProcessExecutor(evaluator), _Lines(progress, observer or NullObserver())
    )
    while driver.step():
        pass
    return session
