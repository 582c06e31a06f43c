"""FID of an image set against a reference set (torchmetrics ``FrechetInceptionDistance``).

FID is a property of a whole set, so :class:`FidScorer` is a :class:`~ecad.scoring.base.SetScorer`
with no per-image scores. The Inception-v3 weights are torch-fidelity's (the ones every published
FID uses); they come from ``weights=`` (a local ``.safetensors`` or torch file, read with
``weights_only=True``) or, by default, from torch-fidelity's release URL through torch hub's cache.
torch-fidelity's own local loader unpickles, so we hand it the state dict ourselves.

The reference set's feature statistics are computed once and cached under
``$ECAD_CACHE_DIR/fid/<key>.safetensors``; the key names the reference set (sha256 of its file
names and contents), the feature layer and the Inception weights.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ecad.atomic import write_atomic
from ecad.scoring.base import LazyModel, batched, require, resolve_device
from ecad.scoring.errors import ScorerError
from ecad.scoring.weights import read_state_dict

__all__ = ["IMAGE_SUFFIXES", "FidScorer", "build_inception", "image_set_digest", "read_image_dir"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
FEATURES = (64, 192, 768, 2048)
_PATCH_LOCK = threading.Lock()


def read_image_dir(directory: str | os.PathLike) -> list[Path]:
    """Image files directly in ``directory``, sorted by name."""
    d = Path(directory)
    if not d.is_dir():
        raise ScorerError(f"{d}: reference image directory does not exist")
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if len(files) < 2:
        raise ScorerError(f"{d}: FID needs at least 2 reference images ({IMAGE_SUFFIXES}), "
                          f"found {len(files)}")
    return files


def image_set_digest(files: Sequence[Path]) -> str:
    """sha256 over the sorted (file name, content sha256) pairs: names a reference set."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda p: p.name):
        h.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


@contextmanager
def _inception_source(fetch: Callable[..., Any]) -> Iterator[None]:
    """Make torch-fidelity's constructor take its state dict from ``fetch`` instead of a URL."""
    module = require("torch_fidelity.feature_extractor_inceptionv3", "torch-fidelity")
    with _PATCH_LOCK:
        saved = module.load_state_dict_from_url
        module.load_state_dict_from_url = fetch
        try:
            yield
        finally:
            module.load_state_dict_from_url = saved


def _official_weights(*_: Any, **__: Any) -> Any:
    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    try:
        return torch.hub.load_state_dict_from_url(URL_INCEPTION_V3, map_location="cpu",
                                                  weights_only=True)
    except Exception as exc:  # offline or blocked: say how to give the file instead
        raise ScorerError(f"cannot download FID Inception weights ({exc}); pass weights=PATH to "
                          f"a local copy of {URL_INCEPTION_V3}") from exc


def build_inception(weights: str | os.PathLike | None, feature: int = 2048) -> Any:
    """torchmetrics' Inception feature extractor; ``weights=None`` gives random weights."""
    fid = require("torchmetrics.image.fid", "torchmetrics torch-fidelity")

    class _Inception(fid.NoTrainInceptionV3):
        def load_state_dict(self, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
            return None if state_dict is None else super().load_state_dict(state_dict, *args,
                                                                          **kwargs)

    state = read_state_dict(weights) if weights is not None else None
    with _inception_source(lambda *_, **__: state):
        return _Inception(name="inception-v3-compat", features_list=[str(feature)])


class FidScorer(LazyModel):
    """FID of generated images against the images in ``reference`` (lower is better).

    >>> fid = FidScorer("data/coco-val-1k", weights="pt_inception-2015-12-05.safetensors")
    ... # doctest: +SKIP
    >>> fid.score_set(images)  # doctest: +SKIP
    31.7
    """

    name = "fid"
    higher_is_better = False

    def __init__(self, reference: str, weights: str | None = None, feature: int = 2048,
                 device: str | None = None, batch_size: int = 32,
                 cache_dir: str | None = None) -> None:
        if feature not in FEATURES:
            raise ScorerError(f"fid feature={feature}; choose one of {FEATURES}")
        self.reference, self.weights, self.feature = Path(reference), weights, feature
        self.device, self.batch_size = resolve_device(device), batch_size
        root = cache_dir or os.environ.get("ECAD_CACHE_DIR", Path.home() / ".cache" / "ecad")
        self.cache_dir = Path(root) / "fid"

    def _load(self) -> Any:
        import torch

        tm = require("torchmetrics.image.fid", "torchmetrics torch-fidelity")
        fetch: Callable[..., Any] = _official_weights
        if self.weights is not None:
            state = read_state_dict(self.weights)

            def fetch(*_: Any, **__: Any) -> Any:
                return state

        try:
            with _inception_source(fetch):
                metric = tm.FrechetInceptionDistance(feature=self.feature,
                                                     reset_real_features=False)
        except RuntimeError as exc:  # load_state_dict: missing or misshapen tensors
            raise ScorerError(f"{self.weights}: not torch-fidelity Inception-v3 weights "
                              f"({str(exc)[:200]})") from exc
        metric = metric.to(self.device)
        path = self.cache_dir / f"{self.reference_key}.safetensors"
        states = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")
        if path.is_file():
            from safetensors.torch import load_file

            for name, value in load_file(str(path)).items():
                setattr(metric, name, value.to(self.device))
        else:
            files = read_image_dir(self.reference)
            with torch.no_grad():
                self._update(metric, files, real=True)
            from safetensors.torch import save

            write_atomic(path, save({n: getattr(metric, n).cpu().contiguous() for n in states}))
        return metric

    @cached_property
    def reference_key(self) -> str:
        """Cache key: reference set digest, feature layer, weights file digest (hashed once:
        every reference image and the weights file are read for it)."""
        files = read_image_dir(self.reference)
        weights = "official"
        if self.weights is not None:
            weights = hashlib.sha256(Path(self.weights).read_bytes()).hexdigest()[:16]
        return f"{image_set_digest(files)[:24]}-f{self.feature}-{weights}"

    def _update(self, metric: Any, images: Sequence[Image.Image | Path], real: bool) -> None:
        """Feed images (or image files, opened a batch at a time) to the metric."""
        import torch

        for chunk in batched(images, self.batch_size):
            arrays = [_rgb_array(im) for im in chunk]
            for shape in dict.fromkeys(a.shape for a in arrays):  # one tensor per image size
                same = np.stack([a for a in arrays if a.shape == shape])
                pixels = torch.from_numpy(same).permute(0, 3, 1, 2).to(self.device)
                metric.update(pixels, real=real)

    def score_set(self, images: Sequence[Image.Image | Path]) -> float:
        """FID of ``images`` (at least 2; PIL images or image files) against the reference set."""
        import torch

        if len(images) < 2:
            raise ScorerError(f"fid: needs at least 2 images, got {len(images)}")
        metric = self.model
        metric.reset()  # keeps the reference statistics (reset_real_features=False)
        with torch.no_grad():
            self._update(metric, images, real=False)
            return float(metric.compute())


def _rgb_array(image: Image.Image | Path) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    try:
        with Image.open(image) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as exc:
        raise ScorerError(f"{image}: cannot read image ({exc})") from exc
