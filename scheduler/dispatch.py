"""Sending shard tasks to the workers and re-sending those that miss their deadline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from worker.names import GPU_QUEUE

log = logging.getLogger(__name__)

__all__ = ["Dispatcher"]


@dataclass
class _InFlight:
    sent_at: float
    sends: int = 1


@dataclass
class Dispatcher:
    """Tracks tasks sent and not yet seen finished (in memory: after a restart, the store says
    what is missing and it is sent again; tasks are idempotent, so duplicates are harmless).

    ``send(name, args)`` is the transport (Celery's ``send_task`` in production).
    """

    send: Callable[[str, list], object]
    deadline_s: float = 600.0
    in_flight: dict[str, _InFlight] = field(default_factory=dict)
    sent_total: int = 0
    resent_total: int = 0

    def want(self, task_key: str, name: str, args: list) -> bool:
        """Make sure ``task_key`` is queued: send it if new or overdue. True if sent now."""
        now = time.monotonic()
        entry = self.in_flight.get(task_key)
        if entry is not None and now - entry.sent_at < self.deadline_s:
            return False
        if entry is not None:
            log.warning(
                "task %s missed its %.0fs deadline; sending it again (send %d)",
                task_key,
                self.deadline_s,
                entry.sends + 1,
            )
        self.send(name, args)
        if entry is None:
            self.in_flight[task_key] = _InFlight(now)
        else:
            entry.sent_at, entry.sends = now, entry.sends + 1
            self.resent_total += 1
        self.sent_total += 1
        return True

    def done(self, task_key: str) -> None:
        self.in_flight.pop(task_key, None)


def celery_sender(app) -> Callable[[str, list], object]:
    def send(name: str, args: list) -> object:
        return app.send_task(name, args=args, queue=GPU_QUEUE)

    return send
