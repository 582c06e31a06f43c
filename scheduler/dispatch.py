"""Sending shard tasks to the workers and re-sending those that miss their deadline."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from worker.names import GPU_QUEUE

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SHARD_DEADLINE_S", "Dispatcher", "celery_sender"]

#: Seconds before an unfinished shard task is sent again (``ecad scheduler --deadline`` and
#: ``$ECAD_SHARD_DEADLINE`` default to this too).
DEFAULT_SHARD_DEADLINE_S = 900.0


@dataclass
class _InFlight:
    name: str
    args: list
    sent_at: float
    sends: int = 1


@dataclass
class Dispatcher:
    """Tracks tasks sent and not yet known finished (in memory: after a restart, the store says
    what is missing and it is sent again; tasks are idempotent, so duplicates are harmless).

    ``send(name, args)`` is the transport (Celery's ``send_task`` in production). Entries are
    kept in order of their last send, so finding the overdue ones looks at those only.
    """

    send: Callable[[str, list], object]
    deadline_s: float = DEFAULT_SHARD_DEADLINE_S
    in_flight: OrderedDict[str, _InFlight] = field(default_factory=OrderedDict)
    sent_total: int = 0
    resent_total: int = 0

    def add(self, task_key: str, name: str, args: list) -> bool:
        """Record ``task_key`` as wanted and not yet sent (overdue at once; :meth:`resend` sends
        it). True if new. Recorded before any send: if the broker refuses the send (it is
        down), the entry stays overdue and the next :meth:`overdue` pass sends it."""
        if task_key in self.in_flight:
            return False
        self.in_flight[task_key] = _InFlight(name, args, float("-inf"), sends=0)
        self.in_flight.move_to_end(task_key, last=False)  # overdue entries come first
        return True

    def overdue(self) -> list[str]:
        """Task keys sent longer than the deadline ago (oldest first)."""
        limit = time.monotonic() - self.deadline_s
        out = []
        for key, entry in self.in_flight.items():
            if entry.sent_at > limit:
                break
            out.append(key)
        return out

    def resend(self, task_key: str) -> None:
        """Send an overdue task again (or for the first time, if its first send failed)."""
        again = self.in_flight[task_key].sends
        if again:
            log.warning(
                "task %s missed its %.0fs deadline; sending it again (send %d)",
                task_key, self.deadline_s, again + 1,
            )
        self._send(task_key)
        self.resent_total += bool(again)

    def _send(self, task_key: str) -> None:
        entry = self.in_flight[task_key]
        self.send(entry.name, entry.args)  # raises while the broker is down: stays overdue
        entry.sent_at, entry.sends = time.monotonic(), entry.sends + 1
        self.in_flight.move_to_end(task_key)
        self.sent_total += 1

    def done(self, task_key: str) -> None:
        self.in_flight.pop(task_key, None)


def celery_sender(app) -> Callable[[str, list], object]:
    def send(name: str, args: list) -> object:
        return app.send_task(name, args=args, queue=GPU_QUEUE)

    return send
