"""Scorers by name, one instance per (name, options) per process.

Models load on first use and stay loaded, so a worker that scores many shards pays for loading
once. Options are the scorer class's keyword arguments (``device``, ``batch_size``, model paths).
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from typing import Any

from ecad.scoring.base import Scorer, SetScorer
from ecad.scoring.errors import MissingDependencyError, ScorerError

__all__ = ["NEEDS", "SCORERS", "check_installed", "get_scorer", "scorer_names"]

# name -> (module, class, fixed keyword arguments); modules are imported on first use only
SCORERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "image-reward": ("ecad.scoring.image_reward", "ImageRewardScorer", {}),
    "clip-score": ("ecad.scoring.clip_score", "ClipScorer", {}),
    "fid": ("ecad.scoring.fid", "FidScorer", {}),
    "psnr": ("ecad.scoring.fidelity", "FidelityScorer", {"metric": "psnr"}),
    "ssim": ("ecad.scoring.fidelity", "FidelityScorer", {"metric": "ssim"}),
    "lpips": ("ecad.scoring.fidelity", "FidelityScorer", {"metric": "lpips"}),
}

#: name -> the optional packages its scores import: (import name, pip package). Checked before a
#: search starts (:func:`check_installed`), not at its first candidate: every candidate would
#: fail on the same missing package.
NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "image-reward": (("ImageReward", "image-reward"), ("clip", "openai-clip")),
    "fid": (("torchmetrics", "torchmetrics"), ("torch_fidelity", "torch-fidelity")),
    "ssim": (("torchmetrics", "torchmetrics"),),
    "lpips": (("torchmetrics", "torchmetrics"),),
}
SCORING_EXTRA = "pip install 'ecad-cluster[scoring]'"

_instances: dict[tuple, Scorer | SetScorer] = {}
_lock = threading.Lock()


def scorer_names() -> tuple[str, ...]:
    return tuple(SCORERS)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked (sys.modules[module] is None)
        return False


def check_installed(name: str) -> None:
    """Raise :class:`MissingDependencyError` (one line naming the extra to install) when the
    scorer ``name`` needs a package that is not installed. Finds modules without importing
    them (no torch at ``ecad validate``'s start)."""
    missing = [package for module, package in NEEDS.get(name, ()) if not _installed(module)]
    if missing:
        raise MissingDependencyError(
            f"scorer {name!r} needs {', '.join(missing)}, not installed here: {SCORING_EXTRA}"
        )


def get_scorer(name: str, **options: Any) -> Scorer | SetScorer:
    """The process-wide scorer ``name`` with ``options``; options left ``None`` are dropped.

    >>> get_scorer("psnr").score(cached, prompts, references=uncached)  # doctest: +SKIP
    >>> get_scorer("image-reward", device="cuda", batch_size=64)  # doctest: +SKIP
    """
    if name not in SCORERS:
        raise ScorerError(f"unknown scorer {name!r}; choose one of {', '.join(SCORERS)}")
    options = {k: v for k, v in options.items() if v is not None}
    key = (name, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _lock:
        if key not in _instances:
            module, cls, fixed = SCORERS[name]
            factory = getattr(importlib.import_module(module), cls)
            try:
                _instances[key] = factory(**fixed, **options)
            except TypeError as exc:  # an option the scorer does not take
                raise ScorerError(f"scorer {name!r}: {exc}") from exc
        return _instances[key]
