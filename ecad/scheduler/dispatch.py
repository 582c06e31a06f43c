"""Sending shard tasks to the workers and re-sending those that miss their deadline or that the
broker lost (see :mod:`ecad.scheduler.queue_watch`).

The deadline adapts to the measured shard times: once enough shards finished, it is
``DEADLINE_FACTOR`` times their 95th percentile (first-send to seen-finished), kept between
``MIN_DEADLINE_S`` and the configured deadline (the upper bound). Every re-send is counted by
its reason (``resend_reasons``), which the progress record carries.

A copy still waiting in the queue is not copied again by the adaptive deadline: while the queue
wait grows, a re-send would only queue behind it, and once both copies start at once, both
count towards the task's redelivery limit (``ECAD_MAX_TASK_ATTEMPTS``). The service asks the
store whether the copy started (its ``attempts/`` record counted a start since it was sent):
not yet, it is held (checked again later) until the configured deadline; once it started, the
adaptive deadline counts from then (:meth:`Dispatcher.started`)."""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ecad.worker.names import GPU_QUEUE

log = logging.getLogger(__name__)

__all__ = [
    "DEADLINE",
    "DEFAULT_SHARD_DEADLINE_S",
    "LOST_QUEUE",
    "Dispatcher",
    "celery_sender",
]

#: Seconds before an unfinished shard task is sent again (``ecad scheduler --deadline`` and
#: ``$ECAD_SHARD_DEADLINE`` default to this too).
DEFAULT_SHARD_DEADLINE_S = 900.0
#: The adaptive deadline: this multiple of the 95th percentile of the measured shard times ...
DEADLINE_FACTOR = 4.0
#: ... never below this (seconds), and measured once this many shards finished.
MIN_DEADLINE_S = 60.0
MIN_SAMPLES = 8
#: A copy still queued is looked at again after a quarter of the deadline, never sooner.
MIN_RECHECK_S = 5.0
#: Re-send reasons (``Dispatcher.resend_reasons`` keys).
DEADLINE = "deadline"
LOST_QUEUE = "lost-queue"


@dataclass
class _InFlight:
    name: str
    args: list
    #: when the deadline started counting: the last send, or the start of that copy once seen
    sent_at: float
    sends: int = 1
    first_sent_at: float = float("-inf")
    #: the task's counted starts when this copy was sent; more: this copy started
    starts_seen: int = 0
    started: bool = False  # this copy's start was seen (the deadline counts from it)
    hold_until: float = float("-inf")  # still queued: not looked at again before this


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
    resend_reasons: Counter = field(default_factory=Counter)
    held_total: int = 0  # overdue copies found still queued, so not copied
    last_resend_reason: str | None = None
    durations: deque = field(default_factory=lambda: deque(maxlen=500))
    #: Applied to a task's arguments at each send (the service stamps its store probe there).
    stamp: Callable[[list], list] | None = None

    def add(self, task_key: str, name: str, args: list) -> bool:
        """Record ``task_key`` as wanted and not yet sent (overdue at once; :meth:`resend` sends
        it). True if new. Recorded before any send: if the broker refuses the send (it is
        down), the entry stays overdue and the next :meth:`overdue` pass sends it."""
        if task_key in self.in_flight:
            return False
        self.in_flight[task_key] = _InFlight(name, args, float("-inf"), sends=0)
        self.in_flight.move_to_end(task_key, last=False)  # overdue entries come first
        return True

    @property
    def current_deadline_s(self) -> float:
        """The deadline now: adapted to the measured shard times once there are enough."""
        if len(self.durations) < MIN_SAMPLES:
            return self.deadline_s
        times = sorted(self.durations)
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        return min(self.deadline_s, max(MIN_DEADLINE_S, DEADLINE_FACTOR * p95))

    def overdue(self) -> list[str]:
        """Task keys sent (or seen started) longer than the deadline ago, oldest first; copies
        held as still queued (:meth:`hold`) are left out until they are due for a look."""
        now = time.monotonic()
        limit = now - self.current_deadline_s
        out = []
        for key, entry in self.in_flight.items():
            if entry.sent_at > limit:
                break
            if entry.hold_until <= now:
                out.append(key)
        return out

    def queued_too_long(self, task_key: str) -> bool:
        """A copy not seen started, sent longer ago than the configured deadline (the upper
        bound): lost somewhere, send it again."""
        return time.monotonic() - self.in_flight[task_key].sent_at > self.deadline_s

    def hold(self, task_key: str) -> None:
        """The copy overdue by the adaptive deadline has not started: it waits in the queue.
        Look again in a while (a quarter of the deadline), not at every pass."""
        recheck = max(MIN_RECHECK_S, self.current_deadline_s / 4)
        self.in_flight[task_key].hold_until = time.monotonic() + recheck
        self.held_total += 1

    def started(self, task_key: str, starts: int) -> None:
        """The copy started (``starts`` counted so far): its deadline counts from now."""
        entry = self.in_flight[task_key]
        entry.started, entry.starts_seen = True, starts
        entry.sent_at, entry.hold_until = time.monotonic(), float("-inf")
        self.in_flight.move_to_end(task_key)

    def sent_before(self, moment: float) -> list[str]:
        """Task keys sent (at least once) before ``moment`` (``time.monotonic()``)."""
        return [k for k, e in self.in_flight.items() if e.sends and e.sent_at < moment]

    def resend(
        self, task_key: str, reason: str = DEADLINE, detail: str = "", starts: int | None = None
    ) -> None:
        """Send a task again (or for the first time, if its first send failed): overdue
        (``reason`` DEADLINE) or lost by the broker (LOST_QUEUE, ``detail`` says how).
        ``starts``: the task's counted starts now (a later count means the new copy started)."""
        if starts is not None:
            self.in_flight[task_key].starts_seen = starts
        again = self.in_flight[task_key].sends
        if again:
            why = detail or f"missed its {self.current_deadline_s:.0f}s deadline"
            log.warning("task %s %s; sending it again (send %d)", task_key, why, again + 1)
        self._send(task_key)
        if again:
            self.resent_total += 1
            self.resend_reasons[reason] += 1
            self.last_resend_reason = f"{reason}: {detail}" if detail else reason

    def _send(self, task_key: str) -> None:
        entry = self.in_flight[task_key]
        args = entry.args if self.stamp is None else self.stamp(entry.args)
        self.send(entry.name, args)  # raises while the broker is down: stays overdue
        now = time.monotonic()
        if not entry.sends:
            entry.first_sent_at = now
        entry.sent_at, entry.sends = now, entry.sends + 1
        entry.started, entry.hold_until = False, float("-inf")
        self.in_flight.move_to_end(task_key)
        self.sent_total += 1

    def forget_search(self, search_id: str) -> list[str]:
        """Forget every task of ``search_id`` (another scheduler drives it now): they are
        neither re-sent nor measured here. Returns their keys."""
        keys = [k for k, e in self.in_flight.items() if _search_of(e.args) == search_id]
        for key in keys:
            del self.in_flight[key]
        return keys

    def done(self, task_key: str) -> None:
        """Forget the task (finished, or no longer wanted)."""
        self.in_flight.pop(task_key, None)

    def finished(self, task_key: str) -> None:
        """The task's output was seen: forget it and, if it was sent once, measure it."""
        entry = self.in_flight.pop(task_key, None)
        if entry is not None and entry.sends == 1:
            self.durations.append(time.monotonic() - entry.first_sent_at)

    def stats(self) -> dict:
        return {
            "tasks_resent": self.resent_total,
            "resend_reasons": dict(self.resend_reasons),
            "last_resend_reason": self.last_resend_reason,
            "deadline_s": round(self.current_deadline_s, 1),
        }


def _search_of(args: list) -> str | None:
    """The search a shard task's message names (``ShardTask.search_id``)."""
    message = args[0] if args and isinstance(args[0], dict) else None
    return None if message is None else message.get("search_id")


def celery_sender(app) -> Callable[[str, list], object]:
    def send(name: str, args: list) -> object:
        return app.send_task(name, args=args, queue=GPU_QUEUE)

    return send
