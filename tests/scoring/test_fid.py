"""FID against a reference directory, with cached reference statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecad.scoring.errors import ScorerError
from ecad.scoring.fid import FidScorer
from tests.scoring.conftest import noise_image, perturbed


def open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    d = tmp_path / "reference"
    d.mkdir()
    for n in range(4):
        noise_image(100 + n, (48, 48)).save(d / f"ref{n}.png")
    return d


def test_fid_uses_local_weights_and_caches_reference(
    reference: Path, inception_files: dict[str, str], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    fid = FidScorer(str(reference), feature=64, device="cpu", cache_dir=str(cache),
                    **inception_files)
    near = [perturbed(open_rgb(p), 3) for p in sorted(reference.iterdir())]
    far = [noise_image(n, (40, 40)) for n in range(4)]
    near_fid, far_fid = fid.score_set(near), fid.score_set(far)
    assert np.isfinite([near_fid, far_fid]).all() and 0 <= near_fid < far_fid
    cached = list((cache / "fid").glob("*.safetensors"))
    assert [p.stem for p in cached] == [fid.reference_key]
    again = FidScorer(str(reference), feature=64, device="cpu", cache_dir=str(cache),
                      **inception_files)
    assert again.score_set(far) == pytest.approx(far_fid)
    assert list((cache / "fid").glob("*.safetensors")) == cached


def test_reference_key_names_the_set(reference: Path, inception_files: dict[str, str]) -> None:
    key = FidScorer(str(reference), feature=64, **inception_files).reference_key
    assert key != FidScorer(str(reference), feature=192, **inception_files).reference_key
    noise_image(999, (48, 48)).save(reference / "ref0.png")  # same names, new content
    assert FidScorer(str(reference), feature=64, **inception_files).reference_key != key


def test_errors(reference: Path, tmp_path: Path, inception_files: dict[str, str]) -> None:
    with pytest.raises(ScorerError, match="feature=100"):
        FidScorer(str(reference), feature=100)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ScorerError, match="at least 2 reference images"):
        FidScorer(str(empty), feature=64, **inception_files).score_set([noise_image(0)] * 2)
    bad = tmp_path / "bad.safetensors"
    import torch
    from safetensors.torch import save_file

    save_file({"fc.weight": torch.zeros(2, 2)}, str(bad))
    with pytest.raises(ScorerError, match="not torch-fidelity Inception-v3 weights"):
        FidScorer(str(reference), feature=64, weights=str(bad),
                  cache_dir=str(tmp_path)).score_set([noise_image(0)] * 2)
    fid = FidScorer(str(reference), feature=64, cache_dir=str(tmp_path), **inception_files)
    with pytest.raises(ScorerError, match="at least 2 images"):
        fid.score_set([noise_image(0)])
