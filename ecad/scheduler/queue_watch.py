"""Noticing that the broker lost queued shard tasks, so they are re-sent within a minute
instead of at the shard deadline.

Two signs, both read from the Redis broker in a few cheap commands:

* **The broker lost its data.** The scheduler keeps a marker key of its own in Redis; a Redis
  restarted without persistence, or a ``FLUSHALL``, removes it. Every task sent before that
  moment is gone from the queue.
* **The queue is empty while shards are outstanding.** No message waits in the GPU queue and no
  worker holds one (workers acknowledge late, so a task being run or reserved stays in Redis's
  ``unacked`` table), yet tasks sent more than ``grace_s`` ago have no output in the store.

Either way the service re-sends the outstanding tasks whose outputs are missing, counting them
under the ``lost-queue`` reason with what was seen.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from ecad.worker.names import GPU_QUEUE

__all__ = ["QueueWatch", "redis_watch"]

#: kombu's Redis transport: priority sub-queues of a queue and the table of held messages.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
_UNACKED = "unacked"


class QueueWatch:
    """Reads the broker's view of the queue; :meth:`lost` says whether queued work vanished."""

    def __init__(
        self,
        client: Any,
        queue: str = GPU_QUEUE,
        every_s: float = 10.0,
        grace_s: float = 30.0,
    ) -> None:
        """``every_s``: seconds between looks; ``grace_s``: how long a sent task may be absent
        from the broker before it counts as lost (covers a worker between ack and output)."""
        self.client = client
        self.queue = queue
        self.every_s = every_s
        self.grace_s = grace_s
        self.marker = f"ecad:scheduler:{secrets.token_hex(8)}"
        self._marked_at: float | None = None
        self._looked_at = float("-inf")

    def due(self) -> bool:
        return time.monotonic() - self._looked_at >= self.every_s

    def lost(self, outstanding: int, oldest_sent: float | None) -> tuple[float, str] | None:
        """``(moment, reason)`` if queued work vanished: tasks sent before ``moment``
        (``time.monotonic()``) and not finished are lost. ``outstanding``: tasks sent and not
        seen finished; ``oldest_sent``: when the oldest of them was sent."""
        self._looked_at = now = time.monotonic()
        if self._marked_at is None or not self.client.exists(self.marker):
            had_marker = self._marked_at is not None
            self.client.set(self.marker, "1")
            self._marked_at = now
            if had_marker and outstanding:
                return now, (
                    "the broker lost its data (restarted without persistence, or flushed): "
                    "the scheduler's marker key vanished"
                )
            return None
        if not outstanding or oldest_sent is None or oldest_sent > now - self.grace_s:
            return None
        held = self.held()
        if held:
            return None
        return now - self.grace_s, (
            f"the broker holds none of the {outstanding} outstanding shard tasks (queue "
            f"{self.queue!r} empty, none reserved or running on a worker)"
        )

    def held(self) -> int:
        """Messages waiting in the queue plus those a worker holds."""
        names = [self.queue] + [f"{self.queue}{_PRIORITY_SEP}{p}" for p in _PRIORITY_STEPS]
        pipe = self.client.pipeline()
        for name in names:
            pipe.llen(name)
        pipe.hlen(_UNACKED)
        return sum(int(n) for n in pipe.execute())


def redis_watch(broker_url: str, **kwargs: Any) -> QueueWatch | None:
    """A watch over the Redis broker at ``broker_url`` (None for another kind of broker)."""
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=5)
    return QueueWatch(client, **kwargs)
