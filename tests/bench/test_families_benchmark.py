"""The families GPU benchmark (benchmarks/families/run.py) runs end to end with --smoke."""

from __future__ import annotations

import json

import pytest

from benchmarks.families.run import main


@pytest.mark.slow
def test_smoke_run_writes_every_configuration_with_predictions(tmp_path):
    argv = ["--smoke", "--only", "sd3.5-large", "--repeats", "1", "--warmup", "0"]
    main([*argv, "--output-dir", str(tmp_path)])
    (report,) = json.loads((tmp_path / "families-sd3.5-large-smoke-cpu.json").read_text())
    labels = [row["label"] for row in report["rows"]]
    assert labels == ["plain diffusers", "no-cache", "fora-2", "fora-3", "attention-every-2"]
    rows = {row["label"]: row for row in report["rows"]}
    assert rows["no-cache"]["predicted"] == {"macs": 1.0, "macs-linear": 1.0}
    assert rows["fora-2"]["predicted"]["macs"] > 1.5
    assert all(row["ms_per_image"] > 0 and row["speedup"] > 0 for row in report["rows"])
    assert report["settings"]["blocks"] == {"joint": 2}
    table = (tmp_path / "families-sd3.5-large-smoke-cpu.md").read_text()
    assert "| sd3.5-large | joint 2 (reduced) | 1 | 4 | fora-3 |" in table
