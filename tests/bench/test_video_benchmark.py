"""The video GPU benchmark (benchmarks/video/run.py) runs end to end with --smoke (the timing
part; the search part is `ecad search`, tested in tests/search/test_video_search.py)."""

from __future__ import annotations

import json

import pytest

from benchmarks.video.run import main


@pytest.mark.slow
def test_smoke_timing_writes_every_configuration_with_predictions(tmp_path):
    main(["--smoke", "--part", "timing", "--repeats", "1", "--output-dir", str(tmp_path)])
    report = json.loads((tmp_path / "video-timing-smoke-cpu.json").read_text())
    labels = [row["schedule"] for row in report["rows"]]
    assert labels[:4] == ["plain diffusers", "no-cache", "fora-2", "fora-3"]
    assert labels[4].startswith("tgate_without_ca_avg")
    rows = {row["schedule"]: row for row in report["rows"]}
    assert rows["no-cache"]["predicted_speedup_macs"] == 1.0
    assert rows["fora-2"]["predicted_speedup_macs"] > 1.3
    assert all(r["seconds_per_video"] > 0 and r["efficiency"] > 0 for r in report["rows"])
    assert (report["frames"], report["width"], report["height"]) == (5, 48, 32)
    assert "SMOKE RUN" in (tmp_path / "video-timing-smoke-cpu.md").read_text()
