"""``searches/<id>/state.json``: where a search stands, as a frozen, versioned record.

A :class:`SearchState` is never changed in place: each step of the generation cycle is a method
that returns the next state (:meth:`asked`, :meth:`told`, :meth:`marked`), and the session
writes it as the commit point. The stored form (version 1)::

    {"version": 1, "phase": "evaluate", "generation": 3, "driver": <NSGA-II snapshot> | null,
     "pending": [<hex genome>, ...] | null, "counters": {...}, "work": {...},
     "created": <time>, "updated": <time>, "generation_started": <time>}

``work`` and ``generation_started`` are absent until the first generation is finished / asked.
``driver`` is the stored form's word for the NSGA-II snapshot (:attr:`SearchState.nsga`; the
*driver* is the search loop): renaming it would change every stored state for no reader's gain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ecad.search.nsga_state import NsgaSnapshot
from ecad.search.records import Counts, GenerationRecord, GenerationWork, Phase
from ecad.store.records import RecordError, check_version

__all__ = ["STATE_VERSION", "SearchState"]

STATE_VERSION = 1


@dataclass(frozen=True)
class SearchState:
    """A search's phase, generation, NSGA-II snapshot, pending offspring and totals.

    ``nsga`` is the NSGA-II snapshot as plain JSON data (:meth:`ecad.search.nsga.Nsga2.
    snapshot`), None before the first generation is asked. ``failed_reason`` is never stored:
    it comes from the failure marker (:meth:`marked`).
    """

    phase: Phase
    generation: int
    created: float | None = None
    nsga: NsgaSnapshot | None = None
    pending: tuple[str, ...] | None = None
    counters: Counts = field(default_factory=Counts)
    work: GenerationWork | None = None  # None: no generation finished (stored without it)
    generation_started: float | None = None
    updated: float | None = None
    failed_reason: str = ""
    version: int = STATE_VERSION

    @classmethod
    def new(cls, now: float) -> SearchState:
        return cls(phase=Phase.ASK, generation=0, created=now, counters=Counts())

    # transitions ---------------------------------------------------------------------------
    def asked(self, pending: tuple[str, ...], nsga: NsgaSnapshot, now: float) -> SearchState:
        """Offspring sampled: they wait for their evaluations."""
        if self.phase is not Phase.ASK:
            raise ValueError(f"cannot ask in phase {self.phase}")
        return replace(
            self, phase=Phase.EVALUATE, pending=tuple(pending), nsga=nsga, generation_started=now
        )

    def told(
        self, record: GenerationRecord, nsga: NsgaSnapshot, last_generation: int
    ) -> SearchState:
        """The pending generation's results told to NSGA-II (``record``): the next generation,
        or finished after ``last_generation``."""
        if self.phase is not Phase.EVALUATE:
            raise ValueError(f"cannot tell results in phase {self.phase}")
        generation = self.generation + 1
        return replace(
            self,
            phase=Phase.FINISHED if generation > last_generation else Phase.ASK,
            generation=generation,
            nsga=nsga,
            pending=None,
            counters=self.counters + record.counts,
            work=self.total_work + record.work,
        )

    def marked(self, cancelled: bool, failed_reason: str | None) -> SearchState:
        """The state as the search's markers leave it (a finished search stays finished)."""
        if self.phase is Phase.FINISHED:
            return self
        if cancelled:
            return replace(self, phase=Phase.CANCELLED)
        if failed_reason is not None:
            return replace(self, phase=Phase.FAILED, failed_reason=failed_reason)
        return self

    def saved(self, now: float) -> SearchState:
        return replace(self, updated=now)

    @property
    def total_work(self) -> GenerationWork:
        """Images and shard seconds over the finished generations."""
        return self.work or GenerationWork()

    # stored form ---------------------------------------------------------------------------
    @classmethod
    def from_json(cls, data: Any) -> SearchState:
        """The stored state, checked: a known version, phase, generation and counts."""
        if not isinstance(data, dict):
            raise RecordError(f"the state must be a JSON object, got {type(data).__name__}")
        check_version(data, STATE_VERSION, "search state")
        generation = data.get("generation")
        if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
            raise RecordError(f"generation: must be an integer >= 0, got {generation!r:.40}")
        pending = data.get("pending")
        if pending is not None and not (
            isinstance(pending, list) and all(isinstance(g, str) for g in pending)
        ):
            raise RecordError("pending: must be a list of hex genomes or null")
        nsga = data.get("driver")
        if nsga is not None and not isinstance(nsga, dict):
            raise RecordError("driver: must be the NSGA-II snapshot (an object) or null")
        nsga = None if nsga is None else NsgaSnapshot.from_json(nsga)
        return cls(
            phase=Phase.parse(data.get("phase")),
            generation=generation,
            created=_time(data, "created", None),
            nsga=nsga,
            pending=None if pending is None else tuple(pending),
            counters=Counts.from_json(data.get("counters") or {}),
            work=None if data.get("work") is None else GenerationWork.from_json(data["work"]),
            generation_started=_time(data, "generation_started", None),
            updated=_time(data, "updated", None),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "phase": self.phase.value,
            "generation": self.generation,
            "driver": None if self.nsga is None else self.nsga.to_json(),
            "pending": None if self.pending is None else list(self.pending),
            "counters": self.counters.to_json(),
        }
        for name in ("created", "work", "generation_started", "updated"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.to_json() if name == "work" else value
        return out


def _time(data: Mapping[str, Any], name: str, default: None = None) -> Any:
    value = data.get(name, default)
    if value is None or (
        not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ):
        return value
    raise RecordError(f"{name}: must be a time in seconds, got {value!r:.40}")
