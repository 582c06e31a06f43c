"""The in-process executor: runs shard work synchronously, one shard at a time, in the order
it was submitted (what ``ecad search`` uses; no Redis, no workers)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence

from ecad.errors import TransientError
from ecad.schedules import Schedule
from ecad.scoring.errors import MissingDependencyError
from ecad.search.candidate import Candidate
from ecad.search.evaluation import Evaluator
from ecad.search.executor import Completed, ExecutorStats
from ecad.search.failures import record_failure
from ecad.search.plan import ShardResult, ShardWork
from ecad.search.records import EvaluationRecord
from ecad.store.keys import SHARD_TASK

__all__ = ["InProcessExecutor", "evaluate_schedule"]

log = logging.getLogger(__name__)


class InProcessExecutor:
    """Runs each submitted shard in this process. Work that raises is given up on like a
    cluster task that keeps failing: the failure is recorded and its candidate fails."""

    blocking = True

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self._queue: OrderedDict[str, ShardWork] = OrderedDict()
        self._ran = 0

    def submit(self, work: Sequence[ShardWork]) -> None:
        for item in work:
            self._queue.setdefault(item.task_key, item)

    def wait(self) -> list[Completed]:
        if not self._queue:
            return []
        key, work = self._queue.popitem(last=False)
        self._ran += 1
        try:
            result = self.evaluator.run(work)
        except (TransientError, KeyboardInterrupt):
            raise
        except MissingDependencyError:
            # This machine lacks a package, the candidate is not at fault: recording a failure
            # would keep it as a result; stopping lets a resume after the install retry it.
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            log.error("shard task %s failed: %s", key, reason, exc_info=True)
            record_failure(self.evaluator.store, key, reason, starts=1, workers=["local"])
            result = ShardResult(0, None, 0.0, failed=reason)
        return [Completed(work, result)]

    def cancel(self, evaluation_key: str) -> None:
        for key in [
            k for k, w in self._queue.items()
            if w.kind == SHARD_TASK and w.candidate.evaluation_key == evaluation_key
        ]:
            del self._queue[key]

    def finished(self, task_key: str) -> None:
        """Nothing to track: work here finishes inside :meth:`wait`."""

    def stats(self) -> ExecutorStats:
        return ExecutorStats(tasks_sent=self._ran, tasks_resent=0)


def evaluate_schedule(
    evaluator: Evaluator, schedule: Schedule, candidate: Candidate | None = None
) -> EvaluationRecord:
    """Evaluate one schedule outside a search (e.g. a heuristic baseline), reusing the store.
    ``candidate``: the schedule's candidate under the evaluator's plan, if already built."""
    plan = evaluator.plan
    cand = candidate or plan.candidate(0, schedule)
    record = plan.evaluation(evaluator.store, cand.evaluation_key)
    if record is not None:
        return record
    scores = {}
    for shard in range(len(plan.shards)):
        result = evaluator.run(plan.work_for(SHARD_TASK, cand, shard))
        if result.scores is not None:
            scores[shard] = result.scores
    return plan.aggregate(evaluator.store, cand, scores)
