from ecad.store import FilesystemStore
from worker.attempts import count_start, failure_key


def test_starts_past_the_limit_record_the_failure_once(tmp_path, monkeypatch):
    monkeypatch.setenv("ECAD_MAX_TASK_ATTEMPTS", "2")
    store = FilesystemStore(tmp_path)
    assert count_start(store, "gen-x-0", "w1") and count_start(store, "gen-x-0", "w2")
    assert not store.exists(failure_key("gen-x-0"))
    assert not count_start(store, "gen-x-0", "w3")
    failure = store.get_json(failure_key("gen-x-0"))
    assert failure["starts"] == 3 and failure["workers"] == ["w1", "w2", "w3"]
    assert not count_start(store, "gen-x-0", "w4")
    assert store.get_json("attempts/gen-x-0.json")["starts"] == 3, "no start counted past it"


def test_a_failure_lost_between_two_writes_is_recorded_at_the_next_delivery(tmp_path, monkeypatch):
    monkeypatch.setenv("ECAD_MAX_TASK_ATTEMPTS", "1")
    store = FilesystemStore(tmp_path)
    assert count_start(store, "score-y-0", "w1")
    assert not count_start(store, "score-y-0", "w2")
    store.delete(failure_key("score-y-0"))  # the worker died before writing it
    assert not count_start(store, "score-y-0", "w3")
    assert store.get_json(failure_key("score-y-0"))["workers"] == ["w1", "w2"]
