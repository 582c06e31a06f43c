"""Warm-up before a worker reports ready: the real load and generation path, with and without
text encoders, and a load failure reported as a weights failure."""

from __future__ import annotations

import pytest

from ecad.families import get_family
from ecad.families.fetch import WeightsError, WeightsTarget, weights_target
from ecad.worker.warmup import warm_up


def test_warm_up_runs_the_tiny_model():
    assert warm_up(weights_target("tiny"), "cpu") > 0


def test_warm_up_of_a_pipeline_saved_without_text_encoders(tmp_path):
    from ecad.bench.fullsize import random_pipeline

    family = get_family("pixart-alpha")
    random_pipeline(family, 64, device="cpu", tiny=True).save_pretrained(tmp_path / "random")
    target = WeightsTarget(family, str(tmp_path / "random"), 64, "pixart-alpha:random")
    assert warm_up(target, "cpu") > 0


def test_a_missing_model_is_a_weights_failure_naming_the_fix(tmp_path):
    target = weights_target(f"pixart-alpha:{tmp_path / 'absent'}")
    with pytest.raises(WeightsError, match=r"weights failure: pixart-alpha weights .*absent could "
                       r"not be loaded .* ecad weights fetch pixart-alpha:"):
        warm_up(target, "cpu")
