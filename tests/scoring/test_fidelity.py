"""Fidelity to the uncached images: PSNR, SSIM, LPIPS."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecad.scoring.errors import ScorerError
from ecad.scoring.fidelity import PSNR_CAP_DB, FidelityScorer, fidelity, load_lpips, psnr, ssim
from tests.scoring.conftest import noise_image, perturbed


def test_identical_images(images: list, alexnet_files: dict[str, str]) -> None:
    scores = fidelity(images, [im.copy() for im in images],
                      lpips=load_lpips(alexnet_files["lpips_backbone"], "cpu"))
    assert np.isinf(scores.psnr).all() and (scores.ssim == 1.0).all()
    assert scores.lpips is not None and np.allclose(scores.lpips, 0.0, atol=1e-6)
    summary = scores.summary()
    assert summary["psnr"] == PSNR_CAP_DB and summary["identical"] == len(images)
    assert summary["ssim"] == 1.0 and math.isfinite(summary["lpips"])


def test_perturbed_images_score_lower(images: list, alexnet_files: dict[str, str]) -> None:
    lpips = load_lpips(alexnet_files["lpips_backbone"], "cpu")
    slight = fidelity([perturbed(im, 4) for im in images], images, lpips=lpips)
    strong = fidelity([perturbed(im, 40) for im in images], images, lpips=lpips)
    assert np.isfinite(slight.psnr).all() and (slight.psnr < PSNR_CAP_DB).all()
    assert (strong.psnr < slight.psnr).all()
    assert (strong.ssim < slight.ssim).all() and (slight.ssim < 1.0).all()
    assert (strong.lpips > slight.lpips).all() and (slight.lpips > 0).all()


def test_psnr_matches_its_definition() -> None:
    a = noise_image(1)
    b = perturbed(a, 10, seed=3)
    mse = np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2) / 255**2
    assert psnr([b], [a])[0] == pytest.approx(10 * math.log10(1 / mse))
    assert ssim([b], [a])[0] == pytest.approx(ssim([a], [b])[0])


def test_scorers_cap_psnr_and_need_references(images: list, prompts: list[str]) -> None:
    scorer = FidelityScorer("psnr")
    refs = [im.copy() for im in images]
    refs[1] = perturbed(images[1], 20)
    scores = scorer.score(images, prompts, references=refs)
    assert scores[0] == PSNR_CAP_DB and scores[1] < PSNR_CAP_DB and np.isfinite(scores).all()
    assert FidelityScorer("ssim").score(images, prompts, references=refs)[0] == 1.0
    assert FidelityScorer("lpips").higher_is_better is False
    with pytest.raises(ScorerError, match="needs reference images"):
        scorer.score(images, prompts)


def test_lpips_without_weights_is_left_out(images: list, prompts: list[str],
                                           monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert load_lpips(None) is None
    assert fidelity(images, images).lpips is None
    with pytest.raises(ScorerError, match="lpips_backbone=PATH"):
        FidelityScorer("lpips").score(images, prompts, references=images)


def test_mismatched_inputs(images: list) -> None:
    with pytest.raises(ScorerError, match="reference is 32x32"):
        fidelity([images[1]], [images[0]])
    with pytest.raises(ScorerError, match="reference images"):
        fidelity(images, images[:2])
    with pytest.raises(ScorerError, match="choose one of"):
        FidelityScorer("mse")
