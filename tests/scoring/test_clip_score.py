"""CLIP score from a local tiny CLIP directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecad.scoring.clip_score import ClipScorer
from ecad.scoring.errors import ScorerError


def test_scores_per_image_from_local_directory(
    clip_files: dict[str, str], images: list, prompts: list[str]
) -> None:
    raw = ClipScorer(device="cpu", batch_size=2, clamp=False, **clip_files).score(images, prompts)
    assert raw.shape == (len(images),) and np.isfinite(raw).all()
    assert len(set(np.round(raw, 6))) == len(images)  # every image scores differently
    assert np.all(np.abs(raw) <= 100.0)
    clamped = ClipScorer(device="cpu", **clip_files).score(images, prompts)
    np.testing.assert_allclose(clamped, np.maximum(raw, 0.0), atol=1e-4)


def test_prompt_changes_the_score(clip_files: dict[str, str], images: list) -> None:
    scorer = ClipScorer(device="cpu", clamp=False, **clip_files)
    a = scorer.score(images[:1], ["a red fox in snow"])
    b = scorer.score(images[:1], ["a lighthouse in a storm " * 20])  # also past the context
    assert np.isfinite(b).all() and a[0] != b[0]


def test_missing_model_directory(tmp_path: Path, images: list) -> None:
    with pytest.raises(ScorerError, match="cannot load"):
        ClipScorer(str(tmp_path / "nothing"), device="cpu").score(images[:1], ["a cat"])
