"""Fault injection for the integration tests, off unless ``ECAD_FAULTS`` is set.

``ECAD_FAULTS`` is JSON: ``{"crash_schedules": [digest, ...], "delay_seconds": 1.5}``: a
candidate shard task for a listed schedule kills its worker process (a "poison" task); every task
sleeps ``delay_seconds`` first (to kill workers mid-task reliably).
"""

from __future__ import annotations

import json
import os
import time


def _faults() -> dict:
    raw = os.environ.get("ECAD_FAULTS")
    return json.loads(raw) if raw else {}


def before_task(schedule_digest: str, kind: str) -> None:
    faults = _faults()
    if not faults:
        return
    if faults.get("delay_seconds"):
        time.sleep(float(faults["delay_seconds"]))
    if kind == "shard" and schedule_digest in faults.get("crash_schedules", []):
        os._exit(77)
