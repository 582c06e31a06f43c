"""Run a script under triton's CPU interpreter and return the JSON it prints last.

TRITON_INTERPRET is read when triton is imported, so the script runs in a fresh interpreter
(triton's own jit helpers, e.g. tl.sum's combine, are then interpreted too)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_interpreted(script: str) -> dict[str, Any]:
    pytest.importorskip("triton")
    # The repository first, then whatever the caller's path held (wheels installed with
    # --target on a device machine).
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
