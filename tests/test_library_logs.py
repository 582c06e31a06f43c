"""Quieting the model libraries reaches libraries imported before it and after it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ecad.library_logs import QUIET_ENVIRONMENT

REPO = Path(__file__).resolve().parents[1]

# diffusers (so huggingface_hub) imported before the quiet defaults are set, transformers only
# after, when the tiny pipeline is built: its save must draw no bar either.
_PROBE = """
import sys
import diffusers  # huggingface_hub reads its progress-bar variable now: unset
from ecad.families import get_family
from ecad.families.loading import save_tiny_pipeline
from ecad.library_logs import quiet_model_libraries

assert "transformers" not in sys.modules
quiet_model_libraries()
save_tiny_pipeline(get_family("pixart-alpha"), sys.argv[1])
print("saved")
"""


def test_saving_a_tiny_pipeline_draws_no_bar_when_transformers_loads_after_quieting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in QUIET_ENVIRONMENT}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp_path / "tiny")],
        env=env, cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("saved")
    assert "Writing model shards" not in proc.stderr, proc.stderr[-2000:]
    assert (tmp_path / "tiny" / "model_index.json").exists()
