"""get_scorer: names, one lazily loaded instance per options, protocol conformance."""

from __future__ import annotations

import pytest

from ecad.scoring import Scorer, ScorerError, SetScorer, get_scorer, scorer_names


def test_names_and_protocols(tmp_path) -> None:
    assert set(scorer_names()) == {"image-reward", "clip-score", "fid", "psnr", "ssim", "lpips"}
    for name in ("image-reward", "clip-score", "psnr", "ssim", "lpips"):
        scorer = get_scorer(name, device="cpu")
        assert isinstance(scorer, Scorer) and not scorer.loaded, name
    assert isinstance(get_scorer("fid", reference=str(tmp_path)), SetScorer)


def test_one_instance_per_options(image_reward_files: dict[str, str]) -> None:
    a = get_scorer("image-reward", device="cpu", **image_reward_files)
    assert get_scorer("image-reward", device="cpu", batch_size=None, **image_reward_files) is a
    assert get_scorer("image-reward", device="cpu", batch_size=3, **image_reward_files) is not a


def test_unknown_name_and_option() -> None:
    with pytest.raises(ScorerError, match="unknown scorer 'aesthetic'; choose one of"):
        get_scorer("aesthetic")
    with pytest.raises(ScorerError, match=r"scorer 'psnr'.*unexpected keyword"):
        get_scorer("psnr", checkpoint="x.pt")
