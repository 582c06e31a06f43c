"""Task time limits for thread-pool workers.

Celery enforces ``task_time_limit`` only in its process pool (it kills the pool child). With
``--concurrency`` above 1 the tasks run on threads, which cannot be killed, yet the limit must
still hold: Redis hands a task still unacknowledged after the visibility timeout to another
worker. The watchdog ends the whole worker process when a task runs past the limit; its
unacknowledged tasks go back to the queue and the bounded-redelivery count
(``ecad.worker.attempts``) stops a task that always hangs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

__all__ = ["TaskWatchdog"]

EXIT_CODE = 70


def _exit_process() -> None:
    logging.shutdown()
    os._exit(EXIT_CODE)


class TaskWatchdog:
    """Tracks running tasks; :meth:`check` ends the process when one outlives ``limit_s``."""

    def __init__(
        self,
        limit_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_overrun: Callable[[], None] = _exit_process,
    ) -> None:
        if limit_s <= 0:
            raise ValueError(f"task time limit must be positive, got {limit_s}")
        self.limit_s = limit_s
        self.clock = clock
        self.on_overrun = on_overrun
        self._running: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def started(self, task_id: str, name: str) -> None:
        with self._lock:
            self._running[task_id] = (name, self.clock())

    def finished(self, task_id: str) -> None:
        with self._lock:
            self._running.pop(task_id, None)

    def overdue(self) -> list[tuple[str, str, float]]:
        """(task id, task name, seconds running) of the tasks past the limit."""
        now = self.clock()
        with self._lock:
            return [(tid, name, now - t0) for tid, (name, t0) in self._running.items()
                    if now - t0 > self.limit_s]

    def check(self) -> bool:
        """End the process if a task is overdue. True if it was (``on_overrun`` was called)."""
        late = self.overdue()
        for task_id, name, seconds in late:
            log.critical(
                "task %s[%s] has run %.0fs, past ECAD_TASK_TIME_LIMIT (%.0fs); ending this "
                "worker so the broker re-queues its tasks", name, task_id, seconds, self.limit_s)
        if late:
            self.on_overrun()
        return bool(late)

    def start(self, interval_s: float = 5.0) -> threading.Thread:
        def loop() -> None:
            while True:
                time.sleep(interval_s)
                self.check()

        thread = threading.Thread(target=loop, name="ecad-task-watchdog", daemon=True)
        thread.start()
        return thread
