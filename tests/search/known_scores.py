"""An executor whose shard scores are known in advance, so pruning happens deterministically
without a model (the driver's pruning tests and the report's pruned search use it)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecad.search import SearchSession, load_spec
from ecad.search.driver import SearchDriver
from ecad.search.executor import Completed, ExecutorStats
from ecad.search.plan import ShardResult, ShardWork
from ecad.search.scores import ScoreRecord
from ecad.store.keys import SHARD_TASK
from tests.search.conftest import write_spec

__all__ = [
    "NOISE",
    "SECONDS_PER_IMAGE",
    "KnownScores",
    "image_score",
    "pruning_spec",
    "run_known",
    "true_quality",
]

NOISE = 0.05
SECONDS_PER_IMAGE = 0.25  # the time each shard reports, per image (nothing is timed)


def _unit(*parts: Any) -> float:
    """A deterministic number in [0, 1) from its arguments."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def image_score(digest: str, prompt: int, image: int) -> float:
    return _unit("q", digest) + NOISE * (2 * _unit("n", digest, prompt, image) - 1)


def true_quality(plan, digest: str) -> float:
    """The candidate's full mean: what an unpruned search would tell NSGA-II."""
    return float(np.mean([image_score(digest, p, i) for shard in plan.shards for p, i in shard]))


class KnownScores:
    """A blocking executor (like the in-process one) whose shard scores are known in advance."""

    blocking = True

    def __init__(self, session, store, stop_after: int | None = None) -> None:
        self.session, self.plan, self.store = session, session.plan, store
        self.queue: OrderedDict[str, ShardWork] = OrderedDict()
        self.ran: list[tuple[int, str, int]] = []  # (generation, evaluation key, shard)
        self.stop_after = stop_after

    def submit(self, work: Sequence[ShardWork]) -> None:
        for item in work:
            assert item.kind == SHARD_TASK, "an image-reward search has no reference images"
            self.queue.setdefault(item.task_key, item)

    def wait(self) -> list[Completed]:
        if not self.queue:
            return []
        if self.stop_after is not None and len(self.ran) >= self.stop_after:
            raise KeyboardInterrupt("killed mid-generation")
        _, work = self.queue.popitem(last=False)
        cand, pairs = work.candidate, self.plan.shards[work.shard]
        record = ScoreRecord(tuple((p, i) for p, i in pairs),
                             tuple(image_score(cand.digest, p, i) for p, i in pairs), True)
        self.store.put_json(self.plan.score_key(cand.evaluation_key, work.shard),
                            record.to_json())
        self.ran.append((self.session.generation, cand.evaluation_key, work.shard))
        return [Completed(work, ShardResult(len(pairs), record, SECONDS_PER_IMAGE * len(pairs)))]

    def cancel(self, evaluation_key: str) -> None:
        for key in [k for k, w in self.queue.items()
                    if w.candidate.evaluation_key == evaluation_key]:
            del self.queue[key]

    def finished(self, task_key: str) -> None:
        """Nothing to track: work here finishes inside :meth:`wait`."""

    def stats(self) -> ExecutorStats:
        return ExecutorStats(tasks_sent=len(self.ran), tasks_resent=0)


def run_known(store, spec, stop_after: int | None = None) -> tuple[SearchSession, list]:
    """Create the search and drive it to the end with :class:`KnownScores`; returns the session
    and the shards run, as ``(generation, evaluation key, shard)``."""
    session, _ = SearchSession.create(store, spec)
    executor = KnownScores(session, store, stop_after)
    driver = SearchDriver(session, executor)
    while driver.step():
        pass
    return session, executor.ran


def pruning_spec(tmp_path: Path, pruning: bool, **overrides):
    """An image-reward search on 16 prompts in shards of 2 (no reference images), pruning on or
    off; ``overrides`` are spec fields."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(16)))
    options = dict(name="pr", prompts={"file": str(prompts)}, quality={"scorer": "image-reward"},
                   population=8, generations=5, min_diff=0, shard_size=2, seed=3)
    options.update(overrides)
    if pruning:
        options["pruning"] = {"enabled": True, "z": 2.5, "margin": 0.0, "min_shards": 2}
    return load_spec(write_spec(tmp_path, **options))


class QueuedKnownScores(KnownScores):
    """The same scores sent the way the cluster executor sends work: ``submit`` queues it
    (first in, first out, like one Redis queue), each ``wait`` lets ``per_tick`` queued shards
    finish by writing their score records, and the driver finds them in the store. Each
    ``submit`` call is kept as a batch, in the order it was sent."""

    blocking = False

    def __init__(self, session, store, per_tick: int = 3) -> None:
        super().__init__(session, store)
        self.per_tick = per_tick
        self.batches: list[list[ShardWork]] = []

    def submit(self, work: Sequence[ShardWork]) -> None:
        self.batches.append(list(work))
        super().submit(work)

    def wait(self) -> list[Completed]:
        for _ in range(min(self.per_tick, len(self.queue))):
            super().wait()  # writes the score record; the driver looks in the store
        return []
