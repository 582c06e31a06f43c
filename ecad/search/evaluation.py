"""Evaluating a candidate schedule: shards of (prompt, seed) pairs -> generate -> store images
-> score -> aggregate. The single-machine runner and the Celery workers call the same functions;
every output is content-addressed in the object store, so finished work is never redone.

Store layout (keys)::

    schedules/<schedule digest>.json           the candidate (published JSON format)
    embeddings/<embeddings key>.safetensors    prompt embeddings, computed once per model+prompts
    images/<generation key>/pNNNNN_iNNN.png    a candidate's images
    images/<generation key>/shard-NNNN.json    marker: that shard's images are all stored
    scores/<evaluation key>/shard-NNNN.json    per-image scores of one shard
    evaluations/<evaluation key>.json          the aggregate (mean quality, per prompt)
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np

from ecad.schedules import Schedule, parse_schedule, schedule_to_json
from ecad.search.setting import EvaluationSetting, evaluation_key, layout_for, scorer_options
from ecad.search.spec import SearchSpec
from ecad.store import ObjectStore

__all__ = ["Candidate", "Evaluator", "evaluation_record_key", "score_key", "shard_marker_key"]

log = logging.getLogger(__name__)


def shard_marker_key(generation_key: str, shard: int) -> str:
    return f"images/{generation_key}/shard-{shard:04d}.json"


def image_key(generation_key: str, prompt: int, image: int) -> str:
    from ecad.generation.generate import image_filename

    return f"images/{generation_key}/{image_filename(prompt, image)}"


def score_key(eval_key: str, shard: int) -> str:
    return f"scores/{eval_key}/shard-{shard:04d}.json"


def evaluation_record_key(eval_key: str) -> str:
    return f"evaluations/{eval_key}.json"


def schedule_key(digest: str) -> str:
    return f"schedules/{digest}.json"


@dataclass(frozen=True)
class Candidate:
    """A schedule with its content addresses in this search setting."""

    schedule: Schedule
    generation_key: str
    evaluation_key: str
    reference_generation_key: str | None

    @property
    def digest(self) -> str:
        return self.schedule.digest()


class Evaluator:
    """Generation and scoring for one search spec; models load lazily, once per instance.

    Everything public here is idempotent: a shard whose output exists is skipped.
    """

    def __init__(
        self,
        spec: SearchSpec,
        store: ObjectStore,
        device: str = "cpu",
        dtype: str | None = None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.device = device
        self.dtype = dtype
        self.setting = EvaluationSetting.from_spec(spec)
        self.layout = layout_for(spec)
        self.shards = self.setting.shards(spec.shard_size)
        self._lock = threading.Lock()
        # Tasks on threads share this evaluator: one generation at a time holds the pipeline
        # (schedules are hooks on its transformer); scoring holds the process-wide scorer's own
        # lock; everything else (PNG encoding, store I/O, a scoring) overlaps a generation.
        self._generating = threading.Lock()
        self._pipe: Any = None
        self._embeddings: Any = None
        self._published: set[str] = set()
        self._io = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ecad-io")

    # candidates --------------------------------------------------------------------------
    def reference_schedule(self) -> Schedule:
        return Schedule.full(self.layout, self.setting.steps, name="no-cache")

    @cached_property
    def reference_generation_key(self) -> str | None:
        """Content key of the uncached images a fidelity scorer compares with (else None)."""
        if not self.needs_references:
            return None
        return self.setting.generation_key(self.reference_schedule())

    def candidate(self, schedule: Schedule, generation_key: str | None = None) -> Candidate:
        gen = generation_key or self.setting.generation_key(schedule)
        return Candidate(schedule, gen, evaluation_key(gen, self.spec.quality),
                         self.reference_generation_key)

    def publish_schedule(self, schedule: Schedule) -> str:
        """Store the schedule so tasks can refer to it by digest; returns the digest."""
        digest = schedule.digest()
        if digest not in self._published:  # the scheduler publishes on every tick
            key = schedule_key(digest)
            if not self.store.exists(key):
                self.store.put(key, json.dumps(schedule_to_json(schedule)).encode())
            self._published.add(digest)
        return digest

    def load_schedule(self, digest: str) -> Schedule:
        data = self.store.get_json(schedule_key(digest))
        return parse_schedule(data, family=self.spec.family, source=schedule_key(digest))

    # lazily loaded models ------------------------------------------------------------------
    @property
    def needs_references(self) -> bool:
        return self.spec.quality.scorer == "fidelity"

    def _family(self):
        from ecad.families import get_family

        return get_family(self.spec.family)

    def embeddings(self):
        from ecad.generation import PromptEmbeddings, embed_prompts

        with self._lock:
            if self._embeddings is not None:
                return self._embeddings
            key = f"embeddings/{self.setting.embeddings_key()}.safetensors"
            if not self.store.exists(key):
                from ecad.families.loading import load_pipeline

                encoder = load_pipeline(
                    self._family(),
                    self.spec.weights,
                    device=self.device,
                    dtype=self.dtype,
                    denoiser=False,
                )
                emb = embed_prompts(
                    encoder, self._family(), self.setting.prompts, self.setting.weights_id
                )
                del encoder
                self.store.put(key, emb.to_bytes())
            self._embeddings = PromptEmbeddings.from_bytes(
                self.store.get(key), self._family(), source=key
            )
            return self._embeddings

    def pipeline(self):
        from ecad.families.loading import load_pipeline

        with self._lock:
            if self._pipe is None:
                self._pipe = load_pipeline(
                    self._family(),
                    self.spec.weights,
                    device=self.device,
                    dtype=self.dtype,
                    text_encoders=False,
                )
            return self._pipe

    def scorer(self):
        from ecad.scoring import get_scorer  # one instance per (scorer, options) per process

        name, options = scorer_options(self.spec.quality)
        return get_scorer(name, device=self.device, **options)

    # work ----------------------------------------------------------------------------------
    def generate_shard(self, schedule: Schedule, shard: int, score: bool = False) -> bool:
        """Generate and store one shard's images. Returns False if it was already stored.

        ``score=True`` also scores the fresh images in memory (no PNG round trip) while they are
        encoded and stored, when the scorer's reference images are already stored; the score
        shard is written after the images, so stored scores always have stored images.
        """
        from ecad.generation import GenerationSettings, generate_images

        gen_key = self.setting.generation_key(schedule)
        marker = shard_marker_key(gen_key, shard)
        if self.store.exists(marker):
            return False
        pairs = self.shards[shard]
        settings = GenerationSettings(
            height=self.setting.resolution,
            width=self.setting.resolution,
            steps=self.setting.steps,
            guidance=self.setting.guidance,
            seed=self.setting.image_seed,
            batch_size=self.spec.batch_size,
            seed_rule=self.setting.image_seed_rule,
        )
        # PNG encoding and store writes run on a thread pool (zlib and socket I/O release the
        # GIL) while the GPU works on the next batch; the marker is written after all of them.
        images = []
        futures = []
        pipe, embeddings = self.pipeline(), self.embeddings()
        times = [time.perf_counter()]
        with self._generating:
            times.append(time.perf_counter())
            for image in generate_images(
                pipe, self._family(), embeddings, settings, schedule, pairs=pairs
            ):
                images.append(image.image)
                futures.append(self._io.submit(self._put_image, gen_key, image))
        times.append(time.perf_counter())
        record = None
        candidate = self.candidate(schedule, gen_key) if score else None
        if candidate is not None and (
            candidate.reference_generation_key is None
            or self.images_done(candidate.reference_generation_key, shard)
        ):
            record = self._score_record(candidate, shard, images)  # GPU, while PNGs encode
        times.append(time.perf_counter())
        files = [f.result() for f in futures]
        self.store.put_json(marker, {"schedule": schedule.digest(), "images": files})
        if record is not None:
            self.store.put_json(score_key(candidate.evaluation_key, shard), record)
        times.append(time.perf_counter())
        waited, generated, scored, stored = (b - a for a, b in pairwise(times))
        log.info(
            "shard %d of %s: waited %.2fs for the pipeline, generated %d images in %.2fs, "
            "scored in %.2fs, stored %.2fs later",
            shard, schedule.digest()[:12], waited, len(images), generated, scored, stored,
        )
        return True

    def _put_image(self, gen_key: str, image: Any) -> dict[str, Any]:
        from ecad.generation.output import png_bytes

        key = image_key(gen_key, image.prompt_index, image.image_index)
        self.store.put(key, png_bytes(image.image))
        return {"key": key, "prompt": image.prompt_index, "image": image.image_index,
                "seed": image.seed}

    def _images(self, gen_key: str, pairs: list[tuple[int, int]]) -> list[Any]:
        return list(self._io.map(lambda pair: self._get_image(gen_key, *pair), pairs))

    def _get_image(self, gen_key: str, prompt: int, image: int) -> Any:
        from PIL import Image

        img = Image.open(io.BytesIO(self.store.get(image_key(gen_key, prompt, image))))
        img.load()
        return img.convert("RGB")

    def score_shard(self, candidate: Candidate, shard: int) -> bool:
        """Score one shard (its images, and references, must be stored). False if done before."""
        key = score_key(candidate.evaluation_key, shard)
        if self.store.exists(key):
            return False
        images = self._images(candidate.generation_key, self.shards[shard])
        self.store.put_json(key, self._score_record(candidate, shard, images))
        return True

    def _score_record(self, candidate: Candidate, shard: int, images: list[Any]) -> dict:
        pairs = self.shards[shard]
        refs = None
        if candidate.reference_generation_key is not None:
            refs = self._images(candidate.reference_generation_key, pairs)
        prompts = [self.setting.prompts[p] for p, _ in pairs]
        scorer = self.scorer()
        with scorer.lock:
            scores = np.asarray(scorer.score(images, prompts, references=refs), dtype=np.float64)
        return {
            "pairs": [list(pr) for pr in pairs],
            "scores": [_finite_or_str(s) for s in scores],
            "higher_is_better": bool(getattr(scorer, "higher_is_better", True)),
        }

    def shard_done(self, candidate: Candidate, shard: int) -> bool:
        return self.store.exists(score_key(candidate.evaluation_key, shard))

    def images_done(self, generation_key: str, shard: int) -> bool:
        return self.store.exists(shard_marker_key(generation_key, shard))

    def aggregate(self, candidate: Candidate) -> dict[str, Any]:
        """Combine the shard scores into the evaluation record (written once)."""
        key = evaluation_record_key(candidate.evaluation_key)
        if self.store.exists(key):
            return self.store.get_json(key)
        per_image: dict[str, float] = {}
        higher = True
        for shard in range(len(self.shards)):
            data = self.store.get_json(score_key(candidate.evaluation_key, shard))
            higher = data["higher_is_better"]
            for (p, i), s in zip(data["pairs"], data["scores"]):
                per_image[f"{p}:{i}"] = float(s)
        values = np.array(list(per_image.values()))
        quality = float(np.mean(values if higher else -values))
        by_prompt: dict[int, list[float]] = {}
        for name, s in per_image.items():
            by_prompt.setdefault(int(name.split(":")[0]), []).append(s)
        record = {
            "schedule": candidate.digest,
            "generation_key": candidate.generation_key,
            "quality": quality,
            "quality_spec": self.spec.quality.to_json(),
            "higher_is_better": higher,
            "num_images": len(per_image),
            "per_prompt": {str(p): float(np.mean(v)) for p, v in sorted(by_prompt.items())},
        }
        self.store.put_json(key, record)
        return record

    def evaluate_locally(self, candidate: Candidate) -> tuple[dict[str, Any], bool]:
        """Run whatever is missing for ``candidate`` in this process. Returns (record, cached)."""
        key = evaluation_record_key(candidate.evaluation_key)
        if self.store.exists(key):
            return self.store.get_json(key), True
        if candidate.reference_generation_key is not None:
            for shard in range(len(self.shards)):
                self.generate_shard(self.reference_schedule(), shard)
        for shard in range(len(self.shards)):
            self.generate_shard(candidate.schedule, shard, score=True)
            self.score_shard(candidate, shard)
        return self.aggregate(candidate), False


def _finite_or_str(value: float) -> float | str:
    # JSON has no inf/nan; PSNR of identical images is inf.
    return float(value) if np.isfinite(value) else str(value)
