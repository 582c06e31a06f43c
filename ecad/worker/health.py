"""Container healthcheck of a worker: ``python -m ecad.worker.health`` (exit 0: healthy).

Healthy once the worker has warmed its models and Celery consumes (its ready file,
``ECAD_WORKER_READY_FILE``, exists), and, for a worker holding a GPU lease, while the lease is
renewed (the renewals touch the file: it must be younger than two lease lifetimes).
"""

from __future__ import annotations

import json
import os
import sys

from ecad import heartbeat


def check(path: str | None, now: float | None = None) -> str | None:
    """None if healthy, else why not."""
    try:
        with open(path or "") as f:
            lease = json.load(f).get("lease_seconds")
    except (OSError, ValueError):
        return (f"not ready: {path or 'ECAD_WORKER_READY_FILE'} is missing (loading or warming "
                "models, or waiting for a GPU)")
    return heartbeat.check(path, 2 * lease if lease else None, now=now)


def main() -> int:
    problem = check(os.environ.get("ECAD_WORKER_READY_FILE"))
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
