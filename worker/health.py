"""Container healthcheck of a worker: ``python -m worker.health`` (exit 0: healthy).

Healthy once the worker has warmed its models and Celery consumes (the ready file exists), and,
for a worker holding a GPU lease, while the lease is being renewed (the file was touched within
two lease lifetimes). Light on purpose: no torch, no Celery, no broker round trip.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def check(path: str | None, now: float | None = None) -> str | None:
    """None if healthy, else why not."""
    if not path:
        return "ECAD_WORKER_READY_FILE is not set"
    ready = Path(path)
    try:
        record = json.loads(ready.read_text())
        age = (now or time.time()) - ready.stat().st_mtime
    except (OSError, ValueError):
        return f"not ready: {ready} is missing (loading or warming models, or waiting for a GPU)"
    lease = record.get("lease_seconds")
    if lease and age > 2 * lease:
        return f"GPU lease not renewed for {age:.0f}s (lease {lease:.0f}s)"
    return None


def main() -> int:
    problem = check(os.environ.get("ECAD_WORKER_READY_FILE"))
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
