"""Workers that refuse tasks, reported through the broker (the one thing a worker on the wrong
store still shares with the scheduler and ``ecad status``).

A refusing worker writes ``ecad:refusal:<worker>`` (JSON: worker, reason, time) with a TTL, so
the report fades once the worker stops refusing; ``ecad status`` lists the live ones.
"""

from __future__ import annotations

import json
import time
from typing import Any

__all__ = [
    "PREFIX",
    "REFUSAL_TTL_S",
    "STARTUP_FAILURE_TTL_S",
    "STOPPED_TTL_S",
    "clear_refusal",
    "read_refusals",
    "record_refusal",
]

PREFIX = "ecad:refusal:"
#: Seconds a refusal stays reported after the worker's last one.
REFUSAL_TTL_S = 600
#: ... and for a worker that stopped taking tasks after it (it refuses nothing more, but stays
#: idle until restarted: ``ecad status`` keeps saying so for a day).
STOPPED_TTL_S = 24 * 3600
#: A worker that could not start (its weights do not load) is not restarted for ever: its reason
#: stays reported for a day, or until the worker starts and refuses no more.
STARTUP_FAILURE_TTL_S = 86400


def record_refusal(client: Any, worker: str, reason: str, ttl_s: int = REFUSAL_TTL_S) -> None:
    client.set(
        f"{PREFIX}{worker}",
        json.dumps({"worker": worker, "reason": reason, "time": time.time()}),
        ex=ttl_s,
    )


def clear_refusal(client: Any, worker: str) -> None:
    """A worker (re)started under this name: its old report no longer holds."""
    client.delete(f"{PREFIX}{worker}")


def read_refusals(client: Any) -> list[dict[str, Any]]:
    """The live refusals, by worker name (entries that are not such JSON are skipped)."""
    out = []
    for key in sorted(client.scan_iter(match=f"{PREFIX}*", count=100)):
        raw = client.get(key)
        try:
            entry = json.loads(raw) if raw is not None else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
            out.append({"worker": str(entry.get("worker", key)), "reason": entry["reason"]})
    return out
