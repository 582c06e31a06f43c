"""The scorer protocol: images and their prompts in, one score per image out.

Every scorer is a small object that loads its model lazily, on the first call, and keeps it for
the life of the process (a worker scores many shards with one model); ``get_scorer`` in
:mod:`ecad.scoring.registry` hands out one instance per (name, options). Scores come back as a
float64 array in the order of the images. ``higher_is_better`` says which way the search should
push; ``needs_references`` marks scorers that compare each image with a reference image of the
same prompt and seed (the uncached schedule's), passed as ``references``.

Set-level metrics (FID) have no per-image score; they implement :class:`SetScorer` instead.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from PIL import Image

from ecad.scoring.errors import MissingDependencyError, ScorerError

__all__ = [
    "LazyModel",
    "Scorer",
    "SetScorer",
    "batched",
    "check_images",
    "once",
    "require",
    "resolve_device",
]

T = TypeVar("T")


@runtime_checkable
class Scorer(Protocol):
    """Per-image quality: ``score(images, prompts) -> np.ndarray`` of shape ``[len(images)]``."""

    name: str
    higher_is_better: bool
    needs_references: bool

    def score(
        self,
        images: Sequence[Image.Image],
        prompts: Sequence[str],
        references: Sequence[Image.Image] | None = None,
    ) -> np.ndarray:
        """One score per image; ``references`` only matters where ``needs_references``."""
        ...


@runtime_checkable
class SetScorer(Protocol):
    """A metric of a whole image set against a reference set (FID): one number, no per-image."""

    name: str
    higher_is_better: bool

    def score_set(self, images: Sequence[Image.Image]) -> float:
        """One value for the whole set (files may be given as paths where the scorer says so)."""
        ...


def resolve_device(device: Any = None) -> Any:
    """``None``/``"auto"`` -> the first CUDA device if there is one, else the CPU."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ScorerError(f"device={device!r} is not a torch device (cpu, cuda, cuda:1)") from exc


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    if size < 1:
        raise ScorerError(f"batch_size must be >= 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_images(
    scorer: str,
    images: Sequence[Any],
    prompts: Sequence[str] | None = None,
    references: Sequence[Any] | None = None,
) -> None:
    """Fail fast, naming the scorer, on empty or mismatched inputs."""
    if not len(images):
        raise ScorerError(f"{scorer}: no images to score")
    for n, im in enumerate(images):
        if not isinstance(im, Image.Image):
            raise ScorerError(f"{scorer}: image {n} is a {type(im).__name__}, not a PIL image")
    if prompts is not None and len(prompts) != len(images):
        raise ScorerError(f"{scorer}: {len(images)} images but {len(prompts)} prompts; give one "
                          "prompt per image (repeat a prompt for its several images)")
    if references is not None and len(references) != len(images):
        raise ScorerError(f"{scorer}: {len(images)} images but {len(references)} reference images")


def require(module: str, package: str | None = None) -> Any:
    """Import an optional dependency or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is not installed ({exc}); install the scoring extra: "
            f"pip install 'ecad-cluster[scoring]' (or pip install {package or module})"
        ) from exc


class LazyModel:
    """Mixin: ``self.model`` is built by ``self._load()`` on first use, once, thread-safely;
    ``self.lock`` serialises its use (the registry hands one instance to every thread and
    every search of a process)."""

    _loaded: Any = None
    _load_lock: threading.Lock

    def _load(self) -> Any:
        raise NotImplementedError

    @property
    def model(self) -> Any:
        if self._loaded is None:
            lock = self.__dict__.setdefault("_load_lock", threading.Lock())
            with lock:
                if self._loaded is None:
                    self._loaded = self._load()
        return self._loaded

    @property
    def lock(self) -> threading.Lock:
        return self.__dict__.setdefault("_use_lock", threading.Lock())

    @property
    def loaded(self) -> bool:
        return self._loaded is not None


def once(factory: Callable[[], T]) -> Callable[[], T]:
    """Call ``factory`` on first use only (for process-wide shims)."""
    done: list[T] = []
    lock = threading.Lock()

    def wrapper() -> T:
        with lock:
            if not done:
                done.append(factory())
        return done[0]

    return wrapper
