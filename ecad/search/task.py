"""The shard task message: what the scheduler sends a worker, as a frozen, JSON-ready record.

A message names one shard of work and carries everything the worker needs besides the search's
spec: the keys (so a worker computes nothing it could get wrong), and the genome in compact
form (packed bits, hex), which the worker decodes instead of reading a schedule file. Workers
validate a message with :meth:`ShardTask.from_json` before doing any work.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from ecad.search.validation import MAX_PROMPT_PAIRS
from ecad.store.keys import IMAGES_TASK, SHARD_TASK, score_key, shard_marker_key, task_key
from ecad.store.probe import is_probe
from ecad.store.records import RecordError, check_version, require

__all__ = ["TASK_VERSION", "ShardTask", "shard_task_key"]

TASK_VERSION = 2  # 2: the sharding id (the message's ``layout`` field)
_KEY = re.compile(r"^[0-9a-f]{32}\Z")
_HEX = re.compile(r"^(?:[0-9a-f]{2})*\Z")
_SHARDING = re.compile(r"^[ps]\d{1,9}\Z")
#: Fields named otherwise in the message (the wire format's words).
_WIRE = {"sharding": "layout"}
_SEARCH_ID = re.compile(r"^[A-Za-z0-9._=\-]{1,200}\Z")


def shard_task_key(
    kind: str, generation_key: str, evaluation_key: str | None, shard: int, sharding: str
) -> str:
    """The task key of one shard of work (the one derivation: messages and the driver's work
    both use it): an ``images`` task is named by its images, a ``shard`` task by its scores."""
    output = generation_key if kind == IMAGES_TASK else str(evaluation_key)
    return task_key(kind, output, shard, sharding=sharding)


@dataclass(frozen=True)
class ShardTask:
    """One shard of work. ``kind`` is ``images`` (reference images only: ``evaluation_key`` is
    None) or ``shard`` (a candidate's images, then their scores)."""

    search_id: str
    kind: str
    shard: int
    shards: int  # shard count of the search: 0 <= shard < shards
    genome: str  # packed genome bits, hex
    genome_bits: int  # genome length in bits (steps x slots of the search's schedule layout)
    generation_key: str
    evaluation_key: str | None
    #: The search's sharding id (:func:`ecad.store.keys.sharding_id`); ``layout`` in the message
    #: (the wire format's word, kept so workers and schedulers of either version agree).
    sharding: str
    version: int = TASK_VERSION
    store_id: str | None = None  # the scheduler's store (a worker on another store refuses)
    store_probe: str | None = None  # the scheduler's latest probe (ecad.store.probe)

    @property
    def task_key(self) -> str:
        return shard_task_key(
            self.kind, self.generation_key, self.evaluation_key, self.shard, self.sharding
        )

    @property
    def output_key(self) -> str:
        """The store key whose existence means the task finished (from the message's own keys,
        not parsed back out of the task key)."""
        if self.kind == IMAGES_TASK:
            return shard_marker_key(self.generation_key, self.shard, sharding=self.sharding)
        return score_key(str(self.evaluation_key), self.shard, sharding=self.sharding)

    def to_json(self) -> dict[str, Any]:
        return {_WIRE.get(k, k): v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Any) -> ShardTask:
        """Validate every field (types, ranges, key shapes); :class:`RecordError` if wrong."""
        if not isinstance(data, dict):
            raise RecordError(f"a task message must be a JSON object, got {type(data).__name__}")
        check_version(data, TASK_VERSION, "task message")
        unknown = set(data) - {_WIRE.get(f, f) for f in cls.__dataclass_fields__}
        if unknown:
            raise RecordError(f"unknown task message fields {sorted(unknown)}")
        search_id = require(data, "search_id", str)
        if not _SEARCH_ID.match(search_id):
            raise RecordError(f"search_id: {search_id!r:.80} is not a search id")
        kind = require(data, "kind", str)
        if kind not in (IMAGES_TASK, SHARD_TASK):
            raise RecordError(f"kind: must be {IMAGES_TASK!r} or {SHARD_TASK!r}, got {kind!r:.40}")
        shards = require(data, "shards", int)
        shard = require(data, "shard", int)
        if not 1 <= shards <= MAX_PROMPT_PAIRS:
            raise RecordError(f"shards: must be in [1, {MAX_PROMPT_PAIRS}], got {shards}")
        if not 0 <= shard < shards:
            raise RecordError(f"shard: must be in [0, {shards}), got {shard}")
        bits = require(data, "genome_bits", int)
        genome = require(data, "genome", str)
        if bits < 1 or not _HEX.match(genome) or len(genome) != 2 * ((bits + 7) // 8):
            raise RecordError(f"genome: must be {bits} bits as {2 * ((bits + 7) // 8)} hex digits")
        gen_key = require(data, "generation_key", str)
        if not _KEY.match(gen_key):
            raise RecordError(f"generation_key: {gen_key!r:.80} is not a 32-hex-digit key")
        eval_key = data.get("evaluation_key")
        if kind == SHARD_TASK and not (isinstance(eval_key, str) and _KEY.match(eval_key)):
            raise RecordError(f"evaluation_key: {eval_key!r:.80} is not a 32-hex-digit key")
        if kind == IMAGES_TASK and eval_key is not None:
            raise RecordError("evaluation_key: an images task has none")
        sharding = require(data, "layout", str)
        if not _SHARDING.match(sharding):
            raise RecordError(f"layout: {sharding!r:.40} is not a sharding id like 'p8' or 's4'")
        store_id = data.get("store_id")
        if store_id is not None and not (isinstance(store_id, str) and _KEY.match(store_id)):
            raise RecordError(f"store_id: {store_id!r:.80} is not a 32-hex-digit store id")
        probe = data.get("store_probe")
        if probe is not None and not is_probe(probe):
            raise RecordError(f"store_probe: {probe!r:.80} is not a store probe")
        return cls(search_id, kind, shard, shards, genome, bits, gen_key, eval_key, sharding,
                   store_id=store_id, store_probe=probe)
