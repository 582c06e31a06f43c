"""What evaluating a search's candidates takes, without models: candidates and their keys,
shards, task messages, publishing and aggregation. Torch-free: the scheduler, which holds no
models, uses this; :class:`ecad.search.evaluation.Evaluator` adds the models on top."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ecad.errors import EcadError
from ecad.schedules import Schedule, ScheduleLayout, schedule_to_json
from ecad.search.candidate import Candidate
from ecad.search.nsga import pack_genomes, unpack_genomes
from ecad.search.objectives import constraint
from ecad.search.records import EvaluationRecord
from ecad.search.score_scales import SCORE_SCALES
from ecad.search.scores import ScoreRecord
from ecad.search.setting import EvaluationSetting, evaluation_key, layout_for, scorer_options
from ecad.search.spec import SearchSpec
from ecad.search.stratified import stratified_shards
from ecad.search.task import ShardTask, shard_task_key
from ecad.store import ObjectStore
from ecad.store.keys import (
    SHARD_TASK,
    evaluation_record_key,
    schedule_key,
    score_key,
    shard_marker_key,
    sharding_id,
    task_key,
)
from ecad.store.records import RecordError, StoreObjectError, read_record

if TYPE_CHECKING:
    from ecad.cost import CostTable

__all__ = ["SearchPlan", "ShardResult", "ShardWork", "StaleShards"]

log = logging.getLogger(__name__)


class StaleShards(EcadError):
    """Score records of a candidate were unreadable; they were deleted and need redoing."""

    def __init__(self, evaluation_key: str, shards: list[int], problem: str) -> None:
        super().__init__(f"{evaluation_key}: shards {shards} to redo ({problem})")
        self.shards = shards


@dataclass(frozen=True)
class ShardWork:
    """One shard of work for an executor: a candidate's images and scores (``shard``), or the
    reference images a fidelity scorer compares with (``images``)."""

    kind: str
    candidate: Candidate
    shard: int
    sharding: str  # the search's sharding id (SearchPlan.sharding)

    @property
    def task_key(self) -> str:
        cand = self.candidate
        return shard_task_key(
            self.kind, cand.generation_key, cand.evaluation_key, self.shard, self.sharding
        )


@dataclass(frozen=True)
class ShardResult:
    """What running one shard did: images generated now, the score record if scored now, and
    ``failed`` (the reason) if the work was given up on."""

    images: int
    scores: ScoreRecord | None
    seconds: float
    failed: str | None = None


class SearchPlan:
    """The evaluation side of one search spec, computed once per process."""

    def __init__(
        self,
        spec: SearchSpec,
        table: CostTable | None = None,
        layout: ScheduleLayout | None = None,
    ) -> None:
        """``table``: the search's cost model (candidates then carry their relative cost);
        ``layout``: the spec's schedule layout if already resolved."""
        self.spec = spec
        self.table = table
        self.search_id = spec.search_id()
        self.setting = EvaluationSetting.from_spec(spec)
        self.layout = layout or layout_for(spec)
        self.pruning = spec.pruning
        # Pruning stops a candidate after a prefix of its shards, so its shards must be
        # stratified (each prefix a fair sample); unpruned searches keep prompt-major shards.
        # The sharding id is in every per-shard key, so the two never share shard files.
        self.sharding = sharding_id(self.pruning.enabled, spec.shard_size)
        if self.pruning.enabled:
            self.shards = stratified_shards(
                len(self.setting.prompts), spec.images_per_prompt, spec.shard_size
            )
        else:
            self.shards = self.setting.shards(spec.shard_size)
        self.images_total = sum(len(s) for s in self.shards)
        self.n_var = spec.steps * self.layout.num_slots
        self._decode = lru_cache(maxsize=4096)(self._decode_uncached)
        self._keys_of = lru_cache(maxsize=4096)(self._keys_uncached)

    # candidates ------------------------------------------------------------------------------
    def candidate(
        self, index: int, schedule: Schedule, genome: str | None = None
    ) -> Candidate:
        """Build a candidate from its schedule: genome, digest, keys, constraint and (with a
        cost model) relative cost, once. ``genome``: its packed hex form, if already known."""
        gen_key = self.setting.generation_key(schedule)
        return Candidate(
            index=index,
            genome=genome if genome is not None else pack_genomes([schedule.genome()])[0],
            schedule=schedule,
            digest=schedule.digest(),
            generation_key=gen_key,
            evaluation_key=evaluation_key(gen_key, self.spec.quality),
            constraint=constraint(schedule, self.spec.min_diff, self.spec.min_diff_counts),
            relative_cost=None if self.table is None else self.table.relative_cost(schedule),
        )

    def candidates(
        self, genomes: Sequence[str], generation: int, X: np.ndarray | None = None
    ) -> list[Candidate]:
        """The generation's candidates from their packed genomes (``X``: the same as boolean
        rows, if already unpacked)."""
        prefix = f"{self.spec.name}_gen_{generation:03d}_cand_"
        X = unpack_genomes(list(genomes), self.n_var) if X is None else X
        return [
            self.candidate(i, self.schedule_of(row, f"{prefix}{i:03d}"), g)
            for i, (g, row) in enumerate(zip(genomes, X))
        ]

    def schedule_of(self, genome: np.ndarray, name: str) -> Schedule:
        """The schedule of a boolean genome row of this search."""
        return Schedule.from_genome(self.layout, self.spec.steps, genome, name=name)

    @property
    def needs_references(self) -> bool:
        return self.spec.quality.scorer == "fidelity"

    @cached_property
    def reference(self) -> Candidate | None:
        """The uncached schedule whose images a fidelity scorer compares with (else None)."""
        if not self.needs_references:
            return None
        return self.candidate(-1, Schedule.full(self.layout, self.spec.steps, name="no-cache"))

    # task messages ---------------------------------------------------------------------------
    def task(self, work: ShardWork, store_id: str | None = None) -> ShardTask:
        """The message for ``work``; ``store_id``: the store's identity (workers check it)."""
        cand = work.candidate
        return ShardTask(
            search_id=self.search_id,
            kind=work.kind,
            shard=work.shard,
            shards=len(self.shards),
            genome=cand.genome,
            genome_bits=self.n_var,
            generation_key=cand.generation_key,
            evaluation_key=cand.evaluation_key if work.kind == SHARD_TASK else None,
            sharding=self.sharding,
            store_id=store_id,
        )

    def _decode_uncached(self, genome: str) -> Schedule:
        row = unpack_genomes([genome], self.n_var)[0]
        return self.schedule_of(row, f"{self.spec.name}_task")

    def _keys_uncached(self, genome: str) -> tuple[str, str]:
        gen_key = self.setting.generation_key(self._decode(genome))
        return gen_key, evaluation_key(gen_key, self.spec.quality)

    def work(self, task: ShardTask) -> ShardWork:
        """The work a validated task message names. The genome is decoded and its keys derived
        once per genome (a worker sees each candidate's genome once per shard); the message's
        keys are checked against them by comparison: a mismatch is refused, not written."""
        if task.search_id != self.search_id or task.genome_bits != self.n_var:
            raise RecordError(
                f"task for {task.search_id} ({task.genome_bits} bits) does not fit search "
                f"{self.search_id} ({self.n_var} bits)"
            )
        if task.shards != len(self.shards) or task.sharding != self.sharding:
            raise RecordError(
                f"shards: the search has {len(self.shards)} in sharding {self.sharding}, "
                f"not {task.shards} in {task.sharding}"
            )
        schedule = self._decode(task.genome)
        gen_key, eval_key = self._keys_of(task.genome)  # derived once per genome
        expected = eval_key if task.kind == SHARD_TASK else None
        if gen_key != task.generation_key or task.evaluation_key != expected:
            raise RecordError("the task's keys do not match its genome")
        cand = Candidate(
            index=0,
            genome=task.genome,
            schedule=schedule,
            digest=schedule.digest(),
            generation_key=gen_key,
            evaluation_key=eval_key,
        )
        return ShardWork(task.kind, cand, task.shard, self.sharding)

    def work_for(self, kind: str, candidate: Candidate, shard: int) -> ShardWork:
        return ShardWork(kind, candidate, shard, self.sharding)

    def score_key(self, evaluation_key: str, shard: int) -> str:
        return score_key(evaluation_key, shard, sharding=self.sharding)

    def marker_key(self, generation_key: str, shard: int) -> str:
        return shard_marker_key(generation_key, shard, sharding=self.sharding)

    def task_key(self, kind: str, output_key: str, shard: int) -> str:
        """The task key of a shard of work, by the key of its output (:func:`shard_task_key`
        by the candidate's keys)."""
        return task_key(kind, output_key, shard, sharding=self.sharding)

    # store side ------------------------------------------------------------------------------
    def publish(self, store: ObjectStore, candidate: Candidate) -> None:
        """Write the candidate in the published format, once (for export and for humans)."""
        key = schedule_key(candidate.digest)
        if not store.exists(key):
            store.put(key, json.dumps(schedule_to_json(candidate.schedule)).encode())

    def aggregate(
        self,
        store: ObjectStore,
        candidate: Candidate,
        known: Mapping[int, ScoreRecord] | None = None,
    ) -> EvaluationRecord:
        """Combine the shard scores into the evaluation record and store it. ``known`` holds
        score records already in memory (by shard); the others are read from the store."""
        per_image: dict[str, float] = {}
        higher = True
        stale: list[int] = []
        problem = ""
        for shard, pairs in enumerate(self.shards):
            data = (known or {}).get(shard)
            if data is not None:
                try:
                    self.check_scores(data, shard)
                except RecordError:
                    data = None  # read what was stored instead: checked (and healed) there
            if data is None:
                key = self.score_key(candidate.evaluation_key, shard)
                try:
                    data = read_record(store, key, functools.partial(
                        ScoreRecord.parse, size=len(pairs), scorer=self.scorer))
                except StoreObjectError as exc:  # derived: delete it, the shard is redone
                    log.warning("deleting an unreadable score record to redo it: %s", exc)
                    store.delete(key)
                    stale.append(shard)
                    problem = str(exc)
                    continue
            higher = data.higher_is_better
            for (p, i), s in zip(data.pairs, data.scores):
                per_image[f"{p}:{i}"] = float(s)
        if stale:
            raise StaleShards(candidate.evaluation_key, stale, problem)
        values = np.array(list(per_image.values()))
        by_prompt: dict[int, list[float]] = {}
        for name, s in per_image.items():
            by_prompt.setdefault(int(name.split(":")[0]), []).append(s)
        record = EvaluationRecord(
            schedule=candidate.digest,
            generation_key=candidate.generation_key,
            quality=float(np.mean(values if higher else -values)),
            quality_spec=self.spec.quality.to_json(),
            higher_is_better=higher,
            num_images=len(per_image),
            per_prompt={str(p): float(np.mean(v)) for p, v in sorted(by_prompt.items())},
        )
        store.put_json(evaluation_record_key(candidate.evaluation_key), record.to_json())
        return record

    def read_scores(self, store: ObjectStore, evaluation_key: str, shard: int) -> ScoreRecord:
        """One stored score shard, checked."""
        return read_record(store, self.score_key(evaluation_key, shard), functools.partial(
            ScoreRecord.parse, size=len(self.shards[shard]), scorer=self.scorer))

    def _evaluation(self, data: Any) -> EvaluationRecord:
        """An evaluation record, checked against this plan: every image, the scorer's way and
        range (a mean of in-range scores is in range)."""
        record = EvaluationRecord.from_json(data)
        if record.num_images != self.images_total:
            raise RecordError(f"num_images: {record.num_images}, a candidate has "
                              f"{self.images_total} images")
        scale = SCORE_SCALES.get(self.scorer)
        if scale is not None and record.higher_is_better is not scale.higher_is_better:
            raise RecordError(f"higher_is_better: {record.higher_is_better}, not {self.scorer}'s")
        bounds = _oriented_range(self.scorer)
        if bounds is not None and not bounds[0] <= record.quality <= bounds[1]:
            raise RecordError(f"quality: {record.quality:g} is outside {self.scorer}'s range "
                              f"[{bounds[0]:g}, {bounds[1]:g}]")
        return record

    @cached_property
    def scorer(self) -> str:
        """The registered name of the search's per-image scorer (its scores' scale)."""
        return scorer_options(self.spec.quality)[0]

    def check_scores(self, record: ScoreRecord, shard: int) -> None:
        """Raise :class:`RecordError` if a score record just made is no record of this shard."""
        ScoreRecord.parse(record.to_json(), len(self.shards[shard]), self.scorer)

    def evaluation(self, store: ObjectStore, evaluation_key: str) -> EvaluationRecord | None:
        """The stored evaluation record; None if there is none, or it was unreadable (it is
        derived: deleted here, and aggregated again from the score records)."""
        key = evaluation_record_key(evaluation_key)
        if not store.exists(key):
            return None
        try:
            return read_record(store, key, self._evaluation)
        except StoreObjectError as exc:
            log.warning("deleting an unreadable evaluation record to redo it: %s", exc)
            store.delete(key)
            return None


def _oriented_range(scorer: str) -> tuple[float, float] | None:
    scale = SCORE_SCALES.get(scorer)
    if scale is None:
        return None
    return (scale.low, scale.high) if scale.higher_is_better else (-scale.high, -scale.low)
