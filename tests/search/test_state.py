"""The search state as a frozen record: its stored form, its transitions, its checks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ecad.search.nsga_state import NsgaSnapshot
from ecad.search.records import Counts, GenerationRecord, GenerationWork, Phase, Population
from ecad.search.state import STATE_VERSION, SearchState
from ecad.store.records import RecordError

SNAPSHOT = NsgaSnapshot(n_var=8, initialized=False, n_iter=None, rng={"bit_generator": "PCG64"},
                        population=None)
#: A state as main wrote it before the state became a typed record (its form is unchanged).
STORED = {
    "version": 1, "phase": "evaluate", "generation": 2, "driver": SNAPSHOT.to_json(),
    "pending": ["00", "ff"], "created": 1.5, "updated": 2.5, "generation_started": 2.0,
    "counters": {"evaluated": 3, "cached": 1, "failed": 0, "infeasible": 2, "pruned": 0},
    "work": {"images": 12, "images_saved": 0, "shard_seconds": 4.0},
}


def _record(counts: Counts, work: GenerationWork) -> GenerationRecord:
    empty = Population((), (), ())
    return GenerationRecord(0, empty, empty, (), 0.0, (1.0, 1.05), counts, 0.0, work)


def test_the_stored_form_round_trips_byte_for_byte():
    state = SearchState.from_json(json.loads(json.dumps(STORED)))
    assert state.phase is Phase.EVALUATE and state.pending == ("00", "ff")
    assert state.counters.infeasible == 2 and state.total_work.images == 12
    assert json.dumps(state.to_json(), sort_keys=True) == json.dumps(STORED, sort_keys=True)


def test_a_new_state_is_written_without_the_fields_it_has_not_got_yet():
    data = SearchState.new(now=1.0).saved(now=2.0).to_json()
    assert data == {"version": STATE_VERSION, "phase": "ask", "generation": 0, "driver": None,
                    "pending": None, "created": 1.0, "updated": 2.0,
                    "counters": Counts().to_json()}


def test_transitions_return_new_states_and_leave_the_old_alone():
    new = SearchState.new(now=1.0)
    asked = new.asked(("0f",), SNAPSHOT, now=3.0)
    assert new.phase is Phase.ASK and new.pending is None  # unchanged
    assert asked.phase is Phase.EVALUATE and asked.generation_started == 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        asked.generation = 5  # type: ignore[misc]  # the point: frozen
    told = asked.told(_record(Counts(evaluated=1), GenerationWork(4, 0, 1.0)), SNAPSHOT, 3)
    assert (told.phase, told.generation, told.pending) == (Phase.ASK, 1, None)
    assert told.counters.evaluated == 1 and told.total_work.images == 4
    again = told.asked(("0e",), SNAPSHOT, 4.0).told(
        _record(Counts(cached=2), GenerationWork(2, 1, 1.0)), SNAPSHOT, 1)
    assert again.phase is Phase.FINISHED and again.counters == Counts(evaluated=1, cached=2)
    assert again.total_work == GenerationWork(6, 1, 2.0)
    with pytest.raises(ValueError, match="cannot tell"):
        told.told(_record(Counts(), GenerationWork()), SNAPSHOT, 3)


def test_markers_stop_the_search_unless_it_finished():
    state = SearchState.from_json(STORED)
    assert state.marked(cancelled=True, failed_reason=None).phase is Phase.CANCELLED
    failed = state.marked(cancelled=False, failed_reason="spec unreadable")
    assert failed.phase is Phase.FAILED and failed.failed_reason == "spec unreadable"
    assert "failed_reason" not in failed.to_json(), "the reason lives in the marker only"
    done = dataclasses.replace(state, phase=Phase.FINISHED)
    assert done.marked(cancelled=True, failed_reason="x") is done


@pytest.mark.parametrize("change, problem", [
    ({"version": 9}, "version"),
    ({"phase": "thinking"}, "phase"),
    ({"generation": -1}, "generation"),
    ({"pending": [1, 2]}, "pending"),
    ({"counters": {"evaluated": -2}}, "counts"),
    ({"driver": {"n_var": 8}}, "driver"),
    ({"updated": "yesterday"}, "updated"),
])
def test_a_wrong_state_names_the_field(change, problem):
    with pytest.raises(RecordError, match=problem):
        SearchState.from_json({**STORED, **change})
