"""What the store held at a generation's start, kept until the generation is done.

The driver counts a generation's work against the store as it found it: an evaluation already
stored is *cached*, a shard already stored costs no images. A driver restarted mid-generation
(SIGKILL, a new scheduler) finds the work its predecessor did in the store too, and would count
it as cached. So what the generation's first look found is written down
(``searches/<id>/planned/NNNN.json``, the stored form's word; before any work is sent) and a
restarted driver counts against that; the record is deleted once the generation's record is
committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecad.store import MissingObjectError, ObjectStore
from ecad.store.keys import planned_key
from ecad.store.records import RecordError, StoreObjectError, read_record, require

__all__ = ["FoundAtStart", "found_at_start"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundAtStart:
    generation: int
    cached: frozenset[str] = frozenset()  # evaluation keys fully stored at the start
    stored: Mapping[str, frozenset[int]] = field(default_factory=dict)  # key -> shards stored
    reference: frozenset[int] = frozenset()  # reference shards stored

    def stored_of(self, evaluation_key: str) -> frozenset[int]:
        return self.stored.get(evaluation_key, frozenset())

    @classmethod
    def from_json(cls, data: Any) -> FoundAtStart:
        stored = require(data, "stored", dict)
        shards = [*stored.values(), require(data, "reference", list)]
        if not all(isinstance(v, list) and all(isinstance(s, int) and not isinstance(s, bool)
                                               and s >= 0 for s in v) for v in shards):
            raise RecordError("stored and reference must hold lists of shard numbers")
        cached = require(data, "cached", list)
        if not all(isinstance(k, str) for k in cached):
            raise RecordError("cached must be a list of evaluation keys")
        return cls(require(data, "generation", int), frozenset(cached),
                   {str(k): frozenset(v) for k, v in stored.items()},
                   frozenset(data["reference"]))

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "generation": self.generation, "cached": sorted(self.cached),
                "stored": {k: sorted(v) for k, v in sorted(self.stored.items()) if v},
                "reference": sorted(self.reference)}


def found_at_start(
    store: ObjectStore,
    search_id: str,
    generation: int,
    cached: Iterable[str],
    stored: Mapping[str, Iterable[int]],
    reference: Iterable[int],
) -> FoundAtStart:
    """What the generation's first look found: the stored record, else the store as found now
    (``cached``, ``stored``, ``reference``), written down first."""
    key = planned_key(search_id, generation)
    try:
        found = read_record(store, key, FoundAtStart.from_json)
        if found.generation == generation:
            return found
        log.warning("%s: made for generation %d; planning anew", key, found.generation)
    except MissingObjectError:
        pass
    except StoreObjectError as exc:  # only counters depend on it: look anew, say so
        log.warning("%s; counting this generation against the store as it is now", exc)
    now = FoundAtStart(generation, frozenset(cached),
                       {k: frozenset(v) for k, v in stored.items()}, frozenset(reference))
    store.put_json(key, now.to_json())
    return now


def forget_found_at_start(store: ObjectStore, search_id: str, generation: int) -> None:
    store.delete(planned_key(search_id, generation))
