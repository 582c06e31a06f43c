"""Model weights before work: which weights a spec or family needs, and fetching them once.

``ecad weights fetch SPEC|FAMILY`` and ``ecad worker --warm`` name their models the same way:
a model family (``pixart-alpha``), a family with weights (``pixart-alpha:/models/pixart`` or
``flux-dev:black-forest-labs/FLUX.1-dev``), or a search spec (a YAML file or a shipped spec
name), whose ``family``/``weights``/``resolution`` fields are read. Hub weights are fetched with
huggingface_hub's ``snapshot_download`` into the hub cache (``HF_HOME``) or a local directory;
the hub library itself reads ``HF_TOKEN`` for gated repositories and ``HF_HUB_OFFLINE`` to stay
within the cache.
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ecad.errors import ConfigError
from ecad.families import ModelFamily, get_family
from ecad.families.loading import TINY_WEIGHTS, resolve_weights

log = logging.getLogger(__name__)

__all__ = ["WeightsError", "WeightsTarget", "fetch_weights", "pipeline_files", "warm_names",
           "weights_target"]

# Files diffusers never reads when safetensors (or the plain, non-variant file) sit beside them.
_PICKLED = (".bin", ".pt", ".pth", ".ckpt")
_OTHER_FRAMEWORKS = (".onnx", ".msgpack", ".h5", ".ot", ".tflite", ".mlmodel")
_VARIANTS = (".fp16.", ".bf16.", ".fp32.")


class WeightsError(ConfigError):
    """Model weights could not be fetched or loaded (missing, gated, offline, corrupt)."""


@dataclass(frozen=True)
class WeightsTarget:
    family: ModelFamily
    weights: str  # hub id, local directory or "tiny"
    resolution: int
    source: str  # what the user named

    def __str__(self) -> str:
        return f"{self.family.name} weights {self.weights}"

    @property
    def is_local(self) -> bool:
        return self.weights == TINY_WEIGHTS or Path(self.weights).exists()


def warm_names() -> list[str]:
    """``ECAD_WORKER_WARM``: the models workers warm and ``ecad weights fetch`` fetches."""
    return [n.strip() for n in os.environ.get("ECAD_WORKER_WARM", "").split(",") if n.strip()]


def _from_spec(path: Path, name: str) -> WeightsTarget:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read spec ({exc})") from exc
    if not isinstance(raw, dict) or "family" not in raw:
        raise ConfigError(f"{path}: a search spec with a 'family' field is needed")
    family = get_family(str(raw["family"]), base_dir=path.parent)  # a record file: as the spec
    weights = str(raw.get("weights") or family.default_weights)
    local = path.parent / os.path.expanduser(weights)
    if weights != TINY_WEIGHTS and local.exists():
        weights = str(local.resolve())
    resolution = int(raw.get("resolution") or family.default_resolution)
    return WeightsTarget(family, weights, resolution, name)


def weights_target(name: str) -> WeightsTarget:
    """``FAMILY``, ``FAMILY:WEIGHTS``, a spec file or a shipped spec name."""
    from ecad.resources import find_spec

    family_name, sep, weights = name.partition(":")
    try:
        family = get_family(family_name)
    except ConfigError:
        family = None
    if family is not None:
        return WeightsTarget(family, weights if sep else family.default_weights,
                             family.default_resolution, name)
    spec = find_spec(name)
    if spec is None:
        from ecad.families import family_names
        from ecad.resources import shipped

        raise ConfigError(
            f"{name!r} is neither a model family ({', '.join(family_names())}, optionally "
            f"FAMILY:WEIGHTS), a spec file, nor a shipped spec ({', '.join(shipped('specs'))})")
    return _from_spec(spec, name)


def pipeline_files(files: Iterable[str]) -> list[str]:
    """The files of a diffusers repository that loading the pipeline reads: per folder,
    safetensors over pickled weights, plain files over dtype variants, no other frameworks."""
    files = list(files)

    def folder(f: str) -> str:
        return posixpath.dirname(f)

    weights = [f for f in files if f.endswith((".safetensors", *_PICKLED))]
    has_safetensors = {folder(f) for f in weights if f.endswith(".safetensors")}
    has_plain = {folder(f) for f in weights if not any(v in f for v in _VARIANTS)}
    keep = []
    for f in files:
        if f.endswith(_OTHER_FRAMEWORKS):
            continue
        if f.endswith(_PICKLED) and folder(f) in has_safetensors:
            continue
        if f in weights and any(v in f for v in _VARIANTS) and folder(f) in has_plain:
            continue
        keep.append(f)
    return keep


def fetch_weights(target: WeightsTarget, local_dir: str | None = None) -> Path:
    """Make ``target``'s weights available here and return their directory.

    ``tiny`` is built once under ``$ECAD_CACHE_DIR``; a local directory is checked; a hub id is
    downloaded (only the files the pipeline loads) into the hub cache or ``local_dir``. With
    ``HF_HUB_OFFLINE=1`` the hub cache must already hold it.
    """
    if target.weights == TINY_WEIGHTS:
        return Path(resolve_weights(target.family, TINY_WEIGHTS))
    local = Path(target.weights)
    if local.exists():
        if not (local / "model_index.json").is_file():
            raise WeightsError(f"{local}: not a diffusers pipeline directory (no "
                               "model_index.json); give a save_pretrained directory or a hub id")
        return local
    return _download(target, local_dir)


def _download(target: WeightsTarget, local_dir: str | None) -> Path:
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub import constants as hub
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    repo = target.weights
    try:
        allow = None
        if not hub.HF_HUB_OFFLINE:
            allow = pipeline_files(HfApi().list_repo_files(repo))
        path = snapshot_download(repo, local_dir=local_dir, allow_patterns=allow,
                                 local_files_only=bool(hub.HF_HUB_OFFLINE))
    except GatedRepoError as exc:
        raise WeightsError(f"{repo} is gated: accept its licence on huggingface.co and set "
                           f"HF_TOKEN to a token of that account ({exc})") from exc
    except RepositoryNotFoundError as exc:
        raise WeightsError(f"{repo}: no such hub repository, or it is private and HF_TOKEN "
                           f"is unset or lacks access ({exc})") from exc
    except LocalEntryNotFoundError as exc:
        where = local_dir or hub.HF_HUB_CACHE
        raise WeightsError(
            f"{repo} is not in the cache at {where} and downloads are off "
            f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r} or no network): fetch it "
            "where the hub is reachable (HF_HUB_OFFLINE=0 ecad weights fetch ...), or mount a "
            "cache or directory that holds it") from exc
    except (HfHubHTTPError, OSError) as exc:
        raise WeightsError(f"{repo}: download failed ({exc}); check the network and "
                           "HF_TOKEN") from exc
    log.info("%s: weights in %s", repo, path)
    return Path(path)
