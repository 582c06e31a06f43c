"""What fixes a candidate's images: model weights, sampling settings, prompts and seeds.

Everything here is cheap and torch-free, so the scheduler can compute layouts and keys without
loading a model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from ecad.families import get_family
from ecad.families.loading import TINY_WEIGHTS
from ecad.prompts import PromptSet
from ecad.schedules import Schedule, ScheduleLayout
from ecad.search.spec import QualitySpec, SearchSpec

__all__ = ["EvaluationSetting", "layout_for", "weights_id"]

_CHUNK = 1 << 20


def _file_fingerprint(path: Path) -> str:
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        h.update(f.read(_CHUNK))
        if path.stat().st_size > 2 * _CHUNK:
            f.seek(-_CHUNK, 2)
            h.update(f.read(_CHUNK))
    return h.hexdigest()


@lru_cache(maxsize=64)
def weights_id(family: str, weights: str) -> str:
    """A stable id of the weights: the hub id, ``tiny:<family>``, or for a local directory a
    digest of its files (size plus first and last MiB of each, so multi-GB files hash fast)."""
    if weights == TINY_WEIGHTS:
        return f"tiny:{family}:v1"
    path = Path(weights)
    if not path.is_dir():
        return weights
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        h.update(file.relative_to(path).as_posix().encode())
        h.update(_file_fingerprint(file).encode())
    return f"local:{h.hexdigest()}"


def layout_for(spec: SearchSpec) -> ScheduleLayout:
    """The schedule layout of the spec's model, without loading it."""
    family = get_family(spec.family)
    if spec.num_blocks:
        return ScheduleLayout.for_family(family, spec.num_blocks)
    if spec.weights == TINY_WEIGHTS:
        return ScheduleLayout.for_family(family, family.tiny_blocks)
    config = Path(spec.weights) / "transformer" / "config.json"
    if config.is_file():
        cfg = json.loads(config.read_text())
        counts = {}
        for group in family.block_groups:
            counts[group.name] = int(cfg.get(group.config_key, group.num_blocks))
        return ScheduleLayout.for_family(family, counts)
    return ScheduleLayout.for_family(family)


@dataclass(frozen=True)
class EvaluationSetting:
    """The inputs that, with a schedule, determine every generated image."""

    family: str
    weights_id: str
    resolution: int
    steps: int
    guidance: float
    prompts: tuple[str, ...]
    images_per_prompt: int
    image_seed: int
    image_seed_rule: str = "ecad"
    #: Video families: frames per video, frames per second, width (``resolution`` is the
    #: height); 0, 0, None for images.
    frames: int = 0
    fps: int = 0
    width: int | None = None
    #: Two-expert families: the low-noise expert's guidance; ``None``: ``guidance`` for both.
    guidance_2: float | None = None

    @classmethod
    def from_spec(cls, spec: SearchSpec) -> EvaluationSetting:
        return cls(
            family=spec.family,
            weights_id=weights_id(spec.family, spec.weights),
            resolution=spec.resolution,
            steps=spec.steps,
            guidance=spec.guidance,
            prompts=spec.prompts.texts,
            images_per_prompt=spec.images_per_prompt,
            image_seed=spec.image_seed,
            image_seed_rule=spec.image_seed_rule,
            frames=spec.video.frames,
            fps=spec.video.fps,
            width=spec.video.width,
            guidance_2=spec.guidance_2,
        )

    @property
    def is_video(self) -> bool:
        return self.frames > 0

    @cached_property
    def prompts_digest(self) -> str:  # hashed once: every content key includes it
        return PromptSet(self.prompts).digest()

    def pairs(self) -> list[tuple[int, int]]:
        """Every (prompt index, image index), prompt-major."""
        return [(p, i) for p in range(len(self.prompts)) for i in range(self.images_per_prompt)]

    def shards(self, shard_size: int) -> list[list[tuple[int, int]]]:
        pairs = self.pairs()
        return [pairs[i : i + shard_size] for i in range(0, len(pairs), shard_size)]

    def generation_key(self, schedule: Schedule) -> str:
        """Content address of a candidate's images. Uses the *effective* schedule, so genomes
        differing only in step-0 bits (always computed) share their images; a true-TGATE
        baseline keeps its custom attention, so it never shares its boolean twin's images."""
        effective = Schedule(
            schedule.layout, schedule.effective(), custom_attention=schedule.custom_attention
        )
        payload = {
            "family": self.family,
            "weights": self.weights_id,
            "resolution": self.resolution,
            "steps": self.steps,
            "guidance": self.guidance,
            "prompts": self.prompts_digest,
            "images_per_prompt": self.images_per_prompt,
            "image_seed": self.image_seed,
            # only when not the default: earlier images keep their keys
            **({"image_seed_rule": self.image_seed_rule} if self.image_seed_rule != "ecad" else {}),
            "schedule": effective.digest(),
            **(
                {"frames": self.frames, "fps": self.fps, "width": self.width} if self.frames else {}
            ),
            **({"guidance_2": self.guidance_2} if self.guidance_2 is not None else {}),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    def embeddings_key(self) -> str:
        payload = [self.family, self.weights_id, self.prompts_digest]
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:32]


def scorer_options(quality: QualitySpec | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Spec ``quality`` section -> (registered scorer name, its options).

    ``fidelity`` takes ``metric`` (``ssim`` default, ``psnr``, ``lpips``); ``clip`` is the
    ``clip-score`` scorer; ``hv_reference`` is the search's, not the scorer's.
    """
    if isinstance(quality, QualitySpec):
        quality = quality.to_json()
    options = {k: v for k, v in quality.items() if k not in ("scorer", "metric", "hv_reference")}
    scorer = quality["scorer"]
    if scorer == "fidelity":
        return quality.get("metric", "ssim"), options
    return {"clip": "clip-score"}.get(scorer, scorer), options


# Scorer options that do not change what a score is: the batch size (float rounding only) and
# the preprocessing threads. Changing them reuses stored scores instead of scoring again.
SCORE_NEUTRAL_OPTIONS = frozenset({"batch_size", "workers"})


def evaluation_key(generation_key: str, quality: QualitySpec | Mapping[str, Any]) -> str:
    """Content address of a candidate's scores: its images plus the scorer and the options
    that change its scores."""
    name, options = scorer_options(quality)
    scoring = {k: v for k, v in options.items() if k not in SCORE_NEUTRAL_OPTIONS}
    payload = {"images": generation_key, "scorer": name, "options": scoring}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]
