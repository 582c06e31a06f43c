"""Load a family's pipeline from a hub id or a local directory, through one ``from_pretrained``
path; ``"tiny"`` materialises a random-weight pipeline of the real architecture on disk first."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecad.errors import ConfigError
from ecad.families.family import ModelFamily
from ecad.library_logs import apply_to_loaded

__all__ = [
    "TINY_WEIGHTS",
    "load_pipeline",
    "parse_dtype",
    "resolve_weights",
    "save_tiny_pipeline",
]

if TYPE_CHECKING:
    import torch

TINY_WEIGHTS = "tiny"
_DTYPES = ("float32", "float16", "bfloat16")


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    import torch

    if isinstance(name, torch.dtype):
        return name
    key = str(name).replace("torch.", "").lower()
    key = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "half": "float16"}.get(
        key, key
    )
    if key not in _DTYPES:
        raise ConfigError(f"dtype {name!r} is not supported; choose one of {sorted(_DTYPES)}")
    return getattr(torch, key)


def cache_dir() -> Path:
    return Path(os.environ.get("ECAD_CACHE_DIR", Path.home() / ".cache" / "ecad"))


def save_tiny_pipeline(family: ModelFamily, directory: str | os.PathLike, seed: int = 0) -> Path:
    """Build the family's tiny random-weight pipeline and ``save_pretrained`` it."""
    out = Path(directory)
    pipe = family.build_tiny_pipeline(seed=seed)
    apply_to_loaded()  # the libraries it imported: no "Writing model shards" bar
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    pipe.save_pretrained(tmp)
    try:
        os.replace(tmp, out)
    except OSError:  # another process got there first
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def resolve_weights(family: ModelFamily, weights: str | None) -> str:
    """Hub id or local directory to load; ``None`` is the family default; ``"tiny"`` is a
    random-weight pipeline written once under ``$ECAD_CACHE_DIR/tiny/``."""
    weights = weights or family.default_weights
    if weights == TINY_WEIGHTS:
        target = cache_dir() / "tiny" / family.name
        if not (target / "model_index.json").exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            save_tiny_pipeline(family, target)
        return str(target)
    return weights


def load_pipeline(
    family: ModelFamily,
    weights: str | None = None,
    *,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device = "cpu",
    text_encoders: bool = True,
    denoiser: bool = True,
) -> Any:
    """Load the family's diffusers pipeline.

    ``text_encoders=False`` skips the text encoders (generation from precomputed embeddings);
    ``denoiser=False`` skips transformer and VAE (prompt embedding only). On the CPU the default
    dtype is float32; elsewhere it is the family's.
    """
    import diffusers
    import torch

    apply_to_loaded()
    source = resolve_weights(family, weights)
    if dtype is None:
        dtype = "float32" if torch.device(device).type == "cpu" else family.default_dtype
    kwargs: dict[str, Any] = {"dtype": parse_dtype(dtype)}
    if not text_encoders:
        # the family's prompt encoders (``ecad.generation.adapters`` embeds with them)
        kwargs.update({name: None for name in family.text_components})
    if not denoiser:
        kwargs.update(vae=None, **dict.fromkeys(family.experts))  # Wan 2.2: both experts
    local = Path(source)
    if local.exists() and not (local / "model_index.json").exists():
        raise ConfigError(
            f"weights directory {source} has no model_index.json; pass a diffusers pipeline "
            "directory (save_pretrained output) or a hub id"
        )
    pipeline_cls = getattr(diffusers, family.pipeline_class)
    try:
        pipe = pipeline_cls.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load {family.name} weights from {source!r}: {exc}. Give a local directory "
            "written by save_pretrained, or a hub id reachable from here (HF_HUB_OFFLINE=1 "
            "allows only cached ids)"
        ) from exc
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe
