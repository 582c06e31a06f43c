"""Fidelity of a cached schedule's images to the uncached images of the same prompt and seed.

Needs no reward model, so it is the quality objective that works anywhere, random-weight models
included. Three measures, one value per image pair:

* **PSNR** (dB, higher is better): ``10 log10(1 / MSE)`` on pixels in [0, 1]. Identical images
  give ``inf``; means and search objectives use PSNR capped at :data:`PSNR_CAP_DB` (100 dB: a
  single 8-bit step in one channel of one pixel of a 256x256 image already gives 101 dB, so the
  cap means "as good as identical"), and :meth:`FidelityScores.summary` reports the cap and how
  many pairs were identical.
* **SSIM** (higher is better, 1 for identical images): torchmetrics' Gaussian-window SSIM
  (11 px, sigma 1.5) on RGB in float64.
* **LPIPS** (lower is better, 0 for identical images): AlexNet LPIPS (torchmetrics' copy of the
  linear layers, shipped in its wheel). The AlexNet backbone weights must be given
  (``lpips_backbone=``, a torchvision ``alexnet`` state dict) or be in torch hub's cache;
  without them LPIPS is left out (``None``), never computed on random features by accident.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ecad.scoring.base import LazyModel, batched, check_images, require, resolve_device
from ecad.scoring.errors import ScorerError
from ecad.scoring.weights import read_state_dict

__all__ = [
    "FIDELITY_METRICS",
    "PSNR_CAP_DB",
    "FidelityScorer",
    "FidelityScores",
    "fidelity",
    "load_lpips",
    "psnr",
    "ssim",
]

PSNR_CAP_DB = 100.0
FIDELITY_METRICS = ("psnr", "ssim", "lpips")
ALEXNET_HUB_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet_Weights.IMAGENET1K_V1


@dataclass(frozen=True)
class FidelityScores:
    """Per-pair fidelity; ``psnr`` holds ``inf`` for identical pairs, ``lpips`` may be None."""

    psnr: np.ndarray
    ssim: np.ndarray
    lpips: np.ndarray | None = None

    def capped_psnr(self) -> np.ndarray:
        return np.minimum(self.psnr, PSNR_CAP_DB)

    def summary(self) -> dict[str, Any]:
        """Means (PSNR capped at ``PSNR_CAP_DB``), the cap, and the count of identical pairs."""
        return {
            "psnr": float(self.capped_psnr().mean()),
            "ssim": float(self.ssim.mean()),
            "lpips": None if self.lpips is None else float(self.lpips.mean()),
            "psnr_cap_db": PSNR_CAP_DB,
            "identical": int(np.isinf(self.psnr).sum()),
            "pairs": len(self.psnr),
        }


def _pairs(images: Sequence[Image.Image], references: Sequence[Image.Image]) -> list[tuple]:
    check_images("fidelity", images, references=references)
    out = []
    for n, (a, b) in enumerate(zip(images, references, strict=True)):
        x, y = np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB"))
        if x.shape != y.shape:
            raise ScorerError(f"fidelity: image {n} is {x.shape[1]}x{x.shape[0]} but its "
                              f"reference is {y.shape[1]}x{y.shape[0]}; compare same-size images")
        out.append((x, y))
    return out


def psnr(images: Sequence[Image.Image], references: Sequence[Image.Image]) -> np.ndarray:
    """PSNR in dB per pair (``inf`` where identical)."""
    values = []
    for x, y in _pairs(images, references):
        mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2) / 255.0**2
        values.append(math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse))
    return np.asarray(values, dtype=np.float64)


def ssim(images: Sequence[Image.Image], references: Sequence[Image.Image]) -> np.ndarray:
    """SSIM per pair (exactly 1.0 where identical)."""
    import torch

    fn = require("torchmetrics.functional.image", "torchmetrics")
    values = []
    for x, y in _pairs(images, references):
        if np.array_equal(x, y):
            values.append(1.0)
            continue
        tx, ty = (torch.tensor(a).permute(2, 0, 1)[None].double() / 255.0 for a in (x, y))
        if min(tx.shape[-2:]) < 11:
            raise ScorerError("fidelity: SSIM needs images of at least 11x11 pixels")
        value = fn.structural_similarity_index_measure(tx, ty, data_range=1.0, reduction="none")
        values.append(float(value.reshape(-1)[0]))
    return np.asarray(values, dtype=np.float64)


def _alexnet_weights(backbone: str | os.PathLike | None) -> Path | None:
    if backbone is not None:
        return Path(backbone)
    import torch

    cached = Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_HUB_FILE
    return cached if cached.is_file() else None


def load_lpips(backbone: str | os.PathLike | None = None, device: Any = None) -> Any | None:
    """AlexNet LPIPS with local weights, or ``None`` if no backbone weights are available."""
    import torch

    path = _alexnet_weights(backbone)
    if path is None:
        return None
    lp = require("torchmetrics.functional.image.lpips", "torchmetrics")
    model = lp._LPIPS(pretrained=False, net="alex", pnet_rand=True)
    linear = Path(lp.__file__).parent / "lpips_models" / "alex.pth"
    model.load_state_dict(torch.load(linear, map_location="cpu", weights_only=True), strict=False)
    layers = {int(name): module for part in (model.net.slice1, model.net.slice2, model.net.slice3,
                                             model.net.slice4, model.net.slice5)
              for name, module in part.named_children()}
    state = read_state_dict(path)
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise ScorerError(f"{path}: no 'features.*' tensors; expected a torchvision alexnet "
                          "state dict for the LPIPS backbone")
    with torch.no_grad():
        for key, value in features.items():
            _, index, param = key.split(".")
            getattr(layers[int(index)], param).copy_(value)
    return model.to(resolve_device(device)).eval()


def _lpips_values(model: Any, pairs: list[tuple], batch_size: int) -> np.ndarray:
    import torch

    device = next(model.parameters()).device
    by_shape: dict[tuple, list[int]] = {}
    for n, (x, _) in enumerate(pairs):
        by_shape.setdefault(x.shape, []).append(n)
    out = np.empty(len(pairs), dtype=np.float64)
    with torch.no_grad():
        for indices in by_shape.values():
            for chunk in batched(indices, batch_size):
                a, b = (torch.from_numpy(np.stack([pairs[n][side] for n in chunk]))
                        .permute(0, 3, 1, 2).float().div(255).to(device) for side in (0, 1))
                out[list(chunk)] = model(a, b, normalize=True).reshape(-1).double().cpu().numpy()
    return out


def fidelity(
    images: Sequence[Image.Image],
    reference_images: Sequence[Image.Image],
    *,
    lpips: Any = None,
    batch_size: int = 16,
) -> FidelityScores:
    """PSNR, SSIM and (with an ``lpips`` model from :func:`load_lpips`) LPIPS per image pair.

    >>> scores = fidelity(cached_images, uncached_images)  # doctest: +SKIP
    >>> scores.summary()["psnr"]  # doctest: +SKIP
    31.2
    """
    pairs = _pairs(images, reference_images)
    lp = None if lpips is None else _lpips_values(lpips, pairs, batch_size)
    return FidelityScores(psnr(images, reference_images), ssim(images, reference_images), lp)


class FidelityScorer(LazyModel):
    """One fidelity measure as a :class:`~ecad.scoring.base.Scorer` (``references`` required).

    PSNR comes back capped at ``PSNR_CAP_DB`` so that means and the search stay finite.
    """

    needs_references = True

    def __init__(self, metric: str = "psnr", lpips_backbone: str | None = None,
                 device: str | None = None, batch_size: int = 16) -> None:
        if metric not in FIDELITY_METRICS:
            raise ScorerError(f"fidelity metric={metric!r}; choose one of {FIDELITY_METRICS}")
        self.name, self.metric = metric, metric
        self.higher_is_better = metric != "lpips"
        self.lpips_backbone, self.device, self.batch_size = lpips_backbone, device, batch_size

    def _load(self) -> Any:
        model = load_lpips(self.lpips_backbone, self.device)
        if model is None:
            raise ScorerError(f"lpips: no AlexNet weights; pass lpips_backbone=PATH (a torchvision "
                              f"alexnet state dict) or put {ALEXNET_HUB_FILE} in torch hub's cache")
        return model

    def score(self, images: Sequence[Image.Image], prompts: Sequence[str],
              references: Sequence[Image.Image] | None = None) -> np.ndarray:
        if references is None:
            raise ScorerError(f"{self.name}: needs reference images (the uncached schedule's "
                              "images of the same prompts and seeds)")
        check_images(self.name, images, prompts, references)
        if self.metric == "psnr":
            return np.minimum(psnr(images, references), PSNR_CAP_DB)
        if self.metric == "ssim":
            return ssim(images, references)
        return _lpips_values(self.model, _pairs(images, references), self.batch_size)
