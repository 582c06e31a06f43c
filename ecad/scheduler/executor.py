"""The Celery executor: shard work becomes task messages on the GPU queue; results land in the
store, where the search driver finds them."""

from __future__ import annotations

from collections.abc import Sequence

from ecad.scheduler.dispatch import Dispatcher
from ecad.search import SearchPlan, ShardWork
from ecad.search.executor import ExecutorStats
from ecad.store.keys import SHARD_TASK
from ecad.worker.names import RUN_SHARD

__all__ = ["CeleryExecutor"]


class CeleryExecutor:
    """Sends each shard as a :class:`ecad.search.task.ShardTask` message (deadlines and
    re-sends are the shared :class:`Dispatcher`'s)."""

    blocking = False

    def __init__(
        self, plan: SearchPlan, dispatcher: Dispatcher, store_id: str | None = None
    ) -> None:
        """``store_id``: the store's identity, carried by every task (workers check it)."""
        self.plan = plan
        self.dispatcher = dispatcher
        self.store_id = store_id
        self.sent = 0

    def submit(self, work: Sequence[ShardWork]) -> None:
        # All recorded first: if the broker goes down part-way, the rest are sent once it is
        # back (they are overdue from the start), none is lost.
        new = [
            item.task_key
            for item in work
            if self.dispatcher.add(
                item.task_key, RUN_SHARD, [self.plan.task(item, self.store_id).to_json()]
            )
        ]
        for key in new:
            self.dispatcher.resend(key)
            self.sent += 1

    def wait(self) -> list:
        return []  # results land in the store; re-sends are the service's, once per tick

    def cancel(self, evaluation_key: str) -> None:
        for shard in range(len(self.plan.shards)):
            self.dispatcher.done(self.plan.task_key(SHARD_TASK, evaluation_key, shard))

    def finished(self, task_key: str) -> None:
        self.dispatcher.finished(task_key)

    def stats(self) -> ExecutorStats:
        d = self.dispatcher
        return ExecutorStats(
            tasks_sent=self.sent,
            tasks_resent=d.resent_total,
            resend_reasons=dict(d.resend_reasons),
            last_resend_reason=d.last_resend_reason,
            deadline_s=round(d.current_deadline_s, 1),
            queued=len(d.in_flight),
        )
