"""The GPU throughput benchmark runs end to end on the CPU with --tiny."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_image_reward_benchmark_tiny(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    cmd = [sys.executable, str(REPO_ROOT / "benchmarks" / "image_reward_throughput.py"), "--tiny",
           "--device", "cpu", "--resolutions", "64", "--images", "4", "--loop-images", "2",
           "--batch-size", "2", "--dtypes", "float32", "--work-dir", str(tmp_path),
           "--output", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())["results"][0]
    assert result["resolution"] == 64 and result["loop_images_per_s"] > 0
    assert result["batched"]["float32"]["max_abs_diff_vs_loop"] < 1e-5
