"""A search's latest generation record, unreadable or lost, is rebuilt from its state: the
population, front, hypervolume and counts exactly; the offspring and the wall time, kept
nowhere else, are left out and the record says so. A running search goes on instead of failing;
``ecad pareto`` shows the same front."""

from __future__ import annotations

import json

import pytest

from ecad.scheduler.dispatch import Dispatcher
from ecad.scheduler.service import SchedulerService
from ecad.search import SearchSession, load_spec
from ecad.search.heal import LOST
from ecad.store import FilesystemStore
from ecad.store.keys import generation_record_key
from ecad.store.records import StoreObjectError
from tests.search.conftest import write_spec
from tests.search.test_store_corruption import (
    MEANINGS,
    MODES,
    _drive,
    _scorer_sender,
    _specs,
    corrupt,
    front_of,
    mislead,
)

EXACT = ("generation", "population", "front", "hypervolume", "hv_reference", "counts")


def _finished(tmp_path):
    _broken, healthy = _specs(tmp_path)
    store = FilesystemStore(tmp_path / "store")
    session, _ = SearchSession.create(store, healthy)
    _drive(store, [session])
    return store, SearchSession.open(store, session.search_id)


@pytest.mark.parametrize("mode", [*MODES, *MEANINGS["generation"], "deleted"])
def test_the_latest_record_is_rebuilt_from_the_state(tmp_path, mode):
    store, session = _finished(tmp_path)
    key = generation_record_key(session.search_id, session.generation - 1)
    original = json.loads(store.get(key))
    front = front_of(session)
    if mode == "deleted":
        store.delete(key)
    elif mode in MODES:
        corrupt(store, key, mode)
    else:
        mislead(store, key, "generation", mode)
    reopened = SearchSession.open(store, session.search_id)
    assert front_of(reopened) == front
    rebuilt = json.loads(store.get(key))
    assert {k: rebuilt[k] for k in EXACT} == {k: original[k] for k in EXACT}
    assert rebuilt["work"]["images"] == original["work"]["images"]
    assert rebuilt["rebuilt"] == LOST
    assert rebuilt["offspring"] == {"X": [], "F": [], "G": []} and rebuilt["seconds"] == 0.0
    assert len(reopened.history()) == session.generation, "the report reads it again"


def test_a_running_search_with_its_latest_record_corrupt_goes_on(tmp_path):
    """With pruning on, a generation races its candidates against the latest record's front:
    a corrupt one used to mark the search failed."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(4)))
    spec = load_spec(write_spec(
        tmp_path, name="racing", prompts={"file": str(prompts)},
        quality={"scorer": "image-reward"}, population=4, generations=2, min_diff=0,
        shard_size=2, pruning={"enabled": True, "min_shards": 1},
    ))
    store = FilesystemStore(tmp_path / "store")
    session, _ = SearchSession.create(store, spec)
    plans = {session.search_id: session.plan}
    service = SchedulerService(store, Dispatcher(_scorer_sender(store, plans)))
    for _ in range(60):  # until generation 1 is recorded and generation 2 not yet
        service.tick()
        if SearchSession.open(store, session.search_id).generation == 2:
            break
    key = generation_record_key(session.search_id, 1)
    corrupt(store, key, MODES[0])
    service.drivers.clear()  # a restarted scheduler: the next generation reads the record
    _drive(store, [session], service=service)
    final = SearchSession.open(store, session.search_id)
    assert final.phase.value == "done" and final.generation == 3
    assert json.loads(store.get(key))["rebuilt"] == LOST


def test_without_the_earlier_records_the_latest_cannot_be_rebuilt(tmp_path):
    store, session = _finished(tmp_path)
    latest = generation_record_key(session.search_id, session.generation - 1)
    corrupt(store, latest, MODES[0])
    store.delete(generation_record_key(session.search_id, 0))
    with pytest.raises(StoreObjectError, match="cannot rebuild it from the state either"):
        SearchSession.open(store, session.search_id).front()
