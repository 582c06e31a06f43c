"""One copy of a shard task runs at a time: a short claim per task key in Redis.

The scheduler sends a task again when it misses its deadline; the first copy may still be
running (slow, not dead). Both copies starting would do the work twice and both would count
towards the task's redelivery limit (:mod:`ecad.worker.attempts`), so a healthy task could end
recorded as a poison one. A copy therefore claims ``ecad:running:<task key>`` with
``SET NX PX`` before it counts its start, renews the claim while it runs (a thread, every third
of its life) and deletes it when done. A copy that finds the claim held does not start: it is
put back with a countdown (a Celery retry, not a start) and, once the first copy finished, finds
the output and skips; if the first copy's process died, its claim expired meanwhile
(``CLAIM_S``) and this copy runs.

Redis unreachable: the copy runs (the redelivery limit still bounds it) and says so in the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from ecad.worker.redis_claims import RELEASE_IF_OURS, RENEW_IF_OURS

__all__ = ["CLAIM_S", "claim_key", "running_copy"]

log = logging.getLogger(__name__)

#: Seconds a copy's claim lasts unless renewed: how long a copy whose process died blocks others.
CLAIM_S = 10.0
_PREFIX = "ecad:running:"


def claim_key(task_key: str) -> str:
    return f"{_PREFIX}{task_key}"


class _Renewal(threading.Thread):
    def __init__(self, client: Any, key: str, token: str, expiry_s: float) -> None:
        super().__init__(name=f"claim {key}", daemon=True)
        self.client, self.key, self.token, self.expiry_s = client, key, token, expiry_s
        self.stop = threading.Event()

    def run(self) -> None:
        renew = self.client.register_script(RENEW_IF_OURS)
        while not self.stop.wait(self.expiry_s / 3):
            try:
                if not renew(keys=[self.key], args=[self.token, int(self.expiry_s * 1000)]):
                    log.warning("the claim %s was lost while the task ran", self.key)
                    return
            except Exception as exc:  # Redis away for a moment: try again at the next beat
                log.warning("could not renew the claim %s: %s", self.key, exc)


@contextlib.contextmanager
def running_copy(
    client: Any, task_key: str, worker: str, expiry_s: float = CLAIM_S
) -> Iterator[float | None]:
    """Claim ``task_key`` for this copy while the block runs. Yields None when this copy may
    run, else the seconds until the other copy's claim expires unless renewed (retry then)."""
    key = claim_key(task_key)
    token = f"{worker}/{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    try:
        claimed = client.set(key, token, nx=True, px=int(expiry_s * 1000))
        if not claimed:
            left = client.pttl(key)
    except Exception as exc:  # kombu/redis raise many types; the attempts limit still holds
        log.warning(
            "task %s: cannot tell whether another copy runs (%s); running it", task_key, exc
        )
        yield None
        return
    if not claimed:
        yield max(0.1, left / 1000.0) if left and left > 0 else 0.1
        return
    renewal = _Renewal(client, key, token, expiry_s)
    renewal.start()
    try:
        yield None
    finally:
        renewal.stop.set()
        renewal.join(timeout=5)
        with contextlib.suppress(Exception):
            client.register_script(RELEASE_IF_OURS)(keys=[key], args=[token])
