"""Running shard work with models: generate a shard's images into the store, score them.

The torch-free side (keys, shards, task messages, aggregation) is
:class:`ecad.search.plan.SearchPlan`; this class adds the pipeline, the prompt embeddings and
the scorer, loaded lazily once per instance. The in-process executor and the Celery workers call
the same :meth:`Evaluator.run`; every output is content-addressed in the store (see
:mod:`ecad.store.keys`), so finished work is never redone.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import numpy as np

from ecad.errors import ConfigError, EcadError
from ecad.schedules import Schedule
from ecad.search.candidate import Candidate
from ecad.search.plan import SearchPlan, ShardResult, ShardWork
from ecad.search.scores import ScoreRecord
from ecad.search.setting import scorer_options
from ecad.search.spec import SearchSpec
from ecad.store import MissingObjectError, ObjectStore
from ecad.store.keys import IMAGES_TASK, embeddings_key, image_key
from ecad.store.records import RecordError, StoreObjectError, read_record

__all__ = ["CorruptShard", "Evaluator"]

log = logging.getLogger(__name__)


class CorruptShard(EcadError):
    """A stored shard's marker or one of its images is unreadable or not what was written."""

    def __init__(self, generation_key: str, shard: int, problem: str) -> None:
        super().__init__(f"images of shard {shard} of {generation_key}: {problem}")
        self.generation_key = generation_key
        self.shard = shard


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
        plan: SearchPlan | None = None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.device = device
        self.dtype = dtype
        self.plan = plan or SearchPlan(spec)
        self.setting = self.plan.setting
        self.shards = self.plan.shards
        self._lock = threading.Lock()
        # Tasks on threads share this evaluator: one generation at a time holds the pipeline
        # (schedules are hooks on its transformer); scoring holds the process-wide scorer's own
        # lock; everything else (PNG encoding, store I/O, a scoring) overlaps a generation.
        self._generating = threading.Lock()
        self._pipe: Any = None
        self._embeddings: Any = None
        self._io = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ecad-io")
        #: Level of the per-shard timing line: DEBUG (``ecad search``); workers log it at INFO.
        self.shard_log_level = logging.DEBUG

    def run(self, work: ShardWork) -> ShardResult:
        """Do one shard of work: reference images, or a candidate's images then scores (its
        shard's reference images are generated first if they are missing).

        Stored images are checked against the digests their shard marker lists: a shard whose
        marker or images are unreadable (truncated, garbage) is deleted and generated again,
        once; if that fails too, the error stands (the task fails)."""
        try:
            return self._run(work)
        except CorruptShard as exc:
            log.warning("%s; deleting the shard's images to generate them again", exc)
            self._discard(exc.generation_key, exc.shard)
            return self._run(work)

    def _discard(self, gen_key: str, shard: int) -> None:
        """Delete a shard's marker and images (marker first: the shard then reads as missing)."""
        self.store.delete(self.plan.marker_key(gen_key, shard))
        for prompt, image in self.shards[shard]:
            self.store.delete(image_key(gen_key, prompt, image, video=self.setting.is_video))

    def _run(self, work: ShardWork) -> ShardResult:
        started = time.perf_counter()
        cand, shard = work.candidate, work.shard
        if work.kind == IMAGES_TASK:
            images = self.generate_shard(cand.schedule, cand.generation_key, shard)
            return ShardResult(images, None, time.perf_counter() - started)
        if self.store.exists(self.plan.score_key(cand.evaluation_key, shard)):
            return ShardResult(0, None, 0.0)
        ref = self.plan.reference
        if ref is not None:
            self.generate_shard(ref.schedule, ref.generation_key, shard)
        holder: list[ScoreRecord] = []
        images = self.generate_shard(cand.schedule, cand.generation_key, shard, holder, cand)
        scores = holder[0] if holder else self.score_shard(cand, shard)
        return ShardResult(images, scores, time.perf_counter() - started)

    # lazily loaded models ------------------------------------------------------------------
    def _family(self):
        from ecad.families import get_family

        return get_family(self.spec.family)

    def embeddings(self):
        from ecad.generation import PromptEmbeddings, embed_prompts

        with self._lock:
            if self._embeddings is not None:
                return self._embeddings
            key = embeddings_key(self.setting.embeddings_key())
            if self.store.exists(key):
                try:
                    self._embeddings = PromptEmbeddings.from_bytes(
                        self.store.get(key), self._family(), source=key
                    )
                    return self._embeddings
                except ConfigError as exc:  # derived: computed again below
                    log.warning("deleting unreadable prompt embeddings to redo them: %s", exc)
                    self.store.delete(key)
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
    def generate_shard(
        self,
        schedule: Schedule,
        gen_key: str,
        shard: int,
        scored: list[ScoreRecord] | None = None,
        candidate: Candidate | None = None,
    ) -> int:
        """Generate and store one shard's images; returns how many (0: already stored).

        With ``candidate`` and ``scored``, the fresh images are also scored in memory (no PNG
        round trip) while they are encoded and stored, and the score record is appended to
        ``scored``; the score shard is written after the images, so stored scores always have
        stored images.
        """
        from ecad.generation import generate_images

        marker = self.plan.marker_key(gen_key, shard)
        if self.store.exists(marker):
            return 0
        pairs = self.shards[shard]
        settings = self._settings()
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
        if candidate is not None and scored is not None:
            record = self._score_record(shard, images)  # GPU, while PNGs encode
        times.append(time.perf_counter())
        files = [f.result() for f in futures]
        self.store.put_json(marker, {"schedule": schedule.digest(), "images": files})
        if record is not None and candidate is not None and scored is not None:
            self.store.put_json(
                self.plan.score_key(candidate.evaluation_key, shard), record.to_json()
            )
            scored.append(record)
        times.append(time.perf_counter())
        waited, generated, scoring, stored = (b - a for a, b in pairwise(times))
        log.log(
            self.shard_log_level,
            "shard %d of %s: waited %.2fs for the pipeline, generated %d images in %.2fs, "
            "scored in %.2fs, stored %.2fs later",
            shard, gen_key[:12], waited, len(images), generated, scoring, stored,
        )
        return len(images)

    def _settings(self) -> Any:
        """The sampling settings of every image of the search."""
        from ecad.generation import GenerationSettings

        return GenerationSettings(
            height=self.setting.resolution,
            width=self.setting.width or self.setting.resolution,
            frames=self.setting.frames,
            steps=self.setting.steps,
            guidance=self.setting.guidance,
            guidance_2=self.setting.guidance_2,
            seed=self.setting.image_seed,
            batch_size=self.spec.batch_size,
            seed_rule=self.setting.image_seed_rule,
        )

    def _put_image(self, gen_key: str, image: Any) -> dict[str, Any]:
        from ecad.generation.output import png_bytes

        video = self.setting.is_video
        key = image_key(gen_key, image.prompt_index, image.image_index, video=video)
        if video:  # one object per video, exact frames (ecad.videofile)
            from ecad.videofile import lossless_mp4

            data = lossless_mp4(image.image, self.setting.fps)
        else:
            data = png_bytes(image.image)
        self.store.put(key, data)
        return {"key": key, "prompt": image.prompt_index, "image": image.image_index,
                "seed": image.seed, "sha256": hashlib.sha256(data).hexdigest()}

    def _images(self, gen_key: str, shard: int) -> list[Any]:
        """The shard's stored images, each checked against its marker's digest; raises
        :class:`CorruptShard` for a missing or unreadable marker or image."""
        marker = self.plan.marker_key(gen_key, shard)
        try:
            listed = read_record(self.store, marker, _marker_digests)
        except (StoreObjectError, MissingObjectError) as exc:
            raise CorruptShard(gen_key, shard, f"marker {exc}") from exc
        pairs = self.shards[shard]
        return list(self._io.map(
            lambda pair: self._get_image(gen_key, shard, listed, *pair), pairs
        ))

    def _get_image(
        self, gen_key: str, shard: int, digests: dict[str, str | None], prompt: int, image: int
    ) -> Any:
        from PIL import Image

        key = image_key(gen_key, prompt, image, video=self.setting.is_video)
        try:
            data = self.store.get(key)
        except MissingObjectError as exc:
            raise CorruptShard(gen_key, shard, f"{key} is missing") from exc
        expected = digests.get(key)
        if expected is not None and hashlib.sha256(data).hexdigest() != expected:
            raise CorruptShard(gen_key, shard, f"{key}: content does not match its sha256 "
                               "(truncated or overwritten)")
        if self.setting.is_video:
            from ecad.videofile import decode_video

            try:
                return decode_video(data)
            except ValueError as exc:
                raise CorruptShard(gen_key, shard, f"{key}: {exc}") from exc
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
            return img.convert("RGB")
        except (OSError, ValueError, SyntaxError) as exc:  # PIL's ways of saying "not a PNG"
            raise CorruptShard(gen_key, shard, f"{key}: not a readable image ({exc})") from exc

    def score_shard(self, candidate: Candidate, shard: int) -> ScoreRecord | None:
        """Score one shard from its stored images (and references); None if scored before."""
        key = self.plan.score_key(candidate.evaluation_key, shard)
        if self.store.exists(key):
            return None
        images = self._images(candidate.generation_key, shard)
        record = self._score_record(shard, images)
        self.store.put_json(key, record.to_json())
        return record

    def _score_record(self, shard: int, images: list[Any]) -> ScoreRecord:
        pairs = self.shards[shard]
        refs = None
        if self.plan.reference is not None:
            refs = self._images(self.plan.reference.generation_key, shard)
        prompts = [self.setting.prompts[p] for p, _ in pairs]
        scorer = self.scorer()
        with scorer.lock:
            if self.setting.is_video:  # per frame, averaged per video (ecad.scoring.video)
                from ecad.scoring.video import score_videos

                scores = score_videos(scorer, images, prompts, refs)
            else:
                scores = np.asarray(scorer.score(images, prompts, references=refs), np.float64)
        record = ScoreRecord(
            pairs=tuple((p, i) for p, i in pairs),
            scores=tuple(float(s) for s in scores),
            higher_is_better=bool(getattr(scorer, "higher_is_better", True)),
        )
        try:  # a value the search must not be told is never stored: the task fails instead
            self.plan.check_scores(record, shard)
        except RecordError as exc:
            raise EcadError(f"scorer {self.plan.scorer} gave shard {shard} scores that are no "
                            f"scores of it ({exc}); nothing stored") from exc
        return record


def _marker_digests(data: Any) -> dict[str, str | None]:
    """A shard marker, checked: image key -> sha256 (None for markers written before digests)."""
    images = data["images"]
    if not isinstance(images, list):
        raise RecordError("images: must be a list")
    out: dict[str, str | None] = {}
    for entry in images:
        key, digest = entry["key"], entry.get("sha256")
        if not isinstance(key, str) or not (digest is None or isinstance(digest, str)):
            raise RecordError(f"images: {entry!r:.60} is not a key with its sha256")
        out[key] = digest
    return out

