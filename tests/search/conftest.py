"""A small, fast search spec on the tiny PixArt-α model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def write_spec(tmp_path: Path, **overrides) -> Path:
    spec = {
        "name": "t",
        "family": "pixart-alpha",
        "weights": "tiny",
        "resolution": 64,
        "steps": 6,
        "prompts": {"file": str(REPO / "prompts" / "calibration-100.txt"), "limit": 3},
        "images_per_prompt": 1,
        "quality": {"scorer": "fidelity", "metric": "psnr"},
        "cost": {"mode": "macs"},
        "population": 6,
        "generations": 2,
        "min_diff": 3,
        "shard_size": 2,
        "batch_size": 2,
        "seed": 1,
    }
    spec.update(overrides)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def spec_file(tmp_path):
    return write_spec(tmp_path)
