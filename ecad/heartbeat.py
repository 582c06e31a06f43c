"""Heartbeat files for container healthchecks: a process touches its file while it works; the
check (``python -m ecad.heartbeat FILE MAX_AGE_S``, exit 0 when healthy) reads only the file's
age, so it needs no torch, no broker and no store round trip.

``ecad scheduler`` touches ``$ECAD_SCHEDULER_HEARTBEAT_FILE`` on every tick of its loop; workers
use their ready file (:mod:`ecad.worker.health`).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

__all__ = ["beat", "check"]


def beat(path: str | os.PathLike | None) -> None:
    """Touch ``path`` (create it if needed); nothing when ``path`` is empty."""
    if path:
        Path(path).touch()


def check(path: str | os.PathLike | None, max_age_s: float | None,
          now: float | None = None) -> str | None:
    """None when ``path`` exists and (with ``max_age_s``) was touched recently; else why not."""
    if not path:
        return "no heartbeat file configured"
    try:
        age = (now or time.time()) - Path(path).stat().st_mtime
    except OSError:
        return f"{path} is missing (not started, or not ready yet)"
    if max_age_s is not None and age > max_age_s:
        return f"{path} last touched {age:.0f}s ago (limit {max_age_s:.0f}s)"
    return None


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: python -m ecad.heartbeat FILE [MAX_AGE_SECONDS]", file=sys.stderr)
        return 2
    problem = check(argv[0], float(argv[1]) if len(argv) == 2 else None)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
