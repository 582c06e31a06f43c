"""Container healthchecks: the worker's ready file and the scheduler's heartbeat."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from ecad import heartbeat
from ecad.worker.health import check


def test_worker_is_healthy_once_ready_and_while_its_lease_is_renewed(tmp_path):
    ready = tmp_path / "ready"
    assert "not ready" in check(str(ready))
    assert "not ready" in check(None)
    ready.write_text(json.dumps({"gpu": 0, "lease_seconds": 30}))
    assert check(str(ready)) is None
    assert check(str(ready), now=time.time() + 61).endswith("(limit 60s)")
    ready.write_text(json.dumps({"gpu": None, "lease_seconds": None}))
    assert check(str(ready), now=time.time() + 10_000) is None  # no lease: ready is enough


def test_heartbeat_command(tmp_path):
    beat = tmp_path / "alive"

    def run(*args):
        return subprocess.run([sys.executable, "-m", "ecad.heartbeat", *args],
                              capture_output=True, text=True, timeout=300)

    assert run(str(beat), "60").returncode == 1
    heartbeat.beat(beat)
    assert run(str(beat), "60").returncode == 0
    old = time.time() - 120
    os.utime(beat, (old, old))
    stale = run(str(beat), "60")
    assert stale.returncode == 1 and "last touched 120s ago" in stale.stderr
    assert run().returncode == 2
